#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: static_pod_manifest
short_description: Change a kubeadm control-plane static pod on one node, health-gated, with automatic rollback
version_added: 0.1.0
description:
  - Runs on one control-plane node (over SSH, as root). Computes the new manifest of O(component) from the
    current one (flags to set or remove, hostPath volumes to add) and the files it needs (audit policy,
    encryption configuration, authentication configuration). A flag it sets that the manifest repeats ends as one
    occurrence (the component reads the last, kube-bench the first). For C(kube-controller-manager) and
    C(kube-scheduler) the probes' host follows a specific C(--bind-address).
  - Outside check mode it refuses to start unless the node's API server is healthy, backs up the manifest and
    every file it replaces into O(backup_dir) (which must be outside the manifests directory), writes each file
    atomically through a dot-file, then waits until a new process of the component carries the new flags and
    is healthy - the API server answers C(/livez) and C(/readyz) on O(endpoint); the controller manager and the
    scheduler answer C(/healthz) on their secure port (10257, 10259) at the C(--bind-address) of the manifest on
    disk (127.0.0.1 when they bind every interface). When that does not happen within O(timeout) seconds it
    restores the backups, waits for the API server to be healthy again, and fails naming the node.
  - In check mode it changes nothing and returns the exact diff of every file it would write (file contents
    marked secret are shown only as their size and a digest).
  - Every file in O(files) is recorded as a digest annotation C(checksum.kubecompass.io/<file name>) on the pod,
    so a new content changes the manifest and the API server restarts and loads it; the change counts as
    applied only once a new API server process runs.
  - A missing C(DirectoryOrCreate) host path is created 0700 first (kubelet would make it 0755).
  - Before the first write it records the change in a marker in O(backup_dir) (written atomically). A run killed
    mid-change leaves it; the next run accepts that change only once a new API server process runs the
    manifest's flags and is healthy (waiting up to O(timeout)), and otherwise restores the change's backup first
    and makes the change again. Check mode reports such an unproven change as a change. A marker that cannot be
    read stops the run (an interrupted change of unknown content). Backups of O(secret_files) are removed as soon
    as the node is in a known state again.
  - When the backup or the marker cannot be written (a full disk), nothing is changed, the partial backup is
    removed and the module fails naming O(backup_dir) and the errno.
author:
  - KubeCompass contributors (@kubecompass)
options:
  component:
    description: The control-plane component whose static pod changes.
    type: str
    choices: [kube-apiserver, kube-controller-manager, kube-scheduler]
    default: kube-apiserver
  manifest:
    description: Path of the static pod manifest (defaults to C(/etc/kubernetes/manifests/<component>.yaml)).
    type: path
  set_flags:
    description: Flags (without the leading C(--)) and the values they must have.
    type: dict
    default: {}
  remove_flags:
    description: Flags that must not be present.
    type: list
    elements: str
    default: []
  volumes:
    description:
      - hostPath volumes the container needs, each with C(name), C(host_path), C(mount_path), C(read_only) and
        C(type) (C(File), C(DirectoryOrCreate), ...).
    type: list
    elements: dict
    default: []
  files:
    description:
      - Files to write before the manifest, each with C(path), C(content), C(mode) (for example C('0600')) and
        C(secret) (true keeps the content out of diffs and results). Never a path in a directory kubelet reads.
      - The content of these entries is in the module's invocation (system log, C(-vvv)); key material goes
        in O(secret_files).
    type: list
    elements: dict
    default: []
  secret_files:
    description:
      - Files holding key material, written like O(files) but always 0600 root:root (a looser existing mode is
        corrected), shown in diffs as size and digest only, masked in the module's invocation and log, and
        their backups removed once the change succeeded or was rolled back.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Where the file goes.
        type: path
        required: true
      content:
        description: The file's content.
        type: str
        required: true
      mode:
        description: Mode of a new file (existing ones are set to 0600 too).
        type: str
        default: "0600"
  annotations:
    description:
      - Pod annotations to set (keys under C(checksum.kubecompass.io/)), for example the digest of the certificates
        the component must load (M(kubecompass.readiness.kubeadm_certs_renew)). A new value changes the manifest,
        so the component restarts, health-gated and rolled back like any other change; the same value changes
        nothing.
    type: dict
    default: {}
  backup_dir:
    description: Where backups go; refused when inside the manifests directory.
    type: path
    default: /var/lib/kubecompass/backups
  endpoint:
    description:
      - The node's own API server URL, for example C(https://10.0.0.11:6443). Required for C(kube-apiserver);
        the other components' health gate is derived from their manifest.
    type: str
  ca_cert:
    description: CA bundle that signs the API server's serving certificate.
    type: path
    default: /etc/kubernetes/pki/ca.crt
  client_cert:
    description: Client certificate for the health probes (anonymous access to them may be disabled).
    type: path
    default: /etc/kubernetes/pki/apiserver-kubelet-client.crt
  client_key:
    description: Key of O(client_cert).
    type: path
    default: /etc/kubernetes/pki/apiserver-kubelet-client.key
  timeout:
    description: Seconds to wait for the new API server to run the new flags and be healthy.
    type: int
    default: 300
  node_name:
    description: Name of this node in messages (normally C(inventory_hostname)); defaults to the host name.
    type: str
  inject_flags:
    description:
      - For tests of the rollback only; never set it in production. Extra flags written into the manifest
        as if they were part of O(set_flags) (for example an invalid flag that stops the API server).
    type: dict
extends_documentation_fragment:
  - kubecompass.readiness.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Disable profiling on this node, one node at a time
  kubecompass.readiness.static_pod_manifest:
    endpoint: "https://{{ kubecompass_node_ip }}:6443"
    set_flags:
      profiling: "false"
"""

RETURN = r"""
changed:
  description: Whether a file was (or in check mode would be) written.
  returned: always
  type: bool
changes:
  description: What changed, one line each.
  returned: always
  type: list
  elements: str
  sample: ["add --profiling=false"]
backup:
  description: The backup directory of this change.
  returned: when changed and not in check mode
  type: str
  sample: /var/lib/kubecompass/backups/20261122T031500.000000Z
digest_before:
  description: The C(sha256:) digest of the manifest before the change (as C(sha256sum) prints it), for the record.
  returned: success
  type: str
  sample: sha256:0f3c3f1ec0c1ad2c08b2fe3cbb6f3e4a1c3f0a5d3a51a3a1d1f6bd0d8e9b1a2c
digest_after:
  description: The C(sha256:) digest of the manifest after the change (in check mode, as it would be written).
  returned: success
  type: str
  sample: sha256:9b1a2c0f3c3f1ec0c1ad2c08b2fe3cbb6f3e4a1c3f0a5d3a51a3a1d1f6bd0d8e
restart_seconds:
  description: Seconds from writing the manifest until the new API server was healthy with the new flags.
  returned: when changed and not in check mode
  type: float
  sample: 14.2
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import rollout
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import (
    static_pod_change as node_change,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._evidence import file_digest


def main():
    module = AnsibleModule(
        argument_spec={
            "component": {"type": "str", "default": "kube-apiserver",
                          "choices": ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]},
            "manifest": {"type": "path"},
            "set_flags": {"type": "dict", "default": {}},
            "remove_flags": {"type": "list", "elements": "str", "default": []},
            "volumes": {"type": "list", "elements": "dict", "default": []},
            "files": {"type": "list", "elements": "dict", "default": []},
            "secret_files": {"type": "list", "elements": "dict", "default": [], "no_log": False, "options": {
                "path": {"type": "path", "required": True},
                "content": {"type": "str", "required": True, "no_log": True},
                "mode": {"type": "str", "default": "0600"},
            }},
            "annotations": {"type": "dict", "default": {}},
            "backup_dir": {"type": "path", "default": "/var/lib/kubecompass/backups"},
            "endpoint": {"type": "str"},
            "ca_cert": {"type": "path", "default": "/etc/kubernetes/pki/ca.crt"},
            "client_cert": {"type": "path", "default": "/etc/kubernetes/pki/apiserver-kubelet-client.crt"},
            "client_key": {"type": "path", "default": "/etc/kubernetes/pki/apiserver-kubelet-client.key"},
            "timeout": {"type": "int", "default": 300},
            "node_name": {"type": "str"},
            "inject_flags": {"type": "dict"},
        },
        required_if=[("component", "kube-apiserver", ["endpoint"])],
        supports_check_mode=True,
    )
    if not node_change.HAS_YAML:
        module.fail_json(msg="PyYAML is required on the node")
    for entry in module.params["files"]:
        if entry.get("secret"):
            module.no_log_values.add(entry.get("content"))
    node = module.params["node_name"] or os.uname()[1]
    notes = []
    healthy = node_change.healthy_probe(module.params)
    try:
        if module.check_mode:
            unproven = node_change.pending_change(module.params, node_change.manifest_path(module.params), healthy)
        else:
            unproven = None
            note = node_change.recover_pending(module.params, node_change.manifest_path(module.params), healthy)
            notes.extend([note] if note else [])
        path, current_text, new_text, files, directories, changes = node_change.plan(module.params)
        changes = ([unproven] if unproven else []) + changes
        result = {"changed": bool(changes), "changes": changes, "notes": notes,
                  "digest_before": file_digest(current_text), "digest_after": file_digest(new_text)}
        if module._diff and changes:
            result["diff"] = [{"before_header": path, "after_header": path, "before": current_text,
                               "after": new_text}] + [
                {"before_header": f["path"], "after_header": f["path"],
                 "before": rollout.diff_text(f["existing"], f.get("secret")),
                 "after": rollout.diff_text(f["content"].encode(), f.get("secret"))} for f in files]
        if changes and not module.check_mode:
            result.update(node_change.apply(module, path, current_text, new_text, files, directories))
    except KubeCompassError as exc:
        module.fail_json(msg="%s: %s" % (node, exc), category=exc.category)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
