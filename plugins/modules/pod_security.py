#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pod_security
short_description: Pod Security Admission labels on every application namespace, enforced only where no pod breaks
version_added: 0.1.0
description:
  - For every in-scope namespace, the labels C(pod-security.kubernetes.io/enforce), C(audit) and C(warn) at the level
    of the namespace's tier (O(levels), else C(critical) restricted, C(important) and C(best_effort) baseline), each
    with its C(-version) label pinned at O(version).
  - Scope - every namespace except C(kube-system), C(kube-public), C(kube-node-lease), O(excluded_namespaces)
    (names or globs), namespaces labelled C(kubecompass.io/pod-security=skip), terminating namespaces, and namespaces
    whose tier (label C(kubecompass.io/tier), else O(tier)) is not in O(tiers).
  - Where the enforce label would change, a server-side dry run of the label patch first asks Pod Security Admission
    which existing pods would violate the new level (every HTTP C(Warning) header of the answer is read on its own).
    When some would, or the dry run checked only part of the pods, only C(audit) and C(warn) are set and the
    violating pods are returned in RV(violators); O(force_enforce=true) sets C(enforce) anyway. A label change never
    evicts a running pod.
  - A level already stricter than the target, or the same level pinned at a newer version, is never lowered.
  - Applied with server-side apply under the field manager C(kubecompass), after a server-side dry run that decides
    whether anything changes. The applied namespace holds the labels the plan changes, taken over from any other
    field manager, and the labels C(kubecompass) applied before (read from C(metadata.managedFields)), so they are
    not removed; labels others set (C(kubectl label)) and all other fields of the namespace are left alone.
  - A namespace an active waiver of KC-SEC-017 covers (O(waivers)) is left alone, reported in RV(left_alone) with
    the reason C(waived by <ticket> until <expires>).
  - Check mode sends dry runs only and returns the diff of every namespace.
  - A namespace that fails (deleted meanwhile, forbidden) is reported with its cause; the others are still handled,
    then the module fails naming them. A C(404) is reported as C(namespace no longer exists) only when a read of the
    namespace confirms it.
author:
  - KubeCompass contributors (@kubecompass)
options:
  levels:
    description:
      - The Pod Security level per tier, merged over the defaults (C(critical) restricted, C(important) baseline,
        C(best_effort) baseline), as the assessment's C(psa_levels) setting.
      - Levels are C(privileged), C(baseline) and C(restricted).
    type: dict
  version:
    description:
      - The Pod Security version to pin in the C(-version) labels, C(v1.<minor>) or C(latest).
      - By default the API server's own minor version (from C(/version)), so a Kubernetes upgrade does not tighten
        the policy unnoticed.
    type: str
  force_enforce:
    description:
      - Set C(enforce) even where existing pods would violate the level or the dry run could not check every pod.
      - Running pods keep running; new pods that violate (rollouts, rescheduled replicas) are rejected.
    type: bool
    default: false
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.waiver_options
  - kubecompass.readiness.namespace_scope
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.ACTION_GROUP
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Preview the labels and the pods that would violate them
  kubecompass.readiness.pod_security:
    kubeconfig: "{{ kubecompass_kubeconfig }}"
  check_mode: true
  diff: true
  register: psa

- name: Show the pods that keep enforce off
  ansible.builtin.debug:
    var: psa.violators

- name: Label the critical tier's namespaces, restricted, excluding the CNI
  kubecompass.readiness.pod_security:
    kubeconfig: "{{ kubecompass_kubeconfig }}"
    tiers: [critical]
    excluded_namespaces: [calico-system, tigera-operator]

- name: Baseline everywhere, pinned, enforced even over violating pods
  kubecompass.readiness.pod_security:
    levels:
      critical: baseline
    version: v1.36
    force_enforce: true
"""

RETURN = r"""
changed_objects:
  description:
    - The objects changed (in check mode, that would change) - C(object), C(action) (C(created), C(updated)), and
      C(before) and C(after), C(sha256:) digests of the object without server-set fields (null when it did not
      exist), for M(kubecompass.readiness.change_record).
  returned: success
  type: list
  elements: dict
  sample:
    - {"object": "Namespace shop", "action": "created", "before": null,
       "after": "sha256:9f2c..."}
namespaces:
  description: One entry per namespace.
  returned: always
  type: list
  elements: dict
  contains:
    namespace:
      description: The namespace.
      type: str
    tier:
      description: Its tier, or null when its tier label is invalid.
      type: str
    level:
      description: The target level, null when skipped.
      type: str
    mode:
      description:
        - C(skip) (out of scope or tier not staged), C(already) (nothing to change), C(enforce) (the labels bring
          enforce, audit and warn up to the level), C(audit_warn_only) (pods would violate - only audit and warn are
          set, the enforce label stays as it is).
      type: str
    labels:
      description: The labels set (or, in check mode, that would be set).
      type: dict
    violators:
      description: The dry run's violating pods (C(pod), C(others) with the same reasons, C(reasons)).
      type: list
      elements: dict
    reason:
      description: Why, in one line.
      type: str
    action:
      description: C(updated) or C(unchanged) when labels were applied, else null.
      type: str
    error:
      description: The cause when this namespace could not be handled, else null.
      type: str
  sample:
    - namespace: shop
      tier: critical
      level: restricted
      mode: audit_warn_only
      labels: {"pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/audit-version": "v1.36"}
      violators: [{"pod": "web-7c9d5b6f4-2xkqp", "others": 2, "reasons": ["allowPrivilegeEscalation != false"]}]
      reason: "enforce=restricted:v1.36 not applied - 3 existing pod(s) would violate restricted:v1.36 ..."
      action: updated
      error: null
violators:
  description: The namespaces where pods would violate the new enforce level, each with its pods and reasons.
  returned: always
  type: dict
  sample: {"shop": [{"pod": "web-7c9d5b6f4-2xkqp", "others": 2, "reasons": ["runAsNonRoot != true"]}]}
version:
  description: The Pod Security version pinned.
  returned: success
  type: str
  sample: v1.36
failed_namespaces:
  description: Namespaces that could not be handled, with the cause.
  returned: always
  type: dict
  sample: {"gone": "namespace no longer exists"}
left_alone:
  description: The namespaces left alone and why - C(namespace), C(reason) (for a waiver C(waived by <ticket> until
    <expires>)) and C(waiver) when one covers it.
  returned: success
  type: list
  elements: dict
expired_waivers:
  description: Expired waivers of this cluster; they protect nothing.
  returned: success
  type: list
  elements: dict
"""

import datetime


from ansible_collections.kubecompass.readiness.plugins.module_utils import _apply
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails import netpol, psa
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.tiers import namespace_tier
from ansible_collections.kubecompass.readiness.plugins.module_utils._runner import (
    NAMESPACE_SCOPE_ARGUMENT_SPEC,
    run_namespace_module,
)

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported
    quote = None

ENFORCE_KEYS = (psa.label("enforce"), psa.label("enforce", version=True))


def _name(namespace):
    return (namespace.get("metadata") or {}).get("name")


def _labels(namespace):
    return (namespace.get("metadata") or {}).get("labels") or {}


def check_params(params):
    """Validate what the planners would only reject per namespace; KubeCompassError (input) when malformed."""
    try:
        netpol.exclusion_patterns(params["excluded_namespaces"])
        netpol.staged_tiers(params["tiers"])
        psa.target_levels(params["levels"])
        if params["version"] is not None:
            psa.desired_labels(psa.LEVELS[0], params["version"])
    except ValueError as exc:
        raise KubeCompassError(str(exc), "input") from None


def pinned_version(client, version):
    """The version option, else the API server's minor version."""
    if version is not None:
        return version
    git_version = client.get("/version").get("gitVersion")
    try:
        return psa.version_for(git_version)
    except ValueError as exc:
        raise KubeCompassError("%s; set the version option" % exc, "input") from None


def dry_run_warnings(client, name, patch):
    """The Warning header values of a server-side dry run of the label patch (what kubectl label
    --dry-run=server --overwrite sends), each value on its own."""
    path = "/api/v1/namespaces/%s?dryRun=All" % quote(name, safe="")
    status, body, headers = client.request("PATCH", path, body={"metadata": {"labels": patch}},
                                           content_type="application/merge-patch+json")
    if status >= 300:
        raise client.status_error(status, body, path)
    return _apply.warnings_of(headers)


def label_object(namespace, labels):
    """The Namespace to apply: the labels kubecompass already owns through server-side apply, at their current
    values (left out, server-side apply would remove them), with the planned ones over them; nothing else. Labels
    others set (kubectl label) stay out, so kubecompass neither co-owns them nor, with force, takes them over."""
    current = _labels(namespace)
    wanted = {key: current[key] for key in sorted(_apply.owned_label_keys(namespace)) if key in current}
    wanted.update(labels)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": _name(namespace), "labels": wanted}}


def plan_namespace(client, namespace, params, version, waivers=()):
    """plan_pod_security for one namespace, with the dry run done only when the enforce label would change."""
    tier, _rule, error = namespace_tier(namespace, params["tier"])
    arguments = {"force": params["force_enforce"], "excluded": params["excluded_namespaces"],
                 "tiers": params["tiers"], "waivers": waivers}
    if error and not netpol.out_of_scope(namespace, params["excluded_namespaces"], psa.OPT_OUT_LABEL):
        return {"namespace": _name(namespace), "tier": None, "level": None, "labels": {}, "mode": "skip",
                "violators": [], "reason": error}
    plan = psa.plan_pod_security(namespace, tier, params["levels"], version, None, **arguments)
    if plan["mode"] in ("skip", "already"):
        return plan
    patch, _kept = psa.label_patch(_labels(namespace), plan["level"], version)
    if not any(key in patch for key in ENFORCE_KEYS):
        return plan
    warnings = dry_run_warnings(client, _name(namespace), patch)
    return psa.plan_pod_security(namespace, tier, params["levels"], version, warnings, **arguments)


def run(client, params, check_mode, today=None):
    check_params(params)
    active, expired = waiver_rules.for_remediation(
        params["waivers"], params["cluster_name"], today or datetime.datetime.now(datetime.timezone.utc).date())
    version = pinned_version(client, params["version"])
    namespaces = sorted(client.list("/api/v1/namespaces"), key=lambda item: _name(item) or "")
    results, errors, applied = [], {}, []
    for namespace in namespaces:
        name = _name(namespace)
        entry = {"namespace": name, "tier": None, "level": None, "labels": {}, "mode": "skip", "violators": [],
                 "reason": "", "action": None, "error": None}
        try:
            plan = plan_namespace(client, namespace, params, version, active)
            entry.update(plan)
            if plan["labels"]:
                # force: the object holds the planned labels and those kubecompass already owns, so only the
                # planned ones can be taken over from another field manager (kubectl label, for one).
                done = _apply.apply(client, label_object(namespace, plan["labels"]), check_mode, force=True,
                                    must_exist=True)
                applied.append(done)
                entry["action"] = done["action"]
        except KubeCompassError as exc:
            entry["error"] = errors[name] = _apply.failure_cause(client, name, exc)
        results.append(entry)
    return {"changed": any(done["action"] != "unchanged" for done in applied), "namespaces": results,
            "violators": {entry["namespace"]: entry["violators"] for entry in results if entry["violators"]},
            "version": version, "failed_namespaces": errors, "diff": _apply.diffs(applied),
            "changed_objects": _apply.changed_objects(applied),
            "left_alone": [dict({"namespace": e["namespace"], "reason": e["reason"]},
                                **({"waiver": e["waiver"]} if "waiver" in e else {}))
                           for e in results if e["mode"] == "skip" and not e["error"]],
            "expired_waivers": [waiver_rules.describe(w) for w in expired]}


def main():
    run_namespace_module("pod security", run, dict(
        NAMESPACE_SCOPE_ARGUMENT_SPEC,
        levels={"type": "dict"},
        version={"type": "str"},
        force_enforce={"type": "bool", "default": False},
    ))


if __name__ == "__main__":
    main()
