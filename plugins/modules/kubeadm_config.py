#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: kubeadm_config
short_description: Keep kubeadm's ClusterConfiguration in step with a change of the control-plane static pods
version_added: 0.1.0
description:
  - C(kubeadm upgrade) and C(kubeadm init phase control-plane) rebuild the kube-apiserver static pod manifests from
    the C(ClusterConfiguration) stored in the ConfigMap C(kube-system/kubeadm-config). A flag or volume added to
    the manifests by hand (or by M(kubecompass.readiness.static_pod_manifest)) is lost at the next upgrade unless
    it is there too. This module puts the same change into C(apiServer.extraArgs) and C(apiServer.extraVolumes)
    (C(controllerManager) or C(scheduler) for those components, see O(component)). A flag it sets that a
    C(v1beta4) list repeats ends as one entry.
  - Supports C(kubeadm.k8s.io/v1beta4) (C(extraArgs) as a list of C(name)/C(value)) and C(kubeadm.k8s.io/v1beta3)
    (C(extraArgs) as a map). Everything else in the ConfigMap and the document is kept; nothing is written when
    the configuration already has the change.
  - The update carries the C(resourceVersion) read; when someone else changed the ConfigMap meanwhile (409), it is
    read and planned again once.
  - Runs on the controller against the API server.
author:
  - KubeCompass contributors (@kubecompass)
options:
  component:
    description: The component whose section (C(apiServer), C(controllerManager), C(scheduler)) changes.
    type: str
    choices: [kube-apiserver, kube-controller-manager, kube-scheduler]
    default: kube-apiserver
  set_flags:
    description:
      - Flags (without the leading C(--)) and the values they must have, as for
        M(kubecompass.readiness.static_pod_manifest).
      - A value can be a list merge C({add, remove}) for comma-list flags such as C(enable-admission-plugins).
    type: dict
    default: {}
  remove_flags:
    description: API server flags that must not be set.
    type: list
    elements: str
    default: []
  volumes:
    description:
      - hostPath volumes the API server needs, each with C(name), C(host_path), C(mount_path), C(read_only) and
        C(type) (C(File), C(DirectoryOrCreate), ...), the same format as for
        M(kubecompass.readiness.static_pod_manifest).
    type: list
    elements: dict
    default: []
  base_flags:
    description:
      - The flags of the kube-apiserver manifest as they are now (for example the C(flags) of the component from
        M(kubecompass.readiness.cluster_info)).
      - List merges in O(set_flags) are resolved against them, so that the value stored includes kubeadm's own
        defaults (such as C(authorization-mode=Node,RBAC)); without them, against C(extraArgs).
    type: dict
  namespace:
    description: Namespace of the kubeadm ConfigMap.
    type: str
    default: kube-system
  name:
    description: Name of the kubeadm ConfigMap.
    type: str
    default: kubeadm-config
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.ACTION_GROUP
attributes:
  check_mode:
    support: full
    details:
      - Reads the ConfigMap, reports what would change and writes nothing.
  diff_mode:
    support: full
    details:
      - The diff is the ClusterConfiguration text before and after.
notes:
  - Fails with category C(not_kubeadm) when the ConfigMap does not exist (the cluster was not set up with
    kubeadm, or the ConfigMap was removed).
  - RBAC needed is C(get) and C(update) on the ConfigMap.
"""

EXAMPLES = r"""
- name: Keep the audit flags and volumes in kubeadm-config, so kubeadm upgrade keeps them
  kubecompass.readiness.kubeadm_config:
    set_flags:
      audit-policy-file: /etc/kubernetes/audit/policy.yaml
      audit-log-path: /var/log/kubernetes/audit/audit.log
      audit-log-maxage: "30"
    volumes:
      - name: audit-policy
        host_path: /etc/kubernetes/audit/policy.yaml
        mount_path: /etc/kubernetes/audit/policy.yaml
        read_only: true
        type: File
      - name: audit-log
        host_path: /var/log/kubernetes/audit
        mount_path: /var/log/kubernetes/audit
        read_only: false
        type: DirectoryOrCreate

- name: Add an admission plugin, keeping the ones the manifest already enables
  kubecompass.readiness.kubeadm_config:
    set_flags:
      enable-admission-plugins:
        add: [NodeRestriction, EventRateLimit]
    base_flags: "{{ (cluster.control_plane | selectattr('component', 'eq', 'kube-apiserver') | first).flags }}"

- name: Show what would change
  kubecompass.readiness.kubeadm_config:
    remove_flags: [profiling]
  check_mode: true
  diff: true
"""

RETURN = r"""
changed:
  description: Whether the ClusterConfiguration was (in check mode would be) updated.
  returned: always
  type: bool
  sample: true
changes:
  description: What changed, one line each.
  returned: always
  type: list
  elements: str
  sample: ["add --audit-log-maxage=30", "add extraVolume audit-log"]
api_version:
  description: apiVersion of the ClusterConfiguration.
  returned: always
  type: str
  sample: kubeadm.k8s.io/v1beta4
configmap:
  description: Namespace and name of the ConfigMap.
  returned: always
  type: dict
  sample: {"namespace": "kube-system", "name": "kubeadm-config"}
diff:
  description: The ClusterConfiguration text before and after.
  returned: in diff mode, when changed
  type: dict
  sample: {"before_header": "kube-system/kubeadm-config ClusterConfiguration", "before": "...", "after": "..."}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    auth_argument_spec,
    mask_credentials,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import kubeadm_config, static_pod
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import client_from_params
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import load_document


def argspec():
    spec = auth_argument_spec()
    spec.update(
        component={"type": "str", "default": "kube-apiserver", "choices": sorted(kubeadm_config.SECTIONS)},
        set_flags={"type": "dict", "default": {}},
        remove_flags={"type": "list", "elements": "str", "default": []},
        volumes={"type": "list", "elements": "dict", "default": []},
        base_flags={"type": "dict"},
        namespace={"type": "str", "default": "kube-system"},
        name={"type": "str", "default": "kubeadm-config"},
    )
    return spec


def _document(data):
    try:
        document = load_document((data or {}).get(kubeadm_config.DATA_KEY) or "")
    except ValueError:
        document = None
    return document if isinstance(document, dict) else {}


def _volumes(document, section="apiServer"):
    entries = (document.get(section) or {}).get("extraVolumes") or []
    return {entry.get("name"): entry for entry in entries if isinstance(entry, dict)}


def _count(document, section, name):
    args = (document.get(section) or {}).get("extraArgs")
    return sum(isinstance(e, dict) and e.get("name") == name for e in args) if isinstance(args, list) else 1


def describe_changes(before_data, after_data, component="kube-apiserver"):
    """One line per extraArg and extraVolume that differs between two versions of the ConfigMap data."""
    section = kubeadm_config.SECTIONS[component]
    before, after = _document(before_data), _document(after_data)
    old_args, new_args = kubeadm_config.extra_args(before, section), kubeadm_config.extra_args(after, section)
    lines = []
    for name in sorted(set(old_args) | set(new_args)):
        old, new = old_args.get(name), new_args.get(name)
        if old == new:
            if _count(before, section, name) != _count(after, section, name):
                lines.append("set --%s=%s (was repeated)" % (name, new))
            continue
        if old is None:
            lines.append("add --%s=%s" % (name, new))
        elif new is None:
            lines.append("remove --%s (was %s)" % (name, old))
        else:
            lines.append("set --%s=%s (was %s)" % (name, new, old))
    old_volumes, new_volumes = _volumes(before, section), _volumes(after, section)
    for name in sorted(set(old_volumes) | set(new_volumes), key=str):
        if name not in old_volumes:
            lines.append("add extraVolume %s" % name)
        elif name not in new_volumes:
            lines.append("remove extraVolume %s" % name)
        elif old_volumes[name] != new_volumes[name]:
            lines.append("replace extraVolume %s" % name)
    return lines


def plan(configmap, params):
    """What the ConfigMap must become: {"changed", "changes", "api_version", "before", "after", "body"}.

    ``before``/``after`` are the ClusterConfiguration texts; ``body`` is the ConfigMap to PUT (None when unchanged),
    with the resourceVersion it was read with. Pure; raises KubeCompassError.
    """
    try:
        static_pod.new_change(params["set_flags"], params["remove_flags"], params["volumes"])
    except ValueError as exc:
        raise KubeCompassError("invalid change: %s" % exc, "input") from None
    where = "%s/%s" % (params["namespace"], params["name"])
    data = configmap.get("data") or {}
    try:
        new_data, changed = kubeadm_config.plan_cluster_configuration(
            data, params["set_flags"], params["remove_flags"], params["volumes"], params.get("base_flags"),
            params.get("component") or "kube-apiserver")
    except ValueError as exc:
        raise KubeCompassError("cannot plan the change of %s: %s" % (where, exc), "kubeadm_config") from None
    before = data.get(kubeadm_config.DATA_KEY) or ""
    result = {"changed": changed,
              "changes": describe_changes(data, new_data, params.get("component") or "kube-apiserver")
              if changed else [],
              "api_version": _document(data).get("apiVersion"), "before": before,
              "after": new_data.get(kubeadm_config.DATA_KEY) or "", "body": None}
    if changed:
        body = dict(configmap)
        body["apiVersion"], body["kind"] = "v1", "ConfigMap"
        body["data"] = new_data
        result["body"] = body
    return result


def diff(params, planned):
    header = "%s/%s ClusterConfiguration" % (params["namespace"], params["name"])
    return {"before_header": header, "after_header": header, "before": planned["before"], "after": planned["after"]}


def _path(params):
    return "/api/v1/namespaces/%s/configmaps/%s" % (params["namespace"], params["name"])


def _read(client, params):
    try:
        return client.get(_path(params))
    except KubeCompassError as exc:
        if exc.category == "not_found":
            raise KubeCompassError(
                "the cluster has no ConfigMap %s/%s, so it was not set up with kubeadm or its kubeadm-config was "
                "removed" % (params["namespace"], params["name"]), "not_kubeadm", 404) from None
        raise


def _write(client, params, planned):
    status, answer, _headers = client.request("PUT", _path(params), body=planned["body"])
    return status, answer


def reconcile(client, params, check_mode):
    """Read, plan and (outside check mode) write the ConfigMap; the plan with ``changed`` and ``changes``.
    A 409 (someone else wrote the ConfigMap since it was read) makes it read and plan once more."""
    planned = plan(_read(client, params), params)
    if not planned["changed"] or check_mode:
        return planned
    status, answer = _write(client, params, planned)
    if status == 409:
        planned = plan(_read(client, params), params)
        if not planned["changed"]:
            return planned  # the other writer made the same change
        status, answer = _write(client, params, planned)
    if status < 300:
        return planned
    message = answer.get("message") if isinstance(answer, dict) else answer
    category = {401: "unauthorized", 403: "forbidden", 409: "conflict"}.get(status, "api")
    raise KubeCompassError("cannot update %s/%s: API error %s: %s"
                           % (params["namespace"], params["name"], status, message), category, status)


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    mask_credentials(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    try:
        planned = reconcile(client_from_params(module.params), module.params, module.check_mode)
    except KubeCompassError as exc:
        module.fail_json(msg=str(exc), category=exc.category)
    result = {"changed": planned["changed"], "changes": planned["changes"], "api_version": planned["api_version"],
              "configmap": {"namespace": module.params["namespace"], "name": module.params["name"]}}
    if module._diff and planned["changed"]:
        result["diff"] = diff(module.params, planned)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
