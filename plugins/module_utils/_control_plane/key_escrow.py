# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The escrow record of a cluster's encryption keys: every key ever written to a node (name, provider,
fingerprint, material) by its storage label (one name may be a key of two providers), the rotation target in
progress, and per retired key the snapshots that may need it. Pure: merging and checking records; the action
plugin encrypts and writes them."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import base64
import binascii
import json

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

# 2: keys by storage label; 1 (still read) keyed them by name.
FORMAT = 2
FORMATS = (1, 2)


class EscrowError(KubeCompassError):
    """An escrow that cannot be read or written. The message never quotes key material."""

    def __init__(self, message):
        super(EscrowError, self).__init__("encryption_at_rest_escrow: %s" % message, "escrow")


def empty(cluster):
    return {"format": FORMAT, "cluster": cluster, "keys": {}, "rotation_target": None, "retired_keys": {}}


def label(provider, name):
    """The storage label of a keyed provider's key, as etcd values and the planner name it."""
    return "k8s:enc:%s:v1:%s" % (provider, name)


def by_label(keys):
    """``keys`` ({id: {provider, fingerprint, ...}}) by storage label, each with its name: records of format 1 and
    node records written before keyed them by name. Raises EscrowError for an entry without provider."""
    result = {}
    for ident, key in (keys or {}).items():
        if not (isinstance(key, dict) and isinstance(key.get("provider"), str)
                and isinstance(key.get("fingerprint"), str)):
            raise EscrowError("key %s of the record has no provider and fingerprint" % ident)
        name = key.get("name") if isinstance(key.get("name"), str) else ident
        result[label(key["provider"], name)] = dict(key, name=name)
    return result


def load(text, cluster):
    """The record from its decrypted YAML/JSON text (None or empty: a new record)."""
    if not text or not text.strip():
        return empty(cluster)
    try:
        record = json.loads(text)
    except ValueError:
        raise EscrowError("the escrow of %s is not a record this collection wrote" % cluster) from None
    if not isinstance(record, dict) or record.get("format") not in FORMATS or not isinstance(record.get("keys"), dict):
        raise EscrowError("the escrow of %s is not a record this collection wrote" % cluster)
    if record.get("cluster") != cluster:
        raise EscrowError("the escrow file names cluster %s, not %s" % (record.get("cluster"), cluster))
    return dict(record, format=FORMAT, keys=by_label(record["keys"]))


def merge(record, keys, rotation_target=None, retired_keys=None):
    """(record, added): ``keys`` added by storage label, never removed or replaced (a label escrowed with other
    material is an error: restoring either would lose the other's Secrets); the target and retirement records
    updated. ``added`` lists the labels added."""
    merged = json.loads(json.dumps(record))
    added = []
    for key in keys or []:
        storage = label(key["provider"], key["name"])
        known = merged["keys"].get(storage)
        if known is not None:
            if known["fingerprint"] != key["fingerprint"]:
                raise EscrowError("key %s is escrowed with other material (fingerprint %s, now %s)" % (
                    storage, known["fingerprint"], key["fingerprint"]))
            continue
        merged["keys"][storage] = {"name": key["name"], "provider": key["provider"],
                                   "fingerprint": key["fingerprint"], "secret": key["secret"]}
        added.append(storage)
    if rotation_target is not None:
        merged["rotation_target"] = {"name": rotation_target["name"], "fingerprint": rotation_target["fingerprint"]}
    if retired_keys is not None:
        merged["retired_keys"] = {label: sorted(ids) for label, ids in retired_keys.items()}
    return merged, sorted(added)


def dump(record):
    """Deterministic JSON (also YAML): an unchanged record re-encrypts only when something changed."""
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def public(record):
    """What may be shown: keys by label with name, provider and fingerprint, the target, the retirement records; no
    material."""
    return {"keys": {storage: {"name": key["name"], "provider": key["provider"], "fingerprint": key["fingerprint"]}
                     for storage, key in sorted(record["keys"].items())},
            "rotation_target": record.get("rotation_target"), "retired_keys": record.get("retired_keys") or {}}


def checked_public(escrowed):
    """``escrowed`` (a record without key material, as kept on the nodes) if it has the shape public() gives, else
    EscrowError: a damaged record never passes as 'already escrowed'."""
    if escrowed is None:
        return None
    shaped = isinstance(escrowed, dict)
    keys, target, retired = (escrowed.get("keys", {}), escrowed.get("rotation_target"),
                             escrowed.get("retired_keys", {})) if shaped else ({}, None, {})
    if not (shaped and isinstance(keys, dict) and all(isinstance(key, dict) for key in keys.values())
            and (target is None or isinstance(target, dict)) and isinstance(retired, dict)
            and all(isinstance(ids, list) for ids in retired.values())):
        raise EscrowError("the escrow record kept on the nodes is damaged (not the shape this collection writes): "
                          "remove it to escrow every key again")
    try:
        return dict(escrowed, keys=by_label(keys))
    except EscrowError:
        raise EscrowError("the escrow record kept on the nodes is damaged (a key without provider and fingerprint): "
                          "remove it to escrow every key again") from None


def from_public(cluster, escrowed):
    """A record without key material holding what ``escrowed`` (a public record, e.g. the one kept on the nodes)
    says of the rotation target and the retired keys: the base a command-mode escrow merges onto."""
    record = empty(cluster)
    escrowed = checked_public(escrowed) or {}
    record["rotation_target"] = escrowed.get("rotation_target") or None
    record["retired_keys"] = {label: sorted(ids) for label, ids in (escrowed.get("retired_keys") or {}).items()}
    return record


def covered(record, escrowed):
    """True when the public ``escrowed`` record already holds every key of ``record`` (same name and fingerprint),
    its rotation target and its retired keys: nothing new to escrow."""
    shown, escrowed = public(record), escrowed or {}
    known = escrowed.get("keys") or {}
    return (all(known.get(storage, {}).get("fingerprint") == key["fingerprint"]
                for storage, key in shown["keys"].items())
            and shown["rotation_target"] == (escrowed.get("rotation_target") or None)
            and shown["retired_keys"] == (escrowed.get("retired_keys") or {}))


def accumulated(record, escrowed):
    """public(record) plus the keys ``escrowed`` lists that ``record`` does not hold: every key ever escrowed."""
    shown = public(record)
    keys = dict((escrowed or {}).get("keys") or {})
    keys.update(shown["keys"])
    shown["keys"] = dict(sorted(keys.items()))
    return shown


def decryption_config(record, names):
    """An EncryptionConfiguration reading Secrets with the escrowed keys ``names`` (storage labels, or key names
    when only one provider has that name; in order) plus identity: what a restore of an old snapshot needs. Key
    material: write it 0600."""
    from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import encryption
    keys = by_label(record["keys"])
    providers = []
    for name in names:
        key = keys.get(name)
        if key is None:
            named = [entry for entry in keys.values() if entry["name"] == name]
            key = named[0] if len(named) == 1 else None
        if key is None:
            raise EscrowError("key %s is not in the escrow (or names keys of two providers)" % name)
        providers.append(encryption.Provider.keyed(key["provider"], [encryption.Key(key["name"], key["secret"])]))
    return encryption.render_config(encryption._group(providers) + [encryption.Provider.identity()])


def node_record(node, slurped):
    """The public record a node keeps, from ``slurped`` (what ansible.builtin.slurp returns: base64 ``content``,
    ``source``); EscrowError naming the node and the file when it is damaged (a truncated write, a hand edit)."""
    source = slurped.get("source") if isinstance(slurped, dict) else None
    try:
        text = base64.b64decode(slurped["content"], validate=True).decode("utf-8")
        return checked_public(json.loads(text) if text.strip() else None) or {}
    except (TypeError, KeyError, ValueError, binascii.Error, UnicodeDecodeError, EscrowError):
        raise EscrowError("%s: %s is not a valid escrow record (remove it to escrow every key again)" % (
            node, source if isinstance(source, str) else "the record kept there")) from None


def combined(shown, nodes, target_from_nodes):
    """``shown`` (a public record: the vault file's, or what a command-mode run was given) combined with ``nodes``
    ({node: public record}): keys accumulated and retired keys united (keeping a key longer loses nothing). The
    rotation target is ``shown``'s unless ``target_from_nodes`` (a command's escrow cannot be read back): then the
    nodes' records must agree on it, else EscrowError naming them."""
    result = {"keys": dict(shown.get("keys") or {}), "rotation_target": shown.get("rotation_target"),
              "retired_keys": {label: sorted(ids) for label, ids in (shown.get("retired_keys") or {}).items()}}
    targets = {}
    for node, record in sorted(nodes.items()):
        for storage, key in (record.get("keys") or {}).items():
            result["keys"].setdefault(storage, key)
        for storage, ids in (record.get("retired_keys") or {}).items():
            result["retired_keys"][storage] = sorted(set(result["retired_keys"].get(storage, [])) | set(ids))
        if record.get("rotation_target"):
            targets.setdefault(json.dumps(record["rotation_target"], sort_keys=True), []).append(node)
    if target_from_nodes and targets:
        if len(targets) > 1:
            raise EscrowError("the nodes' escrow records disagree on the rotation target (%s): keep the record of "
                              "the node whose keys are right on every node, or remove them all" % "; ".join(
                                  "%s on %s" % (json.loads(target).get("name"), ", ".join(names))
                                  for target, names in sorted(targets.items())))
        result["rotation_target"] = json.loads(next(iter(targets)))
    result["keys"] = dict(sorted(result["keys"].items()))
    return result
