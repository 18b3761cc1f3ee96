"""The import rules on the repository itself: no private name across packages, the checks imported by the
assessment alone and never importing the provider clients, no cycle between packages."""

from __future__ import annotations

from tests.helpers import REPO
from tests.quality import rules


def test_no_private_name_is_imported_across_packages():
    assert rules.underscore_imports_across_packages(REPO) == []


def test_only_the_assessment_imports_checks_and_checks_never_import_providers():
    assert rules.layer_violations(REPO) == []


def test_no_import_cycle_between_packages():
    assert rules.package_cycles(REPO) == []
