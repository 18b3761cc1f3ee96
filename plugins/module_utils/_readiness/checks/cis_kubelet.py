# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""CIS Kubernetes Benchmark kubelet and kube-proxy items (cis-1.11 4.2.1, 4.2.2, 4.2.3, 4.2.6, 4.2.10 and 4.3.1, the
automated ones of 4.2 and 4.3), one check per CIS item. The kubelet items are judged on the value the kubelet uses:
its command-line flag (last occurrence), else its KubeletConfiguration, else its built-in default
(_node.kubelet.effective names which one decided).

kube-bench reads the flag from ``ps`` and otherwise the first config file it finds, never the --config the kubelet
was given nor its defaults; where a setting is unset the two can disagree (4.2.10: an unset rotateCertificates is
false in the kubelet, kube-bench passes it). A node whose kubelet cannot be read is unknown, naming what is missing.
Node facts: ``kubelet`` (_node.kubelet.read_kubelet).

kube-proxy (4.3.1) is read from the API: the kube-proxy DaemonSet (kubeadm) or kube-proxy pods (RKE2's static pods),
their flags and the KubeProxyConfiguration their --config names in a kube-system ConfigMap."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import posixpath

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SELF_MANAGED
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.workloads import pod_template
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import DocumentError, load_document
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.kubelet import effective
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance import HIPAA, NIST
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import (
    Check,
    Unreadable,
    from_objects,
    obj,
)

CIS = "cis_kubernetes"
ROLE = {"role": "control_plane_files", "tag": "files"}


def is_false(value):
    return value is False


def not_always_allow(value):
    return isinstance(value, str) and value.strip() != "" and "AlwaysAllow" not in value.split(",")


def non_empty(value):
    return isinstance(value, str) and value.strip() != ""


def is_true(value):
    return value is True


# Of the item's NIST and HIPAA controls, the ones a kubelet setting tests where the item maps more.
NIST_TESTED = {"KC-SEC-073": {NIST: ("AC-3",), HIPAA: ("164.312(a)(1)",)}}

# (check ID, CIS ID, setting, passes, wanted (text), title, severity, item, runbook)
ITEMS = (
    ("KC-SEC-072", "4.2.1", "anonymous_auth", is_false, "false", "Kubelet anonymous authentication disabled",
     "high", "anonymous-auth-disabled",
     "With anonymous auth on, anyone who reaches the kubelet's port 10250 is system:anonymous, and with "
     "AlwaysAllow authorization may exec into pods. Set authentication.anonymous.enabled: false in the "
     "KubeletConfiguration (the default with a config file; a kubelet started without --config defaults to true)."),
    ("KC-SEC-073", "4.2.2", "authorization_mode", not_always_allow, "not AlwaysAllow",
     "Kubelet authorization mode is not AlwaysAllow", "critical", "rbac-least-privilege",
     "AlwaysAllow lets every authenticated caller use the kubelet API (exec, logs, port-forward). Set "
     "authorization.mode: Webhook so the API server authorizes each request (the default with a config file; a "
     "kubelet started without --config defaults to AlwaysAllow)."),
    ("KC-SEC-074", "4.2.3", "client_ca_file", non_empty, "a CA file",
     "Kubelet verifies client certificates", "high", "kubelet-configuration",
     "Without authentication.x509.clientCAFile the kubelet accepts no client certificate, so the API server "
     "cannot authenticate to it with one. Set it to the cluster CA (kubeadm sets /etc/kubernetes/pki/ca.crt); "
     "there is no default."),
    ("KC-SEC-075", "4.2.6", "make_iptables_util_chains", is_true, "true",
     "Kubelet manages its iptables utility chains", "low", "kubelet-configuration",
     "With makeIPTablesUtilChains false the kubelet stops maintaining the KUBE-FIREWALL chains that drop "
     "martian packets to localhost services. Remove the false setting (the default is true)."),
    ("KC-SEC-076", "4.2.10", "rotate_certificates", is_true, "true", "Kubelet rotates its client certificate",
     "medium", "kubelet-configuration",
     "Without rotateCertificates the kubelet's client certificate expires after a year and the node drops out of "
     "the cluster. Set rotateCertificates: true (kubeadm does; the kubelet's own default is false, so an unset "
     "key fails here while kube-bench passes it)."),
)


def judge(kubelet, setting, passes, wanted):
    """(verdict, reason) of one node's kubelet facts for one setting."""
    if not kubelet:
        return "unknown", "node facts carry no kubelet facts"
    if kubelet.get("missing"):
        return "unknown", kubelet["missing"]
    value, origin = effective(kubelet, setting)
    if value is None:
        return "unknown", "%s does not parse" % origin
    if passes(value):
        return "pass", "%s (%s)" % (origin, kubelet.get("source") or "kubelet")
    return "fail", "%s (want %s; %s)" % (origin, wanted, kubelet.get("source") or "kubelet")


def kubelet_check(cis_id, setting, passes, wanted):
    """evaluate(ctx) judging one kubelet setting on every node the node facts cover."""
    def evaluate(ctx):
        facts = ctx.node_facts()
        if not facts:
            raise Unreadable("control-plane node facts", "the control-plane group has no hosts")
        objects = []
        for host in sorted(facts):
            verdict, reason = judge((facts[host] or {}).get("kubelet"), setting, passes, wanted)
            objects.append(obj("Node", None, host, verdict, "kubelet: %s" % reason))
        return from_objects(objects, "CIS %s holds for the kubelet on every node" % cis_id,
                            "CIS %s fails for the kubelet on %%d node(s)" % cis_id)
    evaluate.__name__ = "cis_%s" % cis_id.replace(".", "_")
    return evaluate


CHECKS = [
    Check(check_id, title, "security", severity, item=item, evaluate=kubelet_check(cis_id, setting, passes, wanted),
          needs=("node_facts",), distributions=SELF_MANAGED, remediation=ROLE,
          runbook="%s The control_plane_files role with control_plane_files_kubelet_settings: true (opt-in) sets "
                  "the key in the config file the kubelet's --config names and restarts the kubelet, one node at a "
                  "time; a command-line flag overrides the file, so the role reports such a flag instead of "
                  "editing. (CIS %s)" % (runbook, cis_id),
          controls=dict({CIS: (cis_id,)}, **NIST_TESTED.get(check_id, {})))
    for check_id, cis_id, setting, passes, wanted, title, severity, item, runbook in ITEMS
]


# -- kube-proxy (4.3.1) ----------------------------------------------------------------------------------------------

# kube-proxy's default metrics address (pkg/proxy/apis/config/v1alpha1 defaults: an empty metricsBindAddress becomes
# this). With --config, kube-proxy ignores --metrics-bind-address (cmd/kube-proxy/app/options.go: "This parameter is
# ignored if a config file is specified by --config").
PROXY_METRICS_DEFAULT = "127.0.0.1:10249"
PROXY = "kube-proxy"
K3S_PROXY = "k3s runs kube-proxy inside the k3s process; its flags appear only in the k3s journal, which is not read"
NO_PROXY = ("CIS 4.3.1 does not apply: no kube-proxy DaemonSet or pod runs (a CNI replaces it), so nothing serves "
            "kube-proxy metrics")


def _container(spec):
    containers = (spec or {}).get("containers") or []
    return next((c for c in containers if c.get("name") == PROXY), containers[0] if containers else {})


def _config_map_key(spec, container, path):
    """(ConfigMap name, key) behind a file path in the container, through its configMap volume mounts."""
    volumes = {v.get("name"): v.get("configMap") for v in (spec or {}).get("volumes") or [] if v.get("configMap")}
    for mount in container.get("volumeMounts") or []:
        source = volumes.get(mount.get("name"))
        mount_path = str(mount.get("mountPath") or "").rstrip("/")
        if source is None or not path.startswith(mount_path + "/"):
            continue
        relative = path[len(mount_path) + 1:]
        for item in source.get("items") or []:
            if item.get("path") == relative:
                return source.get("name"), item.get("key")
        return source.get("name"), posixpath.normpath(relative)
    return None, None


def proxy_metrics_address(spec, namespace, config_maps):
    """(address or None, origin, problem or None) of one kube-proxy pod spec: the config file's metricsBindAddress
    (flags then ignored), else --metrics-bind-address, else kube-proxy's default."""
    container = _container(spec)
    flags = parse_flags(list(container.get("command") or []) + list(container.get("args") or []))
    config = flags.get("config")
    if config:
        name, key = _config_map_key(spec, container, config)
        if name is None:
            return None, "", "--config=%s is not in a ConfigMap volume; the file is on the node and not read" % config
        if namespace != "kube-system":
            return None, "", "--config=%s is in ConfigMap %s/%s, which is not read" % (config, namespace, name)
        config_map = config_maps.get(name)
        if config_map is None or key not in (config_map.get("data") or {}):
            return None, "", "--config=%s: ConfigMap kube-system/%s has no key %s" % (config, name, key)
        try:
            document = load_document(config_map["data"][key])
        except DocumentError as exc:
            return None, "", "--config=%s (ConfigMap kube-system/%s %s) does not parse: %s" % (config, name, key, exc)
        address = (document or {}).get("metricsBindAddress") if isinstance(document, dict) else None
        if not address:
            return PROXY_METRICS_DEFAULT, "metricsBindAddress unset in ConfigMap kube-system/%s %s (default %s)" % (
                name, key, PROXY_METRICS_DEFAULT), None
        return str(address), "metricsBindAddress: %s in ConfigMap kube-system/%s %s" % (address, name, key), None
    if "metrics-bind-address" in flags:
        return flags["metrics-bind-address"], "--metrics-bind-address=%s" % flags["metrics-bind-address"], None
    return PROXY_METRICS_DEFAULT, "no --config and no --metrics-bind-address (default %s)" % PROXY_METRICS_DEFAULT, None


def is_localhost(address):
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 or address.startswith("[") else address
    host = host.strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def _is_proxy(item):
    meta = item.get("metadata") or {}
    labels = meta.get("labels") or {}
    return labels.get("k8s-app") == PROXY or labels.get("component") == PROXY or meta.get("name") == PROXY


def kube_proxy_metrics(ctx):
    daemonsets = [d for d in ctx.items("daemonsets") if _is_proxy(d)]
    # Pods a DaemonSet owns are judged through it; RKE2 runs kube-proxy as static (mirror) pods.
    pods = [p for p in ctx.items("pods")
            if (_is_proxy(p) or (p.get("metadata") or {}).get("name", "").startswith(PROXY + "-"))
            and not any(o.get("kind") == "DaemonSet" for o in (p.get("metadata") or {}).get("ownerReferences") or [])]
    if not daemonsets and not pods:
        if ctx.distribution == "k3s":
            raise Unreadable("kube-proxy", K3S_PROXY)
        return from_objects([], "", "", none_message=NO_PROXY)
    config_maps = {(c.get("metadata") or {}).get("name"): c for c in ctx.items("kube_system_configmaps")}
    objects = []
    for kind, item, spec in ([("DaemonSet", d, pod_template(d).get("spec") or {}) for d in daemonsets]
                             + [("Pod", p, p.get("spec") or {}) for p in pods]):
        meta = item.get("metadata") or {}
        address, origin, problem = proxy_metrics_address(spec, meta.get("namespace"), config_maps)
        if problem:
            verdict, reason = "unknown", problem
        elif is_localhost(address):
            verdict, reason = "pass", origin
        else:
            verdict, reason = "fail", "%s (want 127.0.0.1)" % origin
        objects.append(obj(kind, meta.get("namespace"), meta.get("name"), verdict, reason))
    return from_objects(objects, "kube-proxy serves metrics on localhost only",
                        "kube-proxy serves metrics beyond localhost in %d object(s)")


CHECKS.append(Check(
    "KC-SEC-077", "kube-proxy metrics bound to localhost", "security", "low", item="kube-proxy-metrics-localhost",
    evaluate=kube_proxy_metrics, needs=("daemonsets", "pods", "kube_system_configmaps"), distributions=SELF_MANAGED,
    runbook="kube-proxy's metrics endpoint (10249) tells anyone who reaches it the cluster's Services and endpoints. "
            "Leave metricsBindAddress empty (kube-proxy then binds 127.0.0.1:10249) or set it to 127.0.0.1:10249 in "
            "the KubeProxyConfiguration (kubeadm: the kube-system/kube-proxy ConfigMap, then restart the DaemonSet). "
            "With --config kube-proxy ignores --metrics-bind-address, so the file decides. No kube-proxy (a CNI "
            "replaces it): the item does not apply. (CIS 4.3.1)",
    controls={CIS: ("4.3.1",)}))
