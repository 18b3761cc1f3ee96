"""The assessment on the real local control plane: seeded compliant and non-compliant objects, the traps, the
exact verdict of every check, bad input per cluster, and a check-mode run that writes nothing to etcd."""

from __future__ import annotations

import json
import time

import jsonschema
import pytest
import yaml
from junitparser import Failure, JUnitXml

from kclocal import manifests, pki
from tests.helpers import REPO, VENV_BIN, ansible_env, run
from tests.integration import seed

PLAYBOOK = "kubecompass.readiness.assess"
SHOP, PAY = "kc-shop", "kc-pay"
RESTRICTED = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "seccompProfile": {"type": "RuntimeDefault"},
              "capabilities": {"drop": ["ALL"]}}
PROBE = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}

EXPECTED = {
    "KC-AVL-001": "pass", "KC-AVL-002": "pass", "KC-AVL-003": "fail", "KC-AVL-004": "fail", "KC-AVL-005": "fail",
    "KC-AVL-006": "fail", "KC-AVL-007": "fail", "KC-AVL-008": "fail", "KC-AVL-009": "pass", "KC-AVL-010": "fail",
    "KC-AVL-011": "fail",
    "KC-SEC-001": "fail", "KC-SEC-002": "fail", "KC-SEC-003": "fail", "KC-SEC-004": "fail", "KC-SEC-005": "fail",
    "KC-SEC-006": "fail", "KC-SEC-007": "pass", "KC-SEC-008": "fail", "KC-SEC-009": "pass", "KC-SEC-010": "fail",
    "KC-SEC-011": "fail", "KC-SEC-012": "fail", "KC-SEC-013": "fail", "KC-SEC-014": "fail", "KC-SEC-015": "fail",
    "KC-SEC-016": "fail", "KC-SEC-017": "fail", "KC-SEC-018": "fail", "KC-SEC-019": "fail", "KC-SEC-020": "fail",
    "KC-SEC-021": "fail", "KC-SEC-022": "fail", "KC-SEC-023": "unknown", "KC-SEC-024": "pass",
    "KC-SEC-025": "not_applicable",
    # CIS flag items: the rig renders kubeadm's defaults, so the items kubeadm leaves unset fail (1.2.5, 1.2.30,
    # 1.3.2, 1.4.1); the controller manager and scheduler bind each node's own loopback address (all nodes share one
    # network namespace), not 127.0.0.1 (1.3.7, 1.4.2).
    "KC-SEC-026": "pass", "KC-SEC-027": "pass", "KC-SEC-028": "fail", "KC-SEC-029": "pass", "KC-SEC-030": "pass",
    "KC-SEC-031": "pass", "KC-SEC-032": "pass", "KC-SEC-033": "pass", "KC-SEC-034": "pass", "KC-SEC-035": "pass",
    "KC-SEC-036": "fail", "KC-SEC-037": "fail", "KC-SEC-038": "pass", "KC-SEC-039": "pass", "KC-SEC-040": "pass",
    "KC-SEC-041": "pass", "KC-SEC-042": "fail", "KC-SEC-043": "fail", "KC-SEC-044": "fail",
    # CIS file items: the rig writes kubeadm's modes (0600 root:root, certificates 0644, etcd data 0700); etcd runs as
    # root so its data directory is root:root (1.1.12, a documented decision); the nodes run no kubelet, so there
    # is no /var/lib/kubelet/config.yaml (4.1.9, 4.1.10: unknown naming it).
    **{"KC-SEC-%03d" % n: "pass" for n in range(45, 70)}, "KC-SEC-054": "fail", "KC-SEC-068": "unknown",
    "KC-SEC-069": "unknown",
    # Kubelet items: no kubelet process and no kubelet.service on the rig, so 4.1.1, 4.1.2 and every 4.2 setting are
    # unknown naming what is missing; no kube-proxy runs, so 4.3.1 does not apply.
    **{"KC-SEC-%03d" % n: "unknown" for n in range(70, 77)}, "KC-SEC-077": "not_applicable",
    "KC-CMP-001": "fail", "KC-CMP-002": "fail", "KC-CMP-003": "fail",
    # Process items: no kubecompass_attestations and no kubecompass_history_dir, so each fails saying what to attest
    # or how to keep a run history (never an implicit pass); the rig is critical, so failover (KC-CMP-009) applies.
    **{"KC-CMP-%03d" % n: "fail" for n in range(4, 12)},
    "KC-DR-001": "pass", "KC-DR-002": "pass", "KC-DR-003": "fail", "KC-DR-004": "fail", "KC-DR-005": "pass",
    "KC-DR-006": "fail",
    "KC-OPS-001": "pass", "KC-OPS-002": "pass", "KC-OPS-003": "waived", "KC-OPS-004": "pass",
    "KC-OPS-005": "pass", "KC-OPS-006": "pass", "KC-OPS-007": "pass",
    # Monitoring: Prometheus and Alertmanager ready 2/2 (statuses written as the operator would) with TargetDown
    # loaded, but no Watchdog, no alertmanager-main Secret and no alert labelled severity=critical.
    "KC-OPS-008": "pass", "KC-OPS-009": "fail", "KC-OPS-010": "fail", "KC-OPS-011": "fail",
    # The seeded Nodes have no kubelet behind them and report no kubeletVersion: skew cannot be judged (the pass
    # path is tests/integration/test_upgrade_readiness.py). The deprecated APIs requested (v1 Endpoints, deprecated
    # since 1.33) announce no removal release.
    "KC-OPS-012": "unknown", "KC-OPS-013": "pass",
}


def _namespace(name, labels=None):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def _deployment(ns, name, replicas, *, probes=True, resources=True, spread=False, secure=False):
    container = {"name": name, "image": "registry.example.net/%s:1.0" % name}
    if probes:
        container.update(livenessProbe=PROBE, readinessProbe=PROBE)
    if resources:
        container["resources"] = RESOURCES
    if secure:
        container["securityContext"] = RESTRICTED
    spec = {"containers": [container]}
    if spread:
        spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                              "whenUnsatisfiable": "DoNotSchedule",
                                              "labelSelector": {"matchLabels": {"app": name}}}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def _pdb(ns, name, selector, **policy):
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": ns},
            "spec": dict(policy, selector={"matchLabels": selector})}


def _netpol(ns, name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def _ingress(ns, name, host, tls):
    spec = {"rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": name, "port": {"number": 80}}}}]}}]}
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": "%s-tls" % name}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def seed_cluster(client):
    """Known objects: kc-shop is compliant, kc-pay carries the traps; platform add-ons live in excluded namespaces."""
    for name, labels in ((SHOP, {"kubecompass.io/tier": "critical", "pod-security.kubernetes.io/enforce": "restricted"}),
                         (PAY, {"kubecompass.io/tier": "critical"}), ("velero", {}), ("monitoring", {}),
                         ("logging", {})):
        seed.create(client, _namespace(name, labels))
    for zone in ("a", "b", "c"):
        seed.create(client, {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": "kc-worker-%s" % zone, "labels": {"topology.kubernetes.io/zone": "eu-1%s" % zone}}})
    seed.wait_for("default ServiceAccount in %s" % SHOP,
                  lambda: client.request("GET", "/api/v1/namespaces/%s/serviceaccounts/default" % SHOP), 60)
    client.request("PATCH", "/api/v1/namespaces/%s/serviceaccounts/default" % SHOP,
                   {"automountServiceAccountToken": False}, "application/merge-patch+json")
    objects = [
        # kc-shop: everything right.
        _netpol(SHOP, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "quota", "namespace": SHOP},
         "spec": {"hard": {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "50"}}},
        {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults", "namespace": SHOP},
         "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "512Mi"},
                              "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}]}},
        _deployment(SHOP, "web", 3, spread=True, secure=True),
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": SHOP},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                  "minReplicas": 3, "maxReplicas": 6}},
        _pdb(SHOP, "web", {"app": "web"}, maxUnavailable=1),
        _ingress(SHOP, "web", "shop.example.net", tls=True),
        # kc-pay: the traps.
        _netpol(PAY, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _netpol(PAY, "allow-all", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}),
        _deployment(PAY, "api", 2, probes=False, resources=False),
        _pdb(PAY, "api", {"app": "api", "tier": "backend"}, maxUnavailable=1),  # matches only some of api's pods
        _deployment(PAY, "ledger", 2),
        _pdb(PAY, "ledger", {"app": "ledger"}, minAvailable="100%"),  # allows zero disruptions
        _deployment(PAY, "batch", 1),
        _ingress(PAY, "pay", "pay.example.net", tls=False),
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": PAY},
         "stringData": {"password": "plaintext-in-etcd"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "kc-wild", "namespace": PAY},
         "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "anonymous-reader", "namespace": PAY},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kc-wild"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "kc-alice-admin"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@example.net"}]},
        # Platform add-ons.
        dict(_deployment("kube-system", "cluster-autoscaler", 1), spec=dict(
            _deployment("kube-system", "cluster-autoscaler", 1)["spec"], template={
                "metadata": {"labels": {"app": "cluster-autoscaler"}},
                "spec": {"containers": [{"name": "cluster-autoscaler",
                                         "image": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.34.0"}]}})),
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "fluent-bit", "namespace": "logging"},
         "spec": {"selector": {"matchLabels": {"app": "fluent-bit"}}, "template": {
             "metadata": {"labels": {"app": "fluent-bit"}},
             "spec": {"containers": [{"name": "fluent-bit", "image": "cr.fluentbit.io/fluent/fluent-bit:3.2.4"}]}}}},
    ]
    for manifest in objects:
        seed.create(client, manifest)
    seed_velero(client)
    seed_monitoring(client)


def seed_velero(client):
    seed.install_crds(client, seed.VELERO_CRDS)
    velero = _deployment("velero", "velero", 1)
    velero["spec"]["template"]["spec"]["containers"][0]["image"] = "velero/velero:v1.18.1"
    seed.create(client, velero)
    seed.create(client, {"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
                         "metadata": {"name": "default", "namespace": "velero"},
                         "spec": {"provider": "aws", "default": True, "objectStorage": {"bucket": "backups"}},
                         "status": {"phase": "Available", "lastValidationTime": seed.ago(minutes=1)}})
    for name, cron, ttl, namespaces in (("kc-hourly", "0 * * * *", "720h0m0s", [SHOP, PAY]),
                                        ("kc-nightly", "0 2 * * *", "240h0m0s", [PAY])):
        seed.create(client, {"apiVersion": "velero.io/v1", "kind": "Schedule",
                             "metadata": {"name": name, "namespace": "velero"},
                             "spec": {"schedule": cron, "template": {"includedNamespaces": namespaces, "ttl": ttl}},
                             "status": {"phase": "Enabled", "lastBackup": seed.ago(minutes=2)}})
    for name, schedule, phase, age in (("kc-hourly-older", "kc-hourly", "Completed", {"minutes": 30}),
                                       ("kc-hourly-newest", "kc-hourly", "PartiallyFailed", {"minutes": 5}),
                                       ("kc-nightly-1", "kc-nightly", "Completed", {"days": 3})):
        seed.create(client, {"apiVersion": "velero.io/v1", "kind": "Backup",
                             "metadata": {"name": name, "namespace": "velero",
                                          "labels": {"velero.io/schedule-name": schedule}},
                             "spec": {"includedNamespaces": [SHOP, PAY]},
                             "status": {"phase": phase, "startTimestamp": seed.ago(**age),
                                        "completionTimestamp": seed.ago(**age)}})
    seed.create(client, {"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "kc-drill-1", "namespace": "velero",
                                      "labels": {"kubecompass.io/restore-drill": "true"}},
                         "data": {"outcome": "Completed", "completed_at": seed.ago(days=10),
                                  "backup": "kc-hourly-older", "namespace": SHOP, "duration_seconds": "312"}})


def seed_monitoring(client):
    seed.install_crds(client, seed.PROMETHEUS_CRDS)
    for kind, name in (("Prometheus", "k8s"), ("Alertmanager", "main")):
        spec = {"replicas": 2}
        if kind == "Prometheus":
            spec.update(ruleSelector={}, ruleNamespaceSelector={})
        manifest = {"apiVersion": "monitoring.coreos.com/v1", "kind": kind,
                    "metadata": {"name": name, "namespace": "monitoring"}, "spec": spec}
        seed.create(client, manifest)
        seed.write_status(client, manifest, {"replicas": 2, "availableReplicas": 2, "updatedReplicas": 2,
                                             "unavailableReplicas": 0, "paused": False, "conditions": [
                                                 {"type": "Available", "status": "True",
                                                  "lastTransitionTime": seed.ago(minutes=5)}]})
    seed.create(client, {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                         "metadata": {"name": "kc-rules", "namespace": "monitoring"},
                         "spec": {"groups": [{"name": "availability", "rules": [
                             {"alert": "TargetDown", "expr": "up == 0", "for": "5m"}]}]}})


def excluded_namespaces(client):
    """Everything but the test's own namespaces (other tests may have left theirs)."""
    names = [n["metadata"]["name"] for n in client.request("GET", "/api/v1/namespaces")["items"]]
    return sorted(n for n in names if n not in (SHOP, PAY))


def run_assessment(control_plane, tmp_path, extra_vars, inventory=None, check=True):
    report_dir = tmp_path / "reports"
    vars_file = tmp_path / "vars.yml"
    vars_file.write_text(yaml.safe_dump(dict(extra_vars, kubecompass_report_dir=str(report_dir))))
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory or control_plane.inventory), PLAYBOOK,
           "-e", "@%s" % vars_file]
    if check:
        cmd.append("--check")
    result = run(cmd, env=ansible_env(), timeout=600)
    report_file = report_dir / "kubecompass-report.json"
    assert report_file.exists(), result.stdout[-4000:] + result.stderr[-2000:]
    return result, json.loads(report_file.read_text()), report_dir


@pytest.fixture(scope="module")
def seeded(control_planes):
    control_plane = control_planes.get(3)
    client = control_plane.client()
    seed_cluster(client)
    return control_plane, excluded_namespaces(client)


def base_vars(excluded):
    return {
        "kubecompass_settings": {"excluded_namespaces": excluded, "rpo_evidence": [SHOP]},
        "kubecompass_waivers": [
            {"check": "KC-OPS-003", "reason": "GitOps migration planned", "owner": "platform-team",
             "ticket": "PLAT-42", "expires": "2099-06-30"},
            {"check": "KC-SEC-015", "reason": "SSO rollout", "owner": "iam-team", "ticket": "IAM-7",
             "expires": "2025-01-01"},
        ],
    }


def _finding(cluster, check_id):
    return next(f for f in cluster["findings"] if f["check_id"] == check_id)


def _object(finding, namespace, name):
    return next(o for o in finding["objects"] if o.get("namespace") == namespace and o["name"] == name)


@pytest.mark.nodes(3)
def test_every_check_has_its_exact_verdict(seeded, tmp_path):
    control_plane, excluded = seeded
    result, report, report_dir = run_assessment(control_plane, tmp_path, base_vars(excluded))
    assert result.returncode != 0, "the gate must fail: high findings failed"
    assert "finding(s) at or above high failed" in result.stdout
    cluster = report["clusters"][0]
    assert cluster["status"] == "assessed" and cluster["distribution"] == "kubeadm"
    verdicts = {f["check_id"]: f["verdict"] for f in cluster["findings"]}
    mismatched = {c: (verdicts.get(c), want) for c, want in EXPECTED.items() if verdicts.get(c) != want}
    details = {c: _finding(cluster, c)["message"] for c in mismatched if c in verdicts}
    assert not mismatched, (mismatched, details)
    assert set(verdicts) == set(EXPECTED)

    # The traps, object by object.
    pdb = _finding(cluster, "KC-AVL-003")
    assert _object(pdb, SHOP, "web")["verdict"] == "pass"
    near_miss = _object(pdb, PAY, "api")
    assert near_miss["verdict"] == "fail" and "api" in near_miss["reason"] and "tier=backend" in near_miss["reason"]
    zero = _finding(cluster, "KC-AVL-004")
    assert _object(zero, PAY, "ledger")["verdict"] == "fail" and _object(zero, SHOP, "web")["verdict"] == "pass"
    netpol = _finding(cluster, "KC-SEC-016")
    assert _object(netpol, SHOP, SHOP)["verdict"] == "pass"
    cancelled = _object(netpol, PAY, PAY)
    assert cancelled["verdict"] == "fail" and "allow-all" in cancelled["reason"]
    backups = _finding(cluster, "KC-DR-004")
    hourly = next(o for o in backups["objects"] if o["name"] == "kc-hourly")
    assert hourly["verdict"] == "pass" and "PartiallyFailed" in hourly["reason"]
    assert next(o for o in backups["objects"] if o["name"] == "kc-nightly")["verdict"] == "fail"
    assert _finding(cluster, "KC-SEC-005")["verdict"] == "fail"  # the seeded Secret is plaintext in etcd
    assert _finding(cluster, "KC-OPS-003")["waivers"][0]["ticket"] == "PLAT-42"
    assert [w["ticket"] for w in cluster["expired_waivers"]] == ["IAM-7"]
    dr_runbooks = _finding(cluster, "KC-CMP-008")
    assert "add to kubecompass_attestations: {item: dr-runbooks" in dr_runbooks["message"], dr_runbooks["message"]
    assert "kubecompass_history_dir" in _finding(cluster, "KC-CMP-011")["message"]
    assert _finding(cluster, "KC-SEC-015")["waivers"] == []

    # Every finding carries controls, a tier rule where it applied, and its evidence.
    audit = _finding(cluster, "KC-SEC-001")
    assert any(c["framework"] == "cis_kubernetes" and c["id"] == "1.2.16" for c in audit["controls"])
    # Controller-manager and scheduler flags come from each node's own running process (three of each run in one
    # PID namespace here), and each CIS flag check names its one CIS ID.
    for check_id, cis_id in (("KC-SEC-042", "1.3.7"), ("KC-SEC-044", "1.4.2")):
        bind = _finding(cluster, check_id)
        assert [c["id"] for c in bind["controls"] if c["framework"] == "cis_kubernetes"] == [cis_id]
        assert len(bind["objects"]) == 3 and all(
            "--bind-address=127.0.10." in o["reason"] and o["reason"].endswith("(running process)")
            for o in bind["objects"]), bind["objects"]
    assert {"KC-AVL-003", "KC-SEC-016"} <= {f["check_id"] for f in cluster["findings"] if f["tier_rule"]}
    # Speed is designed in: O(kinds) requests.
    gather = cluster["gather"]
    assert gather["api_requests"] <= 2 * gather["kinds_listed"] + 2, gather
    # All four formats were written, and the real ones validate: JSON and SARIF against their schemas, JUnit
    # through a JUnit consumer library with one testcase per check.
    assert sorted(p.name for p in report_dir.iterdir()) == [
        "clusters", "kubecompass-report.json", "kubecompass-report.junit.xml", "kubecompass-report.md",
        "kubecompass-report.sarif"]
    # The cluster's full result, as the assess task wrote it on the controller: private, and what the report holds.
    result_file = report_dir / "clusters" / "localcp.json"
    assert result_file.stat().st_mode & 0o777 == 0o600 and (report_dir / "clusters").stat().st_mode & 0o777 == 0o700
    assert json.loads(result_file.read_text())["findings"] == cluster["findings"]
    jsonschema.validate(report, json.loads((REPO / "docs" / "report-schema.json").read_text()))
    sarif_schema = json.loads((REPO / "tests" / "unit" / "fixtures" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(json.loads((report_dir / "kubecompass-report.sarif").read_text()), sarif_schema)
    junit = JUnitXml.fromfile(str(report_dir / "kubecompass-report.junit.xml"))
    cases = [case for suite in junit for case in suite]
    assert len(cases) == len(EXPECTED)
    # Red exactly for the failures the gate counts (at or above high); the ones below it are skipped.
    assert sum(1 for case in cases for r in case.result if isinstance(r, Failure)) == len(report["gate"]["failing"])
    assert 0 < len(report["gate"]["failing"]) < sum(1 for v in EXPECTED.values() if v == "fail")
    assert "## " in (report_dir / "kubecompass-report.md").read_text()


@pytest.mark.nodes(3)
def test_check_mode_assessment_writes_nothing_to_etcd(seeded, tmp_path):
    control_plane, excluded = seeded

    def quiet():
        # Controllers finish reacting to the seeded objects (ConfigMaps, ServiceAccounts in new namespaces...).
        start = seed.etcd_revision(control_plane)
        time.sleep(5)
        return not seed.foreign_writes(seed.etcd_written_since(control_plane, start))

    seed.wait_for("the control plane to settle after seeding", quiet, 120, interval=0)
    before = seed.etcd_revision(control_plane)
    run_assessment(control_plane, tmp_path, base_vars(excluded))
    written = seed.etcd_written_since(control_plane, before)
    assert seed.foreign_writes(written) == []
    # A write by the assessment would carry its field manager (its User-Agent) in the stored object.
    by_assessment = sorted(k for k, value in written.items() if b"kubecompass.readiness" in value)
    assert by_assessment == [], by_assessment


def _limited_kubeconfig(control_plane, tmp_path, user, expired=False):
    """A real client certificate from the cluster CA, for a user with only the RBAC a test grants."""
    pki_dir = control_plane.node_root(control_plane.nodes[0]["name"]) / "etc/kubernetes/pki"
    ca = pki.load(pki_dir / "ca.crt", pki_dir / "ca.key")
    pair = pki.issue(ca, user, client=True, expired=expired)
    path = tmp_path / ("%s.conf" % user)
    path.write_text(manifests.kubeconfig(control_plane.server(), ca.cert_pem(), user, pair.cert_pem(),
                                         pair.key_pem()))
    return path


@pytest.mark.nodes(3)
def test_bad_input_is_reported_per_cluster_and_hides_no_other(seeded, tmp_path):
    control_plane, excluded = seeded
    client = control_plane.client()
    # kc-limited may read everything the catalog lists except NetworkPolicies.
    from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.gather import KIND_SPECS

    rules = [seed.kind_rule(path, ["get", "list"]) for path, _query in KIND_SPECS.values()
             if not path.endswith("/networkpolicies")]
    seed.grant(client, "kc-limited", "kc-limited", rules)
    inventory = yaml.safe_load(control_plane.inventory.read_text())
    clusters = inventory["all"]["children"]["k8s_clusters"]["hosts"]
    template = clusters["localcp"]
    unreachable = tmp_path / "unreachable.conf"
    unreachable.write_text(control_plane.kubeconfig.read_text().replace(control_plane.server(),
                                                                        "https://127.0.10.99:6443"))
    clusters["limited"] = dict(template, kubecompass_kubeconfig=str(_limited_kubeconfig(control_plane, tmp_path,
                                                                                        "kc-limited")))
    clusters["limited"].pop("kubecompass_control_plane_group")
    clusters["expired"] = dict(template, kubecompass_kubeconfig=str(_limited_kubeconfig(
        control_plane, tmp_path, "kubernetes-admin", expired=True)))
    clusters["expired"].pop("kubecompass_control_plane_group")
    clusters["gone"] = dict(template, kubecompass_kubeconfig=str(unreachable))
    clusters["gone"].pop("kubecompass_control_plane_group")
    clusters["gold"] = dict(template, kubecompass_tier="gold")
    clusters["gold"].pop("kubecompass_control_plane_group")
    clusters["badwaiver"] = dict(template, kubecompass_waivers=[{"check": "KC-SEC-001", "reason": "r",
                                                                 "owner": "o", "ticket": "T-1"}])
    clusters["badwaiver"].pop("kubecompass_control_plane_group")
    clusters["badattestation"] = dict(template, kubecompass_attestations=[
        {"item": "dr-runbooks", "evidence": "DR-1", "owner": "o", "attested": "last week"}])
    clusters["badattestation"].pop("kubecompass_control_plane_group")
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    extra = base_vars(excluded)
    extra.pop("kubecompass_waivers")  # per-host waivers in the inventory must win for badwaiver
    result, report, _dir = run_assessment(control_plane, tmp_path, extra, inventory=path)
    assert result.returncode != 0
    by_name = {c["cluster"]: c for c in report["clusters"]}
    assert by_name["localcp"]["status"] == "assessed"
    limited = by_name["limited"]
    assert limited["status"] == "assessed"
    netpol = _finding(limited, "KC-SEC-016")
    assert netpol["verdict"] == "unknown" and "networkpolicies" in netpol["message"] and "forbidden" in netpol[
        "message"]
    assert _finding(limited, "KC-AVL-001")["verdict"] == "pass"  # one 403 affects only the checks that need it
    assert by_name["expired"]["status"] == "unreachable"
    assert by_name["expired"]["error"] == ("expired: the API server at %s rejected the credentials (401 Unauthorized)"
                                           % control_plane.server())
    assert by_name["gone"]["status"] == "unreachable"
    assert by_name["gone"]["error"].startswith("gone: cannot reach https://127.0.10.99:6443")
    assert by_name["gold"]["status"] == "error" and "gold: kubecompass_tier 'gold' is not a tier" in by_name[
        "gold"]["error"]
    assert by_name["badwaiver"]["status"] == "error"
    assert "kubecompass_waivers[0]: missing expires" in by_name["badwaiver"]["error"]
    assert by_name["badattestation"]["status"] == "error" and by_name["badattestation"]["error"] == (
        "badattestation: kubecompass_attestations[0]: attested 'last week' is not a date (YYYY-MM-DD)")
    for cluster in report["clusters"]:
        assert "Traceback" not in (cluster.get("error") or "")
    assert set(report["gate"]["unreachable"]) == {"expired", "gone", "gold", "badwaiver", "badattestation"}


@pytest.mark.nodes(3)
def test_missing_crds_and_absent_velero_are_clear_fails(seeded, tmp_path, control_planes):
    """Velero absent: a fail with how to install it (the seeded cluster has Velero, so judge a filtered run on a
    cluster where the API is gone: the CRDs are removed and restored)."""
    control_plane, excluded = seeded
    client = control_plane.client()
    names = [c["metadata"]["name"] for c in client.request(
        "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"] if c["spec"]["group"] == "velero.io"]
    for name in names:
        client.request("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/%s" % name)
    try:
        seed.wait_for("velero.io to disappear", lambda: not any(
            g["name"] == "velero.io" for g in client.request("GET", "/apis")["groups"]), 60)
        extra = dict(base_vars(excluded), kubecompass_include_checks=["KC-DR-001", "KC-DR-002", "KC-DR-004"])
        _result, report, _dir = run_assessment(control_plane, tmp_path, extra)
        cluster = report["clusters"][0]
        absent = _finding(cluster, "KC-DR-001")
        assert absent["verdict"] == "fail" and "helm install velero vmware-tanzu/velero" in absent["message"]
        assert {f["check_id"]: f["verdict"] for f in cluster["findings"]} == {
            "KC-DR-001": "fail", "KC-DR-002": "fail", "KC-DR-004": "fail"}
    finally:
        seed_velero(client)


def test_expected_table_covers_the_catalog():
    from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog

    assert set(EXPECTED) == {c.id for c in catalog.all_checks()}
