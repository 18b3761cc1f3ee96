# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The namespace planner modules: which namespaces they plan for (module_utils/_runner.py
    # NAMESPACE_SCOPE_ARGUMENT_SPEC). A module whose option reads differently documents it itself, which overrides
    # the fragment's entry.
    DOCUMENTATION = r"""
options:
  tier:
    description: The cluster's tier, for namespaces without a C(kubecompass.io/tier) label.
    type: str
    choices: [critical, important, best_effort]
    default: important
  tiers:
    description: The tiers to remediate now (staging); all by default.
    type: list
    elements: str
    choices: [critical, important, best_effort]
  excluded_namespaces:
    description: More namespaces to leave alone (names or shell globs such as C(calico-*)).
    type: list
    elements: str
    default: []
"""

    # The tier option alone (TIER_ARGUMENT_SPEC), for a planner without tiers staging or exclusions of its own.
    TIER = r"""
options:
  tier:
    description: The cluster's tier, for namespaces without a C(kubecompass.io/tier) label.
    type: str
    choices: [critical, important, best_effort]
    default: important
"""
