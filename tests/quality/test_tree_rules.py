"""The tree's own rules: tests/unit mirrors plugins/; the action group the docs name holds exactly the modules that
take the connection options (so module_defaults set them for every one); the catalog's references resolve."""

from __future__ import annotations

from tests.helpers import REPO
from tests.quality import rules


def test_unit_tests_mirror_the_tree():
    assert rules.stray_unit_tests(REPO) == []


def test_action_group_holds_every_module_with_the_connection_options():
    assert rules.action_group_mismatches(REPO) == []


def test_the_catalog_leads_from_each_check_id_to_its_function_and_a_test():
    assert rules.catalog_dead_ends(REPO) == []
