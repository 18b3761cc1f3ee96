"""Editing a kubeadm kube-apiserver static pod manifest as data (the manifest the local control plane writes)."""

from __future__ import annotations

import copy

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import static_pod
from kclocal import manifests

NODE = manifests.Node("kc-cp1", "127.0.10.1", "198.51.100.1")
AUDIT_VOLUMES = [
    {"name": "audit-policy", "host_path": "/etc/kubernetes/audit/policy.yaml",
     "mount_path": "/etc/kubernetes/audit/policy.yaml", "read_only": True, "type": "File"},
    {"name": "audit-log", "host_path": "/var/log/kubernetes/audit", "mount_path": "/var/log/kubernetes/audit",
     "read_only": False, "type": "DirectoryOrCreate"},
]


def kubeadm_manifest():
    """The kube-apiserver manifest as written to disk and read back (what the module loads)."""
    return yaml.safe_load(manifests.dump(manifests.apiserver_manifest(NODE)))


def command(manifest):
    return static_pod.pod_container(manifest, "kube-apiserver")["command"]


def test_new_flags_are_appended_in_name_order_after_the_untouched_ones():
    before = kubeadm_manifest()
    after, changes = static_pod.plan_manifest(before, {"profiling": False, "audit-log-maxage": 30})
    assert command(after)[:len(command(before))] == command(before)
    assert command(after)[len(command(before)):] == ["--audit-log-maxage=30", "--profiling=false"]
    assert changes == ["add --audit-log-maxage=30", "add --profiling=false"]


def test_a_present_flag_takes_the_new_value_in_place():
    before = kubeadm_manifest()
    position = command(before).index("--authorization-mode=Node,RBAC")
    after, changes = static_pod.plan_manifest(before, {"authorization-mode": "RBAC,Node"})
    assert command(after)[position] == "--authorization-mode=RBAC,Node"
    assert len(command(after)) == len(command(before))
    assert changes == ["set --authorization-mode=RBAC,Node (was Node,RBAC)"]


def test_second_application_changes_nothing():
    set_flags = {"profiling": "false", "authorization-mode": {"add": ["Node", "RBAC"], "remove": ["AlwaysAllow"]},
                 "enable-admission-plugins": {"add": ["NodeRestriction", "PodSecurity"]},
                 "audit-log-path": "/var/log/kubernetes/audit/audit.log"}
    first, changes = static_pod.plan_manifest(kubeadm_manifest(), set_flags, ["anonymous-auth"], AUDIT_VOLUMES)
    assert changes
    reread = yaml.safe_load(static_pod.render_manifest(first))
    again, no_changes = static_pod.plan_manifest(reread, set_flags, ["anonymous-auth"], AUDIT_VOLUMES)
    assert no_changes == []
    assert again is reread


def test_list_merges_keep_the_users_items_and_order():
    before = kubeadm_manifest()
    flags = command(before)
    flags[flags.index("--authorization-mode=Node,RBAC")] = "--authorization-mode=Webhook,AlwaysAllow"
    flags[flags.index("--enable-admission-plugins=NodeRestriction")] = "--enable-admission-plugins=PodSecurity"
    after, _changes = static_pod.plan_manifest(before, {
        "authorization-mode": {"add": ["Node", "RBAC"], "remove": ["AlwaysAllow"]},
        "enable-admission-plugins": {"add": ["NodeRestriction"]},
    })
    result = parse_flags(command(after))
    assert result["authorization-mode"] == "Webhook,Node,RBAC"
    assert result["enable-admission-plugins"] == "PodSecurity,NodeRestriction"


def test_a_list_merge_that_empties_a_flag_removes_it_and_one_on_an_absent_flag_is_no_change():
    before = kubeadm_manifest()
    command(before).append("--disable-admission-plugins=NodeRestriction")
    after, changes = static_pod.plan_manifest(before, {"disable-admission-plugins": {"remove": ["NodeRestriction"]}})
    assert "disable-admission-plugins" not in parse_flags(command(after))
    assert changes == ["remove --disable-admission-plugins (was NodeRestriction)"]
    untouched, none = static_pod.plan_manifest(after, {"disable-admission-plugins": {"remove": ["NodeRestriction"]}})
    assert none == [] and untouched is after


def test_repeated_flags_collapse_into_the_first_occurrence():
    before = kubeadm_manifest()
    command(before).append("--enable-admission-plugins=PodSecurity")
    first = command(before).index("--enable-admission-plugins=NodeRestriction")
    after, _changes = static_pod.plan_manifest(before, {"enable-admission-plugins": "NodeRestriction,EventRateLimit"})
    occurrences = [arg for arg in command(after) if arg.startswith("--enable-admission-plugins")]
    assert occurrences == ["--enable-admission-plugins=NodeRestriction,EventRateLimit"]
    assert command(after)[first] == occurrences[0]


def test_flags_are_removed_wherever_they_are_and_absent_ones_are_no_change():
    before = kubeadm_manifest()
    command(before).insert(3, "--anonymous-auth=true")
    after, changes = static_pod.plan_manifest(before, {}, ["anonymous-auth", "never-there"])
    assert not any(arg.startswith("--anonymous-auth") for arg in command(after))
    assert changes == ["remove --anonymous-auth (was true)"]


def test_flags_in_args_are_edited_in_args():
    before = kubeadm_manifest()
    static_pod.pod_container(before, "kube-apiserver")["args"] = ["--profiling=true"]
    after, _changes = static_pod.plan_manifest(before, {"profiling": "false"})
    container = static_pod.pod_container(after, "kube-apiserver")
    assert container["args"] == ["--profiling=false"]
    assert not any(arg.startswith("--profiling") for arg in container["command"])


def test_volumes_and_mounts_are_added_by_name_and_replaced_in_place():
    before = kubeadm_manifest()
    after, changes = static_pod.plan_manifest(before, {}, (), AUDIT_VOLUMES)
    assert changes == ["add volume audit-policy", "add volumeMount audit-policy", "add volume audit-log",
                       "add volumeMount audit-log"]
    volumes = {v["name"]: v for v in after["spec"]["volumes"]}
    mounts = {m["name"]: m for m in static_pod.pod_container(after, "kube-apiserver")["volumeMounts"]}
    assert volumes["audit-policy"] == {"hostPath": {"path": "/etc/kubernetes/audit/policy.yaml", "type": "File"},
                                       "name": "audit-policy"}
    assert mounts["audit-policy"] == {"mountPath": "/etc/kubernetes/audit/policy.yaml", "name": "audit-policy",
                                      "readOnly": True}
    assert mounts["audit-log"] == {"mountPath": "/var/log/kubernetes/audit", "name": "audit-log"}
    assert volumes["k8s-certs"] == before["spec"]["volumes"][-1]

    moved = [dict(AUDIT_VOLUMES[1], host_path="/srv/audit", mount_path="/srv/audit")]
    position = [v["name"] for v in after["spec"]["volumes"]].index("audit-log")
    replaced, changes = static_pod.plan_manifest(after, {}, (), moved)
    assert changes == ["replace volume audit-log", "replace volumeMount audit-log"]
    assert replaced["spec"]["volumes"][position] == {"hostPath": {"path": "/srv/audit", "type": "DirectoryOrCreate"},
                                                     "name": "audit-log"}
    assert len(replaced["spec"]["volumes"]) == len(after["spec"]["volumes"])


def test_a_mount_path_taken_by_another_volume_is_refused_unless_it_mounts_the_same_host_path():
    before = kubeadm_manifest()
    before["spec"]["volumes"].append({"name": "audit", "hostPath": {"path": "/var/log/kubernetes/audit"}})
    static_pod.pod_container(before, "kube-apiserver")["volumeMounts"].append(
        {"name": "audit", "mountPath": "/var/log/kubernetes/audit"})
    same, changes = static_pod.plan_manifest(before, {}, (), AUDIT_VOLUMES[1:])
    assert changes == [] and same is before  # another tool's volume already serves
    elsewhere = [dict(AUDIT_VOLUMES[1], host_path="/srv/audit")]
    with pytest.raises(ValueError, match="already is"):
        static_pod.plan_manifest(before, {}, (), elsewhere)


def test_other_containers_and_fields_are_never_touched():
    before = kubeadm_manifest()
    sidecar = {"name": "sidecar", "image": "example/sidecar:1", "command": ["sidecar", "--profiling=true"],
               "volumeMounts": [{"name": "k8s-certs", "mountPath": "/pki"}]}
    before["spec"]["containers"].insert(0, sidecar)
    pristine = copy.deepcopy(before)
    after, _changes = static_pod.plan_manifest(before, {"profiling": "false"}, ["anonymous-auth"], AUDIT_VOLUMES)
    assert before == pristine  # the input is not mutated
    assert after["spec"]["containers"][0] == sidecar
    assert {k: v for k, v in after.items() if k != "spec"} == {k: v for k, v in pristine.items() if k != "spec"}
    for key in ("hostNetwork", "priorityClassName", "securityContext", "priority"):
        assert after["spec"][key] == pristine["spec"][key]
    apiserver = static_pod.pod_container(after, "kube-apiserver")
    original = static_pod.pod_container(pristine, "kube-apiserver")
    for key in ("image", "livenessProbe", "readinessProbe", "startupProbe", "resources"):
        assert apiserver[key] == original[key]


def test_render_manifest_writes_what_kubeadm_writes():
    text = manifests.dump(manifests.apiserver_manifest(NODE))
    assert static_pod.render_manifest(yaml.safe_load(text)) == text
    long_value = "x " * 100
    assert "\n" not in static_pod.render_manifest({"v": long_value}).rstrip("\n")


def test_manifest_diff_shows_only_the_change():
    before = static_pod.render_manifest(kubeadm_manifest())
    after_manifest, _changes = static_pod.plan_manifest(kubeadm_manifest(), {"profiling": "false"})
    diff = static_pod.manifest_diff(before, static_pod.render_manifest(after_manifest))
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["+    - --profiling=false"]
    assert diff.startswith("--- before: kube-apiserver.yaml\n+++ after: kube-apiserver.yaml\n")
    assert static_pod.manifest_diff(before, before) == ""


@pytest.mark.parametrize("set_flags, remove_flags, volumes, message", [
    ({"--profiling": "false"}, (), (), "without dashes"),
    ({"profiling": None}, (), (), "not a string"),
    ({"authorization-mode": {"append": ["Node"]}}, (), (), "only 'add' and 'remove'"),
    ({"authorization-mode": {"add": ["Node"], "remove": ["Node"]}}, (), (), "cannot add and remove"),
    ({"authorization-mode": {"add": ["Node,RBAC"]}}, (), (), "one non-empty item"),
    ({"profiling": "false"}, ["profiling"], (), "both set and removed"),
    ({}, (), [{"name": "Bad_Name", "host_path": "/a", "mount_path": "/a", "type": "File"}], "DNS label"),
    ({}, (), [{"name": "rel", "host_path": "a/b", "mount_path": "/a", "type": "File"}], "absolute path"),
    ({}, (), [{"name": "typo", "host_path": "/a", "mount_path": "/a", "type": "Fil"}], "hostPath type"),
])
def test_bad_input_is_refused(set_flags, remove_flags, volumes, message):
    with pytest.raises(ValueError, match=message):
        static_pod.plan_manifest(kubeadm_manifest(), set_flags, remove_flags, volumes)


@pytest.mark.parametrize("entry, message", [
    ({"path": "/etc/kubernetes/manifests/policy.yaml", "content": "x"}, "which kubelet reads as pods"),
    ({"path": "/etc/kubernetes/manifests", "content": "x"}, "which kubelet reads as pods"),
    ({"path": "relative.yaml", "content": "x"}, "absolute path"),
    ({"path": "/etc/a.yaml", "content": b"x"}, "content must be text"),
    ({"path": "/etc/a.yaml", "content": "x", "mode": 384}, "octal digits"),
])
def test_files_are_refused_where_kubelet_would_run_them(entry, message):
    with pytest.raises(ValueError, match=message):
        static_pod.new_change(files=[entry])


def test_files_are_normalised():
    assert static_pod.new_change(files=[{"path": "/etc/kubernetes/a.yaml", "content": "x"}])["files"] == [
        {"path": "/etc/kubernetes/a.yaml", "content": "x", "mode": "0600", "secret": False}]


def test_a_manifest_that_is_not_a_pod_with_containers_is_refused():
    with pytest.raises(ValueError, match="not a Pod"):
        static_pod.plan_manifest({"kind": "Deployment"}, {"profiling": "false"})
    with pytest.raises(ValueError, match="no containers"):
        static_pod.plan_manifest({"kind": "Pod", "spec": {"containers": []}}, {"profiling": "false"})


def test_flag_values_are_written_as_the_flag_parser_reads_them():
    assert static_pod.flag_text(True) == "true"
    assert static_pod.flag_text(False) == "false"
    assert static_pod.flag_text(100) == "100"
    assert static_pod.flag_text(["Node", "RBAC"]) == "Node,RBAC"


def test_resolve_flags_says_what_the_running_process_must_show():
    current = {"enable-admission-plugins": "PodSecurity", "disable-admission-plugins": "NodeRestriction"}
    assert static_pod.resolve_flags(current, {
        "enable-admission-plugins": {"add": ["NodeRestriction"]},
        "disable-admission-plugins": {"remove": ["NodeRestriction"]},
        "profiling": False,
    }) == {"enable-admission-plugins": "PodSecurity,NodeRestriction", "disable-admission-plugins": None,
           "profiling": "false"}


def test_merge_changes_unions_and_refuses_contradictions():
    audit = static_pod.new_change({"audit-log-path": "/var/log/a/audit.log"}, (), AUDIT_VOLUMES[1:],
                                  [{"path": "/etc/p.yaml", "content": "x", "mode": "0600", "secret": False}], ["n1"])
    hardening = static_pod.new_change({"profiling": "false"}, ["anonymous-auth"], (), (), ["n1", "n2"])
    merged = static_pod.merge_changes(audit, hardening)
    assert merged["set_flags"] == {"audit-log-path": "/var/log/a/audit.log", "profiling": "false"}
    assert merged["remove_flags"] == ["anonymous-auth"]
    assert [v["name"] for v in merged["volumes"]] == ["audit-log"]
    assert merged["notes"] == ["n1", "n2"]
    with pytest.raises(ValueError, match="differently"):
        static_pod.merge_changes(hardening, static_pod.new_change({"profiling": "true"}))
    with pytest.raises(ValueError, match="both set and removed"):
        static_pod.merge_changes(hardening, static_pod.new_change({"anonymous-auth": "false"}))
    with pytest.raises(ValueError, match="different volumes"):
        static_pod.merge_changes(audit, static_pod.new_change(volumes=[dict(AUDIT_VOLUMES[1], host_path="/x")]))
