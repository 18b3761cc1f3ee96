"""Node facts of kube-controller-manager and kube-scheduler: the running process's flags (several nodes in one PID
namespace, as on the local control plane), else the static pod manifest (kubeadm, RKE2); k3s's from its config
and defaults."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.gather import gather_node_facts
from tests.unit.plugins.module_utils._node.test_gather import (
    fake_process,
    k3s_node,
    kubeadm_node,
    rke2_node,
    static_pod,
    write,
)

CM_MANIFEST = "/etc/kubernetes/manifests/kube-controller-manager.yaml"
SCHEDULER_MANIFEST = "/etc/kubernetes/manifests/kube-scheduler.yaml"


def command(component, node="kc-cp1"):
    return static_pod(component, node)["spec"]["containers"][0]["command"]


def test_kubeadm_running_controller_manager_and_scheduler_of_this_node(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    kubeadm_node(root, proc)
    write(root, CM_MANIFEST, static_pod("kube-controller-manager"))
    # the kernel shortens the process name to 15 characters; a second node's processes run alongside
    repeated = command("kube-controller-manager") + ["--profiling=true", "--profiling=false"]
    fake_process(proc, 5001, "kube-controller", repeated)
    fake_process(proc, 5002, "kube-controller", command("kube-controller-manager", "kc-cp2"))
    fake_process(proc, 5003, "kube-scheduler", command("kube-scheduler"))
    fake_process(proc, 5004, "kube-scheduler", command("kube-scheduler", "kc-cp2"))
    facts = gather_node_facts("kubeadm", root=str(root), proc=str(proc), etcd_sample_size=0)
    cm, scheduler = facts["controller_manager"], facts["scheduler"]
    assert cm["source"] == CM_MANIFEST and cm["missing"] is None
    assert cm["flags"]["root-ca-file"] == "/etc/kubernetes/pki/ca.crt" and "profiling" not in cm["flags"]
    assert cm["running_flags"]["bind-address"] == "127.0.10.1"
    assert cm["running_flags"]["profiling"] == "false"  # the last occurrence, as the component reads it
    assert scheduler["source"] == SCHEDULER_MANIFEST
    assert scheduler["running_flags"]["bind-address"] == "127.0.10.1"
    assert facts["errors"] == []


def test_kubeadm_without_processes_keeps_the_manifest_and_names_a_missing_one(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    kubeadm_node(root, proc)
    facts = gather_node_facts("kubeadm", root=str(root), proc=str(proc), etcd_sample_size=0)
    assert facts["scheduler"]["running_flags"] is None
    assert facts["scheduler"]["flags"]["leader-elect"] == "true"
    cm = facts["controller_manager"]
    assert cm["flags"] is None and cm["running_flags"] is None
    assert cm["missing"] == CM_MANIFEST + " does not exist"


def test_kubeadm_unparsable_manifest_is_an_error_and_no_flags(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    kubeadm_node(root, proc)
    write(root, CM_MANIFEST, "spec: [unclosed\n")
    facts = gather_node_facts("kubeadm", root=str(root), proc=str(proc), etcd_sample_size=0)
    assert facts["controller_manager"]["flags"] is None
    assert facts["controller_manager"]["missing"].startswith(CM_MANIFEST + " not valid YAML: ")
    assert "line 2, column 1" in facts["controller_manager"]["missing"]  # the parse position
    assert [e["what"] for e in facts["errors"]] == ["static pod manifest " + CM_MANIFEST]


def test_ambiguous_processes_are_an_error_not_a_guess(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    kubeadm_node(root, proc)
    fake_process(proc, 5003, "kube-scheduler", ["kube-scheduler", "--bind-address=127.0.10.7"])
    fake_process(proc, 5004, "kube-scheduler", ["kube-scheduler", "--bind-address=127.0.10.8"])
    facts = gather_node_facts("kubeadm", root=str(root), proc=str(proc), etcd_sample_size=0)
    assert facts["scheduler"]["running_flags"] is None
    assert any(e["what"] == "running kube-scheduler flags" and e["cause"].startswith("2 kube-scheduler processes")
               for e in facts["errors"])


def test_rke2_reads_the_pod_manifests_rke2_rendered(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    rke2_node(root, proc, {})
    pods = "/var/lib/rancher/rke2/agent/pod-manifests/"
    write(root, pods + "kube-scheduler.yaml", {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{
        "name": "kube-scheduler", "command": ["kube-scheduler"],
        "args": ["--bind-address=127.0.0.1", "--profiling=false"]}]}})
    facts = gather_node_facts("rke2", root=str(root), proc=str(proc), etcd_sample_size=0)
    assert facts["scheduler"]["source"] == pods + "kube-scheduler.yaml"
    assert facts["scheduler"]["flags"] == {"bind-address": "127.0.0.1", "profiling": "false"}
    assert facts["controller_manager"]["missing"] == pods + "kube-controller-manager.yaml does not exist"


def test_k3s_components_are_read_from_the_config_as_k3s_builds_them(tmp_path):
    """k3s runs them in its own process, so their flags are its defaults merged with the user's *-arg lists, the
    reading rancher_apiserver_config plans with (one function serves both)."""
    root = tmp_path / "node"
    k3s_node(root, {"kube-scheduler-arg": ["bind-address=0.0.0.0"]})
    write(root, "/etc/rancher/k3s/config.yaml.d/60-metrics.yaml", {"kube-scheduler-arg+": ["profiling=true"]})
    Path(tmp_path / "proc").mkdir()
    facts = gather_node_facts("k3s", root=str(root), proc=str(tmp_path / "proc"), etcd_sample_size=0)
    cm, scheduler = facts["controller_manager"], facts["scheduler"]
    assert cm["flags"] == {"bind-address": "127.0.0.1", "profiling": "false", "secure-port": "10257"}
    assert scheduler["flags"] == {"bind-address": "0.0.0.0", "profiling": "true", "secure-port": "10259"}
    for key in ("controller_manager", "scheduler"):
        assert facts[key]["missing"] is None and facts[key]["running_flags"] is None
        assert facts[key]["source"] == ("/etc/rancher/k3s/config.yaml, /etc/rancher/k3s/config.yaml.d/50-retention.yaml, "
                                        "/etc/rancher/k3s/config.yaml.d/60-metrics.yaml + k3s built-in defaults")
