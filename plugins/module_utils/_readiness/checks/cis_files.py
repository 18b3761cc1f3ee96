# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""CIS Kubernetes Benchmark file items (cis-1.11 1.1.1-1.1.8, 1.1.11-1.1.21, 4.1.1, 4.1.2, 4.1.5-4.1.10): mode and ownership of
the pod specifications, kubeconfigs, PKI, etcd data directory and kubelet files on each control-plane node, one check
per CIS item, judged as kube-bench judges them: "600 or more restrictive" means no permission bit outside 0600
(kube-bench's bitmask: ``mode & mask == mode``), ownership compares the owner and group names.

A file the item needs that is missing or unreadable makes the node unknown, naming the path; a file that exists
only on some nodes (super-admin.conf) is judged where it exists. Node facts: ``file_modes`` (_node.file_modes)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SELF_MANAGED
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.file_modes import mode_within, owner_of
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import (
    Check,
    Unreadable,
    from_objects,
    obj,
)

ROLE = {"role": "control_plane_files", "tag": "files"}
CIS = "cis_kubernetes"
CONTROL_PLANE_ITEM = "control-plane-file-permissions"
KUBELET_ITEM = "kubelet-file-permissions"

# kubeadm runs etcd as root and creates no etcd user (kubernetes/kubeadm#2931): the decision on CIS 1.1.12.
ETCD_OWNER_DECISION = (
    "kubeadm runs etcd as root and creates no etcd user, so its data directory is root:root and CIS 1.1.12 fails "
    "on every kubeadm node (kubernetes/kubeadm#2931). The control_plane_files role refuses to chown it: with etcd "
    "still running as root an etcd:etcd owner protects nothing, and etcd as a non-root user needs the user on "
    "every node, a chown -R of the data directory and runAsUser/runAsGroup in the etcd static pod, rolled one "
    "member at a time with a snapshot first - a change of how etcd runs, not of a file. Either make that change "
    "(then this check passes) or waive KC-SEC-%s for the cluster with that reason; the check keeps failing "
    "rather than pretend. RKE2 with profile: cis creates the etcd user and owns the directory etcd:etcd.")


def wanted_text(rule, wanted):
    return "%04o or more restrictive" % wanted if rule == "mode" else wanted


def found_text(rule, entry):
    return entry["mode"] if rule == "mode" else owner_of(entry)


def judge_entries(target, rule, wanted, entries):
    """(verdict, reason) of one node's entries for a target."""
    unreadable = [e for e in entries if e.get("error")]
    if unreadable:
        return "unknown", "; ".join("%s unreadable: %s" % (e["path"], e["error"]) for e in unreadable)
    missing = [e["path"] for e in entries if not e.get("exists") and not e.get("optional")]
    if missing:
        return "unknown", "%s missing" % ", ".join(missing)
    present = [e for e in entries if e.get("exists")]
    if not present:
        return "unknown", "no %s file found" % target.replace("_", " ")
    if rule == "mode":
        failing = [e for e in present if not mode_within(e["mode"], wanted)]
    else:
        failing = [e for e in present if owner_of(e) != wanted]
    shown = failing or present
    if len(shown) > 5:
        listed = "; ".join("%s %s" % (e["path"], found_text(rule, e)) for e in shown[:5])
        listed += "; and %d more" % (len(shown) - 5)
    else:
        listed = "; ".join("%s %s" % (e["path"], found_text(rule, e)) for e in shown)
    want = wanted_text(rule, wanted)
    if failing:
        return "fail", "%s (want %s)" % (listed, want)
    return "pass", "%s (want %s)" % (listed, want)


def file_check(cis_id, target, rule, wanted, notes=None):
    """evaluate(ctx) judging one CIS file item on every control-plane node; ``notes`` {distribution: text} is
    added to a failure's reason."""
    def evaluate(ctx):
        facts = ctx.node_facts()
        if not facts:
            raise Unreadable("control-plane node facts", "the control-plane group has no hosts")
        objects = []
        for host in sorted(facts):
            modes = (facts[host] or {}).get("file_modes")
            if modes is None or target not in modes:
                verdict, reason = "unknown", "node facts carry no file modes for %s" % target
            elif modes[target].get("not_applicable"):
                verdict, reason = "not_applicable", modes[target]["not_applicable"]
            else:
                verdict, reason = judge_entries(target, rule, wanted, modes[target].get("entries") or [])
                note = (notes or {}).get(ctx.distribution)
                if verdict == "fail" and note:
                    reason = "%s - %s" % (reason, note)
            objects.append(obj("Node", None, host, verdict, reason))
        if objects and all(o["verdict"] == "not_applicable" for o in objects):
            return from_objects([], "", "", none_message="CIS %s does not apply: %s" % (cis_id, objects[0]["reason"]))
        return from_objects(objects, "CIS %s holds on every control-plane node" % cis_id,
                            "CIS %s fails on %%d control-plane node(s)" % cis_id)
    evaluate.__name__ = "cis_%s" % cis_id.replace(".", "_")
    return evaluate


MODE_600, MODE_644, MODE_700 = 0o600, 0o644, 0o700
ROOT = "root:root"

# (check ID suffix, CIS ID, target, rule, wanted, title, severity, remediated, runbook)
ITEMS = (
    ("045", "1.1.1", "apiserver_manifest", "mode", MODE_600, "API server pod specification file mode 600",
     "medium", True, "The kube-apiserver static pod manifest names every credential the API server uses."),
    ("046", "1.1.2", "apiserver_manifest", "owner", ROOT, "API server pod specification file owned by root:root",
     "medium", True, "Whoever owns the kube-apiserver manifest can change how the API server runs."),
    ("047", "1.1.3", "controller_manager_manifest", "mode", MODE_600,
     "Controller manager pod specification file mode 600", "medium", True,
     "The kube-controller-manager manifest names the service account signing key and the cluster CA key."),
    ("048", "1.1.4", "controller_manager_manifest", "owner", ROOT,
     "Controller manager pod specification file owned by root:root", "medium", True,
     "Whoever owns the kube-controller-manager manifest can change how it runs."),
    ("049", "1.1.5", "scheduler_manifest", "mode", MODE_600, "Scheduler pod specification file mode 600",
     "medium", True, "The kube-scheduler manifest defines a privileged host-network pod."),
    ("050", "1.1.6", "scheduler_manifest", "owner", ROOT, "Scheduler pod specification file owned by root:root",
     "medium", True, "Whoever owns the kube-scheduler manifest can change how it runs."),
    ("051", "1.1.7", "etcd_manifest", "mode", MODE_600, "etcd pod specification file mode 600", "medium", True,
     "The etcd static pod manifest names etcd's keys and data directory."),
    ("052", "1.1.8", "etcd_manifest", "owner", ROOT, "etcd pod specification file owned by root:root", "medium",
     True, "Whoever owns the etcd manifest can change how etcd runs."),
    ("053", "1.1.11", "etcd_data_dir", "mode", MODE_700, "etcd data directory mode 700", "high", True,
     "etcd's data directory holds every object of the cluster, Secrets included."),
    ("054", "1.1.12", "etcd_data_dir", "owner", "etcd:etcd", "etcd data directory owned by etcd:etcd", "low",
     False, None),
    ("055", "1.1.13", "admin_kubeconfig", "mode", MODE_600, "Administrative kubeconfig files mode 600", "high",
     True, "admin.conf and super-admin.conf hold cluster-admin credentials (super-admin.conf bypasses RBAC)."),
    ("056", "1.1.14", "admin_kubeconfig", "owner", ROOT, "Administrative kubeconfig files owned by root:root",
     "high", True, "admin.conf and super-admin.conf hold cluster-admin credentials."),
    ("057", "1.1.15", "scheduler_kubeconfig", "mode", MODE_600, "scheduler.conf mode 600", "medium", True,
     "scheduler.conf holds the scheduler's client key."),
    ("058", "1.1.16", "scheduler_kubeconfig", "owner", ROOT, "scheduler.conf owned by root:root", "medium", True,
     "scheduler.conf holds the scheduler's client key."),
    ("059", "1.1.17", "controller_manager_kubeconfig", "mode", MODE_600, "controller-manager.conf mode 600",
     "medium", True, "controller-manager.conf holds the controller manager's client key."),
    ("060", "1.1.18", "controller_manager_kubeconfig", "owner", ROOT, "controller-manager.conf owned by root:root",
     "medium", True, "controller-manager.conf holds the controller manager's client key."),
    ("061", "1.1.19", "pki", "owner", ROOT, "PKI directory and files owned by root:root", "high", True,
     "The PKI directory holds the cluster's CA keys; every directory and file below it is judged."),
    ("062", "1.1.20", "pki_certificates", "mode", MODE_644, "PKI certificate files mode 644", "low", True,
     "Certificates are public, but a writable one can be replaced by an attacker's."),
    ("063", "1.1.21", "pki_keys", "mode", MODE_600, "PKI key files mode 600", "critical", True,
     "A readable CA key lets anyone mint cluster credentials."),
    ("064", "4.1.5", "kubelet_kubeconfig", "mode", MODE_600, "kubelet.conf mode 600", "medium", True,
     "kubelet.conf holds (or points at) the kubelet's client credentials."),
    ("065", "4.1.6", "kubelet_kubeconfig", "owner", ROOT, "kubelet.conf owned by root:root", "medium", True,
     "kubelet.conf holds (or points at) the kubelet's client credentials."),
    ("066", "4.1.7", "kubelet_client_ca", "mode", MODE_644, "Kubelet client CA file mode 644", "low", True,
     "A writable client CA file lets anyone add a CA the kubelet trusts."),
    ("067", "4.1.8", "kubelet_client_ca", "owner", ROOT, "Kubelet client CA file owned by root:root", "low", True,
     "A client CA file owned by another user can be replaced by it."),
    ("068", "4.1.9", "kubelet_config", "mode", MODE_600, "Kubelet config file mode 600", "medium", True,
     "kubeadm writes /var/lib/kubelet/config.yaml 0644; the file sets the kubelet's authentication and "
     "authorization."),
    ("069", "4.1.10", "kubelet_config", "owner", ROOT, "Kubelet config file owned by root:root", "medium", True,
     "The kubelet config file sets the kubelet's authentication and authorization."),
    ("070", "4.1.1", "kubelet_service", "mode", MODE_600, "Kubelet service files mode 600", "medium", True,
     "kubelet.service and its drop-ins (kubeadm's 10-kubeadm.conf) give the kubelet its command line, which "
     "overrides its config file; every unit file and drop-in systemd reads is judged. Package managers install "
     "them 0644, and kube-bench fails that too."),
    ("071", "4.1.2", "kubelet_service", "owner", ROOT, "Kubelet service files owned by root:root", "medium", True,
     "kubelet.service and its drop-ins give the kubelet its command line; their owner can change how it runs."),
)


def _runbook(cis_id, rule, wanted, remediated, why):
    if not remediated:
        return "%s (CIS %s)" % (ETCD_OWNER_DECISION % "054", cis_id)
    change = ("removes the permission bits outside %04o (a more restrictive mode stays)" % wanted
              if rule == "mode" else "sets the owner and group to %s" % wanted)
    return ("%s The control_plane_files role (tag files) %s on exactly the audited paths that exist, one node "
            "after another; it never creates a missing file. A missing or unreadable file makes the node unknown, "
            "naming the path. (CIS %s)" % (why, change, cis_id))


CHECKS = [
    Check("KC-SEC-" + suffix, title, "security", severity,
          item=KUBELET_ITEM if cis_id.startswith("4.") else CONTROL_PLANE_ITEM,
          evaluate=file_check(cis_id, target, rule, wanted,
                              None if remediated else {"kubeadm": "kubeadm runs etcd as root; see the runbook"}),
          needs=("node_facts",), distributions=SELF_MANAGED, remediation=ROLE if remediated else None,
          runbook=_runbook(cis_id, rule, wanted, remediated, why), controls={CIS: (cis_id,)})
    for suffix, cis_id, target, rule, wanted, title, severity, remediated, why in ITEMS
]
