"""KC-OPS-005..007 on node facts read from certificates made in the test (see _node/test_certificates.py): 10 days
left fails, 60 days passes with a note, an expired one fails, a CA under a year fails, missing files are listed,
garbage is unknown naming the path, and no private key reaches the findings."""

from __future__ import annotations

import datetime
import json

import pytest

pytest.importorskip("cryptography.x509")

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.certificates import (  # noqa: E402
    read_node_certificates,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, tiers  # noqa: E402
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.catalog import all_checks  # noqa: E402
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import (  # noqa: E402
    certificates,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context  # noqa: E402
from tests.unit.plugins.module_utils._node.test_certificates import (  # noqa: E402
    NOW,
    key_pem,
    kubeadm_certificates,
    make_pki,
)

CHECKS = {c.id: c for c in certificates.CHECKS}


def run(check_id, hosts, distribution="kubeadm", tier="critical", overrides=None, now=NOW):
    snap = {"cluster": {"name": "c", "distribution": distribution, "tier": tier}, "kinds": {},
            "nodes": {"hosts": hosts} if hosts is not None else None}
    return engine.run_check(CHECKS[check_id], Context(snap, tiers.tier_table(overrides), {}, now))


def reasons(result):
    return {o["name"]: (o["verdict"], o["reason"]) for o in result.objects}


@pytest.fixture(scope="module")
def pki():
    return make_pki()


@pytest.fixture
def node(tmp_path, pki):
    kubeadm_certificates(tmp_path, pki)
    return {"certificates": read_node_certificates(str(tmp_path), "kubeadm"), "errors": []}


def test_leaf_expiry_verdicts(node):
    result = run("KC-OPS-005", {"cp1": node})
    found = reasons(result)
    assert result.verdict == "fail"
    assert result.message == "2 control-plane certificate(s) expired or expire within 30 days"
    assert found["cp1/apiserver"][0] == "fail"
    assert "/etc/kubernetes/pki/apiserver.crt (kube-apiserver) expires on" in found["cp1/apiserver"][1]
    assert "10 days left (under 30 days)" in found["cp1/apiserver"][1]
    assert found["cp1/etcd-server"][0] == "fail" and "expired on" in found["cp1/etcd-server"][1]
    kubelet_client = found["cp1/apiserver-kubelet-client"]
    assert kubelet_client[0] == "pass" and kubelet_client[1].endswith("60 days left; renew soon (under 90 days)")
    assert found["cp1/etcd-peer"][0] == "pass" and "renew soon" not in found["cp1/etcd-peer"][1]
    assert found["cp1/controller-manager.conf"][0] == "pass"
    assert found["cp1/kubelet.conf"][0] == "pass" and "kubelet-client-current.pem" in found["cp1/kubelet.conf"][1]
    # Garbage and unparsable files are unknown naming the path; missing ones are listed, not judged.
    assert found["cp1/etcd-healthcheck-client"] == (
        "unknown", "cannot read /etc/kubernetes/pki/etcd/healthcheck-client.crt: no PEM CERTIFICATE block")
    assert found["cp1/front-proxy-client"][0] == "unknown" and "front-proxy-client.crt" in found[
        "cp1/front-proxy-client"][1]
    assert found["cp1/scheduler.conf"][0] == "unknown" and "/etc/kubernetes/scheduler.conf: not valid YAML" in found[
        "cp1/scheduler.conf"][1]
    assert "cp1/admin.conf" not in found and "admin.conf" in result.evidence["missing"]["cp1"]
    assert result.evidence["expiring_within_warn_days"] == ["cp1/apiserver-kubelet-client"]
    assert result.evidence["cert_expiry_fail_days"] == 30 and result.evidence["cert_expiry_warn_days"] == 90


def test_only_unreadable_certificates_left_is_unknown_naming_the_path(node):
    keep = ("etcd-healthcheck-client", "etcd-peer")
    node["certificates"]["entries"] = [e for e in node["certificates"]["entries"] if e["name"] in keep]
    result = run("KC-OPS-005", {"cp1": node})
    assert result.verdict == "unknown"
    assert "/etc/kubernetes/pki/etcd/healthcheck-client.crt" in result.message


def test_pass_with_note_under_the_warn_threshold(node):
    node["certificates"]["entries"] = [e for e in node["certificates"]["entries"]
                                       if e["name"] in ("apiserver-kubelet-client", "etcd-peer")]
    result = run("KC-OPS-005", {"cp1": node})
    assert result.verdict == "pass"
    assert result.message == ("every control-plane certificate is valid for 30 days or more; 1 expire within 90 "
                              "days: cp1/apiserver-kubelet-client")


def test_thresholds_come_from_the_tier_table(node):
    node["certificates"]["entries"] = [e for e in node["certificates"]["entries"] if e["name"] == "apiserver"]
    assert run("KC-OPS-005", {"cp1": node}).verdict == "fail"
    relaxed = run("KC-OPS-005", {"cp1": node}, tier="best_effort",
                  overrides={"best_effort": {"cert_expiry_fail_days": 7}})
    assert relaxed.verdict == "pass" and relaxed.tier_rule == "cluster tier best_effort: cert_expiry_fail_days=7"


def test_clock_decides_expiry(node):
    """The same certificates judged a year later: everything but the CA has expired."""
    later = run("KC-OPS-005", {"cp1": node}, now=NOW + datetime.timedelta(days=400))
    assert reasons(later)["cp1/etcd-peer"][0] == "fail" and "expired on" in reasons(later)["cp1/etcd-peer"][1]


def test_ca_lifetimes(node):
    result = run("KC-OPS-006", {"cp1": node})
    found = reasons(result)
    assert result.verdict == "fail" and set(found) == {"cp1/ca", "cp1/etcd-ca"}
    assert found["cp1/ca"][0] == "pass"
    assert found["cp1/etcd-ca"][0] == "fail" and "200 days left (under 365 days)" in found["cp1/etcd-ca"][1]
    assert result.evidence["missing"] == {"cp1": ["front-proxy-ca"]}


def test_no_certificates_on_a_node_is_unknown_never_pass(tmp_path):
    empty = {"certificates": read_node_certificates(str(tmp_path), "kubeadm"), "errors": []}
    for check_id in ("KC-OPS-005", "KC-OPS-006"):
        result = run(check_id, {"cp1": empty})
        assert result.verdict == "unknown" and "looked in /etc/kubernetes/pki" in result.message


def test_without_node_facts_unknown():
    for check_id in CHECKS:
        assert run(check_id, None).verdict == "unknown"
    assert run("KC-OPS-005", {"cp1": {"errors": []}}).verdict == "unknown"


def _serving(matches, error=None):
    return {"component": "kube-apiserver", "endpoint": "198.51.100.1:6443", "path": "/etc/kubernetes/pki/apiserver.crt",
            "served": None if error else {"not_after": "2026-12-01T00:00:00Z", "sha256": "a"},
            "on_disk": None if error else {"not_after": "2027-12-01T00:00:00Z", "sha256": "a" if matches else "b"},
            "matches": None if error else matches, "error": error}


def test_serving_certificate_cross_check():
    result = run("KC-OPS-007", {"cp1": {"serving_certificates": [_serving(False)]},
                                "cp2": {"serving_certificates": [_serving(True)]}})
    found = reasons(result)
    assert result.verdict == "fail" and found["cp2/kube-apiserver"][0] == "pass"
    assert found["cp1/kube-apiserver"] == ("fail", (
        "kube-apiserver at 198.51.100.1:6443 serves a certificate expiring 2026-12-01T00:00:00Z, but "
        "/etc/kubernetes/pki/apiserver.crt on disk expires 2027-12-01T00:00:00Z: the process still serves the old "
        "certificate (restart it)"))
    unreachable = run("KC-OPS-007", {"cp1": {"serving_certificates": [_serving(None, "cannot read ...: refused")]}})
    assert unreachable.verdict == "unknown" and "refused" in unreachable.message
    assert run("KC-OPS-007", {"cp1": {"serving_certificates": []}}, distribution="k3s").verdict == "not_applicable"


def test_no_private_key_in_findings(node, pki):
    results = [run(check_id, {"cp1": node}) for check_id in CHECKS]
    text = json.dumps([[r.message, r.objects, r.evidence] for r in results])
    assert "PRIVATE KEY" not in text
    for name in ("kubelet.conf", "controller-manager.conf"):
        assert "".join(key_pem(pki[name][1]).splitlines()[1:-1])[:40] not in text


def test_catalog_has_the_certificate_checks_with_their_thresholds():
    by_id = {c.id: c for c in all_checks()}
    assert by_id["KC-OPS-005"].thresholds == ("cert_expiry_fail_days", "cert_expiry_warn_days")
    assert by_id["KC-OPS-006"].thresholds == ("ca_expiry_fail_days",)
    assert tiers.DEFAULT_TIER_TABLE["critical"]["cert_expiry_fail_days"] == 30


def test_an_unreadable_certificate_beside_valid_ones_is_unknown_naming_the_path_never_pass(tmp_path, pki, monkeypatch):
    from ansible_collections.kubecompass.readiness.plugins.module_utils._node import certificates as node_certificates

    kubeadm_certificates(tmp_path, pki)
    real = node_certificates.read_text

    def denied(root, path):
        if path.endswith("/apiserver.crt"):
            raise PermissionError(13, "Permission denied")
        return real(root, path)

    monkeypatch.setattr(node_certificates, "read_text", denied)
    facts = read_node_certificates(str(tmp_path), "kubeadm")
    facts["entries"] = [e for e in facts["entries"] if e["name"] in ("apiserver", "etcd-peer")]
    result = run("KC-OPS-005", {"cp1": {"certificates": facts, "errors": []}})
    assert result.verdict == "unknown"
    assert reasons(result)["cp1/apiserver"] == (
        "unknown", "cannot read /etc/kubernetes/pki/apiserver.crt: Permission denied")
    assert reasons(result)["cp1/etcd-peer"][0] == "pass"
