# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Facts of one self-managed control-plane node (kubeadm, RKE2, k3s) in the node facts schema."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import os

from ansible_collections.kubecompass.readiness.plugins.module_utils._node import certificates
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.audit import (
    read_audit_log,
    read_audit_policy,
    summarize_audit_policy,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import (
    COMPONENTS,
    DISTRIBUTIONS,
    anonymous_access,
    host_path,
    read_authentication_config,
    read_kubeadm_config,
    read_rancher_config,
    read_running_apiserver_flags,
    read_running_flags,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.encryption import (
    read_encryption_config,
    summarize_encryption_config,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.etcd import (
    encryption_prefixes,
    etcd_client_files,
    first_url,
    sample_etcd,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import (
    DocumentError,
    cause_of,
    read_file_stat,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.file_modes import read_file_modes
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.kubelet import read_kubelet
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.snapshots import read_etcd_snapshots


def gather_node_facts(distribution, root="/", proc="/proc", etcd_sample_size=20, etcd_endpoint=None,
                      snapshot_dirs=None, audit_log_tail_bytes=65536, etcd_post=None, tls_fetch=None):
    """Facts of one control-plane node in the node facts schema. Never raises for what it reads: a missing file
    is a fact (exists false), an unreadable or unparsable one adds an entry to ``errors``.

    The files the apiserver points at (audit policy and log, encryption config) and the etcd endpoint come from
    the running apiserver's flags when one runs here, else from the configured ones; static pod paths are
    translated to host paths through the manifest's mounts. ``etcd_post`` replaces the etcd client and
    ``tls_fetch`` the reader of served certificates (tests).
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError("distribution must be one of %s" % ", ".join(DISTRIBUTIONS))
    config = read_kubeadm_config(root) if distribution == "kubeadm" else read_rancher_config(root, distribution)
    errors = list(config["errors"])
    files = {}

    def note(what, cause):
        errors.append({"what": what, "cause": cause})

    def stat_file(path):
        if not path or path in files:
            return
        try:
            files[path] = read_file_stat(root, path)
        except OSError as exc:
            note("file %s" % path, cause_of(exc))

    for path in config["files"]:
        stat_file(path)

    running = None
    # k3s runs the apiserver inside the k3s process: there is no kube-apiserver process to read.
    if distribution != "k3s":
        running, problem = read_running_apiserver_flags(proc, config["flags"])
        if problem:
            note("running kube-apiserver flags", problem)
    effective = running if running is not None else config["flags"]
    components = {}
    for component, (key, _identity) in COMPONENTS.items():
        configured = config["components"][component]
        component_running = None
        if distribution != "k3s":
            component_running, problem = read_running_flags(proc, component, configured["flags"])
            if problem:
                note("running %s flags" % component, problem)
        components[key] = {"source": configured["source"], "flags": configured["flags"],
                           "running_flags": component_running, "missing": configured["missing"]}

    def to_host(path):
        return host_path(path, config["pod"], "kube-apiserver") if path and path != "-" else path

    def read_config(flag, what, reader, unreadable):
        """The summary of the file a flag names (None without the flag); a file that cannot be read or parsed
        gives ``unreadable`` with the cause, noted in errors."""
        path = to_host(effective.get(flag))
        if not path:
            return None
        stat_file(path)
        try:
            return reader(root, path)
        except (OSError, DocumentError) as exc:
            note("%s %s" % (what, path), cause_of(exc))
            return dict(unreadable, path=path, exists=True, error=cause_of(exc))

    audit_policy = read_config("audit-policy-file", "audit policy", read_audit_policy,
                               summarize_audit_policy(None))

    audit_log = None
    log_path = to_host(effective.get("audit-log-path"))
    if log_path:
        if log_path != "-":
            stat_file(os.path.dirname(log_path.rstrip("/")) or "/")
        try:
            audit_log = read_audit_log(root, log_path, audit_log_tail_bytes)
        except OSError as exc:
            audit_log = {"path": log_path, "exists": True, "size": None, "mtime": None, "last_event_time": None,
                         "error": cause_of(exc)}
            note("audit log %s" % log_path, cause_of(exc))

    authentication = read_config("authentication-config", "authentication configuration",
                                 read_authentication_config, {"valid": False, "anonymous": anonymous_access(None)})
    encryption = read_config("encryption-provider-config", "encryption configuration", read_encryption_config,
                             summarize_encryption_config(None))

    sample = None
    if etcd_sample_size > 0:
        sample = sample_etcd(root, config, effective, to_host, etcd_endpoint, etcd_sample_size, etcd_post,
                             encryption_prefixes(encryption))
        if sample["error"]:
            note("etcd sample from %s" % (sample["endpoint"] or "etcd"), sample["error"])

    file_modes = read_file_modes(root, distribution, config)
    unreadable = {}
    for target in file_modes.values():
        unreadable.update((entry["path"], entry["error"]) for entry in target.get("entries") or () if entry.get("error"))
    for path, cause in sorted(unreadable.items()):
        note("file %s" % path, cause)

    kubelet = read_kubelet(root, proc, distribution)
    errors.extend(kubelet.pop("errors"))

    snapshots, failures = read_etcd_snapshots(root, list(snapshot_dirs or config["snapshot_dirs"]))
    for directory, cause in failures:
        note("etcd snapshot directory %s" % directory, cause)

    node_certificates = certificates.read_node_certificates(root, distribution, config.get("cert_dirs") or ())
    for entry in node_certificates["entries"]:
        if entry["error"]:
            note("certificate %s" % entry["path"], entry["error"])
    serving = certificates.read_serving_certificates(
        root, distribution, running, config["etcd_flags"], to_host,
        etcd_endpoint or first_url(effective.get("etcd-servers")),
        etcd_client_files(root, config, effective, to_host)[0], config.get("cert_dirs") or (),
        tls_fetch or certificates.served_certificate)

    return {
        "distribution": distribution,
        "apiserver": {"source": config["source"], "flags": config["flags"], "running_flags": running},
        "etcd_flags": config["etcd_flags"],
        "controller_manager": components["controller_manager"],
        "scheduler": components["scheduler"],
        "files": files,
        "audit_policy": audit_policy,
        "audit_log": audit_log,
        "encryption_config": encryption,
        "authentication_config": authentication,
        "etcd_sample": sample,
        "etcd_snapshots": snapshots,
        "certificates": node_certificates,
        "serving_certificates": serving,
        "file_modes": file_modes,
        "kubelet": kubelet,
        "errors": errors,
    }
