# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""RBAC: subjects as settings spell them, system subjects, admin-equivalent roles, risky rules, default bindings."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import object_meta, object_name


CLUSTER_ADMIN = "cluster-admin"
# ClusterRoleBindings Kubernetes and kubeadm create for the break-glass admin (system:masters, admin.conf).
DEFAULT_ADMIN_BINDINGS = ("cluster-admin", "kubeadm:cluster-admins")
# system: identities that stand for everyone or every service account: never an acceptable holder of power.
EVERYONE = ("system:anonymous", "system:authenticated", "system:unauthenticated", "system:serviceaccounts")
ANONYMOUS_SUBJECTS = (("User", "system:anonymous"), ("Group", "system:unauthenticated"))
# (binding kind, namespace, name): the bootstrap bindings that expose health/version and kubeadm's cluster-info.
DEFAULT_ANONYMOUS_BINDINGS = (
    ("ClusterRoleBinding", None, "system:public-info-viewer", "ClusterRole"),
    ("RoleBinding", "kube-public", "kubeadm:bootstrap-signer-clusterinfo", "Role"),
)
ESCALATING_VERBS = ("bind", "escalate", "impersonate")
# The user-facing default roles; the aggregated edit role carries impersonate on serviceaccounts by design.
DEFAULT_USER_ROLES = ("admin", "edit", "view")
SUBJECT_SETTING = re.compile(r"^(User|Group):(.+)$|^ServiceAccount:([^/]+)/(.+)$")


def subject_key(subject, binding_namespace):
    """'User:x', 'Group:x' or 'ServiceAccount:ns/name' (the form rbac_allowed_subjects uses)."""
    kind = subject.get("kind")
    name = subject.get("name") or ""
    if kind == "ServiceAccount":
        # RoleBinding subjects may omit the namespace: it is then the binding's own.
        return "ServiceAccount:%s/%s" % (subject.get("namespace") or binding_namespace, name)
    parts = name.split(":")
    if kind == "User" and len(parts) == 4 and name.startswith("system:serviceaccount:"):
        return "ServiceAccount:%s/%s" % (parts[2], parts[3])
    return "%s:%s" % (kind, name)


def system_subject(key):
    kind, name = key.split(":", 1)
    if kind == "ServiceAccount":
        return name.split("/", 1)[0] == "kube-system"
    if name in EVERYONE or (name.startswith("system:serviceaccounts:")
                            and name != "system:serviceaccounts:kube-system"):
        return False
    return name.startswith("system:")


def _full_wildcard(rule):
    return all("*" in (rule.get(field) or []) for field in ("apiGroups", "resources", "verbs"))


def admin_equivalent_roles(cluster_roles):
    """cluster-admin and every ClusterRole that grants all verbs on all resources in all groups."""
    return {CLUSTER_ADMIN} | {object_name(role) for role in cluster_roles
                              if any(_full_wildcard(rule) for rule in role.get("rules") or [])}


def rule_problems(rules):
    wildcards, verbs = set(), set()
    for rule in rules:
        wildcards.update(field for field in ("verbs", "resources", "apiGroups") if "*" in (rule.get(field) or []))
        verbs.update(verb for verb in rule.get("verbs") or [] if verb in ESCALATING_VERBS)
    problems = []
    if wildcards:
        problems.append("'*' in %s" % ", ".join(sorted(wildcards)))
    if verbs:
        problems.append("verbs %s" % ", ".join(sorted(verbs)))
    return problems


def exempt_role(kind, role):
    name = object_name(role) or ""
    if kind != "ClusterRole":
        return False
    if name == CLUSTER_ADMIN or name.startswith("system:"):
        return True
    labels = object_meta(role).get("labels") or {}
    return name in DEFAULT_USER_ROLES and labels.get("kubernetes.io/bootstrapping") == "rbac-defaults"


def default_anonymous_binding(kind, binding):
    ref = binding.get("roleRef") or {}
    return any(kind == d_kind and object_meta(binding).get("namespace") == d_ns and object_name(binding) == d_name
               and ref.get("kind") == ref_kind and ref.get("name") == d_name
               for d_kind, d_ns, d_name, ref_kind in DEFAULT_ANONYMOUS_BINDINGS)
