"""CIS kubelet checks (KC-SEC-072..076, cis-1.11 4.2.1, 4.2.2, 4.2.3, 4.2.6, 4.2.10) on recorded node facts: pass on
kubeadm's config, fail naming the value and where it came from, a flag overriding the config file, the kubelet's
default where neither sets the key (which differs with and without --config), unknown naming what is missing; and
the kube-proxy check (KC-SEC-077, 4.3.1) on recorded DaemonSets, pods and ConfigMaps."""

from __future__ import annotations

import copy
import datetime

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog, engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import cis_kubelet
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
CHECKS = {c.id: c for c in catalog.all_checks()}
BY_CIS = {item[1]: item[0] for item in cis_kubelet.ITEMS}
CONFIG_PATH = "/var/lib/kubelet/config.yaml"

# As read_kubelet recorded them on a kubeadm node (kubeadm v1.36's config.yaml; the running process).
KUBEADM = {
    "source": "running kubelet process",
    "flags": {"config": CONFIG_PATH, "kubeconfig": "/etc/kubernetes/kubelet.conf"},
    "config_files": [CONFIG_PATH],
    "config": {"authentication.anonymous.enabled": False, "authentication.x509.clientCAFile": "/etc/kubernetes/pki/ca.crt",
               "authorization.mode": "Webhook", "rotateCertificates": True},
    "missing": None,
}


def kubelet(flags=None, config=None, drop_flags=(), drop_keys=()):
    facts = copy.deepcopy(KUBEADM)
    facts["flags"].update(flags or {})
    facts["config"].update(config or {})
    for name in drop_flags:
        facts["flags"].pop(name)
    for key in drop_keys:
        facts["config"].pop(key)
    return facts


def run(cis_id, *kubelets):
    hosts = {"cp-%d" % n: {"distribution": "kubeadm", "errors": [], "kubelet": k} for n, k in enumerate(kubelets, 1)}
    snap = {"cluster": {"name": "c", "distribution": "kubeadm", "tier": "critical", "version": "v1.36.0"},
            "kinds": {}, "nodes": {"hosts": hosts}}
    return engine.run_check(CHECKS[BY_CIS[cis_id]], Context(snap, tiers.tier_table(), {}, NOW))


def test_one_check_per_automated_kubelet_item_carrying_only_its_id():
    assert sorted(BY_CIS) == ["4.2.1", "4.2.10", "4.2.2", "4.2.3", "4.2.6"]
    assert catalog.entries([CHECKS["KC-SEC-077"]])[0]["controls"][0]["id"] == "4.3.1"
    for cis_id, check_id in BY_CIS.items():
        controls = [c["id"] for c in catalog.entries([CHECKS[check_id]])[0]["controls"]
                    if c["framework"] == "cis_kubernetes"]
        assert controls == [cis_id]


# cis_id, kubelet facts, verdict, reason fragment
CASES = [
    # kubeadm's config passes every item; the default decides makeIPTablesUtilChains.
    ("4.2.1", kubelet(), "pass", "authentication.anonymous.enabled: false in /var/lib/kubelet/config.yaml"),
    ("4.2.2", kubelet(), "pass", "authorization.mode: Webhook"),
    ("4.2.3", kubelet(), "pass", "clientCAFile: /etc/kubernetes/pki/ca.crt"),
    ("4.2.6", kubelet(), "pass", "makeIPTablesUtilChains not set: the kubelet defaults it to true with a config file"),
    ("4.2.10", kubelet(), "pass", "rotateCertificates: true"),
    # fail on the config file
    ("4.2.1", kubelet(config={"authentication.anonymous.enabled": True}), "fail", "enabled: true in"),
    ("4.2.2", kubelet(config={"authorization.mode": "AlwaysAllow"}), "fail", "(want not AlwaysAllow"),
    ("4.2.3", kubelet(config={"authentication.x509.clientCAFile": ""}), "fail", "(want a CA file"),
    ("4.2.6", kubelet(config={"makeIPTablesUtilChains": False}), "fail", "makeIPTablesUtilChains: false"),
    ("4.2.10", kubelet(config={"rotateCertificates": False}), "fail", "rotateCertificates: false"),
    # a flag overrides the config file, both ways
    ("4.2.1", kubelet(flags={"anonymous-auth": "true"}), "fail", "--anonymous-auth=true on the command line"),
    ("4.2.1", kubelet(flags={"anonymous-auth": "false"}, config={"authentication.anonymous.enabled": True}),
     "pass", "--anonymous-auth=false"),
    ("4.2.2", kubelet(flags={"authorization-mode": "AlwaysAllow"}), "fail", "--authorization-mode=AlwaysAllow"),
    ("4.2.3", kubelet(flags={"client-ca-file": "/ca.pem"}, drop_keys=["authentication.x509.clientCAFile"]),
     "pass", "--client-ca-file=/ca.pem"),
    ("4.2.6", kubelet(flags={"make-iptables-util-chains": "false"}), "fail", "--make-iptables-util-chains=false"),
    ("4.2.10", kubelet(flags={"rotate-certificates": "false"}), "fail", "--rotate-certificates=false"),
    # defaults: with a config file
    ("4.2.1", kubelet(drop_keys=["authentication.anonymous.enabled"]), "pass", "defaults it to false"),
    ("4.2.2", kubelet(drop_keys=["authorization.mode"]), "pass", "defaults it to Webhook"),
    ("4.2.3", kubelet(drop_keys=["authentication.x509.clientCAFile"]), "fail", "clientCAFile not set"),
    ("4.2.10", kubelet(drop_keys=["rotateCertificates"]), "fail", "the kubelet defaults it to false"),
    # defaults: no --config, the flag-era defaults
    ("4.2.1", {"source": "running kubelet process", "flags": {}, "config_files": [], "config": {}, "missing": None},
     "fail", "no --config and no --anonymous-auth: the kubelet's flag default is true"),
    ("4.2.2", {"source": "running kubelet process", "flags": {}, "config_files": [], "config": {}, "missing": None},
     "fail", "flag default is AlwaysAllow"),
    # unknown, never pass
    ("4.2.1", {"missing": "no kubelet process runs and no kubelet.service unit with an ExecStart was found in "
                          "/etc/systemd/system"}, "unknown", "no kubelet process runs"),
    ("4.2.10", {"missing": "kubelet config file /var/lib/kubelet/config.yaml does not exist (the kubelet cannot "
                           "start)"}, "unknown", "config.yaml does not exist"),
    ("4.2.6", None, "unknown", "node facts carry no kubelet facts"),
    ("4.2.10", kubelet(flags={"rotate-certificates": "yes"}), "unknown",
     "--rotate-certificates=yes on the command line does not parse"),
]


@pytest.mark.parametrize("cis_id, facts, verdict, fragment", CASES)
def test_verdicts_on_recorded_kubelet_facts(cis_id, facts, verdict, fragment):
    result = run(cis_id, facts)
    assert result.verdict == verdict, result.objects
    assert fragment in result.objects[0]["reason"]


def test_one_bad_node_fails_the_check_and_is_named():
    result = run("4.2.1", kubelet(), kubelet(flags={"anonymous-auth": "true"}))
    assert result.verdict == "fail"
    assert [o["verdict"] for o in result.objects] == ["pass", "fail"]
    assert result.objects[1]["name"] == "cp-2"


def test_no_node_facts_is_unknown():
    snap = {"cluster": {"name": "c", "distribution": "kubeadm", "tier": "critical", "version": "v1.36.0"},
            "kinds": {}, "nodes": {"hosts": {}}}
    result = engine.run_check(CHECKS[BY_CIS["4.2.1"]], Context(snap, tiers.tier_table(), {}, NOW))
    assert result.verdict == "unknown"


# -- kube-proxy (4.3.1) ---------------------------------------------------------------------------------------------

PROXY_CONFIG = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmetricsBindAddress: %s\n"


def proxy_daemonset(args, metrics='""', mount=True):
    """kubeadm's kube-proxy DaemonSet and ConfigMap (K8S cmd/kubeadm/app/phases/addons/proxy/manifests.go)."""
    container = {"name": "kube-proxy", "command": ["/usr/local/bin/kube-proxy"] + args,
                 "volumeMounts": [{"name": "kube-proxy", "mountPath": "/var/lib/kube-proxy"}] if mount else []}
    daemonset = {"metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": {"k8s-app": "kube-proxy"}},
                 "spec": {"template": {"spec": {"containers": [container],
                                                "volumes": [{"name": "kube-proxy",
                                                             "configMap": {"name": "kube-proxy"}}]}}}}
    config_map = {"metadata": {"name": "kube-proxy", "namespace": "kube-system"},
                  "data": {"config.conf": PROXY_CONFIG % metrics, "kubeconfig.conf": "..."}}
    return daemonset, config_map


def run_proxy(daemonsets=(), pods=(), config_maps=(), distribution="kubeadm"):
    kinds = {"daemonsets": {"items": list(daemonsets)}, "pods": {"items": list(pods)},
             "kube_system_configmaps": {"items": list(config_maps)}}
    snap = {"cluster": {"name": "c", "distribution": distribution, "tier": "critical", "version": "v1.36.0"},
            "kinds": kinds, "nodes": {"hosts": {}}}
    return engine.run_check(CHECKS["KC-SEC-077"], Context(snap, tiers.tier_table(), {}, NOW))


KUBEADM_PROXY_ARGS = ["--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"]


@pytest.mark.parametrize("args, metrics, verdict, fragment", [
    (KUBEADM_PROXY_ARGS, '""', "pass", "metricsBindAddress unset in ConfigMap kube-system/kube-proxy config.conf "
                                       "(default 127.0.0.1:10249)"),
    (KUBEADM_PROXY_ARGS, "127.0.0.1:10249", "pass", "metricsBindAddress: 127.0.0.1:10249"),
    (KUBEADM_PROXY_ARGS, "0.0.0.0:10249", "fail", "metricsBindAddress: 0.0.0.0:10249 in ConfigMap"),
    # with --config the flag is ignored: the file decides, both ways
    (KUBEADM_PROXY_ARGS + ["--metrics-bind-address=0.0.0.0:10249"], '""', "pass", "metricsBindAddress unset"),
    (["--metrics-bind-address=0.0.0.0:10249"], '""', "fail", "--metrics-bind-address=0.0.0.0:10249 (want"),
    ([], '""', "pass", "no --config and no --metrics-bind-address (default 127.0.0.1:10249)"),
    (["--config=/etc/kube-proxy/config.conf"], '""', "unknown", "is not in a ConfigMap volume"),
])
def test_kube_proxy_metrics_address_is_judged_as_kube_proxy_reads_it(args, metrics, verdict, fragment):
    daemonset, config_map = proxy_daemonset(args, metrics)
    result = run_proxy([daemonset], config_maps=[config_map])
    assert result.verdict == verdict, result.objects
    assert fragment in result.objects[0]["reason"]


def test_kube_proxy_config_key_missing_is_unknown_never_pass():
    daemonset, config_map = proxy_daemonset(KUBEADM_PROXY_ARGS)
    del config_map["data"]["config.conf"]
    result = run_proxy([daemonset], config_maps=[config_map])
    assert result.verdict == "unknown"
    assert "ConfigMap kube-system/kube-proxy has no key config.conf" in result.objects[0]["reason"]


def test_rke2_kube_proxy_static_pods_are_judged_and_daemonset_pods_are_not_counted_twice():
    static = {"metadata": {"name": "kube-proxy-node-1", "namespace": "kube-system",
                           "labels": {"component": "kube-proxy"}},
              "spec": {"containers": [{"name": "kube-proxy", "command": [
                  "kube-proxy", "--metrics-bind-address=0.0.0.0:10249"]}]}}
    owned = {"metadata": {"name": "kube-proxy-abcde", "namespace": "kube-system", "labels": {"k8s-app": "kube-proxy"},
                          "ownerReferences": [{"kind": "DaemonSet", "name": "kube-proxy"}]}, "spec": {}}
    result = run_proxy(pods=[static, owned], distribution="rke2")
    assert result.verdict == "fail"
    assert [o["name"] for o in result.objects] == ["kube-proxy-node-1"]


def test_no_kube_proxy_does_not_apply_but_k3s_is_unknown():
    assert run_proxy().verdict == "not_applicable"
    result = run_proxy(distribution="k3s")
    assert result.verdict == "unknown" and "k3s runs kube-proxy inside the k3s process" in result.message
