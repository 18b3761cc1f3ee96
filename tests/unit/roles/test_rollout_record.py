"""Each control-plane role returns the record of its own rollout only (remediate.yml's change record lists it under
that role). The rollout starts its record in its main tasks, after its argument validation: when the validation of
a later role's rollout failed, that role's always-block took the record an earlier role's rollout had left, so the
change record showed audit_logging's node changes under apiserver_hardening.

Runs the roles on localhost against a copy of the collection whose rollout records each node instead of touching it
(its lock, unlock and roll task files are stubs; its main tasks and argument validation are the real ones)."""

from __future__ import annotations

import json
import shutil
import sys

import yaml

from tests.helpers import DEV_COLLECTIONS, REPO, VENV_BIN, ansible_env, run

STUB_ROLL = [{"name": "Record the change on every node instead of making it (test stub)",
              "ansible.builtin.set_fact": {"control_plane_rollout_record": (
                  "{{ control_plane_rollout_record + [{'node': item, "
                  "'changes': control_plane_rollout_change.keys() | list, "
                  "'gate': [control_plane_rollout_apiserver_port, control_plane_rollout_timeout, "
                  "control_plane_rollout_backup_dir]}] }}")},
              "loop": "{{ control_plane_rollout_nodes }}"}]
STUB_LOCK = [{"name": "No cluster lock here (test stub)", "ansible.builtin.debug": {"msg": "no lock"}}]


def stub_collections(tmp_path, roles_dir=REPO / "roles"):
    """A collection tree like the checkout's (roles from roles_dir), with the rollout's cluster-facing task files
    replaced."""
    root = tmp_path / "collections" / "ansible_collections" / "kubecompass" / "readiness"
    root.mkdir(parents=True)
    for entry in REPO.iterdir():
        if entry.name not in ("roles", ".git", ".venv"):
            (root / entry.name).symlink_to(entry)
    (root / "roles").mkdir()
    for role in roles_dir.iterdir():
        if role.name != "control_plane_rollout":
            (root / "roles" / role.name).symlink_to(role)
    rollout = root / "roles" / "control_plane_rollout"
    shutil.copytree(roles_dir / "control_plane_rollout", rollout)
    (rollout / "tasks" / "roll.yml").write_text(yaml.safe_dump(STUB_ROLL, sort_keys=False))
    for name in ("lock.yml", "unlock.yml"):
        (rollout / "tasks" / name).write_text(yaml.safe_dump(STUB_LOCK, sort_keys=False))
    return tmp_path / "collections"


def play_audit_logging(tmp_path, roles_dir=REPO / "roles", **variables):
    """audit_logging's remediation on localhost against the stub rollout; its record (the verification then
    fails: no cluster)."""
    collections = stub_collections(tmp_path, roles_dir)
    result_file = tmp_path / "record.json"
    play = [{"name": "Audit logging", "hosts": "localhost", "gather_facts": False,
             "vars": dict({"kubecompass_distribution": "kubeadm", "audit_logging_nodes": ["cp1"]}, **variables),
             "tasks": [{"name": "Audit logging", "block": [{
                 "name": "Run audit_logging", "ansible.builtin.include_role": {
                     "name": "kubecompass.readiness.audit_logging", "tasks_from": "remediate"}}],
                 "always": [{"name": "Keep the record", "ansible.builtin.copy": {
                     "dest": str(result_file), "mode": "0600",
                     "content": "{{ __audit_logging_record | default(none) | to_json }}"}}]}]}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
                  "-e", json.dumps({"ansible_python_interpreter": sys.executable})],
                 env=ansible_env(collections_path=f"{collections}:{DEV_COLLECTIONS}"))
    assert result_file.exists(), (result.stdout + result.stderr)[-4000:]
    return json.loads(result_file.read_text())


def test_the_rollout_s_health_gate_uses_the_role_s_port_timeout_and_backup_dir(tmp_path):
    """One setting feeds the rollout's health gate and the verification's probe (audit_logging_apiserver_port);
    the inventory's control_plane_rollout_* values no longer steer the role."""
    record = play_audit_logging(tmp_path, audit_logging_apiserver_port=7443, audit_logging_timeout=120,
                                audit_logging_backup_dir="/var/lib/kc-backups", control_plane_rollout_apiserver_port=1,
                                control_plane_rollout_timeout=2, control_plane_rollout_backup_dir="/elsewhere")
    assert record == [{"node": "cp1", "changes": ["audit"], "gate": [7443, 120, "/var/lib/kc-backups"]}], record


def test_a_role_whose_rollout_is_refused_does_not_return_an_earlier_role_s_record(tmp_path):
    collections = stub_collections(tmp_path)
    result_file = tmp_path / "records.json"
    role = {"name": None, "tasks_from": "remediate"}
    play = [{"name": "Two control-plane roles", "hosts": "localhost", "gather_facts": False,
             "vars": {"kubecompass_distribution": "kubeadm", "audit_logging_nodes": ["cp1"],
                      "apiserver_hardening_nodes": ["cp1"]},
             "tasks": [
                 # audit_logging's rollout records cp1; its verification fails here (no cluster), as
                 # remediate_role.yml would record, and the play carries on.
                 {"name": "Audit logging", "block": [{"name": "Run audit_logging", "ansible.builtin.include_role":
                                                      dict(role, name="kubecompass.readiness.audit_logging")}],
                  "rescue": [{"name": "Carry on", "ansible.builtin.debug": {"msg": "audit_logging failed"}}]},
                 # The rollout's argument validation refuses apiserver_hardening's include before its main tasks.
                 {"name": "API server hardening", "block": [{
                     "name": "Run apiserver_hardening", "ansible.builtin.include_role":
                         dict(role, name="kubecompass.readiness.apiserver_hardening"),
                     "vars": {"control_plane_rollout_lock_seconds": "not a number"}}],
                  "rescue": [{"name": "Carry on", "ansible.builtin.debug": {"msg": "apiserver_hardening failed"}}]},
                 {"name": "Keep the records", "ansible.builtin.copy": {
                     "dest": str(result_file), "mode": "0600", "content": (
                         "{{ {'audit': __audit_logging_record | default(none), "
                         "'hardening': __apiserver_hardening_record | default(none)} | to_json }}")}}]}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
                  "-e", json.dumps({"ansible_python_interpreter": sys.executable})],
                 env=ansible_env(collections_path=f"{collections}:{DEV_COLLECTIONS}"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "apiserver_hardening failed" in output and "control_plane_rollout_lock_seconds" in output, output[-4000:]
    records = json.loads(result_file.read_text())
    assert [(entry["node"], entry["changes"]) for entry in records["audit"]] == [("cp1", ["audit"])], records
    assert records["hardening"] == [], records
