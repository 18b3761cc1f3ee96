"""The level each tier requires: defaults, overrides, and one-line errors naming the bad entry."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.psa import DEFAULT_PSA_LEVELS, psa_targets


def test_defaults_and_overrides():
    assert psa_targets(None) == (DEFAULT_PSA_LEVELS, None)
    targets, error = psa_targets({"important": "restricted"})
    assert error is None and targets == dict(DEFAULT_PSA_LEVELS, important="restricted")


@pytest.mark.parametrize("overrides,fragment", [
    (["restricted"], "must map tiers to levels"),
    ({"gold": "restricted"}, "psa_levels.gold='restricted'"),
    ({"critical": "strict"}, "psa_levels.critical='strict'"),
])
def test_malformed_overrides(overrides, fragment):
    targets, error = psa_targets(overrides)
    assert targets is None and fragment in error
