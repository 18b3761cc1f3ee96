"""KC-SEC-004 and the encryption remediation read one EncryptionConfiguration the same way: for every ``resources``
entry, the check passes a config exactly when the planner finds a rule for Secrets in it, and both follow
kube-apiserver (each entry is parsed as schema.ParseGroupResource; Secrets are served by ``secrets`` in the core
group, ``*.`` or ``*.*``, so ``secrets.`` is the core group written with its dot and ``secrets.apps`` is not; names
are not trimmed; a bare ``*`` is refused at load, so the check fails such a config as invalid and the planner
refuses it)."""

from __future__ import annotations

import base64
import datetime

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import encryption as planner
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane.encryption import ConfigError
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.encryption import summarize_encryption_config
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import control_plane
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
KEY = base64.b64encode(b"k" * 32).decode()
CHECK = next(check for check in control_plane.CHECKS if check.id == "KC-SEC-004")

# resources entry -> whether kube-apiserver encrypts Secrets with the entry's providers
CASES = [
    (["secrets"], True),
    (["secrets."], True),
    (["*."], True),
    (["*.*"], True),
    (["configmaps", "secrets."], True),
    (["configmaps"], False),
    (["secrets.apps"], False),
    (["*.apps"], False),
    # Names are read untrimmed, as kube-apiserver reads them: " secrets" names no resource.
    ([" secrets"], False),
    (["configmaps", "secrets "], False),
]
# resources entries kube-apiserver refuses to load: a bare "*" ("use '*.' ... or *.*").
REFUSED = [["*"], ["configmaps", "*"]]


def config_text(names):
    return yaml.safe_dump({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
                           "resources": [{"resources": names,
                                          "providers": [{"secretbox": {"keys": [{"name": "k1", "secret": KEY}]}},
                                                        {"identity": {}}]}]})


def planner_covers(text):
    return planner.parse_config(text).secrets_rule() is not None


def check_result(text):
    facts = dict(summarize_encryption_config(yaml.safe_load(text)), path="/etc/kubernetes/enc/enc.yaml", exists=True)
    flags = {"encryption-provider-config": "/etc/kubernetes/enc/enc.yaml"}
    host = {"distribution": "kubeadm", "apiserver": {"source": "manifest", "flags": flags, "running_flags": flags},
            "encryption_config": facts, "errors": []}
    snap = {"cluster": {"name": "c", "distribution": "kubeadm", "tier": "critical", "version": "v1.31.0"},
            "kinds": {"pods": {"items": []}}, "nodes": {"hosts": {"cp1": host}}}
    return engine.run_check(CHECK, Context(snap, tiers.tier_table(), {}, NOW))


def check_verdict(text):
    return check_result(text).verdict


@pytest.mark.parametrize("names,covered", CASES, ids=[",".join(case[0]) for case in CASES])
def test_check_and_planner_agree_on_what_covers_secrets(names, covered):
    text = config_text(names)
    assert planner_covers(text) is covered
    assert check_verdict(text) == ("pass" if covered else "fail")


@pytest.mark.parametrize("names", REFUSED, ids=[",".join(names) for names in REFUSED])
def test_check_and_planner_both_refuse_a_bare_star(names):
    text = config_text(names)
    with pytest.raises(ConfigError, match=r"resources\[0\]\.resources\[\d\]: \* is refused"):
        planner.parse_config(text)
    result = check_result(text)
    assert result.verdict == "fail"
    [reason] = [entry["reason"] for entry in result.objects]
    assert "is invalid" in reason and "* is refused" in reason
