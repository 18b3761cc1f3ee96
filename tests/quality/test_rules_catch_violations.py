"""Each architecture rule of tests/quality/rules.py on a small synthetic tree: silent on a tree that keeps it, and
naming the file on the same tree with one deliberate violation (a rule that cannot fail proves nothing)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.quality import rules

PKG = "ansible_collections.kubecompass.readiness.plugins.module_utils"
MODULE_DOC = '''DOCUMENTATION = r"""
module: {name}
short_description: A module.
extends_documentation_fragment: {fragments}
options:
  tier:
    description: The tier.
    choices: {choices}
"""
'''
GOOD = {
    "plugins/module_utils/_k8s/__init__.py": '"""Kubernetes meaning."""\n',
    "plugins/module_utils/_k8s/vocabulary.py": 'TIERS = ("critical", "important", "best_effort")\n'
                                               'SELF_MANAGED = ("kubeadm", "rke2", "k3s")\n'
                                               "def _name(obj):\n    return obj\n"
                                               "def name(obj):\n    return _name(obj)\n",
    "plugins/module_utils/_readiness/__init__.py": "",
    "plugins/module_utils/_readiness/model.py": f"from {PKG}._k8s.vocabulary import TIERS\n",
    "plugins/module_utils/_readiness/checks/__init__.py": "",
    "plugins/module_utils/_readiness/checks/area.py":
        f"from {PKG}._k8s import vocabulary\nfrom {PKG}._k8s.vocabulary import name\n"
        f"from {PKG}._readiness import model\nREQUIRED = (\"critical\", \"important\")\n",
    "plugins/module_utils/_guardrails/__init__.py": "",
    "plugins/module_utils/_guardrails/plan.py": f"from {PKG}._k8s.vocabulary import name, TIERS\n"
                                                'BACKED_UP = ("secrets", "configmaps")\n'
                                                'PORTS = {"kubeadm": 6443, "rke2": 9345, "k3s": 6443}\n',
    "plugins/module_utils/_providers/__init__.py": "",
    "plugins/modules/thing.py": MODULE_DOC.format(name="thing", fragments="[kubecompass.readiness.auth_options]",
                                                  choices="[critical, important, best_effort]")
    + f"from {PKG}._guardrails import plan\n",
    "plugins/modules/local.py": MODULE_DOC.format(name="local", fragments="[]", choices="[kubeadm, rke2, k3s]"),
    "meta/runtime.yml": "action_groups:\n  readiness:\n    - thing\n",
    "roles/base/meta/argument_specs.yml": "argument_specs:\n  main:\n    options:\n      base_tier:\n"
                                          "        choices: [critical, important, best_effort]\n",
    "tests/unit/plugins/module_utils/_k8s/test_vocabulary.py": "",
    "tests/unit/plugins/modules/test_thing_module.py": "",
    "tests/unit/roles/base/test_base.py": "",
    "tests/unit/repo/test_docs.py": "",
    "plugins/module_utils/_readiness/checks/guard.py": "def quotas(ctx):\n    return ctx\n",
    "tests/unit/plugins/module_utils/_readiness/checks/test_guard.py": "def test_quotas():\n    pass\n",
    "docs/catalog.md": "### KC-CMP-002\n\n- Code: `plugins/module_utils/_readiness/checks/guard.py:quotas`; tests: "
                       "`tests/unit/plugins/module_utils/_readiness/checks/test_guard.py::test_quotas` (1 tests name it).\n",
}


def tree(root: Path, changes: dict[str, str | None]) -> Path:
    for name, text in {**GOOD, **changes}.items():
        if text is None:
            continue
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (root / "roles" / "base" / "tasks").mkdir(parents=True, exist_ok=True)
    return root


RULES = (rules.underscore_imports_across_packages, rules.layer_violations, rules.package_cycles,
         rules.vocabulary_copies, rules.choices_off_vocabulary, rules.stray_unit_tests, rules.action_group_mismatches,
         rules.catalog_dead_ends)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_a_tree_that_keeps_the_rules_has_no_violation(tmp_path, rule):
    assert rule(tree(tmp_path, {})) == []


BAD = {
    "a private name imported from another package": (
        rules.underscore_imports_across_packages,
        {"plugins/module_utils/_guardrails/plan.py": f"from {PKG}._k8s.vocabulary import _name\n"},
        "plugins/module_utils/_guardrails/plan.py:1 imports _name"),
    "a private name read through a module of another package": (
        rules.underscore_imports_across_packages,
        {"plugins/module_utils/_guardrails/plan.py": f"from {PKG}._k8s import vocabulary\nvocabulary._name(1)\n"},
        "plugins/module_utils/_guardrails/plan.py:2 reads vocabulary._name"),
    "a private name imported inside a function": (
        rules.underscore_imports_across_packages,
        {"plugins/modules/local.py": f"def main():\n    from {PKG}._k8s.vocabulary import _name\n"},
        "plugins/modules/local.py:2 imports _name"),
    "a planner importing a check (outside the assessment)": (
        rules.layer_violations,
        {"plugins/module_utils/_guardrails/plan.py": f"from {PKG}._readiness.checks.area import REQUIRED\n"},
        "plugins/module_utils/_guardrails/plan.py:1 (outside the assessment) imports plugins/module_utils/_readiness/checks/area"),
    "a module importing the checks package": (
        rules.layer_violations,
        {"plugins/modules/local.py": f"from {PKG}._readiness.checks import area\n"},
        "plugins/modules/local.py:1 (outside the assessment) imports plugins/module_utils/_readiness/checks/area"),
    "a check importing a provider": (
        rules.layer_violations,
        {"plugins/module_utils/_readiness/checks/area.py": f"from {PKG} import _providers\n"},
        "plugins/module_utils/_readiness/checks/area.py:1 (a check) imports plugins/module_utils/_providers"),
    "an import cycle between packages": (
        rules.package_cycles,
        {"plugins/module_utils/_k8s/__init__.py": f"def later():\n    from {PKG}._readiness import model\n"},
        ["plugins/module_utils/_k8s", "plugins/module_utils/_readiness"]),
    "a second copy of the tiers": (
        rules.vocabulary_copies,
        {"plugins/modules/local.py": 'TIER_CHOICES = ["critical", "important", "best_effort"]\n'},
        "plugins/modules/local.py:1 writes tiers ['best_effort', 'critical', 'important'] outside"),
    "a second copy of a named part of a vocabulary": (
        rules.vocabulary_copies,
        {"plugins/module_utils/_readiness/model.py": 'NODES = {"kubeadm", "k3s", "rke2"}\n'},
        "plugins/module_utils/_readiness/model.py:1 writes distributions ['k3s', 'kubeadm', 'rke2'] outside"),
    "the only copy of a whole vocabulary, outside the vocabulary home": (
        rules.vocabulary_copies,
        {"plugins/module_utils/_guardrails/plan.py": 'KINDS = frozenset(("eks", "gke", "aks", "kubeadm", "rke2", '
                                                     '"k3s"))\n'},
        "plugins/module_utils/_guardrails/plan.py:1 writes distributions"),
    "what covers Secrets as the keys of a dict": (
        rules.vocabulary_copies,
        {"plugins/module_utils/_guardrails/plan.py": 'GROUPS = {"secrets": "", "*.*": "*"}\n'},
        "plugins/module_utils/_guardrails/plan.py:1 writes resources that cover Secrets ['*.*', 'secrets'] outside"),
    "a named part with another word beside it": (
        rules.vocabulary_copies,
        {"plugins/modules/local.py": 'NODES = ("kubeadm", "rke2", "k3s", "openshift")\n'},
        "plugins/modules/local.py:1 writes distributions ['k3s', 'kubeadm', 'rke2'] outside"),
    "a check holding what covers Secrets": (
        rules.vocabulary_copies,
        {"plugins/module_utils/_readiness/checks/area.py": 'SECRETS = ("secrets", "*.", "*.*")\n'},
        "plugins/module_utils/_readiness/checks/area.py:1 writes resources that cover Secrets ['*.', '*.*', 'secrets']"),
    "a condition testing what covers Secrets word by word": (
        rules.vocabulary_copies,
        {"plugins/module_utils/_readiness/checks/area.py":
            'def covered(names):\n    return "secrets" in names or "*.*" in names or "*." in names\n'},
        "plugins/module_utils/_readiness/checks/area.py:2 writes resources that cover Secrets"),
    "documented choices no vocabulary constant names": (
        rules.choices_off_vocabulary,
        {"roles/base/meta/argument_specs.yml": "argument_specs:\n  main:\n    options:\n      base_tier:\n"
                                               "        choices: [critical, best_effort]\n"},
        "roles/base/meta/argument_specs.yml argument_specs.main.options.base_tier: choices"),
    "a unit test beside the mirror": (
        rules.stray_unit_tests, {"tests/unit/test_lock.py": ""}, "tests/unit/test_lock.py: not under"),
    "a unit test mirroring no package": (
        rules.stray_unit_tests, {"tests/unit/plugins/module_utils/_gone/test_x.py": ""},
        "plugins/module_utils/_gone does not exist"),
    "a unit test of no module": (
        rules.stray_unit_tests, {"tests/unit/plugins/modules/test_nothing.py": ""}, "test_nothing.py: no plugin"),
    "a unit test under no role": (
        rules.stray_unit_tests, {"tests/unit/roles/gone/test_x.py": ""}, "roles/gone is not a role"),
    "a module with the connection options outside the action group": (
        rules.action_group_mismatches, {"meta/runtime.yml": "action_groups:\n  readiness: []\n"},
        "thing takes the connection options but is not in action group readiness"),
    "a catalog entry naming a function that is gone": (
        rules.catalog_dead_ends,
        {"plugins/module_utils/_readiness/checks/guard.py": "def quota_check(ctx):\n    return ctx\n"},
        "KC-CMP-002: plugins/module_utils/_readiness/checks/guard.py defines no function quotas"),
    "a catalog entry naming no test": (
        rules.catalog_dead_ends,
        {"docs/catalog.md": "### KC-CMP-002\n\n- Code: `plugins/module_utils/_readiness/checks/guard.py:quotas`; "
                            "tests: none.\n"},
        "KC-CMP-002: no test names it"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_a_rule_names_the_violation_it_is_shown(tmp_path, case):
    rule, changes, expected = BAD[case]
    violations = rule(tree(tmp_path, changes))
    if isinstance(expected, list):
        assert violations == [expected]
    else:
        assert len(violations) == 1 and expected in violations[0], violations
