# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""API server audit logging: the default audit policy, its rendering, and the flags and hostPath volumes that
turn it on (control-plane.md 1.1). Pure functions."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import posixpath

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane.static_pod import (
    check_path,
    new_change,
    render_yaml,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.audit import (
    AUDIT_LEVELS,
    summarize_audit_policy,
)

API_VERSION = "audit.k8s.io/v1"
# CIS Kubernetes Benchmark 1.2.17-1.2.19 (kube-bench cis-1.9 to cis-1.12): flag, minimum, CIS id.
CIS_MINIMUMS = (("audit-log-maxage", 30, "1.2.17"), ("audit-log-maxbackup", 10, "1.2.18"),
                ("audit-log-maxsize", 100, "1.2.19"))
READ_VERBS = ("get", "list", "watch")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
# API groups whose writes change who may do what or what runs: logged with request and response bodies.
SECURITY_GROUPS = ("", "apps", "admissionregistration.k8s.io", "networking.k8s.io", "policy", "certificates.k8s.io")
OVERRIDE_KEYS = ("rules", "prepend_rules", "omit_stages", "allow_secret_bodies")
POLICY_VOLUME = "audit-policy"
LOG_VOLUME = "audit-log"
HEADER = "# Managed by kubecompass.readiness: local edits are overwritten by the next remediation.\n"

_CONTROL_PLANE_USERS = ["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver",
                        "system:serviceaccount:kube-system:endpoint-controller",
                        "system:serviceaccount:kube-system:endpointslice-controller"]
_SERVICE_DISCOVERY = [{"group": "", "resources": ["endpoints", "services", "services/status"]},
                      {"group": "discovery.k8s.io", "resources": ["endpointslices"]}]


def _rule(level, **fields):
    # Fields in the order people read them: who, what verb, where, on what.
    rule = {"level": level}
    for key in ("users", "userGroups", "verbs", "namespaces", "resources", "nonResourceURLs"):
        if fields.get(key):
            rule[key] = fields[key]
    return rule


def default_rules():
    """The default rules, first match wins (k8s.io/apiserver pkg/audit/policy/checker.go)."""
    return [
        # High-volume, read-only noise: probes, discovery of the version, metrics scrapes.
        _rule("None", nonResourceURLs=["/healthz*", "/livez*", "/readyz*", "/version*", "/metrics*"]),
        # kube-proxy, kubelets and the control plane watch service endpoints and nodes all the time.
        _rule("None", users=["system:kube-proxy"], verbs=list(READ_VERBS), resources=_SERVICE_DISCOVERY),
        _rule("None", userGroups=["system:nodes"], verbs=list(READ_VERBS),
              resources=[{"group": "", "resources": ["nodes", "nodes/status", "endpoints", "services"]},
                         {"group": "discovery.k8s.io", "resources": ["endpointslices"]}]),
        _rule("None", users=list(_CONTROL_PLANE_USERS), verbs=list(READ_VERBS),
              resources=[{"group": "", "resources": ["endpoints", "services", "services/status", "namespaces",
                                                     "namespaces/status"]},
                         {"group": "discovery.k8s.io", "resources": ["endpointslices"]}]),
        # Heartbeats and leader-election renewals: a write every 10 s per node, every 2 s per elected component.
        _rule("None", userGroups=["system:nodes"], verbs=["get", "update"],
              resources=[{"group": "coordination.k8s.io", "resources": ["leases"]}]),
        _rule("None", users=list(_CONTROL_PLANE_USERS), verbs=["get", "update"], namespaces=["kube-system"],
              resources=[{"group": "coordination.k8s.io", "resources": ["leases"]}]),
        _rule("None", verbs=list(READ_VERBS),
              resources=[{"group": "", "resources": ["events"]}, {"group": "events.k8s.io", "resources": ["events"]}]),
        # Bodies of these carry secret values or tokens: who touched what, never the content.
        _rule("Metadata", resources=[{"group": "", "resources": ["secrets", "configmaps", "serviceaccounts/token"]},
                                     {"group": "authentication.k8s.io", "resources": ["tokenreviews"]}]),
        # Status reports and events are frequent writes with no security meaning: recorded without bodies.
        _rule("Metadata", userGroups=["system:nodes"], verbs=["update", "patch"],
              resources=[{"group": "", "resources": ["nodes/status", "pods/status"]}]),
        _rule("Metadata", verbs=list(WRITE_VERBS),
              resources=[{"group": "", "resources": ["events"]}, {"group": "events.k8s.io", "resources": ["events"]}]),
        # Interactive access to workloads and nodes.
        _rule("RequestResponse", resources=[{"group": "", "resources": [
            "pods/exec", "pods/attach", "pods/portforward", "pods/proxy", "services/proxy", "nodes/proxy"]}]),
        # Security-relevant writes: permissions, workloads, admission, network, disruption policy, certificates.
        _rule("RequestResponse", verbs=list(WRITE_VERBS),
              resources=[{"group": "rbac.authorization.k8s.io"}] + [{"group": group} for group in SECURITY_GROUPS]),
        _rule("Request", verbs=list(WRITE_VERBS)),
        # Every other request (reads), without bodies.
        _rule("Metadata"),
    ]


def _check_rules(rules, what):
    if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
        raise ValueError("%s must be a list of audit policy rules (mappings)" % what)
    return [dict(rule) for rule in rules]


def default_policy(overrides=None):
    """An audit.k8s.io/v1 Policy: the default rules (default_rules), ``omitStages: [RequestReceived]``.

    ``overrides``: ``rules`` replaces the default rules, ``prepend_rules`` puts rules before them (first match
    wins, so they take precedence), ``omit_stages`` replaces the policy-wide omitStages. The result must be a valid
    policy, and Secrets must not be logged with bodies (Request or RequestResponse) unless
    ``allow_secret_bodies`` is true; otherwise ValueError says why.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if unknown:
        raise ValueError("unknown audit policy overrides: %s (known: %s)"
                         % (", ".join(unknown), ", ".join(OVERRIDE_KEYS)))
    rules = default_rules()
    if overrides.get("rules") is not None:
        rules = _check_rules(overrides["rules"], "rules")
    if overrides.get("prepend_rules"):
        rules = _check_rules(overrides["prepend_rules"], "prepend_rules") + rules
    omit_stages = overrides.get("omit_stages")
    policy = {"apiVersion": API_VERSION, "kind": "Policy",
              "omitStages": list(["RequestReceived"] if omit_stages is None else omit_stages), "rules": rules}
    summary = summarize_audit_policy(policy)
    if not summary["valid"]:
        raise ValueError("invalid audit policy: %s" % summary["error"])
    if summary["secrets_level"] in ("Request", "RequestResponse") and not overrides.get("allow_secret_bodies"):
        raise ValueError("the audit policy would log Secrets at %s, writing their values into the log; give them "
                         "Metadata (or set allow_secret_bodies)" % summary["secrets_level"])
    return policy


def render_policy(policy):
    """The policy file's content: a header line then YAML, the same text for the same policy."""
    return HEADER + render_yaml(policy)


# -- evaluating a request against a policy (checker.go semantics) ------------------------------------------------

def _path_matches(path, spec):
    return spec in ("*", path) or (spec.endswith("*") and path.startswith(spec.rstrip("*")))


def _resource_matches(rule, request):
    if request.get("path") is not None:
        return False
    if rule.get("namespaces") and (request.get("namespace") or "") not in rule["namespaces"]:
        return False
    if not rule.get("resources"):
        return True
    resource, subresource = request.get("resource") or "", request.get("subresource") or ""
    combined = resource + "/" + subresource if subresource else resource
    for group_resources in rule["resources"]:
        if group_resources.get("group", "") not in (request.get("group") or "", "*"):
            continue
        names = group_resources.get("resources") or []
        if not names:
            return True
        if group_resources.get("resourceNames") and request.get("name") not in group_resources["resourceNames"]:
            continue
        for name in names:
            if name in (combined, "*"):
                return True
            if subresource and name.startswith("*/") and name[2:] == subresource:
                return True
            if name.endswith("/*") and name[:-2] == resource:
                return True
    return False


def rule_matches(rule, request):
    """Whether a policy rule matches a request ``{"user", "groups", "verb", "group", "resource", "subresource",
    "namespace", "name"}`` (resource request) or ``{"user", "groups", "verb", "path"}`` (non-resource)."""
    if rule.get("users") and request.get("user") not in rule["users"]:
        return False
    if rule.get("userGroups") and not set(request.get("groups") or ()) & set(rule["userGroups"]):
        return False
    if rule.get("verbs") and request.get("verb") not in rule["verbs"]:
        return False
    if rule.get("namespaces") or rule.get("resources"):
        return _resource_matches(rule, request)
    if rule.get("nonResourceURLs"):
        return request.get("path") is not None and any(
            _path_matches(request["path"], spec) for spec in rule["nonResourceURLs"])
    return True


def request_level(policy, request):
    """The audit level a request gets: the first matching rule's, None when no rule matches. Lets a play predict
    that its own requests are logged, and tests pin what the default policy records."""
    for rule in policy.get("rules") or []:
        if rule_matches(rule, request):
            return rule.get("level")
    return AUDIT_LEVELS[0]


# -- flags and volumes ---------------------------------------------------------------------------------------------

def _count(flag, value):
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise ValueError("--%s=%r is not a whole number" % (flag, value))
    return int(value)


def audit_flags(policy_path, log_path, maxage=30, maxbackup=10, maxsize=100, policy=None, manifests_dir=None):
    """The change (see static_pod) that turns audit logging on: the policy and log flags with rotation at least
    the CIS minimums (below one: ValueError naming the flag), the policy file mounted read-only (type File) and
    the log directory read-write (DirectoryOrCreate), and the policy file itself when ``policy`` is given.

    Paths must be outside the directories kubelet reads as pods (``manifests_dir`` adds one to kubeadm's and
    RKE2's). ``maxbackup=0`` means unlimited to the API server but fails CIS 1.2.18, so it is refused like any value
    below 10. A log path of ``-`` (stdout) is refused: there is no file to rotate or to verify.
    """
    watched = [manifests_dir] if manifests_dir else []
    check_path("audit policy path", policy_path, watched)
    check_path("audit log path", log_path, watched)
    log_dir = posixpath.dirname(log_path)
    if log_dir == "/":
        raise ValueError("audit log path %s must be in a directory of its own, not /" % log_path)
    if policy_path.startswith(log_dir + "/"):
        raise ValueError("the audit policy %s must not be in the log directory %s, which is mounted writable"
                         % (policy_path, log_dir))
    values = {"audit-log-maxage": maxage, "audit-log-maxbackup": maxbackup, "audit-log-maxsize": maxsize}
    set_flags = {"audit-policy-file": policy_path, "audit-log-path": log_path}
    for flag, minimum, cis in CIS_MINIMUMS:
        value = _count(flag, values[flag])
        if value < minimum:
            raise ValueError("--%s=%d is below the CIS %s minimum of %d" % (flag, value, cis, minimum))
        set_flags[flag] = str(value)
    volumes = [
        {"name": POLICY_VOLUME, "host_path": policy_path, "mount_path": policy_path, "read_only": True,
         "type": "File"},
        {"name": LOG_VOLUME, "host_path": log_dir, "mount_path": log_dir, "read_only": False,
         "type": "DirectoryOrCreate"},
    ]
    files = []
    if policy is not None:
        files.append({"path": policy_path, "content": render_policy(policy), "mode": "0600", "secret": False})
    notes = ["create %s (mode 0700, root) before the API server restarts: DirectoryOrCreate would make it 0755"
             % log_dir]
    return new_change(set_flags, (), volumes, files, notes)
