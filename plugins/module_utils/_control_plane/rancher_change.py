# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The change of an RKE2/k3s server's kube-apiserver configuration on this node, for the rancher_apiserver_config
module: check the input, plan our drop-in (and the files it names) from the config files as the server merges
them, recover what an interrupted run left, and apply it through rollback.apply_with_rollback (the service is
restarted; on RKE2 the change is effective once a new API server process runs the new flags)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import contextlib
import os
import posixpath
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import (
    pending,
    rancher,
    rollback,
    rollout,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import (
    RANCHER,
    RANCHER_COMPONENT_DEFAULTS,
    config_files,
    merge_config_documents,
    to_string,
    truthy,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import load_document, on_host, read_text

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - the module reports the missing PyYAML
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
            if not truthy(value):
                raise KubeCompassError("settings secrets-encryption may only be turned on: turning it off makes "
                                       "every encrypted Secret unreadable (use secrets-encrypt disable)", "input")
    return dict(settings or {})


def _check_file_entry(index, entry, refused_dirs, config_path):
    """A files[] entry needs path and content; mode, when given, is octal text; no path where RKE2/k3s or
    kubelet would read it as config or as a pod."""
    rollout.check_file_entry(index, entry)
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


def render_content(args, settings, topic, component_args=None):
    """The drop-in text: rancher.render_dropin for flags only, else a header, the settings, then the flags."""
    lists = rancher.dropin_document(args, component_args)
    if not settings:
        return rancher.render_dropin(args, topic, component_args) if lists else None
    document = {key: settings[key] for key in sorted(settings)}
    document.update(lists)
    header = ("# Managed by kubecompass.readiness (%s). Sets %s%s;\n"
              "# edit your own config files, not this one: it is rewritten by the next remediation.\n"
              % (topic, ", ".join(sorted(settings)),
                 " and appends to %s" % rancher.appended_keys_text(lists) if lists else ""))
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
    changes = []
    for key in [rancher.append_key(component) for component in rancher.COMPONENTS]:
        old_args = [str(arg) for arg in old.get(key) or []]
        new_args = [str(arg) for arg in new.get(key) or []]
        changes += ["add %s %s" % (key, arg) for arg in new_args if arg not in old_args]
        changes += ["drop %s %s" % (key, arg) for arg in old_args if arg not in new_args]
    for key in sorted(set(old) | set(new)):
        if key in (rancher.append_key(component) for component in rancher.COMPONENTS):
            continue
        if key not in new:
            changes.append("unset %s" % key)
        elif key not in old or to_string(old[key]) != to_string(new[key]):
            changes.append("set %s: %s" % (key, to_string(new[key])))
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
    data_dir = to_string(without.get("data-dir")).rstrip("/") or RANCHER[distribution]["data_dir"]
    config_path = RANCHER[distribution]["config"]
    refused_dirs = [(rancher.dropin_dir(distribution), "RKE2/k3s read as config"),
                    (data_dir + "/agent/pod-manifests", "kubelet runs as static pods")]
    _check_backup_dir(root, params["backup_dir"], refused_dirs)

    needed = {key: value for key, value in settings.items()
              if key not in without or to_string(without[key]) != to_string(value)}
    # Our settings take part in the flag plan (secrets-encryption adds encryption-provider-config on k3s).
    plan_docs = [(path, text) for path, text in documents if path != ours]
    if needed:
        plan_docs.append((ours + "#settings", yaml.safe_dump(needed)))
    try:
        dropin = rancher.plan_dropin(distribution, plan_docs, topic, params["set_flags"], params["remove_flags"],
                                     root, params["component_flags"])
    except ValueError as exc:
        raise KubeCompassError("cannot plan the drop-in: %s" % exc, "input") from None
    problems = list(dropin["problems"])
    content = render_content(dropin["args"], needed, topic, dropin["component_args"])
    new_document = load_document(content) if content else None
    after_docs = _in_read_order(distribution, others, ours, new_document)
    after = merge_config_documents([doc for _path, doc in after_docs])
    names = [path for path, _doc in after_docs]
    for key, value in needed.items():
        if to_string(after.get(key)) != to_string(value):
            later = [path for path, doc in after_docs[names.index(ours) + 1:] if key in doc or key + "+" in doc]
            problems.append("with the drop-in %s would be %s, not %s: %s sets it later" % (
                key, to_string(after.get(key)) or "unset", to_string(value), ", ".join(later) or "a later config file"))
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
    before = merge_config_documents([d for _p, d in current_docs])
    flags = {}  # component: (flags it changes, flags after)
    for component in rancher.COMPONENTS:
        before_flags = rancher.effective_flags(distribution, before, root, component)
        after_flags = rancher.effective_flags(distribution, after, root, component)
        flags[component] = ({name: after_flags.get(name) for name in set(before_flags) | set(after_flags)
                             if before_flags.get(name) != after_flags.get(name)}, after_flags)
    changed_flags, after_flags = flags[rancher.APISERVER]
    # The components whose flags the change gives or takes are gated on their own /healthz too.
    gated = {component: {"changed_flags": flags[component][0], "healthz": component_healthz(component, flags[component][1])}
             for component in rancher.COMPONENTS[1:] if flags[component][0]}
    return {"path": ours, "existing": existing, "content": content, "args": dropin["args"],
            "component_args": dropin["component_args"], "settings": needed,
            "changes": changes, "files": files, "notes": dropin["notes"],
            "already_effective": dropin["already_effective"], "data_dir": data_dir, "refused_dirs": refused_dirs,
            "changed_flags": changed_flags, "after_flags": after_flags, "components": gated}


def component_healthz(component, flags):
    """Where ``component`` answers /healthz after the change; None when --secure-port=0 turns the port off."""
    if str(flags.get("secure-port")) == "0":
        return None
    return rollout.component_healthz_url(flags, RANCHER_COMPONENT_DEFAULTS[component]["secure-port"])


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


def restart_command(params):
    return params["restart_command"] or RESTART_COMMANDS[params["distribution"]]


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

    return (healthy, restart_command(params),
            _check_backup_dir(root, params["backup_dir"], change["refused_dirs"]), on_host(root, "/proc"))


def _new_process_runs(proc, component, old_pids, changed_flags):
    return any(pid not in old_pids and all(flags.get(name) == value for name, value in changed_flags.items())
               for pid, flags in rollout.component_processes(component, proc))


def converged(expect, healthy, proc):
    """Healthy, and on RKE2 (when the pod spec changes) a kube-apiserver process started after the change began
    runs the new flags: RKE2 keeps the old pod across the service restart. The same for each component of
    ``expect["components"]``, which must also answer its /healthz (k3s runs them in its own process: health only)."""
    if expect["new_process"] and not _new_process_runs(proc, rancher.APISERVER, expect["old_pids"],
                                                       expect["changed_flags"]):
        return False
    components = expect.get("components") or {}
    if any(wanted["new_process"] and not _new_process_runs(proc, component, wanted["old_pids"],
                                                           wanted["changed_flags"])
           for component, wanted in components.items()):
        return False
    return healthy() and all(rollout.healthz_ok(wanted["healthz"]) for wanted in components.values()
                             if wanted["healthz"])


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


def _restore_and_restart(module, record, command, healthy):
    """Put the backup back, restart, wait for health. Returns (rc, detail, healthy again). A failed restore keeps
    the marker for the next run."""
    try:
        pending.restore(record)
    except OSError as exc:
        raise KubeCompassError("restoring the backup %s failed (%s); the next run restores it first"
                               % (record["backup"], exc.strerror or exc), "node") from None
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


class DropinChange(rollback.NodeChange):
    """The files, then our drop-in (removed when no longer needed), then a restart of the service."""

    def __init__(self, module, change):
        params = module.params
        healthy, self.restart_command, backup_root, self.proc = _node(params, change)
        super().__init__(backup_root, params["backup_dir"], _marker_name(params), params["endpoint"], healthy,
                         params["timeout"])
        self.module, self.change, self.root, self.created = module, change, params["root"], []
        # RKE2 keeps the old API server pod running across the service restart: wait for a new process with the
        # new flags when the flags or a file a flag names change (the pod spec then changes). k3s restarts it
        # in-process.
        named = {entry["path"] for entry in change["files"]} & {str(v) for v in change["after_flags"].values()}
        rke2 = params["distribution"] == "rke2"
        self.expects_new_process = rke2 and bool(change["changed_flags"] or named or change["components"])
        self.expect = {"new_process": rke2 and bool(change["changed_flags"] or named),
                       "changed_flags": change["changed_flags"],
                       "old_pids": sorted(pid for pid, _flags in rollout.apiserver_processes(self.proc))
                       if rke2 and (change["changed_flags"] or named) else [],
                       "components": {component: dict(
                           wanted, new_process=rke2,
                           old_pids=sorted(pid for pid, _flags in rollout.component_processes(component, self.proc))
                           if rke2 else []) for component, wanted in change["components"].items()}}
        if change["components"]:
            self.subject = "the API server, %s" % ", ".join(sorted(change["components"]))

    def backup_label(self, record):
        return posixpath.join(self.backup_dir, os.path.basename(record["backup"]))

    def _make_dirs(self, directory, mode):
        missing = []
        while directory and not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for path in reversed(missing):
            os.mkdir(path, mode)
            self.created.append(path)

    def write(self):
        for entry in self.change["files"]:
            target = on_host(self.root, entry["path"])
            self._make_dirs(os.path.dirname(target), 0o700)
            rollout.atomic_write(target, entry["content"].encode(), int(str(entry.get("mode") or "0600"), 8))
        dropin = on_host(self.root, self.change["path"])
        if self.change["content"] is None:
            if os.path.exists(dropin):
                os.unlink(dropin)
        else:
            self._make_dirs(os.path.dirname(dropin), 0o755)
            rollout.atomic_write(dropin, self.change["content"].encode(), 0o600)
        return True

    def restart(self):
        return _restart(self.module, self.restart_command)

    def converged(self):
        return converged(self.expect, self.healthy, self.proc)

    def undo(self):
        for directory in reversed(self.created):
            with contextlib.suppress(OSError):
                os.rmdir(directory)

    def failure(self, reason, record, restarted, recovered):
        rc, detail = restarted
        return KubeCompassError(
            "%s; the previous files were restored (backup %s), %s ran again%s and the API server is %s" % (
                reason, self.backup_label(record), " ".join(self.restart_command),
                "" if rc == 0 else " but exited %d (%s)" % (rc, detail),
                "healthy again" if recovered else "STILL NOT HEALTHY"), "rolled_back")


def apply(module, change):
    """Back up, record the change, write, restart, wait for health (and on RKE2 for a new API server with the new
    flags); restore and restart again on failure. Returns result keys."""
    root = module.params["root"]
    node_change = DropinChange(module, change)
    written = {on_host(root, entry["path"]): pending.digest(entry["content"].encode()) for entry in change["files"]}
    written[on_host(root, change["path"])] = (pending.digest(change["content"].encode())
                                              if change["content"] is not None else None)
    return rollback.apply_with_rollback(
        node_change, written, [on_host(root, entry["path"]) for entry in change["files"] if entry.get("secret")],
        node_change.expect)
