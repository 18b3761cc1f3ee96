"""RBAC reduction: findings, refused and allowed removals, and the backup document, on hand-written objects."""

from __future__ import annotations

import copy
import datetime

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails import rbac
from tests.unit.plugins.module_utils._readiness.test_security_api import run

RBAC = "rbac.authorization.k8s.io"
BOOTSTRAP = {"kubernetes.io/bootstrapping": "rbac-defaults"}


# -- builders (API list items: no kind, no apiVersion) ---------------------------------------------------------------

def user(name):
    return {"kind": "User", "apiGroup": RBAC, "name": name}


def group(name):
    return {"kind": "Group", "apiGroup": RBAC, "name": name}


def account(name, namespace=None):
    subject = {"kind": "ServiceAccount", "name": name}
    if namespace:
        subject["namespace"] = namespace
    return subject


def binding(name, role, subjects, namespace=None, role_kind="ClusterRole", labels=None, **metadata):
    meta = dict(metadata, name=name)
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    return {"metadata": meta, "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role},
            "subjects": list(subjects)}


def role(name, rules, namespace=None, labels=None):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    return {"metadata": meta, "rules": rules}


def rule(groups, resources, verbs):
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


ALL = rule(["*"], ["*"], ["*"])
READ_PODS = rule([""], ["pods"], ["get", "list"])

CLUSTER_ROLES = [
    role("cluster-admin", [ALL], labels=BOOTSTRAP),
    role("system:controller:foo", [ALL]),
    role("edit", [rule([""], ["serviceaccounts"], ["impersonate"])], labels=BOOTSTRAP),
    role("superuser", [ALL]),
    role("reader", [READ_PODS]),
    role("binder", [READ_PODS, rule([RBAC], ["clusterroles"], ["bind", "escalate"])]),
]
ROLES = [role("ns-wild", [READ_PODS, rule(["apps"], ["*"], ["get"])], namespace="shop"),
         role("fine", [READ_PODS], namespace="shop")]
CLUSTER_ROLE_BINDINGS = [
    binding("cluster-admin", "cluster-admin", [group("system:masters")], labels=BOOTSTRAP),
    binding("kubeadm:cluster-admins", "cluster-admin", [group("kubeadm:cluster-admins")]),
    binding("system:controller:foo", "system:controller:foo", [account("foo", "kube-system")]),
    binding("ops-admins", "cluster-admin", [user("alice"), group("system:masters"), user("bob")]),
    binding("robots", "superuser", [account("deployer", "ci"), user("system:serviceaccount:ci:pusher")]),
    binding("allowed", "cluster-admin", [user("breakglass")]),
    binding("kube-system-sa", "cluster-admin", [account("operator", "kube-system")]),
    binding("readers", "reader", [user("carol")]),
    binding("system:public-info-viewer", "system:public-info-viewer",
            [group("system:authenticated"), group("system:unauthenticated")]),
    binding("open-door", "reader", [user("system:anonymous")]),
    binding("half-open", "reader", [group("system:unauthenticated"), user("dave")]),
]
ROLE_BINDINGS = [
    binding("shop-admin", "cluster-admin", [account("app")], namespace="shop"),
    binding("cluster-admin", "cluster-admin", [user("erin")], namespace="shop"),
    binding("local-role", "cluster-admin", [user("frank")], namespace="shop", role_kind="Role"),
    binding("kubeadm:bootstrap-signer-clusterinfo", "kubeadm:bootstrap-signer-clusterinfo",
            [user("system:anonymous")], namespace="kube-public", role_kind="Role"),
    binding("anon-in-ns", "view", [user("system:anonymous")], namespace="shop"),
]


def findings(allowed=("User:breakglass",)):
    return rbac.reduction_plan(CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS, ROLES, ROLE_BINDINGS, allowed)


# -- findings ---------------------------------------------------------------------------------------------------------

def test_cluster_admin_findings():
    plan = findings()["cluster_admin"]
    assert [(f["kind"], f["namespace"], f["binding"], f["role"], f["subjects"]) for f in plan] == [
        ("ClusterRoleBinding", None, "ops-admins", "cluster-admin", ["User:alice", "User:bob"]),
        ("ClusterRoleBinding", None, "robots", "superuser", ["ServiceAccount:ci/deployer", "ServiceAccount:ci/pusher"]),
        ("RoleBinding", "shop", "cluster-admin", "cluster-admin", ["User:erin"]),
        ("RoleBinding", "shop", "shop-admin", "cluster-admin", ["ServiceAccount:shop/app"]),
    ]
    actions = {f["binding"] + (f["namespace"] or ""): f["action"] for f in plan}
    assert actions["ops-admins"].startswith("remove User:alice, User:bob from the subjects of ClusterRoleBinding "
                                            "ops-admins (kubectl edit clusterrolebinding ops-admins)")
    assert actions["robots"].startswith("remove ClusterRoleBinding robots (kubecompass backs it up first)")
    assert actions["shop-adminshop"].startswith("replace RoleBinding shop/shop-admin with a RoleBinding to "
                                                "ClusterRole admin or edit")


def test_allowed_subjects_are_not_reported_and_are_validated():
    names = [f["binding"] for f in findings(allowed=())["cluster_admin"]]
    assert "allowed" in names
    names = [f["binding"] for f in findings(allowed=("User:breakglass", "ServiceAccount:ci/deployer",
                                                     "ServiceAccount:ci/pusher"))["cluster_admin"]]
    assert "allowed" not in names and "robots" not in names
    for bad in (["alice"], ["Team:x"], [3]):
        with pytest.raises(KubeCompassError, match="is not User:name, Group:name or ServiceAccount:ns/name"):
            rbac.reduction_plan([], [], [], [], bad)


def test_wildcard_findings_keep_only_the_offending_rules():
    plan = findings()["wildcard_rules"]
    assert [(f["kind"], f["namespace"], f["role"]) for f in plan] == [
        ("ClusterRole", None, "binder"), ("ClusterRole", None, "superuser"), ("Role", "shop", "ns-wild")]
    binder, superuser, ns_wild = plan
    assert binder["rules"] == [rule([RBAC], ["clusterroles"], ["bind", "escalate"])]
    assert binder["problems"] == ["verbs bind, escalate"]
    assert binder["action"] == "in ClusterRole binder, drop bind/escalate/impersonate unless it is a platform role " \
                               "covered by a waiver"
    assert superuser["problems"] == ["'*' in apiGroups, resources, verbs"]
    assert superuser["action"].startswith("in ClusterRole superuser, replace '*' with the exact apiGroups")
    assert ns_wild["rules"] == [rule(["apps"], ["*"], ["get"])]
    assert ns_wild["action"].startswith("in Role shop/ns-wild, replace '*'")


def test_wildcard_and_escalation_in_one_role_get_both_steps():
    mixed = role("mixed", [rule(["*"], ["pods"], ["impersonate"])])
    (finding,) = rbac.reduction_plan([mixed], [], [], [])["wildcard_rules"]
    assert "replace '*'" in finding["action"] and "; drop bind/escalate/impersonate" in finding["action"]


def test_anonymous_findings():
    plan = findings()["anonymous"]
    assert [(f["kind"], f["namespace"], f["binding"], f["subjects"]) for f in plan] == [
        ("ClusterRoleBinding", None, "half-open", ["Group system:unauthenticated"]),
        ("ClusterRoleBinding", None, "open-door", ["User system:anonymous"]),
        ("RoleBinding", "shop", "anon-in-ns", ["User system:anonymous"]),
    ]
    half_open, open_door, in_namespace = plan
    assert half_open["role"] == "ClusterRole reader"
    assert half_open["action"] == ("remove Group system:unauthenticated from the subjects of ClusterRoleBinding "
                                   "half-open (kubectl edit clusterrolebinding half-open)")
    assert open_door["action"].startswith("remove ClusterRoleBinding open-door (kubecompass backs it up first)")
    assert in_namespace["action"].startswith("remove RoleBinding shop/anon-in-ns")
    mixed = binding("mixed", "view", [user("system:anonymous"), user("gina")], namespace="shop")
    (finding,) = rbac.reduction_plan([], [], [], [mixed])["anonymous"]
    assert finding["action"] == ("remove User system:anonymous from the subjects of RoleBinding shop/mixed "
                                 "(kubectl edit rolebinding mixed -n shop)")


def test_findings_agree_with_the_assessment():
    kinds = {"clusterroles": CLUSTER_ROLES, "clusterrolebindings": CLUSTER_ROLE_BINDINGS, "roles": ROLES,
             "rolebindings": ROLE_BINDINGS}
    settings = {"rbac_allowed_subjects": ["User:breakglass"]}
    plan = findings()
    for check_id, key, name_field in (("KC-SEC-011", "cluster_admin", "binding"),
                                      ("KC-SEC-012", "wildcard_rules", "role"), ("KC-SEC-013", "anonymous", "binding")):
        assessed = {(o["kind"], o["namespace"], o["name"]) for o in run(check_id, kinds, settings).objects
                    if o["verdict"] == "fail"}
        assert assessed == {(f["kind"], f["namespace"], f[name_field]) for f in plan[key]}, check_id


def test_nothing_to_report():
    assert rbac.reduction_plan(None, None, None, None) == {"cluster_admin": [], "wildcard_rules": [], "anonymous": []}


# -- removals ---------------------------------------------------------------------------------------------------------

IDENTITY = {"user": "ansible", "groups": ["platform-ops", "system:authenticated"]}
BINDINGS = CLUSTER_ROLE_BINDINGS + ROLE_BINDINGS + [
    binding("ops-via-group", "cluster-admin", [group("platform-ops"), user("zoe")]),
    binding("play-user", "edit", [user("ansible")], namespace="shop"),
    binding("everyone", "reader", [group("system:authenticated")]),
    binding("bootstrapped", "edit", [user("x")], labels=BOOTSTRAP),
    binding("kubeadm:nodes-kubeadm-config", "kubeadm:nodes-kubeadm-config", [group("system:nodes")],
            namespace="kube-system", role_kind="Role"),
    binding("ci-deploy", "edit", [account("runner")], namespace="ci"),
]


def request(kind, name, namespace=None):
    item = {"kind": kind, "name": name}
    if namespace is not None:
        item["namespace"] = namespace
    return item


def refusals(result):
    return {entry["binding"]: entry["reason"] for entry in result["refused"]}


def test_safe_removals_come_back_whole_with_kind_and_api_version():
    before = copy.deepcopy(BINDINGS)
    result = rbac.plan_removals([request("ClusterRoleBinding", "ops-admins"),
                                 request("RoleBinding", "shop-admin", "shop"),
                                 request("ClusterRoleBinding", "ops-admins")], BINDINGS, IDENTITY)
    assert result["refused"] == []
    assert [(b["kind"], b["apiVersion"], b["metadata"]["name"]) for b in result["remove"]] == [
        ("ClusterRoleBinding", "rbac.authorization.k8s.io/v1", "ops-admins"),
        ("RoleBinding", "rbac.authorization.k8s.io/v1", "shop-admin")]
    assert result["remove"][0]["subjects"] == CLUSTER_ROLE_BINDINGS[3]["subjects"]
    assert before == BINDINGS


def test_system_bindings_are_refused():
    result = rbac.plan_removals([
        request("ClusterRoleBinding", "cluster-admin"), request("ClusterRoleBinding", "kubeadm:cluster-admins"),
        request("ClusterRoleBinding", "system:controller:foo"), request("ClusterRoleBinding", "bootstrapped"),
        request("RoleBinding", "kubeadm:nodes-kubeadm-config", "kube-system"),
        request("RoleBinding", "cluster-admin", "shop"),
    ], BINDINGS, IDENTITY)
    assert refusals(result) == {
        "ClusterRoleBinding cluster-admin": "bootstrap RBAC default (label kubernetes.io/bootstrapping=rbac-defaults)",
        "ClusterRoleBinding kubeadm:cluster-admins": "kubeadm binding (name starts with kubeadm:)",
        "ClusterRoleBinding system:controller:foo": "system binding (name starts with system:)",
        "ClusterRoleBinding bootstrapped": "bootstrap RBAC default (label kubernetes.io/bootstrapping=rbac-defaults)",
        "RoleBinding kube-system/kubeadm:nodes-kubeadm-config": "kubeadm binding (name starts with kubeadm:)",
    }
    # A RoleBinding cannot borrow the default admin binding's name to become untouchable.
    assert [(b["kind"], b["metadata"]["name"]) for b in result["remove"]] == [("RoleBinding", "cluster-admin")]


def test_default_admin_binding_without_bootstrap_label_is_still_refused():
    bare = binding("cluster-admin", "cluster-admin", [group("system:masters")])
    result = rbac.plan_removals([request("ClusterRoleBinding", "cluster-admin")], [bare], IDENTITY)
    assert refusals(result) == {"ClusterRoleBinding cluster-admin": "default break-glass admin binding cluster-admin"}


def test_bindings_that_grant_to_the_play_identity_are_refused():
    result = rbac.plan_removals([request("ClusterRoleBinding", "ops-via-group"),
                                 request("RoleBinding", "play-user", "shop"),
                                 request("ClusterRoleBinding", "everyone")], BINDINGS, IDENTITY)
    reasons = refusals(result)
    assert result["remove"] == []
    assert reasons["ClusterRoleBinding ops-via-group"] == ("its subjects include the identity running the play "
                                                           "(Group:platform-ops); removing it would cut the play off")
    assert "(User:ansible)" in reasons["RoleBinding shop/play-user"]
    assert "(Group:system:authenticated)" in reasons["ClusterRoleBinding everyone"]


@pytest.mark.parametrize("identity", [
    {"username": "system:serviceaccount:ci:runner", "groups": ["system:serviceaccounts"]},
    {"user": "system:serviceaccount:ci:runner"},
])
def test_a_service_account_identity_matches_its_service_account_subject(identity):
    # The RoleBinding's subject has no namespace: it is the binding's own (ci).
    result = rbac.plan_removals([request("RoleBinding", "ci-deploy", "ci"), request("ClusterRoleBinding", "robots")],
                                BINDINGS, identity)
    assert [b["metadata"]["name"] for b in result["remove"]] == ["robots"]
    assert "(ServiceAccount:ci/runner)" in refusals(result)["RoleBinding ci/ci-deploy"]
    result = rbac.plan_removals([request("ClusterRoleBinding", "robots")], BINDINGS,
                                {"user": "system:serviceaccount:ci:pusher"})
    assert "(ServiceAccount:ci/pusher)" in refusals(result)["ClusterRoleBinding robots"]


@pytest.mark.parametrize("identity", [None, {}, {"groups": ["platform-ops"]}, {"user": ""}])
def test_unknown_identity_refuses_every_removal(identity):
    result = rbac.plan_removals([request("ClusterRoleBinding", "ops-admins"), request("ClusterRoleBinding", "nope")],
                                BINDINGS, identity)
    assert result["remove"] == []
    assert refusals(result) == {
        "ClusterRoleBinding ops-admins": "the identity running the play is unknown, so removing it could cut the "
                                         "play off",
        "ClusterRoleBinding nope": "not found"}


def test_missing_bindings_and_malformed_requests_are_refused():
    result = rbac.plan_removals([
        request("ClusterRoleBinding", "nope"), request("RoleBinding", "shop-admin", "other"),
        request("RoleBinding", "shop-admin"), request("Role", "x"), request("ClusterRoleBinding", ""),
        "ops-admins", request("ClusterRoleBinding", "ops-admins", "ignored-namespace"),
    ], BINDINGS, IDENTITY)
    assert [b["metadata"]["name"] for b in result["remove"]] == ["ops-admins"]
    reasons = [entry["reason"] for entry in result["refused"]]
    assert reasons == ["not found", "not found", "invalid request: a RoleBinding request needs a namespace",
                       "invalid request: kind 'Role' is not ClusterRoleBinding or RoleBinding",
                       "invalid request: no name",
                       "invalid request: a request is a mapping with kind, name and (for a RoleBinding) namespace"]
    assert result["refused"][1] == {"binding": "RoleBinding other/shop-admin", "kind": "RoleBinding",
                                    "name": "shop-admin", "namespace": "other", "reason": "not found"}
    assert result["refused"][2]["kind"] is None


def test_system_check_can_be_replaced_or_turned_off():
    requested = [request("ClusterRoleBinding", "system:controller:foo"), request("ClusterRoleBinding", "readers")]
    assert [b["metadata"]["name"] for b in rbac.plan_removals(requested, BINDINGS, IDENTITY, False)["remove"]] == [
        "system:controller:foo", "readers"]

    def no_readers(kind, item):
        return "protected by site policy" if item["metadata"]["name"] == "readers" else None

    result = rbac.plan_removals(requested, BINDINGS, IDENTITY, no_readers)
    assert [b["metadata"]["name"] for b in result["remove"]] == ["system:controller:foo"]
    assert refusals(result) == {"ClusterRoleBinding readers": "protected by site policy"}


def test_explicit_kinds_on_bindings_are_honoured():
    typed = dict(binding("typed", "edit", [user("x")]), kind="ClusterRoleBinding", apiVersion="rbac/v1")
    result = rbac.plan_removals([request("ClusterRoleBinding", "typed")], [typed], IDENTITY)
    assert result["remove"][0]["apiVersion"] == "rbac.authorization.k8s.io/v1"


# -- backup -----------------------------------------------------------------------------------------------------------

SERVER_SET = {"resourceVersion": "4711", "uid": "0f3c", "creationTimestamp": "2026-01-01T00:00:00Z",
              "generation": 1, "selfLink": "/apis/x", "managedFields": [{"manager": "kubectl"}]}


def test_backup_document_is_a_restorable_v1_list():
    live = [binding("ops-admins", "cluster-admin", [user("alice")], labels={"team": "ops"},
                    annotations={"note": "keep"}, **SERVER_SET),
            dict(binding("shop-admin", "cluster-admin", [account("app")], namespace="shop", **SERVER_SET),
                 status={"ignored": True})]
    before = copy.deepcopy(live)
    now = datetime.datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=datetime.UTC)
    document = rbac.backup_document(live, now)
    assert document == {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "ops-admins", "labels": {"team": "ops"},
                      "annotations": {"note": "keep", "kubecompass.io/backed-up-at": "2026-03-04T05:06:07Z"}},
         "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [user("alice")]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "shop-admin", "namespace": "shop",
                      "annotations": {"kubecompass.io/backed-up-at": "2026-03-04T05:06:07Z"}},
         "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [account("app")]},
    ]}
    assert live == before
    # YAML round trip: what is written is what kubectl apply reads back.
    assert yaml.safe_load(yaml.safe_dump(document)) == document


def test_backup_of_planned_removals_and_other_times():
    removals = rbac.plan_removals([request("RoleBinding", "shop-admin", "shop")], BINDINGS, IDENTITY)["remove"]
    naive = datetime.datetime(2026, 3, 4, 5, 6, 7)
    item = rbac.backup_document(removals, naive)["items"][0]
    assert item["metadata"]["annotations"] == {"kubecompass.io/backed-up-at": "2026-03-04T05:06:07Z"}
    offset = datetime.datetime(2026, 3, 4, 7, 6, 7, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert rbac.backup_document(removals, offset)["items"][0]["metadata"]["annotations"] == {
        "kubecompass.io/backed-up-at": "2026-03-04T05:06:07Z"}
    assert rbac.backup_document(removals, "2026-03-04T05:06:07Z")["items"][0] == item
    deleting = dict(binding("going", "edit", [user("x")]))
    deleting["metadata"].update(deletionTimestamp="2026-03-04T05:06:07Z", deletionGracePeriodSeconds=0)
    assert rbac.restorable(deleting)["metadata"] == {"name": "going"}
    assert rbac.backup_document([], now=naive) == {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": []}
