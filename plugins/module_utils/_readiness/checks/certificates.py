# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Control-plane certificate lifetimes on self-managed nodes, from node facts: leaf certificates, CAs, and whether
the apiserver and etcd serve the certificate on disk.

The verdict model has no "warn": a leaf certificate under ``cert_expiry_fail_days`` fails, one under
``cert_expiry_warn_days`` passes with a note naming it. A CA fails under ``ca_expiry_fail_days`` (default 365):
kubeadm issues leaf certificates for a year, so a CA with less than a year left signs certificates that outlive
it, and `kubeadm certs renew` never renews a CA.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SELF_MANAGED
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import parse_time
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import (
    Check,
    Unreadable,
    from_objects,
    obj,
)

KIND = "Certificate"
ITEM = "control-plane-certificates"


def _node_certificates(ctx):
    """[(host, certificates section or None, node)] for every control-plane node (Unreadable without facts)."""
    facts = ctx.node_facts()
    if not facts:
        raise Unreadable("control-plane node facts", "the control-plane group has no hosts")
    return [(host, (facts[host] or {}).get("certificates"), facts[host] or {}) for host in sorted(facts)]


def is_ca_entry(entry):
    """CAs by what the certificate says; an unreadable file by its name (kubeadm's and RKE2/k3s's CAs end in
    -ca or are ``ca``)."""
    if entry.get("is_ca") is not None:
        return bool(entry["is_ca"])
    name = str(entry.get("name") or "").rsplit("/", 1)[-1]
    return name == "ca" or name.endswith("-ca")


def _days_left(ctx, entry):
    return (parse_time(entry["not_after"]) - ctx.now).total_seconds() / 86400.0


def _judge_expiry(ctx, entries, host, fail_days, warn_days, soon):
    """Object results for certificates of one node; certificates under ``warn_days`` are added to ``soon``."""
    objects = []
    for entry in entries:
        name = "%s/%s" % (host, entry.get("name"))
        if entry.get("missing"):
            continue
        if entry.get("error") or not entry.get("not_after"):
            objects.append(obj(KIND, None, name, "unknown", "cannot read %s: %s" % (
                entry.get("path"), entry.get("error") or "no validity")))
            continue
        left = _days_left(ctx, entry)
        where = "%s (%s)" % (entry.get("path"), entry.get("subject_cn"))
        not_before = parse_time(entry.get("not_before"))
        if left < 0:
            objects.append(obj(KIND, None, name, "fail", "%s expired on %s" % (where, entry["not_after"])))
        elif not_before is not None and not_before > ctx.now:
            objects.append(obj(KIND, None, name, "fail", "%s is not valid before %s" % (where, entry["not_before"])))
        elif left < fail_days:
            objects.append(obj(KIND, None, name, "fail", "%s expires on %s, %.0f days left (under %s days)"
                               % (where, entry["not_after"], left, fail_days)))
        else:
            note = ""
            if left < warn_days:
                note = "; renew soon (under %s days)" % warn_days
                soon.append(name)
            objects.append(obj(KIND, None, name, "pass", "%s expires on %s, %.0f days left%s"
                               % (where, entry["not_after"], left, note)))
    return objects


def _expiry(ctx, want_ca, fail_key, warn_key):
    fail_days = ctx.threshold(ctx.tier, fail_key)
    warn_days = ctx.threshold(ctx.tier, warn_key) if warn_key else fail_days
    objects, soon, missing = [], [], {}
    for host, section, node in _node_certificates(ctx):
        if section is None:
            objects.append(obj(KIND, None, host, "unknown", "certificates not read on %s (node facts of an older "
                               "collection or an error: %s)" % (host, "; ".join(
                                   "%s: %s" % (e.get("what"), e.get("cause")) for e in node.get("errors") or [])
                                   or "none reported")))
            continue
        entries = [e for e in section.get("entries") or [] if is_ca_entry(e) == want_ca]
        present = [e for e in entries if not e.get("missing")]
        if not present:
            objects.append(obj(KIND, None, host, "unknown", "no %s found on %s (looked in %s)" % (
                "CA certificate" if want_ca else "certificate", host, ", ".join(section.get("dirs") or []))))
            continue
        gone = [e["name"] for e in entries if e.get("missing")]
        if gone:
            missing[host] = gone
        objects.extend(_judge_expiry(ctx, entries, host, fail_days, warn_days, soon))
    evidence = {fail_key: fail_days, "missing": missing}
    if warn_key:
        evidence[warn_key] = warn_days
        evidence["expiring_within_warn_days"] = soon
    what = "CA certificate" if want_ca else "control-plane certificate"
    result = from_objects(objects, "every %s is valid for %s days or more" % (what, fail_days),
                          "%%d %s(s) expired or expire within %s days" % (what, fail_days), evidence,
                          tier_rule="cluster tier %s: %s=%s" % (ctx.tier, fail_key, fail_days))
    if result.verdict == "pass" and soon:
        result.message += "; %d expire within %s days: %s" % (len(soon), warn_days, ", ".join(soon))
    return result


def leaf_expiry(ctx):
    return _expiry(ctx, False, "cert_expiry_fail_days", "cert_expiry_warn_days")


def ca_expiry(ctx):
    return _expiry(ctx, True, "ca_expiry_fail_days", None)


def serving_matches_disk(ctx):
    objects = []
    for host, _section, node in _node_certificates(ctx):
        serving = node.get("serving_certificates")
        if serving is None:
            objects.append(obj(KIND, None, host, "unknown", "serving certificates not read on %s" % host))
            continue
        for entry in serving:
            name = "%s/%s" % (host, entry.get("component"))
            if entry.get("error"):
                objects.append(obj(KIND, None, name, "unknown", entry["error"]))
            elif entry.get("matches"):
                objects.append(obj(KIND, None, name, "pass", "%s serves %s (expires %s)" % (
                    entry["endpoint"], entry["path"], entry["served"]["not_after"])))
            else:
                objects.append(obj(KIND, None, name, "fail", (
                    "%s at %s serves a certificate expiring %s, but %s on disk expires %s: the process still "
                    "serves the old certificate (restart it)") % (
                    entry["component"], entry["endpoint"], entry["served"]["not_after"], entry["path"],
                    entry["on_disk"]["not_after"])))
    return from_objects(objects, "every apiserver and etcd serves the certificate on its disk",
                        "%d process(es) serve a certificate other than the one on disk")


RENEW = ("On kubeadm run `kubeadm certs check-expiration`, then `kubeadm certs renew all` on one control-plane node "
         "at a time and restart its static pods (kube-apiserver, kube-controller-manager, kube-scheduler, etcd: move "
         "their manifests out of /etc/kubernetes/manifests and back) before the next node; copy the renewed "
         "admin.conf where it is used. The kubelet rotates its own client certificate at 70-90% of its life, so a "
         "kubelet.conf certificate close to expiry means rotation is broken (rotateCertificates, the CSR signer). "
         "RKE2/k3s renew certificates that expire within 90 days when the service restarts (or `rke2|k3s "
         "certificate rotate`). On kubeadm the role control_plane_certificates (opt-in per cluster: "
         "control_plane_certificates_renew) does this: `kubeadm certs renew` of the certificates under "
         "control_plane_certificates_renew_within_days, one node at a time, then a health-gated restart of the static "
         "pods that read them.")
RENEWAL_ROLE = {"role": "control_plane_certificates", "tag": "certificates"}

CHECKS = [
    Check("KC-OPS-005", "Control-plane certificates are not about to expire", "operations", "high",
          item=ITEM, distributions=SELF_MANAGED, evaluate=leaf_expiry, needs=("node_facts",), remediation=RENEWAL_ROLE,
          thresholds=("cert_expiry_fail_days", "cert_expiry_warn_days"),
          runbook="An expired apiserver, etcd or kubeconfig client certificate stops the control plane or the "
                  "component using it. Every certificate kubeadm manages (pki, etcd, front-proxy, the client "
                  "certificates of admin.conf, super-admin.conf, controller-manager.conf, scheduler.conf and "
                  "kubelet.conf) is read on each node; a missing file (super-admin.conf on joined nodes) is listed, "
                  "not judged. " + RENEW),
    Check("KC-OPS-006", "Control-plane CA certificates outlive the certificates they sign", "operations", "high",
          item=ITEM, distributions=SELF_MANAGED, evaluate=ca_expiry, needs=("node_facts",),
          thresholds=("ca_expiry_fail_days",),
          runbook="kubeadm CAs last 10 years and `kubeadm certs renew` does not renew them; a CA with less than "
                  "ca_expiry_fail_days left (default 365, one leaf lifetime) signs certificates that stop working "
                  "when it expires. Rotate the CA by hand (kubernetes.io: Manual Rotation of CA Certificates), "
                  "trusting old and new CA during the change."),
    Check("KC-OPS-007", "apiserver and etcd serve the certificate on disk", "operations", "high",
          item=ITEM, distributions=("kubeadm", "rke2"), evaluate=serving_matches_disk, needs=("node_facts",),
          remediation=RENEWAL_ROLE,
          runbook="A renewed certificate is only used once the process restarts: read over TLS, the apiserver "
                  "(--tls-cert-file) and the local etcd (--cert-file) must serve the file on disk, else the old "
                  "certificate still expires on its date. Restart the static pod (move its manifest out of "
                  "/etc/kubernetes/manifests and back) one node at a time. k3s serves its apiserver port through "
                  "its own supervisor, so this cross-check does not apply there."),
]
