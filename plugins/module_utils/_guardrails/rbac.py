# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""RBAC reduction: what the assessment flags (KC-SEC-011/012/013) as findings with a suggested action, which of
the bindings a user asked to remove may safely go, and a backup document that restores them.

Pure functions, no I/O. Nothing here decides on its own to remove a binding: removal is always a user's explicit
request, and a request is refused for system bindings, bindings that do not exist, and bindings that grant
something to the identity running the play (removing one could cut the play off mid-run).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
import datetime

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import (
    object_meta,
    object_name,
    object_namespace,
    qualified_name,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.rbac import (
    ANONYMOUS_SUBJECTS,
    DEFAULT_ADMIN_BINDINGS,
    ESCALATING_VERBS,
    SUBJECT_SETTING,
    admin_equivalent_roles,
    default_anonymous_binding,
    exempt_role,
    rule_problems,
    subject_key,
    system_subject,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules

RBAC_API = "rbac.authorization.k8s.io/v1"
BINDING_KINDS = ("ClusterRoleBinding", "RoleBinding")
# Same list as _apply.SERVER_FIELDS, plus the deletion markers of a binding caught while being deleted.
SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink",
                 "deletionTimestamp", "deletionGracePeriodSeconds")
BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")
BACKUP_ANNOTATION = "kubecompass.io/backed-up-at"


def binding_kind(binding):
    """The binding's kind; API list items carry none, so a namespaced one is a RoleBinding."""
    return binding.get("kind") or ("RoleBinding" if object_namespace(binding) else "ClusterRoleBinding")


def describe_binding(kind, name, namespace=None):
    return "%s %s/%s" % (kind, namespace, name) if kind == "RoleBinding" else "%s %s" % (kind, name)


def _sort_key(entry):
    return (entry["kind"], entry.get("namespace") or "", entry.get("binding") or entry.get("role") or "")


def parse_allowed_subjects(allowed_subjects):
    """The allowlist as a set of subject keys (User:name, Group:name, ServiceAccount:ns/name), as the assessment's
    rbac_allowed_subjects setting; a malformed entry raises KubeCompassError (category input)."""
    entries = list(allowed_subjects or ())
    for entry in entries:
        if not isinstance(entry, str) or not SUBJECT_SETTING.match(entry):
            raise KubeCompassError("allowed subject %r is not User:name, Group:name or ServiceAccount:ns/name"
                                   % (entry,), "input")
    return set(entries)


# -- findings ---------------------------------------------------------------------------------------------------------

def _tagged(kind, items):
    return [(kind, item) for item in items or []]


def _edit_target(kind, binding):
    if kind == "RoleBinding":
        return "rolebinding %s -n %s" % (object_name(binding), object_namespace(binding))
    return "clusterrolebinding %s" % object_name(binding)


def _admin_action(kind, binding, holders, kept):
    where = describe_binding(kind, object_name(binding), object_namespace(binding))
    if kind == "RoleBinding":
        return ("replace %s with a RoleBinding to ClusterRole admin or edit for %s (roleRef is immutable: back it up, "
                "delete it and create the new one), or allow the subjects when deliberate"
                % (where, ", ".join(holders)))
    if kept:
        return ("remove %s from the subjects of %s (kubectl edit %s) and grant them a narrower role, or allow "
                "them when deliberate" % (", ".join(holders), where, _edit_target(kind, binding)))
    return ("remove %s (kubecompass backs it up first) and grant %s a narrower role, e.g. a RoleBinding to "
            "ClusterRole edit per namespace, or allow them when deliberate" % (where, ", ".join(holders)))


def cluster_admin_findings(cluster_roles, cluster_role_bindings, role_bindings, allowed):
    """Bindings to cluster-admin or a full-wildcard ClusterRole that reach non-system, non-allowed subjects: the
    assessment's KC-SEC-011 rule (security_api.cluster_admin_subjects), with the subjects and an action."""
    admin_roles = admin_equivalent_roles(cluster_roles or [])
    findings = []
    tagged = _tagged("ClusterRoleBinding", cluster_role_bindings) + _tagged("RoleBinding", role_bindings)
    for kind, binding in tagged:
        ref = binding.get("roleRef") or {}
        if ref.get("kind") != "ClusterRole" or ref.get("name") not in admin_roles:
            continue
        name = object_name(binding)
        if kind == "ClusterRoleBinding" and (name in DEFAULT_ADMIN_BINDINGS or name.startswith("system:")):
            continue
        keys = [subject_key(s, object_namespace(binding)) for s in binding.get("subjects") or []]
        holders = [key for key in keys if not system_subject(key) and key not in allowed]
        if holders:
            findings.append({"binding": name, "kind": kind, "namespace": object_namespace(binding),
                             "role": ref.get("name"), "subjects": holders,
                             "action": _admin_action(kind, binding, holders, len(holders) < len(keys))})
    return sorted(findings, key=_sort_key)


def _wildcard_action(kind, role, problems):
    where = "%s %s" % (kind, qualified_name(role))
    steps = []
    if any(problem.startswith("'*'") for problem in problems):
        steps.append("replace '*' with the exact apiGroups, resources and verbs its holders use (kubectl auth "
                     "can-i --list --as=SUBJECT helps)")
    if any(problem.startswith("verbs") for problem in problems):
        steps.append("drop %s unless it is a platform role covered by a waiver" % "/".join(ESCALATING_VERBS))
    return "in %s, %s" % (where, "; ".join(steps))


def wildcard_findings(cluster_roles, roles):
    """Non-system Roles/ClusterRoles with '*' or bind/escalate/impersonate: the assessment's KC-SEC-012 rule
    (security_api.wildcard_rules), with the offending rules and an action."""
    findings = []
    for kind, role in _tagged("ClusterRole", cluster_roles) + _tagged("Role", roles):
        if exempt_role(kind, role):
            continue
        problems = rule_problems(role.get("rules") or [])
        if problems:
            rules = [copy.deepcopy(rule) for rule in role.get("rules") or [] if rule_problems([rule])]
            findings.append({"role": object_name(role), "kind": kind, "namespace": object_namespace(role),
                             "rules": rules, "problems": problems, "action": _wildcard_action(kind, role, problems)})
    return sorted(findings, key=_sort_key)


def anonymous_findings(cluster_role_bindings, role_bindings):
    """Bindings reaching system:anonymous or system:unauthenticated, except the two defaults: the assessment's
    KC-SEC-013 rule (security_api.anonymous_bindings), with the subjects and an action."""
    findings = []
    tagged = _tagged("ClusterRoleBinding", cluster_role_bindings) + _tagged("RoleBinding", role_bindings)
    for kind, binding in tagged:
        subjects = binding.get("subjects") or []
        anonymous = sorted({"%s %s" % (s.get("kind"), s.get("name")) for s in subjects
                            if (s.get("kind"), s.get("name")) in ANONYMOUS_SUBJECTS})
        if not anonymous or default_anonymous_binding(kind, binding):
            continue
        ref = binding.get("roleRef") or {}
        where = describe_binding(kind, object_name(binding), object_namespace(binding))
        if len(anonymous) == len(subjects):
            action = "remove %s (kubecompass backs it up first): it grants only unauthenticated access" % where
        else:
            action = "remove %s from the subjects of %s (kubectl edit %s)" % (
                " and ".join(anonymous), where, _edit_target(kind, binding))
        findings.append({"binding": object_name(binding), "kind": kind, "namespace": object_namespace(binding),
                         "role": "%s %s" % (ref.get("kind"), ref.get("name")), "subjects": anonymous,
                         "action": action})
    return sorted(findings, key=_sort_key)


def reduction_plan(cluster_roles, cluster_role_bindings, roles, role_bindings, allowed_subjects=()):
    """Findings of the RBAC reduction, from API list items::

        {"cluster_admin": [{"binding", "kind", "namespace", "role", "subjects", "action"}],
         "wildcard_rules": [{"role", "kind", "namespace", "rules", "problems", "action"}],
         "anonymous": [{"binding", "kind", "namespace", "role", "subjects", "action"}]}

    ``allowed_subjects``: entries like the assessment's rbac_allowed_subjects (User:x, Group:x,
    ServiceAccount:ns/name), never reported as cluster-admin holders. Each list is sorted by kind, namespace, name.
    """
    allowed = parse_allowed_subjects(allowed_subjects)
    return {
        "cluster_admin": cluster_admin_findings(cluster_roles, cluster_role_bindings, role_bindings, allowed),
        "wildcard_rules": wildcard_findings(cluster_roles, roles),
        "anonymous": anonymous_findings(cluster_role_bindings, role_bindings),
    }


# -- removals ---------------------------------------------------------------------------------------------------------

def system_binding_reason(kind, binding):
    """Why a binding belongs to Kubernetes or kubeadm and must stay, or None."""
    name = object_name(binding) or ""
    labels = object_meta(binding).get("labels") or {}
    if labels.get(BOOTSTRAP_LABEL[0]) == BOOTSTRAP_LABEL[1]:
        return "bootstrap RBAC default (label %s=%s)" % BOOTSTRAP_LABEL
    if name.startswith("system:"):
        return "system binding (name starts with system:)"
    if name.startswith("kubeadm:"):
        return "kubeadm binding (name starts with kubeadm:)"
    if kind == "ClusterRoleBinding" and name in DEFAULT_ADMIN_BINDINGS:
        return "default break-glass admin binding %s" % name
    return None


def identity_keys(play_identity):
    """Subject keys of the play's identity ({user or username, groups}, as a SelfSubjectReview's userInfo), or
    None when no user is known. A service account's user name maps to ServiceAccount:ns/name."""
    identity = play_identity or {}
    user = identity.get("user") or identity.get("username")
    if not user:
        return None
    keys = {subject_key({"kind": "User", "name": user}, None)}
    keys.update("Group:%s" % group for group in identity.get("groups") or [])
    return keys


def _identity_subjects(binding, keys):
    return sorted({key for key in (subject_key(s, object_namespace(binding)) for s in binding.get("subjects") or [])
                   if key in keys})


def _request_key(request):
    """(kind, namespace, name) of a removal request, or (None, reason) when it is malformed."""
    if not isinstance(request, dict):
        return None, "a request is a mapping with kind, name and (for a RoleBinding) namespace"
    kind, name, namespace = request.get("kind"), request.get("name"), request.get("namespace")
    if kind not in BINDING_KINDS:
        return None, "kind %r is not ClusterRoleBinding or RoleBinding" % (kind,)
    if not name or not isinstance(name, str):
        return None, "no name"
    if kind == "RoleBinding" and not namespace:
        return None, "a RoleBinding request needs a namespace"
    return (kind, namespace if kind == "RoleBinding" else None, name), None


def _normalized(kind, binding):
    item = copy.deepcopy(binding)
    item["apiVersion"] = RBAC_API
    item["kind"] = kind
    return item


# The assessment checks a binding removal fixes (cluster-admin, anonymous access): an active waiver of either that
# covers a binding keeps it.
REMOVAL_CHECKS = ("KC-SEC-011", "KC-SEC-013")


def plan_removals(requested, bindings, play_identity, system_check=True, waivers=()):
    """Which requested bindings may be removed: ``{"remove": [binding], "refused": [{"binding", "kind", "name",
    "namespace", "reason"}]}``.

    ``requested``: [{kind: ClusterRoleBinding|RoleBinding, name, namespace (RoleBinding)}]. ``bindings``: the
    ClusterRoleBinding and RoleBinding items of the cluster. ``play_identity``: {user, groups} of whoever runs the
    play. ``system_check``: True refuses system bindings as system_binding_reason() decides, a callable
    ``(kind, binding) -> reason or None`` replaces that rule, False turns it off.

    Refused, in this order: malformed requests, bindings not found, bindings an active waiver (``waivers``, as
    waivers.for_remediation returns them) of REMOVAL_CHECKS covers - reason "waived by <ticket> until <expires>",
    with the waiver -, system bindings, and bindings whose subjects include the play's user or one of its groups
    (all of them when the identity is unknown). Removed bindings are
    returned whole with apiVersion and kind set, ready for backup_document() and deletion; duplicates collapse.
    """
    if system_check is True:
        system_check = system_binding_reason
    keys = identity_keys(play_identity)
    index = {}
    for binding in bindings or []:
        kind = binding_kind(binding)
        index[(kind, object_namespace(binding) if kind == "RoleBinding" else None, object_name(binding))] = binding
    remove, refused, seen = [], [], set()
    for request in requested or []:
        key, problem = _request_key(request)
        if key is None:
            refused.append({"binding": repr(request), "kind": None, "name": None, "namespace": None,
                            "reason": "invalid request: %s" % problem})
            continue
        if key in seen:
            continue
        seen.add(key)
        kind, namespace, name = key
        entry = {"binding": describe_binding(kind, name, namespace), "kind": kind, "name": name,
                 "namespace": namespace}
        binding = index.get(key)
        reason = None
        waiver = next((w for w in (waiver_rules.covering(waivers, check, {"kind": kind, "name": name,
                                                                          "namespace": namespace})
                                   for check in REMOVAL_CHECKS) if w is not None), None)
        if binding is None:
            reason = "not found"
        elif waiver is not None:
            reason = waiver_rules.left_alone_reason(waiver)
            entry["waiver"] = waiver_rules.describe(waiver)
        elif system_check:
            reason = system_check(kind, binding)
        if reason is None and keys is None:
            reason = "the identity running the play is unknown, so removing it could cut the play off"
        elif reason is None:
            own = _identity_subjects(binding, keys)
            if own:
                reason = "its subjects include the identity running the play (%s); removing it would cut the " \
                         "play off" % ", ".join(own)
        if reason is None:
            remove.append(_normalized(kind, binding))
        else:
            refused.append(dict(entry, reason=reason))
    return {"remove": remove, "refused": refused}


# -- backup -----------------------------------------------------------------------------------------------------------

def _timestamp(now):
    if isinstance(now, datetime.datetime):
        if now.tzinfo is None:
            now = now.replace(tzinfo=datetime.timezone.utc)
        return now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(now)


def restorable(binding, now=None):
    """A copy of one binding that ``kubectl apply`` can create again: apiVersion/kind set, server-set metadata and
    status dropped, and (when ``now`` is given) the backup time as annotation kubecompass.io/backed-up-at."""
    item = _normalized(binding_kind(binding), binding)
    item.pop("status", None)
    metadata = item.setdefault("metadata", {})
    for field in SERVER_FIELDS:
        metadata.pop(field, None)
    if now is not None:
        annotations = dict(metadata.get("annotations") or {})
        annotations[BACKUP_ANNOTATION] = _timestamp(now)
        metadata["annotations"] = annotations
    return item


def backup_document(bindings, now):
    """A ``v1 List`` of the bindings, YAML-ready, that ``kubectl apply -f`` restores; ``now`` (datetime or
    RFC 3339 string) is recorded on each item as annotation kubecompass.io/backed-up-at."""
    return {"apiVersion": "v1", "kind": "List", "metadata": {},
            "items": [restorable(binding, now) for binding in bindings or []]}
