"""Node facts of the files the CIS benchmark audits: modes and owners on a node laid out under a temporary root,
PKI trees expanded as `find` lists them, a missing file as a fact, an unreadable one as an error naming the path,
and the RKE2/k3s equivalents or the reason a target does not apply."""

from __future__ import annotations

import errno
import os

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._node import file_modes
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import (
    read_kubeadm_config,
    read_rancher_config,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.gather import gather_node_facts

ETCD_MANIFEST = """apiVersion: v1
kind: Pod
metadata: {name: etcd, namespace: kube-system}
spec:
  containers:
  - name: etcd
    command: [etcd, --data-dir=/var/lib/etcd]
    volumeMounts: [{name: etcd-data, mountPath: /var/lib/etcd}]
  volumes:
  - {name: etcd-data, hostPath: {path: /srv/etcd-on-host, type: DirectoryOrCreate}}
"""
KUBELET_CONFIG = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication: {x509: {clientCAFile: /etc/kubernetes/pki/kubelet-ca.crt}}
"""


def put(root, path, content="x", mode=0o600):
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    target.chmod(mode)
    return target


@pytest.fixture
def kubeadm_node(tmp_path):
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        put(tmp_path, "/etc/kubernetes/manifests/%s.yaml" % name, "apiVersion: v1\nkind: Pod\n")
    put(tmp_path, "/etc/kubernetes/manifests/etcd.yaml", ETCD_MANIFEST, 0o644)
    (tmp_path / "srv/etcd-on-host").mkdir(parents=True)
    (tmp_path / "srv/etcd-on-host").chmod(0o700)
    for name in ("admin.conf", "scheduler.conf", "controller-manager.conf", "kubelet.conf"):
        put(tmp_path, "/etc/kubernetes/" + name)
    for name in ("ca", "apiserver", "etcd/ca", "etcd/server"):
        put(tmp_path, "/etc/kubernetes/pki/%s.crt" % name, mode=0o644)
        put(tmp_path, "/etc/kubernetes/pki/%s.key" % name)
    put(tmp_path, "/etc/kubernetes/pki/sa.pub", mode=0o644)
    put(tmp_path, "/etc/kubernetes/pki/kubelet-ca.crt", mode=0o644)
    put(tmp_path, file_modes.KUBEADM_KUBELET_CONFIG, KUBELET_CONFIG, 0o644)
    return tmp_path


def refuse(*_args, **_kwargs):
    raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused (no TLS server in this test)")


def paths(facts, target):
    return [entry["path"] for entry in facts[target]["entries"]]


def test_kubeadm_targets_carry_mode_and_owner_of_every_audited_path(kubeadm_node):
    facts = file_modes.read_file_modes(str(kubeadm_node), "kubeadm", read_kubeadm_config(str(kubeadm_node)))
    assert set(facts) == set(file_modes.TARGETS)
    etcd_manifest = facts["etcd_manifest"]["entries"][0]
    assert etcd_manifest == {"path": "/etc/kubernetes/manifests/etcd.yaml", "exists": True, "mode": "0644",
                             "owner": "root" if os.getuid() == 0 else etcd_manifest["owner"],
                             "group": etcd_manifest["group"], "uid": os.getuid(), "gid": os.getgid()}
    # The data directory is the host side of etcd's --data-dir mount.
    assert facts["etcd_data_dir"]["entries"][0]["path"] == "/srv/etcd-on-host"
    assert facts["etcd_data_dir"]["entries"][0]["mode"] == "0700"
    # super-admin.conf exists only on the node that ran kubeadm init: missing, and marked optional.
    assert facts["admin_kubeconfig"]["entries"][1] == {"path": "/etc/kubernetes/super-admin.conf", "exists": False,
                                                       "optional": True}
    # The client CA is the one the kubelet's config file names.
    assert paths(facts, "kubelet_client_ca") == ["/etc/kubernetes/pki/kubelet-ca.crt"]
    assert facts["kubelet_config"]["entries"][0]["mode"] == "0644"


def test_pki_globs_are_expanded_recursively_on_the_node(kubeadm_node):
    facts = file_modes.read_file_modes(str(kubeadm_node), "kubeadm", read_kubeadm_config(str(kubeadm_node)))
    assert paths(facts, "pki_keys") == ["/etc/kubernetes/pki/apiserver.key", "/etc/kubernetes/pki/ca.key",
                                        "/etc/kubernetes/pki/etcd/ca.key", "/etc/kubernetes/pki/etcd/server.key"]
    assert "/etc/kubernetes/pki/etcd/ca.crt" in paths(facts, "pki_certificates")
    assert "/etc/kubernetes/pki/sa.pub" not in paths(facts, "pki_certificates")
    # 1.1.19: the directory itself, its subdirectory and every file.
    everything = paths(facts, "pki")
    assert everything[0] == "/etc/kubernetes/pki"
    assert {"/etc/kubernetes/pki/etcd", "/etc/kubernetes/pki/sa.pub", "/etc/kubernetes/pki/etcd/server.key"} <= set(
        everything)


def test_a_missing_file_is_a_fact_and_an_unreadable_one_an_error_naming_the_path(kubeadm_node, monkeypatch):
    (kubeadm_node / "etc/kubernetes/scheduler.conf").unlink()
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if str(path).endswith("controller-manager.conf"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(file_modes.os, "stat", stat)
    facts = gather_node_facts("kubeadm", root=str(kubeadm_node), proc=str(kubeadm_node / "proc"), etcd_sample_size=0,
                              tls_fetch=refuse)
    assert facts["file_modes"]["scheduler_kubeconfig"]["entries"] == [
        {"path": "/etc/kubernetes/scheduler.conf", "exists": False}]
    assert facts["file_modes"]["controller_manager_kubeconfig"]["entries"] == [
        {"path": "/etc/kubernetes/controller-manager.conf", "error": "Permission denied"}]
    assert {"what": "file /etc/kubernetes/controller-manager.conf", "cause": "Permission denied"} in facts["errors"]


def test_an_unlistable_pki_subdirectory_is_an_error_naming_it(kubeadm_node, monkeypatch):
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("/pki/etcd"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    facts = file_modes.read_file_modes(str(kubeadm_node), "kubeadm", read_kubeadm_config(str(kubeadm_node)))
    assert {"path": "/etc/kubernetes/pki/etcd", "error": "Permission denied"} in facts["pki_keys"]["entries"]


def test_without_a_local_etcd_manifest_the_data_directory_does_not_apply(kubeadm_node):
    (kubeadm_node / "etc/kubernetes/manifests/etcd.yaml").unlink()
    facts = file_modes.read_file_modes(str(kubeadm_node), "kubeadm", read_kubeadm_config(str(kubeadm_node)))
    assert "etcd is external" in facts["etcd_data_dir"]["not_applicable"]
    assert facts["etcd_manifest"]["entries"] == [{"path": "/etc/kubernetes/manifests/etcd.yaml", "exists": False}]


@pytest.mark.parametrize("distribution", ["rke2", "k3s"])
def test_rancher_equivalents_or_the_reason_they_do_not_apply(tmp_path, distribution):
    data = "/var/lib/rancher/%s" % distribution
    put(tmp_path, data + "/server/tls/server-ca.key")
    put(tmp_path, data + "/agent/client-ca.crt", mode=0o644)
    facts = file_modes.read_file_modes(str(tmp_path), distribution, read_rancher_config(str(tmp_path), distribution))
    assert paths(facts, "pki_keys") == [data + "/server/tls/server-ca.key"]
    assert paths(facts, "scheduler_kubeconfig") == [data + "/server/cred/scheduler.kubeconfig"]
    assert paths(facts, "kubelet_client_ca") == [data + "/agent/client-ca.crt"]
    assert "not a config.yaml" in facts["kubelet_config"]["not_applicable"]
    if distribution == "k3s":
        assert "inside the k3s process" in facts["apiserver_manifest"]["not_applicable"]
        # k3s without a config defaults to SQLite (kine): no etcd data directory.
        assert "not embedded etcd" in facts["etcd_data_dir"]["not_applicable"]
    else:
        assert paths(facts, "apiserver_manifest") == [data + "/agent/pod-manifests/kube-apiserver.yaml"]
        assert paths(facts, "etcd_data_dir") == [data + "/server/db/etcd"]
