"""apiserver_change: audit and hardening planned into one change, bad options refused with the reason."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.action import apiserver_change
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

AUDIT = {"policy_path": "/etc/kubernetes/kubecompass/audit-policy.yaml",
         "log_path": "/var/log/kubernetes/audit/audit.log", "maxage": 30, "maxbackup": 10, "maxsize": 100,
         "policy": None, "policy_overrides": {}}
HARDENING = {"tls_min_version": "VersionTLS12", "cipher_suites": [], "anonymous": "restrict",
             "auth_config_path": "/etc/kubernetes/kubecompass/authentication-config.yaml"}
FLAGS = {"authorization-mode": "Node,RBAC", "enable-admission-plugins": "NodeRestriction"}


def args(**extra):
    base = {"audit": None, "hardening": None, "current_flags": FLAGS, "kubernetes_version": "v1.36.3",
            "distribution": "kubeadm"}
    base.update(extra)
    return base


def test_audit_and_hardening_merge_into_one_restart():
    change = apiserver_change.plan(args(audit=AUDIT, hardening=HARDENING))
    assert change["set_flags"]["audit-log-maxbackup"] == "10" and change["set_flags"]["profiling"] == "false"
    assert change["set_flags"]["authentication-config"] == HARDENING["auth_config_path"]
    assert sorted(f["path"] for f in change["files"]) == [AUDIT["policy_path"], HARDENING["auth_config_path"]]
    assert {v["name"] for v in change["volumes"]} >= {"audit-policy", "audit-log"}


def test_a_rotation_below_cis_is_refused_naming_the_flag():
    with pytest.raises(KubeCompassError, match="audit-log-maxage=7 is below the CIS"):
        apiserver_change.plan(args(audit=dict(AUDIT, maxage=7)))


def test_nothing_asked_is_an_error():
    with pytest.raises(KubeCompassError, match="at least one of audit, hardening"):
        apiserver_change.plan(args())
