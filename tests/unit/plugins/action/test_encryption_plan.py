"""encryption_plan's planning: keys read back or generated once, unchanged files kept byte for byte, nothing
secret outside node_files."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.kubecompass.readiness.plugins.action import encryption_plan
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import encryption
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

NOW = datetime.datetime(2026, 11, 22, 5, 0, tzinfo=datetime.UTC)
NODES = ("kc-cp1", "kc-cp2", "kc-cp3")


def args(nodes, scan=None, **extra):
    base = {"nodes": nodes, "etcd_scan": scan, "provider": "secretbox", "kms_name": None, "kms_endpoint": None,
            "kms_timeout": "3s", "rotate": False, "drop_identity": True}
    base.update(extra)
    return base


def secret_parts(result):
    """Everything but node_files, as text: must never contain key material."""
    return json.dumps({k: v for k, v in result.items() if k != "node_files"})


def keys_in(text):
    config = encryption.parse_config(text)
    return [key.secret() for provider in config.secrets_providers() for key in provider.keys]


def test_first_enablement_adds_one_new_key_second_on_every_node():
    result = encryption_plan.plan(args(dict.fromkeys(NODES)), now=NOW)
    assert result["state"] == "NOT_ENCRYPTED" and result["name"] == "add_new_key_second"
    assert sorted(result["changed_nodes"]) == list(NODES)
    texts = set(result["node_files"].values())
    assert len(texts) == 1  # one key, identical on every node
    secret = keys_in(texts.pop())[0]
    assert secret not in secret_parts(result)
    assert result["target"] == "k8s:enc:secretbox:v1:kubecompass-20261122T050000Z"


def test_the_next_round_reads_the_key_back_and_promotes_it():
    first = encryption_plan.plan(args(dict.fromkeys(NODES)), now=NOW)
    later = NOW + datetime.timedelta(minutes=3)
    second = encryption_plan.plan(args(first["node_files"]), now=later)
    assert second["state"] == "PROMOTE" and second["target"] == first["target"]
    assert keys_in(second["node_files"]["kc-cp1"]) == keys_in(first["node_files"]["kc-cp1"])


def test_unchanged_nodes_keep_their_file_byte_for_byte():
    first = encryption_plan.plan(args(dict.fromkeys(NODES)), now=NOW)
    promoted = encryption_plan.plan(args(first["node_files"]), now=NOW)["node_files"]
    scan = {"by_prefix": {"plaintext": 3}, "complete": True, "total": 3}
    rewrite = encryption_plan.plan(args(promoted, scan), now=NOW)
    assert rewrite["state"] == "REWRITE" and rewrite["needs_rewrite"] and rewrite["changed_nodes"] == []
    assert rewrite["node_files"] == promoted


def test_a_broken_node_config_is_named():
    with pytest.raises(KubeCompassError, match="kc-cp2: its encryption configuration cannot be used"):
        encryption_plan.plan(args({"kc-cp1": None, "kc-cp2": "kind: Nonsense\n"}), now=NOW)


def test_kms_needs_its_endpoint():
    with pytest.raises(KubeCompassError, match="kms_name and kms_endpoint"):
        encryption_plan.plan(args(dict.fromkeys(NODES), provider="kms"), now=NOW)
