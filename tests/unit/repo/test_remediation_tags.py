"""Every check that names a remediation names a role and tag a playbook runs: the catalog and the runbooks tell the
user to run `--tags <tag>`, and a tag no play carries runs nothing without a word (KC-SEC-014 named `serviceaccount`,
which remediate.yml never had)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog

REPO = Path(__file__).resolve().parents[3]
# The restore drill changes a scratch namespace only and has its own playbook; everything else is in remediate.yml.
PLAYBOOKS = ("playbooks/remediate.yml", "playbooks/restore_drill.yml")


def _tasks(tasks):
    for task in tasks or []:
        yield task
        yield from _tasks(task.get("block"))


def role_tags():
    """{(role, tag)} of the tasks that run a role: remediate.yml's remediate_role.yml includes and include_role."""
    pairs = set()
    for playbook in PLAYBOOKS:
        for play in yaml.safe_load((REPO / playbook).read_text()):
            for task in _tasks(play.get("tasks")):
                role = (task.get("vars") or {}).get("__kubecompass_remediation_role")
                included = task.get("ansible.builtin.include_role") or {}
                if not role and included.get("name"):
                    role = included["name"].rsplit(".", 1)[-1]
                for tag in task.get("tags") or [] if role else []:
                    if tag not in ("never", "always"):
                        pairs.add((role, tag))
    return pairs


RUNNABLE = role_tags()


def test_the_playbooks_are_read():
    assert ("namespace_guardrails", "guardrails") in RUNNABLE and ("backups", "restore_drill") in RUNNABLE


@pytest.mark.parametrize("check", [c for c in catalog.all_checks() if c.remediation], ids=lambda c: c.id)
def test_each_remediation_names_a_role_and_tag_a_playbook_runs(check):
    assert (check.remediation["role"], check.remediation["tag"]) in RUNNABLE


@pytest.mark.parametrize("check", catalog.all_checks(), ids=lambda c: c.id)
def test_each_tag_a_runbook_names_is_one_a_playbook_runs(check):
    named = set(re.findall(r"\btags? ([a-z_]+)", check.runbook))
    assert named <= {tag for _role, tag in RUNNABLE}
