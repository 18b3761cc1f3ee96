# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Workloads and their pods: replicas, pod labels, PodDisruptionBudget selection, service-account tokens,
LimitRange items."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import object_meta
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.selectors import matches


def service_account_of(pod):
    spec = pod.get("spec") or {}
    return spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"


def mounts_token(pod, account_mounts):
    """The pod's own automountServiceAccountToken wins over its ServiceAccount's."""
    own = (pod.get("spec") or {}).get("automountServiceAccountToken")
    return account_mounts if own is None else own is not False


def pod_template(workload):
    return (workload.get("spec") or {}).get("template") or {}


def pod_labels(workload):
    return object_meta(pod_template(workload)).get("labels") or {}


def replicas(workload):
    """spec.replicas as the API defaults it (1 when absent)."""
    value = (workload.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _describe_requirement(expression):
    operator = expression.get("operator")
    if operator in ("Exists", "DoesNotExist"):
        return "%s %s" % (expression.get("key"), operator)
    return "%s %s (%s)" % (expression.get("key"), operator, ", ".join(expression.get("values") or []))


def unmet_requirements(selector, labels):
    """Requirements of a selector the labels miss, when it meets at least one other: the selector of a budget that
    covers only some pods. Empty when the selector matches fully or shares nothing."""
    selector = selector or {}
    terms = [({"matchLabels": {key: value}}, "%s=%s" % (key, value))
             for key, value in sorted((selector.get("matchLabels") or {}).items())]
    terms += [({"matchExpressions": [e]}, _describe_requirement(e)) for e in selector.get("matchExpressions") or []]
    unmet = [text for term, text in terms if not matches(term, labels)]
    return unmet if len(unmet) < len(terms) else []


def pdb_selector(pdb):
    return (pdb.get("spec") or {}).get("selector")


def int_or_percent(value):
    """(number, is_percent) of an IntOrString such as 1 or "50%", or None when it is neither."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value, False
    text = str(value).strip()
    percent = text.endswith("%")
    try:
        return int(text[:-1] if percent else text), percent
    except ValueError:
        return None


def container_items(limitrange):
    """The ``type: Container`` items of a LimitRange (the ones admission uses to default container resources)."""
    return [i for i in (limitrange.get("spec") or {}).get("limits") or [] if i.get("type") == "Container"]
