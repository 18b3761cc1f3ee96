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


def test_kms_without_an_endpoint_needs_kms_already_in_use():
    with pytest.raises(KubeCompassError, match="kind kms needs"):
        encryption_plan.plan(args(dict.fromkeys(NODES), provider="kms"), now=NOW)


KMS_CONFIG = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - kms: {apiVersion: v2, name: vault, endpoint: "unix:///var/run/kms/vault.sock", timeout: 3s}
  - identity: {}
"""
AESCBC_CONFIG = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aescbc:
      keys:
      - {name: key1, secret: "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="}
  - identity: {}
"""


@pytest.mark.parametrize("config,label", [(KMS_CONFIG, "k8s:enc:kms:v2:vault"),
                                          (AESCBC_CONFIG, "k8s:enc:aescbc:v1:key1")])
def test_without_a_provider_a_strong_writer_in_use_is_kept(config, label):
    """A cluster already encrypted with KMS v2 or the user's own aescbc key is never moved to secretbox."""
    nodes = dict.fromkeys(NODES, config)
    scan = {"by_prefix": {label: 5}, "complete": True, "total": 5}
    result = encryption_plan.plan(args(nodes, scan, provider=None), now=NOW)
    assert result["target"] == label
    assert result["state"] in ("DROP_OLD_KEY", "DONE") and result["changed_nodes"] in ([], list(NODES))
    assert "secretbox" not in json.dumps(result["desired"])


def test_asking_for_another_provider_migrates_explicitly():
    nodes = dict.fromkeys(NODES, AESCBC_CONFIG)
    scan = {"by_prefix": {"k8s:enc:aescbc:v1:key1": 5}, "complete": True, "total": 5}
    result = encryption_plan.plan(args(nodes, scan, provider="secretbox"), now=NOW)
    assert result["state"] == "ADD_NEW_KEY_SECOND" and result["target"].startswith("k8s:enc:secretbox:v1:")
