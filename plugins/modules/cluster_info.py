#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cluster_info
short_description: Identify a Kubernetes cluster, its API endpoints, control-plane components and distribution
version_added: 0.1.0
description:
  - Reads the server version, the API server endpoints from the C(kubernetes) EndpointSlice, the control-plane
    components that run as mirror pods in C(kube-system) with their command-line flags, and makes a best guess
    of the distribution (kubeadm, RKE2, k3s, EKS, GKE or AKS) with the evidence for it.
  - Read-only. A failure to reach the server or to authenticate fails the task with one line naming the cause;
    a read that is forbidden or absent is reported in RV(unreadable) and never guessed around.
author:
  - KubeCompass contributors (@kubecompass)
options: {}
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.INFO_MODULE
  - kubecompass.readiness.attributes.ACTION_GROUP
"""

EXAMPLES = r"""
- name: Identify the cluster from a kubeconfig context
  kubecompass.readiness.cluster_info:
    kubeconfig: ~/.kube/config
    context: prod-eu-1
  register: cluster

- name: Show the distribution and why
  ansible.builtin.debug:
    msg: "{{ cluster.distribution }}: {{ cluster.distribution_evidence | join('; ') }}"

- name: With the token AWX injects (K8S_AUTH_HOST, K8S_AUTH_API_KEY, K8S_AUTH_SSL_CA_CERT)
  kubecompass.readiness.cluster_info:
"""

RETURN = r"""
server:
  description: The API server this module talked to and its version.
  returned: success
  type: dict
  contains:
    host:
      description: API server URL.
      type: str
      sample: https://127.0.10.1:6443
    git_version:
      description: The server's C(gitVersion).
      type: str
      sample: v1.36.3
    version:
      description: The full C(/version) answer.
      type: dict
      sample: {"major": "1", "minor": "36", "gitVersion": "v1.36.3", "platform": "linux/amd64"}
api_endpoints:
  description: Addresses of the C(kubernetes) Service from its EndpointSlices, one per API server instance.
  returned: success
  type: list
  elements: dict
  sample: [{"address": "198.51.100.1", "ports": [6443], "address_type": "IPv4", "ready": true}]
control_plane:
  description:
    - Control-plane components seen as mirror pods in C(kube-system), sorted by component and node.
    - Empty on managed clusters and on distributions that embed the components (k3s).
  returned: success
  type: list
  elements: dict
  contains:
    component:
      description: One of C(kube-apiserver), C(kube-controller-manager), C(kube-scheduler), C(etcd).
      type: str
    pod:
      description: Mirror pod name.
      type: str
    node:
      description: Node the static pod runs on.
      type: str
    image:
      description: Container image.
      type: str
    command:
      description: Command and arguments as in the static pod manifest.
      type: list
      elements: str
    flags:
      description: Flags parsed from the command line, C(--name=value) as C(name) -> C(value), bare flags as C(true).
      type: dict
    phase:
      description: Pod phase.
      type: str
    ready:
      description: Whether the pod reports Ready.
      type: bool
    restarts:
      description: Container restart count.
      type: int
  sample:
    - component: kube-apiserver
      pod: kube-apiserver-kc-cp1
      node: kc-cp1
      flags: {"authorization-mode": "Node,RBAC", "anonymous-auth": "false"}
distribution:
  description: Best guess of the distribution, or C(unknown).
  returned: success
  type: str
  sample: kubeadm
distribution_evidence:
  description: Observations supporting RV(distribution).
  returned: success
  type: list
  elements: str
  sample: ["ConfigMap kube-system/kubeadm-config exists"]
unreadable:
  description: Reads that failed (forbidden, not served), each with the resource and the cause.
  returned: success
  type: list
  elements: dict
  sample: [{"resource": "pods in kube-system", "cause": "forbidden: pods is forbidden: ..."}]
api_requests:
  description: Number of API requests made.
  returned: success
  type: int
  sample: 5
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    auth_argument_spec,
    mask_credentials,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import (
    api_endpoints,
    control_plane_components,
    guess_distribution,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import client_from_params

# A sample of nodes is enough to recognise a distribution; a full list would cost O(nodes) for nothing.
NODE_SAMPLE = 20


def gather(client):
    unreadable = []

    def optional(resource, read, default):
        try:
            return read()
        except KubeCompassError as exc:
            if exc.category in ("unreachable", "tls", "timeout", "unauthorized"):
                raise
            unreadable.append({"resource": resource, "cause": str(exc)})
            return default

    version = client.get("/version")
    slices = optional(
        "endpointslices of Service default/kubernetes",
        lambda: client.list("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                            {"labelSelector": "kubernetes.io/service-name=kubernetes"}),
        [])
    pods = optional("pods in kube-system", lambda: client.list("/api/v1/namespaces/kube-system/pods"), [])
    nodes = optional("nodes", lambda: client.get("/api/v1/nodes", {"limit": str(NODE_SAMPLE)}).get("items") or [],
                     [])

    def kubeadm_config():
        try:
            client.get("/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
            return True
        except KubeCompassError as exc:
            if exc.category == "not_found":
                return False
            raise

    kubeadm_present = optional("configmap kube-system/kubeadm-config", kubeadm_config, False)
    components = control_plane_components(pods)
    distribution, evidence = guess_distribution(version, nodes, components, kubeadm_present)
    if unreadable:
        evidence = evidence + ["could not read: %s" % ", ".join(u["resource"] for u in unreadable)]
    return {
        "server": {"host": client.base_url, "git_version": version.get("gitVersion"), "version": version},
        "api_endpoints": api_endpoints(slices),
        "control_plane": components,
        "distribution": distribution,
        "distribution_evidence": evidence,
        "unreadable": unreadable,
    }


def main():
    module = AnsibleModule(argument_spec=auth_argument_spec(), supports_check_mode=True)
    mask_credentials(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    client = None
    try:
        client = client_from_params(module.params)
        result = gather(client)
    except KubeCompassError as exc:
        module.fail_json(msg=str(exc), category=exc.category,
                         api_requests=client.requests if client else 0)
    module.exit_json(changed=False, api_requests=client.requests, **result)


if __name__ == "__main__":
    main()
