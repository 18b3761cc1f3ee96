#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rancher_apiserver_config
short_description: Change RKE2/k3s kube-apiserver flags through a config drop-in, health-gated, with rollback
version_added: 0.1.0
description:
  - Runs on one RKE2 or k3s server node (over SSH, as root), one server at a time. Reads
    C(/etc/rancher/<distribution>/config.yaml) and C(config.yaml.d/*.yaml) and computes the drop-in
    C(config.yaml.d/50-kubecompass-<topic>.yaml) that makes the API server run with O(set_flags). The drop-in only
    says C(kube-apiserver-arg+:), which appends to the user's own list instead of replacing it; flags already
    effective without it need nothing, so a compliant node gets no drop-in. It may also set top-level O(settings).
  - The same drop-in carries C(kube-controller-manager-arg+:) and C(kube-scheduler-arg+:) entries for
    O(component_flags), planned the same way, so one restart of the service covers all three components.
  - Outside check mode it refuses to start unless the node's API server answers C(/livez) and C(/readyz) on
    O(endpoint), backs up the drop-in and every file it replaces into O(backup_dir), writes the O(files) and then
    the drop-in atomically (through dot-files), runs O(restart_command), and waits until the API server is healthy
    again. On RKE2, whose API server is a static pod that survives the service restart, it also waits for a new
    C(kube-apiserver) process running the new flags. When O(component_flags) change a component's flags, it also
    waits until that component answers C(/healthz) on its secure port (C(https://127.0.0.1:10257) and
    C(https://127.0.0.1:10259) by default, following its C(bind-address) and C(secure-port)) and, on RKE2, until
    a new process of it runs the new flags. When the restart command fails or health does not come
    back within O(timeout) seconds it restores the backups (deleting files that did not exist), runs
    O(restart_command) again, waits for health and fails naming the node.
  - Before the first write it records the change in a marker in O(backup_dir) (written atomically). A run killed
    mid-change leaves it, and the next run restarts the server to finish a fully written change (on RKE2 unless a new
    API server process already runs the new flags), or restores the backup and restarts when the change was half
    written, before it plans again; check mode reports this as a change. A marker that cannot be read stops the
    run (an interrupted change of unknown content). Backups of secret files are removed once the change is
    proven or rolled back. When the backup or the marker cannot be written (a full disk), nothing is changed, the
    partial backup is removed and the module fails naming O(backup_dir) and the errno.
  - A second run with the same input changes nothing and restarts nothing.
  - In check mode it changes nothing and returns the exact diff of every file it would write (file contents
    marked secret are never shown).
author:
  - KubeCompass contributors (@kubecompass)
options:
  distribution:
    description: The distribution of the node.
    type: str
    required: true
    choices: [rke2, k3s]
  topic:
    description:
      - Names the drop-in C(50-kubecompass-<topic>.yaml) (lower-case letters, digits and dashes). Each topic owns
        one drop-in; use one topic per concern (audit, hardening, encryption).
    type: str
    default: kubecompass
  set_flags:
    description:
      - kube-apiserver flags (without the leading C(--)) and the values they must have. A comma-list flag
        (C(enable-admission-plugins) and similar) is appended to with C(flag+=items).
    type: dict
    default: {}
  component_flags:
    description:
      - Flags of C(kube-controller-manager) and C(kube-scheduler) (by component name; flags without the leading
        C(--)) and the values they must have, for example C(profiling) C(false) under C(kube-scheduler) (CIS 1.3.2,
        1.3.7, 1.4.1, 1.4.2). RKE2 and k3s default to C(profiling=false) and C(bind-address=127.0.0.1), so a
        drop-in entry is only written where the user's C(kube-controller-manager-arg) or C(kube-scheduler-arg)
        says otherwise; that setting stays in the user's file, overridden (a note says so), and a later config
        file that overrides the drop-in makes the module fail naming the flag instead of fighting it.
    type: dict
    default: {}
  remove_flags:
    description:
      - Flags that must not be present. A drop-in cannot take a flag out of the user's config, so any such flag
        that is effective makes the module fail naming the file to edit.
    type: list
    elements: str
    default: []
  files:
    description:
      - Files to write before the drop-in (audit policy, admission configuration...), each with C(path),
        C(content), C(mode) (for example C('0600'); used for a new file, an existing file keeps its mode and
        owner) and C(secret) (true keeps the content out of diffs and results).
      - Paths inside C(config.yaml.d) or the static pod directory C(<data-dir>/agent/pod-manifests) are refused.
        On RKE2 a file referenced by a flag is mounted into the API server pod only if it exists when the
        service starts, which this order guarantees.
    type: list
    elements: dict
    default: []
  secret_files:
    description:
      - Files holding key material, written like O(files) (mode 0600 by default), shown in diffs as size and
        digest only and masked in the module's invocation and log. O(files) entries are logged with the
        invocation, so key material belongs here.
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
        description: Mode of the file.
        type: str
        default: "0600"
  settings:
    description:
      - Top-level config options the drop-in also sets, for example C(secrets-encryption) set to C(true) on k3s. A
        settings-only drop-in is allowed. A setting already effective without the drop-in is left out, and one
        that a later config file overrides makes the module fail.
      - Values must be scalars. A list option without C(+) would replace the user's whole list, and appending
        with C(+) cannot be undone by a later run, so keys ending in C(+) and the list options (C(*-arg),
        C(*-extra-mount), C(*-extra-env), C(tls-san), C(node-label), C(node-taint), C(disable), C(cni),
        C(node-external-ip)) are refused; kube-apiserver flags go in O(set_flags), never here.
      - Refused, because a drop-in must never change them on a running server. Credentials, such as C(token),
        C(agent-token), their C(-file) forms and any key naming a password, secret key or access key. The
        datastore and cluster membership options C(server), C(datastore-endpoint), C(datastore-cafile),
        C(datastore-certfile), C(datastore-keyfile), C(cluster-init), C(cluster-reset),
        C(cluster-reset-restore-path) and C(data-dir). The node identity options C(node-name), C(node-ip),
        C(advertise-address), C(advertise-port), C(bind-address) and C(https-listen-port). The network ranges
        C(cluster-cidr), C(service-cidr), C(cluster-dns) and C(cluster-domain). C(disable-apiserver),
        C(disable-etcd) and the RKE2 C(profile), because the C(cis) profile stops rke2 when the etcd user is missing.
      - C(secrets-encryption) may only be turned on, and only on k3s (RKE2 always encrypts). On k3s it is
        refused until C(secrets-encrypt enable) has written the encryption configuration (see
        M(kubecompass.readiness.rancher_secrets_encrypt)), because a server started with it on a cluster that
        never encrypted makes its own key.
    type: dict
    default: {}
  backup_dir:
    description: Where backups go; refused when inside C(config.yaml.d) or the static pod directory.
    type: path
    default: /var/lib/kubecompass/backups
  endpoint:
    description: The node's own API server URL, for example C(https://10.0.0.11:6443).
    type: str
    required: true
  ca_cert:
    description:
      - CA bundle that signs the API server's serving certificate. Defaults to
        C(<data-dir>/server/tls/server-ca.crt), with data-dir C(/var/lib/rancher/rke2) or C(/var/lib/rancher/k3s)
        unless the config sets C(data-dir).
    type: path
  client_cert:
    description:
      - Client certificate for the health probes (RKE2 and k3s turn anonymous access off). Defaults to
        C(<data-dir>/server/tls/client-admin.crt).
    type: path
  client_key:
    description: Key of O(client_cert). Defaults to C(<data-dir>/server/tls/client-admin.key).
    type: path
  timeout:
    description: Seconds to wait for the API server to be healthy (with the new flags) after the restart.
    type: int
    default: 300
  node_name:
    description: Name of this node in messages (normally C(inventory_hostname)); defaults to the host name.
    type: str
  restart_command:
    description:
      - Command (argument list) that restarts the server and returns when it is back. Defaults to
        C([systemctl, restart, rke2-server]) or C([systemctl, restart, k3s]).
    type: list
    elements: str
  force_restart:
    description:
      - Restart the service, health-gated, even when the configuration needs no change (the stages of
        M(kubecompass.readiness.rancher_secrets_encrypt) need every server restarted one at a time).
    type: bool
    default: false
  root:
    description:
      - Root of the node's file system; every node path (config files, O(files), O(backup_dir), certificates,
        C(/proc)) is resolved below it. A test hook; keep the default on real nodes.
    type: path
    default: /
notes:
  - Run it with the play keyword C(serial) set to 1. RKE2 and k3s servers must restart one after another, or etcd
    can lose quorum.
  - k3s prints its API server flags only in the journal, so on k3s the gate is the health of the restarted
    process (the API server runs inside it).
seealso:
  - module: kubecompass.readiness.static_pod_manifest
  - module: kubecompass.readiness.rancher_secrets_encrypt
extends_documentation_fragment:
  - kubecompass.readiness.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Audit logging on an RKE2 server, one server at a time
  kubecompass.readiness.rancher_apiserver_config:
    distribution: rke2
    topic: audit
    endpoint: "https://{{ kubecompass_node_ip }}:6443"
    node_name: "{{ inventory_hostname }}"
    files:
      - path: /etc/rancher/rke2/kubecompass-audit-policy.yaml
        mode: "0600"
        content: |
          apiVersion: audit.k8s.io/v1
          kind: Policy
          rules:
            - level: Metadata
    set_flags:
      audit-policy-file: /etc/rancher/rke2/kubecompass-audit-policy.yaml
      audit-log-path: /var/lib/rancher/rke2/server/logs/audit.log
      audit-log-maxage: "30"
      audit-log-maxbackup: "10"
      audit-log-maxsize: "100"

- name: Turn on the k3s secrets-encryption setting after secrets-encrypt enable
  kubecompass.readiness.rancher_apiserver_config:
    distribution: k3s
    topic: encryption
    endpoint: "https://{{ kubecompass_node_ip }}:6443"
    settings:
      secrets-encryption: true
"""

RETURN = r"""
changed:
  description: Whether a file was (or in check mode would be) written or the drop-in removed.
  returned: always
  type: bool
changes:
  description: What changed, one line each.
  returned: always
  type: list
  elements: str
  sample: ["add kube-apiserver-arg+ audit-log-maxage=30", "write /etc/rancher/rke2/kubecompass-audit-policy.yaml"]
path:
  description: The drop-in of this topic.
  returned: always
  type: str
  sample: /etc/rancher/rke2/config.yaml.d/50-kubecompass-audit.yaml
args:
  description: The C(kube-apiserver-arg+) entries of the drop-in.
  returned: always
  type: list
  elements: str
  sample: ["audit-log-maxage=30"]
settings:
  description: The top-level settings the drop-in sets (those not already effective without it).
  returned: always
  type: dict
component_args:
  description: The C(kube-controller-manager-arg+) and C(kube-scheduler-arg+) entries of the drop-in, by component.
  returned: always
  type: dict
  sample: {"kube-scheduler": ["bind-address=127.0.0.1"]}
already_effective:
  description:
    - Flags of O(set_flags) the API server already gets without the drop-in, and those of O(component_flags)
      prefixed with the component's name (C(kube-scheduler profiling)).
  returned: always
  type: list
  elements: str
notes:
  description: Remarks about the change, such as a user's flag the drop-in overrides.
  returned: always
  type: list
  elements: str
diff:
  description: Before and after of the drop-in and of every file written (secret contents shown as C((secret))).
  returned: when changed and in diff mode
  type: list
  elements: dict
digest_before:
  description: The C(sha256:) digest of the drop-in before the change, null when there was none (for the change record).
  returned: success
  type: str
digest_after:
  description: The C(sha256:) digest of the drop-in after the change (in check mode, as it would be), null when removed.
  returned: success
  type: str
backup:
  description: The backup directory of this change (as a path on the node).
  returned: when changed and not in check mode
  type: str
  sample: /var/lib/kubecompass/backups/20261122T031500.000000Z
restart_seconds:
  description: Seconds from the start of O(restart_command) until the API server was healthy again.
  returned: when changed and not in check mode
  type: float
  sample: 21.4
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import (
    rancher_change as node_change,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._evidence import file_digest
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import RANCHER


def main():
    module = AnsibleModule(
        argument_spec={
            "distribution": {"type": "str", "required": True, "choices": list(RANCHER)},
            "topic": {"type": "str", "default": "kubecompass"},
            "set_flags": {"type": "dict", "default": {}},
            "component_flags": {"type": "dict", "default": {}},
            "remove_flags": {"type": "list", "elements": "str", "default": []},
            "files": {"type": "list", "elements": "dict", "default": []},
            "secret_files": {"type": "list", "elements": "dict", "default": [], "no_log": False, "options": {
                "path": {"type": "path", "required": True},
                "content": {"type": "str", "required": True, "no_log": True},
                "mode": {"type": "str", "default": "0600"},
            }},
            "settings": {"type": "dict", "default": {}},
            "backup_dir": {"type": "path", "default": "/var/lib/kubecompass/backups"},
            "endpoint": {"type": "str", "required": True},
            "ca_cert": {"type": "path"},
            "client_cert": {"type": "path"},
            "client_key": {"type": "path"},
            "timeout": {"type": "int", "default": 300},
            "node_name": {"type": "str"},
            "restart_command": {"type": "list", "elements": "str"},
            "root": {"type": "path", "default": "/"},
            "force_restart": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    if not node_change.HAS_YAML:
        module.fail_json(msg="PyYAML is required on the node")
    # Key material comes through secret_files, whose content Ansible masks before logging the invocation.
    module.params["files"] = list(module.params["files"]) + [
        dict(entry, secret=True) for entry in module.params["secret_files"]]
    for entry in module.params["files"]:
        if entry.get("secret") and entry.get("content"):
            module.no_log_values.add(entry["content"])
    node = module.params["node_name"] or os.uname()[1]
    try:
        change = node_change.plan(module.params)
        notes = []
        if module.check_mode:
            unproven = node_change.pending_change(module.params, change)
        else:
            unproven = None
            note, restarted = node_change.recover_pending(module, change)
            if note:
                notes.append(note)
                change = node_change.plan(module.params)  # the node as the recovery left it
                unproven = note if restarted else None
        if module.params["force_restart"] and not change["changes"]:
            # A stage of the distribution's secrets-encrypt needs every server restarted, one at a time.
            change["changes"] = ["restart %s (force_restart)" % " ".join(node_change.restart_command(module.params))]
        # A recovery's restart is a change of its own; only the plan's changes are applied below.
        changes = ([unproven] if unproven else []) + change["changes"]
        result = {"changed": bool(changes), "changes": changes, "path": change["path"], "args": change["args"],
                  "component_args": change["component_args"], "settings": change["settings"], "already_effective": change["already_effective"],
                  "notes": notes + change["notes"], "digest_before": file_digest(change["existing"]),
                  "digest_after": file_digest(change["content"])}
        if module._diff and change["changes"]:
            result["diff"] = node_change.diff_of(change)
        if change["changes"] and not module.check_mode:
            result.update(node_change.apply(module, change))
    except KubeCompassError as exc:
        module.fail_json(msg="%s: %s" % (node, exc), category=exc.category)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
