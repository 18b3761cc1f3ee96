# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Mode and ownership of the files the CIS Kubernetes Benchmark audits on a control-plane node (cis-1.11 1.1.x and
the file items of 4.1), per distribution: kubeadm's paths, RKE2/k3s equivalents where they exist, else the reason
the item does not apply. One table serves the node facts and the control_plane_files role's documentation."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import os

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import (
    KUBEADM_MANIFESTS,
    KUBEADM_PKI,
    RANCHER,
    host_path,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import (
    DocumentError,
    cause_of,
    is_missing,
    on_host,
    read_document,
    stat_summary,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.kubelet import unit_files

ROOT_OWNER = "root:root"


def mode_within(mode, mask):
    """kube-bench's bitmask: the mode (octal text) sets no bit outside ``mask`` (special bits included)."""
    return int(mode, 8) & ~mask == 0


def owner_of(entry):
    return "%s:%s" % (entry["owner"], entry["group"])


def fixes(rules, file_modes):
    """What a node's audited files need, from its file-mode facts: [{check, path, old, mode (octal text, the bits
    outside the rule's mask removed, so a more restrictive mode stays)} or {check, path, old, owner}]. Missing,
    unreadable and compliant entries need nothing; the checks report the first two."""
    needed = []
    for rule in rules:
        for entry in (file_modes.get(rule["target"]) or {}).get("entries") or []:
            if not entry.get("exists") or entry.get("error"):
                continue
            if "mask" in rule and not mode_within(entry["mode"], rule["mask"]):
                needed.append({"check": rule["check"], "path": entry["path"], "old": entry["mode"],
                               "mode": "%04o" % (int(entry["mode"], 8) & rule["mask"])})
            if rule.get("owner") and owner_of(entry) != "%s:%s" % (rule["owner"], rule["owner"]):
                needed.append({"check": rule["check"], "path": entry["path"], "old": owner_of(entry),
                               "owner": rule["owner"]})
    return needed


KUBEADM_KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
# kube-bench's $kubeletcafile when the kubelet has no --client-ca-file flag.
KUBEADM_CA = KUBEADM_PKI + "/ca.crt"
NO_POD_SPEC = "k3s runs the control-plane components inside the k3s process: there is no pod specification file"
NO_KUBELET_CONFIG = ("%s configures the kubelet with flags and --config-dir drop-ins, not a config.yaml file "
                     "(kube-bench finds no file either)")
NO_KUBELET_SERVICE = "%s starts the kubelet itself: there is no kubelet service file"

# Targets: name -> what the node facts record. A spec is a list of ("file", path, optional) and
# ("tree", directory, name suffix or "" for every entry); a string is the reason the target does not apply.
TARGETS = ("apiserver_manifest", "controller_manager_manifest", "scheduler_manifest", "etcd_manifest",
           "etcd_data_dir", "admin_kubeconfig", "scheduler_kubeconfig", "controller_manager_kubeconfig",
           "pki", "pki_certificates", "pki_keys", "kubelet_kubeconfig", "kubelet_config", "kubelet_client_ca",
           "kubelet_service")


def _file(path, optional=False):
    return ("file", path, optional)


def _kubeadm_specs():
    manifests = {"apiserver_manifest": "kube-apiserver", "controller_manager_manifest": "kube-controller-manager",
                 "scheduler_manifest": "kube-scheduler", "etcd_manifest": "etcd"}
    specs = {target: [_file("%s/%s.yaml" % (KUBEADM_MANIFESTS, name))] for target, name in manifests.items()}
    specs.update({
        "admin_kubeconfig": [_file("/etc/kubernetes/admin.conf"),
                             # kubeadm writes super-admin.conf on the node that ran `kubeadm init` only.
                             _file("/etc/kubernetes/super-admin.conf", optional=True)],
        "scheduler_kubeconfig": [_file("/etc/kubernetes/scheduler.conf")],
        "controller_manager_kubeconfig": [_file("/etc/kubernetes/controller-manager.conf")],
        "pki": [("tree", KUBEADM_PKI, "")],
        "pki_certificates": [("tree", KUBEADM_PKI, ".crt")],
        "pki_keys": [("tree", KUBEADM_PKI, ".key")],
        "kubelet_kubeconfig": [_file("/etc/kubernetes/kubelet.conf")],
        "kubelet_config": [_file(KUBEADM_KUBELET_CONFIG)],
    })
    return specs


def _rancher_specs(distribution, data_dir):
    server, agent = data_dir + "/server", data_dir + "/agent"
    if distribution == "rke2":
        specs = {target: [_file("%s/pod-manifests/%s.yaml" % (agent, name))] for target, name in (
            ("apiserver_manifest", "kube-apiserver"), ("controller_manager_manifest", "kube-controller-manager"),
            ("scheduler_manifest", "kube-scheduler"), ("etcd_manifest", "etcd"))}
    else:
        specs = {target: NO_POD_SPEC for target in (
            "apiserver_manifest", "controller_manager_manifest", "scheduler_manifest", "etcd_manifest")}
    specs.update({
        "admin_kubeconfig": [_file(RANCHER[distribution]["kubeconfig"])],
        "scheduler_kubeconfig": [_file(server + "/cred/scheduler.kubeconfig")],
        "controller_manager_kubeconfig": [_file(server + "/cred/controller.kubeconfig")],
        "pki": [("tree", server + "/tls", "")],
        "pki_certificates": [("tree", server + "/tls", ".crt")],
        "pki_keys": [("tree", server + "/tls", ".key")],
        "kubelet_kubeconfig": [_file(agent + "/kubelet.kubeconfig")],
        "kubelet_config": NO_KUBELET_CONFIG % distribution,
        "kubelet_service": NO_KUBELET_SERVICE % distribution,
        "kubelet_client_ca": [_file(agent + "/client-ca.crt")],
    })
    return specs


def _entry(root, path):
    """The mode and owner of one path: exists false when absent, error (naming the cause) when unreadable."""
    try:
        st = os.stat(on_host(root, path))
    except OSError as exc:
        if is_missing(exc):
            return {"path": path, "exists": False}
        return {"path": path, "error": cause_of(exc)}
    summary = stat_summary(st)
    return {"path": path, "exists": True, "mode": summary["mode"], "owner": summary["owner"],
            "group": summary["group"], "uid": st.st_uid, "gid": st.st_gid}


def _tree(root, directory, suffix):
    """The directory itself (every entry wanted) and what lies below it, recursively, as `find` lists it."""
    entries = []
    top = _entry(root, directory)
    if not top.get("exists"):
        return [top]
    if not suffix:
        entries.append(top)
    base = on_host(root, directory)

    def unreadable(exc):
        below = str(exc.filename or base)[len(base):].strip("/")
        entries.append({"path": "%s/%s" % (directory.rstrip("/"), below) if below else directory,
                        "error": cause_of(exc)})

    for current, dirs, names in os.walk(base, onerror=unreadable):
        dirs.sort()
        relative = os.path.relpath(current, base)
        node_dir = directory if relative == "." else "%s/%s" % (directory.rstrip("/"), relative)
        for name in sorted(dirs + names if not suffix else names):
            if name.endswith(suffix):
                entries.append(_entry(root, "%s/%s" % (node_dir.rstrip("/"), name)))
    return entries


def _kubelet_client_ca(root):
    """kubeadm's kubelet names its client CA in its config file (no --client-ca-file flag); kube-bench falls back to
    pki/ca.crt, which is what kubeadm writes there."""
    try:
        exists, document = read_document(root, KUBEADM_KUBELET_CONFIG)
    except (OSError, DocumentError):
        return KUBEADM_CA
    if exists and isinstance(document, dict):
        x509 = ((document.get("authentication") or {}).get("x509") or {}) if isinstance(
            document.get("authentication"), dict) else {}
        if isinstance(x509, dict) and x509.get("clientCAFile"):
            return str(x509["clientCAFile"])
    return KUBEADM_CA


def read_file_modes(root, distribution, config):
    """{target: {"entries": [...]} or {"not_applicable": reason}} for this node (see TARGETS).

    ``config`` is read_kubeadm_config's or read_rancher_config's result: the etcd data directory comes from the
    etcd static pod's --data-dir (kubeadm), the datastore decides whether RKE2/k3s have one."""
    if distribution == "kubeadm":
        specs = _kubeadm_specs()
        specs["kubelet_client_ca"] = [_file(_kubelet_client_ca(root))]
        # Every file that defines how systemd starts the kubelet: the unit and its drop-ins (kubeadm's
        # 10-kubeadm.conf, under /usr/lib with pkgs.k8s.io packages); none found leaves the node unknown.
        try:
            specs["kubelet_service"] = [_file(path, optional=True) for path in unit_files(root)]
        except OSError as exc:
            specs["kubelet_service"] = [("error", "/etc/systemd/system/kubelet.service.d", cause_of(exc))]
        data_dir = (config.get("etcd_flags") or {}).get("data-dir")
        if config.get("etcd_flags") is None:
            specs["etcd_data_dir"] = ("no local etcd static pod manifest could be read (%s/etcd.yaml): etcd is "
                                      "external or the manifest is missing" % KUBEADM_MANIFESTS)
        elif not data_dir:
            specs["etcd_data_dir"] = [_file("/var/lib/etcd/default.etcd")]
        else:
            try:
                manifest = read_document(root, KUBEADM_MANIFESTS + "/etcd.yaml")[1]
            except (OSError, DocumentError):
                manifest = None  # etcd_flags came from it a moment ago; without it the path is taken as is
            specs["etcd_data_dir"] = [_file(host_path(data_dir, manifest if isinstance(manifest, dict) else None,
                                                      "etcd"))]
    else:
        tls = (config.get("cert_dirs") or [RANCHER[distribution]["data_dir"] + "/server/tls"])[0]
        data_dir = tls[:-len("/server/tls")] if tls.endswith("/server/tls") else RANCHER[distribution]["data_dir"]
        specs = _rancher_specs(distribution, data_dir)
        specs["etcd_data_dir"] = ([_file(data_dir + "/server/db/etcd")] if config.get("datastore") == "etcd" else
                                  "%s uses %s, not embedded etcd: there is no etcd data directory" % (
                                      distribution, config.get("datastore") or "another datastore"))
    facts = {}
    for target in TARGETS:
        spec = specs[target]
        if isinstance(spec, str):
            facts[target] = {"not_applicable": spec}
            continue
        entries = []
        for kind, path, extra in spec:
            if kind == "tree":
                entries.extend(_tree(root, path, extra))
            elif kind == "error":
                entries.append({"path": path, "error": extra})
            else:
                entries.append(dict(_entry(root, path), optional=True) if extra else _entry(root, path))
        facts[target] = {"entries": entries}
    return facts
