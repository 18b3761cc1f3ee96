# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""CIS Kubernetes Benchmark flag items of kube-apiserver, kube-controller-manager and kube-scheduler (cis-1.11
sections 1.2, 1.3, 1.4), one check per CIS item so each check's controls name exactly its CIS ID.

Flags are the effective ones: the running process's, else the static pod manifest or RKE2 config (see
control_plane.flag_sets), parsed as the component parses them: the last occurrence of a scalar flag wins and list
flags accumulate. kube-bench reads the first occurrence instead, so the two disagree on repeated scalar flags; the
runbooks say so.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SELF_MANAGED
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks.control_plane import (
    HARDENING_ROLE,
    flag_sets,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import (
    Check,
    from_objects,
    obj,
)

APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"

REPEATED_FLAGS_NOTE = ("The collection judges the flag the component uses: with a flag repeated in the manifest "
                       "the last occurrence wins (list flags accumulate); kube-bench reads the first occurrence "
                       "and can disagree. Remove the duplicates so both read the same value.")


# -- judges: flags -> (verdict, reason naming the flag and its effective value) -----------------------------------


def _shown(flags, flag):
    value = flags.get(flag)
    return "--%s unset" % flag if value is None else "--%s=%s" % (flag, value)


def equals(flag, wanted, unset):
    """Pass when the flag is ``wanted``; ``unset`` is (verdict, what the component then does) for an absent flag."""
    def judge(flags):
        value = flags.get(flag)
        if value is None:
            return unset[0], "--%s unset (%s)" % (flag, unset[1])
        verdict = "pass" if value.lower() == wanted else "fail"
        return verdict, "--%s=%s%s" % (flag, value, "" if verdict == "pass" else " (want %s)" % wanted)
    return judge


def present(*names):
    """Pass when every flag is set to a non-empty value."""
    def judge(flags):
        missing = [f for f in names if not flags.get(f)]
        if missing:
            return "fail", "%s not set" % ", ".join("--" + f for f in missing)
        return "pass", ", ".join(_shown(flags, f) for f in names)
    return judge


def absent(flag):
    def judge(flags):
        if flags.get(flag) is None:
            return "pass", "--%s unset" % flag
        return "fail", "--%s=%s is set" % (flag, flags[flag])
    return judge


def _listed(value):
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def plugin_not_in(flag, plugin):
    """Pass when the accumulated list flag does not name ``plugin``."""
    def judge(flags):
        plugins = _listed(flags.get(flag))
        if plugin in plugins:
            return "fail", "%s (accumulated over every occurrence) includes %s" % (_shown(flags, flag), plugin)
        return "pass", "%s does not include %s" % (_shown(flags, flag), plugin)
    return judge


def feature_gates(value):
    """--feature-gates as the component reads it: a map where a later ``Gate=bool`` replaces an earlier one."""
    gates = {}
    for item in _listed(value):
        name, _sep, setting = item.partition("=")
        gates[name.strip()] = setting.strip().lower()
    return gates


def gate_not_false(gate):
    def judge(flags):
        setting = feature_gates(flags.get("feature-gates")).get(gate)
        if setting == "false":
            return "fail", "--feature-gates sets %s=false (last setting of the gate)" % gate
        return "pass", "%s %s" % (gate, "=%s" % setting if setting else "not set in --feature-gates (default true)")
    return judge


# -- the items ------------------------------------------------------------------------------------------------------

# (check ID, CIS ID, component, judge, title, severity, item, runbook)
ITEMS = (
    ("KC-SEC-026", "1.2.2", APISERVER, absent("token-auth-file"), "API server has no static token file", "high",
     "apiserver-no-static-token-file",
     "Static tokens never expire and cannot be revoked without restarting the API server. Remove "
     "--token-auth-file and give people OIDC and workloads service account tokens."),
    ("KC-SEC-027", "1.2.4", APISERVER, present("kubelet-client-certificate", "kubelet-client-key"),
     "API server authenticates to kubelets with a client certificate", "high",
     "apiserver-kubelet-client-certificate",
     "Without a client certificate the API server's calls to kubelets (exec, logs, port-forward) are anonymous, so "
     "kubelets must allow anonymous access. Set --kubelet-client-certificate and --kubelet-client-key (kubeadm "
     "sets both)."),
    ("KC-SEC-028", "1.2.5", APISERVER, present("kubelet-certificate-authority"),
     "API server verifies kubelet serving certificates", "medium", "apiserver-kubelet-certificate-authority",
     "Without --kubelet-certificate-authority the API server does not verify the kubelet it talks to, so a "
     "man-in-the-middle can read exec and log streams. Set it to the CA that signs kubelet serving certificates; "
     "kubeadm's kubelets serve self-signed certificates, so first enable serverTLSBootstrap and approve the "
     "kubelet-serving CSRs, or the API server can no longer reach the kubelets. The apiserver_hardening role sets it "
     "only when apiserver_hardening_kubelet_certificate_authority names the CA (off by default, for that reason)."),
    ("KC-SEC-029", "1.2.10", APISERVER, plugin_not_in("enable-admission-plugins", "AlwaysAdmit"),
     "AlwaysAdmit admission plugin not enabled", "critical", "admission-always-admit-off",
     "AlwaysAdmit admits every request and defeats every other admission control. Remove it from "
     "--enable-admission-plugins. A repeated --enable-admission-plugins accumulates: the API server enables the "
     "plugins of every occurrence, while kube-bench reads only the first."),
    ("KC-SEC-030", "1.2.12", APISERVER, plugin_not_in("disable-admission-plugins", "ServiceAccount"),
     "ServiceAccount admission plugin not disabled", "high", "admission-service-account-on",
     "The ServiceAccount plugin assigns service accounts and their tokens to pods; disabled, pods run with "
     "whatever identity they name. Remove ServiceAccount from --disable-admission-plugins."),
    ("KC-SEC-031", "1.2.13", APISERVER, plugin_not_in("disable-admission-plugins", "NamespaceLifecycle"),
     "NamespaceLifecycle admission plugin not disabled", "medium", "admission-namespace-lifecycle-on",
     "NamespaceLifecycle refuses objects in terminating or missing namespaces and protects the system "
     "namespaces from deletion. Remove it from --disable-admission-plugins."),
    ("KC-SEC-032", "1.2.21", APISERVER, equals("service-account-lookup", "true", ("pass", "defaults to true")),
     "API server checks service account tokens against stored accounts", "high", "service-account-lookup",
     "With --service-account-lookup=false a token stays valid after its ServiceAccount or Secret is deleted. "
     "Remove the flag or set it to true."),
    ("KC-SEC-033", "1.2.22", APISERVER, present("service-account-key-file"),
     "API server has service account verification keys", "high", "service-account-key-file",
     "Set --service-account-key-file to the public key(s) matching the controller manager's "
     "--service-account-private-key-file, so tokens can be verified and keys rotated."),
    ("KC-SEC-034", "1.2.24", APISERVER, present("tls-cert-file", "tls-private-key-file"),
     "API server serves TLS with a configured certificate", "high", "apiserver-tls-serving-certificate",
     "Without --tls-cert-file and --tls-private-key-file the API server serves a self-signed certificate that "
     "clients cannot verify. Set both to a certificate signed by the cluster CA."),
    ("KC-SEC-035", "1.2.25", APISERVER, present("client-ca-file"),
     "API server verifies client certificates", "high", "apiserver-client-ca",
     "Without --client-ca-file no client certificate is accepted, and components fall back to weaker "
     "authentication. Set it to the cluster CA."),
    ("KC-SEC-036", "1.2.30", APISERVER,
     equals("service-account-extend-token-expiration", "false", ("fail", "defaults to true")),
     "Service account tokens are not extended beyond their requested lifetime", "medium",
     "service-account-token-expiration",
     "By default the API server issues projected tokens valid for a year while reporting a one-hour expiry, to ease "
     "migration from legacy tokens. Set --service-account-extend-token-expiration=false once clients refresh "
     "their tokens (client-go does), so a leaked token expires as stated."),
    ("KC-SEC-037", "1.3.2", CONTROLLER_MANAGER, equals("profiling", "false", ("fail", "defaults to true")),
     "Controller manager profiling disabled", "low", "controller-manager-profiling-disabled",
     "Profiling endpoints expose internals and cost CPU. Set --profiling=false on kube-controller-manager."),
    ("KC-SEC-038", "1.3.3", CONTROLLER_MANAGER,
     equals("use-service-account-credentials", "true", ("fail", "defaults to false")),
     "Controller manager uses a service account per controller", "high",
     "controller-manager-service-account-credentials",
     "Without --use-service-account-credentials=true every controller acts with the controller manager's own, "
     "broad credentials, and RBAC cannot confine a single controller. kubeadm sets it."),
    ("KC-SEC-039", "1.3.4", CONTROLLER_MANAGER, present("service-account-private-key-file"),
     "Controller manager signs service account tokens with a configured key", "high",
     "controller-manager-service-account-key",
     "Set --service-account-private-key-file to the key whose public half the API server's "
     "--service-account-key-file lists, so tokens can be verified and the key rotated."),
    ("KC-SEC-040", "1.3.5", CONTROLLER_MANAGER, present("root-ca-file"),
     "Controller manager publishes the root CA to service accounts", "medium", "controller-manager-root-ca",
     "Without --root-ca-file pods get no CA bundle with their token and cannot verify the API server (or are "
     "tempted to skip verification). Set it to the cluster CA."),
    ("KC-SEC-041", "1.3.6", CONTROLLER_MANAGER, gate_not_false("RotateKubeletServerCertificate"),
     "Kubelet serving certificate rotation not disabled", "medium", "kubelet-server-certificate-rotation",
     "RotateKubeletServerCertificate lets kubelets renew their serving certificates through CSRs. Remove "
     "RotateKubeletServerCertificate=false from the controller manager's --feature-gates (a later setting of the "
     "same gate replaces an earlier one)."),
    ("KC-SEC-042", "1.3.7", CONTROLLER_MANAGER,
     equals("bind-address", "127.0.0.1", ("fail", "defaults to 0.0.0.0, every interface")),
     "Controller manager serves on localhost only", "medium", "controller-manager-bind-localhost",
     "The controller manager's secure port (10257) exposes health and metrics; bound beyond localhost it is "
     "reachable from the network. Set --bind-address=127.0.0.1 (kubeadm does). kube-bench passes an unset flag; "
     "the component then binds 0.0.0.0, so the collection fails it."),
    ("KC-SEC-043", "1.4.1", SCHEDULER, equals("profiling", "false", ("fail", "defaults to true")),
     "Scheduler profiling disabled", "low", "scheduler-profiling-disabled",
     "Profiling endpoints expose internals and cost CPU. Set --profiling=false on kube-scheduler."),
    ("KC-SEC-044", "1.4.2", SCHEDULER,
     equals("bind-address", "127.0.0.1", ("fail", "defaults to 0.0.0.0, every interface")),
     "Scheduler serves on localhost only", "medium", "scheduler-bind-localhost",
     "The scheduler's secure port (10259) exposes health and metrics; bound beyond localhost it is reachable "
     "from the network. Set --bind-address=127.0.0.1 (kubeadm does). kube-bench passes an unset flag; the "
     "component then binds 0.0.0.0, so the collection fails it."),
)


def flag_check(component, judge, cis_id):
    """evaluate(ctx) judging one flag rule on every control-plane node."""
    def evaluate(ctx):
        objects = []
        for node, flags, source in flag_sets(ctx, component):
            verdict, reason = judge(flags)
            objects.append(obj("Node", None, node, verdict, "%s: %s (%s)" % (component, reason, source)))
        return from_objects(objects, "CIS %s holds for %s on every control-plane node" % (cis_id, component),
                            "CIS %s fails for %s on %%d control-plane node(s)" % (cis_id, component))
    evaluate.__name__ = "cis_%s" % cis_id.replace(".", "_")
    return evaluate


# The checks apiserver_hardening fixes (KC-SEC-028 opt-in; the controller manager and scheduler on kubeadm).
REMEDIATED = ("KC-SEC-028", "KC-SEC-036", "KC-SEC-037", "KC-SEC-042", "KC-SEC-043", "KC-SEC-044")

CHECKS = [
    Check(check_id, title, "security", severity, item=item, evaluate=flag_check(component, judge, cis_id),
          needs=("pods", "node_facts"), distributions=SELF_MANAGED,
          remediation=HARDENING_ROLE if check_id in REMEDIATED else None,
          runbook="%s (CIS %s) %s" % (runbook, cis_id, REPEATED_FLAGS_NOTE))
    for check_id, cis_id, component, judge, title, severity, item, runbook in ITEMS
]
