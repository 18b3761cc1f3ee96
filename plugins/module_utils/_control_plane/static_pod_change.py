# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The change of a control-plane static pod (kube-apiserver, kube-controller-manager, kube-scheduler) on this
kubeadm node, for the static_pod_manifest module: plan it from the files on the node, recover what an interrupted
run left, and apply it through rollback.apply_with_rollback (kubelet restarts the pod when its manifest changes).

The API server's health gate is /livez and /readyz on the node's own endpoint; the controller manager's and the
scheduler's is /healthz on their secure port (10257, 10259) at the bind address of the manifest on disk, so the
gate follows a --bind-address the change moves, and the rollback moves back."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import os

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import (
    pending,
    rollback,
    rollout,
    static_pod,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - the module reports the missing PyYAML
    HAS_YAML = False


APISERVER = static_pod.APISERVER
IDENTITY_FLAGS = {APISERVER: ("bind-address", "advertise-address", "secure-port"),
                  static_pod.CONTROLLER_MANAGER: ("bind-address", "secure-port"),
                  static_pod.SCHEDULER: ("bind-address", "secure-port")}
SECURE_PORTS = {static_pod.CONTROLLER_MANAGER: "10257", static_pod.SCHEDULER: "10259"}
MANIFEST_DIR = "/etc/kubernetes/manifests"


def _identity(manifest_flags, component=APISERVER):
    """Flags that tell this node's component from the others sharing the host (the local control plane)."""
    return {key: manifest_flags.get(key) for key in IDENTITY_FLAGS[component]}


def component_of(params):
    return params.get("component") or APISERVER


def subject(component):
    """The component as messages name it."""
    return "the API server" if component == APISERVER else component


def manifest_path(params):
    """The manifest option, else kubeadm's path of the component's manifest."""
    return params.get("manifest") or "%s/%s.yaml" % (MANIFEST_DIR, component_of(params))


def _check_file_entry(index, entry, watched_dirs):
    """A files[] entry needs path and content; mode, when given, is octal text such as '0600'; never a path in a
    directory kubelet reads as pods."""
    rollout.check_file_entry(index, entry)
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


def _annotations(params, managed):
    """The digest annotations of the managed files, and those the caller sets (only under the collection's
    prefix: the manifest's other annotations are kubeadm's)."""
    annotations = static_pod.file_checksum_annotations(managed)
    for key, value in sorted((params.get("annotations") or {}).items()):
        if not str(key).startswith(static_pod.ANNOTATION_PREFIX):
            raise KubeCompassError("annotations: %s is not under %s" % (key, static_pod.ANNOTATION_PREFIX), "input")
        annotations[key] = str(value)
    return annotations


def plan(params):
    """Read the current files and compute what must change:
    (manifest path, old text, new text, files to write, directories to create, changes)."""
    path = manifest_path(params)
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
            _annotations(params, managed), component_of(params))
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
    component = component_of(params)
    new_flags = _flags(new_text)
    old_identity = _identity(_flags(current_text), component)
    return {"component": component, "identity": _identity(new_flags, component),
            "previous_pid": rollout.running_component(old_identity, component)[0],
            "present": {flag: new_flags[flag] for flag in params["set_flags"] if flag in new_flags},
            "absent": [flag for flag in params["set_flags"] if flag not in new_flags] + list(params["remove_flags"])}


def _flags(text):
    """Flags of a kubeadm static pod manifest's text (one container)."""
    return rollout.manifest_flags(yaml.safe_load(text))


def converged(expect, healthy):
    """A new process (the old one may still answer with the old files loaded) runs the new flags, healthy. A
    record without a component predates them: the API server's."""
    pid, running = rollout.running_component(expect["identity"], expect.get("component") or APISERVER)
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


def _process(params):
    component = component_of(params)
    return "API server" if component == APISERVER else component


def pending_change(params, path, healthy):
    """Check mode: the change line for a change an interrupted run left unproven (None when there is none)."""
    backup_root = rollout.check_backup_dir(params["backup_dir"], [os.path.dirname(path)])
    record = pending.read(backup_root, _marker_name(path))
    if record is None or _proven(record, healthy):
        return None
    return ("restore backup %s of a change an interrupted run left unproven (no new %s process runs it), "
            "then make the change again" % (record["backup"], _process(params)))


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
        return ("a change an interrupted run left pending (backup %s) is done: a new %s process carries it"
                % (record["backup"], _process(params)))
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
                               "%s is STILL NOT HEALTHY" % (record["backup"], subject(component_of(params))), "node")
    return ("an interrupted run left a change no new %s process runs; its backup %s was restored first"
            % (_process(params), record["backup"]))


class StaticPodChange(rollback.NodeChange):
    """Files first (a hostPath of type File must exist when the pod is admitted), then the manifest, whose change
    makes kubelet restart the API server; effective once a new process runs the new flags."""

    def __init__(self, params, path, new_text, files, directories, expect, healthy):
        super().__init__(rollout.check_backup_dir(params["backup_dir"], [os.path.dirname(path)]), params["backup_dir"],
                         _marker_name(path), endpoint_of(params, path), healthy, params["timeout"])
        self.subject = subject(component_of(params))
        self.path, self.new_text, self.files, self.directories, self.expect = path, new_text, files, directories, expect

    def write(self):
        for directory in self.directories:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        for entry in self.files:
            _write(entry)
        if self.expect is None:
            return False
        rollout.atomic_write(self.path, self.new_text.encode())
        return True

    def converged(self):
        return converged(self.expect, self.healthy)

    def failure(self, reason, record, restarted, recovered):
        if recovered is None:  # nothing was restarted: the manifest was never written
            return KubeCompassError("%s; every file was restored (backup %s)" % (reason, record["backup"]), "node")
        return KubeCompassError("%s; the previous manifest was restored (backup %s) and %s is %s" % (
            reason, record["backup"], self.subject, "healthy again" if recovered else "STILL NOT HEALTHY"), "rolled_back")


def endpoint_of(params, path=None):
    """The URL of the health gate. The API server's is given (the node's own address); a controller manager's or
    scheduler's is its secure port at the --bind-address of the manifest on disk now (127.0.0.1 when it binds
    every interface or the manifest cannot be read)."""
    component = component_of(params)
    if component == APISERVER:
        return params["endpoint"]
    try:
        with open(path or manifest_path(params)) as handle:
            flags = _flags(handle.read())
    except (OSError, yaml.YAMLError, AttributeError):
        flags = {}
    return rollout.component_healthz_url(flags, SECURE_PORTS[component])


def healthy_probe(params):
    """The node's own API server answers /livez and /readyz (verified with the node's CA and client pair); a
    controller manager or scheduler answers /healthz where its manifest on disk says it serves."""
    if component_of(params) != APISERVER:
        return lambda: rollout.healthz_ok(endpoint_of(params))
    return lambda: rollout.endpoint_healthy(params["endpoint"], params["ca_cert"], params["client_cert"],
                                            params["client_key"])


def apply(module, path, current_text, new_text, files, directories):
    """Back up, record the change, write, wait for a new process with the new flags; restore everything on timeout
    or write failure. Returns result keys."""
    params = module.params
    expect = expectation(params, current_text, new_text)
    change = StaticPodChange(params, path, new_text, files, directories, expect, healthy_probe(params))
    written = {entry["path"]: pending.digest(entry["content"].encode()) for entry in files}
    written[path] = pending.digest(new_text.encode())
    return rollback.apply_with_rollback(change, written, [f["path"] for f in files if f.get("secret")], expect)
