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
  - Outside check mode it refuses to start unless the node's API server answers C(/livez) and C(/readyz) on
    O(endpoint), backs up the drop-in and every file it replaces into O(backup_dir), writes the O(files) and then
    the drop-in atomically (through dot-files), runs O(restart_command), and waits until the API server is healthy
    again. On RKE2, whose API server is a static pod that survives the service restart, it also waits for a new
    C(kube-apiserver) process running the new flags. When the restart command fails or health does not come
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
already_effective:
  description: Flags of O(set_flags) the API server already gets without the drop-in.
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

import contextlib
import os
import posixpath
import re
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import pending, rancher, rollout
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._evidence import file_digest
from ansible_collections.kubecompass.readiness.plugins.module_utils._node_facts import (
    RANCHER,
    config_files,
    load_document,
    merge_config_documents,
    on_host,
    read_text,
)

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - reported through fail_json
    HAS_YAML = False

RESTART_COMMANDS = {"rke2": ["systemctl", "restart", "rke2-server"], "k3s": ["systemctl", "restart", "k3s"]}
_SETTING_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_CREDENTIAL_WORDS = ("token", "password", "secret-key", "access-key")
# Options RKE2/k3s read as lists: a key without "+" replaces the user's whole list, even with a single value.
_LIST_SUFFIXES = ("-arg", "-extra-mount", "-extra-env")
LIST_SETTINGS = ("tls-san", "node-label", "node-taint", "disable", "cni", "node-external-ip")
REFUSED_SETTINGS = {
    "server": "joins the node to another cluster",
    "datastore-endpoint": "moves the datastore (and may carry its credentials)",
    "datastore-cafile": "changes how the datastore is reached",
    "datastore-certfile": "changes how the datastore is reached",
    "datastore-keyfile": "changes how the datastore is reached",
    "cluster-init": "changes the datastore of a running cluster",
    "cluster-reset": "resets etcd to a single member",
    "cluster-reset-restore-path": "restores etcd from a snapshot",
    "data-dir": "moves every state file of the node",
    "node-name": "changes the node's identity",
    "node-ip": "changes the node's identity",
    "advertise-address": "changes the address the other servers and the health checks use",
    "advertise-port": "changes the port the other servers use",
    "bind-address": "changes the address the health checks use",
    "https-listen-port": "changes the port the health checks use",
    "cluster-cidr": "cannot change on a running cluster",
    "service-cidr": "cannot change on a running cluster",
    "cluster-dns": "cannot change on a running cluster",
    "cluster-domain": "cannot change on a running cluster",
    "disable-apiserver": "removes the API server from this server",
    "disable-etcd": "removes etcd from this server",
    "profile": "profile: cis stops rke2 when the etcd user is missing and forces kernel settings (control-plane.md "
               "P7); set it before the first start",
}


# -- input checks ------------------------------------------------------------------------------------------------

def _norm(value):
    """A config value as RKE2/k3s compare it: booleans lower case, None empty, everything else as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_settings(distribution, settings):
    """Refuse settings a drop-in must not carry (see the settings option); return them unchanged otherwise."""
    for key, value in (settings or {}).items():
        if not isinstance(key, str) or key.endswith("+"):
            raise KubeCompassError(
                "settings key %r: keys ending in '+' are refused (an append cannot be undone by a later run); "
                "kube-apiserver flags go in set_flags" % (key,), "input")
        if key == rancher.ARG_KEY:
            raise KubeCompassError("settings key %s: kube-apiserver flags go in set_flags (the drop-in appends "
                                   "them with %s)" % (key, rancher.APPEND_KEY), "input")
        if key.endswith(_LIST_SUFFIXES) or key in LIST_SETTINGS:
            raise KubeCompassError("settings key %s is a list option: setting it without '+' replaces the user's "
                                   "whole list" % key, "input")
        if not _SETTING_KEY.match(key):
            raise KubeCompassError("settings key %r is not an option name (lower-case letters, digits, dashes)"
                                   % (key,), "input")
        if key in REFUSED_SETTINGS:
            raise KubeCompassError("settings key %s is refused: it %s" % (key, REFUSED_SETTINGS[key]), "input")
        if any(word in key for word in _CREDENTIAL_WORDS):
            raise KubeCompassError("settings key %s is refused: credentials are never written by this module"
                                   % key, "input")
        if isinstance(value, (list, dict)) or value is None:
            raise KubeCompassError("settings %s: only scalar values are allowed (a list without '+' replaces the "
                                   "user's whole list)" % key, "input")
        if key == "secrets-encryption":
            if distribution == "rke2":
                raise KubeCompassError("settings secrets-encryption: RKE2 always encrypts Secrets (the option is "
                                       "forced on), there is nothing to set", "input")
            if _norm(value).strip().lower() not in ("1", "t", "true"):
                raise KubeCompassError("settings secrets-encryption may only be turned on: turning it off makes "
                                       "every encrypted Secret unreadable (use secrets-encrypt disable)", "input")
    return dict(settings or {})


def _check_file_entry(index, entry, refused_dirs, config_path):
    """A files[] entry needs path and content; mode, when given, is octal text; no path where RKE2/k3s or
    kubelet would read it as config or as a pod."""
    missing = [key for key in ("path", "content") if not isinstance(entry.get(key), str) or not entry.get(key)]
    if missing:
        raise KubeCompassError("files[%d] needs %s" % (index, " and ".join(missing)), "input")
    mode = entry.get("mode")
    if mode is not None:
        try:
            int(str(mode), 8)
        except ValueError:
            raise KubeCompassError("files[%d]: mode %r is not octal (for example '0600')" % (index, mode),
                                   "input") from None
    path = posixpath.normpath(entry["path"])
    if not path.startswith("/"):
        raise KubeCompassError("files[%d]: path %s is not absolute" % (index, entry["path"]), "input")
    if path == config_path:
        raise KubeCompassError("files[%d]: %s is the user's own config file" % (index, path), "input")
    for directory, reader in refused_dirs:
        if path.startswith(directory + "/"):
            raise KubeCompassError("files[%d]: %s is inside %s, which %s" % (index, path, directory, reader),
                                   "input")


def _check_backup_dir(root, backup_dir, refused_dirs):
    backup = os.path.realpath(on_host(root, backup_dir))
    for directory, reader in refused_dirs:
        watched = os.path.realpath(on_host(root, directory))
        if backup == watched or backup.startswith(watched + os.sep):
            raise KubeCompassError("backup directory %s is inside %s, which %s: a copy there would be used"
                                   % (backup_dir, directory, reader), "input")
    return backup


# -- planning ----------------------------------------------------------------------------------------------------

def read_documents(root, distribution):
    """[(path, text)] of config.yaml and its drop-ins in the order the server reads them."""
    config = RANCHER[distribution]["config"]
    try:
        return [(path, read_text(root, path) or "") for path in config_files(root, config)]
    except OSError as exc:
        raise KubeCompassError("cannot read the %s config: %s" % (distribution, exc), "node") from None


def _parsed(documents):
    parsed = []
    for path, text in documents:
        try:
            document = load_document(text) or {}
        except ValueError as exc:
            raise KubeCompassError("config file %s: %s" % (path, exc), "node") from None
        if not isinstance(document, dict):
            raise KubeCompassError("config file %s is not a mapping of option names to values" % path, "node")
        parsed.append((path, document))
    return parsed


def _in_read_order(distribution, documents, ours, our_document):
    """Documents as the server merges them: config.yaml, then the drop-ins by name, ours (if any) among them."""
    directory = rancher.dropin_dir(distribution) + "/"
    main = [(path, doc) for path, doc in documents if not path.startswith(directory)]
    dropins = [(path, doc) for path, doc in documents if path.startswith(directory) and path != ours]
    if our_document is not None:
        dropins.append((ours, our_document))
    return main + sorted(dropins, key=lambda item: posixpath.basename(item[0]))


def render_content(args, settings, topic):
    """The drop-in text: rancher.render_dropin for flags only, else a header, the settings, then the flags."""
    if not settings:
        return rancher.render_dropin(args, topic) if args else None
    document = {key: settings[key] for key in sorted(settings)}
    if args:
        document[rancher.APPEND_KEY] = list(args)
    header = ("# Managed by kubecompass.readiness (%s). Sets %s%s;\n"
              "# edit your own config files, not this one: it is rewritten by the next remediation.\n"
              % (topic, ", ".join(sorted(settings)), " and appends to kube-apiserver-arg" if args else ""))
    return header + yaml.safe_dump(document, default_flow_style=False, sort_keys=False, width=1 << 16)


def _describe(existing, content, path):
    """One line per difference between our drop-in on the node and the new one."""
    if existing == content:
        return []
    if content is None:
        return ["remove %s: the flags and settings are effective without it" % path]
    new = load_document(content) or {}
    try:
        old = load_document(existing or "") or {}
    except ValueError:
        old = None
    if not isinstance(old, dict):
        return ["rewrite %s (it does not parse)" % path]
    old_args = [str(arg) for arg in old.get(rancher.APPEND_KEY) or []]
    new_args = [str(arg) for arg in new.get(rancher.APPEND_KEY) or []]
    changes = ["add %s %s" % (rancher.APPEND_KEY, arg) for arg in new_args if arg not in old_args]
    changes += ["drop %s %s" % (rancher.APPEND_KEY, arg) for arg in old_args if arg not in new_args]
    for key in sorted(set(old) | set(new)):
        if key == rancher.APPEND_KEY:
            continue
        if key not in new:
            changes.append("unset %s" % key)
        elif key not in old or _norm(old[key]) != _norm(new[key]):
            changes.append("set %s: %s" % (key, _norm(new[key])))
    return changes or ["rewrite %s" % path]


def plan(params):
    """Read the node and compute the change. Returns a dict: path, existing, content, args, settings, changes,
    files (entries to write, with their current bytes), notes, already_effective, data_dir, changed_flags."""
    distribution, root, topic = params["distribution"], params["root"], params["topic"]
    settings = check_settings(distribution, params["settings"])
    try:
        ours = rancher.dropin_path(distribution, topic)
    except ValueError as exc:
        raise KubeCompassError(str(exc), "input") from None
    documents = read_documents(root, distribution)
    existing = next((text for path, text in documents if path == ours), None)
    others = _parsed([(path, text) for path, text in documents if path != ours])
    try:
        current = _parsed([(path, text) for path, text in documents if path == ours])
    except KubeCompassError:
        current = []  # our own drop-in no longer parses: it is rewritten
    without = merge_config_documents([doc for _path, doc in _in_read_order(distribution, others, ours, None)])
    data_dir = _norm(without.get("data-dir")).rstrip("/") or RANCHER[distribution]["data_dir"]
    config_path = RANCHER[distribution]["config"]
    refused_dirs = [(rancher.dropin_dir(distribution), "RKE2/k3s read as config"),
                    (data_dir + "/agent/pod-manifests", "kubelet runs as static pods")]
    _check_backup_dir(root, params["backup_dir"], refused_dirs)

    needed = {key: value for key, value in settings.items()
              if key not in without or _norm(without[key]) != _norm(value)}
    # Our settings take part in the flag plan (secrets-encryption adds encryption-provider-config on k3s).
    plan_docs = [(path, text) for path, text in documents if path != ours]
    if needed:
        plan_docs.append((ours + "#settings", yaml.safe_dump(needed)))
    try:
        dropin = rancher.plan_dropin(distribution, plan_docs, topic, params["set_flags"], params["remove_flags"],
                                     root)
    except ValueError as exc:
        raise KubeCompassError("cannot plan the drop-in: %s" % exc, "input") from None
    problems = list(dropin["problems"])
    content = render_content(dropin["args"], needed, topic)
    new_document = load_document(content) if content else None
    after_docs = _in_read_order(distribution, others, ours, new_document)
    after = merge_config_documents([doc for _path, doc in after_docs])
    names = [path for path, _doc in after_docs]
    for key, value in needed.items():
        if _norm(after.get(key)) != _norm(value):
            later = [path for path, doc in after_docs[names.index(ours) + 1:] if key in doc or key + "+" in doc]
            problems.append("with the drop-in %s would be %s, not %s: %s sets it later" % (
                key, _norm(after.get(key)) or "unset", _norm(value), ", ".join(later) or "a later config file"))
    if (distribution == "k3s" and "secrets-encryption" in needed
            and not os.path.exists(on_host(root, data_dir + "/server/cred/encryption-config.json"))):
        problems.append("secrets-encryption: this cluster has no encryption configuration yet; run "
                        "kubecompass.readiness.rancher_secrets_encrypt (k3s secrets-encrypt enable) first: a k3s "
                        "server started with secrets-encryption on a cluster that never encrypted makes its own key "
                        "(control-plane.md P7)")
    if problems:
        raise KubeCompassError("; ".join(problems), "conflict")

    changes = []
    files = []
    for index, entry in enumerate(params["files"]):
        _check_file_entry(index, entry, refused_dirs, config_path)
        wanted = entry["content"].encode()
        try:
            with open(on_host(root, entry["path"]), "rb") as handle:
                present = handle.read()
        except FileNotFoundError:
            present = None
        except OSError as exc:
            raise KubeCompassError("cannot read %s: %s" % (entry["path"], exc.strerror), "node") from None
        if present != wanted:
            files.append(dict(entry, existing=present))
            changes.append("write %s%s" % (entry["path"], " (secret)" if entry.get("secret") else ""))
    changes = _describe(existing, content, ours) + changes

    current_docs = _in_read_order(distribution, others, ours, current[0][1] if current else None)
    before_flags = rancher.effective_flags(distribution, merge_config_documents([d for _p, d in current_docs]), root)
    after_flags = rancher.effective_flags(distribution, after, root)
    changed_flags = {name: after_flags.get(name) for name in set(before_flags) | set(after_flags)
                     if before_flags.get(name) != after_flags.get(name)}
    return {"path": ours, "existing": existing, "content": content, "args": dropin["args"], "settings": needed,
            "changes": changes, "files": files, "notes": dropin["notes"],
            "already_effective": dropin["already_effective"], "data_dir": data_dir, "refused_dirs": refused_dirs,
            "changed_flags": changed_flags, "after_flags": after_flags}


def diff_of(change):
    """Before/after of every file the change writes; secret contents are never shown."""
    diffs = []
    if change["existing"] != change["content"]:
        diffs.append({"before_header": change["path"], "after_header": change["path"],
                      "before": change["existing"] or "", "after": change["content"] or ""})
    for entry in change["files"]:
        diffs.append({"before_header": entry["path"], "after_header": entry["path"],
                      "before": rollout.diff_text(entry["existing"], entry.get("secret")),
                      "after": rollout.diff_text(entry["content"].encode(), entry.get("secret"))})
    return diffs


# -- applying ----------------------------------------------------------------------------------------------------

def _restart(module, command):
    rc, out, err = module.run_command(command)
    lines = [line.strip() for line in (err or out or "").splitlines() if line.strip()]
    return rc, (lines[-1][:300] if lines else "no output")


def _marker_name(params):
    return "%s-%s" % (params["distribution"], re.sub(r"[^a-z0-9-]", "-", params["topic"]))


def _node(params, change):
    """How this node is probed and restarted: (healthy, restart command, backup root, /proc)."""
    root = params["root"]
    tls = change["data_dir"] + "/server/tls/"
    ca_cert = on_host(root, params["ca_cert"] or tls + "server-ca.crt")
    client_cert = on_host(root, params["client_cert"] or tls + "client-admin.crt")
    client_key = on_host(root, params["client_key"] or tls + "client-admin.key")

    def healthy():
        return rollout.endpoint_healthy(params["endpoint"], ca_cert, client_cert, client_key)

    return (healthy, params["restart_command"] or RESTART_COMMANDS[params["distribution"]],
            _check_backup_dir(root, params["backup_dir"], change["refused_dirs"]), on_host(root, "/proc"))


def converged(expect, healthy, proc):
    """Healthy, and on RKE2 (when the pod spec changes) a kube-apiserver process started after the change began
    runs the new flags: RKE2 keeps the old pod across the service restart."""
    if expect["new_process"] and not any(
            pid not in expect["old_pids"] and all(flags.get(name) == value
                                                  for name, value in expect["changed_flags"].items())
            for pid, flags in rollout.apiserver_processes(proc)):
        return False
    return healthy()


def pending_change(params, change):
    """Check mode: the change line for a change an interrupted run left unproven (None when there is none)."""
    healthy, command, backup_root, proc = _node(params, change)
    record = pending.read(backup_root, _marker_name(params), params["backup_dir"])
    if record is None:
        return None
    expect = record.get("expect") or {}
    if pending.fully_written(record) and expect.get("new_process") and converged(expect, healthy, proc):
        return None
    return "%s%s to finish the change an interrupted run left (backup %s)" % (
        "" if pending.fully_written(record) else "restore that backup and ", " ".join(command), record["backup"])


def _restore_and_restart(module, record, command, healthy, created=()):
    """Put the backup back, restart, wait for health. Returns (rc, detail, healthy again). A failed restore keeps
    the marker for the next run."""
    try:
        pending.restore(record)
    except OSError as exc:
        raise KubeCompassError("restoring the backup %s failed (%s); the next run restores it first"
                               % (record["backup"], exc.strerror or exc), "node") from None
    for directory in reversed(created):
        with contextlib.suppress(OSError):
            os.rmdir(directory)
    rc, detail = _restart(module, command)
    return rc, detail, rollout.wait_until(healthy, module.params["timeout"])


def recover_pending(module, change):
    """A run killed mid-change leaves a marker. A fully written change is finished by a restart and accepted only
    once the server is proven to run it; a half-written one is restored and the server restarted. Returns (note,
    whether the server was restarted); (None, False) without a marker. The caller plans again afterwards."""
    params = module.params
    healthy, command, backup_root, proc = _node(params, change)
    name = _marker_name(params)
    record = pending.read(backup_root, name, params["backup_dir"])
    if record is None:
        return None, False
    expect = record.get("expect") or {"new_process": False, "old_pids": [], "changed_flags": {}}
    backup_on_node = posixpath.join(params["backup_dir"], os.path.basename(record["backup"]))
    if pending.fully_written(record):
        if expect["new_process"] and converged(expect, healthy, proc):
            pending.finish(backup_root, name, record)
            return "a change an interrupted run left (backup %s) is done: a new API server process runs it" % (
                backup_on_node), False
        rc, detail = _restart(module, command)
        if rc == 0 and rollout.wait_until(lambda: converged(expect, healthy, proc), params["timeout"]):
            pending.finish(backup_root, name, record)
            return "an interrupted run left a change the server did not run yet (backup %s); %s ran to finish it" % (
                backup_on_node, " ".join(command)), True
        reason = ("finishing the change an interrupted run left: %s" % (
            "%s exited %d (%s)" % (" ".join(command), rc, detail) if rc else "the API server did not come back "
            "healthy%s within %ss" % (" with the new flags" if expect["new_process"] else "", params["timeout"])))
    else:
        reason = None
    rc, detail, recovered = _restore_and_restart(module, record, command, healthy)
    pending.finish(backup_root, name, record)
    if reason or not recovered:
        raise KubeCompassError("%s; its backup %s was restored, %s ran again%s and the API server is %s" % (
            reason or "an interrupted run left a half-written change", backup_on_node, " ".join(command),
            "" if rc == 0 else " but exited %d (%s)" % (rc, detail),
            "healthy again" if recovered else "STILL NOT HEALTHY"), "rolled_back" if reason else "node")
    return "an interrupted run left a half-written change; its backup %s was restored and %s ran first" % (
        backup_on_node, " ".join(command)), True


def apply(module, change):
    """Back up, record the change, write, restart, wait for health (and on RKE2 for a new API server with the new
    flags); restore and restart again on failure. Returns result keys."""
    params = module.params
    root = params["root"]
    healthy, command, backup_root, proc = _node(params, change)
    if not healthy():
        raise KubeCompassError("the API server at %s is not healthy before the change; refusing to touch this node"
                               % params["endpoint"], "node")
    dropin = on_host(root, change["path"])
    written = {on_host(root, entry["path"]): pending.digest(entry["content"].encode()) for entry in change["files"]}
    written[dropin] = pending.digest(change["content"].encode()) if change["content"] is not None else None

    # RKE2 keeps the old API server pod running across the service restart: wait for a new process with the new
    # flags when the flags or a file a flag names change (the pod spec then changes). k3s restarts it in-process.
    named = {entry["path"] for entry in change["files"]} & {str(v) for v in change["after_flags"].values()}
    expect_new = params["distribution"] == "rke2" and bool(change["changed_flags"] or named)
    expect = {"new_process": expect_new, "changed_flags": change["changed_flags"],
              "old_pids": sorted(pid for pid, _flags in rollout.apiserver_processes(proc)) if expect_new else []}
    name = _marker_name(params)
    record = pending.begin(backup_root, params["backup_dir"], name, written,
                           [on_host(root, entry["path"]) for entry in change["files"] if entry.get("secret")], expect)
    backup_on_node = posixpath.join(params["backup_dir"], os.path.basename(record["backup"]))
    created = []

    def make_dirs(directory, mode):
        missing = []
        while directory and not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for path in reversed(missing):
            os.mkdir(path, mode)
            created.append(path)

    def roll_back(reason):
        """Restore the backups, restart again, wait for health; the error to raise."""
        rc, detail, recovered = _restore_and_restart(module, record, command, healthy, created)
        pending.finish(backup_root, name, record)
        return KubeCompassError(
            "%s; the previous files were restored (backup %s), %s ran again%s and the API server is %s" % (
                reason, backup_on_node, " ".join(command), "" if rc == 0 else " but exited %d (%s)" % (rc, detail),
                "healthy again" if recovered else "STILL NOT HEALTHY"), "rolled_back")

    try:
        for entry in change["files"]:
            target = on_host(root, entry["path"])
            make_dirs(os.path.dirname(target), 0o700)
            rollout.atomic_write(target, entry["content"].encode(), int(str(entry.get("mode") or "0600"), 8))
        if change["content"] is None:
            if os.path.exists(dropin):
                os.unlink(dropin)
        else:
            make_dirs(os.path.dirname(dropin), 0o755)
            rollout.atomic_write(dropin, change["content"].encode(), 0o600)
    except OSError as exc:
        raise roll_back("writing the change failed (%s)" % (exc.strerror or exc)) from None
    started = time.monotonic()
    rc, detail = _restart(module, command)
    if rc != 0:
        raise roll_back("%s exited %d (%s)" % (" ".join(command), rc, detail))
    if rollout.wait_until(lambda: converged(expect, healthy, proc), params["timeout"]):
        pending.finish(backup_root, name, record)
        return {"backup": backup_on_node, "restart_seconds": round(time.monotonic() - started, 1)}
    raise roll_back("the API server did not come back healthy%s within %ss" % (
        " with the new flags" if expect_new else "", params["timeout"]))


def main():
    module = AnsibleModule(
        argument_spec={
            "distribution": {"type": "str", "required": True, "choices": ["rke2", "k3s"]},
            "topic": {"type": "str", "default": "kubecompass"},
            "set_flags": {"type": "dict", "default": {}},
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
    if not HAS_YAML:
        module.fail_json(msg="PyYAML is required on the node")
    # Key material comes through secret_files, whose content Ansible masks before logging the invocation.
    module.params["files"] = list(module.params["files"]) + [
        dict(entry, secret=True) for entry in module.params["secret_files"]]
    for entry in module.params["files"]:
        if entry.get("secret") and entry.get("content"):
            module.no_log_values.add(entry["content"])
    node = module.params["node_name"] or os.uname()[1]
    try:
        change = plan(module.params)
        notes = []
        if module.check_mode:
            unproven = pending_change(module.params, change)
        else:
            unproven = None
            note, restarted = recover_pending(module, change)
            if note:
                notes.append(note)
                change = plan(module.params)  # the node as the recovery left it
                unproven = note if restarted else None
        if module.params["force_restart"] and not change["changes"]:
            # A stage of the distribution's secrets-encrypt needs every server restarted, one at a time.
            change["changes"] = ["restart %s (force_restart)" % " ".join(
                module.params["restart_command"] or RESTART_COMMANDS[module.params["distribution"]])]
        # A recovery's restart is a change of its own; only the plan's changes are applied below.
        changes = ([unproven] if unproven else []) + change["changes"]
        result = {"changed": bool(changes), "changes": changes, "path": change["path"], "args": change["args"],
                  "settings": change["settings"], "already_effective": change["already_effective"],
                  "notes": notes + change["notes"], "digest_before": file_digest(change["existing"]),
                  "digest_after": file_digest(change["content"])}
        if module._diff and change["changes"]:
            result["diff"] = diff_of(change)
        if change["changes"] and not module.check_mode:
            result.update(apply(module, change))
    except KubeCompassError as exc:
        module.fail_json(msg="%s: %s" % (node, exc), category=exc.category)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
