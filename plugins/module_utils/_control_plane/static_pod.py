# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The kube-apiserver static pod of a kubeadm node as data: flags in the container's command, hostPath volumes and
their mounts. Pure functions; static_pod_change.py reads and writes the file (through rollout.py).

Every planner of this package describes what the API server needs as a *change*, a JSON-friendly dict whose keys
are the static_pod_manifest module's options (so a role can pass it through unchanged)::

    {"set_flags": {flag: value}, "remove_flags": [flag], "volumes": [volume], "files": [file], "notes": [text]}

- A flag name has no leading dashes. A value is a string (booleans and numbers are written as the flag parser
  reads them, lists comma-joined) or a *list merge* ``{"add": [...], "remove": [...]}`` for comma-list flags:
  missing ``add`` items are appended, ``remove`` items dropped, the user's other items and their order kept; an
  empty result means the flag is absent.
- A volume is ``{"name", "host_path", "mount_path", "read_only", "type"}`` (hostPath type: File,
  DirectoryOrCreate, ...).
- A file is ``{"path", "content", "mode", "secret"}``; files are written before the manifest changes (a hostPath
  of type File must exist when the pod is admitted).
- Notes are what an operator must know or do that the change itself cannot.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
import difflib
import hashlib
import posixpath
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import (
    KUBEADM_MANIFESTS,
    RANCHER,
    pod_container,
)

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - the node_facts and static_pod_manifest modules report it
    HAS_YAML = False

APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
COMPONENTS = (APISERVER, CONTROLLER_MANAGER, SCHEDULER)
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
WILDCARD_ADDRESSES = ("0.0.0.0", "::")
# Directories kubelet reads as static pods: kubeadm's staticPodPath and RKE2's.
STATIC_POD_DIRS = (KUBEADM_MANIFESTS, RANCHER["rke2"]["data_dir"] + "/agent/pod-manifests")
CHANGE_KEYS = ("set_flags", "remove_flags", "volumes", "files", "notes")
MERGE_KEYS = ("add", "remove")
ANNOTATION_PREFIX = "checksum.kubecompass.io/"
# core/v1 HostPathType values.
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice")
_FLAG_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_VOLUME_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


# -- flag values -------------------------------------------------------------------------------------------------

def check_flag_name(name):
    if not isinstance(name, str) or not _FLAG_NAME.match(name):
        raise ValueError("flag name %r must be given without dashes, e.g. 'profiling'" % (name,))
    return name


def is_merge(value):
    return isinstance(value, dict)


def flag_text(value):
    """A flag value as the command line carries it: booleans lower case, numbers as digits, lists comma-joined."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return ",".join(flag_text(item) for item in value)
    if isinstance(value, str):
        return value
    raise ValueError("flag value %r is not a string, number, boolean or list" % (value,))


def split_list(value):
    """Items of a comma-list flag value (None and "" are empty)."""
    return [item.strip() for item in str(value or "").split(",") if item.strip()]


def _merge_items(spec, key):
    items = spec.get(key) or []
    if isinstance(items, str):
        items = split_list(items)
    return [flag_text(item) for item in items]


def check_merge(spec):
    unknown = sorted(set(spec) - set(MERGE_KEYS))
    if unknown:
        raise ValueError("a list merge takes only 'add' and 'remove', not %s" % ", ".join(unknown))
    add, remove = _merge_items(spec, "add"), _merge_items(spec, "remove")
    if set(add) & set(remove):
        raise ValueError("a list merge cannot add and remove %s" % ", ".join(sorted(set(add) & set(remove))))
    for item in add + remove:
        if not item or "," in item:
            raise ValueError("list merge item %r must be one non-empty item" % item)
    return add, remove


def resolve_flag(current, desired):
    """The value a flag has after applying ``desired`` to its ``current`` value (None: absent), or None when the
    flag ends up absent (an empty list merge)."""
    if not is_merge(desired):
        return flag_text(desired)
    add, remove = check_merge(desired)
    items = [item for item in split_list(current) if item not in remove]
    items += [item for item in add if item not in items]
    return ",".join(items) if items else None


def resolve_flags(current_flags, set_flags):
    """{flag: value after the change, None when absent} for every flag in set_flags: what the running process
    must show once the change is effective."""
    return {check_flag_name(name): resolve_flag((current_flags or {}).get(name), desired)
            for name, desired in (set_flags or {}).items()}


# -- changes -----------------------------------------------------------------------------------------------------

def check_path(what, path, watched_dirs=()):
    """A normalised absolute path outside every directory kubelet reads as pods (control-plane.md P1: kubelet runs
    any file there, whatever its name)."""
    if not isinstance(path, str) or not posixpath.isabs(path) or posixpath.normpath(path) != path:
        raise ValueError("%s %r must be a normalised absolute path" % (what, path))
    for directory in tuple(STATIC_POD_DIRS) + tuple(watched_dirs):
        if path == directory.rstrip("/") or path.startswith(directory.rstrip("/") + "/"):
            raise ValueError("%s %s is inside %s, which kubelet reads as pods" % (what, path, directory))
    return path


def check_file(entry):
    """A file of a change: absolute path outside the static pod directories, text content, octal mode."""
    if not isinstance(entry, dict):
        raise ValueError("a file must be a mapping with path, content, mode and secret")
    check_path("file", entry.get("path"))
    if not isinstance(entry.get("content"), str):
        raise ValueError("file %s: content must be text" % entry["path"])
    mode = entry.get("mode") or "0600"
    if not isinstance(mode, str) or not re.match(r"^0?[0-7]{3}$", mode):
        raise ValueError("file %s: mode %r must be octal digits such as '0600'" % (entry["path"], mode))
    return {"path": entry["path"], "content": entry["content"], "mode": mode, "secret": bool(entry.get("secret"))}


def check_volume(volume):
    """A volume of a change, validated and normalised."""
    if not isinstance(volume, dict):
        raise ValueError("a volume must be a mapping with name, host_path, mount_path, read_only and type")
    name = volume.get("name")
    if not isinstance(name, str) or not _VOLUME_NAME.match(name):
        raise ValueError("volume name %r is not a DNS label" % (name,))
    host, mount = volume.get("host_path"), volume.get("mount_path") or volume.get("host_path")
    for what, path in (("host_path", host), ("mount_path", mount)):
        if not isinstance(path, str) or not posixpath.isabs(path) or posixpath.normpath(path) != path.rstrip("/"):
            raise ValueError("volume %s: %s %r must be a normalised absolute path" % (name, what, path))
    kind = volume.get("type") or ""
    if kind not in HOST_PATH_TYPES:
        raise ValueError("volume %s: hostPath type %r is not one of %s" % (name, kind, ", ".join(HOST_PATH_TYPES[1:])))
    return {"name": name, "host_path": host, "mount_path": mount, "read_only": bool(volume.get("read_only")),
            "type": kind}


def new_change(set_flags=None, remove_flags=(), volumes=(), files=(), notes=()):
    set_flags = dict(set_flags or {})
    for name, value in set_flags.items():
        check_flag_name(name)
        if is_merge(value):
            check_merge(value)
        else:
            flag_text(value)
    remove_flags = [check_flag_name(name) for name in remove_flags]
    clash = sorted(set(set_flags) & set(remove_flags))
    if clash:
        raise ValueError("flags both set and removed: %s" % ", ".join(clash))
    return {"set_flags": set_flags, "remove_flags": remove_flags, "volumes": [check_volume(v) for v in volumes],
            "files": [check_file(f) for f in files], "notes": list(notes)}


def merge_changes(*changes):
    """One change doing all of ``changes`` (one API server restart instead of several). The same flag, volume name
    or file path with different values in two changes is an error, not a silent override."""
    merged = new_change()
    for change in changes:
        unknown = sorted(set(change) - set(CHANGE_KEYS))
        if unknown:
            raise ValueError("unknown change keys: %s" % ", ".join(unknown))
        for name, value in (change.get("set_flags") or {}).items():
            if name in merged["set_flags"] and merged["set_flags"][name] != value:
                raise ValueError("two changes set --%s differently (%r, %r)" % (name, merged["set_flags"][name], value))
            merged["set_flags"][name] = value
        for name in change.get("remove_flags") or []:
            if name not in merged["remove_flags"]:
                merged["remove_flags"].append(name)
        for key, ident in (("volumes", "name"), ("files", "path")):
            for item in change.get(key) or []:
                same = [existing for existing in merged[key] if existing[ident] == item[ident]]
                if same and same[0] != item:
                    raise ValueError("two changes want different %s for %s" % (key, item[ident]))
                if not same:
                    merged[key].append(item)
        merged["notes"].extend(note for note in change.get("notes") or [] if note not in merged["notes"])
    return new_change(**merged)


# -- the manifest ------------------------------------------------------------------------------------------------

def _flag_name(arg):
    if not isinstance(arg, str) or not arg.startswith("--"):
        return None
    return arg[2:].partition("=")[0]


def _without(argv, name, keep=None):
    return [arg for index, arg in enumerate(argv) if _flag_name(arg) != name or index == keep]


def _first_occurrence(lists, name):
    for argv in lists:
        for index, arg in enumerate(argv):
            if _flag_name(arg) == name:
                return argv, index
    raise KeyError(name)


def _occurrences(argv, name):
    """Values of every occurrence of a flag, in order (a bare flag reads as true, as parse_flags reads it)."""
    return [parse_flags([arg]).get(name) for arg in argv if _flag_name(arg) == name]


def _edit_flags(container, set_flags, remove_flags, changes):
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    current = parse_flags(command + args)
    lists = (command, args)
    for name in sorted(set_flags):
        wanted = resolve_flag(current.get(name), set_flags[name])
        repeated = _occurrences(command + args, name)
        if wanted == current.get(name) and len(repeated) > 1 and wanted is not None:
            # The component runs with the last occurrence, kube-bench reads the first: leave exactly one.
            first, index = _first_occurrence(lists, name)
            for argv in lists:
                argv[:] = _without(argv, name, index if argv is first else None)
            first[index] = "--%s=%s" % (name, wanted)
            changes.append("set --%s=%s (was repeated: %s)" % (name, wanted, ", ".join(repeated)))
            continue
        if wanted == current.get(name):
            continue
        if wanted is None:
            for argv in lists:
                argv[:] = _without(argv, name)
            changes.append("remove --%s (was %s)" % (name, current[name]))
        elif name in current:
            # The first occurrence keeps its place and takes the value; repeats would add to or override it.
            first, index = _first_occurrence(lists, name)
            for argv in lists:
                argv[:] = _without(argv, name, index if argv is first else None)
            first[index] = "--%s=%s" % (name, wanted)
            changes.append("set --%s=%s (was %s)" % (name, wanted, current[name]))
        else:
            command.append("--%s=%s" % (name, wanted))
            changes.append("add --%s=%s" % (name, wanted))
    for name in remove_flags:
        if name in current:
            for argv in lists:
                argv[:] = _without(argv, name)
            changes.append("remove --%s (was %s)" % (name, current[name]))
    if command != list(container.get("command") or []):
        container["command"] = command
    if args != list(container.get("args") or []):
        container["args"] = args


def _pod_volume(volume):
    host_path = {"path": volume["host_path"]}
    if volume["type"]:
        host_path["type"] = volume["type"]
    return {"hostPath": host_path, "name": volume["name"]}


def _pod_mount(volume):
    mount = {"mountPath": volume["mount_path"], "name": volume["name"]}
    if volume["read_only"]:
        mount["readOnly"] = True
    return mount


def _put(items, wanted, what, changes):
    """Add or replace (by name, in place) one volume or volumeMount; record what changed."""
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == wanted["name"]:
            if item != wanted:
                items[index] = wanted
                changes.append("replace %s %s" % (what, wanted["name"]))
            return
    items.append(wanted)
    changes.append("add %s %s" % (what, wanted["name"]))


def _edit_volumes(spec, container, volumes, changes):
    for volume in volumes:
        pod_volumes = spec.get("volumes") or []
        mounts = container.get("volumeMounts") or []
        host_of = {v.get("name"): (v.get("hostPath") or {}).get("path") for v in pod_volumes if isinstance(v, dict)}
        for mount in mounts:
            if (isinstance(mount, dict) and mount.get("name") != volume["name"]
                    and str(mount.get("mountPath") or "").rstrip("/") == volume["mount_path"].rstrip("/")):
                # Two mounts at one path make the pod invalid; another tool's mount of the same host path serves.
                if (host_of.get(mount.get("name")) == volume["host_path"]
                        and bool(mount.get("readOnly")) == volume["read_only"]):
                    break
                raise ValueError("volume %s would be mounted at %s, where volume %s (host path %s) already is"
                                 % (volume["name"], volume["mount_path"], mount.get("name"),
                                    host_of.get(mount.get("name"))))
        else:
            _put(pod_volumes, _pod_volume(volume), "volume", changes)
            _put(mounts, _pod_mount(volume), "volumeMount", changes)
            spec["volumes"] = pod_volumes
            container["volumeMounts"] = mounts


def _edit_annotations(pod, annotations, changes):
    metadata = pod.setdefault("metadata", {})
    current = metadata.get("annotations") or {}
    for key in sorted(annotations):
        if current.get(key) != annotations[key]:
            changes.append("annotate %s=%s" % (key, annotations[key]))
            current[key] = annotations[key]
    if current:
        metadata["annotations"] = current


def file_checksum_annotations(files):
    """Pod annotations recording a short digest of every file the API server reads from ``files``: a new file
    content changes the manifest, so kubelet restarts the API server and the new content is loaded (a changed
    mounted file alone is never reloaded, control-plane.md P4). A SHA-256 prefix reveals nothing of a key."""
    annotations = {}
    for entry in files:
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", posixpath.basename(entry["path"]))[:63].strip("-_.") or "file"
        annotations[ANNOTATION_PREFIX + name] = hashlib.sha256(entry["content"].encode()).hexdigest()[:16]
    return annotations


def _edit_probes(container, changes):
    """kubelet's HTTP probes of kube-controller-manager and kube-scheduler follow a specific --bind-address (kubeadm
    points them at it): probing another address would fail and kubelet would restart the component in a loop."""
    bind = parse_flags(list(container.get("command") or []) + list(container.get("args") or [])).get("bind-address")
    if not bind or bind in WILDCARD_ADDRESSES:
        return
    for name in PROBES:
        get = (container.get(name) or {}).get("httpGet")
        if isinstance(get, dict) and get.get("host") != bind:
            get["host"] = bind
            changes.append("probe %s host %s" % (name, bind))


def plan_manifest(manifest, set_flags, remove_flags=(), volumes=(), annotations=None, component=APISERVER):
    """(new manifest, changes) for the static pod ``manifest`` (a dict as loaded from YAML) of ``component``
    (kube-apiserver, kube-controller-manager or kube-scheduler).

    Flags live in the kube-apiserver container's ``command`` (kubeadm) or ``args``: a flag that is present keeps
    its position and gets the new value (repeats collapse into that one, also when the last one already has the
    value: the component reads the last occurrence, kube-bench the first), a new flag is appended to ``command``
    (in name order, so the result does not depend on dict order), untouched flags keep their order. Volumes are
    added by name, or replaced in place when the same name has another path or type; ``annotations`` are set on
    the pod (see file_checksum_annotations). For the controller manager and the scheduler, the probes' host
    follows a specific --bind-address. Nothing else is touched.
    ``changes`` lists one line per edit; applying the result again yields no changes.
    """
    change = new_change(set_flags, remove_flags, volumes)
    if not isinstance(manifest, dict) or manifest.get("kind") != "Pod":
        raise ValueError("the manifest is not a Pod")
    new = copy.deepcopy(manifest)
    spec = new.get("spec")
    if component not in COMPONENTS:
        raise ValueError("component must be one of %s, not %r" % (", ".join(COMPONENTS), component))
    container = pod_container(new, component) if isinstance(spec, dict) else {}
    if not container:
        raise ValueError("the manifest has no containers")
    changes = []
    _edit_flags(container, change["set_flags"], change["remove_flags"], changes)
    if component != APISERVER:
        _edit_probes(container, changes)
    _edit_volumes(spec, container, change["volumes"], changes)
    _edit_annotations(new, annotations or {}, changes)
    return (new if changes else manifest), changes


# -- text ----------------------------------------------------------------------------------------------------------

def render_yaml(data):
    """Block-style YAML the way Kubernetes tools write it (sequences not indented under their key, null for None),
    keys in the order given, long strings never folded."""
    if not HAS_YAML:
        raise RuntimeError("PyYAML is required to write YAML")
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False, width=1 << 16, allow_unicode=True)


def render_manifest(manifest):
    """The manifest as kubeadm writes it. Key order is kept, so a kubeadm manifest (sorted keys) stays sorted and
    the diff of a change shows only the change."""
    return render_yaml(manifest)


def manifest_diff(before_text, after_text, path="kube-apiserver.yaml"):
    """Unified diff of two versions of a file (empty when equal), for --diff and check mode."""
    return "".join(difflib.unified_diff((before_text or "").splitlines(True), (after_text or "").splitlines(True),
                                        fromfile="before: %s" % path, tofile="after: %s" % path))
