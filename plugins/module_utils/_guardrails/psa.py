# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Pod Security Admission labels: the label patch a namespace needs, the warnings of its server-side dry run, and
the plan per namespace (api-checks.md section 4). Pure functions.

Flow: ``label_patch`` gives the labels to dry-run (PATCH the namespace with dryRun=All); the HTTP ``Warning``
header values of that response go to ``plan_pod_security``, which says what to really apply. PodSecurity evaluates
the existing pods only when the enforce level or version tightens, and a label change never evicts a pod: when pods
would violate, only audit and warn are set (unless forced), so the violations are reported instead of new pods of
the same workloads being rejected later. Existing stricter levels are never lowered.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import email.errors
import email.header
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails.netpol import (
    out_of_scope,
    staged_tiers,
    waiver_note,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.psa import PSA_LEVELS, psa_targets
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.versions import minor_version
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import TIERS

LEVELS = PSA_LEVELS
MODES = ("enforce", "audit", "warn")
LABEL_PREFIX = "pod-security.kubernetes.io/"
OPT_OUT_LABEL = "kubecompass.io/pod-security"
# The assessment check this remediation fixes: its active waivers leave a namespace alone.
CHECK_ID = "KC-SEC-017"
LATEST = "latest"
# Only code 299 ("miscellaneous persistent warning") carries apiserver warnings; client-go shows nothing else.
WARNING_CODE = 299

_VERSION_LABEL = re.compile(r"^v1\.(0|[1-9][0-9]*)$")
_WARNING_START = re.compile(r'(\d{3})[ \t]+([^\s"]+)[ \t]+"')
# Messages of k8s.io/pod-security-admission admission.go EvaluatePodsInNamespace / decoratePodWarnings.
_EXISTING = re.compile(r'^existing pods in namespace "(?P<namespace>[^"]*)" violate the new PodSecurity enforce '
                       r'level "(?P<level>[^"]*)"$')
_CHECKED = re.compile(r"^new PodSecurity enforce level only checked against the first (?P<checked>\d+) of "
                      r"(?P<total>\d+) existing pods$")
_LIST_FAILED = "failed to list pods while checking new PodSecurity enforce level"
_POD = re.compile(r"^(?P<pod>[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)(?: \(and (?P<others>\d+) other pods?\))?: "
                  r"(?P<reasons>.+)$")


def label(mode, version=False):
    """pod-security.kubernetes.io/<mode>, or its -version label."""
    return "%s%s%s" % (LABEL_PREFIX, mode, "-version" if version else "")


def _check_level(level):
    if level not in LEVELS:
        raise ValueError("%r is not a Pod Security level (expected one of %s)" % (level, ", ".join(LEVELS)))
    return level


def _check_version(version):
    if version != LATEST and not (isinstance(version, str) and _VERSION_LABEL.match(version)):
        raise ValueError("Pod Security version %r is not 'latest' or v1.<minor>" % (version,))
    return version


def version_for(server_git_version):
    """The Pod Security version to pin for an API server version: "v1.36" from "v1.36.3" (or "v1.36.3+k3s1")."""
    minor = minor_version(server_git_version)
    if minor is None:
        raise ValueError("server version %r is not a Kubernetes version: cannot pin a Pod Security version"
                         % (server_git_version,))
    return "v%d.%d" % minor


def desired_labels(level, version):
    """The six labels: enforce, audit and warn at ``level``, each with its -version label at ``version``."""
    _check_level(level)
    _check_version(version)
    labels = {}
    for mode in MODES:
        labels[label(mode)] = level
        labels[label(mode, version=True)] = version
    return labels


def target_levels(levels_by_tier=None):
    """tier -> level: the assessment's defaults (DEFAULT_PSA_LEVELS) with ``levels_by_tier`` merged in, validated
    exactly as the assessment validates its psa_levels setting; ValueError when malformed."""
    targets, error = psa_targets(levels_by_tier)
    if error:
        raise ValueError(error)
    return targets


# -- label patch -------------------------------------------------------------------------------------------------------

def _newer(current, wanted):
    """Whether a pinned current version is newer than the wanted one (so replacing it would loosen)."""
    if current in (None, LATEST) or wanted == LATEST:
        return False
    current_minor, wanted_minor = minor_version(current), minor_version(wanted)
    return current_minor is not None and wanted_minor is not None and current_minor > wanted_minor


def label_patch(labels, level, version, modes=MODES):
    """(patch, kept): the labels to set so each mode is at least ``level`` pinned at ``version``.

    A mode already stricter than ``level``, or at ``level`` with a newer pinned version, is kept (and named in
    ``kept``); a mode at ``level`` and ``version`` needs nothing; anything else (absent, weaker, invalid, other
    version) is set. ``patch`` is what the dry run and the real PATCH send.
    """
    _check_level(level)
    _check_version(version)
    labels = labels or {}
    patch, kept = {}, []
    for mode in modes:
        current = labels.get(label(mode))
        current_version = labels.get(label(mode, version=True))
        if current in LEVELS and LEVELS.index(current) > LEVELS.index(level):
            kept.append("%s=%s is stricter than %s: kept" % (mode, current, level))
            continue
        if current == level and _newer(current_version, version):
            kept.append("%s-version=%s is newer than %s: kept" % (mode, current_version, version))
            continue
        if current == level and current_version == version:
            continue
        patch[label(mode)] = level
        patch[label(mode, version=True)] = version
    return patch, kept


# -- dry-run warnings --------------------------------------------------------------------------------------------------

def _quoted(value, start):
    """(text, index after the closing quote) of a quoted-string whose opening quote ends before ``start``;
    (None, None) when unterminated. A backslash quotes the next character (RFC 7230 quoted-pair)."""
    chars = []
    index = start
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            chars.append(value[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(chars), index + 1
        chars.append(char)
        index += 1
    return None, None


def _decode(text):
    """RFC 2047 encoded-words, which RFC 2616-era servers used, decoded as client-go does; else the text as is."""
    if "=?" not in text:
        return text
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return text


def split_warning_header(value):
    """([(code, agent, text)], unparsed remainder or None) of one Warning header value.

    RFC 7234 5.5: ``warn-code SP warn-agent SP warn-text [SP warn-date]``, several separated by commas; warn-text
    and warn-date are quoted-strings, so commas and escaped quotes inside them do not split.
    """
    warnings = []
    rest = (value or "").lstrip(" \t,")
    while rest:
        match = _WARNING_START.match(rest)
        if not match:
            return warnings, rest
        text, end = _quoted(rest, match.end())
        if text is None:
            return warnings, rest
        tail = rest[end:].lstrip(" \t")
        if tail.startswith('"'):
            date_end = tail.find('"', 1)
            if date_end < 0:
                return warnings, rest
            tail = tail[date_end + 1:].lstrip(" \t")
        if tail and not tail.startswith(","):
            return warnings, rest
        warnings.append((int(match.group(1)), match.group(2), _decode(text)))
        rest = tail.lstrip(" \t,")
    return warnings, None


def parse_warnings(headers):
    """What the Warning header values of a dry-run namespace PATCH say about the existing pods.

    {violations, pods: [{pod, others, reasons}], truncated, messages, namespace, level, checked, total, unparsed}:
    ``messages`` are the texts of every 299 warning, unescaped, in order; ``violations`` is True when PodSecurity
    reported existing pods violating the new enforce level; ``pods`` are its per-pod lines (the first pod of each
    group, ``others`` more pods with the same reasons); ``truncated`` is True when it checked only ``checked`` of
    ``total`` pods or could not list them; ``unparsed`` holds header text that is not RFC 7234 warnings.
    """
    if isinstance(headers, str):
        headers = [headers]
    messages, unparsed = [], []
    for value in headers or []:
        warnings, rest = split_warning_header(value)
        messages.extend(text for code, agent, text in warnings if code == WARNING_CODE)
        if rest:
            unparsed.append(rest)
    result = {"violations": False, "pods": [], "truncated": False, "messages": messages, "namespace": None,
              "level": None, "checked": None, "total": None, "unparsed": unparsed}
    candidates = []
    for message in messages:
        existing, checked = _EXISTING.match(message), _CHECKED.match(message)
        if existing:
            result.update(violations=True, namespace=existing.group("namespace"), level=existing.group("level"))
        elif checked:
            result.update(truncated=True, checked=int(checked.group("checked")), total=int(checked.group("total")))
        elif message == _LIST_FAILED:
            result["truncated"] = True
        else:
            candidates.append(message)
    if result["violations"]:
        # Pod lines only come with the 'existing pods ... violate' message: anything else is another warning.
        for message in candidates:
            match = _POD.match(message)
            if match:
                result["pods"].append({"pod": match.group("pod"), "others": int(match.group("others") or 0),
                                       "reasons": [r.strip() for r in match.group("reasons").split(", ")
                                                   if r.strip()]})
    return result


def _describe(pod):
    others = " and %d other(s)" % pod["others"] if pod["others"] else ""
    return "%s%s: %s" % (pod["pod"], others, ", ".join(pod["reasons"]))


def _pod_count(pods):
    return sum(1 + pod["others"] for pod in pods)


def _blocked(parsed):
    """Why enforcing is not known to be safe from the dry run, or None."""
    if parsed is None:
        return "no server-side dry run result"
    reasons = []
    if parsed["violations"]:
        pods = parsed["pods"]
        text = "%d existing pod(s) would violate %s" % (_pod_count(pods), parsed["level"] or "the new enforce level")
        if pods:
            text += " (%s%s)" % ("; ".join(_describe(pod) for pod in pods[:5]),
                                 "; ... %d more group(s)" % (len(pods) - 5) if len(pods) > 5 else "")
        reasons.append(text)
    if parsed["truncated"]:
        reasons.append("the dry run checked only %d of %d existing pods" % (parsed["checked"], parsed["total"])
                       if parsed["checked"] is not None else "the dry run could not list the existing pods")
    if parsed["unparsed"]:
        reasons.append("Warning header not understood: %r" % parsed["unparsed"][0])
    return "; ".join(reasons) or None


# -- plan --------------------------------------------------------------------------------------------------------------

def _with(reason, kept):
    return "; ".join([reason] + kept)


def plan_pod_security(namespace_obj, tier, levels_by_tier, version, dry_run_warnings, force=False, excluded=None,
                      opt_out_label=OPT_OUT_LABEL, tiers=None, waivers=()):
    """What to label one namespace with: {namespace, tier, level, labels, mode, violators, reason}.

    ``tier`` is the namespace's tier (tiers.namespace_tier); ``levels_by_tier`` overrides the default level per tier
    (None for the defaults); ``version`` the version to pin (version_for the server); ``dry_run_warnings`` the
    Warning header values (or a parse_warnings result) of a dryRun=All PATCH of ``label_patch`` for this namespace:
    [] when it returned none, None when it was not done. ``excluded`` and ``opt_out_label`` scope as in
    netpol.out_of_scope; ``tiers`` limits the tiers remediated now (None for all); ``waivers`` are the cluster's
    active waivers: a namespace they cover for KC-SEC-017 is skipped, the reason naming the ticket and end date.

    ``mode``: "skip" (out of scope, unknown or unstaged tier: no labels); "already" (nothing to change);
    "enforce" (``labels`` brings enforce, audit and warn up to the level, or only audit/warn when enforce is already
    there or stricter); "audit_warn_only" (existing pods would violate, or the dry run is missing or incomplete, and
    not ``force``: ``labels`` sets only audit and warn, the enforce label stays as it is). ``violators`` are the pod
    lines of the dry run when enforcing was considered.
    """
    targets = target_levels(levels_by_tier)
    _check_version(version)
    staged = staged_tiers(tiers)
    labels = (namespace_obj.get("metadata") or {}).get("labels") or {}
    result = {"namespace": (namespace_obj.get("metadata") or {}).get("name"), "tier": tier, "level": None,
              "labels": {}, "mode": "skip", "violators": [], "reason": ""}
    reason = out_of_scope(namespace_obj, excluded, opt_out_label)
    if reason:
        result["reason"] = reason
        return result
    waived = waiver_note(waivers, CHECK_ID, result["namespace"])
    if waived:
        result["reason"], result["waiver"] = waived
        return result
    if tier not in TIERS:
        result["reason"] = "tier %r is not a tier (expected one of %s)" % (tier, ", ".join(TIERS))
        return result
    if tier not in staged:
        result["reason"] = "tier %s is not staged (staged: %s)" % (tier, ", ".join(sorted(staged)) or "none")
        return result
    level = result["level"] = targets[tier]
    patch, kept = label_patch(labels, level, version)
    if not patch:
        result["mode"] = "already"
        result["reason"] = _with("enforce, audit and warn at %s or stricter (tier %s)" % (level, tier), kept)
        return result
    enforce_keys = (label("enforce"), label("enforce", version=True))
    if not any(key in patch for key in enforce_keys):
        result.update(mode="enforce", labels=patch)
        result["reason"] = _with("enforce already at %s or stricter; sets %s" % (
            level, ", ".join(mode for mode in MODES[1:] if label(mode) in patch)), kept)
        return result
    parsed = dry_run_warnings if isinstance(dry_run_warnings, dict) or dry_run_warnings is None else (
        parse_warnings(dry_run_warnings))
    if parsed is not None:
        result["violators"] = list(parsed["pods"])
    blocked = _blocked(parsed)
    if blocked and not force:
        audit_warn = {key: value for key, value in patch.items() if key not in enforce_keys}
        result.update(mode="audit_warn_only", labels=audit_warn)
        result["reason"] = _with("enforce=%s:%s not applied: %s; %s (enforce label unchanged: %s)" % (
            level, version, blocked,
            "sets audit and warn only" if audit_warn else "audit and warn already in place",
            labels.get(label("enforce")) or "absent"), kept)
        return result
    result.update(mode="enforce", labels=patch)
    if blocked:
        result["reason"] = _with("enforce=%s:%s forced: %s (running pods keep running; new ones that violate are "
                                 "rejected)" % (level, version, blocked), kept)
    else:
        result["reason"] = _with("enforce=%s:%s: the dry run found no violating pods" % (level, version), kept)
    return result
