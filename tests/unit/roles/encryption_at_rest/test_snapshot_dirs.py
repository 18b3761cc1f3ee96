"""The encryption role's view of the retained etcd snapshots (tasks/snapshots.yml), run on localhost: snapshots in
subdirectories count, a configured directory that does not exist is reported (the planner decides whether it may
hold snapshots a retired key needs), and one that cannot be listed fails the round naming node and directory."""

from __future__ import annotations

import json
import sys

from tests.helpers import VENV_BIN, ansible_env, run

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: List the snapshots as the encryption role does
      ansible.builtin.include_role:
        name: kubecompass.readiness.encryption_at_rest
        tasks_from: snapshots
    - name: Keep what the planner receives
      ansible.builtin.copy:
        content: >-
          {{ {'snapshots': __encryption_at_rest_snapshots.results | map(attribute='files') | flatten
              | map(attribute='path') | sort,
              'missing': __encryption_at_rest_snapshot_dir_stats.results | selectattr('stat.exists', 'defined')
              | rejectattr('stat.exists') | map(attribute='__encryption_at_rest_snapshot_dir') | list} | to_json }}
        dest: "{{ seen_path }}"
        mode: "0600"
"""


def snapshots_play(tmp_path, dirs, **extra_vars):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    seen_path = tmp_path / "seen.json"
    seen_path.unlink(missing_ok=True)
    variables = dict(__encryption_at_rest_nodes=["localhost"], encryption_at_rest_snapshot_dirs=dirs,
                     seen_path=str(seen_path), ansible_python_interpreter=sys.executable, **extra_vars)
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
                  "-e", json.dumps(variables)], env=ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default"))
    seen = json.loads(seen_path.read_text()) if seen_path.exists() else None
    return result.returncode, result.stdout + result.stderr, seen


def test_snapshots_in_subdirectories_count_and_a_missing_directory_is_reported(tmp_path):
    snapshots = tmp_path / "etcd"
    (snapshots / "2026" / "12").mkdir(parents=True)
    (snapshots / "2026" / "12" / "a.db").write_text("a")
    (snapshots / "b.db").write_text("b")
    missing = str(tmp_path / "not-yet")
    code, output, seen = snapshots_play(tmp_path, [str(snapshots), missing])
    assert code == 0, output[-3000:]
    assert seen == {"snapshots": [str(snapshots / "2026" / "12" / "a.db"), str(snapshots / "b.db")],
                    "missing": [["localhost", missing]]}


def test_a_directory_that_cannot_be_listed_fails_naming_node_and_directory(tmp_path):
    not_a_directory = tmp_path / "etcd"
    not_a_directory.write_text("a file where the snapshots should be")
    beneath_a_file = str(not_a_directory / "more")
    code, output, seen = snapshots_play(tmp_path, [str(not_a_directory), beneath_a_file])
    assert code != 0 and seen is None
    # The path beneath a file cannot even be checked (ENOTDIR); the file is no directory.
    assert "cannot list the retained etcd snapshots in localhost:%s, localhost:%s (not a readable directory" % (
        beneath_a_file, not_a_directory) in output, output[-3000:]
    # The opt-out drops retired keys whatever the snapshots need: nothing to list.
    code, output, seen = snapshots_play(tmp_path, [str(not_a_directory)],
                                        encryption_at_rest_drop_keys_snapshots_need=True)
    assert code == 0 and seen["snapshots"] == [], output[-3000:]
