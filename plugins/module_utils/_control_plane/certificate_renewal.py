# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Which kubeadm certificates of a node `kubeadm certs renew` must renew, and which static pods must restart to load
them, from the certificate facts of ``_node.certificates`` (public facts only: names, dates, fingerprints).

A component restarts when a certificate it reads was renewed: the pod carries the annotation
``checksum.kubecompass.io/certificates``, a digest of the fingerprints of its certificates, so the renewal changes
the manifest (kubelet restarts the pod, health-gated) and a run after a renewal done elsewhere restarts it too.
etcd is not restarted: it reads its certificate files on every new TLS connection.

Before kubeadm runs, the components the renewal will owe a restart are written to a marker in the backup root; a
run killed between the renewal and the restart finds them there (their pods may never have carried the
annotation), and an owed restart is settled only once the pod's annotation names the certificates on disk.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import shutil

try:
    import yaml
except ImportError:  # pragma: no cover - the module reports it
    yaml = None

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import rollout
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import parse_time

MANIFEST_DIR = "/etc/kubernetes/manifests"
OWED_MARKER = "pending-certificate-restarts.json"

ANNOTATION = "checksum.kubecompass.io/certificates"
# The certificates each restarted component reads (kubeadm's files; kubeconfigs embed their client certificate).
USERS = {
    "kube-apiserver": ("apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "front-proxy-client"),
    "kube-controller-manager": ("controller-manager.conf",),
    "kube-scheduler": ("scheduler.conf",),
}
# What `kubeadm certs renew` renews by these names (CAs never; kubelet.conf is the kubelet's to rotate).
RENEWABLE = ("apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "front-proxy-client",
             "etcd-healthcheck-client", "etcd-peer", "etcd-server", "admin.conf", "super-admin.conf",
             "controller-manager.conf", "scheduler.conf")


def days_left(entry, now):
    return (parse_time(entry["not_after"]) - now).total_seconds() / 86400.0


def due(entries, now, within_days):
    """([(name, days left)] to renew, [problems]): renewable certificates with fewer than ``within_days`` left.
    A missing file is not kubeadm's to create here; an unreadable one is a problem naming its path (kubeadm renews
    from the existing certificate, so it cannot renew that one either)."""
    renew, problems = [], []
    for entry in entries:
        if entry.get("name") not in RENEWABLE or entry.get("missing"):
            continue
        if entry.get("error") or not entry.get("not_after"):
            problems.append("cannot read %s: %s" % (entry.get("path"), entry.get("error") or "no validity"))
            continue
        left = days_left(entry, now)
        if left < within_days:
            renew.append((entry["name"], left))
    return renew, problems


def certificates_digest(entries, component):
    """The annotation value of ``component``: a digest of the fingerprints of the certificates it reads."""
    fingerprints = {e["name"]: e.get("sha256") or "" for e in entries if e.get("name") in USERS[component]}
    text = "\n".join("%s=%s" % (name, fingerprints[name]) for name in sorted(fingerprints))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def restarts(entries, renewed, annotations, owed=()):
    """{component: annotation value} of the components to restart: one whose certificate was renewed in this run,
    one an earlier run owes a restart (``owed``), or one whose pod was last restarted for other certificates than
    those on disk now. ``annotations`` maps each component to its manifest's current annotation value (None without
    one)."""
    wanted = {}
    for component, names in USERS.items():
        digest = certificates_digest(entries, component)
        current = annotations.get(component)
        if set(names) & set(renewed) or (current is not None and current != digest) or (
                component in owed and current != digest):
            wanted[component] = digest
    return wanted


def components_of(names):
    return sorted(component for component, used in USERS.items() if set(used) & set(names))


def read_owed(backup_root):
    """The components an earlier run renewed certificates for and may not have restarted (empty without a marker)."""
    path = os.path.join(backup_root, OWED_MARKER)
    try:
        with open(path) as handle:
            owed = json.load(handle)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise KubeCompassError("the marker %s of an interrupted certificate renewal cannot be read (%s): restart "
                               "kube-apiserver, kube-controller-manager and kube-scheduler on this node, then remove "
                               "it" % (path, getattr(exc, "strerror", None) or exc), "node") from None
    return [c for c in owed if c in USERS] if isinstance(owed, list) else []


def write_owed(backup_root, components):
    """Record the restarts owed (none: the marker goes)."""
    path = os.path.join(backup_root, OWED_MARKER)
    if components:
        os.makedirs(backup_root, mode=0o700, exist_ok=True)
        rollout.atomic_write(path, json.dumps(sorted(components)).encode(), 0o600)
    elif os.path.exists(path):
        os.unlink(path)


def manifest_annotation(path):
    """The certificates annotation of a static pod manifest (None without one or without the manifest)."""
    try:
        with open(path) as handle:
            manifest = yaml.safe_load(handle)
    except FileNotFoundError:
        return None
    except (OSError, yaml.YAMLError) as exc:
        raise KubeCompassError("cannot read %s: %s" % (path, getattr(exc, "strerror", None) or exc), "node") from None
    return (((manifest or {}).get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)


def _files_of(entry):
    """The files a renewal replaces: the certificate and its key, or the kubeconfig."""
    path = entry["path"]
    return [path, path[:-len(".crt")] + ".key"] if path.endswith(".crt") else [path]


def back_up(entries, names, backup_root, stamp):
    """Copy the files of the certificates about to be renewed (keys too, 0600 in a 0700 directory) so a bad renewal
    can be undone by hand; returns the backup directory. Nothing is renewed when this fails."""
    target = os.path.join(backup_root, "%s-certificates" % stamp)
    try:
        os.makedirs(target, mode=0o700, exist_ok=True)
        for entry in entries:
            if entry["name"] not in names:
                continue
            for path in _files_of(entry):
                if not os.path.exists(path):
                    continue
                copy = os.path.join(target, path.lstrip("/"))
                os.makedirs(os.path.dirname(copy), mode=0o700, exist_ok=True)
                with open(path, "rb") as source:
                    data = source.read()
                fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise KubeCompassError("cannot back up the certificates into %s (nothing was renewed): %s"
                               % (backup_root, exc.strerror or exc), "node") from None
    return target


def renew_node(read_entries, run, now, within_days, kubeadm, config, backup_root, stamp, check_mode,
               manifest_dir=MANIFEST_DIR):
    """Renew the certificates of this node that are due, with `kubeadm certs renew <name>`, and name the components
    to restart. ``read_entries()`` reads the node's certificate facts, ``run(argv)`` returns (rc, stdout, stderr).
    Returns the module result (never any file content)."""
    entries = read_entries()
    renew, problems = due(entries, now, within_days)
    names = [name for name, _left in renew]
    annotations = {c: manifest_annotation(os.path.join(manifest_dir, c + ".yaml")) for c in USERS}
    result = {"changed": False, "renewed": [], "due": [{"name": n, "days_left": round(left, 1)} for n, left in renew],
              "problems": problems, "backup": None, "restart": {}}
    owed = read_owed(backup_root)
    if check_mode:  # what would restart; the digests are those of the certificates before the renewal
        result["restart"] = restarts(entries, names, annotations, owed)
        result["changed"] = bool(names or result["restart"])
        return result
    # Settled: an owed restart whose pod now names the certificates on disk (a housekeeping write, not a change).
    owed = [c for c in owed if annotations.get(c) != certificates_digest(entries, c)]
    if names:
        result["backup"] = back_up(entries, names, backup_root, stamp)
        owed = sorted(set(owed) | set(components_of(names)))
        write_owed(backup_root, owed)  # before kubeadm: a run killed after it still owes these restarts
        for name in names:
            argv = [kubeadm, "certs", "renew", name] + (["--config", config] if config else [])
            rc, _out, err = run(argv)
            if rc != 0:
                lines = [line for line in (err or "").strip().splitlines() if line.strip()]
                raise KubeCompassError("kubeadm certs renew %s failed (exit %s): %s; the certificates before this run "
                                       "are in %s" % (name, rc, lines[-1] if lines else "no message", result["backup"]),
                                       "node")
            result["renewed"].append(name)
        entries = read_entries()
        still, _problems = due(entries, now, within_days)
        if still:
            raise KubeCompassError("kubeadm renewed %s but %s still expire within %s days (is the CA about to expire?)"
                                   % (", ".join(names), ", ".join(n for n, _left in still), within_days), "node")
    else:
        write_owed(backup_root, owed)
    result["restart"] = restarts(entries, result["renewed"], annotations, owed)
    result["changed"] = bool(result["renewed"] or result["restart"])
    return result
