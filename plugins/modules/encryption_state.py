#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: encryption_state
short_description: Read one control-plane node's encryption configuration and, optionally, scan every Secret in etcd
version_added: 0.1.0
description:
  - Runs on a control-plane node (over SSH, as root). Reports the file the API server's
    C(--encryption-provider-config) flag names (or O(config_path) when the flag is not set yet) with its full text,
    so the controller can plan the next rotation step from every node's configuration (the C(encryption_plan)
    action).
  - The returned RV(config_text) holds key material. Run the task with C(no_log=true) and never print the result;
    the C(encryption_at_rest) role does.
  - With O(scan_etcd), reads every value under C(<etcd prefix>/secrets/) through etcd's JSON gateway with the
    node's etcd client certificate, at one etcd revision, and counts them by storage prefix (C(plaintext),
    C(k8s:enc:secretbox:v1:<key>), ...). Values never leave the node. Only a complete scan proves that no Secret
    still needs an old key.
  - Read-only; the etcd revision does not change.
author:
  - KubeCompass contributors (@kubecompass)
requirements:
  - PyYAML on the node.
options:
  distribution:
    description: The node's distribution, which decides where the API server's flags are read from.
    type: str
    choices: [kubeadm, rke2, k3s]
    default: kubeadm
  config_path:
    description: Where the encryption configuration is (or will be) written when the flag is not set.
    type: path
    default: /etc/kubernetes/kubecompass/encryption-config.yaml
  scan_etcd:
    description: Scan every Secret value in etcd and count the values by storage prefix.
    type: bool
    default: false
  etcd_endpoint:
    description: etcd client URL; by default the first URL of the API server's C(--etcd-servers) flag.
    type: str
  page_size:
    description: Values read from etcd per request.
    type: int
    default: 500
extends_documentation_fragment:
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.INFO_MODULE
"""

EXAMPLES = r"""
- name: Read every control-plane node's encryption configuration (holds keys, never print it)
  kubecompass.readiness.encryption_state:
    scan_etcd: "{{ item == groups['prod_control_plane'][0] }}"
  delegate_to: "{{ item }}"
  loop: "{{ groups['prod_control_plane'] }}"
  register: encryption_nodes
  no_log: true
"""

RETURN = r"""
flag_path:
  description: The path the API server's C(--encryption-provider-config) flag names, null without the flag.
  returned: always
  type: str
  sample: /etc/kubernetes/kubecompass/encryption-config.yaml
path:
  description: The file that was read (RV(flag_path), else O(config_path)).
  returned: always
  type: str
config_text:
  description: Full text of the file (null when absent). Holds key material.
  returned: always
  type: str
loaded:
  description:
    - Whether the API server runs with the file as it is now (the flag names it and the manifest's digest
      annotation matches). False after a run was killed between writing the file and the manifest.
  returned: always
  type: bool
summary:
  description: The file's resources and providers with key names only (no key material).
  returned: always
  type: dict
automatic_reload:
  description: Whether the API server reloads the file by itself (C(--encryption-provider-config-automatic-reload)).
  returned: always
  type: bool
etcd_scan:
  description: Counts of Secret values by storage prefix, null unless O(scan_etcd).
  returned: always
  type: dict
  sample: {"by_prefix": {"k8s:enc:secretbox:v1:kubecompass-20261122t050000z": 200}, "total": 200,
           "complete": true, "error": null, "revision": 4711, "endpoint": "https://10.0.0.11:2379"}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import static_pod
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import (
    host_path,
    read_kubeadm_config,
    read_rancher_config,
    read_running_apiserver_flags,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.encryption import summarize_encryption_config
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.etcd import (
    DEFAULT_ETCD_PREFIX,
    encryption_prefixes,
    etcd_access,
    etcd_scan,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import (
    DocumentError,
    HAS_YAML,
    YAML_IMPORT_ERROR,
    cause_of,
    load_document,
    read_text,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SELF_MANAGED

FLAG = "encryption-provider-config"


def loaded(pod, flag_path, path, text):
    """Whether the API server was (re)started with this file as it is now: the flag names it and the manifest's
    digest annotation (static_pod_manifest) matches the content. A file written by a run killed before its
    manifest change is not loaded, and the role restarts that node before planning. Without our annotation (a
    file kubecompass never wrote) the file is taken as loaded."""
    if text is None:
        return flag_path is None
    if flag_path is None:
        return False
    annotations = ((pod or {}).get("metadata") or {}).get("annotations") or {}
    wanted = static_pod.file_checksum_annotations([{"path": path, "content": text}])
    return all(annotations.get(key, value) == value for key, value in wanted.items())


def read_state(params, root="/", proc="/proc", post=None):
    distribution = params["distribution"]
    config = read_kubeadm_config(root) if distribution == "kubeadm" else read_rancher_config(root, distribution)
    if config["errors"] and distribution == "kubeadm" and config["pod"] is None:
        raise KubeCompassError("cannot read the API server configuration: %s" % "; ".join(
            "%s: %s" % (e["what"], e["cause"]) for e in config["errors"]), "node")
    running = None
    if distribution != "k3s":
        running, _problem = read_running_apiserver_flags(proc, config["flags"])
    # The configured flags decide what the next restart loads; the planner compares configured files.
    flags = config["flags"]

    def to_host(path):
        return host_path(path, config["pod"], "kube-apiserver") if path else path

    flag_path = to_host(flags.get(FLAG))
    path = flag_path or params["config_path"]
    try:
        text = read_text(root, path)
    except OSError as exc:
        raise KubeCompassError("cannot read %s: %s" % (path, cause_of(exc)), "node") from None
    summary = {"valid": None, "error": None, "resources": []}
    if text is not None:
        try:
            summary = summarize_encryption_config(load_document(text))
        except DocumentError as exc:
            summary = {"valid": False, "error": cause_of(exc), "resources": []}
    scan = None
    if params["scan_etcd"]:
        effective = running or flags
        endpoint, post, error = etcd_access(root, config, effective, to_host, params["etcd_endpoint"], post)
        if error:
            scan = {"endpoint": endpoint, "by_prefix": {}, "total": None, "complete": False, "error": error,
                    "revision": None}
        else:
            scan = etcd_scan(endpoint, post, effective.get("etcd-prefix") or DEFAULT_ETCD_PREFIX,
                             encryption_prefixes(summary) if text is not None and flag_path else (),
                             params["page_size"])
    return {"flag_path": flag_path, "path": path, "config_text": text,
            "loaded": loaded(config["pod"], flag_path, path, text), "summary": summary, "etcd_scan": scan,
            "automatic_reload": str(flags.get(FLAG + "-automatic-reload", "")).lower() == "true"}


def main():
    module = AnsibleModule(
        argument_spec={
            "distribution": {"type": "str", "default": "kubeadm", "choices": list(SELF_MANAGED)},
            "config_path": {"type": "path", "default": "/etc/kubernetes/kubecompass/encryption-config.yaml"},
            "scan_etcd": {"type": "bool", "default": False},
            "etcd_endpoint": {"type": "str"},
            "page_size": {"type": "int", "default": 500},
        },
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=str(YAML_IMPORT_ERROR))
    if module.params["page_size"] < 1:
        module.fail_json(msg="page_size must be at least 1")
    try:
        result = read_state(module.params)
    except KubeCompassError as exc:
        module.fail_json(msg=str(exc), category=exc.category)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
