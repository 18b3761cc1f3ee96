"""Issue 14 item 5 on the local control plane: remediate.yml leaves a change record per cluster and run. `--check`
writes a plan naming what a real run would change (and changes nothing), the real run a change record naming every
object it changed with digests and who ran it (AWX variables), published to an S3 bucket (moto's server mode), and
a second run a record with no changes. The report directory defaults to the CI workspace, else the current
directory.

Only objects of this test are touched: the default-deny policies of one namespace (every other namespace is
excluded by glob) and one listed RoleBinding. The tests run in file order and build on each other."""

from __future__ import annotations

import datetime
import hashlib
import json
import random
import re

import pytest

from kclocal.kube import ApiError
from tests.helpers import REPO, VENV_BIN, ansible_env, run
from tests.integration import seed

pytestmark = pytest.mark.nodes(1)

NAMESPACE = "evidence-shop"
BINDING = "evidence-anonymous-view"
RBAC = "rbac.authorization.k8s.io/v1"
BINDING_PATH = f"/apis/{RBAC}/namespaces/{NAMESPACE}/rolebindings/{BINDING}"
POLICIES = f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies"
STORY: dict = {}


def only(namespace):
    """fnmatch globs that exclude every namespace name but ``namespace``."""
    globs = [namespace + "?*"]
    for length in range(len(namespace)):
        globs += [namespace[:length] + "[!%s]*" % namespace[length], namespace[:length]] if length else \
            ["[!%s]*" % namespace[0]]
    return globs


@pytest.fixture(scope="module")
def cp(control_planes):
    """The shared 1-node control plane with this test's namespace (kept between runs: a deleted namespace stays
    Terminating for a while), without the policies an earlier run made, and with the binding to remove."""
    control_plane = control_planes.get(1)
    client = control_plane.client()
    seed.create(client, {"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": NAMESPACE, "labels": {"kubecompass.io/tier": "important"}}})
    for policy in client.request("GET", POLICIES)["items"]:
        client.request("DELETE", "%s/%s" % (POLICIES, policy["metadata"]["name"]))
    seed.create(client, {"apiVersion": RBAC, "kind": "RoleBinding",
                         "metadata": {"name": BINDING, "namespace": NAMESPACE},
                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                       "name": "system:unauthenticated"}]})
    yield control_plane
    for policy in client.request("GET", POLICIES)["items"]:
        client.request("DELETE", "%s/%s" % (POLICIES, policy["metadata"]["name"]))


def remediate(cp, tmp_path, *args, cwd=REPO, env=None, extra=None, tags="netpol,rbac"):
    variables = {"network_policies_tiers": ["important"],
                 "network_policies_excluded_namespaces": only(NAMESPACE),
                 "network_policies_dns": {"labels": {"k8s-app": "kube-dns"}},
                 "rbac_least_privilege_remove": [{"kind": "RoleBinding", "name": BINDING, "namespace": NAMESPACE}],
                 "rbac_least_privilege_backup_dir": str(tmp_path / "rbac-backups")}
    variables.update(extra or {})
    return run([str(VENV_BIN / "ansible-playbook"), "-i", str(cp.inventory), str(REPO / "playbooks/remediate.yml"),
                "--tags", tags, "-e", json.dumps(variables), *args],
               env=ansible_env(**(env or {})), cwd=cwd, timeout=900)


def records(directory, kind):
    found = sorted(directory.glob(f"kubecompass-remediation-*-{kind}.json"))
    return [json.loads(path.read_text()) for path in found], found


def recap_changed(output):
    return int(re.search(r"localcp\s+: ok=\d+\s+changed=(\d+)", output).group(1))


def test_check_mode_writes_a_plan_and_changes_nothing(cp, tmp_path):
    reports = tmp_path / "reports"
    result = remediate(cp, tmp_path, "--check", extra={"kubecompass_report_dir": str(reports)})
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    (plan,), paths = records(reports, "plan")
    assert plan["kind"] == "plan" and plan["check_mode"] is True and plan["cluster"] == "localcp"
    targets = {change["target"]: change for change in plan["changes"]}
    assert targets[f"RoleBinding {NAMESPACE}/{BINDING}"]["action"] == "deleted"
    assert targets[f"RoleBinding {NAMESPACE}/{BINDING}"]["before"].startswith("sha256:")
    created = sorted(t for t, c in targets.items() if c["action"] == "created")
    assert created and all(t.startswith(f"NetworkPolicy {NAMESPACE}/") for t in created), targets
    assert {c["role"] for c in plan["changes"]} == {"network_policies", "rbac_least_privilege"}
    assert "Remediation plan: localcp" in paths[0].with_suffix(".md").read_text()
    client = cp.client()
    assert client.request("GET", BINDING_PATH)["metadata"]["name"] == BINDING
    assert client.request("GET", POLICIES)["items"] == []
    STORY["planned"] = {t: c["after"] for t, c in targets.items()}


def test_the_real_run_records_every_object_it_changed_who_ran_it_and_publishes_it(cp, tmp_path, monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        endpoint = "http://%s:%d" % server.get_host_and_port()
        reader = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        reader.create_bucket(Bucket="remediation-evidence")
        reports = tmp_path / "reports"
        result = remediate(cp, tmp_path, extra={
            "kubecompass_report_dir": str(reports), "awx_job_id": 4711, "awx_user_name": "alice",
            "kubecompass_report_publish": {"bucket": "remediation-evidence", "prefix": "kc",
                                           "endpoint_url": endpoint}})
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:]
        assert recap_changed(result.stdout) > 0
        (record,), paths = records(reports, "change")
        listed = reader.list_objects_v2(Bucket="remediation-evidence").get("Contents", [])
        keys = [item["Key"] for item in listed]
    finally:
        server.stop()
    assert record["kind"] == "change" and record["check_mode"] is False and record["changed"] is True
    assert record["actor"]["awx"] == {"job_id": 4711, "user_name": "alice"}
    assert record["actor"]["controller_user"]
    targets = {change["target"]: change for change in record["changes"]}
    binding = targets.pop(f"RoleBinding {NAMESPACE}/{BINDING}")
    assert binding["action"] == "deleted" and binding["after"] is None
    client = cp.client()
    live = {"NetworkPolicy %s/%s" % (NAMESPACE, policy["metadata"]["name"])
            for policy in client.request("GET", POLICIES)["items"]}
    assert set(targets) == live and all(c["action"] == "created" for c in targets.values())
    # What the plan said a real run would make is what the run made.
    assert {t: c["after"] for t, c in targets.items()} == {t: STORY["planned"][t] for t in targets}
    with pytest.raises(ApiError):
        client.request("GET", BINDING_PATH)
    day = datetime.datetime.fromisoformat(record["started"].replace("Z", "+00:00")).strftime("%Y-%m-%d")
    assert sorted(keys) == sorted(f"kc/{day}/localcp/{record['started'][11:19].replace(':', '')}Z/{path.name}"
                                  for path in (paths[0], paths[0].with_suffix(".md"))), keys
    print("change record:", json.dumps(record["counts"]), "published:", keys)


def test_a_second_run_records_no_changes_in_the_ci_workspace(cp, tmp_path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    result = remediate(cp, tmp_path, cwd=tmp_path, env={"GITHUB_WORKSPACE": str(workspace)})
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert recap_changed(result.stdout) == 0
    (record,), _paths = records(workspace / "kubecompass-reports", "change")
    assert record["changed"] is False and record["changes"] == [] and record["problems"] == []
    assert not (tmp_path / "kubecompass-reports").exists()


def test_without_a_workspace_the_record_goes_to_the_current_directory(cp, tmp_path):
    env = {"GITHUB_WORKSPACE": "", "CI_PROJECT_DIR": ""}
    result = remediate(cp, tmp_path, "--check", cwd=tmp_path, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    (record,), _paths = records(tmp_path / "kubecompass-reports", "plan")
    assert record["changes"] == []


def test_the_assessment_publishes_its_reports_and_the_cluster_result_keyed_by_date_and_cluster(cp, tmp_path):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        endpoint = "http://%s:%d" % server.get_host_and_port()
        reader = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        reader.create_bucket(Bucket="assessment-evidence")
        variables = {"kubecompass_include_checks": ["KC-SEC-016"],
                     "kubecompass_report_publish": {"bucket": "assessment-evidence", "prefix": "nightly",
                                                    "endpoint_url": endpoint}}
        result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(cp.inventory), str(REPO / "playbooks/assess.yml"),
                      "--check", "-e", json.dumps(variables)], env=ansible_env(GITHUB_WORKSPACE=str(tmp_path)),
                     cwd=tmp_path, timeout=900)
        listed = reader.list_objects_v2(Bucket="assessment-evidence").get("Contents", [])
        keys = sorted(item["Key"] for item in listed)
    finally:
        server.stop()
    output = result.stdout + result.stderr
    reports = tmp_path / "kubecompass-reports"
    assert (reports / "kubecompass-report.json").exists(), output[-4000:]
    fleet = sorted(key.rsplit("/", 1)[1] for key in keys if key.split("/")[2] == "fleet")
    assert fleet == sorted(path.name for path in reports.glob("kubecompass-report.*")), (keys, output[-3000:])
    assert [key for key in keys if key.split("/")[2] == "localcp"], keys
    assert all(re.match(r"^nightly/\d{4}-\d\d-\d\d/(fleet|localcp)/\d{6}Z/", key) for key in keys), keys
    print("published by assess:", keys)


def test_a_control_plane_plan_names_each_node_with_its_manifest_digests(cp, tmp_path):
    """The rollout's per-node record reaches the change record: an audit setting no run has used before is planned
    on every node, with the digest of the manifest as it is (and stays: check mode) and as it would be."""
    maxage = random.randint(100, 999)
    manifests = {node["name"]: cp.manifest(node["name"]) for node in cp.nodes}
    before = {name: path.read_bytes() for name, path in manifests.items()}
    reports = tmp_path / "reports"
    result = remediate(cp, tmp_path, "--check", tags="audit",
                       extra={"kubecompass_report_dir": str(reports), "audit_logging_maxage": maxage})
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    (plan,), _paths = records(reports, "plan")
    nodes = {change["target"]: change for change in plan["changes"] if change["role"] == "audit_logging"}
    assert set(nodes) == {"node %s" % name for name in manifests}, plan["changes"]
    for name, content in before.items():
        change = nodes["node %s" % name]
        assert "audit-log-maxage=%d" % maxage in change["what"], change
        assert change["before"] == "sha256:" + hashlib.sha256(content).hexdigest() != change["after"]
        assert manifests[name].read_bytes() == content
