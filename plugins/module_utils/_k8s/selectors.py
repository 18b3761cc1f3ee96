# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Kubernetes label selectors, evaluated exactly (matchLabels AND every matchExpression)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type


def matches(selector, labels, none_matches=False):
    """Whether a LabelSelector selects an object with these labels.

    ``selector`` None selects nothing (policy/v1 PDB, NetworkPolicy peers) unless ``none_matches``; ``{}``
    selects everything. Unknown operators select nothing, so a selector we do not understand never
    passes a check by accident.
    """
    if selector is None:
        return none_matches
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key = expression.get("key")
        operator = expression.get("operator")
        values = expression.get("values") or []
        if operator == "In":
            if key not in labels or labels[key] not in values:
                return False
        elif operator == "NotIn":
            if key in labels and labels[key] in values:
                return False
        elif operator == "Exists":
            if key not in labels:
                return False
        elif operator == "DoesNotExist":
            if key in labels:
                return False
        else:
            return False
    return True


def is_empty(selector):
    """True for ``{}`` (select all), False for None or a selector with any term."""
    return selector is not None and not selector.get("matchLabels") and not selector.get("matchExpressions")
