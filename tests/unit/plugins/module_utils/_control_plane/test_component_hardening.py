"""CIS 1.2.5, 1.2.15, 1.2.30, 1.3.2, 1.3.7, 1.4.1, 1.4.2 on kubeadm: planning the static pod changes of the API
server, kube-controller-manager and kube-scheduler (manifests shaped as the local control plane writes them)."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import (
    hardening,
    kubeadm_config,
    static_pod,
)
from kclocal import manifests

NODE = manifests.Node("kc-cp1", "127.0.10.1", "198.51.100.1")
NODE2 = manifests.Node("kc-cp2", "127.0.10.2", "198.51.100.2")
BUILDERS = {"kube-apiserver": manifests.apiserver_manifest,
            "kube-controller-manager": manifests.controller_manager_manifest,
            "kube-scheduler": manifests.scheduler_manifest}


def manifest(component, node=NODE):
    return yaml.safe_load(manifests.dump(BUILDERS[component](node)))


def argv(pod, component):
    return static_pod.pod_container(pod, component)["command"]


def probes(pod, component):
    container = static_pod.pod_container(pod, component)
    return {name: container[name]["httpGet"].get("host") for name in ("livenessProbe", "readinessProbe",
                                                                      "startupProbe") if name in container}


# -- repeated flags: kube-bench reads the first occurrence, Kubernetes the last -----------------------------------

@pytest.mark.parametrize("component", sorted(BUILDERS))
def test_a_repeated_flag_whose_last_value_is_already_wanted_collapses_to_one(component):
    before = manifest(component)
    argv(before, component).extend(["--profiling=true", "--profiling=false"])
    assert parse_flags(argv(before, component))["profiling"] == "false"  # what the component runs with
    after, changes = static_pod.plan_manifest(before, {"profiling": "false"}, component=component)
    assert [arg for arg in argv(after, component) if arg.startswith("--profiling")] == ["--profiling=false"]
    assert changes == ["set --profiling=false (was repeated: true, false)"]
    again, none = static_pod.plan_manifest(yaml.safe_load(static_pod.render_manifest(after)), {"profiling": "false"},
                                           component=component)
    assert none == []


def test_an_existing_profiling_true_ends_as_one_profiling_false_in_its_place():
    before = manifest("kube-scheduler")
    argv(before, "kube-scheduler").insert(2, "--profiling=true")
    after, changes = static_pod.plan_manifest(before, {"profiling": "false"}, component="kube-scheduler")
    assert argv(after, "kube-scheduler")[2] == "--profiling=false"
    assert sum(arg.startswith("--profiling") for arg in argv(after, "kube-scheduler")) == 1
    assert changes == ["set --profiling=false (was true)"]


def test_a_repeated_flag_split_between_command_and_args_collapses_into_the_first():
    before = manifest("kube-controller-manager")
    container = static_pod.pod_container(before, "kube-controller-manager")
    container["command"].append("--profiling=false")
    container["args"] = ["--profiling=true", "--profiling=false"]
    after, _changes = static_pod.plan_manifest(before, {"profiling": "false"}, component="kube-controller-manager")
    container = static_pod.pod_container(after, "kube-controller-manager")
    assert container["command"][-1] == "--profiling=false"
    assert "args" not in container or not any(a.startswith("--profiling") for a in container["args"])


# -- the component planner ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("component", ["kube-controller-manager", "kube-scheduler"])
def test_components_get_profiling_off_and_localhost_with_probes_following(component):
    change = hardening.component_hardening_flags(component)
    assert change["set_flags"] == {"profiling": "false", "bind-address": "127.0.0.1"}
    before = manifest(component)
    after, changes = static_pod.plan_manifest(before, change["set_flags"], component=component)
    flags = parse_flags(argv(after, component))
    assert flags["profiling"] == "false" and flags["bind-address"] == "127.0.0.1"
    assert "set --bind-address=127.0.0.1 (was 127.0.10.1)" in changes
    # kubelet probes the address the component serves on: they follow the new bind address.
    assert set(probes(after, component).values()) == {"127.0.0.1"}
    assert any(line.startswith("probe livenessProbe host 127.0.0.1") for line in changes)


def test_probes_without_a_host_get_one_when_the_bind_address_is_specific():
    before = manifest("kube-scheduler")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        del static_pod.pod_container(before, "kube-scheduler")[name]["httpGet"]["host"]
    after, _changes = static_pod.plan_manifest(before, {"bind-address": "127.0.0.1"}, component="kube-scheduler")
    assert set(probes(after, "kube-scheduler").values()) == {"127.0.0.1"}


def test_the_api_server_probes_are_never_moved():
    before = manifest("kube-apiserver")
    after, _changes = static_pod.plan_manifest(before, {"profiling": "false"})
    assert probes(after, "kube-apiserver") == probes(before, "kube-apiserver")


def test_an_empty_bind_address_leaves_the_flag_alone_and_bad_ones_are_refused():
    assert hardening.component_hardening_flags("kube-scheduler", bind_address="")["set_flags"] == {
        "profiling": "false"}
    with pytest.raises(ValueError, match="bind_address 'localhost' is not an IP address"):
        hardening.component_hardening_flags("kube-scheduler", bind_address="localhost")
    with pytest.raises(ValueError, match="component must be one of kube-controller-manager, kube-scheduler"):
        hardening.component_hardening_flags("etcd")


def test_a_wildcard_bind_address_notes_that_network_scrapers_lose_the_port():
    change = hardening.component_hardening_flags("kube-controller-manager",
                                                 current_flags={"bind-address": "0.0.0.0"})
    assert any("10257" in note and "0.0.0.0" in note for note in change["notes"])


def test_the_local_control_plane_cannot_take_localhost_on_three_nodes():
    """Rig limit, asserted rather than skipped: the 3-node local control plane shares one loopback, so the planned
    --bind-address=127.0.0.1 gives every node's controller manager the same 127.0.0.1:10257; the second node's
    would fail to bind and be rolled back. On a real kubeadm node (and the 1-node rig) the change applies."""
    change = hardening.component_hardening_flags("kube-controller-manager")
    listeners = set()
    for node in (NODE, NODE2):
        after, _changes = static_pod.plan_manifest(manifest("kube-controller-manager", node), change["set_flags"],
                                                   component="kube-controller-manager")
        flags = parse_flags(argv(after, "kube-controller-manager"))
        listeners.add((flags["bind-address"], flags.get("secure-port", "10257")))
    assert listeners == {("127.0.0.1", "10257")}  # one socket for two nodes: the collision


# -- the API server's new flags ---------------------------------------------------------------------------------------

def test_token_expiration_is_not_extended_by_default_and_can_be_left_alone():
    assert hardening.hardening_flags(current_flags={})["set_flags"][
        "service-account-extend-token-expiration"] == "false"
    kept = hardening.hardening_flags(current_flags={}, extend_token_expiration=True)
    assert "service-account-extend-token-expiration" not in kept["set_flags"]


def test_kubelet_certificate_authority_is_opt_in():
    assert "kubelet-certificate-authority" not in hardening.hardening_flags(current_flags={})["set_flags"]
    change = hardening.hardening_flags(current_flags={}, kubelet_certificate_authority="/etc/kubernetes/pki/ca.crt")
    assert change["set_flags"]["kubelet-certificate-authority"] == "/etc/kubernetes/pki/ca.crt"
    assert any("serverTLSBootstrap" in note for note in change["notes"])
    with pytest.raises(ValueError, match="kubelet certificate authority"):
        hardening.hardening_flags(kubelet_certificate_authority="pki/ca.crt")


# -- kubeadm-config: the component's own extraArgs ------------------------------------------------------------------

@pytest.mark.parametrize("component, section", [("kube-controller-manager", "controllerManager"),
                                                ("kube-scheduler", "scheduler")])
def test_component_flags_go_to_their_own_extra_args(component, section):
    data = {"ClusterConfiguration": manifests.cluster_configuration("127.0.10.1:6443")}
    new, changed = kubeadm_config.plan_cluster_configuration(
        data, {"profiling": "false", "bind-address": "127.0.0.1"}, component=component)
    document = yaml.safe_load(new["ClusterConfiguration"])
    assert changed
    assert document[section]["extraArgs"] == [{"name": "bind-address", "value": "127.0.0.1"},
                                              {"name": "profiling", "value": "false"}]
    assert document["apiServer"] == {}
    assert kubeadm_config.plan_cluster_configuration(new, {"profiling": "false", "bind-address": "127.0.0.1"},
                                                     component=component) == (new, False)


def test_repeated_extra_args_collapse_to_one_even_when_the_last_value_is_right():
    document = yaml.safe_load(manifests.cluster_configuration("127.0.10.1:6443"))
    document["scheduler"] = {"extraArgs": [{"name": "profiling", "value": "true"},
                                           {"name": "profiling", "value": "false"}]}
    data = {"ClusterConfiguration": yaml.safe_dump(document)}
    new, changed = kubeadm_config.plan_cluster_configuration(data, {"profiling": "false"}, component="kube-scheduler")
    assert changed
    assert yaml.safe_load(new["ClusterConfiguration"])["scheduler"]["extraArgs"] == [
        {"name": "profiling", "value": "false"}]


# -- applying a component change: health gate on its own /healthz, rollback -----------------------------------------

class _Module:
    def __init__(self, params):
        self.params = params


def component_params(tmp_path, component="kube-scheduler", **overrides):
    from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import hardening as planner

    path = tmp_path / "manifests" / ("%s.yaml" % component)
    path.parent.mkdir(exist_ok=True)
    path.write_text(manifests.dump(BUILDERS[component](NODE)))
    change = planner.component_hardening_flags(component)
    base = {"component": component, "manifest": str(path), "set_flags": change["set_flags"], "remove_flags": [],
            "volumes": [], "files": [], "secret_files": [], "backup_dir": str(tmp_path / "backups"),
            "endpoint": None, "ca_cert": "/ca", "client_cert": None, "client_key": None, "timeout": 1,
            "inject_flags": None, "node_name": "cp1"}
    base.update(overrides)
    return base


def test_the_health_gate_follows_the_bind_address_of_the_manifest_on_disk(tmp_path):
    from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import static_pod_change

    p = component_params(tmp_path, "kube-controller-manager")
    assert static_pod_change.endpoint_of(p) == "https://127.0.10.1:10257"
    path, before, after, _files, _dirs, _changes = static_pod_change.plan(p)
    (tmp_path / "manifests" / "kube-controller-manager.yaml").write_text(after)
    assert static_pod_change.endpoint_of(p) == "https://127.0.0.1:10257"
    wildcard = before.replace("--bind-address=127.0.10.1", "--bind-address=0.0.0.0")
    (tmp_path / "manifests" / "kube-controller-manager.yaml").write_text(wildcard)
    assert static_pod_change.endpoint_of(p) == "https://127.0.0.1:10257"


def test_a_component_change_converges_on_a_new_healthy_process_with_the_new_flags(tmp_path, monkeypatch):
    from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import static_pod_change

    p = component_params(tmp_path)
    probed, seen = [], {}

    def running(identity, component, proc="/proc"):
        seen[component] = identity
        if identity.get("bind-address") == "127.0.0.1":
            return 200, {"bind-address": "127.0.0.1", "profiling": "false"}
        return 100, {"bind-address": "127.0.10.1"}

    monkeypatch.setattr(static_pod_change.rollout, "running_component", running)
    monkeypatch.setattr(static_pod_change.rollout, "healthz_ok", lambda url: probed.append(url) or True)
    monkeypatch.setattr(static_pod_change.rollout, "endpoint_healthy", lambda *a, **k: pytest.fail("API server"))
    planned = static_pod_change.plan(p)
    result = static_pod_change.apply(_Module(p), *planned[:5])
    assert "restart_seconds" in result
    assert seen == {"kube-scheduler": {"bind-address": "127.0.0.1", "secure-port": None}}
    assert probed[0] == "https://127.0.10.1:10259" and probed[-1] == "https://127.0.0.1:10259"
    assert "--bind-address=127.0.0.1" in (tmp_path / "manifests" / "kube-scheduler.yaml").read_text()


def test_a_component_that_does_not_come_back_is_rolled_back_and_named(tmp_path, monkeypatch):
    from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import static_pod_change
    from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

    p = component_params(tmp_path, bind_address=None)
    p["set_flags"] = {"bind-address": "192.0.2.1"}  # not on this host: the scheduler cannot bind and crashes
    manifest = tmp_path / "manifests" / "kube-scheduler.yaml"
    before = manifest.read_text()
    monkeypatch.setattr(static_pod_change.rollout, "running_component", lambda identity, component, proc="/proc": (
        (100, {"bind-address": "127.0.10.1"}) if identity.get("bind-address") == "127.0.10.1" else (None, None)))
    monkeypatch.setattr(static_pod_change.rollout, "healthz_ok", lambda url: "127.0.10.1" in url)
    monkeypatch.setattr(static_pod_change.rollout, "wait_until", lambda predicate, timeout, **kw: predicate())
    planned = static_pod_change.plan(p)
    with pytest.raises(KubeCompassError, match=r"kube-scheduler did not come back healthy with the new flags within "
                                               r"1s; the previous manifest was restored \(backup .*\) and "
                                               r"kube-scheduler is healthy again") as caught:
        static_pod_change.apply(_Module(p), *planned[:5])
    assert caught.value.category == "rolled_back"
    assert manifest.read_text() == before
    assert not list((tmp_path / "backups").glob("pending-*"))


def test_the_module_needs_an_endpoint_only_for_the_api_server(tmp_path, capsys):
    import json

    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.kubecompass.readiness.plugins.modules import static_pod_manifest

    p = component_params(tmp_path)
    del p["endpoint"]
    args = dict(p, _ansible_check_mode=True, _ansible_diff=True)
    with patch_module_args(args), pytest.raises(SystemExit):
        static_pod_manifest.main()
    result = json.loads(capsys.readouterr().out)
    assert result["changed"] and "set --bind-address=127.0.0.1 (was 127.0.10.1)" in result["changes"]
    assert "--bind-address=127.0.0.1" in result["diff"][0]["after"]
    assert "--bind-address=127.0.10.1" in (tmp_path / "manifests" / "kube-scheduler.yaml").read_text()
    with patch_module_args({"set_flags": {"profiling": "false"}, "manifest": p["manifest"]}), \
            pytest.raises(SystemExit):
        static_pod_manifest.main()
    assert "missing: endpoint" in json.loads(capsys.readouterr().out)["msg"]


def test_component_processes_are_found_by_their_cut_command_name(tmp_path):
    from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import rollout

    for pid, comm, argv_ in ((10, "kube-controller", ["kube-controller-manager", "--bind-address=127.0.0.1"]),
                             (11, "kube-scheduler", ["kube-scheduler", "--bind-address=127.0.0.1"])):
        directory = tmp_path / str(pid)
        directory.mkdir()
        (directory / "comm").write_text(comm + "\n")
        (directory / "cmdline").write_bytes("\0".join(argv_).encode() + b"\0")
    assert rollout.running_component({"bind-address": "127.0.0.1"}, "kube-controller-manager", str(tmp_path))[0] == 10
    assert rollout.running_component({"bind-address": "127.0.0.1"}, "kube-scheduler", str(tmp_path))[0] == 11


def test_the_checks_name_the_role_that_fixes_them_and_1_2_5_says_it_is_opt_in():
    from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import cis_flags

    checks = {check.id: check for check in cis_flags.CHECKS}
    fixed = sorted(check_id for check_id, check in checks.items() if check.remediation)
    assert fixed == ["KC-SEC-028", "KC-SEC-036", "KC-SEC-037", "KC-SEC-042", "KC-SEC-043", "KC-SEC-044"]
    assert {checks[c].remediation["role"] for c in fixed} == {"apiserver_hardening"}
    assert "apiserver_hardening_kubelet_certificate_authority" in checks["KC-SEC-028"].runbook
    assert "off by default" in checks["KC-SEC-028"].runbook


@pytest.mark.parametrize("count, bind_address", [(1, None), (3, "")])
def test_the_rig_inventory_keeps_node_addresses_only_where_nodes_share_the_loopback(tmp_path, count, bind_address):
    from kclocal import cluster

    paths = cluster.Paths(tmp_path)
    cluster.write_inventory(paths, cluster.node_list(count))
    host = next(iter(yaml.safe_load(paths.inventory.read_text())["all"]["children"]["k8s_clusters"]["hosts"].values()))
    assert host.get("apiserver_hardening_component_bind_address") == bind_address
