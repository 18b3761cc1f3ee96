# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""One cluster's assessment: validate inputs, gather once, evaluate in-process, apply waivers."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import time

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import (
    control_plane_components,
    guess_distribution,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog, engine, gather, history
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import attestations as attestation_rules
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import DISTRIBUTIONS
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.tiers import tier_table, validate_tier


def _string_list(value):
    """None when value is a list of non-empty strings, else what is wrong with it."""
    if not isinstance(value, list):
        return "must be a list of strings, not %r" % (value,)
    for index, element in enumerate(value):
        if not isinstance(element, str) or not element.strip():
            return "[%d] must be a non-empty string, not %r" % (index, element)
    return None


def _string_mapping(value):
    if not isinstance(value, dict):
        return "must be a mapping of strings, not %r" % (value,)
    for key, element in value.items():
        if not isinstance(key, str) or not isinstance(element, str):
            return ".%s must be a string, not %r" % (key, element)
    return None


def _integer(low, high):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return "must be a whole number from %d to %d, not %r" % (low, high, value)
        return None

    return check


# User settings the checks read (kubecompass_settings): each with the rule its value, and every element, must meet.
SETTINGS = {
    "excluded_namespaces": _string_list,
    "frameworks": _string_list,
    "rbac_allowed_subjects": _string_list,
    "psa_levels": _string_mapping,
    "rpo_evidence": _string_list,
    "audit_offcluster_retention_days": _integer(0, 36500),
    "audit_log_max_silence_minutes": _integer(1, 525600),
    "etcd_snapshot_max_age_hours": _integer(1, 87600),
    "assessment_interval_days": _integer(1, 366),
}


NO_API_CAUSE = ("no Kubernetes API connection for this cluster (kubecompass_kubernetes_api is false: no kubeconfig "
                "context names it); set kubecompass_kubeconfig and kubecompass_context")


def validate_settings(settings):
    settings = settings or {}
    if not isinstance(settings, dict):
        raise KubeCompassError("kubecompass_settings must be a mapping, not %r" % (settings,), "input")
    for key, value in settings.items():
        if key not in SETTINGS:
            raise KubeCompassError("kubecompass_settings: unknown setting %r (expected one of %s)"
                                   % (key, ", ".join(sorted(SETTINGS))), "input")
        problem = SETTINGS[key](value)
        if problem:
            raise KubeCompassError("kubecompass_settings.%s%s%s" % (key, "" if problem[0] in "[." else " ", problem),
                                   "input")
    return settings


def _distribution(snapshot_kinds, version, declared):
    """The declared distribution, or the best guess from what was gathered, with the evidence."""
    if declared:
        return declared, ["declared by kubecompass_distribution"]
    pods = (snapshot_kinds.get("pods") or {}).get("items") or []
    nodes = (snapshot_kinds.get("nodes") or {}).get("items") or []
    configmaps = (snapshot_kinds.get("kube_system_configmaps") or {}).get("items") or []
    kubeadm = any(c["metadata"]["name"] == "kubeadm-config" for c in configmaps)
    guess, evidence = guess_distribution(version, nodes, control_plane_components(pods), kubeadm)
    if guess == "unknown":
        raise KubeCompassError("cannot tell the distribution (%s); set kubecompass_distribution"
                               % "; ".join(evidence), "input")
    return guess, evidence


def assess(client, cluster_name, tier, distribution=None, thresholds=None, waivers=None, settings=None,
           node_facts=None, provider_facts=None, include=None, exclude=None, page_size=gather.DEFAULT_PAGE_SIZE,
           now=None, attestations=None, history_dir=None):
    """Gather and evaluate one cluster. Bad input raises KubeCompassError before any request is made.

    ``client`` None: the cluster's Kubernetes API is not used (a managed cluster known only to its provider); the
    checks that need it are unknown, the provider-backed ones are judged."""
    validate_tier(tier)
    if distribution is not None and distribution not in DISTRIBUTIONS:
        raise KubeCompassError("kubecompass_distribution %r is not one of %s"
                               % (distribution, ", ".join(DISTRIBUTIONS)), "input")
    table = tier_table(thresholds)
    settings = validate_settings(settings)
    checks = catalog.select(catalog.all_checks(), include, exclude)
    known_ids = {c.id for c in catalog.all_checks()}
    normalised = waiver_rules.validate(waivers, known_ids)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    active, expired = waiver_rules.split(normalised, cluster_name, now.date())
    attested = attestation_rules.for_cluster(attestation_rules.validate(attestations, now.date()), cluster_name)

    if client is None:
        if distribution is None:
            raise KubeCompassError("without a Kubernetes API connection the distribution cannot be guessed; set "
                                   "kubecompass_distribution", "input")
        gathered = gather.without_api(checks, NO_API_CAUSE)
    else:
        gathered = gather.gather(client, checks, page_size=page_size)
    distribution, distribution_evidence = _distribution(gathered["kinds"], gathered["version"], distribution)
    snapshot = {
        "cluster": {"name": cluster_name, "distribution": distribution, "tier": tier, "version": gathered["version"]},
        "kinds": gathered["kinds"],
        "nodes": None if node_facts is None else {"hosts": node_facts},
        "provider": provider_facts,
        "attestations": attested,
        "history": history.read(history_dir, cluster_name),
    }
    started = time.monotonic()
    findings = engine.evaluate(checks, snapshot, table, settings, active, now)
    evaluate_seconds = round(time.monotonic() - started, 3)
    unreadable = [{"source": key, "cause": entry["error"]["message"]}
                  for key, entry in sorted(gathered["kinds"].items()) if "error" in entry]
    return {
        "cluster": cluster_name,
        "status": "assessed",
        "error": None,
        "distribution": distribution,
        "distribution_evidence": distribution_evidence,
        "tier": tier,
        "findings": findings,
        "summary": engine.summarise(findings),
        "expired_waivers": [waiver_rules.describe(w) for w in expired],
        "gather": {
            "api_requests": gathered["api_requests"],
            "kinds_listed": len(gathered["kinds"]),
            "timings": {"gather_seconds": gathered["gather_seconds"], "evaluate_seconds": evaluate_seconds},
            "unreadable": unreadable,
        },
    }
