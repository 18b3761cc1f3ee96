"""CIS flag checks of kube-apiserver, kube-controller-manager and kube-scheduler on the recorded kubeadm cluster
(mirror pods) and on recorded node facts: pass, fail, unknown, repeated scalar flags and accumulating list flags."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog, engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import cis_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
RECORDED = yaml.safe_load((Path(__file__).resolve().parents[3] / "fixtures" / "kubeadm_3_nodes.yml").read_text())
CHECKS = {c.id: c for c in catalog.all_checks()}
CIS = {check_id: cis_id for check_id, cis_id, *_rest in cis_flags.ITEMS}

APISERVER = {
    "profiling": "false", "enable-admission-plugins": "NodeRestriction", "kubelet-client-certificate": "/p/kc.crt",
    "kubelet-client-key": "/p/kc.key", "kubelet-certificate-authority": "/etc/kubernetes/pki/ca.crt",
    "service-account-key-file": "/p/sa.pub", "tls-cert-file": "/p/apiserver.crt",
    "tls-private-key-file": "/p/apiserver.key", "client-ca-file": "/p/ca.crt",
    "service-account-extend-token-expiration": "false",
}
CONTROLLER_MANAGER = {
    "profiling": "false", "use-service-account-credentials": "true", "service-account-private-key-file": "/p/sa.key",
    "root-ca-file": "/p/ca.crt", "bind-address": "127.0.0.1",
}
SCHEDULER = {"profiling": "false", "bind-address": "127.0.0.1"}
MANIFESTS = "/etc/kubernetes/manifests/"


def section(component, flags, running=True):
    return {"source": MANIFESTS + component + ".yaml", "flags": dict(flags),
            "running_flags": dict(flags) if running else None, "missing": None}


def node(apiserver=None, controller_manager=None, scheduler=None, running=True):
    return {"distribution": "kubeadm", "errors": [],
            "apiserver": section("kube-apiserver", apiserver or APISERVER, running),
            "controller_manager": section("kube-controller-manager", controller_manager or CONTROLLER_MANAGER,
                                          running),
            "scheduler": section("kube-scheduler", scheduler or SCHEDULER, running)}


def run(check_id, hosts=None, distribution="kubeadm"):
    kinds = {"pods": {"items": copy.deepcopy(RECORDED["kube_system_pods"])}}
    snap = {"cluster": {"name": "c", "distribution": distribution, "tier": "critical", "version": RECORDED["version"]},
            "kinds": kinds, "nodes": {"hosts": hosts} if hosts is not None else None}
    return engine.run_check(CHECKS[check_id], Context(snap, tiers.tier_table(), {}, NOW))


def argv_flags(*argv):
    return parse_flags(["component"] + list(argv))


# -- catalog: one CIS ID per check ---------------------------------------------------------------------------------

@pytest.mark.parametrize("check_id", sorted(CIS) + ["KC-SEC-008"])
def test_each_check_names_exactly_its_cis_id(check_id):
    entry = next(e for e in catalog.entries([CHECKS[check_id]]))
    cis_ids = [c["id"] for c in entry["controls"] if c["framework"] == "cis_kubernetes"]
    assert cis_ids == [CIS.get(check_id, "1.2.15")]


# -- the recorded kubeadm cluster, from its mirror pods -------------------------------------------------------------

@pytest.mark.parametrize("check_id,verdict,fragment", [
    ("KC-SEC-026", "pass", "--token-auth-file unset"),
    ("KC-SEC-027", "pass", "--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt"),
    ("KC-SEC-028", "fail", "--kubelet-certificate-authority not set"),
    ("KC-SEC-029", "pass", "--enable-admission-plugins=NodeRestriction does not include AlwaysAdmit"),
    ("KC-SEC-030", "pass", "--disable-admission-plugins unset does not include ServiceAccount"),
    ("KC-SEC-032", "pass", "--service-account-lookup unset (defaults to true)"),
    ("KC-SEC-033", "pass", "--service-account-key-file=/etc/kubernetes/pki/sa.pub"),
    ("KC-SEC-034", "pass", "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt"),
    ("KC-SEC-035", "pass", "--client-ca-file=/etc/kubernetes/pki/ca.crt"),
    ("KC-SEC-036", "fail", "--service-account-extend-token-expiration unset (defaults to true)"),
    ("KC-SEC-037", "fail", "kube-controller-manager: --profiling unset (defaults to true)"),
    ("KC-SEC-038", "pass", "--use-service-account-credentials=true"),
    ("KC-SEC-039", "pass", "--service-account-private-key-file=/etc/kubernetes/pki/sa.key"),
    ("KC-SEC-040", "pass", "--root-ca-file=/etc/kubernetes/pki/ca.crt"),
    ("KC-SEC-041", "pass", "RotateKubeletServerCertificate not set in --feature-gates (default true)"),
    ("KC-SEC-042", "fail", "--bind-address=127.0.10.1 (want 127.0.0.1)"),
    ("KC-SEC-043", "fail", "kube-scheduler: --profiling unset (defaults to true)"),
    ("KC-SEC-044", "fail", "--bind-address=127.0.10.1 (want 127.0.0.1)"),
])
def test_recorded_kubeadm_cluster_from_mirror_pods(check_id, verdict, fragment):
    result = run(check_id)
    assert result.verdict == verdict, (result.message, result.objects)
    assert len(result.objects) == 3
    assert fragment in result.objects[0]["reason"] and "(mirror pod " in result.objects[0]["reason"]


# -- recorded node facts -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("check_id", sorted(CIS) + ["KC-SEC-008"])
def test_hardened_nodes_pass_from_the_running_processes(check_id):
    result = run(check_id, {"cp1": node(), "cp2": node()})
    assert result.verdict == "pass", (result.message, result.objects)
    assert all(o["reason"].endswith("(running process)") for o in result.objects)


@pytest.mark.parametrize("check_id,key,flags,fragment", [
    ("KC-SEC-026", "apiserver", dict(APISERVER, **{"token-auth-file": "/etc/tokens.csv"}),
     "--token-auth-file=/etc/tokens.csv is set"),
    ("KC-SEC-027", "apiserver", {k: v for k, v in APISERVER.items() if k != "kubelet-client-key"},
     "--kubelet-client-key not set"),
    ("KC-SEC-032", "apiserver", dict(APISERVER, **{"service-account-lookup": "false"}),
     "--service-account-lookup=false (want true)"),
    ("KC-SEC-036", "apiserver", dict(APISERVER, **{"service-account-extend-token-expiration": "true"}),
     "--service-account-extend-token-expiration=true (want false)"),
    ("KC-SEC-038", "controller_manager", dict(CONTROLLER_MANAGER, **{"use-service-account-credentials": "false"}),
     "--use-service-account-credentials=false (want true)"),
    ("KC-SEC-040", "controller_manager", dict(CONTROLLER_MANAGER, **{"root-ca-file": ""}), "--root-ca-file not set"),
    ("KC-SEC-042", "controller_manager", {k: v for k, v in CONTROLLER_MANAGER.items() if k != "bind-address"},
     "--bind-address unset (defaults to 0.0.0.0, every interface)"),
    ("KC-SEC-044", "scheduler", dict(SCHEDULER, **{"bind-address": "0.0.0.0"}), "--bind-address=0.0.0.0"),
])
def test_one_bad_node_fails_naming_the_flag_value_and_source(check_id, key, flags, fragment):
    bad = node()
    bad[key]["running_flags"] = flags
    result = run(check_id, {"cp1": node(), "cp2": bad})
    assert result.verdict == "fail"
    by_node = {o["name"]: o for o in result.objects}
    assert by_node["cp1"]["verdict"] == "pass" and by_node["cp2"]["verdict"] == "fail"
    assert fragment in by_node["cp2"]["reason"] and by_node["cp2"]["reason"].endswith("(running process)")


def test_the_manifest_is_read_when_no_process_runs():
    facts = node(running=False)
    facts["scheduler"]["flags"]["profiling"] = "true"
    result = run("KC-SEC-043", {"cp1": facts})
    assert result.verdict == "fail"
    assert result.objects[0]["reason"] == (
        "kube-scheduler: --profiling=true (want false) (/etc/kubernetes/manifests/kube-scheduler.yaml)")


def test_flags_that_cannot_be_read_are_unknown_never_pass():
    unread = node()
    unread["controller_manager"] = {"source": MANIFESTS + "kube-controller-manager.yaml", "flags": None,
                                    "running_flags": None,
                                    "missing": MANIFESTS + "kube-controller-manager.yaml does not exist"}
    for check_id in ("KC-SEC-037", "KC-SEC-038", "KC-SEC-041", "KC-SEC-042"):
        result = run(check_id, {"cp1": node(), "cp2": unread})
        assert result.verdict == "unknown", result.message
        assert "kube-controller-manager flags on cp2" in result.message
        assert "kube-controller-manager.yaml does not exist" in result.message


def test_k3s_controller_manager_and_scheduler_are_unknown_with_the_reason():
    facts = node()
    facts["distribution"] = "k3s"
    for key in ("controller_manager", "scheduler"):
        facts[key] = {"source": "k3s server process", "flags": None, "running_flags": None,
                      "missing": "k3s runs it inside the k3s server process; its flags appear only in the k3s "
                                 "journal, which is not read"}
    for check_id in ("KC-SEC-037", "KC-SEC-044"):
        result = run(check_id, {"cp1": facts}, distribution="k3s")
        assert result.verdict == "unknown" and "k3s journal" in result.message
    assert run("KC-SEC-036", {"cp1": facts}, distribution="k3s").verdict == "pass"


# -- repeated flags: the component's reading, not kube-bench's ------------------------------------------------------

@pytest.mark.parametrize("check_id,key,argv,verdict", [
    # scalar flags: the last occurrence wins (kube-bench reads the first and disagrees)
    ("KC-SEC-008", "apiserver", ["--profiling=true", "--profiling=false"], "pass"),
    ("KC-SEC-008", "apiserver", ["--profiling=false", "--profiling=true"], "fail"),
    ("KC-SEC-037", "controller_manager", ["--profiling=true", "--profiling=false"], "pass"),
    ("KC-SEC-043", "scheduler", ["--profiling=true", "--profiling", "false"], "fail"),  # "false" is no value
    ("KC-SEC-042", "controller_manager", ["--bind-address=0.0.0.0", "--bind-address", "127.0.0.1"], "pass"),
    ("KC-SEC-036", "apiserver", ["--service-account-extend-token-expiration=false",
                                 "--service-account-extend-token-expiration=true"], "fail"),
    # list flags accumulate: a second --enable-admission-plugins adds to the first
    ("KC-SEC-029", "apiserver", ["--enable-admission-plugins=NodeRestriction",
                                 "--enable-admission-plugins=AlwaysAdmit"], "fail"),
    ("KC-SEC-030", "apiserver", ["--disable-admission-plugins=PodSecurity",
                                 "--disable-admission-plugins", "ServiceAccount"], "fail"),
    ("KC-SEC-031", "apiserver", ["--disable-admission-plugins=PodSecurity,NamespaceLifecycle"], "fail"),
    # feature gates are a map: a later setting of the same gate replaces the earlier one
    ("KC-SEC-041", "controller_manager", ["--feature-gates=RotateKubeletServerCertificate=false",
                                          "--feature-gates=RotateKubeletServerCertificate=true"], "pass"),
    ("KC-SEC-041", "controller_manager", ["--feature-gates=RotateKubeletServerCertificate=true,A=true",
                                          "--feature-gates=RotateKubeletServerCertificate=false"], "fail"),
])
def test_repeated_flags_are_judged_as_the_component_reads_them(check_id, key, argv, verdict):
    base = {"apiserver": APISERVER, "controller_manager": CONTROLLER_MANAGER, "scheduler": SCHEDULER}[key]
    facts = node()
    facts[key]["running_flags"] = dict(base, **argv_flags(*argv))
    result = run(check_id, {"cp1": facts})
    assert result.verdict == verdict, (result.message, result.objects)


def test_runbooks_warn_about_kube_bench_reading_the_first_occurrence():
    for check_id in sorted(CIS) + ["KC-SEC-008"]:
        assert "kube-bench reads the first" in CHECKS[check_id].runbook


def test_an_unparsable_manifest_without_a_running_process_is_unknown_not_an_empty_pass():
    # read_kubeadm_config leaves the apiserver's configured flags empty when its manifest does not parse; an
    # absence-based item (no --token-auth-file) must not pass on flags that were never read.
    facts = node(running=False)
    facts["apiserver"]["flags"] = {}
    facts["errors"] = [{"what": "static pod manifest /etc/kubernetes/manifests/kube-apiserver.yaml",
                        "cause": "not valid YAML: line 3, column 1"}]
    for check_id in ("KC-SEC-026", "KC-SEC-029", "KC-SEC-032"):
        result = run(check_id, {"cp1": facts})
        assert result.verdict == "unknown", (check_id, result.message)
        assert "line 3, column 1" in result.message
