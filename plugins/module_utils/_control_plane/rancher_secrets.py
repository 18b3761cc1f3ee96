# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Secrets encryption on RKE2 and k3s, driven through the distributions' own ``secrets-encrypt`` tool
(control-plane.md 2.2, 2.3, 4, P7). Pure functions: parse what the tool prints, decide the next step.

The tool keeps its own state machine, shared by every server through node annotations and the datastore. Its
stages are ``start``, ``prepare``, ``rotate``, ``reencrypt_request``, ``reencrypt_active`` and
``reencrypt_finished``; "Server Encryption Hashes" says whether every server runs the same encryption
configuration. Two procedures exist:

- ``rotate-keys`` (RKE2 from v1.28.1, GA in v1.29; k3s experimental from v1.28.1, documented GA from the September
  2024 releases v1.30.5+k3s1 / v1.31.1+k3s1): adds a key, promotes it and re-encrypts every Secret in one call,
  relying on the API server's automatic reload of the configuration. In HA the other servers are then restarted
  one at a time.
- the classic ``prepare`` -> restart all servers -> ``rotate`` -> restart all -> ``reencrypt`` -> restart all, for
  older releases (aescbc only).

k3s without ``secrets-encryption`` at install can enable it on a running cluster only from the releases carrying
k3s PR #13370 (backported to the 1.32-1.35 lines in the January 2026 releases): ``secrets-encrypt enable`` writes
an identity-only configuration, the servers restart with ``secrets-encryption: true``, then ``rotate-keys``
creates the first key and encrypts every Secret.

Nothing here reads, returns or logs key material: the status output names keys (``aescbckey-<timestamp>``) but
never prints them, and the parser keeps only the lines it knows.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import RANCHER

DISTRIBUTIONS = RANCHER
GOALS = ("enabled", "rotated")
STAGES = ("start", "prepare", "rotate", "reencrypt_request", "reencrypt_active", "reencrypt_finished")
# Stages during which the server re-encrypts on its own: wait, never start another step.
TRANSIENT_STAGES = ("reencrypt_request", "reencrypt_active")
# Stages where no rotation is in progress.
SETTLED_STAGES = ("start", "reencrypt_finished")
SERVICES = {"rke2": "rke2-server", "k3s": "k3s"}
# The classic commands only handle aescbc keys (k3s pkg/server/handlers/secrets-encrypt.go).
SECRETBOX_KEY_TYPE = "XSalsa20-POLY1305"

# rotate-keys: (first release of a minor line, "experimental"|"ga"). Lines above the last entry are GA.
_ROTATE_KEYS = {
    "rke2": [((1, 28, 1), "experimental"), ((1, 29, 0), "ga")],
    "k3s": [((1, 28, 1), "experimental"), ((1, 30, 5), "ga"), ((1, 31, 0), "experimental"), ((1, 31, 1), "ga")],
}
# k3s PR #13370 (enable on a running cluster): in every 1.36+ release; backported to these lines in January 2026
# releases whose exact patch numbers are not recorded here.
K3S_ENABLE_EXISTING_FROM = (1, 36)
K3S_ENABLE_EXISTING_BACKPORTED = ((1, 32), (1, 33), (1, 34), (1, 35))

_VERSION = re.compile(r"\bv?(\d+)\.(\d+)\.(\d+)(\S*)")
_KEY_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))$")


# -- parsing -----------------------------------------------------------------------------------------------------

def parse_status(text):
    """The output of ``rke2|k3s secrets-encrypt status`` as a dict.

    ``enabled`` (True/False), ``config_found`` (False for "Disabled, no configuration file found"), ``stage``,
    ``hashes_match`` (True for "All hashes match", False for any other text, None when the line is missing),
    ``hash_error`` (that other text, e.g. "hash does not match between node-1 and node-2"), ``active_key_type``
    and ``active_key_name`` (the key marked ``*``), ``keys`` (every key row: type, name, active). Raises
    ValueError when the text has no "Encryption Status" line. Unknown lines are ignored, never copied.
    """
    status = {"enabled": None, "config_found": True, "stage": None, "hashes_match": None, "hash_error": None,
              "active_key_type": None, "active_key_name": None, "keys": []}
    in_table = False
    for raw in (text or "").splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped:
            continue
        label, sep, value = stripped.partition(":")
        value = value.strip()
        if sep and label == "Encryption Status":
            words = value.split(",", 1)
            status["enabled"] = words[0].strip().lower() == "enabled"
            if len(words) > 1 and "no configuration file" in words[1].lower():
                status["config_found"] = False
            continue
        if sep and label == "Current Rotation Stage":
            status["stage"] = value or None
            continue
        if sep and label == "Server Encryption Hashes":
            status["hashes_match"] = value.lower() == "all hashes match"
            status["hash_error"] = None if status["hashes_match"] else value
            continue
        if re.match(r"^Active\s+Key Type\s+Name$", stripped):
            in_table = True
            continue
        if not in_table or set(stripped) <= set("- "):
            continue
        key = _key_row(line)
        if key is not None:
            status["keys"].append(key)
            if key["active"] and status["active_key_name"] is None:
                status["active_key_type"], status["active_key_name"] = key["type"], key["name"]
    if status["enabled"] is None:
        raise ValueError("no 'Encryption Status' line in the secrets-encrypt status output")
    return status


def _key_row(line):
    """One row of the key table: ' *      AES-CBC   aescbckey' (active) or '        AES-CBC   aescbckey'."""
    stripped = line.strip()
    active = stripped.startswith("*")
    fields = stripped.lstrip("*").split()
    if len(fields) < 2:
        return None
    return {"type": " ".join(fields[:-1]), "name": fields[-1], "active": active}


def parse_version(text):
    """(major, minor, patch, revision) from ``rke2 --version`` / ``k3s --version`` output or a version string such
    as ``v1.33.4+k3s1`` / ``v1.31.1+rke2r1``; None when no version is found. Revision is the +k3sN/+rke2rN number
    (0 when absent)."""
    match = _VERSION.search(text or "")
    if match is None:
        return None
    revision = re.search(r"(?:k3s|rke2r)(\d+)", match.group(4))
    return (int(match.group(1)), int(match.group(2)), int(match.group(3)), int(revision.group(1)) if revision else 0)


def format_version(version):
    return "v%d.%d.%d" % tuple(version[:3]) if version else "an unknown version"


def key_created(name):
    """When a key was created, from its name (``aescbckey-2021-12-10T22:54:38Z``, ``secretboxkey-<RFC 3339>``), or
    None for a key named without a time (the key generated at install)."""
    match = _KEY_TIME.search(name or "")
    if match is None:
        return None
    text = match.group(1).replace("Z", "+00:00")
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        return None


# -- version gates -----------------------------------------------------------------------------------------------

def rotate_keys_support(distribution, version):
    """"ga", "experimental" or "no" for ``secrets-encrypt rotate-keys`` on this release; None when unknown."""
    if distribution not in _ROTATE_KEYS:
        raise ValueError("distribution must be one of %s, not %r" % (", ".join(DISTRIBUTIONS), distribution))
    if not version:
        return None
    release = tuple(version[:3])
    support = "no"
    for first, level in _ROTATE_KEYS[distribution]:
        if release >= first:
            support = level
    return support


def k3s_enable_existing_support(version):
    """True when this k3s release can enable secrets encryption on a running cluster (PR #13370), False when it
    cannot, None when the minor line got the feature in a patch release this module cannot name."""
    if not version:
        return None
    line = tuple(version[:2])
    if line >= K3S_ENABLE_EXISTING_FROM:
        return True
    if line in K3S_ENABLE_EXISTING_BACKPORTED:
        return None
    return False


# -- planning ----------------------------------------------------------------------------------------------------

def _plan(state, reason, command=None, restart_after=False, next_actions=(), notes=()):
    """state: done (goal reached), run (run ``command`` on this server), wait (the server is re-encrypting),
    restart (the servers must restart one at a time before anything else), blocked (nothing safe to run)."""
    return {"state": state, "command": list(command) if command else None, "reason": reason,
            "restart_after": restart_after, "next_actions": list(next_actions), "notes": list(notes)}


def _restart_actions(distribution, then):
    service = SERVICES[distribution]
    return ["restart %s on this server and wait until it is ready" % service,
            "then restart %s on the other servers one at a time (serial: 1), each only after the previous one is "
            "ready: parallel restarts can lose etcd quorum" % service, then]


def _rotation_step(distribution, version, status, reason):
    """The first command of a key rotation on a settled cluster: rotate-keys when the release has it, else the
    classic prepare (aescbc only)."""
    support = rotate_keys_support(distribution, version)
    notes = []
    if support is None:
        return _plan("blocked", reason + "; cannot tell whether %s %s supports rotate-keys: give the version" % (
            distribution, format_version(version)))
    if support in ("ga", "experimental"):
        if support == "experimental":
            notes.append("rotate-keys is experimental in %s %s (automatic reload of the encryption configuration "
                         "was beta); take an etcd snapshot first" % (distribution, format_version(version)))
        if distribution == "rke2" and tuple(version[:2]) == (1, 29):
            notes.append("the RKE2 v1.29 release notes report rotate-keys broken in some builds: check yours")
        return _plan("run", reason + ": rotate-keys adds a key, makes it active and re-encrypts every Secret "
                     "(about 5 per second)", ["secrets-encrypt", "rotate-keys"], notes=notes)
    if status.get("active_key_type") == SECRETBOX_KEY_TYPE:
        return _plan("blocked", reason + "; the classic prepare/rotate/reencrypt steps of %s %s do not handle "
                     "secretbox keys: upgrade to a release with rotate-keys" % (distribution, format_version(version)))
    return _plan("run", reason + ": classic rotation, step 1 of 3 (prepare adds a key every server must load "
                 "before it is used)", ["secrets-encrypt", "prepare"], restart_after=True,
                 next_actions=_restart_actions(distribution, "then run this module again: it continues with "
                                                             "secrets-encrypt rotate"))


def _rotated_recently(status, max_key_age_days, now):
    created = key_created(status.get("active_key_name"))
    if created is None:
        return False, "the active key %s is the one generated at install (never rotated)" % (
            status.get("active_key_name") or "(none)")
    if max_key_age_days is None:
        return True, "the active key %s comes from a rotation" % status["active_key_name"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.timezone.utc)
    age = (now - created).total_seconds() / 86400.0
    name = status["active_key_name"]
    if age <= max_key_age_days:
        return True, "the active key %s is %.0f days old (limit %d)" % (name, age, max_key_age_days)
    return False, "the active key %s is %.0f days old, more than %d" % (name, age, max_key_age_days)


def _plan_disabled(status, distribution, version, config_enabled, enable_existing):
    service = SERVICES[distribution]
    if not status["config_found"]:
        if distribution == "rke2":
            return _plan("blocked", "RKE2 always encrypts Secrets, yet this server reports no encryption "
                         "configuration: inspect the server before changing anything")
        supported = k3s_enable_existing_support(version)
        caveat = ("k3s enables encryption on a running cluster only from releases with PR #13370 (1.36 and later; "
                  "backported to the 1.32-1.35 lines in the January 2026 releases)")
        if enable_existing is False or (enable_existing is None and supported is False):
            return _plan("blocked", "secrets encryption was never enabled on this cluster and k3s %s cannot enable "
                         "it on a running cluster: %s" % (format_version(version), caveat))
        if enable_existing is None and supported is None:
            return _plan("blocked", "secrets encryption was never enabled on this cluster; %s, and which %s patch "
                         "release got it is not known here: check the release notes, then set "
                         "k3s_enable_existing=true" % (caveat, format_version(version)))
        return _plan(
            "run", "secrets encryption was never enabled on this cluster: enable writes an identity-only "
            "configuration for every server (nothing is encrypted yet)", ["secrets-encrypt", "enable"],
            restart_after=True,
            next_actions=["make sure every server's config sets secrets-encryption: true "
                          "(kubecompass.readiness.rancher_apiserver_config with settings)"] + _restart_actions(
                distribution, "then run this module again: it continues with secrets-encrypt rotate-keys"),
            notes=["enable has failed on some releases (k3s#13595, k3s#14596: EOF on SQLite/kine); take a "
                   "datastore snapshot first"])
    if not status["keys"]:
        # Identity only: after `enable` and a restart (k3s PR #13370 flow).
        if config_enabled is False:
            return _plan("restart", "the encryption configuration is identity-only but this server's config does "
                         "not set secrets-encryption: true",
                         next_actions=["set secrets-encryption: true in every server's config "
                                       "(kubecompass.readiness.rancher_apiserver_config with settings)"]
                         + _restart_actions(distribution, "then run this module again"))
        reason = "the encryption configuration is identity-only (after secrets-encrypt enable); encrypting needs a " \
                 "first key"
        if rotate_keys_support(distribution, version) == "no":
            return _plan("blocked", reason + ", which only rotate-keys creates and %s %s does not have it" % (
                distribution, format_version(version)))
        return _rotation_step(distribution, version, status, reason)
    # Keys present but identity first: encryption was disabled with secrets-encrypt disable.
    then = "then run this module again"
    notes = []
    if rotate_keys_support(distribution, version) == "no":
        then = ("then run this module again with goal=rotated: on this release Secrets written while "
                "encryption was off stay plaintext until a rotation re-encrypts them")
    else:
        notes.append("enable re-encrypts every Secret with the existing key before it returns")
    return _plan("run", "secrets encryption was disabled (identity is the first provider); enable puts the "
                 "existing key first again", ["secrets-encrypt", "enable"], restart_after=True,
                 next_actions=_restart_actions(distribution, then), notes=notes + [
                     "%s must restart on every server to load the changed configuration" % service])


def plan_next(status, goal, distribution, version, config_enabled=None, enable_existing=None,
              max_key_age_days=None, now=None):
    """The next step toward ``goal`` ("enabled" or "rotated") from a parsed ``status`` on this server.

    ``version``: (major, minor, patch, revision) or None. ``config_enabled``: whether this server's config sets
    ``secrets-encryption: true`` (None: unknown; only k3s needs it). ``enable_existing``: the operator's word that
    this k3s release can enable encryption on a running cluster (None: decide from the version).
    ``max_key_age_days``: for goal rotated, the oldest active key accepted (None: any key made by a rotation).

    Returns ``{"state", "command", "reason", "restart_after", "next_actions", "notes"}`` (see _plan). ``command``
    is the secrets-encrypt subcommand to run on this server; ``restart_after`` means the servers must restart
    before the following step, which ``next_actions`` describes for the orchestration (playbook).
    """
    if goal not in GOALS:
        raise ValueError("goal must be one of %s, not %r" % (", ".join(GOALS), goal))
    if distribution not in DISTRIBUTIONS:
        raise ValueError("distribution must be one of %s, not %r" % (", ".join(DISTRIBUTIONS), distribution))
    now = now or datetime.datetime.now(datetime.timezone.utc)
    stage = status.get("stage")
    if stage in TRANSIENT_STAGES:
        return _plan("wait", "the server is re-encrypting Secrets (stage %s, about 5 per second): wait for "
                     "reencrypt_finished" % stage)
    if not status.get("config_found", True):
        return _plan_disabled(status, distribution, version, config_enabled, enable_existing)
    if stage is not None and stage not in STAGES:
        return _plan("blocked", "unknown rotation stage %r: this module does not know how to continue" % stage)
    if status.get("hashes_match") is False:
        return _plan("restart", "hashes differ (%s): the servers do not all run the same encryption configuration"
                     % (status.get("hash_error") or "no detail"),
                     next_actions=_restart_actions(distribution, "then run this module again"),
                     notes=["the server where the last secrets-encrypt command ran restarts first"])
    if status.get("enabled") is not True:
        return _plan_disabled(status, distribution, version, config_enabled, enable_existing)
    if stage == "prepare":
        return _plan("run", "a classic rotation stopped after prepare and every server has the new key: roll "
                     "forward (step 2 of 3, rotate makes the new key active)", ["secrets-encrypt", "rotate"],
                     restart_after=True,
                     next_actions=_restart_actions(distribution, "then run this module again: it continues with "
                                                                 "secrets-encrypt reencrypt"))
    if stage == "rotate":
        return _plan("run", "a classic rotation stopped after rotate and every server encrypts with the new key: "
                     "roll forward (step 3 of 3, reencrypt rewrites every Secret and drops the old key)",
                     ["secrets-encrypt", "reencrypt"])
    if goal == "enabled":
        return _plan("done", "secrets encryption is enabled (%s key %s), stage %s, all hashes match" % (
            status.get("active_key_type") or "no", status.get("active_key_name") or "", stage))
    fresh, why = _rotated_recently(status, max_key_age_days, now)
    if fresh:
        return _plan("done", why + ", stage %s, all hashes match" % stage)
    return _rotation_step(distribution, version, status, why)
