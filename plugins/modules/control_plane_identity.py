#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: control_plane_identity
short_description: What one control-plane node is known by in the cluster, and optionally etcd's member list
version_added: 0.1.0
description:
  - Runs on a control-plane node (over SSH, as root). Returns the names and addresses the cluster knows this node
    by - the API server's C(--advertise-address) (what the C(kubernetes) EndpointSlice shows), the stacked etcd
    member's name and advertised URLs - merged with the inventory's O(node_name) and O(addresses), for
    M(kubecompass.readiness.control_plane_members).
  - With O(list_etcd_members), also reads etcd's member list through its JSON gateway with the node's etcd client
    certificate. An etcd that cannot be read is reported in RV(etcd) (its C(error)), not as a failure, so the caller
    decides; external etcd and kine (k3s on SQL) are reported there as C(not_applicable).
  - Read-only.
author:
  - KubeCompass contributors (@kubecompass)
requirements:
  - PyYAML on the node.
options:
  distribution:
    description: The node's distribution, which decides where the API server and etcd settings are read from.
    type: str
    choices: [kubeadm, rke2, k3s]
    default: kubeadm
  node_name:
    description: The node's name in the inventory.
    type: str
    required: true
  addresses:
    description: Addresses the inventory knows the node by (C(kubecompass_node_ip), C(ansible_host)).
    type: list
    elements: str
    default: []
  list_etcd_members:
    description: Also read etcd's member list from this node.
    type: bool
    default: false
extends_documentation_fragment:
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.INFO_MODULE
"""

EXAMPLES = r"""
- name: Read what each control-plane node is known by (and etcd's members from the first)
  kubecompass.readiness.control_plane_identity:
    node_name: "{{ item }}"
    addresses: ["{{ hostvars[item].kubecompass_node_ip }}"]
    list_etcd_members: "{{ item == groups['prod_control_plane'][0] }}"
  delegate_to: "{{ item }}"
  loop: "{{ groups['prod_control_plane'] }}"
  register: identities
"""

RETURN = r"""
identity:
  description: The node's inventory name, every name and every address it is known by.
  returned: success
  type: dict
  sample: {"name": "kc-cp1", "names": ["kc-cp1"], "addresses": ["127.0.10.1", "198.51.100.1"]}
etcd:
  description:
    - C(topology) (C(stacked), C(external), C(none), or C(unknown) when the etcd static pod manifest cannot be read
      or parsed - then C(error) says why); with O(list_etcd_members), C(members) (each C(name),
      C(peer_urls), C(client_urls), C(learner)), or C(error) when etcd could not be read, or C(not_applicable)
      when etcd does not run on the control-plane nodes.
  returned: success
  type: dict
  sample: {"topology": "stacked", "members": [{"name": "kc-cp1", "peer_urls": ["https://127.0.10.1:2380"],
           "client_urls": ["https://127.0.10.1:2379"], "learner": false}], "error": null, "not_applicable": null}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane.membership import url_host
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import (
    host_path,
    read_kubeadm_config,
    read_rancher_config,
    read_running_apiserver_flags,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.etcd import etcd_access, etcd_member_list
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import HAS_YAML, YAML_IMPORT_ERROR
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SELF_MANAGED

RANCHER_EMBEDDED_ETCD = "https://127.0.0.1:2379"


def etcd_topology(distribution, config):
    """(topology, why not applicable, error): stacked etcd runs on the control-plane nodes and is one of the
    sources. A kubeadm etcd manifest that exists but cannot be read or parsed says nothing about where etcd runs:
    topology unknown, an error of the etcd source (never skipped as external)."""
    if config["datastore"] != "etcd":
        return "none", "the datastore is %s, not etcd" % config["datastore"], None
    if distribution == "kubeadm" and config["etcd_flags"] is None:
        unread = [error for error in config["errors"] if error["what"].endswith("/etcd.yaml")]
        if unread:
            return "unknown", None, "cannot read the %s: %s" % (unread[0]["what"], unread[0]["cause"])
        return "external", "no etcd static pod on this node: etcd is external to the control-plane nodes", None
    if distribution != "kubeadm" and config["flags"].get("etcd-servers") != RANCHER_EMBEDDED_ETCD:
        return "external", "the datastore-endpoint is an external etcd", None
    return "stacked", None, None


def read_identity(params, root="/", proc="/proc", post=None):
    distribution = params["distribution"]
    config = read_kubeadm_config(root) if distribution == "kubeadm" else read_rancher_config(root, distribution)
    if config["errors"] and config["pod"] is None and distribution == "kubeadm":
        raise KubeCompassError("%s: cannot read the API server configuration: %s" % (params["node_name"], "; ".join(
            "%s: %s" % (e["what"], e["cause"]) for e in config["errors"])), "node")
    running = None
    if distribution != "k3s":
        running, _problem = read_running_apiserver_flags(proc, config["flags"])
    effective = running or config["flags"]
    names = [params["node_name"]]
    addresses = [a for a in params["addresses"] if a]
    if isinstance(effective.get("advertise-address"), str):
        addresses.append(effective["advertise-address"])
    etcd_flags = config["etcd_flags"] or {}
    if distribution == "kubeadm" and isinstance(etcd_flags.get("name"), str):
        names.append(etcd_flags["name"])
    for flag in ("initial-advertise-peer-urls", "advertise-client-urls"):
        addresses.extend(host for host in map(url_host, str(etcd_flags.get(flag) or "").split(",")) if host)

    topology, not_applicable, error = etcd_topology(distribution, config)
    etcd = {"topology": topology, "members": None, "error": error, "not_applicable": not_applicable}
    if params["list_etcd_members"] and topology == "stacked":
        def to_host(path):
            return host_path(path, config["pod"], "kube-apiserver") if path else path

        endpoint, post, error = etcd_access(root, config, effective, to_host, None, post)
        if error:
            etcd["error"] = error
        else:
            etcd["members"], etcd["error"] = etcd_member_list(endpoint, post)
    return {"identity": {"name": params["node_name"], "names": sorted(set(names)), "addresses": sorted(set(addresses))},
            "etcd": etcd}


def main():
    module = AnsibleModule(
        argument_spec={
            "distribution": {"type": "str", "default": "kubeadm", "choices": list(SELF_MANAGED)},
            "node_name": {"type": "str", "required": True},
            "addresses": {"type": "list", "elements": "str", "default": []},
            "list_etcd_members": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=str(YAML_IMPORT_ERROR))
    try:
        result = read_identity(module.params)
    except KubeCompassError as exc:
        module.fail_json(msg=str(exc), category=exc.category)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
