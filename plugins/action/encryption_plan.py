# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import encryption
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.plugin_utils._planner_action import PlannerAction
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.encryption import STRONG_PROVIDERS

ARGUMENT_SPEC = {
    "nodes": {"type": "dict", "required": True},
    "etcd_scan": {"type": "dict"},
    "provider": {"type": "str", "choices": list(STRONG_PROVIDERS)},
    "kms_name": {"type": "str"},
    "kms_endpoint": {"type": "str"},
    "kms_timeout": {"type": "str", "default": "3s"},
    "rotate": {"type": "bool", "default": False},
    "drop_identity": {"type": "bool", "default": True},
    "resume_target": {"type": "dict"},
    "snapshots": {"type": "list", "elements": "str", "default": []},
    "snapshot_dirs_missing": {"type": "list", "elements": "list", "default": []},
    "retired_keys": {"type": "dict", "default": {}},
    "drop_keys_snapshots_need": {"type": "bool", "default": False},
}


def plan(args, now=None):
    """The next step for every node from their config texts and the etcd scan: a JSON-friendly result whose
    ``node_files`` hold the full config text per node (key material: the task must be no_log)."""
    nodes = args["nodes"]
    if not nodes:
        raise KubeCompassError("no control-plane node was given", "input")
    configs = {}
    for node, text in sorted(nodes.items()):
        if text is not None and not isinstance(text, str):
            raise KubeCompassError("nodes.%s must be the text of an encryption configuration or null, not a value of "
                                   "type %s" % (node, type(text).__name__), "input")
        try:
            configs[node] = encryption.parse_config(text) if text else None
        except KubeCompassError as exc:
            raise KubeCompassError("%s: its encryption configuration cannot be used: %s" % (node, exc),
                                   "node") from None
    kms = None
    if args["provider"] == "kms" and (args["kms_name"] or args["kms_endpoint"]):
        if not args["kms_name"] or not args["kms_endpoint"]:
            raise KubeCompassError("provider kms needs kms_name and kms_endpoint (unix:///path/to/socket)", "input")
        kms = encryption.Provider.kms(args["kms_name"], args["kms_endpoint"], args["kms_timeout"])
    now = now or datetime.datetime.now(datetime.timezone.utc)
    records = _records(args["retired_keys"])
    snapshots = [str(item) for item in args["snapshots"]]
    still_needed = [label for label, ids in records.items() if set(ids) & set(snapshots)]
    unlisted = _unlisted(records, snapshots, _missing_dirs(args["snapshot_dirs_missing"]))
    try:
        target = encryption.choose_target(configs, args["etcd_scan"], args["provider"], now,
                                          rotate=args["rotate"], drop_identity=args["drop_identity"], kms=kms,
                                          resume=args["resume_target"], keep=still_needed)
        target, records, unusable = encryption.retention(configs, args["etcd_scan"], target, snapshots, records,
                                                         drop_needed=args["drop_keys_snapshots_need"])
        step = encryption.next_step(configs, args["etcd_scan"], target)
    except ValueError as exc:
        raise KubeCompassError("cannot plan the encryption step: %s" % exc, "input") from None
    blind = sorted(set(unlisted) & encryption.removed_labels(configs, step))
    if blind and not args["drop_keys_snapshots_need"]:
        label = blind[0]
        raise KubeCompassError(
            "cannot drop %s: the escrow record lists etcd snapshots it needs in %s, which does not exist on %s "
            "(%s not found on any node): mount or restore the directory, create it empty if those snapshots are "
            "gone, or set encryption_at_rest_drop_keys_snapshots_need" % (
                label, unlisted[label][0], ", ".join(unlisted[label][1]), ", ".join(unlisted[label][2])), "node")
    node_files = {}
    for node, desired in step.desired_config_per_node.items():
        if desired is None:
            node_files[node] = None
        elif node in step.changed_nodes or not nodes[node]:
            node_files[node] = desired.render()
        else:
            node_files[node] = nodes[node]  # unchanged: the file stays byte for byte
    result = step.to_dict()
    result.update({"target": target.label, "done": step.state == encryption.DONE,
                   "blocked": step.state == encryption.BLOCKED, "node_files": node_files,
                   "target_key": _target_key(target), "kept_for_snapshots": list(target.keep),
                   "retired_keys": records, "unusable_snapshots": unusable,
                   "escrow_keys": _escrow_keys(configs, target)})
    return result


def _records(value):
    """{label: [snapshot ids]} as recorded in the escrow; anything else is an input error naming the option."""
    records = {}
    for label, ids in (value or {}).items():
        if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
            raise KubeCompassError("retired_keys[%s] must be a list of snapshot ids" % label, "input")
        records[str(label)] = ids
    return records


def _missing_dirs(value):
    """{directory: [nodes]} from [[node, directory], ...]: configured snapshot directories absent on a node."""
    missing = {}
    for pair in value or []:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(item, str) for item in pair)):
            raise KubeCompassError("snapshot_dirs_missing must list [node, directory] pairs", "input")
        missing.setdefault(pair[1].rstrip("/") or "/", []).append(pair[0])
    return missing


def _unlisted(records, snapshots, missing):
    """{label: (directory, [nodes], [snapshot ids])}: retired keys whose recorded snapshots were found on no node
    but lie in a directory absent on some node (an unmounted volume may still hold them): never proof they are
    gone. A recorded id is a path, optionally after ``node:``."""
    unlisted = {}
    for label, ids in sorted(records.items()):
        for directory, nodes in sorted(missing.items()):
            prefix = directory.rstrip("/") + "/"
            inside = [item for item in ids if item not in snapshots
                      and (item if item.startswith("/") else item.partition(":")[2]).startswith(prefix)]
            if inside and label not in unlisted:
                unlisted[label] = (directory, sorted(nodes), sorted(inside))
    return unlisted


def _target_key(target):
    """Name and fingerprint of the key this rotation ends with (what is recorded and resumed); None for KMS."""
    if target.provider.kind == "kms":
        return None
    key = target.provider.keys[0]
    return {"name": key.name, "fingerprint": key.fingerprint(), "provider": target.provider.kind,
            "label": target.label}


def _escrow_keys(configs, target):
    """Every keyed key the nodes or the target hold, with its material, by storage label (one name may be a key of
    two providers): what must be escrowed before the step's files are written (key material: the task must be
    no_log). One label with two materials fails naming where each is."""
    parts = [(node, part) for node, config in sorted(configs.items()) for part in encryption.decoders(config)]
    keys, where = {}, {}
    for node, part in parts + [("the target", part) for part in target.provider.split()]:
        if part.keys:
            key, label = part.keys[0], part.labels()[0]
            entry = keys.setdefault(label, {"name": key.name, "provider": part.kind, "fingerprint": key.fingerprint(),
                                            "secret": key.secret()})
            if entry["fingerprint"] != key.fingerprint():
                raise KubeCompassError("%s has other key material on %s than on %s (fingerprint %s, not %s): restore "
                                       "one key source on every node before anything is escrowed" % (
                                           label, node, where[label], key.fingerprint(), entry["fingerprint"]),
                                       "node")
            where.setdefault(label, node)
    return [keys[label] for label in sorted(keys)]


class ActionModule(PlannerAction):
    """Runs on the controller: key material read from the nodes stays in this process and the task's registered
    result; nothing is written anywhere."""

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def planned(self, args):
        return plan(args)
