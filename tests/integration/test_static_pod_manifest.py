"""static_pod_manifest on the 3-node local control plane: one node changed, health-gated, idempotent, check mode
honest, and a change that breaks the API server rolled back on that node only."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.helpers import VENV_BIN, ansible_env, run
from tests.integration.test_local_control_plane import apiserver_pid, livez, mirror_command

NODE = "kc-cp2"


def run_module(control_plane, tmp_path, args, check=False, diff=False):
    out = tmp_path / "result.json"
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Change the apiserver manifest on one node", "hosts": NODE, "gather_facts": False,
        "tasks": [
            {"name": "Change", "kubecompass.readiness.static_pod_manifest": args, "register": "change",
             "ignore_errors": True},
            {"name": "Save", "delegate_to": "localhost", "ansible.builtin.copy": {
                "content": "{{ change | to_json }}", "dest": str(out), "mode": "0600"}, "check_mode": False},
        ]}]))
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(control_plane.inventory), str(playbook)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    result = run(cmd, env=ansible_env(), timeout=600)
    assert out.exists(), result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads(out.read_text())


def manifests_dir(control_plane, node):
    return control_plane.manifest(node).parent


@pytest.mark.nodes(3)
def test_change_is_health_gated_idempotent_and_check_mode_is_honest(control_plane, tmp_path):
    node = next(n for n in control_plane.nodes if n["name"] == NODE)
    args = {"endpoint": "https://%s:6443" % node["ip"], "set_flags": {"profiling": "false"}, "timeout": 120}
    before_text = control_plane.manifest(NODE).read_text()
    pids = {n["name"]: apiserver_pid(control_plane, n["name"]) for n in control_plane.nodes}

    planned = run_module(control_plane, tmp_path, args, check=True, diff=True)
    assert planned["changed"] is True and planned["changes"] == ["add --profiling=false"]
    assert "--profiling=false" in planned["diff"][0]["after"] and "--profiling=false" not in planned["diff"][0][
        "before"]
    assert control_plane.manifest(NODE).read_text() == before_text
    assert apiserver_pid(control_plane, NODE) == pids[NODE]

    applied = run_module(control_plane, tmp_path, args)
    assert applied["changed"] is True, applied
    assert applied["restart_seconds"] > 0 and applied["backup"].startswith("/var/lib/kubecompass/backups/")
    assert "--profiling=false" in mirror_command(control_plane, NODE)
    after = {n["name"]: apiserver_pid(control_plane, n["name"]) for n in control_plane.nodes}
    assert after[NODE] != pids[NODE]
    assert {k: v for k, v in after.items() if k != NODE} == {k: v for k, v in pids.items() if k != NODE}
    assert sorted(p.name for p in manifests_dir(control_plane, NODE).iterdir()) == [
        "etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]

    again = run_module(control_plane, tmp_path, args)
    assert again["changed"] is False and again["changes"] == []
    assert apiserver_pid(control_plane, NODE) == after[NODE]
    print("restart took %.1fs" % applied["restart_seconds"])


@pytest.mark.nodes(3)
def test_a_breaking_change_is_rolled_back_on_that_node_only(control_plane, tmp_path):
    node = next(n for n in control_plane.nodes if n["name"] == NODE)
    before_text = control_plane.manifest(NODE).read_text()
    others = {n["name"]: (control_plane.manifest(n["name"]).read_text(), apiserver_pid(control_plane, n["name"]))
              for n in control_plane.nodes if n["name"] != NODE}
    args = {"endpoint": "https://%s:6443" % node["ip"], "set_flags": {"kubecompass-test-bogus-flag": "1"},
            "timeout": 30, "node_name": "{{ inventory_hostname }}"}
    failed = run_module(control_plane, tmp_path, args)
    assert failed.get("failed") is True, failed
    assert failed["msg"].startswith("%s: the API server did not come back healthy" % NODE), failed["msg"]
    assert "restored" in failed["msg"] and "healthy again" in failed["msg"]
    assert control_plane.manifest(NODE).read_text() == before_text
    assert sorted(p.name for p in manifests_dir(control_plane, NODE).iterdir()) == [
        "etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]
    assert livez("https://%s:6443/livez" % node["ip"])
    assert control_plane.client(timeout=5).text("/readyz") == "ok"  # through the load balancer
    for name, (text, pid) in others.items():
        assert control_plane.manifest(name).read_text() == text
        assert apiserver_pid(control_plane, name) == pid


@pytest.mark.nodes(3)
def test_backup_directory_inside_the_manifests_directory_is_refused(control_plane, tmp_path):
    node = next(n for n in control_plane.nodes if n["name"] == NODE)
    before_text = control_plane.manifest(NODE).read_text()
    result = run_module(control_plane, tmp_path, {
        "endpoint": "https://%s:6443" % node["ip"], "set_flags": {"profiling": "true"},
        "backup_dir": "/etc/kubernetes/manifests/backup"})
    assert result.get("failed") is True and "which kubelet reads" in result["msg"]
    assert control_plane.manifest(NODE).read_text() == before_text


def _kill_processes_with(token):
    """SIGKILL every process whose environment carries ``token`` (the module run on the node); their pids."""
    import os
    import signal

    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as handle:
                if ("KC_KILL_TOKEN=%s" % token).encode() not in handle.read().split(b"\0"):
                    continue
            os.kill(int(entry), signal.SIGKILL)
            killed.append(int(entry))
        except OSError:
            continue
    return killed


@pytest.mark.nodes(3)
def test_a_run_killed_mid_change_is_accepted_only_once_a_new_process_carries_it(control_plane, tmp_path):
    """SIGKILL the module on the node after it wrote the marker and the manifest; the rerun proves the change by a
    new kube-apiserver process with the flag before it drops the marker (issue 13 item 3)."""
    import subprocess
    import time
    import uuid

    node = next(n for n in control_plane.nodes if n["name"] == NODE)
    # /etc/kubernetes is the node's own (the rest of / is shared with the host).
    backup_dir = "/etc/kubernetes/kubecompass-test-backups"
    marker = control_plane.node_root(NODE) / backup_dir.lstrip("/") / "pending-kube-apiserver.yaml.json"
    flag = "--event-ttl=%dm" % (61 + uuid.uuid4().int % 500)  # a value no earlier run left
    args = {"endpoint": "https://%s:6443" % node["ip"], "set_flags": {"event-ttl": flag.split("=")[1]},
            "timeout": 120, "backup_dir": backup_dir}
    pid_before = apiserver_pid(control_plane, NODE)
    token = uuid.uuid4().hex
    playbook = tmp_path / "killed.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "A change killed mid-way", "hosts": NODE, "gather_facts": False,
        "tasks": [{"name": "Change", "kubecompass.readiness.static_pod_manifest": args,
                   "environment": {"KC_KILL_TOKEN": token}}]}]))
    run_killed = subprocess.Popen([str(VENV_BIN / "ansible-playbook"), "-i", str(control_plane.inventory),
                                   str(playbook)], env=ansible_env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and flag in control_plane.manifest(NODE).read_text()):
            assert run_killed.poll() is None and time.monotonic() < deadline, "the change never started"
            time.sleep(0.05)
        assert _kill_processes_with(token), "no module process found on the node"
    finally:
        run_killed.wait(timeout=120)
    assert marker.exists(), "the killed run must leave its marker"

    rerun = run_module(control_plane, tmp_path, args)
    assert rerun.get("failed") is not True, rerun
    assert rerun["changed"] is False and any("a new API server process carries it" in note
                                             for note in rerun["notes"]), rerun
    assert not marker.exists()
    assert apiserver_pid(control_plane, NODE) != pid_before
    assert flag in mirror_command(control_plane, NODE)
    key_copies = list(marker.parent.rglob("*"))
    print("backups after recovery: %d files" % len([p for p in key_copies if p.is_file()]))

    restored = run_module(control_plane, tmp_path, dict(args, set_flags={}, remove_flags=["event-ttl"]))
    assert restored["changed"] is True and restored.get("failed") is not True, restored
    shutil.rmtree(marker.parent)
