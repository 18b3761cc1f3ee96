#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: control_plane_members
short_description: Prove that the inventory lists every control-plane node of a cluster
version_added: 0.1.0
description:
  - Compares the inventory's control-plane nodes (O(nodes), from M(kubecompass.readiness.control_plane_identity))
    with what the cluster says runs - the C(default/kubernetes) EndpointSlice, the C(kube-apiserver-*) mirror pods
    in C(kube-system) (k3s has none - its Nodes labelled C(node-role.kubernetes.io/control-plane) instead) and the
    etcd member list (O(etcd)) - and fails, naming the cluster and both lists, when any of them differs.
  - A source that cannot be read (forbidden, etcd unreachable) fails too, with its cause, unless it is listed in
    O(allow_unreadable) - an unknown membership never counts as complete.
  - Read-only.
author:
  - KubeCompass contributors (@kubecompass)
options:
  cluster_name:
    description: The cluster's name in messages (its inventory host).
    type: str
    required: true
  distribution:
    description: The cluster's distribution (k3s runs the API server without a mirror pod).
    type: str
    choices: [kubeadm, rke2, k3s]
    default: kubeadm
  nodes:
    description:
      - The inventory's control-plane nodes, each RV(kubecompass.readiness.control_plane_identity#module:identity)
        (C(name), C(names), C(addresses)).
    type: list
    elements: dict
    required: true
  etcd:
    description:
      - RV(kubecompass.readiness.control_plane_identity#module:etcd) of one node, read with C(list_etcd_members).
    type: dict
    required: true
  allow_unreadable:
    description:
      - Sources that may be unreadable without failing (C(endpointslice), C(apiserver_pods),
        C(control_plane_nodes), C(etcd_members)). A source that is read and differs always fails.
    type: list
    elements: str
    choices: [endpointslice, apiserver_pods, control_plane_nodes, etcd_members]
    default: []
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.ACTION_GROUP
  - kubecompass.readiness.attributes.INFO_MODULE
"""

EXAMPLES = r"""
- name: The inventory lists every control-plane node
  kubecompass.readiness.control_plane_members:
    kubeconfig: "{{ kubecompass_kubeconfig }}"
    cluster_name: "{{ inventory_hostname }}"
    nodes: "{{ identities.results | map(attribute='identity') | list }}"
    etcd: "{{ identities.results[0].etcd }}"
  delegate_to: localhost
"""

RETURN = r"""
sources:
  description: Every source read, with what it shows (C(cluster)) and what differs (C(not_in_inventory), C(not_in_cluster)).
  returned: always
  type: list
  elements: dict
  sample: [{"source": "endpointslice", "description": "EndpointSlice default/kubernetes",
            "cluster": ["198.51.100.1", "198.51.100.2", "198.51.100.3"], "not_in_inventory": ["198.51.100.3"],
            "not_in_cluster": []}]
differences:
  description: The sources that differ from the inventory (the entries of RV(sources) with a difference).
  returned: always
  type: list
  elements: dict
unreadable:
  description: Sources that could not be read, each with its C(cause) and whether O(allow_unreadable) allows it.
  returned: always
  type: list
  elements: dict
skipped:
  description: Sources that do not apply to this cluster (external etcd, kine), each with the C(reason).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import auth_argument_spec, mask_credentials
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import membership
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import client_from_params
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SELF_MANAGED


def read_sources(client, distribution, etcd):
    """Each source's entries, ``{"error": cause}`` or ``{"not_applicable": why}``. A connection failure ends the
    run (nothing can be judged); a refused read makes only that source unreadable."""
    def read(entries, fetch):
        try:
            return entries(fetch())
        except KubeCompassError as exc:
            if exc.category in ("unreachable", "tls", "timeout", "unauthorized"):
                raise
            return {"error": str(exc)}

    sources = {membership.ENDPOINTSLICE: read(membership.endpointslice_entries, lambda: client.list(
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
        {"labelSelector": "kubernetes.io/service-name=kubernetes"}))}
    if distribution == "k3s":
        sources[membership.CONTROL_PLANE_NODES] = read(membership.control_plane_node_entries, lambda: client.list(
            "/api/v1/nodes", {"labelSelector": membership.CONTROL_PLANE_ROLE}))
    else:
        sources[membership.APISERVER_PODS] = read(membership.apiserver_pod_entries, lambda: client.list(
            "/api/v1/namespaces/kube-system/pods"))
    if etcd.get("not_applicable"):
        sources[membership.ETCD_MEMBERS] = {"not_applicable": etcd["not_applicable"]}
    elif etcd.get("members"):
        sources[membership.ETCD_MEMBERS] = membership.etcd_member_entries(etcd["members"])
    else:
        sources[membership.ETCD_MEMBERS] = {"error": etcd.get("error") or "the member list was not read"}
    return sources


def main():
    spec = auth_argument_spec()
    spec.update(
        cluster_name={"type": "str", "required": True},
        distribution={"type": "str", "default": "kubeadm", "choices": list(SELF_MANAGED)},
        nodes={"type": "list", "elements": "dict", "required": True},
        etcd={"type": "dict", "required": True},
        allow_unreadable={"type": "list", "elements": "str", "default": [],
                          "choices": list(membership.SOURCES)},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    mask_credentials(module)
    params = module.params
    nodes = params["nodes"]
    if not nodes or not all(isinstance(node.get("name"), str) and node["name"] for node in nodes):
        module.fail_json(msg="%s: nodes must list the inventory's control-plane nodes, each with a name (got %d)"
                         % (params["cluster_name"], len(nodes)), category="input")
    try:
        client = client_from_params(params)
        sources = read_sources(client, params["distribution"], params["etcd"])
    except KubeCompassError as exc:
        module.fail_json(msg="%s: cannot read the control-plane membership: %s" % (params["cluster_name"], exc),
                         category=exc.category)
    result = membership.compare(nodes, sources, params["allow_unreadable"])
    message = membership.describe(params["cluster_name"], nodes, result)
    blocked = result.pop("blocked")
    if blocked:
        module.fail_json(msg=message, category="membership", **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
