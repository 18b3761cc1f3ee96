"""The encryption role's escrow (tasks/escrow.yml), run on localhost: a plan that moved to another key than the one
this run started toward fails before anything is escrowed, so that key is never recorded as the rotation target a
later run resumes."""

from __future__ import annotations

import json

from tests.helpers import VENV_BIN, ansible_env, run

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Escrow as the encryption role does
      ansible.builtin.include_role:
        name: kubecompass.readiness.encryption_at_rest
        tasks_from: escrow
"""
STARTED = {"name": "kubecompass-20261122T050000Z", "fingerprint": "0123456789abcdef"}
DRIFTED = {"name": "kubecompass-20261122T060000Z", "fingerprint": "fedcba9876543210", "provider": "secretbox",
           "label": "k8s:enc:secretbox:v1:kubecompass-20261122T060000Z"}


def escrow_play(tmp_path, plan, run_target):
    playbook, password, escrow = tmp_path / "play.yml", tmp_path / "vault-password", tmp_path / "escrow.vault.json"
    playbook.write_text(PLAY)
    password.write_text("escrow-order-test\n")
    variables = {
        "__encryption_at_rest_plan": plan, "__encryption_at_rest_run_target": run_target,
        "__encryption_at_rest_escrowed": {}, "__encryption_at_rest_nodes": [],
        # What tasks/read_state.yml leaves for the round (escrow.yml writes only the records that differ).
        "__encryption_at_rest_node_records": {"results": []}, "__encryption_at_rest_round": 0,
        "encryption_at_rest_escrow": {"mode": "vault_file", "path": str(escrow)},
    }
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
                  "--vault-password-file", str(password), "-e", json.dumps(variables)],
                 env=ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default"))
    return result.returncode, result.stdout + result.stderr, escrow


def test_a_drifted_target_fails_before_it_is_escrowed_as_the_rotation_target(tmp_path):
    plan = {"escrow_keys": [], "target_key": DRIFTED, "retired_keys": {}, "unusable_snapshots": {}}
    code, output, escrow = escrow_play(tmp_path, plan, STARTED)
    assert code != 0 and "this run started toward %s but now plans %s" % (STARTED["name"], DRIFTED["name"]) \
        in output, output[-3000:]
    assert not escrow.exists()


def test_the_target_this_run_started_toward_is_escrowed(tmp_path):
    plan = {"escrow_keys": [], "target_key": dict(DRIFTED, **STARTED), "retired_keys": {}, "unusable_snapshots": {}}
    code, output, escrow = escrow_play(tmp_path, plan, STARTED)
    assert code == 0 and escrow.read_bytes().startswith(b"$ANSIBLE_VAULT"), output[-3000:]
