"""The control-plane roles change and verify the same cluster: every include of the rollout (control_plane_rollout)
and of the verification (assess_base) by audit_logging, apiserver_hardening or encryption_at_rest receives, for each
cluster setting the included entry point reads (nodes, distribution, kubeconfig, context, API server port, timeout,
backup directory), the role's own variable, and one expression per setting across all the role's includes. Without
it the rollout fell back on its own defaults (its health gate on control_plane_rollout_apiserver_port while the
probe used audit_logging_apiserver_port), or changed the inventory's control_plane_rollout_nodes while the
verification read kubecompass_control_plane_group.

Which settings an entry point reads is taken from its task files (and the task files they include), so a base role
that starts reading one more setting is checked without editing this file. Shown failing on a synthetic role."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.quality.test_role_variables import _included_role, _load, _role, _tasks, owner, role_names

ROLES = REPO / "roles"
CONTROL_PLANE_ROLES = ("audit_logging", "apiserver_hardening", "encryption_at_rest")
BASES = ("control_plane_rollout", "assess_base")
SETTINGS = ("nodes", "distribution", "kubeconfig", "context", "apiserver_port", "timeout", "backup_dir")
TASK_INCLUDE = re.compile(r"(?:include|import)_tasks:\s*['\"]?([\w/.-]+\.yml)")


def entry_reads(roles_dir: Path, base: str, entry: str) -> set[str]:
    """The cluster settings (SETTINGS) the entry point's task files read, following literal include_tasks."""
    seen, pending, reads = set(), [entry + ".yml"], set()
    while pending:
        name = pending.pop()
        path = roles_dir / base / "tasks" / name
        if name in seen or not path.exists():
            continue
        seen.add(name)
        text = path.read_text()
        reads |= {setting for setting in SETTINGS if re.search(r"\b%s_%s\b" % (base, setting), text)}
        pending += TASK_INCLUDE.findall(text)
    return reads


def _entries(roles_dir: Path, base: str, tasks_from: str) -> list[str]:
    """A templated tasks_from (encryption_at_rest's lock.yml: "{{ action | default('lock') }}") counts as every
    entry point it names."""
    names = re.findall(r"\w+", tasks_from) if "{{" in tasks_from else [tasks_from]
    return [name for name in names if (roles_dir / base / "tasks" / (name + ".yml")).exists()]


def agreement_problems(roles_dir: Path, checked: tuple[str, ...] = CONTROL_PLANE_ROLES) -> list[str]:
    roles = role_names(roles_dir)
    problems = []
    for role in checked:
        passed: dict[str, dict[str, str]] = {}  # setting -> expression -> where
        for path in sorted((roles_dir / role).glob("tasks/**/*.yml")):
            for task in _tasks(_load(path) or []):
                base = _included_role(task, roles)
                if base not in BASES:
                    continue
                include = next(task[key] for key in task if key.endswith(("include_role", "import_role")))
                where = "%s: %s" % (path.relative_to(roles_dir), task.get("name", "a task"))
                variables = task.get("vars") or {}
                for entry in _entries(roles_dir, base, str(include.get("tasks_from", "main"))):
                    for setting in sorted(entry_reads(roles_dir, base, entry)):
                        expression = variables.get("%s_%s" % (base, setting))
                        names = re.findall(r"\b_*[a-z]\w*", str(expression)) if expression is not None else []
                        if expression is None:
                            problems.append("%s leaves %s_%s (read by %s) to its default, not %s's own" % (
                                where, base, setting, entry, role))
                            continue
                        if not any(owner(name, roles) == role for name in names):
                            problems.append("%s passes %s_%s (read by %s) as %r, not from %s's own variables" % (
                                where, base, setting, entry, expression, role))
                            continue
                        passed.setdefault(setting, {}).setdefault(str(expression), where)
        problems += ["%s: %s is passed as %s" % (role, setting, " and ".join(
            "%r (%s)" % item for item in sorted(expressions.items())))
            for setting, expressions in sorted(passed.items()) if len(expressions) > 1]
    return problems


def test_each_control_plane_role_changes_and_verifies_the_same_cluster():
    assert agreement_problems(ROLES) == []


ROLLOUT = {"tasks/main.yml": "---\n- name: Roll\n  ansible.builtin.include_tasks: roll.yml\n",
           "tasks/roll.yml": "---\n- name: Change\n  ansible.builtin.debug:\n"
                             "    msg: \"{{ control_plane_rollout_nodes }} {{ control_plane_rollout_apiserver_port }}\"\n"}
VERIFY = {"tasks/main.yml": "---\n- name: Assess\n  ansible.builtin.debug:\n    msg: \"{{ assess_base_nodes }}\"\n"}


@pytest.mark.parametrize("rollout_vars, expected", [
    # The rollout's health gate on its own default port (the fault of audit_logging after the base-role refactor).
    ("      control_plane_rollout_nodes: \"{{ user_nodes }}\"\n",
     "leaves control_plane_rollout_apiserver_port (read by main) to its default, not user's own"),
    # The rollout told the inventory's nodes, the verification the role's (apiserver_hardening's fault).
    ("      control_plane_rollout_nodes: \"{{ groups['cp'] }}\"\n"
     "      control_plane_rollout_apiserver_port: \"{{ user_port }}\"\n",
     "passes control_plane_rollout_nodes (read by main) as \"{{ groups['cp'] }}\", not from user's own variables"),
    # Two different node lists of the role's own.
    ("      control_plane_rollout_nodes: \"{{ user_nodes | reverse }}\"\n"
     "      control_plane_rollout_apiserver_port: \"{{ user_port }}\"\n",
     "user: nodes is passed as '{{ user_nodes | reverse }}' (user/tasks/main.yml: Roll) and "
     "'{{ user_nodes }}' (user/tasks/main.yml: Verify)"),
])
def test_agreement_fails_when_rollout_and_verification_may_see_different_clusters(tmp_path, rollout_vars, expected):
    _role(tmp_path, "control_plane_rollout", ROLLOUT)
    _role(tmp_path, "assess_base", VERIFY)
    _role(tmp_path, "user", {"tasks/main.yml": (
        "---\n- name: Roll\n  ansible.builtin.include_role:\n    name: ns.col.control_plane_rollout\n  vars:\n"
        + rollout_vars.replace("      ", "    ") +
        "- name: Verify\n  ansible.builtin.include_role:\n    name: ns.col.assess_base\n  vars:\n"
        "    assess_base_nodes: \"{{ user_nodes }}\"\n")})
    problems = agreement_problems(tmp_path, ("user",))
    assert any(expected in problem for problem in problems), problems
