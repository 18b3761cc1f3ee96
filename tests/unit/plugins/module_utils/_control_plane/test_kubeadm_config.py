"""kubeadm-config's ClusterConfiguration kept in step with the manifest (v1beta4 lists, v1beta3 maps)."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import (
    audit,
    hardening,
    kubeadm_config,
)
from kclocal import manifests

CHANGE = audit.audit_flags("/etc/kubernetes/audit/policy.yaml", "/var/log/kubernetes/audit/audit.log")
OTHER_KEYS = {"ClusterStatus": "apiEndpoints: {}\n"}

V1BETA3 = """\
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
apiServer:
  extraArgs:
    oidc-issuer-url: https://sso.example.net
    audit-log-maxage: "7"
  extraVolumes:
  - name: audit-log
    hostPath: /var/log/old
    mountPath: /var/log/old
    pathType: DirectoryOrCreate
clusterName: prod
kubernetesVersion: v1.30.4
"""


def v1beta4_data(api_server=None):
    document = yaml.safe_load(manifests.cluster_configuration("kc-lb.local:6443"))
    if api_server is not None:
        document["apiServer"] = api_server
    return dict(OTHER_KEYS, ClusterConfiguration=yaml.safe_dump(document, sort_keys=False))


def cluster_configuration(data):
    return yaml.safe_load(data["ClusterConfiguration"])


def plan(data, change, **kwargs):
    return kubeadm_config.plan_cluster_configuration(data, change["set_flags"], change["remove_flags"],
                                                     change["volumes"], **kwargs)


def test_v1beta4_gets_name_value_extra_args_and_extra_volumes():
    data = v1beta4_data()
    new_data, changed = plan(data, CHANGE)
    assert changed
    api_server = cluster_configuration(new_data)["apiServer"]
    assert api_server["extraArgs"] == [
        {"name": "audit-log-maxage", "value": "30"}, {"name": "audit-log-maxbackup", "value": "10"},
        {"name": "audit-log-maxsize", "value": "100"},
        {"name": "audit-log-path", "value": "/var/log/kubernetes/audit/audit.log"},
        {"name": "audit-policy-file", "value": "/etc/kubernetes/audit/policy.yaml"},
    ]
    assert api_server["extraVolumes"] == [
        {"name": "audit-policy", "hostPath": "/etc/kubernetes/audit/policy.yaml",
         "mountPath": "/etc/kubernetes/audit/policy.yaml", "readOnly": True, "pathType": "File"},
        {"name": "audit-log", "hostPath": "/var/log/kubernetes/audit", "mountPath": "/var/log/kubernetes/audit",
         "readOnly": False, "pathType": "DirectoryOrCreate"},
    ]
    # Everything else is kept: other data keys and the rest of the document.
    assert new_data["ClusterStatus"] == OTHER_KEYS["ClusterStatus"]
    before, after = cluster_configuration(data), cluster_configuration(new_data)
    assert {k: v for k, v in after.items() if k != "apiServer"} == {k: v for k, v in before.items()
                                                                    if k != "apiServer"}
    assert list(after) == list(before)


def test_second_application_is_no_change():
    new_data, _changed = plan(v1beta4_data(), CHANGE)
    again, changed = plan(new_data, CHANGE)
    assert not changed
    assert again is new_data


def test_v1beta4_user_args_are_kept_and_a_present_arg_is_replaced_in_place():
    data = v1beta4_data({"extraArgs": [
        {"name": "audit-log-maxage", "value": "7"}, {"name": "event-ttl", "value": "2h"},
        {"name": "audit-log-maxage", "value": "8"}, {"name": "anonymous-auth", "value": "true"}]})
    change = dict(CHANGE, remove_flags=["anonymous-auth"])
    new_data, changed = plan(data, change)
    assert changed
    args = cluster_configuration(new_data)["apiServer"]["extraArgs"]
    assert args[:2] == [{"name": "audit-log-maxage", "value": "30"}, {"name": "event-ttl", "value": "2h"}]
    assert [a["name"] for a in args].count("audit-log-maxage") == 1
    assert "anonymous-auth" not in [a["name"] for a in args]


def test_v1beta3_gets_a_map_and_volumes_are_replaced_by_name():
    data = {"ClusterConfiguration": V1BETA3}
    new_data, changed = plan(data, CHANGE)
    assert changed
    document = cluster_configuration(new_data)
    assert document["apiServer"]["extraArgs"] == {
        "oidc-issuer-url": "https://sso.example.net", "audit-log-maxage": "30", "audit-log-maxbackup": "10",
        "audit-log-maxsize": "100", "audit-log-path": "/var/log/kubernetes/audit/audit.log",
        "audit-policy-file": "/etc/kubernetes/audit/policy.yaml"}
    volumes = document["apiServer"]["extraVolumes"]
    assert [v["name"] for v in volumes] == ["audit-log", "audit-policy"]
    assert volumes[0]["hostPath"] == "/var/log/kubernetes/audit"
    assert document["kubernetesVersion"] == "v1.30.4"
    assert plan(new_data, CHANGE) == (new_data, False)


def test_an_equal_volume_written_without_defaults_is_no_change():
    data = v1beta4_data({"extraVolumes": [{"name": "audit-log", "hostPath": "/var/log/kubernetes/audit",
                                           "mountPath": "/var/log/kubernetes/audit",
                                           "pathType": "DirectoryOrCreate"}]})
    change = dict(CHANGE, set_flags={}, volumes=CHANGE["volumes"][1:])
    assert plan(data, change) == (data, False)


def test_a_mount_path_used_by_another_extra_volume_is_refused():
    data = v1beta4_data({"extraVolumes": [{"name": "logs", "hostPath": "/srv/logs",
                                           "mountPath": "/var/log/kubernetes/audit"}]})
    with pytest.raises(ValueError, match="already is"):
        plan(data, CHANGE)


def test_list_merges_resolve_against_the_manifest_flags():
    change = hardening.hardening_flags(anonymous="keep", cipher_suites=None)
    manifest_flags = {"authorization-mode": "Node,RBAC", "enable-admission-plugins": "NodeRestriction"}
    new_data, changed = plan(v1beta4_data(), change, base_flags=manifest_flags)
    assert changed
    args = {a["name"]: a["value"] for a in cluster_configuration(new_data)["apiServer"]["extraArgs"]}
    assert args == {"authorization-mode": "Node,RBAC", "enable-admission-plugins": "NodeRestriction",
                    "profiling": "false", "service-account-extend-token-expiration": "false",
                    "tls-min-version": "VersionTLS12"}
    assert plan(new_data, change, base_flags=manifest_flags) == (new_data, False)
    user = v1beta4_data({"extraArgs": [{"name": "enable-admission-plugins", "value": "PodSecurity"}]})
    merged = {a["name"]: a["value"] for a in cluster_configuration(plan(user, change)[0])["apiServer"]["extraArgs"]}
    assert merged["enable-admission-plugins"] == "PodSecurity,NodeRestriction"


@pytest.mark.parametrize("data, message", [
    ({}, "has no ClusterConfiguration"),
    ({"ClusterConfiguration": "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n"}, "v1beta2"),
    ({"ClusterConfiguration": "apiVersion: v1\nkind: ConfigMap\n"}, "not a ClusterConfiguration"),
    ({"ClusterConfiguration": "apiServer: [unclosed\n"}, "not valid YAML"),
])
def test_unusable_configmaps_are_refused(data, message):
    with pytest.raises(ValueError, match=message):
        plan(data, CHANGE)
