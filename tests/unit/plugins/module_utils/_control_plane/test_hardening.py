"""API server hardening: anonymous access without breaking kubeadm's probes, authorization, admission, TLS."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import hardening, static_pod
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import (
    anonymous_access,
    host_path,
    pod_argv,
)
from kclocal import manifests

AUTHN = hardening.AUTH_CONFIG_PATH


def kubeadm_manifest():
    return yaml.safe_load(manifests.dump(manifests.apiserver_manifest(manifests.Node("kc-cp1", "127.0.10.1",
                                                                                     "198.51.100.1"))))


def flags_of(manifest):
    return parse_flags(pod_argv(manifest, "kube-apiserver"))


def test_default_restricts_anonymous_to_health_checks_instead_of_turning_it_off():
    change = hardening.hardening_flags(kubernetes_version="v1.36.3")
    assert change["set_flags"]["authentication-config"] == AUTHN
    assert "anonymous-auth" not in change["set_flags"]
    assert change["remove_flags"] == ["anonymous-auth"]  # conflicts with an AuthenticationConfiguration
    [file] = change["files"]
    assert (file["path"], file["mode"], file["secret"]) == (AUTHN, "0600", False)
    document = yaml.safe_load(file["content"])
    assert document == {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AuthenticationConfiguration",
                        "anonymous": {"enabled": True, "conditions": [{"path": "/livez"}, {"path": "/readyz"},
                                                                      {"path": "/healthz"}]}}
    assert anonymous_access(document) == {"configured": True, "enabled": True,
                                          "paths": ["/healthz", "/livez", "/readyz"]}
    assert change["volumes"] == [{"name": "kubecompass-authn-config", "host_path": AUTHN, "mount_path": AUTHN,
                                  "read_only": True, "type": "File"}]
    assert change["notes"] == []


def test_the_probes_of_the_kubeadm_manifest_stay_anonymous_and_allowed():
    change = hardening.hardening_flags(kubernetes_version="1.36")
    allowed = yaml.safe_load(change["files"][0]["content"])["anonymous"]["conditions"]
    container = static_pod.pod_container(kubeadm_manifest(), "kube-apiserver")
    probed = {container[probe]["httpGet"]["path"] for probe in ("livenessProbe", "readinessProbe", "startupProbe")}
    assert probed <= {condition["path"] for condition in allowed}


@pytest.mark.parametrize("version, api_version", [
    ("v1.36.3", "apiserver.config.k8s.io/v1"),
    ("v1.34.0", "apiserver.config.k8s.io/v1"),
    ("1.33", "apiserver.config.k8s.io/v1beta1"),
    ("v1.32.4+rke2r1", "apiserver.config.k8s.io/v1beta1"),
    (None, "apiserver.config.k8s.io/v1beta1"),
])
def test_authentication_configuration_version_follows_the_cluster(version, api_version):
    change = hardening.hardening_flags(kubernetes_version=version)
    assert yaml.safe_load(change["files"][0]["content"])["apiVersion"] == api_version


def test_restrict_is_refused_before_1_32():
    with pytest.raises(ValueError, match="needs Kubernetes 1.32"):
        hardening.hardening_flags(kubernetes_version="v1.31.9")


def test_off_on_kubeadm_says_the_probes_must_change_first():
    change = hardening.hardening_flags(anonymous="off")
    assert change["set_flags"]["anonymous-auth"] == "false"
    assert change["files"] == [] and change["volumes"] == []
    [note] = change["notes"]
    assert "401" in note and "probes" in note


@pytest.mark.parametrize("distribution", ["rke2", "k3s"])
def test_rancher_distributions_simply_turn_anonymous_off(distribution):
    change = hardening.hardening_flags(distribution=distribution)
    assert change["set_flags"]["anonymous-auth"] == "false"
    assert "authentication-config" not in change["set_flags"]
    assert change["files"] == [] and change["volumes"] == [] and change["notes"] == []


def test_keep_leaves_anonymous_alone():
    change = hardening.hardening_flags(anonymous="keep")
    assert "anonymous-auth" not in change["set_flags"] and "authentication-config" not in change["set_flags"]
    assert change["remove_flags"] == [] and change["files"] == []


def test_anonymous_already_off_is_not_loosened():
    change = hardening.hardening_flags(current_flags={"anonymous-auth": "false"}, kubernetes_version="1.36")
    assert "authentication-config" not in change["set_flags"] and change["remove_flags"] == []
    assert change["set_flags"]["anonymous-auth"] == "false"  # recorded, so kubeadm-config keeps it too
    assert change["notes"] == []  # the probes already cope


def test_switching_from_restrict_to_off_drops_our_authentication_config():
    change = hardening.hardening_flags(anonymous="off", current_flags={"authentication-config": AUTHN})
    assert change["remove_flags"] == ["authentication-config"]


def test_restrict_refuses_what_the_api_server_would_refuse():
    with pytest.raises(ValueError, match="--oidc-issuer-url"):
        hardening.hardening_flags(current_flags={"oidc-issuer-url": "https://sso.example.net"})
    with pytest.raises(ValueError, match="already reads --authentication-config=/etc/own.yaml"):
        hardening.hardening_flags(current_flags={"authentication-config": "/etc/own.yaml"})
    assert hardening.hardening_flags(current_flags={"authentication-config": AUTHN})["files"]


def test_without_current_flags_list_flags_are_merges():
    change = hardening.hardening_flags()
    assert change["set_flags"]["profiling"] == "false"
    assert change["set_flags"]["authorization-mode"] == {"add": ["Node", "RBAC"], "remove": ["AlwaysAllow"]}
    assert change["set_flags"]["enable-admission-plugins"] == {"add": ["NodeRestriction"], "remove": []}
    assert change["set_flags"]["disable-admission-plugins"] == {"add": [], "remove": ["NodeRestriction"]}
    assert change["set_flags"]["tls-min-version"] == "VersionTLS12"
    assert change["set_flags"]["tls-cipher-suites"] == ",".join(hardening.DEFAULT_CIPHER_SUITES)


def test_with_current_flags_the_users_modes_and_plugins_are_kept():
    change = hardening.hardening_flags(current_flags={
        "authorization-mode": "AlwaysAllow,Webhook", "enable-admission-plugins": "PodSecurity",
        "disable-admission-plugins": "NodeRestriction,DefaultStorageClass"})
    assert change["set_flags"]["authorization-mode"] == "Webhook,Node,RBAC"
    assert change["set_flags"]["enable-admission-plugins"] == "PodSecurity,NodeRestriction"
    assert change["set_flags"]["disable-admission-plugins"] == "DefaultStorageClass"
    emptied = hardening.hardening_flags(current_flags={"disable-admission-plugins": "NodeRestriction"})
    assert "disable-admission-plugins" in emptied["remove_flags"]
    assert "disable-admission-plugins" not in emptied["set_flags"]
    untouched = hardening.hardening_flags(current_flags={})
    assert "disable-admission-plugins" not in untouched["set_flags"]
    assert untouched["set_flags"]["authorization-mode"] == "Node,RBAC"  # unset means AlwaysAllow


def test_structured_authorization_is_left_to_the_user():
    change = hardening.hardening_flags(current_flags={"authorization-config": "/etc/authz.yaml"})
    assert "authorization-mode" not in change["set_flags"]
    assert any("/etc/authz.yaml" in note for note in change["notes"])


def test_tls_settings_are_validated_and_stronger_current_values_kept():
    with pytest.raises(ValueError, match="VersionTLS12 or VersionTLS13"):
        hardening.hardening_flags(tls_min_version="VersionTLS11")
    with pytest.raises(ValueError, match="TLS_RSA_WITH_AES_128_CBC_SHA"):
        hardening.hardening_flags(cipher_suites=["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                                 "TLS_RSA_WITH_AES_128_CBC_SHA"])
    strong = {"tls-min-version": "VersionTLS13", "tls-cipher-suites": "TLS_AES_128_GCM_SHA256"}
    kept = hardening.hardening_flags(current_flags=strong)
    assert kept["set_flags"]["tls-min-version"] == "VersionTLS13"
    assert kept["set_flags"]["tls-cipher-suites"] == "TLS_AES_128_GCM_SHA256"
    weak = {"tls-min-version": "VersionTLS10", "tls-cipher-suites": "TLS_RSA_WITH_AES_128_CBC_SHA"}
    fixed = hardening.hardening_flags(current_flags=weak)
    assert fixed["set_flags"]["tls-min-version"] == "VersionTLS12"
    assert fixed["set_flags"]["tls-cipher-suites"] == ",".join(hardening.DEFAULT_CIPHER_SUITES)
    assert "tls-cipher-suites" not in hardening.hardening_flags(cipher_suites=None)["set_flags"]


def test_unknown_anonymous_mode_and_a_config_where_kubelet_reads_pods_are_refused():
    with pytest.raises(ValueError, match="anonymous must be one of"):
        hardening.hardening_flags(anonymous="disabled")
    with pytest.raises(ValueError, match="kubelet reads as pods"):
        hardening.hardening_flags(auth_config_path="/etc/kubernetes/manifests/authn.yaml")


def test_hardening_a_kubeadm_manifest_converges():
    manifest = kubeadm_manifest()
    change = hardening.hardening_flags(current_flags=flags_of(manifest), kubernetes_version="v1.36.3")
    new, changes = static_pod.plan_manifest(manifest, change["set_flags"], change["remove_flags"], change["volumes"])
    flags = flags_of(new)
    assert flags["authentication-config"] == AUTHN and "anonymous-auth" not in flags
    assert flags["profiling"] == "false" and flags["authorization-mode"] == "Node,RBAC"
    assert flags["enable-admission-plugins"] == "NodeRestriction"
    assert flags["tls-min-version"] == "VersionTLS12"
    assert host_path(AUTHN, new, "kube-apiserver") == AUTHN
    assert flags["service-account-extend-token-expiration"] == "false"
    assert len(changes) == 7  # authentication-config, profiling, token expiration, tls x2, volume, mount
    # A later run reads the new manifest, plans again, and changes nothing.
    again = hardening.hardening_flags(current_flags=flags, kubernetes_version="v1.36.3")
    assert again == change
    assert static_pod.plan_manifest(new, again["set_flags"], again["remove_flags"], again["volumes"])[1] == []


def test_anonymous_access_summary():
    assert anonymous_access({"kind": "AuthenticationConfiguration"})["configured"] is False
    enabled = anonymous_access({"anonymous": {"enabled": True}})
    assert enabled == {"configured": True, "enabled": True, "paths": None}
    disabled = anonymous_access({"anonymous": {"enabled": False}})
    assert disabled == {"configured": True, "enabled": False, "paths": []}
    assert anonymous_access(None)["configured"] is False
