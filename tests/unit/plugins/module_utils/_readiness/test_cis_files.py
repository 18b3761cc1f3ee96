"""CIS file checks (KC-SEC-045..069) on recorded node facts: pass at kubeadm's modes, fail on 0644 and on a wrong
owner naming path, mode and owner found vs wanted, unknown on a missing or unreadable file naming the path, the
"or more restrictive" bitmask, the etcd data directory owner decision, and not_applicable with its reason."""

from __future__ import annotations

import copy
import datetime

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog, engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import cis_files
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
CHECKS = {c.id: c for c in catalog.all_checks()}
BY_CIS = {cis_id: "KC-SEC-" + suffix for suffix, cis_id, *_rest in cis_files.ITEMS}
PKI = "/etc/kubernetes/pki"


def entry(path, mode="0600", owner="root", group="root"):
    return {"path": path, "exists": True, "mode": mode, "owner": owner, "group": group,
            "uid": 0 if owner == "root" else 1000, "gid": 0 if group == "root" else 1000}


# As gather_node_facts recorded them on a kubeadm control-plane node after the role ran.
RECORDED = {
    "apiserver_manifest": {"entries": [entry("/etc/kubernetes/manifests/kube-apiserver.yaml")]},
    "controller_manager_manifest": {"entries": [entry("/etc/kubernetes/manifests/kube-controller-manager.yaml")]},
    "scheduler_manifest": {"entries": [entry("/etc/kubernetes/manifests/kube-scheduler.yaml")]},
    "etcd_manifest": {"entries": [entry("/etc/kubernetes/manifests/etcd.yaml")]},
    "etcd_data_dir": {"entries": [entry("/var/lib/etcd", "0700")]},
    "admin_kubeconfig": {"entries": [entry("/etc/kubernetes/admin.conf"),
                                     {"path": "/etc/kubernetes/super-admin.conf", "exists": False,
                                      "optional": True}]},
    "scheduler_kubeconfig": {"entries": [entry("/etc/kubernetes/scheduler.conf")]},
    "controller_manager_kubeconfig": {"entries": [entry("/etc/kubernetes/controller-manager.conf")]},
    "pki": {"entries": [entry(PKI, "0755"), entry(PKI + "/ca.crt", "0644"), entry(PKI + "/ca.key"),
                        entry(PKI + "/etcd", "0755"), entry(PKI + "/etcd/ca.key")]},
    "pki_certificates": {"entries": [entry(PKI + "/ca.crt", "0644")]},
    "pki_keys": {"entries": [entry(PKI + "/ca.key"), entry(PKI + "/etcd/ca.key", "0400")]},
    "kubelet_kubeconfig": {"entries": [entry("/etc/kubernetes/kubelet.conf")]},
    "kubelet_config": {"entries": [entry("/var/lib/kubelet/config.yaml")]},
    "kubelet_client_ca": {"entries": [entry(PKI + "/ca.crt", "0644")]},
    "kubelet_service": {"entries": [entry("/usr/lib/systemd/system/kubelet.service"),
                                    entry("/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf")]},
}


def node(**changes):
    modes = copy.deepcopy(RECORDED)
    modes.update(changes)
    return {"distribution": "kubeadm", "errors": [], "file_modes": modes}


def run(cis_id, hosts, distribution="kubeadm"):
    snap = {"cluster": {"name": "c", "distribution": distribution, "tier": "critical", "version": "v1.36.0"},
            "kinds": {}, "nodes": {"hosts": hosts}}
    return engine.run_check(CHECKS[BY_CIS[cis_id]], Context(snap, tiers.tier_table(), {}, NOW))


def test_one_check_per_cis_file_item_each_carrying_only_its_id():
    assert len(BY_CIS) == len(set(BY_CIS.values())) == 27
    for cis_id, check_id in BY_CIS.items():
        controls = [c["id"] for c in catalog.entries([CHECKS[check_id]])[0]["controls"]
                    if c["framework"] == "cis_kubernetes"]
        assert controls == [cis_id]


@pytest.mark.parametrize("cis_id", sorted(set(BY_CIS) - {"1.1.12"}))
def test_kubeadm_modes_after_remediation_pass(cis_id):
    result = run(cis_id, {"cp-1": node(), "cp-2": node()})
    assert result.verdict == "pass", result.message


def test_a_0644_manifest_fails_naming_path_mode_and_what_is_wanted():
    changed = node(apiserver_manifest={"entries": [entry("/etc/kubernetes/manifests/kube-apiserver.yaml", "0644")]})
    result = run("1.1.1", {"cp-1": node(), "cp-2": changed})
    assert result.verdict == "fail"
    assert [o["verdict"] for o in result.objects] == ["pass", "fail"]
    assert result.objects[1]["reason"] == ("/etc/kubernetes/manifests/kube-apiserver.yaml 0644 "
                                           "(want 0600 or more restrictive)")


@pytest.mark.parametrize("mode, verdict", [("0400", "pass"), ("0000", "pass"), ("0640", "fail"), ("0700", "fail"),
                                           ("4600", "fail")])
def test_more_restrictive_is_the_bitmask_kube_bench_applies(mode, verdict):
    changed = node(scheduler_kubeconfig={"entries": [entry("/etc/kubernetes/scheduler.conf", mode)]})
    assert run("1.1.15", {"cp-1": changed}).verdict == verdict


def test_a_wrong_owner_fails_naming_owner_found_and_wanted():
    changed = node(pki_keys={"entries": [entry(PKI + "/ca.key")]},
                   pki={"entries": [entry(PKI, "0755"), entry(PKI + "/ca.key", owner="alice", group="alice")]})
    result = run("1.1.19", {"cp-1": changed})
    assert result.verdict == "fail"
    assert result.objects[0]["reason"] == "/etc/kubernetes/pki/ca.key alice:alice (want root:root)"


def test_a_readable_key_fails_1_1_21_and_a_group_writable_certificate_fails_1_1_20():
    changed = node(pki_keys={"entries": [entry(PKI + "/ca.key", "0644")]},
                   pki_certificates={"entries": [entry(PKI + "/ca.crt", "0664")]})
    assert run("1.1.21", {"cp-1": changed}).verdict == "fail"
    assert run("1.1.20", {"cp-1": changed}).verdict == "fail"


def test_a_missing_file_is_unknown_naming_the_path():
    changed = node(kubelet_config={"entries": [{"path": "/var/lib/kubelet/config.yaml", "exists": False}]})
    result = run("4.1.9", {"cp-1": changed})
    assert result.verdict == "unknown"
    assert result.objects[0]["reason"] == "/var/lib/kubelet/config.yaml missing"


def test_a_missing_optional_file_is_judged_where_it_exists():
    super_admin = {"entries": [entry("/etc/kubernetes/admin.conf"),
                               entry("/etc/kubernetes/super-admin.conf", "0644")]}
    result = run("1.1.13", {"cp-1": node(), "cp-2": node(admin_kubeconfig=super_admin)})
    assert [o["verdict"] for o in result.objects] == ["pass", "fail"]
    assert "super-admin.conf 0644" in result.objects[1]["reason"]


def test_an_unreadable_file_is_unknown_naming_the_path_and_cause_never_pass():
    changed = node(controller_manager_kubeconfig={"entries": [
        {"path": "/etc/kubernetes/controller-manager.conf", "error": "Permission denied"}]})
    for cis_id in ("1.1.17", "1.1.18"):
        result = run(cis_id, {"cp-1": changed})
        assert result.verdict == "unknown"
        assert result.objects[0]["reason"] == "/etc/kubernetes/controller-manager.conf unreadable: Permission denied"


def test_node_facts_without_file_modes_are_unknown():
    result = run("1.1.1", {"cp-1": {"distribution": "kubeadm", "errors": []}})
    assert result.verdict == "unknown"
    assert "no file modes" in result.objects[0]["reason"]


def test_etcd_data_dir_owned_by_root_on_kubeadm_fails_with_the_decision_and_no_remediation():
    check = CHECKS[BY_CIS["1.1.12"]]
    assert check.remediation is None
    assert "refuses to chown" in check.runbook and "kubernetes/kubeadm#2931" in check.runbook
    result = run("1.1.12", {"cp-1": node()})
    assert result.verdict == "fail"
    assert result.objects[0]["reason"] == ("/var/lib/etcd root:root (want etcd:etcd) - kubeadm runs etcd as root; "
                                           "see the runbook")
    owned = node(etcd_data_dir={"entries": [entry("/var/lib/etcd", "0700", "etcd", "etcd")]})
    assert run("1.1.12", {"cp-1": owned}).verdict == "pass"


def test_every_other_file_check_names_the_role():
    for cis_id, check_id in BY_CIS.items():
        if cis_id != "1.1.12":
            assert CHECKS[check_id].remediation == {"role": "control_plane_files", "tag": "files"}


def test_a_target_that_does_not_apply_on_every_node_is_not_applicable_with_the_reason():
    reason = "k3s runs the control-plane components inside the k3s process: there is no pod specification file"
    k3s = node(apiserver_manifest={"not_applicable": reason})
    result = run("1.1.1", {"cp-1": k3s, "cp-2": k3s}, distribution="k3s")
    assert result.verdict == "not_applicable"
    assert reason in result.message


def test_a_package_installed_kubelet_drop_in_at_0644_fails_4_1_1_naming_it():
    service = {"entries": [entry("/usr/lib/systemd/system/kubelet.service"),
                           entry("/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", "0644")]}
    result = run("4.1.1", {"cp-1": node(kubelet_service=service)})
    assert result.verdict == "fail"
    assert result.objects[0]["reason"] == ("/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf 0644 "
                                           "(want 0600 or more restrictive)")
    assert run("4.1.2", {"cp-1": node(kubelet_service=service)}).verdict == "pass"


def test_a_node_without_kubelet_service_files_is_unknown_never_pass():
    service = {"entries": []}
    for cis_id in ("4.1.1", "4.1.2"):
        result = run(cis_id, {"cp-1": node(kubelet_service=service)})
        assert result.verdict == "unknown"
        assert result.objects[0]["reason"] == "no kubelet service file found"
