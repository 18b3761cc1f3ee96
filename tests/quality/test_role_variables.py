"""Role variable hygiene (style rules 4 and 11), checked on every role of the collection:

(a) a role's defaults name exactly the options its argument_specs entry points declare (each entry point lists the
    options it reads, as backups' restore_drill does; a required option has no default);
(b) a role writes (set_fact, register, vars) no variable of another role - only the variables it passes to a role it
    includes, under that include's vars, and never that role's private ones;
(c) a role reads no private (__<role>_) variable of another role;
(d) nor a public one (<role>_), except the facts that role documents as returned (C(<role>_...) names in its
    argument_specs descriptions that are not options) and KNOWN_READS, each with its reason.

Each rule is shown failing on a deliberately bad role in a temporary tree, and passing on the repository's roles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO, run

ROLES = REPO / "roles"
INCLUDE_ROLE = ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role")
BLOCK_KEYS = ("block", "rescue", "always")


class _Loader(yaml.SafeLoader):
    """Ansible's own tags (!unsafe, !vault) read as plain values: only the names matter here."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node)
                              if isinstance(node, yaml.ScalarNode) else None)


def _load(path: Path):
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def role_names(roles_dir: Path) -> list[str]:
    return sorted(path.name for path in roles_dir.iterdir() if (path / "meta").is_dir() or (path / "tasks").is_dir())


def owner(name: str, roles: list[str]) -> str | None:
    """The role whose public (<role>_) or private (__<role>_) prefix the variable carries (the longest match)."""
    bare = name[2:] if name.startswith("__") else name
    matches = [role for role in roles if bare.startswith(role + "_")]
    return max(matches, key=len) if matches else None


def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in BLOCK_KEYS:
            if key in node:
                yield from _tasks(node[key])


def _included_role(task: dict, roles: list[str]) -> str | None:
    for key in INCLUDE_ROLE:
        if isinstance(task.get(key), dict):
            name = str(task[key].get("name", "")).rsplit(".", 1)[-1]
            return name if name in roles else None
    return None


def parity_problems(roles_dir: Path) -> list[str]:
    problems = []
    for role in role_names(roles_dir):
        specs_path = roles_dir / role / "meta" / "argument_specs.yml"
        defaults_path = roles_dir / role / "defaults" / "main.yml"
        specs = (_load(specs_path) or {}).get("argument_specs", {}) if specs_path.exists() else {}
        defaults = set((_load(defaults_path) or {}) if defaults_path.exists() else {})
        options = {name: option or {} for entry in specs.values() for name, option in
                   ((entry or {}).get("options") or {}).items()}
        optional = {name for name, option in options.items() if not option.get("required")}
        if defaults != optional:
            problems.append("%s: defaults without an option %s, options without a default %s" % (
                role, sorted(defaults - optional), sorted(optional - defaults)))
    return problems


def write_problems(roles_dir: Path) -> list[str]:
    roles = role_names(roles_dir)
    problems = []
    for role in roles:
        for path in sorted((roles_dir / role).glob("tasks/**/*.yml")):
            for task in _tasks(_load(path) or []):
                included = _included_role(task, roles)
                written = []
                for key in ("ansible.builtin.set_fact", "set_fact"):
                    if isinstance(task.get(key), dict):
                        written += [("set_fact", name) for name in task[key] if name != "cacheable"]
                if isinstance(task.get("register"), str):
                    written.append(("register", task["register"]))
                written += [("vars", name) for name in (task.get("vars") or {})]
                for how, name in written:
                    other = owner(name, roles)
                    passed = how == "vars" and other == included and not name.startswith("__")
                    if other not in (None, role) and not passed:
                        problems.append("%s: %s writes %s of role %s (%s)" % (
                            path.relative_to(roles_dir), task.get("name", "a task"), name, other, how))
    return problems


def read_problems(roles_dir: Path) -> list[str]:
    roles = role_names(roles_dir)
    private = re.compile(r"\b__(%s)_\w+" % "|".join(sorted(map(re.escape, roles), key=len, reverse=True)))
    problems = []
    for role in roles:
        for path in sorted((roles_dir / role).rglob("*")):
            if not path.is_file() or path.suffix not in (".yml", ".yaml", ".j2"):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                for match in private.finditer(line):
                    if owner(match.group(0), roles) != role:
                        problems.append("%s:%d reads %s" % (path.relative_to(roles_dir), number, match.group(0)))
    return problems


CONDITION_KEYS = ("when", "that", "failed_when", "changed_when", "until")
JINJA = re.compile(r"{{(.*?)}}|{%(.*?)%}", re.DOTALL)
RETURNED = re.compile(r"C\((\w+)\)")
# Other roles' public variables a role reads on purpose, each with its reason.
KNOWN_READS = {
    ("encryption_at_rest", "etcd_snapshots_dir"): (
        "encryption_at_rest_snapshot_dirs defaults to the directory the inventory gives the etcd_snapshots role, "
        "so a key is not dropped while a snapshot there needs it"),
}


def returned_facts(roles_dir: Path, role: str) -> set[str]:
    """The facts a role documents as returned: the C(<role>_...) names of its argument_specs' descriptions that
    are not its options (control_plane_rollout_record, assess_base_unfixed, assess_base_endpoints, ...)."""
    path = roles_dir / role / "meta" / "argument_specs.yml"
    specs = (_load(path) or {}).get("argument_specs", {}) if path.exists() else {}
    options = {name for entry in specs.values() for name in ((entry or {}).get("options") or {})}
    described = {name for entry in specs.values() for line in (entry or {}).get("description") or []
                 for name in RETURNED.findall(str(line))}
    return {name for name in described if name.startswith(role + "_")} - options


def _expressions(node, key=None):
    """The Jinja expressions of a task file's values (templates, and the bare expressions of conditions); keys are
    names being set (the writes rule judges them), comments are gone."""
    if isinstance(node, dict):
        for child_key, value in node.items():
            yield from _expressions(value, child_key)
    elif isinstance(node, list):
        for item in node:
            yield from _expressions(item, key)
    elif isinstance(node, str):
        if key in CONDITION_KEYS:
            yield node
        else:
            yield from ("".join(parts) for parts in JINJA.findall(node))


def public_read_problems(roles_dir: Path) -> list[str]:
    """Style rule 4: a role reads only its own variables and kubecompass_* - never another role's public (<role>_)
    variable, except the facts that role documents as returned and KNOWN_READS."""
    roles = role_names(roles_dir)
    public = re.compile(r"\b(?<!__)(?:%s)_\w+" % "|".join(sorted(map(re.escape, roles), key=len, reverse=True)))
    returned = {name for role in roles for name in returned_facts(roles_dir, role)}
    problems = []
    for role in roles:
        for folder in ("tasks", "handlers", "defaults", "vars", "templates"):
            for path in sorted((roles_dir / role / folder).rglob("*")):
                if path.suffix in (".yml", ".yaml"):
                    expressions = _expressions(_load(path))
                elif path.suffix == ".j2":
                    expressions = ("".join(parts) for parts in JINJA.findall(path.read_text()))
                else:
                    continue
                names = {name for text in expressions for name in public.findall(text)}
                problems += ["%s reads %s of role %s" % (path.relative_to(roles_dir), name, owner(name, roles))
                             for name in sorted(names) if owner(name, roles) not in (None, role)
                             and name not in returned and (role, name) not in KNOWN_READS]
    return problems


RULES = {"parity": parity_problems, "writes": write_problems, "reads": read_problems,
         "public_reads": public_read_problems}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_collection_s_roles_follow_the_rule(rule):
    assert RULES[rule](ROLES) == []


def _role(roles_dir: Path, name: str, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = roles_dir / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


GOOD_BASE = {
    "defaults/main.yml": "---\nbase_port: 6443\n",
    "meta/argument_specs.yml": "---\nargument_specs:\n  main:\n    description:\n"
                               "      - Returns the fact C(base_result); reads C(base_port).\n    options:\n"
                               "      base_checks: {type: list, required: true}\n      base_port: {type: int}\n",
    "tasks/main.yml": "---\n- name: Keep\n  ansible.builtin.set_fact:\n    __base_kept: 1\n    base_result: 2\n",
}


@pytest.fixture
def roles_dir(tmp_path):
    _role(tmp_path, "base", GOOD_BASE)
    return tmp_path


def test_a_sound_pair_of_roles_passes_every_rule(roles_dir):
    _role(roles_dir, "user", {
        "defaults/main.yml": "---\nuser_port: 6443\n",
        "meta/argument_specs.yml": "---\nargument_specs:\n  main:\n    options:\n      user_port: {type: int}\n",
        "tasks/main.yml": "---\n- name: Use the base\n  ansible.builtin.include_role:\n    name: ns.col.base\n"
                          "  vars:\n    base_checks: [X]\n    base_port: \"{{ user_port }}\"\n"
                          "- name: Take its result\n  ansible.builtin.set_fact:\n    __user_result: \"{{ base_result }}\"\n"})
    assert {rule: check(roles_dir) for rule, check in RULES.items()} == {
        "parity": [], "reads": [], "writes": [], "public_reads": []}


@pytest.mark.parametrize("defaults, options, expected", [
    ("user_port: 1\nuser_extra: 2\n", "      user_port: {type: int}\n", "defaults without an option ['user_extra']"),
    ("user_port: 1\n", "      user_port: {type: int}\n      user_new: {type: int}\n",
     "options without a default ['user_new']"),
])
def test_parity_fails_when_defaults_and_argument_specs_differ(roles_dir, defaults, options, expected):
    _role(roles_dir, "user", {"defaults/main.yml": "---\n" + defaults,
                              "meta/argument_specs.yml": "---\nargument_specs:\n  main:\n    options:\n" + options})
    assert any(expected in problem for problem in parity_problems(roles_dir)), parity_problems(roles_dir)


def test_parity_fails_when_another_entry_point_s_option_has_no_default(roles_dir):
    _role(roles_dir, "user", {"defaults/main.yml": "---\nuser_port: 1\n", "meta/argument_specs.yml": (
        "---\nargument_specs:\n  main:\n    options:\n      user_port: {type: int}\n"
        "  verify:\n    options:\n      user_other: {type: int}\n")})
    assert parity_problems(roles_dir) == [
        "user: defaults without an option [], options without a default ['user_other']"]


@pytest.mark.parametrize("task, written", [
    ("- name: Write its private fact\n  ansible.builtin.set_fact:\n    __base_kept: []\n", "__base_kept"),
    ("- name: Write its public fact\n  ansible.builtin.set_fact:\n    base_result: []\n", "base_result"),
    ("- name: Register into it\n  ansible.builtin.command: 'true'\n  register: __base_out\n", "__base_out"),
    ("- name: Set its variable on an unrelated task\n  ansible.builtin.debug:\n    msg: x\n"
     "  vars:\n    base_port: 1\n", "base_port"),
    ("- name: Pass its private variable\n  ansible.builtin.include_role:\n    name: base\n"
     "  vars:\n    __base_kept: 1\n", "__base_kept"),
    ("- name: Nested\n  block:\n    - name: Write in a block\n      ansible.builtin.set_fact:\n"
     "        __base_kept: 1\n", "__base_kept"),
])
def test_writes_fail_when_a_role_writes_another_role_s_variable(roles_dir, task, written):
    _role(roles_dir, "user", {"tasks/main.yml": "---\n" + task})
    problems = write_problems(roles_dir)
    assert len(problems) == 1 and " writes %s of role base " % written in problems[0], problems


def test_reads_fail_when_a_role_reads_another_role_s_private_variable(roles_dir):
    _role(roles_dir, "user", {"tasks/main.yml": "---\n- name: Peek\n  ansible.builtin.debug:\n"
                                                "    msg: \"{{ __base_kept | default([]) }}\"\n"})
    assert read_problems(roles_dir) == ["user/tasks/main.yml:4 reads __base_kept"]


@pytest.mark.parametrize("task", [
    "- name: Peek in a template\n  ansible.builtin.debug:\n    msg: \"{{ base_port }}\"\n",
    "- name: Peek in a condition\n  ansible.builtin.debug:\n    msg: x\n  when: base_port > 1\n",
    "- name: Peek in a folded template\n  ansible.builtin.set_fact:\n    __user_x: >-\n"
    "      {{ [1]\n         + [base_port] }}\n",
    # Passing the base's own setting on to it is still reading it (the role's own variable must be passed).
    "- name: Use the base\n  ansible.builtin.include_role:\n    name: ns.col.base\n"
    "  vars:\n    base_checks: \"{{ [base_port] }}\"\n",
])
def test_public_reads_fail_when_a_role_reads_another_role_s_setting(roles_dir, task):
    _role(roles_dir, "user", {"tasks/main.yml": "---\n" + task})
    assert public_read_problems(roles_dir) == ["user/tasks/main.yml reads base_port of role base"]


def test_public_reads_allow_a_documented_returned_fact_only(roles_dir):
    _role(roles_dir, "user", {"tasks/main.yml": "---\n- name: Take its result\n  ansible.builtin.debug:\n"
                                                "    msg: \"{{ base_result }}\"\n"})
    assert public_read_problems(roles_dir) == []
    _role(roles_dir, "base", {"meta/argument_specs.yml": GOOD_BASE["meta/argument_specs.yml"].replace(
        "C(base_result)", "base_result")})
    assert public_read_problems(roles_dir) == ["user/tasks/main.yml reads base_result of role base"]


def test_public_reads_fail_on_the_roles_before_the_base_role_refactor(tmp_path):
    """b9fc7f7: audit_logging's verification and encryption_at_rest read the rollout's settings."""
    if run(["git", "cat-file", "-e", "b9fc7f7^{commit}"]).returncode != 0:
        pytest.skip("b9fc7f7 is not in this clone")
    archive = run(["git", "archive", "-o", str(tmp_path / "roles.tar"), "b9fc7f7", "roles"], check=True)
    assert archive.returncode == 0
    run(["tar", "-xf", str(tmp_path / "roles.tar"), "-C", str(tmp_path)], check=True)
    problems = public_read_problems(tmp_path / "roles")
    for expected in ("audit_logging/tasks/verify.yml reads control_plane_rollout_apiserver_port",
                     "encryption_at_rest/tasks/apply_node.yml reads control_plane_rollout_backup_dir",
                     "encryption_at_rest/tasks/apply_node.yml reads control_plane_rollout_timeout"):
        assert any(problem.startswith(expected) for problem in problems), problems
    assert any(problem.startswith("encryption_at_rest/") and " reads control_plane_rollout_apiserver_port " in problem
               for problem in problems), problems
