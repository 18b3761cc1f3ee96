"""Issue 17 items 1 and 2 (CIS file items) on the 1-node local control plane: the scheduler's pod specification
chmod 0644, a PKI key 0640 and scheduler.conf owned by nobody make KC-SEC-049, KC-SEC-063 and KC-SEC-058 fail; the
control_plane_files role in check mode changes nothing and shows the mode changes; run for real it brings them back to
0600 root:root and its verification passes; a second run changes nothing.

The files are the node's own (its private /etc/kubernetes, seen over SSH at kubeadm's paths). The nodes run no
kubelet (a runner starts the static pods), so there is no /var/lib/kubelet/config.yaml: the role runs with
control_plane_files_kubelet false, and KC-SEC-068/069 stay unknown naming that path (rig limit).

The tests run in file order and build on each other (one cluster, one story)."""

from __future__ import annotations

import json
import os
import re
import stat

import pytest

from tests.helpers import REPO, VENV_BIN, ansible_env, run
from tests.integration.conftest import LocalControlPlane

pytestmark = pytest.mark.nodes(1)

PLAYBOOK = """---
- name: Control-plane files
  hosts: k8s_clusters
  gather_facts: false
  tasks:
    - name: Fix the control-plane file modes and owners
      ansible.builtin.include_role:
        name: kubecompass.readiness.control_plane_files
        tasks_from: remediate
"""
# (path on the node, mode the test sets, uid the test sets)
BROKEN = {
    "/etc/kubernetes/manifests/kube-scheduler.yaml": (0o644, None),
    "/etc/kubernetes/pki/front-proxy-client.key": (0o640, None),
    "/etc/kubernetes/scheduler.conf": (None, 65534),
}
CHECKS = {"KC-SEC-049": "/etc/kubernetes/manifests/kube-scheduler.yaml 0644",
          "KC-SEC-063": "/etc/kubernetes/pki/front-proxy-client.key 0640",
          "KC-SEC-058": "/etc/kubernetes/scheduler.conf "}
STORY: dict = {}


@pytest.fixture(scope="module")
def cp(control_planes, tmp_path_factory):
    control_plane: LocalControlPlane = control_planes.get(1)
    node = control_plane.nodes[0]["name"]
    work = tmp_path_factory.mktemp("control-plane-files")
    (work / "play.yml").write_text(PLAYBOOK)
    files = {path: control_plane.node_root(node) / path.lstrip("/") for path in BROKEN}
    original = {path: host.stat() for path, host in files.items()}
    STORY.update(node=node, work=work, files=files)
    yield control_plane
    for path, host in files.items():
        os.chown(host, original[path].st_uid, original[path].st_gid)
        host.chmod(stat.S_IMODE(original[path].st_mode))


def playbook(cp, *args):
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(cp.inventory), str(STORY["work"] / "play.yml"),
           "-e", "control_plane_files_kubelet=false", *args]
    result = run(cmd, env=ansible_env(), timeout=600)
    return result, result.stdout + result.stderr


def recap_changed(output):
    return int(re.search(r"localcp\s+: ok=\d+\s+changed=(\d+)", output).group(1))


def modes():
    return {path: (stat.S_IMODE(host.stat().st_mode), host.stat().st_uid) for path, host in STORY["files"].items()}


def findings(cp, tmp_path, checks):
    report_dir = tmp_path / "reports"
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(cp.inventory), "playbooks/assess.yml", "--check",
                  "-e", f"kubecompass_report_dir={report_dir}", "-e", json.dumps(
                      {"kubecompass_include_checks": checks})], env=ansible_env(), cwd=REPO, timeout=600)
    assert (report_dir / "kubecompass-report.json").is_file(), result.stdout[-3000:] + result.stderr[-2000:]
    report = json.loads((report_dir / "kubecompass-report.json").read_text())
    return {f["check_id"]: f for f in report["clusters"][0]["findings"]}


def test_loosened_files_fail_their_checks_naming_path_and_mode(cp, tmp_path):
    for path, (mode, uid) in BROKEN.items():
        host = STORY["files"][path]
        if mode is not None:
            host.chmod(mode)
        if uid is not None:
            os.chown(host, uid, -1)
    found = findings(cp, tmp_path, sorted(CHECKS) + ["KC-SEC-054", "KC-SEC-068"])
    for check_id, reason in CHECKS.items():
        assert found[check_id]["verdict"] == "fail", found[check_id]
        assert reason in json.dumps(found[check_id]["objects"]), found[check_id]
    # Decision: kubeadm's etcd runs as root, its data directory stays root:root and 1.1.12 fails with the reason.
    assert found["KC-SEC-054"]["verdict"] == "fail"
    assert "kubeadm runs etcd as root" in json.dumps(found["KC-SEC-054"]["objects"])
    # Rig limit: no kubelet config file on the nodes.
    assert found["KC-SEC-068"]["verdict"] == "unknown"
    assert "/var/lib/kubelet/config.yaml missing" in json.dumps(found["KC-SEC-068"]["objects"])


def test_check_mode_changes_nothing_and_shows_the_mode_changes(cp):
    before = modes()
    result, output = playbook(cp, "--check", "--diff")
    assert result.returncode == 0, output[-5000:]
    assert recap_changed(output) > 0
    assert re.search(r"^-/etc/kubernetes/\S+ 0644$", output, re.MULTILINE), output[-5000:]
    assert re.search(r"^\+/etc/kubernetes/\S+ 0600$", output, re.MULTILINE), output[-5000:]
    assert modes() == before


def test_remediation_restores_0600_root_and_its_verification_passes(cp):
    result, output = playbook(cp, "--diff")
    assert result.returncode == 0, output[-6000:]
    assert recap_changed(output) > 0
    assert all(mode == (0o600, 0) for mode in modes().values()), modes()
    verified = re.search(r'"msg": "(KC-SEC-045[^"]*) pass"', output)
    assert verified and "KC-SEC-063" in verified.group(1), output[-5000:]
    # The etcd data directory's owner (1.1.12) is not the role's to fix, so it is not verified either.
    assert "KC-SEC-054" not in verified.group(1)


def test_a_second_run_changes_nothing(cp):
    result, output = playbook(cp)
    assert result.returncode == 0, output[-5000:]
    assert recap_changed(output) == 0, output[-5000:]


def test_a_waived_item_is_left_alone_and_said_so(cp):
    manifest = STORY["files"]["/etc/kubernetes/manifests/kube-scheduler.yaml"]
    manifest.chmod(0o644)
    waivers = [{"check": "KC-SEC-049", "reason": "test", "owner": "team-ops", "ticket": "OPS-4900",
                "expires": "2099-06-30"}]
    result, output = playbook(cp, "-e", json.dumps({"kubecompass_waivers": waivers}))
    assert result.returncode == 0, output[-5000:]
    assert "control-plane files left alone for KC-SEC-049 waived by OPS-4900 until 2099-06-30" in output, output[-5000:]
    # The manifest's owner rule (KC-SEC-050) still runs; its mode rule does not.
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o644
