#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rbac_bindings
short_description: Report over-broad RBAC and remove the bindings you name, after a backup
version_added: 0.1.0
description:
  - Reports the RBAC reduction plan - bindings that give cluster-admin (or a full-wildcard ClusterRole) to subjects
    that are neither system subjects nor in O(allowed_subjects), Roles and ClusterRoles with C(*) or the C(bind),
    C(escalate) and C(impersonate) verbs, and bindings that reach C(system:anonymous) or
    C(system:unauthenticated). Each finding carries a suggested action.
  - Nothing is removed unless named in O(remove). A requested binding is refused when it does not exist, belongs to
    Kubernetes or kubeadm (bootstrap label, C(system:) or C(kubeadm:) names, the C(cluster-admin) binding), or
    grants something to the identity running the play (its user or one of its groups, from a SelfSubjectReview of
    C(authentication.k8s.io/v1), else C(v1beta1) or C(v1alpha1), so Kubernetes 1.26 or later) - removing it could
    cut the play off. When that identity cannot be read, every removal is refused.
  - Before the first delete, the bindings to remove are written to C(<backup_dir>/rbac-backup-<UTC timestamp>.yaml)
    (a C(v1) List that C(kubectl apply -f) restores), atomically and with mode 0600, on the host the module runs
    on (the controller, with a local connection).
  - Each binding is deleted with preconditions on its C(uid) and C(resourceVersion), so a binding changed since it
    was read is not deleted (reported in RV(failed)).
  - Check mode writes no backup and deletes nothing - the deletes are sent as server-side dry runs - and the diff
    shows each binding going away.
author:
  - KubeCompass contributors (@kubecompass)
options:
  allowed_subjects:
    description:
      - Subjects that may hold cluster-admin, as C(User:name), C(Group:name) or C(ServiceAccount:namespace/name),
        never reported (the assessment's C(rbac_allowed_subjects)).
    type: list
    elements: str
    default: []
  remove:
    description:
      - The bindings to remove; empty (the default) only reports.
    type: list
    elements: dict
    default: []
    suboptions:
      kind:
        description: The kind of binding.
        type: str
        required: true
        choices: [ClusterRoleBinding, RoleBinding]
      name:
        description: Its name.
        type: str
        required: true
      namespace:
        description: Its namespace (RoleBinding only).
        type: str
  backup_dir:
    description:
      - The directory for the backup file, created (mode 0700) when missing. Required when O(remove) is not empty.
    type: path
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.waiver_options
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.ACTION_GROUP
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Report what is over-broad, allowing the platform team's group
  kubecompass.readiness.rbac_bindings:
    kubeconfig: "{{ kubecompass_kubeconfig }}"
    allowed_subjects: ["Group:platform-admins"]
  register: rbac

- name: Remove two bindings, backed up on the controller first
  kubecompass.readiness.rbac_bindings:
    allowed_subjects: ["Group:platform-admins"]
    remove:
      - kind: ClusterRoleBinding
        name: dev-cluster-admin
      - kind: RoleBinding
        namespace: shop
        name: anonymous-reader
    backup_dir: "{{ playbook_dir }}/backups"
  delegate_to: localhost
"""

RETURN = r"""
changed_objects:
  description:
    - The bindings removed (in check mode, that would be removed) - C(object), C(action) C(deleted), C(before) (the
      C(sha256:) digest of the binding without server-set fields) and C(after) (null), for
      M(kubecompass.readiness.change_record).
  returned: always
  type: list
  elements: dict
  sample: [{"object": "ClusterRoleBinding dev-cluster-admin", "action": "deleted", "before": "sha256:9f2c...",
            "after": null}]
findings:
  description: The reduction plan.
  returned: success
  type: dict
  contains:
    cluster_admin:
      description: Bindings giving cluster-admin to non-system, non-allowed subjects (C(binding), C(kind),
        C(namespace), C(role), C(subjects), C(action)).
      type: list
      elements: dict
    wildcard_rules:
      description: Roles with C(*) or escalating verbs (C(role), C(kind), C(namespace), C(rules), C(problems),
        C(action)).
      type: list
      elements: dict
    anonymous:
      description: Bindings reaching anonymous or unauthenticated users (C(binding), C(kind), C(namespace), C(role),
        C(subjects), C(action)).
      type: list
      elements: dict
  sample:
    cluster_admin:
      - binding: dev-cluster-admin
        kind: ClusterRoleBinding
        namespace: null
        role: cluster-admin
        subjects: ["User:dev"]
        action: remove ClusterRoleBinding dev-cluster-admin (kubecompass backs it up first) and grant ...
    wildcard_rules: []
    anonymous: []
removed:
  description: The bindings removed (in check mode, that would be removed).
  returned: always
  type: list
  elements: str
  sample: ["ClusterRoleBinding dev-cluster-admin", "RoleBinding shop/anonymous-reader"]
refused:
  description:
    - Requested removals that were refused, or found deleted by someone else meanwhile, with the reason.
    - A binding an active waiver of KC-SEC-011 or KC-SEC-013 covers (O(waivers)) is refused with the reason
      C(waived by <ticket> until <expires>) and the C(waiver).
  returned: always
  type: list
  elements: dict
  sample:
    - binding: ClusterRoleBinding cluster-admin
      kind: ClusterRoleBinding
      name: cluster-admin
      namespace: null
      reason: default break-glass admin binding cluster-admin
expired_waivers:
  description: Expired waivers of this cluster; they protect nothing.
  returned: always
  type: list
  elements: dict
failed:
  description: Bindings whose delete failed (changed since read, forbidden), with the cause.
  returned: always
  type: dict
  sample: {"ClusterRoleBinding dev-cluster-admin": "changed since it was read (precondition failed); rerun"}
backup:
  description: The backup file written, null when nothing was removed or in check mode.
  returned: always
  type: str
  sample: /srv/ansible/backups/rbac-backup-20261122T031500Z.yaml
identity:
  description: The user and groups running the play (null when not read or unknown).
  returned: always
  type: dict
  sample: {"user": "kubernetes-admin", "groups": ["kubeadm:cluster-admins", "system:authenticated"]}
identity_error:
  description: Why the identity could not be read, else null.
  returned: always
  type: str
  sample: "forbidden - selfsubjectreviews.authentication.k8s.io is forbidden"
"""

import datetime
import os
import tempfile


from ansible_collections.kubecompass.readiness.plugins.module_utils import _apply
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._evidence import digest
from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails import rbac
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules
from ansible_collections.kubecompass.readiness.plugins.module_utils._runner import run_namespace_module

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    yaml = None

RBAC = "/apis/rbac.authorization.k8s.io/v1"
# SelfSubjectReview is GA (v1) in Kubernetes 1.28, v1beta1 in 1.27 and v1alpha1 (behind a feature gate) in 1.26:
# the first version the server serves answers.
REVIEW_VERSIONS = ("authentication.k8s.io/v1", "authentication.k8s.io/v1beta1", "authentication.k8s.io/v1alpha1")
REVIEW_PATH = "/apis/%s/selfsubjectreviews"
SELF_SUBJECT_REVIEWS = tuple(REVIEW_PATH % version for version in REVIEW_VERSIONS)
NOT_SERVED = ("SelfSubjectReview is not served by this API server (Kubernetes 1.26+ needed to identify the play's "
              "identity)")
BACKUP_PREFIX = "rbac-backup-"


def play_identity(client):
    """({user, groups}, None) of whoever the client authenticates as, or (None, why not). A 404 means this version
    of SelfSubjectReview is not served: the next older one is tried."""
    for version in REVIEW_VERSIONS:
        path = REVIEW_PATH % version
        review = {"apiVersion": version, "kind": "SelfSubjectReview"}
        try:
            status, body, _headers = client.request("POST", path, body=review)
        except KubeCompassError as exc:
            return None, str(exc)
        if status == 404:
            continue
        if status >= 300:
            return None, str(client.status_error(status, body, path))
        info = ((body or {}).get("status") or {}).get("userInfo") or {}
        if not info.get("username"):
            return None, "the SelfSubjectReview names no user"
        return {"user": info["username"], "groups": list(info.get("groups") or [])}, None
    return None, NOT_SERVED


def backup_path(directory, now):
    stamp = now.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(directory, "%s%s.yaml" % (BACKUP_PREFIX, stamp))
    index = 1
    while os.path.exists(path):
        path = os.path.join(directory, "%s%s-%d.yaml" % (BACKUP_PREFIX, stamp, index))
        index += 1
    return path


def write_backup(directory, bindings, now):
    """Write the backup document next to its final name, fsync it, then rename: the file is complete or absent.
    Mode 0600 (mkstemp); the directory is created 0700 when missing. Returns the path."""
    if yaml is None:
        raise KubeCompassError("the PyYAML Python package is required to write the backup", "dependency")
    text = yaml.safe_dump(rbac.backup_document(bindings, now), default_flow_style=False, sort_keys=False)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        path = backup_path(directory, now)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix="." + BACKUP_PREFIX, suffix=".tmp")
        try:
            with os.fdopen(handle, "w") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, 0o600)
            os.rename(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        directory_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
    except OSError as exc:
        raise KubeCompassError("cannot write the RBAC backup in %s: %s" % (directory, exc), "backup") from None
    return path


GONE = "deleted by someone else meanwhile"


def describe(binding):
    metadata = binding.get("metadata") or {}
    return rbac.describe_binding(binding["kind"], metadata.get("name"), metadata.get("namespace"))


def delete_binding(client, binding, dry_run):
    """None when deleted (or, dry run, deletable), else the cause (GONE when it no longer exists)."""
    metadata = binding.get("metadata") or {}
    path = _apply.object_path(binding)
    body = {"kind": "DeleteOptions", "apiVersion": "v1",
            "preconditions": {"uid": metadata.get("uid"), "resourceVersion": metadata.get("resourceVersion")}}
    if dry_run:
        # With a DeleteOptions body the API server ignores the query string: dryRun must be in the body, or the
        # "dry run" deletes for real.
        body["dryRun"] = ["All"]
    try:
        status, response, _headers = client.request("DELETE", path, body=body)
    except KubeCompassError as exc:
        return str(exc)
    if status < 300:
        return None
    if status == 409:
        return "changed since it was read (precondition failed), not deleted; rerun to decide again"
    if status == 404:
        return GONE
    return str(client.status_error(status, response, path))


def _diff(binding):
    name = describe(binding)
    return {"before_header": name, "after_header": name, "after": "",
            "before": yaml.safe_dump(rbac.restorable(binding), default_flow_style=False, sort_keys=False)
            if yaml is not None else str(rbac.restorable(binding))}


def run(client, params, check_mode, now=None):
    requested = params["remove"] or []
    if requested and not params["backup_dir"]:
        raise KubeCompassError("backup_dir is required when remove is not empty", "input")
    active, expired = waiver_rules.for_remediation(
        params["waivers"], params["cluster_name"], (now or datetime.datetime.now(datetime.timezone.utc)).date())
    cluster_roles = client.list(RBAC + "/clusterroles")
    cluster_role_bindings = client.list(RBAC + "/clusterrolebindings")
    roles = client.list(RBAC + "/roles")
    role_bindings = client.list(RBAC + "/rolebindings")
    findings = rbac.reduction_plan(cluster_roles, cluster_role_bindings, roles, role_bindings,
                                   params["allowed_subjects"])
    result = {"changed": False, "findings": findings, "removed": [], "refused": [], "failed": {}, "backup": None,
              "identity": None, "identity_error": None, "diff": [], "changed_objects": [],
              "expired_waivers": [waiver_rules.describe(w) for w in expired]}
    if not requested:
        return result
    identity, result["identity_error"] = play_identity(client)
    result["identity"] = identity
    plan = rbac.plan_removals(requested, cluster_role_bindings + role_bindings, identity, waivers=active)
    result["refused"] = plan["refused"]
    if not plan["remove"]:
        return result
    if not check_mode:
        result["backup"] = write_backup(params["backup_dir"], plan["remove"],
                                        now or datetime.datetime.now(datetime.timezone.utc))
    for binding in plan["remove"]:
        name = describe(binding)
        cause = delete_binding(client, binding, dry_run=check_mode)
        if cause is None:
            result["removed"].append(name)
            result["diff"].append(_diff(binding))
            result["changed_objects"].append({"object": name, "action": "deleted", "after": None,
                                              "before": digest(_apply.comparable(binding))})
        elif cause == GONE:
            metadata = binding.get("metadata") or {}
            result["refused"].append({"binding": name, "kind": binding["kind"], "name": metadata.get("name"),
                                      "namespace": metadata.get("namespace"), "reason": cause})
        else:
            result["failed"][name] = cause
    result["changed"] = bool(result["removed"])
    return result


def warnings(result):
    return ["not removed: %s: %s" % (refusal["binding"], refusal["reason"]) for refusal in result["refused"]]


def failure(result):
    if result["failed"]:
        return "%d binding(s) could not be removed (%s); the others were handled" % (
            len(result["failed"]), "; ".join("%s: %s" % item for item in sorted(result["failed"].items())))
    return None


def main():
    run_namespace_module("rbac bindings", run, {
        "allowed_subjects": {"type": "list", "elements": "str", "default": []},
        "remove": {"type": "list", "elements": "dict", "default": [], "options": {
            "kind": {"type": "str", "required": True, "choices": ["ClusterRoleBinding", "RoleBinding"]},
            "name": {"type": "str", "required": True},
            "namespace": {"type": "str"},
        }},
        "backup_dir": {"type": "path"},
    }, warnings=warnings, failure=failure)


if __name__ == "__main__":
    main()
