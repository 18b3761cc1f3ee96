"""kubeadm/RKE2/k3s configuration on a node: config merging, k3s argument rules, datastores, the running
kube-apiserver's flags, static pod host paths, the authentication configuration."""

from __future__ import annotations

import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import (
    config_files,
    host_path,
    k3s_get_args,
    merge_config_documents,
    rancher_datastore,
    read_authentication_config,
    read_running_apiserver_flags,
)
from tests.unit.plugins.module_utils._node.test_gather import fake_process, write


# -- config merging and argv building ------------------------------------------------------------------------------
def test_merge_config_documents_replace_append_and_order():
    merged = merge_config_documents([
        {"a": ["1"], "b": "x", "c": True},
        {"a+": ["2"], "d+": ["new"]},
        {"b": "y", "c+": "more"},
    ])
    assert merged == {"a": ["1", "2"], "b": "y", "c": ["true", "more"], "d": ["new"]}
    assert list(merged) == ["a", "b", "c", "d"]


def test_k3s_get_args_overrides_appends_prepends_and_repeats():
    args = k3s_get_args({"enable-admission-plugins": "NodeRestriction", "profiling": "false", "x": "1"},
                        ["profiling=true", "enable-admission-plugins+=EventRateLimit", "x-=0", "v=2", "v=4",
                         "bare"])
    assert args == ["--bare=true", "--enable-admission-plugins=NodeRestriction",
                    "--enable-admission-plugins=EventRateLimit", "--profiling=true", "--v=2", "--v=4",
                    "--x=0", "--x=1"]
    flags = parse_flags(args)
    assert flags["enable-admission-plugins"] == "NodeRestriction,EventRateLimit" and flags["v"] == "4"


def test_config_dropins_in_lexical_order_yaml_only(tmp_path):
    for name in ("b.yml", "a.yaml", "C.YAML", "z.json", "d.yaml.bak"):
        write(tmp_path, "/etc/rancher/k3s/config.yaml.d/" + name, "{}")
    (tmp_path / "etc/rancher/k3s/config.yaml.d/dir.yaml").mkdir()
    assert config_files(str(tmp_path), "/etc/rancher/k3s/config.yaml") == [
        "/etc/rancher/k3s/config.yaml.d/C.YAML", "/etc/rancher/k3s/config.yaml.d/a.yaml",
        "/etc/rancher/k3s/config.yaml.d/b.yml"]


def test_datastore_endpoint_decides_etcd_or_kine(tmp_path):
    kind, flags = rancher_datastore("k3s", {"datastore-endpoint": "https://user:pw@etcd.example:2379",
                                            "datastore-cafile": "/ca.pem"}, str(tmp_path), "/var/lib/rancher/k3s")
    assert kind == "etcd" and flags == {"etcd-servers": "https://REDACTED@etcd.example:2379", "etcd-cafile": "/ca.pem"}
    assert rancher_datastore("rke2", {"datastore-endpoint": "postgres://u:p@db/k8s"}, str(tmp_path), "/x") == (
        "kine (postgres)", {})
    (tmp_path / "var/lib/rancher/k3s/server/db/etcd").mkdir(parents=True)
    assert rancher_datastore("k3s", {}, str(tmp_path), "/var/lib/rancher/k3s")[0] == "etcd"


# -- running apiserver from a fake /proc ----------------------------------------------------------------------------

def test_single_apiserver_process_among_others(tmp_path):
    fake_process(tmp_path, 10, "etcd", ["etcd", "--data-dir=/var/lib/etcd"])
    fake_process(tmp_path, 11, "kube-apiserver", ["/usr/local/bin/kube-apiserver", "--anonymous-auth=false",
                                                  "--v", "2", "--profiling=true", "--profiling=false"])
    (tmp_path / "12").mkdir()  # a process that ended between listdir and open
    assert read_running_apiserver_flags(str(tmp_path)) == (
        {"anonymous-auth": "false", "v": "2", "profiling": "false"}, None)


def test_no_apiserver_process(tmp_path):
    fake_process(tmp_path, 10, "kube-apiserver-x", ["kube-apiserver-x"])
    assert read_running_apiserver_flags(str(tmp_path)) == (None, None)


def test_several_apiservers_without_a_unique_match_is_an_error(tmp_path):
    fake_process(tmp_path, 10, "kube-apiserver", ["kube-apiserver", "--bind-address=127.0.10.1"])
    fake_process(tmp_path, 11, "kube-apiserver", ["kube-apiserver", "--bind-address=127.0.10.2"])
    flags, error = read_running_apiserver_flags(str(tmp_path), {"bind-address": "127.0.10.9"})
    assert flags is None and error.startswith("2 kube-apiserver processes run on this host")
    flags, error = read_running_apiserver_flags(str(tmp_path), {"bind-address": "127.0.10.2"})
    assert flags == {"bind-address": "127.0.10.2"} and error is None


def test_host_path_through_mounts_with_subpath():
    pod = {"spec": {"containers": [{"name": "kube-apiserver", "volumeMounts": [
        {"name": "logs", "mountPath": "/var/log/audit"},
        {"name": "etc", "mountPath": "/etc/kubernetes"},
        {"name": "policy", "mountPath": "/etc/kubernetes/policy.yaml", "subPath": "audit/policy.yaml"}]}],
        "volumes": [{"name": "logs", "hostPath": {"path": "/var/log/kubernetes/audit"}},
                    {"name": "etc", "hostPath": {"path": "/srv/k8s-etc"}},
                    {"name": "policy", "hostPath": {"path": "/opt/conf/"}}]}}
    assert host_path("/var/log/audit/a.log", pod, "kube-apiserver") == "/var/log/kubernetes/audit/a.log"
    assert host_path("/var/log/auditx/a.log", pod, "kube-apiserver") == "/var/log/auditx/a.log"
    assert host_path("/etc/kubernetes/pki/enc.yaml", pod, "kube-apiserver") == "/srv/k8s-etc/pki/enc.yaml"
    assert host_path("/etc/kubernetes/policy.yaml", pod, "kube-apiserver") == "/opt/conf/audit/policy.yaml"


def test_authentication_configuration_is_read_for_its_anonymous_rules(tmp_path):
    write(tmp_path, "/etc/kubernetes/authn.yaml", yaml.safe_dump({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "AuthenticationConfiguration",
        "anonymous": {"enabled": True, "conditions": [{"path": "/livez"}, {"path": "/readyz"}]}}))
    summary = read_authentication_config(str(tmp_path), "/etc/kubernetes/authn.yaml")
    assert summary == {"path": "/etc/kubernetes/authn.yaml", "exists": True, "valid": True, "error": None,
                       "anonymous": {"configured": True, "enabled": True, "paths": ["/livez", "/readyz"]}}
    write(tmp_path, "/etc/kubernetes/other.yaml", yaml.safe_dump({"kind": "Policy"}))
    other = read_authentication_config(str(tmp_path), "/etc/kubernetes/other.yaml")
    assert other["valid"] is False and other["error"] == "not an AuthenticationConfiguration"
    missing = read_authentication_config(str(tmp_path), "/etc/kubernetes/missing.yaml")
    assert missing["exists"] is False and missing["anonymous"]["configured"] is False
