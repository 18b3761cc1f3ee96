"""Pure cluster-fact functions on recorded API objects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import (
    api_endpoints,
    control_plane_components,
    guess_distribution,
    parse_flags,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
KUBEADM = yaml.safe_load((FIXTURES / "kubeadm_3_nodes.yml").read_text())
OTHERS = yaml.safe_load((FIXTURES / "distributions.yml").read_text())


def test_parse_flags_forms():
    flags = parse_flags(["kube-apiserver", "--a=1", "--bare", "--v", "2", "--b=x=y", "positional", "--a=3"])
    assert flags == {"a": "3", "bare": "true", "v": "2", "b": "x=y"}


def test_parse_flags_does_not_swallow_positionals_after_unknown_bare_flags():
    assert parse_flags(["etcd", "--enable-pprof", "extra"]) == {"enable-pprof": "true"}


def test_control_plane_components_from_recorded_kubeadm_cluster():
    components = control_plane_components(KUBEADM["kube_system_pods"])
    assert [(c["component"], c["node"]) for c in components] == [
        (comp, f"kc-cp{i}") for comp in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
        for i in (1, 2, 3)]
    apiserver = next(c for c in components if c["pod"] == "kube-apiserver-kc-cp2")
    assert apiserver["flags"]["bind-address"] == "127.0.10.2"
    assert apiserver["flags"]["authorization-mode"] == "Node,RBAC"
    assert apiserver["phase"] == "Running" and apiserver["ready"] is True
    assert "anonymous-auth" not in apiserver["flags"]


def test_non_mirror_pods_are_not_control_plane_components():
    pod = {"metadata": {"name": "kube-apiserver-fake", "labels": {"component": "kube-apiserver"}},
           "spec": {"containers": [{"name": "kube-apiserver", "command": ["kube-apiserver"]}]}}
    assert control_plane_components([pod]) == []


def test_flags_from_args_as_rke2_writes_them():
    components = control_plane_components(OTHERS["rke2"]["kube_system_pods"])
    assert components[0]["flags"] == {"audit-policy-file": "/etc/rancher/rke2/audit-policy.yaml",
                                      "anonymous-auth": "false", "profiling": "false"}
    assert components[0]["restarts"] == 2


def test_api_endpoints_from_recorded_slice():
    endpoints = api_endpoints(KUBEADM["endpoint_slices"])
    assert [e["address"] for e in endpoints] == ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    assert all(e["ports"] == [6443] and e["address_type"] == "IPv4" for e in endpoints)


def test_api_endpoints_ignore_other_services_and_keep_readiness():
    slices = [
        {"metadata": {"labels": {"kubernetes.io/service-name": "other"}}, "addressType": "IPv4",
         "endpoints": [{"addresses": ["10.0.0.9"]}], "ports": [{"port": 80}]},
        {"metadata": {"labels": {"kubernetes.io/service-name": "kubernetes"}}, "addressType": "IPv4",
         "endpoints": [{"addresses": ["10.0.0.2"], "conditions": {"ready": False}}], "ports": [{"port": 443}]},
    ]
    assert api_endpoints(slices) == [{"address": "10.0.0.2", "ports": [443], "address_type": "IPv4", "ready": False}]


def test_kubeadm_is_recognised_with_evidence():
    components = control_plane_components(KUBEADM["kube_system_pods"])
    distribution, evidence = guess_distribution(KUBEADM["version"], KUBEADM["nodes"], components, True)
    assert distribution == "kubeadm"
    assert evidence[0] == "ConfigMap kube-system/kubeadm-config exists"
    assert len(evidence) == 4  # the ConfigMap and the three upstream apiserver images


@pytest.mark.parametrize("expected", ["eks", "gke", "aks", "rke2", "k3s"])
def test_distribution_markers(expected):
    case = OTHERS[expected]
    components = control_plane_components(case["kube_system_pods"])
    distribution, evidence = guess_distribution(case["version"], case["nodes"], components, False)
    assert distribution == expected
    assert evidence


def test_managed_markers_outrank_a_kubeadm_configmap():
    case = OTHERS["eks"]
    distribution, _evidence = guess_distribution(case["version"], case["nodes"], [], True)
    assert distribution == "eks"


def test_no_marker_is_unknown_not_a_guess():
    case = OTHERS["unknown"]
    assert guess_distribution(case["version"], case["nodes"], [], False) == (
        "unknown", ["no distribution marker found in the server version, nodes or kube-system"])


def test_repeated_list_flags_accumulate_like_the_apiserver():
    flags = parse_flags(["kube-apiserver", "--enable-admission-plugins=NodeRestriction",
                         "--enable-admission-plugins=EventRateLimit", "--profiling=true", "--profiling=false"])
    assert flags == {"enable-admission-plugins": "NodeRestriction,EventRateLimit", "profiling": "false"}


def test_a_separate_value_is_read_for_any_flag_that_is_not_boolean():
    # pflag takes the next argument as the value of a non-boolean flag: "--disable-admission-plugins X" disables
    # X, and reading it as a bare "true" would pass CIS 1.2.12 while ServiceAccount is off.
    flags = parse_flags(["kube-apiserver", "--disable-admission-plugins", "ServiceAccount", "--profiling",
                         "--bind-address", "0.0.0.0", "--feature-gates", "RotateKubeletServerCertificate=false"])
    assert flags == {"disable-admission-plugins": "ServiceAccount", "profiling": "true", "bind-address": "0.0.0.0",
                     "feature-gates": "RotateKubeletServerCertificate=false"}


def test_repeated_flags_last_wins_for_scalars_and_accumulate_for_lists_in_either_form():
    flags = parse_flags(["kube-controller-manager", "--profiling=true", "--profiling=false",
                         "--bind-address", "0.0.0.0", "--bind-address=127.0.0.1",
                         "--feature-gates=RotateKubeletServerCertificate=false", "--feature-gates", "A=true"])
    assert flags == {"profiling": "false", "bind-address": "127.0.0.1",
                     "feature-gates": "RotateKubeletServerCertificate=false,A=true"}
