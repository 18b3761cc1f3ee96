"""Issue 7: managed clusters (EKS, GKE, AKS) assessed and remediated through their providers' APIs.

The providers are offline fakes answering with the documented REST shapes: EKS is moto in server mode (real HTTP,
real boto3) with the calls moto lacks added in front of it, GKE and AKS are loopback servers driven by the real
google-cloud-container and azure-mgmt-* libraries. Each managed cluster's Kubernetes API is the local control plane
(the provider fakes have none), so the in-cluster checks, the assess playbook and the Secrets rewrite run for real.

The tests run in file order and build on each other: non-compliant clusters fail, check mode plans and changes
nothing, remediation without the EKS opt-in holds that one step, with it everything is applied, a rerun changes
nothing and the next assessment passes; then a mixed inventory with one provider failing, and the inventory plugin.
"""

from __future__ import annotations

import json
import re
import sys

import pytest
import yaml

from tests.fakes.aks_server import DEFAULT_WORKSPACE_ID, AksFake
from tests.fakes.eks_server import EksFake
from tests.fakes.gke_server import GkeFake
from tests.helpers import VENV_BIN, ansible_env, run

pytestmark = pytest.mark.nodes(1)

EKS_NAME, EKS_REGION = "shop-prod", "eu-west-1"
GKE_PROJECT, GKE_LOCATION, GKE_NAME = "kc-payments", "europe-west1", "payments-prod"
AKS_SUB, AKS_RG, AKS_NAME = "00000000-0000-0000-0000-00000000aaaa", "rg-ledger", "ledger-prod"
EKS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
GKE_KEY = "projects/kc-payments/locations/europe-west1/keyRings/kc/cryptoKeys/etcd"
AKS_KEY = "https://kv-ledger.vault.azure.net/keys/etcd/0123456789abcdef0123456789abcdef"
MANAGED = ("kc-eks", "kc-gke", "kc-aks")
PROVIDER_CHECKS = ("KC-SEC-001", "KC-SEC-004")
STORY: dict = {}


@pytest.fixture(scope="module")
def fakes():
    eks, gke, aks = EksFake(update_polls=2, realistic_updates=True), GkeFake(operation_polls=2), AksFake(
        operation_polls=2)
    urls = {"eks": eks.start(), "gke": gke.start(), "aks": aks.start()}
    eks.seed_cluster(EKS_NAME, EKS_REGION, tags={"kubecompass.io/tier": "critical"})
    gke.seed_cluster(GKE_PROJECT, GKE_LOCATION, GKE_NAME, labels={"kubecompass-tier": "critical"})
    aks_id = aks.seed_cluster(AKS_SUB, AKS_RG, AKS_NAME, tags={"kubecompass.io/tier": "critical"})
    yield {"eks": eks, "gke": gke, "aks": aks, "urls": urls, "aks_id": aks_id}
    for fake in (eks, gke, aks):
        fake.stop()


def env(**extra):
    return ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT="json", **extra)


def inventory(tmp_path, control_plane, fakes, name="managed.yml"):
    kubeconfig = str(control_plane.kubeconfig)
    common = {"kubecompass_kubeconfig": kubeconfig, "kubecompass_tier": "critical"}
    hosts = {
        "kc-local": dict(common, kubecompass_distribution="kubeadm"),
        "kc-eks": dict(common, kubecompass_distribution="eks", managed_control_plane_kms_key=EKS_KEY,
                       kubecompass_provider={"name": EKS_NAME, "region": EKS_REGION, "poll_seconds": 0,
                                             "endpoint_url": fakes["urls"]["eks"]}),
        "kc-gke": dict(common, kubecompass_distribution="gke", managed_control_plane_kms_key=GKE_KEY,
                       kubecompass_provider={"project": GKE_PROJECT, "location": GKE_LOCATION, "name": GKE_NAME,
                                             "poll_seconds": 0, "endpoint_url": fakes["urls"]["gke"]}),
        # The three share the local control plane as their Kubernetes API, where the Secrets rewrite is recorded per
        # key: only kc-eks rewrites; kc-aks reports the rewrite it owes.
        "kc-aks": dict(common, kubecompass_distribution="aks", managed_control_plane_kms_key=AKS_KEY,
                       managed_control_plane_rewrite_secrets=False,
                       managed_control_plane_aks_log_destination={"workspace_id": DEFAULT_WORKSPACE_ID},
                       kubecompass_provider={"subscription_id": AKS_SUB, "resource_group": AKS_RG, "name": AKS_NAME,
                                             "poll_seconds": 0, "endpoint_url": fakes["urls"]["aks"]}),
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"all": {"children": {"k8s_clusters": {
        "hosts": hosts,
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
    }}}}))
    return path


def playbook(name, inv, *args, **env_extra):
    return run([str(VENV_BIN / "ansible-playbook"), f"kubecompass.readiness.{name}", "-i", str(inv), *args],
               env=env(**env_extra), timeout=900)


def assess(inv, report_dir, *limit):
    # The inventory plugin leaves the interpreter to the user (group_vars), as its documentation says.
    result = playbook("assess", inv, "--check", "-e", f"kubecompass_report_dir={report_dir}",
                      "-e", f"ansible_python_interpreter={sys.executable}",
                      *(["--limit", ",".join(limit + ("localhost",))] if limit else []))
    report = json.loads((report_dir / "kubecompass-report.json").read_text())
    clusters = {c["cluster"]: c for c in report["clusters"]}
    return result, clusters


def verdicts(cluster, checks=PROVIDER_CHECKS):
    # A cluster that stopped (timeout, error) is in the report without findings: say why instead of a KeyError.
    status = (cluster["cluster"], cluster.get("status", "assessed"), cluster.get("error"))
    assert status[1] == "assessed", status
    by_id = {f["check_id"]: f for f in cluster["findings"]}
    return {c: (by_id[c]["verdict"], by_id[c]["message"]) for c in checks}


def recap(output, host):
    match = re.search(r"^%s\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % re.escape(host),
                      output, re.MULTILINE)
    assert match, output[-3000:]
    return {"ok": int(match.group(1)), "changed": int(match.group(2)), "failed": int(match.group(4))}


def eks_cluster(fakes):
    """The EKS cluster as describe_cluster shows it (through the fake's API, not moto's objects)."""
    return fakes["eks"].client("eks", EKS_REGION).describe_cluster(name=EKS_NAME)["cluster"]


def writes(fakes):
    """Every request a fake received that could change something (describe/list/poll calls excluded)."""
    eks = [r for r in fakes["eks"].requests
           if r["method"] in ("POST", "PUT", "DELETE") and not r["path"].endswith(("/describe-update",))
           and "logs" not in (r.get("service") or "") and "ec2" not in (r.get("service") or "")]
    gke = [r for r in fakes["gke"].requests if r["method"] in ("POST", "PUT", "DELETE", "PATCH")]
    aks = [r for r in fakes["aks"].requests if r["method"] in ("POST", "PUT", "DELETE", "PATCH")]
    return {"eks": eks, "gke": gke, "aks": aks}


def test_non_compliant_managed_clusters_fail_on_logging_and_encryption(control_plane, fakes, tmp_path):
    inv = inventory(tmp_path, control_plane, fakes)
    STORY["inventory"] = inv
    result, clusters = assess(inv, tmp_path / "before", *MANAGED)
    assert set(clusters) == set(MANAGED), result.stdout[-3000:]
    for host in MANAGED:
        found = verdicts(clusters[host])
        assert found["KC-SEC-001"][0] == "fail" and found["KC-SEC-004"][0] == "fail", (host, found)
    eks, gke, aks = (verdicts(clusters[h]) for h in MANAGED)
    assert "EKS audit logging off" in eks["KC-SEC-001"][1]
    assert "GKE audit logging off" in gke["KC-SEC-001"][1]
    assert "AKS audit logging off" in aks["KC-SEC-001"][1]
    assert "customer key is off" in eks["KC-SEC-004"][1] and "customer key is off" in aks["KC-SEC-004"][1]
    # The other provider-backed checks reach a verdict from the provider, not unknown.
    for host in MANAGED:
        others = verdicts(clusters[host], ("KC-AVL-001", "KC-SEC-025", "KC-OPS-004", "KC-SEC-015"))
        assert all(v != "unknown" for v, _message in others.values()), (host, others)
    assert verdicts(clusters["kc-aks"], ("KC-AVL-001",))["KC-AVL-001"][0] == "fail"  # Free tier: no uptime SLA
    assert verdicts(clusters["kc-eks"], ("KC-SEC-025",))["KC-SEC-025"][0] == "fail"  # public, 0.0.0.0/0
    # Flags the provider operates are not the customer's: not applicable rather than unknown.
    assert verdicts(clusters["kc-eks"], ("KC-SEC-006",))["KC-SEC-006"][0] == "not_applicable"


def test_check_mode_shows_the_planned_calls_and_changes_nothing(fakes, tmp_path):
    inv = STORY["inventory"]
    before = {"eks": eks_cluster(fakes),
              "gke": fakes["gke"].cluster(GKE_PROJECT, GKE_LOCATION, GKE_NAME),
              "aks": fakes["aks"].cluster(fakes["aks_id"])}
    writes_before = {k: len(v) for k, v in writes(fakes).items()}
    result = playbook("remediate", inv, "--check", "--diff", "--tags", "managed", "--limit", ",".join(MANAGED),
                      "-e", "managed_control_plane_allow_irreversible_encryption=true")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for call in ("eks:UpdateClusterConfig", "eks:AssociateEncryptionConfig", "gke:ClusterManager.UpdateCluster",
                 "aks:DiagnosticSettings.CreateOrUpdate", "aks:ManagedClusters.BeginCreateOrUpdate"):
        assert call in output, call
    # The diff shows each item off before and on after.
    assert output.count('-        "state": "off"') == 3 and output.count('+        "state": "on"') == 3
    assert '+        "logging_service": "logging.googleapis.com/kubernetes"' in output
    assert {k: len(v) for k, v in writes(fakes).items()} == writes_before
    assert fakes["gke"].cluster(GKE_PROJECT, GKE_LOCATION, GKE_NAME) == before["gke"]
    assert fakes["aks"].cluster(fakes["aks_id"]) == before["aks"]
    assert eks_cluster(fakes) == before["eks"]
    for host in MANAGED:
        assert recap(output, host)["failed"] == 0


def test_eks_encryption_is_held_without_the_opt_in_and_the_plan_says_why(fakes):
    inv = STORY["inventory"]
    result = playbook("remediate", inv, "--tags", "managed", "--limit", ",".join(MANAGED))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "cannot be undone" in output and "managed_control_plane_allow_irreversible_encryption" in output
    assert f"kc-aks: Secrets written before {AKS_KEY} encrypted them must be rewritten" in output
    eks_writes = [r["path"] for r in writes(fakes)["eks"]]
    assert not any("encryption-config" in p for p in eks_writes), eks_writes
    assert any(p.endswith("/update-config") for p in eks_writes), eks_writes
    cluster = eks_cluster(fakes)
    assert not cluster.get("encryptionConfig"), cluster.get("encryptionConfig")
    assert any(g["enabled"] and "audit" in g["types"] for g in cluster["logging"]["clusterLogging"]), cluster["logging"]
    for host in MANAGED:
        assert recap(output, host)["changed"] >= 1, host


def test_with_the_opt_in_everything_is_applied_and_a_rerun_changes_nothing(control_plane, fakes):
    inv = STORY["inventory"]
    opt_in = ("-e", "managed_control_plane_allow_irreversible_encryption=true")
    result = playbook("remediate", inv, "--tags", "managed", "--limit", ",".join(MANAGED), *opt_in)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    associate = [r for r in writes(fakes)["eks"] if "encryption-config/associate" in r["path"]]
    assert len(associate) == 1
    assert associate[0]["body"]["encryptionConfig"] == [{"resources": ["secrets"], "provider": {"keyArn": EKS_KEY}}]
    record = control_plane.client().request("GET", "/api/v1/namespaces/kube-system/configmaps/"
                                                   "kubecompass-secrets-rewrite")
    assert record["data"] == {"key": EKS_KEY}  # every Secret rewritten once the key was associated, and recorded
    gke_bodies = [r["body"] for r in writes(fakes)["gke"]]
    assert all(len(body["update"]) == 1 for body in gke_bodies), gke_bodies  # one field per UpdateCluster
    kms = fakes["aks"].cluster(fakes["aks_id"])["properties"]["securityProfile"]["azureKeyVaultKms"]
    assert kms["enabled"] is True and kms["keyId"] == AKS_KEY
    again = playbook("remediate", inv, "--tags", "managed", "--limit", ",".join(MANAGED), *opt_in)
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-4000:]
    for host in MANAGED:
        assert recap(output, host)["changed"] == 0, host


def test_the_next_assessment_passes(tmp_path):
    result, clusters = assess(STORY["inventory"], tmp_path / "after", *MANAGED)
    for host in MANAGED:
        found = verdicts(clusters[host])
        assert found["KC-SEC-001"][0] == "pass" and found["KC-SEC-004"][0] == "pass", (host, found)


def test_mixed_inventory_assesses_in_one_run_and_a_failing_provider_stops_no_other(control_plane, fakes, tmp_path):
    inv = inventory(tmp_path, control_plane, fakes, "mixed.yml")
    # Every AKS read fails from now on: the cluster read answers 403 as a missing role assignment would.
    for _attempt in range(20):
        fakes["aks"].fail_next("GET", r"/managedClusters/%s$" % AKS_NAME, 403, {"error": {
            "code": "AuthorizationFailed", "message": "The client does not have authorization to perform action "
                                                      "'Microsoft.ContainerService/managedClusters/read'"}})
    result, clusters = assess(inv, tmp_path / "mixed")
    assert set(clusters) == {"kc-local", *MANAGED}, result.stdout[-3000:]
    assert all(c["status"] == "assessed" for c in clusters.values()), {h: c["error"] for h, c in clusters.items()}
    aks = verdicts(clusters["kc-aks"])
    assert all(v == "unknown" for v, _message in aks.values()), aks
    assert "AuthorizationFailed" in aks["KC-SEC-001"][1] and "kc-aks" in aks["KC-SEC-001"][1]
    for host in ("kc-eks", "kc-gke"):
        assert all(v == "pass" for v, _message in verdicts(clusters[host]).values()), host
    local = {f["check_id"]: f["verdict"] for f in clusters["kc-local"]["findings"]}
    assert local["KC-SEC-025"] == "not_applicable" and local["KC-AVL-003"] in ("pass", "fail", "not_applicable")
    assert "Traceback" not in result.stdout + result.stderr


def test_an_update_in_progress_fails_that_cluster_only_with_the_call_and_the_cause(control_plane, fakes, tmp_path):
    busy = "batch-prod"
    fakes["gke"].seed_cluster(GKE_PROJECT, GKE_LOCATION, busy)
    fakes["gke"].start_operation(GKE_PROJECT, GKE_LOCATION, busy)  # an upgrade someone else started, never ending
    fakes["aks"].seed_cluster(AKS_SUB, AKS_RG, "ledger-dr")
    inv = tmp_path / "busy.yml"
    base = yaml.safe_load(inventory(tmp_path, control_plane, fakes).read_text())
    hosts = base["all"]["children"]["k8s_clusters"]["hosts"]
    hosts = {"kc-gke-busy": dict(hosts["kc-gke"], kubecompass_provider=dict(hosts["kc-gke"]["kubecompass_provider"],
                                                                            name=busy)),
             "kc-aks-dr": dict(hosts["kc-aks"], kubecompass_provider=dict(hosts["kc-aks"]["kubecompass_provider"],
                                                                          name="ledger-dr"))}
    base["all"]["children"]["k8s_clusters"]["hosts"] = hosts
    inv.write_text(yaml.safe_dump(base))
    result = playbook("remediate", inv, "--tags", "managed", "-e", "managed_control_plane_rewrite_secrets=false")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert recap(output, "kc-gke-busy")["failed"] == 1 and recap(output, "kc-aks-dr")["failed"] == 0, output[-3000:]
    failure = next(line for line in output.splitlines() if "kc-gke-busy" in line and "FAILED" in line)
    assert "kc-gke-busy: gke:ClusterManager.UpdateCluster: FAILED_PRECONDITION" in failure, failure
    assert "another operation in progress" in failure, failure
    assert "Traceback" not in output
    assert fakes["gke"].cluster(GKE_PROJECT, GKE_LOCATION, busy)["loggingService"] == "none"
    kms = fakes["aks"].cluster(fakes["aks_id"].replace(AKS_NAME, "ledger-dr"))["properties"]["securityProfile"]
    assert kms["azureKeyVaultKms"]["enabled"] is True


def test_inventory_plugin_groups_discovered_clusters_by_distribution(control_plane, fakes, tmp_path):
    admin = yaml.safe_load(control_plane.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    user = admin["users"][0]["user"]
    eks_arn = f"arn:aws:eks:{EKS_REGION}:123456789012:cluster/{EKS_NAME}"
    gke_context = f"gke_{GKE_PROJECT}_{GKE_LOCATION}_{GKE_NAME}"
    contexts = {"kc-local": "kc-local", eks_arn: eks_arn, gke_context: gke_context}
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "current-context": "kc-local",
        "clusters": [{"name": c, "cluster": server} for c in contexts.values()],
        "users": [{"name": "admin", "user": user}],
        "contexts": [{"name": n, "context": {"cluster": c, "user": "admin"}} for n, c in contexts.items()],
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    config = tmp_path / "kc.clusters.yml"
    config.write_text(yaml.safe_dump({
        "plugin": "kubecompass.readiness.clusters",
        "kubeconfigs": [str(tmp_path / "kubeconfig")],
        "aws": {"regions": [EKS_REGION], "endpoint_url": fakes["urls"]["eks"]},
        "gcp": {"projects": [GKE_PROJECT], "endpoint_url": fakes["urls"]["gke"]},
        "azure": {"subscriptions": [AKS_SUB], "endpoint_url": fakes["urls"]["aks"]},
    }))
    graph = run([str(VENV_BIN / "ansible-inventory"), "-i", str(config), "--graph"], env=env())
    assert graph.returncode == 0, graph.stdout + graph.stderr
    STORY["graph"] = graph.stdout
    groups = _graph_groups(graph.stdout)
    assert set(groups["eks"]) == {f"eks-{EKS_REGION}-{EKS_NAME}"}, groups
    # Every cluster the providers list, those seeded by the previous test too.
    assert set(groups["gke"]) == {f"gke-{GKE_LOCATION}-{GKE_NAME}", f"gke-{GKE_LOCATION}-batch-prod"}, groups
    assert set(groups["aks"]) == {f"aks-westeurope-{AKS_NAME}", "aks-westeurope-ledger-dr"}, groups
    assert set(groups["unknown_distribution"]) == {"kc-local"}, groups
    # Values from the providers are marked unsafe (never templated); --list shows them wrapped.
    listed = json.loads(run([str(VENV_BIN / "ansible-inventory"), "-i", str(config), "--list"], env=env()).stdout,
                        object_hook=lambda d: d.get("__ansible_unsafe", d) if len(d) == 1 else d)
    eks_host = listed["_meta"]["hostvars"][f"eks-{EKS_REGION}-{EKS_NAME}"]
    # The kubeconfig context and the provider cluster it names are one host carrying both.
    assert eks_host["kubecompass_context"] == f"arn:aws:eks:{EKS_REGION}:123456789012:cluster/{EKS_NAME}"
    assert eks_host["kubecompass_provider"]["name"] == EKS_NAME and eks_host["kubecompass_tier"] == "critical"
    assert listed["_meta"]["hostvars"][f"gke-{GKE_LOCATION}-{GKE_NAME}"]["kubecompass_tier"] == "critical"
    # A cluster only its provider knows is judged from the provider alone, never through the controller's default
    # kubeconfig (which would be another cluster).
    dr_host = "aks-westeurope-ledger-dr"
    assert listed["_meta"]["hostvars"][dr_host]["kubecompass_kubernetes_api"] is False
    result, clusters = assess(config, tmp_path / "provider-only", dr_host)
    assert clusters[dr_host]["status"] == "assessed", result.stdout[-3000:]
    found = {f["check_id"]: (f["verdict"], f["message"]) for f in clusters[dr_host]["findings"]}
    assert found["KC-SEC-001"][0] == "pass" and found["KC-SEC-004"][0] == "pass"  # remediated earlier
    assert found["KC-SEC-016"][0] == "unknown" and "no Kubernetes API connection" in found["KC-SEC-016"][1]
    assert clusters[dr_host]["gather"]["api_requests"] == 0


def _graph_groups(text):
    """{group: [hosts]} from `ansible-inventory --graph` (direct members only): "  |  |--host" is one level below
    the nearest "  |--@group:" above it."""
    groups, stack = {}, {}
    for line in text.splitlines():
        name = line.split("--", 1)[-1].strip().rstrip(":") if "--" in line else line.strip().rstrip(":")
        depth = line.count("|")
        if name.startswith("@"):
            stack[depth] = name[1:]
            groups.setdefault(name[1:], [])
        elif depth and depth - 1 in stack:
            groups[stack[depth - 1]].append(name)
    return groups
