# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Changing a static pod on one control-plane node without taking it down: back up outside the directory kubelet
reads, write atomically, wait until the new process runs the new flags and answers /livez and /readyz on the
node's own address, and restore the backup automatically when it does not within the timeout.

Every file operation leaves no extra file where kubelet looks: temporary files are dot-files (kubelet ignores
names starting with a dot) and backups go to a directory that must be outside the manifests directory.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import hashlib
import os
import shutil
import tempfile
import time

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

from ansible.module_utils.urls import open_url

try:
    from urllib.error import HTTPError, URLError
except ImportError:  # pragma: no cover - Python 2 is not supported
    HTTPError = URLError = OSError


def diff_text(data, secret=False):
    """A file's content (bytes or None when absent) for a diff. Secret content appears only as its size and a
    digest, so the diff still shows that, and which, file changes without showing key material."""
    if data is None:
        return "(absent)\n" if secret else ""
    if secret:
        return "(secret: %d bytes, sha256 %s)\n" % (len(data), hashlib.sha256(data).hexdigest()[:16])
    return data.decode("utf-8", "replace")


def check_backup_dir(backup_dir, watched_dirs):
    """Refuse a backup directory inside (or equal to) a directory kubelet reads."""
    backup = os.path.realpath(backup_dir)
    for watched in watched_dirs:
        watched = os.path.realpath(watched)
        if backup == watched or backup.startswith(watched + os.sep):
            raise KubeCompassError("backup directory %s is inside %s, which kubelet reads: a copy there would run "
                                   "as a second pod" % (backup_dir, watched), "input")
    return backup


def check_file_entry(index, entry):
    """A files[] entry of a node change needs path and content; mode, when given, is octal text such as '0600'."""
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


def atomic_write(path, data, mode=None):
    """Write bytes through a dot-file in the same directory and rename it over path.

    Mode and ownership of an existing file are kept (CIS wants manifests 0600 root:root and they must stay so);
    a new file gets ``mode`` (default 0600). The temporary file is removed on any failure.
    """
    directory = os.path.dirname(path) or "."
    try:
        current = os.stat(path)
    except FileNotFoundError:
        current = None
    fd, tmp = tempfile.mkstemp(prefix=".kubecompass-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if current is not None:
            os.chmod(tmp, current.st_mode & 0o7777)
            os.chown(tmp, current.st_uid, current.st_gid)
        else:
            os.chmod(tmp, 0o600 if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def backup_files(paths, backup_dir, now=None):
    """Copy existing files into a new timestamped directory under backup_dir (0700); return {path: copy}.
    On failure (a full disk) the new directory is removed with whatever part of a copy it holds."""
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%S.%fZ")
    target = os.path.join(backup_dir, stamp)
    os.makedirs(target, mode=0o700)
    copies = {}
    try:
        for path in paths:
            if os.path.exists(path):
                copy = os.path.join(target, path.strip("/").replace("/", "__"))
                shutil.copy2(path, copy)
                copies[path] = copy
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target, copies


def manifest_flags(manifest):
    """Flags of a static pod manifest's first container (command then args)."""
    container = ((manifest.get("spec") or {}).get("containers") or [{}])[0]
    return parse_flags(list(container.get("command") or []) + list(container.get("args") or []))


def apiserver_processes(proc="/proc"):
    """[(pid, flags)] of every kube-apiserver process under ``proc`` (none when it cannot be read)."""
    return component_processes("kube-apiserver", proc)


def component_processes(component, proc="/proc"):
    """[(pid, flags)] of every process of ``component`` (its command name: kube-apiserver, kube-scheduler;
    the kernel cuts it to 15 characters, so kube-controller-manager is kube-controller) under ``proc``."""
    found = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "comm")) as handle:
                if handle.read().strip() != component[:15]:
                    continue
            with open(os.path.join(proc, entry, "cmdline"), "rb") as handle:
                argv = handle.read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        found.append((int(entry), parse_flags(argv)))
    return found


def running_apiserver(identity, proc="/proc"):
    """(pid, flags) of the kube-apiserver process whose identity flags (bind/advertise address, port) match, or
    (None, None). The pid tells a restarted process from the one that ran before a change."""
    return running_component(identity, "kube-apiserver", proc)


def running_component(identity, component, proc="/proc"):
    """(pid, flags) of the ``component`` process whose identity flags match, or (None, None)."""
    for pid, flags in component_processes(component, proc):
        if all(flags.get(key) == value for key, value in identity.items() if value):
            return pid, flags
    return None, None


def running_apiserver_flags(identity, proc="/proc"):
    """Flags of the kube-apiserver process whose identity flags match, or None."""
    return running_apiserver(identity, proc)[1]


def flags_applied(running, wanted, removed=()):
    if running is None:
        return False
    if any(running.get(flag) != value for flag, value in wanted.items()):
        return False
    return not any(flag in running for flag in removed)


def endpoint_healthy(base_url, ca_file, cert_file=None, key_file=None, timeout=3):
    """True when both /livez and /readyz answer 200 at base_url (server verified against ca_file)."""
    for path in ("/livez", "/readyz"):
        try:
            response = open_url(base_url.rstrip("/") + path, timeout=timeout, validate_certs=True, ca_path=ca_file,
                                client_cert=cert_file, client_key=key_file, use_proxy=False)
            if response.getcode() != 200:
                return False
        except (HTTPError, URLError, OSError, ValueError):
            return False
    return True


def component_healthz_url(flags, default_port):
    """https://<host>:<port> of a controller manager's or scheduler's secure port from its flags: its --bind-address
    (127.0.0.1 when it binds every interface or sets none) and --secure-port (``default_port`` when unset)."""
    host = (flags or {}).get("bind-address")
    host = "127.0.0.1" if not host or host in ("0.0.0.0", "::") else host
    return "https://%s:%s" % ("[%s]" % host if ":" in host else host, (flags or {}).get("secure-port") or default_port)


def healthz_ok(base_url, timeout=3):
    """True when /healthz answers 200 at base_url. kube-controller-manager and kube-scheduler serve a certificate
    they make themselves at start (kubeadm gives them none), so it cannot be verified; kubelet's own probe does
    not verify it either. Nothing is sent but the request."""
    try:
        response = open_url(base_url.rstrip("/") + "/healthz", timeout=timeout, validate_certs=False,
                            use_proxy=False)
        return response.getcode() == 200
    except (HTTPError, URLError, OSError, ValueError):
        return False


def wait_until(predicate, timeout, interval=0.2, clock=time.monotonic, sleep=time.sleep):
    """True as soon as predicate() is, False when timeout seconds pass first. The health gates of every restart
    wait here: a probe is two local requests, a coarser poll only adds to each restart."""
    deadline = clock() + timeout
    while True:
        if predicate():
            return True
        if clock() >= deadline:
            return False
        sleep(interval)
