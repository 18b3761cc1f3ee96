# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Pod Security Admission: levels, the namespace labels, the level each tier requires."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import TIERS


PSA_LEVELS = ("privileged", "baseline", "restricted")
DEFAULT_PSA_LEVELS = {"critical": "restricted", "important": "baseline", "best_effort": "baseline"}
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
PSA_ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"


def psa_targets(overrides):
    """(tier -> required enforce level, error) from the defaults and a psa_levels setting (tier -> level)."""
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        return None, "psa_levels must map tiers to levels, not %r" % (overrides,)
    for tier, level in overrides.items():
        if tier not in TIERS or level not in PSA_LEVELS:
            return None, "psa_levels.%s=%r: expected a tier (%s) mapped to a level (%s)" % (
                tier, level, ", ".join(TIERS), ", ".join(PSA_LEVELS))
    targets = dict(DEFAULT_PSA_LEVELS)
    targets.update(overrides)
    return targets, None
