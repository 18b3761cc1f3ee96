"""apiserver_change: audit and hardening planned into one change, bad options refused with the reason."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.action import apiserver_change
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

AUDIT = {"policy_path": "/etc/kubernetes/kubecompass/audit-policy.yaml",
         "log_path": "/var/log/kubernetes/audit/audit.log", "maxage": 30, "maxbackup": 10, "maxsize": 100,
         "policy": None, "policy_overrides": {}}
HARDENING = {"tls_min_version": "VersionTLS12", "cipher_suites": [], "anonymous": "restrict",
             "auth_config_path": "/etc/kubernetes/kubecompass/authentication-config.yaml",
             "extend_token_expiration": False, "kubelet_certificate_authority": ""}
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
    with pytest.raises(KubeCompassError, match="at least one of audit, hardening, components"):
        apiserver_change.plan(args())


COMPONENTS = {"names": ["kube-controller-manager", "kube-scheduler"], "profiling": False, "bind_address": "127.0.0.1"}


def test_the_new_api_server_flags_follow_their_options():
    change = apiserver_change.plan(args(hardening=HARDENING))
    assert change["set_flags"]["service-account-extend-token-expiration"] == "false"
    assert "kubelet-certificate-authority" not in change["set_flags"]
    opted = apiserver_change.plan(args(hardening=dict(HARDENING, extend_token_expiration=True,
                                                      kubelet_certificate_authority="/etc/kubernetes/pki/ca.crt")))
    assert "service-account-extend-token-expiration" not in opted["set_flags"]
    assert opted["set_flags"]["kubelet-certificate-authority"] == "/etc/kubernetes/pki/ca.crt"


def test_components_are_planned_one_change_each():
    planned = apiserver_change.plan_components(args(components=COMPONENTS, component_flags={
        "kube-scheduler": {"bind-address": "0.0.0.0"}}))
    assert sorted(planned) == ["kube-controller-manager", "kube-scheduler"]
    assert planned["kube-scheduler"]["set_flags"] == {"bind-address": "127.0.0.1", "profiling": "false"}
    assert planned["kube-scheduler"]["notes"] and not planned["kube-controller-manager"]["notes"]
    assert apiserver_change.plan_components(args()) == {}
    assert apiserver_change.plan(args(components=COMPONENTS))["set_flags"] == {}


def test_a_bind_address_that_is_no_address_is_refused_naming_the_component():
    with pytest.raises(KubeCompassError, match="kube-scheduler bind_address 'localhost' is not an IP address"):
        apiserver_change.plan_components(args(components=dict(COMPONENTS, names=["kube-scheduler"],
                                                              bind_address="localhost")))
