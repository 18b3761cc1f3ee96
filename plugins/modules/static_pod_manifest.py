#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: static_pod_manifest
short_description: Change a kubeadm kube-apiserver static pod on one node, health-gated, with automatic rollback
version_added: 0.1.0
description:
  - Runs on one control-plane node (over SSH, as root). Computes the new C(kube-apiserver) manifest from the
    current one (flags to set or remove, hostPath volumes to add) and the files it needs (audit policy,
    encryption configuration, authentication configuration).
  - Outside check mode it refuses to start unless the node's API server is healthy, backs up the manifest and
    every file it replaces into O(backup_dir) (which must be outside the manifests directory), writes each file
    atomically through a dot-file, then waits until the running API server process carries the new flags and
    answers C(/livez) and C(/readyz) on O(endpoint). When that does not happen within O(timeout) seconds it
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
  manifest:
    description: Path of the kube-apiserver static pod manifest.
    type: path
    default: /etc/kubernetes/manifests/kube-apiserver.yaml
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
  backup_dir:
    description: Where backups go; refused when inside the manifests directory.
    type: path
    default: /var/lib/kubecompass/backups
  endpoint:
    description: The node's own API server URL, for example C(https://10.0.0.11:6443).
    type: str
    required: true
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
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import pending, rollout, static_pod
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._evidence import file_digest

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - reported through fail_json
    HAS_YAML = False


def _identity(manifest_flags):
    """Flags that tell this node's API server from the others sharing the host (the local control plane)."""
    return {key: manifest_flags.get(key) for key in ("bind-address", "advertise-address", "secure-port")}


def _check_file_entry(index, entry, watched_dirs):
    """A files[] entry needs path and content; mode, when given, is octal text such as '0600'; never a path in a
    directory kubelet reads as pods."""
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
    try:
        static_pod.check_path("file", entry["path"], watched_dirs)
    except ValueError as exc:
        raise KubeCompassError("files[%d]: %s" % (index, exc), "input") from None


def _secret_file_needs_fixing(path):
    """A key file must be 0600 root:root whatever mode an earlier tool gave it (P5)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    return (st.st_mode & 0o777) != 0o600 or st.st_uid != 0 or st.st_gid != 0


def all_files(params):
    """files[] and secret_files[] (marked secret) as one list."""
    return list(params["files"]) + [dict(entry, secret=True) for entry in params.get("secret_files") or []]


def plan(params):
    """Read the current files and compute what must change:
    (manifest path, old text, new text, files to write, directories to create, changes)."""
    path = params["manifest"]
    try:
        with open(path) as handle:
            current_text = handle.read()
        current = yaml.safe_load(current_text)
    except (OSError, yaml.YAMLError) as exc:
        raise KubeCompassError("cannot read %s: %s" % (path, exc), "node") from None
    watched = sorted(set(static_pod.STATIC_POD_DIRS) | {os.path.dirname(path)})
    managed = all_files(params)
    for index, entry in enumerate(managed):
        _check_file_entry(index, entry, watched)
    set_flags = dict(params["set_flags"])
    set_flags.update(params.get("inject_flags") or {})
    try:
        new_manifest, changes = static_pod.plan_manifest(
            current, set_flags, params["remove_flags"], params["volumes"],
            static_pod.file_checksum_annotations(managed))
    except ValueError as exc:
        raise KubeCompassError("cannot plan the change of %s: %s" % (path, exc), "input") from None
    new_text = static_pod.render_manifest(new_manifest) if changes else current_text
    directories = sorted({v["host_path"] for v in params["volumes"]
                          if v.get("type") == "DirectoryOrCreate" and not os.path.isdir(v.get("host_path") or "/")})
    for directory in directories:
        try:
            static_pod.check_path("directory", directory, watched)
        except ValueError as exc:
            raise KubeCompassError(str(exc), "input") from None
    # kubelet would create a missing DirectoryOrCreate path 0755; audit logs want 0700 (control-plane.md P5).
    changes.extend("create directory %s (0700)" % directory for directory in directories)
    files = []
    for entry in managed:
        wanted = entry["content"].encode()
        try:
            with open(entry["path"], "rb") as handle:
                existing = handle.read()
        except FileNotFoundError:
            existing = None
        if existing != wanted:
            files.append(dict(entry, existing=existing))
            changes.append("write %s%s" % (entry["path"], " (secret)" if entry.get("secret") else ""))
        elif entry.get("secret") and _secret_file_needs_fixing(entry["path"]):
            files.append(dict(entry, existing=existing))
            changes.append("set %s to 0600 root:root" % entry["path"])
    return path, current_text, new_text, files, directories, changes


def _write(entry):
    directory = os.path.dirname(entry["path"])
    os.makedirs(directory, mode=0o700, exist_ok=True)
    rollout.atomic_write(entry["path"], entry["content"].encode(), int(str(entry.get("mode") or "0600"), 8))
    if entry.get("secret"):
        os.chmod(entry["path"], 0o600)
        os.chown(entry["path"], 0, 0)


def _marker_name(path):
    return os.path.basename(path)


def expectation(params, current_text, new_text):
    """What the node shows once the change is effective: a process other than the one running now, carrying the
    new manifest's flags (values normalised, list merges resolved). None when the manifest does not change."""
    if new_text == current_text:
        return None
    new_flags = rollout.manifest_flags(yaml.safe_load(new_text))
    old_identity = _identity(rollout.manifest_flags(yaml.safe_load(current_text)))
    return {"identity": _identity(new_flags),
            "previous_pid": rollout.running_apiserver(old_identity)[0],
            "present": {flag: new_flags[flag] for flag in params["set_flags"] if flag in new_flags},
            "absent": [flag for flag in params["set_flags"] if flag not in new_flags] + list(params["remove_flags"])}


def converged(expect, healthy):
    """A new process (the old one may still answer with the old files loaded) runs the new flags, healthy."""
    pid, running = rollout.running_apiserver(expect["identity"])
    return (pid is not None and pid != expect["previous_pid"]
            and rollout.flags_applied(running, expect["present"], expect["absent"]) and healthy())


def _proven(record, healthy, wait=0):
    """The interrupted change is fully written and (when it changed the manifest) a new process carries it."""
    if not pending.fully_written(record):
        return False
    expect = record.get("expect")
    if expect is None:
        return bool(record.get("written"))
    return rollout.wait_until(lambda: converged(expect, healthy), wait) if wait else converged(expect, healthy)


def pending_change(params, path, healthy):
    """Check mode: the change line for a change an interrupted run left unproven (None when there is none)."""
    backup_root = rollout.check_backup_dir(params["backup_dir"], [os.path.dirname(path)])
    record = pending.read(backup_root, _marker_name(path))
    if record is None or _proven(record, healthy):
        return None
    return ("restore backup %s of a change an interrupted run left unproven (no new API server process runs it), "
            "then make the change again" % record["backup"])


def recover_pending(params, path, healthy):
    """A run killed mid-change leaves a marker. Its change is accepted only once a new API server process is
    proven to run it (waiting up to the timeout); otherwise its backup is restored so this run makes the change
    again with a backup of the files as they were. Returns a note."""
    backup_root = rollout.check_backup_dir(params["backup_dir"], [os.path.dirname(path)])
    name = _marker_name(path)
    record = pending.read(backup_root, name)
    if record is None:
        return None
    if _proven(record, healthy, wait=params["timeout"]):
        pending.finish(backup_root, name, record)
        return ("a change an interrupted run left pending (backup %s) is done: a new API server process carries it"
                % record["backup"])
    try:
        pending.restore(record)
    except OSError as exc:
        raise KubeCompassError("an interrupted run left a change it could not prove; restoring its backup %s failed "
                               "(%s), the marker stays for the next run" % (record["backup"], exc.strerror or exc),
                               "node") from None
    recovered = rollout.wait_until(healthy, params["timeout"])
    pending.finish(backup_root, name, record)
    if not recovered:
        raise KubeCompassError("an interrupted run left a change it could not prove; its backup %s was restored but "
                               "the API server is STILL NOT HEALTHY" % record["backup"], "node")
    return ("an interrupted run left a change no new API server process runs; its backup %s was restored first"
            % record["backup"])


def apply(module, path, current_text, new_text, files, directories):
    """Back up, record the change, write, wait for a new process with the new flags; restore everything on timeout
    or write failure. Returns result keys."""
    params = module.params
    backup_root = rollout.check_backup_dir(params["backup_dir"], [os.path.dirname(path)])

    def healthy():
        return rollout.endpoint_healthy(params["endpoint"], params["ca_cert"], params["client_cert"],
                                        params["client_key"])

    if not healthy():
        raise KubeCompassError("the API server at %s is not healthy before the change; refusing to touch this node"
                               % params["endpoint"], "node")
    expect = expectation(params, current_text, new_text)
    written = {entry["path"]: pending.digest(entry["content"].encode()) for entry in files}
    written[path] = pending.digest(new_text.encode())
    name = _marker_name(path)
    record = pending.begin(backup_root, params["backup_dir"], name, written,
                           [f["path"] for f in files if f.get("secret")], expect)
    try:
        result = _apply_and_wait(params, path, new_text, files, directories, record, expect, healthy)
    except OSError as exc:
        # The rollback itself failed: the marker and the backup stay, the next run restores them.
        raise KubeCompassError("restoring the backup %s failed (%s); the next run restores it first"
                               % (record["backup"], exc.strerror or exc), "node") from None
    except KubeCompassError:
        pending.finish(backup_root, name, record)  # rolled back: the node runs the backup again
        raise
    pending.finish(backup_root, name, record)
    return result


def _apply_and_wait(params, path, new_text, files, directories, record, expect, healthy):
    backup = record["backup"]
    try:
        for directory in directories:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        for entry in files:
            _write(entry)
        if expect is None:
            return {"backup": backup}
        started = time.monotonic()
        rollout.atomic_write(path, new_text.encode())
    except OSError as exc:
        pending.restore(record)
        raise KubeCompassError("writing the change failed (%s); every file was restored (backup %s)"
                               % (exc.strerror or exc, backup), "node") from None
    if rollout.wait_until(lambda: converged(expect, healthy), params["timeout"]):
        return {"backup": backup, "restart_seconds": round(time.monotonic() - started, 1)}
    # Roll back: the previous files and manifest, then wait for the old API server to be healthy again.
    pending.restore(record)
    recovered = rollout.wait_until(healthy, params["timeout"])
    raise KubeCompassError(
        "the API server did not come back healthy with the new flags within %ss; the previous manifest was "
        "restored (backup %s) and the API server is %s" % (params["timeout"], backup,
                                                           "healthy again" if recovered else "STILL NOT HEALTHY"),
        "rolled_back")


def main():
    module = AnsibleModule(
        argument_spec={
            "manifest": {"type": "path", "default": "/etc/kubernetes/manifests/kube-apiserver.yaml"},
            "set_flags": {"type": "dict", "default": {}},
            "remove_flags": {"type": "list", "elements": "str", "default": []},
            "volumes": {"type": "list", "elements": "dict", "default": []},
            "files": {"type": "list", "elements": "dict", "default": []},
            "secret_files": {"type": "list", "elements": "dict", "default": [], "no_log": False, "options": {
                "path": {"type": "path", "required": True},
                "content": {"type": "str", "required": True, "no_log": True},
                "mode": {"type": "str", "default": "0600"},
            }},
            "backup_dir": {"type": "path", "default": "/var/lib/kubecompass/backups"},
            "endpoint": {"type": "str", "required": True},
            "ca_cert": {"type": "path", "default": "/etc/kubernetes/pki/ca.crt"},
            "client_cert": {"type": "path", "default": "/etc/kubernetes/pki/apiserver-kubelet-client.crt"},
            "client_key": {"type": "path", "default": "/etc/kubernetes/pki/apiserver-kubelet-client.key"},
            "timeout": {"type": "int", "default": 300},
            "node_name": {"type": "str"},
            "inject_flags": {"type": "dict"},
        },
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg="PyYAML is required on the node")
    for entry in module.params["files"]:
        if entry.get("secret"):
            module.no_log_values.add(entry.get("content"))
    node = module.params["node_name"] or os.uname()[1]
    notes = []

    def healthy():
        return rollout.endpoint_healthy(module.params["endpoint"], module.params["ca_cert"],
                                        module.params["client_cert"], module.params["client_key"])

    try:
        if module.check_mode:
            unproven = pending_change(module.params, module.params["manifest"], healthy)
        else:
            unproven = None
            note = recover_pending(module.params, module.params["manifest"], healthy)
            notes.extend([note] if note else [])
        path, current_text, new_text, files, directories, changes = plan(module.params)
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
            result.update(apply(module, path, current_text, new_text, files, directories))
    except KubeCompassError as exc:
        module.fail_json(msg="%s: %s" % (node, exc), category=exc.category)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
