"""The cluster lock's duration against the rollout timeout, checked by the role before the lock is taken: one
static_pod_manifest or rancher_apiserver_config call waits up to 4 x timeout (proof of an interrupted change,
health after its restore, convergence, health after the rollback), so a lock shorter than that + margin would look
abandoned to another run while this run is still changing a node. Runs ansible-playbook on localhost; the passing
case stops at the lock module, whose API (a kubeconfig that does not exist) is never reached."""

from __future__ import annotations

import json

import pytest

from tests.helpers import VENV_BIN, ansible_env, run

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Take the lock as the roles do
      ansible.builtin.include_role:
        name: kubecompass.readiness.control_plane_rollout
        tasks_from: lock
"""


def lock_play(tmp_path, **extra_vars):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    variables = dict(control_plane_rollout_kubeconfig=str(tmp_path / "missing-kubeconfig"), **extra_vars)
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
                  "-e", json.dumps(variables)], env=ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default"))
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("variables", [
    {"control_plane_rollout_timeout": 360},  # 1500 < 4 x 360 + 60
    {"control_plane_rollout_lock_seconds": 1260},  # equal is not enough: 1260 = 4 x 300 + 60
    {"control_plane_rollout_lock_seconds": 1200},  # outlasts a rollout and a rollback, not the recovery waits too
    {"control_plane_rollout_lock_margin_seconds": 301},
])
def test_a_lock_shorter_than_one_node_call_s_four_waits_plus_margin_is_refused_naming_both_variables(
        tmp_path, variables):
    code, output = lock_play(tmp_path, **variables)
    assert code != 0
    assert "control_plane_rollout_lock_seconds (" in output and "4 x control_plane_rollout_timeout (" in output, \
        output[-3000:]
    assert "Take or renew the cluster lock" not in output  # refused before the lock module ran


def test_the_defaults_pass_the_check_and_reach_the_lock(tmp_path):
    code, output = lock_play(tmp_path)
    assert code != 0  # no cluster here
    assert "must exceed" not in output
    assert "TASK [kubecompass.readiness.control_plane_rollout : Take or renew the cluster lock" in output, \
        output[-3000:]
