# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""kubeadm's ClusterConfiguration (ConfigMap kube-system/kubeadm-config, key ClusterConfiguration) kept in step
with a hand-edited kube-apiserver manifest: ``kubeadm upgrade`` and ``kubeadm init phase control-plane`` rebuild
the manifest from it, so a flag or volume missing here is lost at the next upgrade (control-plane.md 2.1).

``apiServer.extraArgs`` is a list of ``{name, value}`` in kubeadm.k8s.io/v1beta4 and a map in v1beta3;
``apiServer.extraVolumes`` is a list of ``{name, hostPath, mountPath, readOnly, pathType}`` in both. Pure functions.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane.static_pod import (
    new_change,
    render_yaml,
    resolve_flag,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import load_document

DATA_KEY = "ClusterConfiguration"
V1BETA4 = "kubeadm.k8s.io/v1beta4"
V1BETA3 = "kubeadm.k8s.io/v1beta3"
# The ClusterConfiguration section of each control-plane component.
SECTIONS = {"kube-apiserver": "apiServer", "kube-controller-manager": "controllerManager",
            "kube-scheduler": "scheduler"}


def _load(data):
    text = (data or {}).get(DATA_KEY)
    if not text:
        raise ValueError("the kubeadm-config ConfigMap has no %s" % DATA_KEY)
    document = load_document(text)  # DocumentError is a ValueError
    if not isinstance(document, dict) or document.get("kind") != DATA_KEY:
        raise ValueError("kubeadm-config %s is not a ClusterConfiguration" % DATA_KEY)
    if document.get("apiVersion") not in (V1BETA4, V1BETA3):
        raise ValueError("ClusterConfiguration %s is not supported (kubeadm writes %s or %s)"
                         % (document.get("apiVersion"), V1BETA4, V1BETA3))
    return document


def _section(document, key, default):
    value = document.get(key)
    if value is None:
        value = document[key] = default
    return value


def extra_args(document, section="apiServer"):
    """<section>.extraArgs as flags (repeated v1beta4 entries read as the component reads them: the last)."""
    args = (document.get(section) or {}).get("extraArgs") or {}
    if isinstance(args, dict):
        return {str(name): str(value) for name, value in args.items()}
    return parse_flags(["--%s=%s" % (entry.get("name"), entry.get("value", "")) for entry in args
                        if isinstance(entry, dict)])


def _set_arg(api_server, as_list, name, value):
    args = _section(api_server, "extraArgs", [] if as_list else {})
    if not as_list:
        if value is None:
            args.pop(name, None)
        else:
            args[name] = value
        return
    positions = [index for index, entry in enumerate(args) if isinstance(entry, dict) and entry.get("name") == name]
    if value is not None and positions:
        args[positions[0]] = {"name": name, "value": value}
        positions = positions[1:]
    elif value is not None:
        args.append({"name": name, "value": value})
    for index in reversed(positions):
        del args[index]


def _extra_volume(volume):
    return {"name": volume["name"], "hostPath": volume["host_path"], "mountPath": volume["mount_path"],
            "readOnly": volume["read_only"], "pathType": volume["type"]}


def _normalised(entry):
    return {"name": entry.get("name"), "hostPath": entry.get("hostPath"), "mountPath": entry.get("mountPath"),
            "readOnly": bool(entry.get("readOnly")), "pathType": entry.get("pathType") or ""}


def _put_volume(api_server, volume):
    """Add or replace (by name) one extraVolume; True when something changed."""
    wanted = _extra_volume(volume)
    entries = _section(api_server, "extraVolumes", [])
    for entry in entries:
        if (isinstance(entry, dict) and entry.get("name") != wanted["name"]
                and str(entry.get("mountPath") or "").rstrip("/") == wanted["mountPath"].rstrip("/")):
            if entry.get("hostPath") == wanted["hostPath"] and bool(entry.get("readOnly")) == wanted["readOnly"]:
                return False  # another tool's volume already mounts it
            raise ValueError("extraVolume %s would be mounted at %s, where extraVolume %s already is"
                             % (wanted["name"], wanted["mountPath"], entry.get("name")))
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and entry.get("name") == wanted["name"]:
            if _normalised(entry) == wanted:
                return False
            entries[index] = wanted
            return True
    entries.append(wanted)
    return True


def _repeated(section, name):
    args = section.get("extraArgs")
    return isinstance(args, list) and sum(isinstance(e, dict) and e.get("name") == name for e in args) > 1


def plan_cluster_configuration(data, set_flags, remove_flags=(), volumes=(), base_flags=None,
                               component="kube-apiserver"):
    """(new ConfigMap data, changed) with the change's flags in the component's extraArgs (apiServer,
    controllerManager or scheduler) and its volumes in its extraVolumes. Other keys of ``data`` and of the
    document are kept; unchanged input comes back as is (no re-rendering), so a second application reports no
    change. A flag the change sets that is repeated in a v1beta4 list ends as one entry, as in the manifest.

    List merges (see static_pod) are resolved against ``base_flags`` when given (the manifest's flags, which
    include kubeadm's defaults such as authorization-mode=Node,RBAC), else against extraArgs.
    """
    if component not in SECTIONS:
        raise ValueError("component must be one of %s, not %r" % (", ".join(SECTIONS), component))
    change = new_change(set_flags, remove_flags, volumes)
    document = _load(data)
    new = copy.deepcopy(document)
    key = SECTIONS[component]
    api_server = _section(new, key, {})
    if not isinstance(api_server, dict):
        raise ValueError("ClusterConfiguration %s is not a mapping" % key)
    args = api_server.get("extraArgs")
    as_list = isinstance(args, list) or (args is None and new["apiVersion"] == V1BETA4)
    current = extra_args(new, key)
    base = current if base_flags is None else base_flags
    changed = False
    for name in sorted(change["set_flags"]):
        wanted = resolve_flag(base.get(name), change["set_flags"][name])
        if current.get(name) != wanted or (wanted is not None and _repeated(api_server, name)):
            _set_arg(api_server, as_list, name, wanted)
            changed = True
    for name in change["remove_flags"]:
        if name in current:
            _set_arg(api_server, as_list, name, None)
            changed = True
    for volume in change["volumes"]:
        changed = _put_volume(api_server, volume) or changed
    if not changed:
        return data, False
    new_data = dict(data)
    new_data[DATA_KEY] = render_yaml(new)
    return new_data, True
