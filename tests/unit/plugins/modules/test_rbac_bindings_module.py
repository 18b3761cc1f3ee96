"""rbac_bindings module: findings, refusals, the backup written before any delete (never in check mode), and
deletes with preconditions."""

from __future__ import annotations

import datetime
import os
import pathlib
import stat

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.modules import rbac_bindings
from tests.unit.plugins.modules.test_pod_security_module import FakeClient, only_reads_and_dry_runs, run_main

API = "rbac.authorization.k8s.io/v1"
GROUP = "rbac.authorization.k8s.io"
CRB = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/%s"
RB = "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings/%s"
NOW = datetime.datetime(2026, 11, 22, 3, 15, 0, tzinfo=datetime.UTC)
ADMIN = {"username": "kubernetes-admin", "groups": ["kubeadm:cluster-admins", "system:authenticated"]}


def subject(kind, name, namespace=None):
    item = {"kind": kind, "name": name}
    if kind == "ServiceAccount":
        item["namespace"] = namespace
    else:
        item["apiGroup"] = GROUP
    return item


def binding(name, role, subjects, namespace=None, labels=None):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    return {"apiVersion": API, "kind": "RoleBinding" if namespace else "ClusterRoleBinding", "metadata": meta,
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role}, "subjects": subjects}


def cluster_role(name, rules, labels=None):
    meta = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": API, "kind": "ClusterRole", "metadata": meta, "rules": rules}


BOOTSTRAP = {"kubernetes.io/bootstrapping": "rbac-defaults"}
OBJECTS = [
    cluster_role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], BOOTSTRAP),
    cluster_role("view", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}], BOOTSTRAP),
    cluster_role("ops-all", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
    binding("cluster-admin", "cluster-admin", [subject("Group", "system:masters")], labels=BOOTSTRAP),
    binding("kubeadm:cluster-admins", "cluster-admin", [subject("Group", "kubeadm:cluster-admins")]),
    binding("dev-cluster-admin", "cluster-admin", [subject("User", "dev")]),
    binding("ops", "ops-all", [subject("Group", "ops")]),
    binding("platform", "cluster-admin", [subject("Group", "platform-admins")]),
    binding("anonymous-reader", "view", [subject("User", "system:anonymous")], namespace="shop"),
]
REMOVE = [{"kind": "ClusterRoleBinding", "name": "dev-cluster-admin", "namespace": None},
          {"kind": "RoleBinding", "name": "anonymous-reader", "namespace": "shop"}]


def params(tmp_path=None, **overrides):
    base = {"allowed_subjects": ["Group:platform-admins"], "remove": [],
            "backup_dir": str(tmp_path / "backups") if tmp_path else None, "waivers": [], "cluster_name": None}
    base.update(overrides)
    return base


DEFAULT_IDENTITY = object()


def cluster(identity=DEFAULT_IDENTITY, **options):
    identity = ADMIN if identity is DEFAULT_IDENTITY else identity
    return FakeClient(OBJECTS, identity=identity, **options)


def backups(tmp_path):
    directory = tmp_path / "backups"
    return sorted(os.listdir(directory)) if directory.exists() else []


def test_report_only_lists_findings_and_sends_nothing_but_lists():
    client = cluster()
    result = rbac_bindings.run(client, params(), check_mode=False)
    assert [c[0] for c in client.calls] == ["LIST"] * 4
    assert result["changed"] is False and result["removed"] == [] and result["backup"] is None
    assert [(f["kind"], f["binding"]) for f in result["findings"]["cluster_admin"]] == [
        ("ClusterRoleBinding", "dev-cluster-admin"), ("ClusterRoleBinding", "ops")]
    assert [f["role"] for f in result["findings"]["wildcard_rules"]] == ["ops-all"]
    assert [(f["namespace"], f["binding"]) for f in result["findings"]["anonymous"]] == [("shop", "anonymous-reader")]


def test_check_mode_writes_no_backup_deletes_nothing_and_diffs_each_binding_away(tmp_path):
    client = cluster()
    result = rbac_bindings.run(client, params(tmp_path, remove=REMOVE), check_mode=True, now=NOW)
    assert backups(tmp_path) == [] and not (tmp_path / "backups").exists()
    assert only_reads_and_dry_runs(client, allowed=rbac_bindings.SELF_SUBJECT_REVIEWS)
    # The API server ignores the query string of a DELETE with a body: dryRun must travel in the DeleteOptions.
    assert [(c[0], c[1], c[2], c[4]["dryRun"]) for c in client.calls if c[0] == "DELETE"] == [
        ("DELETE", CRB % "dev-cluster-admin", {}, ["All"]),
        ("DELETE", RB % ("shop", "anonymous-reader"), {}, ["All"])]
    assert client.stored(CRB % "dev-cluster-admin") is not None
    assert result["changed"] is True and result["backup"] is None
    assert result["removed"] == ["ClusterRoleBinding dev-cluster-admin", "RoleBinding shop/anonymous-reader"]
    first = result["diff"][0]
    assert first["before_header"] == "ClusterRoleBinding dev-cluster-admin" and first["after"] == ""
    assert yaml.safe_load(first["before"])["subjects"] == [subject("User", "dev")]


def test_the_backup_is_written_before_the_first_delete_and_deletes_carry_preconditions(tmp_path):
    seen = []
    client = cluster(on_delete=lambda path: seen.append((path, backups(tmp_path))))
    result = rbac_bindings.run(client, params(tmp_path, remove=REMOVE), check_mode=False, now=NOW)
    name = "rbac-backup-20261122T031500Z.yaml"
    assert seen == [(CRB % "dev-cluster-admin", [name]), (RB % ("shop", "anonymous-reader"), [name])]
    assert result["backup"] == str(tmp_path / "backups" / name)
    assert stat.S_IMODE(os.stat(result["backup"]).st_mode) == 0o600
    document = yaml.safe_load(pathlib.Path(result["backup"]).read_text())
    assert document["kind"] == "List" and [i["metadata"]["name"] for i in document["items"]] == [
        "dev-cluster-admin", "anonymous-reader"]
    assert document["items"][0]["kind"] == "ClusterRoleBinding" and "uid" not in document["items"][0]["metadata"]
    assert document["items"][1]["metadata"]["annotations"] == {"kubecompass.io/backed-up-at": "2026-11-22T03:15:00Z"}
    deletes = [c for c in client.calls if c[0] == "DELETE"]
    assert deletes[0][4] == {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {
        "uid": "uid-clusterrolebinding-dev-cluster-admin", "resourceVersion": "1"}}
    assert all(c[2] == {} for c in deletes)
    assert client.stored(CRB % "dev-cluster-admin") is None and client.stored(RB % ("shop", "anonymous-reader")) is None
    assert result["changed"] is True and result["failed"] == {} and result["refused"] == []
    assert result["identity"] == {"user": "kubernetes-admin", "groups": ADMIN["groups"]}


def test_a_second_backup_in_the_same_second_gets_its_own_file(tmp_path):
    rbac_bindings.run(cluster(), params(tmp_path, remove=REMOVE[:1]), check_mode=False, now=NOW)
    result = rbac_bindings.run(cluster(), params(tmp_path, remove=REMOVE[1:]), check_mode=False, now=NOW)
    assert result["backup"].endswith("rbac-backup-20261122T031500Z-1.yaml")
    assert backups(tmp_path) == ["rbac-backup-20261122T031500Z-1.yaml", "rbac-backup-20261122T031500Z.yaml"]


def test_refusals_system_own_identity_and_missing_bindings_are_reported_and_kept(tmp_path):
    remove = [{"kind": "ClusterRoleBinding", "name": "cluster-admin", "namespace": None},
              {"kind": "ClusterRoleBinding", "name": "ops", "namespace": None},
              {"kind": "ClusterRoleBinding", "name": "nope", "namespace": None},
              REMOVE[0]]
    identity = {"username": "alice", "groups": ["ops", "system:authenticated"]}
    client = cluster(identity=identity)
    result = rbac_bindings.run(client, params(tmp_path, remove=remove), check_mode=False, now=NOW)
    reasons = {r["binding"]: r["reason"] for r in result["refused"]}
    assert set(reasons) == {"ClusterRoleBinding cluster-admin", "ClusterRoleBinding ops", "ClusterRoleBinding nope"}
    assert "bootstrap" in reasons["ClusterRoleBinding cluster-admin"]
    assert "Group:ops" in reasons["ClusterRoleBinding ops"] and reasons["ClusterRoleBinding nope"] == "not found"
    assert result["removed"] == ["ClusterRoleBinding dev-cluster-admin"]
    assert client.stored(CRB % "ops") is not None and client.stored(CRB % "cluster-admin") is not None
    backup = yaml.safe_load(pathlib.Path(result["backup"]).read_text())
    assert [i["metadata"]["name"] for i in backup["items"]] == ["dev-cluster-admin"]


def test_an_unknown_identity_refuses_every_removal_and_writes_no_backup(tmp_path):
    client = cluster(identity=None)
    result = rbac_bindings.run(client, params(tmp_path, remove=REMOVE), check_mode=False, now=NOW)
    assert result["identity"] is None and result["identity_error"].startswith("forbidden")
    reasons = [r["reason"] for r in result["refused"]]
    assert len(reasons) == 2 and all("identity running the play is unknown" in reason for reason in reasons)
    assert backups(tmp_path) == [] and not [c for c in client.calls if c[0] == "DELETE"]
    assert result["changed"] is False


def test_a_binding_changed_since_read_is_not_deleted_and_the_others_are(tmp_path):
    client = cluster()
    original = client.list
    # Someone edits dev-cluster-admin between our list and our delete.

    def list_then_edit(path, query=None, page_size=500):
        items = original(path, query, page_size)
        if path.endswith("/clusterrolebindings"):
            client.stored(CRB % "dev-cluster-admin")["metadata"]["resourceVersion"] = "7"
        return items

    client.list = list_then_edit
    result = rbac_bindings.run(client, params(tmp_path, remove=REMOVE), check_mode=False, now=NOW)
    assert list(result["failed"]) == ["ClusterRoleBinding dev-cluster-admin"]
    assert "precondition" in result["failed"]["ClusterRoleBinding dev-cluster-admin"]
    assert client.stored(CRB % "dev-cluster-admin") is not None
    assert result["removed"] == ["RoleBinding shop/anonymous-reader"] and len(backups(tmp_path)) == 1


def test_a_forbidden_delete_fails_and_one_deleted_meanwhile_is_reported(tmp_path):
    client = cluster(fail={CRB % "dev-cluster-admin": 403, RB % ("shop", "anonymous-reader"): 404})
    result = rbac_bindings.run(client, params(tmp_path, remove=REMOVE), check_mode=False, now=NOW)
    assert result["failed"]["ClusterRoleBinding dev-cluster-admin"].startswith("forbidden")
    assert result["refused"] == [{"binding": "RoleBinding shop/anonymous-reader", "kind": "RoleBinding",
                                  "name": "anonymous-reader", "namespace": "shop",
                                  "reason": "deleted by someone else meanwhile"}]
    assert result["changed"] is False


def test_removal_needs_a_backup_dir_and_a_failing_backup_deletes_nothing(tmp_path):
    client = cluster()
    with pytest.raises(KubeCompassError) as raised:
        rbac_bindings.run(client, params(remove=REMOVE), check_mode=True)
    assert raised.value.category == "input" and client.calls == []
    blocker = tmp_path / "backups"
    blocker.write_text("a file where the directory should be")
    client = cluster()
    with pytest.raises(KubeCompassError) as raised:
        rbac_bindings.run(client, params(tmp_path, remove=REMOVE), check_mode=False, now=NOW)
    assert raised.value.category == "backup"
    assert not [c for c in client.calls if c[0] == "DELETE"] and client.stored(CRB % "dev-cluster-admin")


def test_main_warns_about_refusals_and_fails_naming_failed_deletes(monkeypatch, capsys, tmp_path):
    client = cluster(fail={CRB % "dev-cluster-admin": 403})
    remove = REMOVE + [{"kind": "ClusterRoleBinding", "name": "cluster-admin"}]
    code, result, warned = run_main(
        rbac_bindings, monkeypatch, capsys, client, host="https://fake:6443", remove=remove,
        backup_dir=str(tmp_path / "backups"))
    assert code == 1 and "1 binding(s) could not be removed (ClusterRoleBinding dev-cluster-admin: forbidden" in (
        result["msg"])
    assert result["removed"] == ["RoleBinding shop/anonymous-reader"] and result["backup"]
    assert any("not removed: ClusterRoleBinding cluster-admin" in w for w in warned)
    code, result, warned = run_main(
        rbac_bindings, monkeypatch, capsys, cluster(), host="https://fake:6443",
        remove=[{"kind": "Role", "name": "x"}], backup_dir=str(tmp_path))
    assert code == 1 and "kind" in result["msg"]


REVIEW = "/apis/authentication.k8s.io/%s/selfsubjectreviews"


def reviews_sent(client):
    return [(c[1], c[4]["apiVersion"]) for c in client.calls if c[0] == "POST"]


@pytest.mark.parametrize("served, tried", [
    (("v1", "v1beta1", "v1alpha1"), ["v1"]),
    (("v1beta1", "v1alpha1"), ["v1", "v1beta1"]),
    (("v1alpha1",), ["v1", "v1beta1", "v1alpha1"])])
def test_the_identity_comes_from_the_newest_self_subject_review_version_served(served, tried):
    client = cluster(reviews=tuple("authentication.k8s.io/" + version for version in served))
    identity, error = rbac_bindings.play_identity(client)
    assert identity == {"user": "kubernetes-admin", "groups": ADMIN["groups"]} and error is None
    assert reviews_sent(client) == [(REVIEW % version, "authentication.k8s.io/" + version) for version in tried]


def test_no_self_subject_review_served_leaves_the_identity_unknown_and_refuses_every_removal(tmp_path):
    client = cluster(reviews=())
    assert rbac_bindings.play_identity(client) == (None, rbac_bindings.NOT_SERVED)
    assert len(reviews_sent(client)) == 3
    assert rbac_bindings.NOT_SERVED == ("SelfSubjectReview is not served by this API server (Kubernetes 1.26+ "
                                        "needed to identify the play's identity)")
    client = cluster(reviews=())
    result = rbac_bindings.run(client, params(tmp_path, remove=REMOVE), check_mode=False, now=NOW)
    assert result["identity"] is None and result["identity_error"] == rbac_bindings.NOT_SERVED
    assert [r["reason"] for r in result["refused"]] == [
        "the identity running the play is unknown, so removing it could cut the play off"] * 2
    assert backups(tmp_path) == [] and not [c for c in client.calls if c[0] == "DELETE"]
    assert result["changed"] is False and result["removed"] == []


def test_a_failure_other_than_404_does_not_fall_back_to_an_older_version():
    # Forbidden at v1beta1 after a 404 at v1: v1alpha1 is not tried, the cause is the refusal.
    client = cluster(identity=None, reviews=("authentication.k8s.io/v1beta1", "authentication.k8s.io/v1alpha1"))
    identity, error = rbac_bindings.play_identity(client)
    assert identity is None and error == "forbidden: selfsubjectreviews is forbidden"
    assert [path for path, _version in reviews_sent(client)] == [REVIEW % "v1", REVIEW % "v1beta1"]
    client = cluster(identity=None)
    identity, error = rbac_bindings.play_identity(client)
    assert identity is None and error.startswith("forbidden") and len(reviews_sent(client)) == 1


def test_a_listed_binding_an_active_waiver_covers_is_kept_and_refused_with_the_ticket(tmp_path):
    waiver = {"check": "KC-SEC-013", "reason": "public status page reads pods", "owner": "team-shop",
              "ticket": "OPS-2006", "expires": "2026-12-31",
              "object": {"kind": "RoleBinding", "name": "anonymous-reader", "namespace": "shop"}}
    client = cluster()
    result = rbac_bindings.run(client, params(tmp_path, remove=REMOVE, waivers=[waiver], cluster_name="c1"),
                               check_mode=False, now=NOW)
    assert result["removed"] == ["ClusterRoleBinding dev-cluster-admin"]
    assert client.stored(RB % ("shop", "anonymous-reader")) is not None
    refused = {entry["binding"]: entry for entry in result["refused"]}
    assert refused["RoleBinding shop/anonymous-reader"]["reason"] == "waived by OPS-2006 until 2026-12-31"
    # Expired by the run's date: it protects nothing.
    client = cluster()
    later = datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)
    result = rbac_bindings.run(client, params(tmp_path, remove=REMOVE, waivers=[waiver], cluster_name="c1"),
                               check_mode=False, now=later)
    assert client.stored(RB % ("shop", "anonymous-reader")) is None
    assert [w["ticket"] for w in result["expired_waivers"]] == ["OPS-2006"]


def test_the_removed_bindings_are_named_with_their_digest_for_the_change_record(tmp_path):
    planned = rbac_bindings.run(cluster(), params(tmp_path, remove=REMOVE), check_mode=True, now=NOW)
    removed = rbac_bindings.run(cluster(), params(tmp_path, remove=REMOVE), check_mode=False, now=NOW)
    assert [(c["object"], c["action"], c["after"]) for c in removed["changed_objects"]] == [
        ("ClusterRoleBinding dev-cluster-admin", "deleted", None),
        ("RoleBinding shop/anonymous-reader", "deleted", None)]
    assert all(c["before"].startswith("sha256:") for c in removed["changed_objects"])
    assert planned["changed_objects"] == removed["changed_objects"]
