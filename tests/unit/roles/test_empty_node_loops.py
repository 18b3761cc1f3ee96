"""The roles' node loops (delegate_to each control-plane node) on a cluster without a control-plane group:
ansible-core 2.19+ templates delegate_to before it finds the loop empty or undefined, so a task skipped by its
condition printed a red "'item' is undefined" error (an AWX runner_on_failed event). Each verify task file whose
node list a playbook may name for a cluster without a group, imported under the guard it would use, must skip
quietly."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from tests.helpers import VENV_BIN, ansible_env, run

# Each role's verify (the base role's is its main entry point), with its node list named the way a playbook does for
# a cluster that may have no group.
VERIFIES = {
    "etcd_snapshots": ("verify", {"etcd_snapshots_nodes": "{{ groups[kubecompass_control_plane_group] }}"}),
    "assess_base": ("main", {"assess_base_checks": ["KC-SEC-001"],
                             "assess_base_nodes": "{{ groups[kubecompass_control_plane_group] }}"}),
}


@pytest.mark.parametrize("role", sorted(VERIFIES))
def test_verify_skips_quietly_without_a_control_plane_group(tmp_path, role):
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"children": {"k8s_clusters": {"hosts": {"managed": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "kubecompass_distribution": "eks"}}}}}}))
    playbook = tmp_path / "verify.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Verify", "hosts": "k8s_clusters", "gather_facts": False,
        "tasks": [{"name": "Verify %s" % role, "ansible.builtin.import_role": {
            "name": "kubecompass.readiness.%s" % role, "tasks_from": VERIFIES[role][0]},
            "vars": VERIFIES[role][1], "when": "kubecompass_control_plane_group is defined"}]}]))
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)], env=ansible_env())
    output = result.stdout + result.stderr
    assert "is undefined" not in output and "[ERROR]" not in output and "fatal:" not in output, output[-3000:]
    assert result.returncode == 0, output[-3000:]
