"""One constant per vocabulary on the repository itself: tiers, distributions, encryption provider kinds and what
covers Secrets are each written once (in plugins/module_utils/_k8s), and documented choices equal those constants."""

from __future__ import annotations

from tests.helpers import REPO
from tests.quality import rules


def test_each_vocabulary_is_written_once():
    assert rules.vocabulary_copies(REPO) == []


def test_documented_choices_equal_a_vocabulary_constant():
    assert rules.choices_off_vocabulary(REPO) == []
