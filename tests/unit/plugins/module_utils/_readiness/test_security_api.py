"""Security checks decided from API objects: crafted objects shaped exactly as the Kubernetes API returns them."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import engine, tiers
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import security_api
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import Context

CHECKS = {check.id: check for check in security_api.CHECKS}
NOT_INSTALLED = {"error": {"category": "not_found", "message": "the server could not find the requested resource"}}
FORBIDDEN = {"error": {"category": "forbidden", "message": "forbidden: cannot list resource"}}
OPTIONAL_KINDS = ("ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies", "calicoglobalnetworkpolicies",
                  "validatingadmissionpolicies", "validatingadmissionpolicybindings")


def snapshot(kinds, tier="critical", distribution="kubeadm", version="v1.36.3"):
    entries = {kind: NOT_INSTALLED for kind in OPTIONAL_KINDS}
    entries.update({kind: value if isinstance(value, dict) else {"items": value} for kind, value in kinds.items()})
    return {"cluster": {"name": "c", "distribution": distribution, "tier": tier,
                        "version": {"gitVersion": version}},
            "kinds": entries}


def run(check_id, kinds, settings=None, **cluster):
    return engine.run_check(CHECKS[check_id], Context(snapshot(kinds, **cluster), tiers.tier_table(), settings))


def verdicts(result):
    return {o["name"]: o["verdict"] for o in result.objects}


def reasons(result):
    return {o["name"]: o["reason"] for o in result.objects}


def meta(name, namespace=None, labels=None):
    data = {"name": name}
    if namespace:
        data["namespace"] = namespace
    if labels:
        data["labels"] = labels
    return data


def namespace(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": meta(name, labels=dict({"kubernetes.io/metadata.name": name}, **labels))}


def tiered(name, tier):
    return namespace(name, **{"kubecompass.io/tier": tier})


SYSTEM_NAMESPACES = [namespace("kube-system"), namespace("kube-public"), namespace("kube-node-lease")]


# -- RBAC -------------------------------------------------------------------------------------------------------------

def user(name):
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def group(name):
    return {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def service_account(ns, name):
    return {"kind": "ServiceAccount", "name": name, "namespace": ns}


def crb(name, role, *subjects):
    return {"kind": "ClusterRoleBinding", "metadata": meta(name), "subjects": list(subjects),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}}


def rb(ns, name, role, *subjects, role_kind="ClusterRole"):
    return {"kind": "RoleBinding", "metadata": meta(name, ns), "subjects": list(subjects),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role}}


def rule(verbs, resources=("pods",), groups=("",)):
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


def cluster_role(name, *rules, labels=None):
    return {"kind": "ClusterRole", "metadata": meta(name, labels=labels), "rules": list(rules)}


def role(ns, name, *rules):
    return {"kind": "Role", "metadata": meta(name, ns), "rules": list(rules)}


BOOTSTRAP = {"kubernetes.io/bootstrapping": "rbac-defaults"}
CLUSTER_ADMIN_ROLE = cluster_role("cluster-admin", rule(["*"], ["*"], ["*"]), labels=BOOTSTRAP)
DEFAULT_CRBS = [
    crb("cluster-admin", "cluster-admin", group("system:masters")),
    crb("kubeadm:cluster-admins", "cluster-admin", group("kubeadm:cluster-admins")),
    crb("system:public-info-viewer", "system:public-info-viewer",
        group("system:authenticated"), group("system:unauthenticated")),
    crb("system:basic-user", "system:basic-user", group("system:authenticated")),
]
DEFAULT_RBS = [rb("kube-public", "kubeadm:bootstrap-signer-clusterinfo", "kubeadm:bootstrap-signer-clusterinfo",
                  user("system:anonymous"), role_kind="Role")]


def rbac(crbs=(), rbs=(), roles=(), cluster_roles=()):
    return {"clusterrolebindings": DEFAULT_CRBS + list(crbs), "rolebindings": DEFAULT_RBS + list(rbs),
            "clusterroles": [CLUSTER_ADMIN_ROLE] + list(cluster_roles), "roles": list(roles)}


def test_cluster_admin_defaults_and_system_subjects_pass():
    result = run("KC-SEC-011", rbac(crbs=[
        crb("addon-admin", "cluster-admin", service_account("kube-system", "addon-manager")),
        crb("node-admins", "cluster-admin", user("system:kube-controller-manager")),
        crb("sa-by-username", "cluster-admin", user("system:serviceaccount:kube-system:job-runner")),
    ]))
    assert result.verdict == "pass", result.message
    assert result.evidence["bindings_to_admin_roles"] == 5
    assert result.evidence["default_bindings"] == 2


def test_cluster_admin_for_a_user_fails():
    result = run("KC-SEC-011", rbac(crbs=[crb("alice-admin", "cluster-admin", user("alice"), group("system:masters"))]))
    assert result.verdict == "fail"
    assert result.objects == [{"kind": "ClusterRoleBinding", "namespace": None, "name": "alice-admin",
                               "verdict": "fail", "reason": "grants cluster-admin over the cluster to User:alice"}]


def test_rolebinding_to_cluster_admin_for_a_user_fails():
    result = run("KC-SEC-011", rbac(rbs=[
        rb("payments", "bob-admin", "cluster-admin", user("bob")),
        # A namespaced Role that happens to be called cluster-admin is not the ClusterRole.
        rb("payments", "local", "cluster-admin", user("carol"), role_kind="Role"),
    ]))
    assert result.verdict == "fail"
    assert [(o["kind"], o["namespace"], o["name"]) for o in result.objects] == [("RoleBinding", "payments",
                                                                                 "bob-admin")]
    assert "namespace payments" in result.objects[0]["reason"]


def test_binding_name_allowance_is_for_cluster_role_bindings_only():
    result = run("KC-SEC-011", rbac(rbs=[rb("payments", "cluster-admin", "cluster-admin", user("mallory"))]))
    assert verdicts(result) == {"cluster-admin": "fail"}


@pytest.mark.parametrize("subject, shown", [
    (group("system:authenticated"), "Group:system:authenticated"),
    (group("system:serviceaccounts"), "Group:system:serviceaccounts"),
    (group("system:serviceaccounts:ci"), "Group:system:serviceaccounts:ci"),
    (user("system:serviceaccount:ci:deployer"), "ServiceAccount:ci/deployer"),
    (service_account("ci", "deployer"), "ServiceAccount:ci/deployer"),
])
def test_broad_system_groups_and_application_service_accounts_are_not_system_subjects(subject, shown):
    result = run("KC-SEC-011", rbac(crbs=[crb("wide", "cluster-admin", subject)]))
    assert result.verdict == "fail"
    assert result.objects[0]["reason"].endswith("to %s" % shown)


def test_service_account_subject_without_namespace_belongs_to_the_rolebinding_namespace():
    result = run("KC-SEC-011", rbac(rbs=[rb("kube-system", "ns-admin", "cluster-admin",
                                            {"kind": "ServiceAccount", "name": "operator"})]))
    assert result.verdict == "pass"


def test_wildcard_cluster_role_counts_as_cluster_admin():
    result = run("KC-SEC-011", rbac(crbs=[crb("super", "superuser", user("dave"))],
                                    cluster_roles=[cluster_role("superuser", rule(["*"], ["*"], ["*"]))]))
    assert verdicts(result) == {"super": "fail"}
    assert "superuser" in result.evidence["admin_roles"]


def test_allowlisted_subjects_pass():
    kinds = rbac(crbs=[crb("ops", "cluster-admin", user("alice"), group("platform"), service_account("ci", "gitops"))])
    settings = {"rbac_allowed_subjects": ["User:alice", "Group:platform", "ServiceAccount:ci/gitops"]}
    assert run("KC-SEC-011", kinds, settings).verdict == "pass"
    partial = run("KC-SEC-011", kinds, {"rbac_allowed_subjects": ["User:alice"]})
    assert partial.objects[0]["reason"].endswith("to Group:platform, ServiceAccount:ci/gitops")


def test_malformed_allowlist_entry_is_unknown():
    result = run("KC-SEC-011", rbac(), {"rbac_allowed_subjects": ["alice"]})
    assert result.verdict == "unknown"
    assert "'alice'" in result.message


def test_cluster_admin_unreadable_rolebindings_is_unknown():
    kinds = dict(rbac(), rolebindings=FORBIDDEN)
    result = run("KC-SEC-011", kinds)
    assert result.verdict == "unknown"
    assert "rolebindings" in result.message


def test_wildcard_rules_in_system_and_default_roles_pass():
    result = run("KC-SEC-012", rbac(cluster_roles=[
        cluster_role("system:controller:generic", rule(["*"], ["*"], ["*"])),
        cluster_role("edit", rule(["impersonate"], ["serviceaccounts"]), labels=BOOTSTRAP),
        cluster_role("pod-reader", rule(["get", "list", "watch"])),
    ], roles=[role("app", "reader", rule(["get"], ["configmaps"]))]))
    assert result.verdict == "pass", result.message
    assert result.evidence == {"roles_examined": 2, "flagged": 0}


def test_wildcard_and_escalating_rules_fail():
    result = run("KC-SEC-012", rbac(cluster_roles=[
        cluster_role("all-verbs", rule(["*"])),
        cluster_role("binder", rule(["bind", "escalate"], ["clusterroles"], ["rbac.authorization.k8s.io"])),
        cluster_role("edit", rule(["impersonate"], ["serviceaccounts"])),  # not the bootstrap default
    ], roles=[role("app", "cluster-admin", rule(["get"], ["*"], ["*"]))]))
    assert result.verdict == "fail"
    assert reasons(result) == {
        "all-verbs": "'*' in verbs",
        "binder": "verbs bind, escalate",
        "edit": "verbs impersonate",
        "cluster-admin": "'*' in apiGroups, resources",
    }
    assert {o["namespace"] for o in result.objects} == {None, "app"}


def test_anonymous_defaults_pass():
    result = run("KC-SEC-013", rbac())
    assert result.verdict == "pass"
    assert result.evidence["default_bindings"] == ["kube-public/kubeadm:bootstrap-signer-clusterinfo",
                                                   "system:public-info-viewer"]


def test_anonymous_bindings_fail():
    result = run("KC-SEC-013", rbac(
        crbs=[crb("anon-view", "view", user("system:anonymous")),
              # The default's name with a different role is not the default.
              crb("system:public-info-viewer", "cluster-admin", group("system:unauthenticated"))],
        rbs=[rb("app", "open", "edit", group("system:unauthenticated"), user("alice"))]))
    assert result.verdict == "fail"
    assert result.evidence["flagged"] == 3
    assert reasons(result)["anon-view"] == "grants ClusterRole view to User system:anonymous"
    assert reasons(result)["open"] == "grants ClusterRole edit to Group system:unauthenticated"
    assert verdicts(result)["system:public-info-viewer"] == "fail"


# -- default ServiceAccount token --------------------------------------------------------------------------------------

def sa_object(ns, name="default", automount=None):
    item = {"kind": "ServiceAccount", "metadata": meta(name, ns)}
    if automount is not None:
        item["automountServiceAccountToken"] = automount
    return item


def pod(ns, name, account="default", automount=None, labels=None, images=("nginx:1.27",)):
    containers = [{"name": "c%d" % i, "image": image} for i, image in enumerate(images)]
    spec = {"serviceAccountName": account, "containers": containers}
    if automount is not None:
        spec["automountServiceAccountToken"] = automount
    return {"kind": "Pod", "metadata": meta(name, ns, labels), "spec": spec}


def test_default_service_account_automount_per_namespace():
    result = run("KC-SEC-014", {
        "namespaces": SYSTEM_NAMESPACES + [namespace("app"), namespace("locked"), namespace("bare"),
                                           tiered("odd", "gold")],
        "serviceaccounts": [sa_object("kube-system"), sa_object("app"), sa_object("app", "worker"),
                            sa_object("locked", automount=False), sa_object("odd")],
        "pods": [pod("app", "web"), pod("app", "batch", automount=False), pod("app", "job", account="worker"),
                 pod("locked", "quiet"), pod("locked", "needs-api", automount=True), pod("kube-system", "dns")],
    })
    assert result.verdict == "fail"
    by_namespace = {o["namespace"]: (o["verdict"], o["reason"]) for o in result.objects}
    assert by_namespace == {
        "app": ("fail", "automountServiceAccountToken is not false; 1 pod(s) mount its token: web"),
        "locked": ("pass", "automountServiceAccountToken is false; 1 pod(s) opt back in: needs-api"),
        "bare": ("pass", "no default ServiceAccount: no pod can mount its token"),
        "odd": ("unknown", by_namespace["odd"][1]),
    }
    assert "kubecompass.io/tier='gold'" in by_namespace["odd"][1]
    assert result.evidence["pods"] == ["app/web", "locked/needs-api"]
    assert result.message == "1 namespace(s) automount the default ServiceAccount token"


def test_default_service_account_all_locked_passes_and_no_namespaces_is_not_applicable():
    kinds = {"namespaces": SYSTEM_NAMESPACES + [namespace("app")],
             "serviceaccounts": [sa_object("app", automount=False)], "pods": [pod("app", "web")]}
    assert run("KC-SEC-014", kinds).verdict == "pass"
    assert run("KC-SEC-014", dict(kinds, namespaces=SYSTEM_NAMESPACES)).verdict == "not_applicable"


# -- NetworkPolicy default-deny ----------------------------------------------------------------------------------------

def netpol(ns, name, **spec):
    spec.setdefault("podSelector", {})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(name, ns), "spec": spec}


DENY_ALL = {"policyTypes": ["Ingress", "Egress"]}
DNS_EGRESS = {"policyTypes": ["Egress"], "egress": [{
    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}


def netpol_run(policies, namespaces=("app",), **extra):
    kinds = {"namespaces": SYSTEM_NAMESPACES + [namespace(n) if isinstance(n, str) else n for n in namespaces],
             "networkpolicies": policies}
    kinds.update(extra)
    return run("KC-SEC-016", kinds)


def test_default_deny_single_policy_passes():
    result = netpol_run([netpol("app", "default-deny-all", **DENY_ALL), netpol("app", "allow-dns", **DNS_EGRESS),
                         netpol("kube-system", "whatever", policyTypes=["Ingress"], ingress=[{}])])
    assert result.verdict == "pass"
    assert reasons(result) == {"app": "ingress and egress denied by default (NetworkPolicy/default-deny-all)"}
    assert result.evidence["not_installed"] == ["calicoglobalnetworkpolicies", "ciliumclusterwidenetworkpolicies",
                                                "ciliumnetworkpolicies"]


def test_default_deny_split_across_two_policies_passes():
    result = netpol_run([netpol("app", "deny-in", policyTypes=["Ingress"], ingress=[]),
                         netpol("app", "deny-out", policyTypes=["Egress"])])
    assert reasons(result) == {"app": "ingress and egress denied by default (NetworkPolicy/deny-in, "
                                      "NetworkPolicy/deny-out)"}


def test_allow_all_next_to_default_deny_cancels_it():
    result = netpol_run([netpol("app", "default-deny-all", **DENY_ALL),
                         netpol("app", "allow-all", policyTypes=["Ingress"], ingress=[{}])])
    assert result.verdict == "fail"
    assert reasons(result) == {"app": "default-deny cancelled by allow-all NetworkPolicy/allow-all (ingress)"}


@pytest.mark.parametrize("egress_rule", [
    {"to": [{"namespaceSelector": {}}]},
    {"to": [{"namespaceSelector": {}, "podSelector": {}}]},
    {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},
    {"to": [{"podSelector": {"matchLabels": {"a": "b"}}}, {"namespaceSelector": {}}]},
])
def test_allow_all_peers_cancel_egress(egress_rule):
    result = netpol_run([netpol("app", "default-deny-all", **DENY_ALL),
                         netpol("app", "open-egress", policyTypes=["Egress"], egress=[egress_rule])])
    assert reasons(result)["app"] == "default-deny cancelled by allow-all NetworkPolicy/open-egress (egress)"


@pytest.mark.parametrize("ingress_rule", [
    {"ports": [{"protocol": "TCP", "port": 8080}]},  # every source, one port
    {"from": [{"podSelector": {}}]},  # same namespace only
    {"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]},
    {"from": [{"namespaceSelector": {"matchLabels": {"team": "edge"}}}]},
])
def test_narrow_allows_do_not_cancel(ingress_rule):
    result = netpol_run([netpol("app", "default-deny-all", **DENY_ALL),
                         netpol("app", "allow-some", policyTypes=["Ingress"], ingress=[ingress_rule])])
    assert result.verdict == "pass"


def test_allow_all_on_some_pods_only_does_not_cancel():
    result = netpol_run([netpol("app", "default-deny-all", **DENY_ALL),
                         netpol("app", "open-web", podSelector={"matchLabels": {"app": "web"}},
                                policyTypes=["Ingress"], ingress=[{}])])
    assert result.verdict == "pass"


def test_pod_selector_only_policy_is_ingress_only():
    # Stored form of a policy written with only `podSelector: {}`: the apiserver defaulted policyTypes to Ingress.
    stored = netpol_run([netpol("app", "deny", policyTypes=["Ingress"])])
    # The same policy as written, before defaulting: judged the same way.
    written = netpol_run([netpol("app", "deny")])
    for result in (stored, written):
        assert result.verdict == "fail"
        assert reasons(result) == {"app": "ingress only (NetworkPolicy/deny): egress is not denied by default"}


def test_egress_only_and_missing_and_narrow_selector():
    result = netpol_run([
        netpol("egress", "deny-out", policyTypes=["Egress"]),
        netpol("narrow", "deny", podSelector={"matchLabels": {"app": "web"}}, **DENY_ALL),
        netpol("rules", "not-deny", policyTypes=["Ingress", "Egress"],
               ingress=[{"from": [{"podSelector": {"matchLabels": {"a": "b"}}}]}]),
    ], namespaces=("egress", "narrow", "rules", "none"))
    assert reasons(result) == {
        "egress": "egress only (NetworkPolicy/deny-out): ingress is not denied by default",
        "narrow": "no default-deny policy",
        "rules": "egress only (NetworkPolicy/not-deny): ingress is not denied by default",
        "none": "no default-deny policy",
    }
    assert result.message == "4 namespace(s) without a working default-deny NetworkPolicy"


def test_default_deny_invalid_tier_is_unknown_and_unreadable_kind_is_unknown():
    result = netpol_run([netpol("odd", "deny", **DENY_ALL)], namespaces=[tiered("odd", "platinum"), "app"])
    assert verdicts(result) == {"odd": "unknown", "app": "fail"}
    assert result.verdict == "fail"
    only_odd = netpol_run([netpol("odd", "deny", **DENY_ALL)], namespaces=[tiered("odd", "platinum")])
    assert only_odd.verdict == "unknown"
    assert "platinum" in only_odd.message
    forbidden = netpol_run([], ciliumclusterwidenetworkpolicies=FORBIDDEN)
    assert forbidden.verdict == "unknown"
    assert "ciliumclusterwidenetworkpolicies" in forbidden.message


def ccnp(name, **spec):
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy", "metadata": meta(name),
            "spec": spec}


CILIUM_DNS = [{"toEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system",
                                                "k8s-app": "kube-dns"}}],
               "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}]}]}]
ALL_BUT_SYSTEM = {"matchExpressions": [{"key": "k8s:io.kubernetes.pod.namespace", "operator": "NotIn",
                                        "values": ["kube-system", "cilium"]}]}


def test_cilium_clusterwide_default_deny_is_accepted():
    result = netpol_run([], namespaces=("app", "web"), ciliumclusterwidenetworkpolicies=[
        ccnp("default-deny", endpointSelector=ALL_BUT_SYSTEM, ingress=[{}], egress=CILIUM_DNS)])
    assert result.verdict == "pass"
    assert reasons(result)["app"] == ("ingress and egress denied by default "
                                      "(CiliumClusterwideNetworkPolicy/default-deny)")
    assert result.evidence["cluster_wide_policies"] == ["CiliumClusterwideNetworkPolicy/default-deny"]


def test_cilium_clusterwide_policy_in_specs_list_and_namespace_left_out():
    policy = {"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy", "metadata": meta("dd"),
              "specs": [{"endpointSelector": {"matchExpressions": [
                  {"key": "io.kubernetes.pod.namespace", "operator": "NotIn", "values": ["kube-system", "legacy"]}]},
                  "ingress": [{}], "egress": [{}]}]}
    result = netpol_run([], namespaces=("app", "legacy"), ciliumclusterwidenetworkpolicies=[policy])
    assert verdicts(result) == {"app": "pass", "legacy": "fail"}
    assert reasons(result)["legacy"] == "no default-deny policy"


def test_cilium_clusterwide_variants_that_do_not_deny():
    result = netpol_run([], namespaces=("app",), ciliumclusterwidenetworkpolicies=[
        ccnp("no-ingress-deny", endpointSelector={}, ingress=[{}], egress=CILIUM_DNS,
             enableDefaultDeny={"ingress": False}),
        ccnp("team-only", endpointSelector={"matchLabels": {"team": "a"}}, ingress=[{}], egress=[{}]),
        ccnp("not-team-b", ingress=[{}], egress=[{}],
             endpointSelector={"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["b"]}]}),
    ])
    assert reasons(result)["app"] == ("egress only (CiliumClusterwideNetworkPolicy/no-ingress-deny): ingress is not "
                                      "denied by default; CiliumClusterwideNetworkPolicy/no-ingress-deny sets "
                                      "enableDefaultDeny.ingress false")
    assert result.evidence["unrecognised_cluster_wide"] == ["CiliumClusterwideNetworkPolicy/not-team-b",
                                                            "CiliumClusterwideNetworkPolicy/team-only"]


def test_cilium_allow_all_entity_cancels_and_deny_sections_enable_default_deny():
    result = netpol_run([], namespaces=("app",), ciliumclusterwidenetworkpolicies=[
        ccnp("deny", endpointSelector={}, ingressDeny=[{"fromEntities": ["world"]}], egress=[{}]),
        ccnp("open", endpointSelector={}, ingress=[{"fromEntities": ["all"]}]),
    ])
    assert reasons(result)["app"] == "default-deny cancelled by allow-all CiliumClusterwideNetworkPolicy/open (ingress)"
    only_deny = netpol_run([], namespaces=("app",), ciliumclusterwidenetworkpolicies=[
        ccnp("deny", endpointSelector={}, ingressDeny=[{"fromEntities": ["world"]}], egress=[{}])])
    assert only_deny.verdict == "pass"
    one_port = netpol_run([], namespaces=("app",), ciliumclusterwidenetworkpolicies=[
        ccnp("deny", endpointSelector={}, ingress=[{"fromEntities": ["all"],
                                                    "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}],
             egress=[{}])])
    assert one_port.verdict == "pass"


def test_namespaced_cilium_policy_is_accepted():
    cnp = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": meta("deny", "app"),
           "spec": {"endpointSelector": {}, "ingress": [{}], "egress": [{}]}}
    some_pods = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": meta("deny", "web"),
                 "spec": {"endpointSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}], "egress": [{}]}}
    result = netpol_run([], namespaces=("app", "web"), ciliumnetworkpolicies=[cnp, some_pods])
    assert verdicts(result) == {"app": "pass", "web": "fail"}
    assert "CiliumNetworkPolicy/deny" in reasons(result)["app"]


def gnp(name, **spec):
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy", "metadata": meta(name),
            "spec": spec}


CALICO_DNS = {"action": "Allow", "protocol": "UDP",
              "destination": {"selector": "k8s-app == \"kube-dns\"", "ports": [53]}}
TIGERA_SELECTOR = 'has(projectcalico.org/name) && projectcalico.org/name not in {"kube-system", "calico-system"}'


def test_calico_documented_default_deny_is_accepted():
    result = netpol_run([], namespaces=("app",), calicoglobalnetworkpolicies=[
        gnp("default.deny-app-policy", namespaceSelector=TIGERA_SELECTOR, types=["Ingress", "Egress"],
            egress=[CALICO_DNS])])
    assert reasons(result) == {"app": "ingress and egress denied by default "
                                      "(GlobalNetworkPolicy/default.deny-app-policy)"}


@pytest.mark.parametrize("selectors", [
    {"selector": "all()"},
    {},
    {"selector": "projectcalico.org/namespace not in {'kube-system'}", "namespaceSelector": "all()"},
])
def test_calico_recognised_selector_forms(selectors):
    result = netpol_run([], calicoglobalnetworkpolicies=[gnp("deny", types=["Ingress", "Egress"], **selectors)])
    assert result.verdict == "pass"


def test_calico_policy_naming_an_application_namespace_leaves_it_out():
    result = netpol_run([], namespaces=("app", "legacy"), calicoglobalnetworkpolicies=[
        gnp("deny", namespaceSelector='projectcalico.org/name not in {"kube-system", "legacy"}',
            types=["Ingress", "Egress"])])
    assert verdicts(result) == {"app": "pass", "legacy": "fail"}


def test_calico_extra_allow_rule_breaks_that_direction():
    result = netpol_run([], namespaces=("app",), calicoglobalnetworkpolicies=[
        gnp("deny", namespaceSelector=TIGERA_SELECTOR, types=["Ingress", "Egress"], egress=[CALICO_DNS],
            ingress=[{"action": "Allow", "source": {"namespaceSelector": "team == 'edge'"}}])])
    assert result.verdict == "fail"
    assert reasons(result)["app"] == ("egress only (GlobalNetworkPolicy/deny): ingress is not denied by default; "
                                      "GlobalNetworkPolicy/deny allows ingress beyond DNS")


def test_calico_unconstrained_allow_cancels_and_unrecognised_selector_is_ignored():
    result = netpol_run([netpol("app", "deny", **DENY_ALL)], namespaces=("app",), calicoglobalnetworkpolicies=[
        gnp("open", selector="all()", types=["Egress"], egress=[{"action": "Allow"}]),
        gnp("team", namespaceSelector="team == 'a'", types=["Ingress", "Egress"]),
        # Workload endpoints carry projectcalico.org/namespace, not projectcalico.org/name: this selects nothing.
        gnp("nothing", selector="has(projectcalico.org/name)", types=["Ingress", "Egress"]),
    ])
    assert reasons(result)["app"] == "default-deny cancelled by allow-all GlobalNetworkPolicy/open (egress)"
    assert result.evidence["unrecognised_cluster_wide"] == ["GlobalNetworkPolicy/nothing", "GlobalNetworkPolicy/team"]


def test_calico_types_default_to_ingress_without_egress_rules():
    result = netpol_run([], calicoglobalnetworkpolicies=[gnp("deny", selector="all()")])
    assert reasons(result)["app"] == "ingress only (GlobalNetworkPolicy/deny): egress is not denied by default"


# -- Pod Security Admission --------------------------------------------------------------------------------------------

def psa(name, level=None, version=None, tier=None):
    labels = {}
    if level:
        labels["pod-security.kubernetes.io/enforce"] = level
    if version:
        labels["pod-security.kubernetes.io/enforce-version"] = version
    if tier:
        labels["kubecompass.io/tier"] = tier
    return namespace(name, **labels)


def test_pod_security_levels_by_tier():
    result = run("KC-SEC-017", {"namespaces": SYSTEM_NAMESPACES + [
        psa("strict", "restricted"),
        psa("loose", "baseline"),
        psa("unlabelled"),
        psa("team", "baseline", tier="important"),
        psa("lab", "privileged", tier="best_effort"),
        psa("typo", "strict"),
        psa("odd", "restricted", tier="gold"),
        psa("pinned", "restricted", version="v1.29"),
        psa("current", "restricted", version="v1.36"),
        psa("latest", "restricted", version="latest"),
    ]})
    assert result.verdict == "fail"
    assert reasons(result) == {
        "strict": "enforce=restricted; tier critical requires restricted",
        "loose": "enforce=baseline is too weak; tier critical requires restricted",
        "unlabelled": "no enforce label: relies on the cluster default (not visible through the API); tier critical "
                      "requires restricted",
        "team": "enforce=baseline; tier important requires baseline",
        "lab": "enforce=privileged is too weak; tier best_effort requires baseline",
        "typo": "enforce label 'strict' is not a Pod Security level; tier critical requires restricted",
        "odd": reasons(result)["odd"],
        "pinned": "enforce=restricted; tier critical requires restricted; enforce-version v1.29 is pinned older than "
                  "the server (1.36)",
        "current": "enforce=restricted; tier critical requires restricted",
        "latest": "enforce=restricted; tier critical requires restricted",
    }
    assert verdicts(result)["odd"] == "unknown"
    assert verdicts(result)["pinned"] == "pass"
    assert result.message == "4 namespace(s) below their tier's Pod Security level"
    assert result.evidence["enforce_levels"]["unlabelled"] == 1


def test_pod_security_levels_setting_overrides_and_is_validated():
    kinds = {"namespaces": SYSTEM_NAMESPACES + [psa("app", "baseline")]}
    assert run("KC-SEC-017", kinds).verdict == "fail"
    assert run("KC-SEC-017", kinds, {"psa_levels": {"critical": "baseline"}}).verdict == "pass"
    bad = run("KC-SEC-017", kinds, {"psa_levels": {"critical": "strict"}})
    assert bad.verdict == "unknown"
    assert "psa_levels.critical='strict'" in bad.message
    assert run("KC-SEC-017", {"namespaces": SYSTEM_NAMESPACES}).verdict == "not_applicable"


# -- Ingress TLS -------------------------------------------------------------------------------------------------------

def ingress(ns, name, hosts=(), tls=None):
    spec = {"rules": [dict({"http": {"paths": []}}, **({"host": h} if h else {})) for h in hosts]}
    if tls is not None:
        spec["tls"] = [dict({"secretName": "cert"}, **({"hosts": list(t)} if t else {})) for t in tls]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta(name, ns), "spec": spec}


def test_ingress_tls_coverage():
    result = run("KC-SEC-018", {"namespaces": SYSTEM_NAMESPACES + [namespace("app"), tiered("odd", "gold")],
                                "ingresses": [
        ingress("app", "full", ["a.example.com", "b.example.com"], tls=[["a.example.com"], ["b.example.com"]]),
        ingress("app", "wildcard", ["shop.example.com"], tls=[["*.example.com"]]),
        ingress("app", "hostless", [None], tls=[[]]),
        ingress("app", "plain", ["c.example.com"]),
        ingress("app", "partial", ["a.example.com", "d.example.com"], tls=[["a.example.com"]]),
        ingress("app", "deep", ["x.shop.example.com"], tls=[["*.example.com"]]),
        ingress("app", "hostless-uncovered", [None], tls=[["a.example.com"]]),
        ingress("odd", "anything", ["e.example.com"], tls=[["e.example.com"]]),
        ingress("kube-system", "dashboard", ["k.example.com"]),
    ]})
    assert result.verdict == "fail"
    assert reasons(result) == {
        "full": "TLS covers every host",
        "wildcard": "TLS covers every host",
        "hostless": "TLS covers every host",
        "plain": "no tls section: served over plain HTTP",
        "partial": "hosts without TLS: d.example.com",
        "deep": "hosts without TLS: x.shop.example.com",
        "hostless-uncovered": "hosts without TLS: (rules without host)",
        "anything": reasons(result)["anything"],
    }
    assert verdicts(result)["anything"] == "unknown"
    assert result.evidence == {"ingresses": 8, "without_full_tls": 4}


def test_ingress_tls_pass_and_none():
    kinds = {"namespaces": SYSTEM_NAMESPACES + [namespace("app")],
             "ingresses": [ingress("app", "web", ["a.example.com"], tls=[["a.example.com"]])]}
    assert run("KC-SEC-018", kinds).verdict == "pass"
    none = run("KC-SEC-018", dict(kinds, ingresses=[ingress("kube-system", "x", ["k.example.com"])]))
    assert none.verdict == "not_applicable"
    assert none.message == "no Ingress in application namespaces"


# -- add-ons -----------------------------------------------------------------------------------------------------------

def crd(name):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": meta(name)}


def webhook(name, kind="ValidatingWebhookConfiguration"):
    return {"kind": kind, "metadata": meta(name), "webhooks": []}


def addons(crds=(), validating=(), mutating=(), **extra):
    kinds = {"customresourcedefinitions": [crd(n) for n in crds],
             "validatingwebhookconfigurations": [webhook(n) for n in validating],
             "mutatingwebhookconfigurations": [webhook(n, "MutatingWebhookConfiguration") for n in mutating]}
    kinds.update(extra)
    return kinds


def vap(name, labels=None):
    return {"kind": "ValidatingAdmissionPolicy", "metadata": meta(name, labels=labels), "spec": {}}


def vap_binding(name, policy, actions):
    return {"kind": "ValidatingAdmissionPolicyBinding", "metadata": meta(name),
            "spec": {"policyName": policy, "validationActions": list(actions)}}


@pytest.mark.parametrize("kinds, found", [
    (addons(["clusterpolicies.kyverno.io"], ["kyverno-resource-validating-webhook-cfg"]),
     "Kyverno (kyverno-resource-validating-webhook-cfg)"),
    (addons(["constrainttemplates.templates.gatekeeper.sh"], ["gatekeeper-validating-webhook-configuration"]),
     "OPA Gatekeeper"),
    (addons(validatingadmissionpolicies=[vap("no-latest")],
            validatingadmissionpolicybindings=[vap_binding("no-latest", "no-latest", ["Deny", "Audit"])]),
     "ValidatingAdmissionPolicyBinding(s) with Deny: no-latest"),
])
def test_policy_engine_found(kinds, found):
    result = run("KC-SEC-019", kinds)
    assert result.verdict == "pass"
    assert result.evidence["found"] == [found]


@pytest.mark.parametrize("kinds, detail", [
    (addons(), ""),
    (addons(["clusterpolicies.kyverno.io"], ["some-other-webhook"]),
     "; Kyverno CRDs without a kyverno validating webhook"),
    (addons(["constrainttemplates.templates.gatekeeper.sh"]),
     "; Gatekeeper CRDs without gatekeeper-validating-webhook-configuration"),
    (addons(validatingadmissionpolicies=[vap("no-latest")],
            validatingadmissionpolicybindings=[vap_binding("warn", "no-latest", ["Warn", "Audit"])]), ""),
    (addons(validatingadmissionpolicies=[vap("gke-managed", {"addonmanager.kubernetes.io/mode": "Reconcile"})],
            validatingadmissionpolicybindings=[vap_binding("managed", "gke-managed", ["Deny"])]), ""),
    (addons(validatingadmissionpolicies=[],
            validatingadmissionpolicybindings=[vap_binding("dangling", "missing", ["Deny"])]), ""),
])
def test_policy_engine_missing_fails(kinds, detail):
    result = run("KC-SEC-019", kinds)
    assert result.verdict == "fail"
    assert result.message == ("no enforcing policy engine (Kyverno, Gatekeeper or a Deny ValidatingAdmissionPolicy)"
                              + detail)


def test_addon_checks_are_not_applicable_for_best_effort():
    for check_id in ("KC-SEC-019", "KC-SEC-020", "KC-SEC-021", "KC-SEC-022"):
        result = run(check_id, addons(daemonsets=[]), tier="best_effort")
        assert result.verdict == "not_applicable", check_id


def test_policy_engine_unreadable_webhooks_is_unknown():
    result = run("KC-SEC-019", addons(validatingwebhookconfigurations=FORBIDDEN))
    assert result.verdict == "unknown"
    assert "validatingwebhookconfigurations" in result.message


@pytest.mark.parametrize("kinds, found", [
    (addons(["clusterimagepolicies.policy.sigstore.dev"]), "Sigstore policy-controller"),
    (addons(validating=["policy.sigstore.dev"]), "Sigstore policy-controller"),
    (addons(["clusterpolicies.kyverno.io", "imagevalidatingpolicies.policies.kyverno.io"]),
     "Kyverno ImageValidatingPolicy"),
    (addons(["verifiers.config.ratify.deislabs.io"]), "Ratify"),
    (addons(mutating=["connaisseur-webhook"]), "Connaisseur"),
    (addons(["vulnerabilityreports.aquasecurity.github.io"]), "Trivy operator (scanning)"),
])
def test_image_admission_found(kinds, found):
    result = run("KC-SEC-020", kinds)
    assert result.verdict == "pass"
    assert result.evidence["found"] == [found]


def test_image_admission_kyverno_alone_is_unknown_and_nothing_fails():
    kyverno = run("KC-SEC-020", addons(["clusterpolicies.kyverno.io"], ["kyverno-resource-validating-webhook-cfg"]))
    assert kyverno.verdict == "unknown"
    assert "possible, not verified" in kyverno.message
    assert run("KC-SEC-020", addons(["certificates.cert-manager.io"])).verdict == "fail"


@pytest.mark.parametrize("kinds, found", [
    (addons(["externalsecrets.external-secrets.io"]), "External Secrets Operator"),
    (addons(["secretproviderclasses.secrets-store.csi.x-k8s.io"]), "Secrets Store CSI driver"),
    (addons(mutating=["vault-agent-injector-cfg"]), "Vault agent injector"),
])
def test_external_secrets_found(kinds, found):
    result = run("KC-SEC-021", kinds)
    assert result.verdict == "pass"
    assert result.evidence["found"] == [found]


def test_external_secrets_missing_fails():
    # A validating webhook with the injector's name is not the (mutating) injector.
    result = run("KC-SEC-021", addons(validating=["vault-agent-injector-cfg"]))
    assert result.verdict == "fail"


# -- DaemonSet fingerprints --------------------------------------------------------------------------------------------

def daemonset(ns, name, images=("busybox:1.36",), env=None):
    containers = [{"name": "c%d" % i, "image": image} for i, image in enumerate(images)]
    if env:
        containers[0]["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta(name, ns),
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}}}


KUBE_PROXY = daemonset("kube-system", "kube-proxy", ["registry.k8s.io/kube-proxy:v1.36.3"])


@pytest.mark.parametrize("ds, found", [
    (daemonset("falco", "falco", ["docker.io/falcosecurity/falco:0.41.0"]), "Falco"),
    (daemonset("security", "node-agent", ["docker.io/falcosecurity/falco-no-driver:0.41.0"]), "Falco"),
    (daemonset("kube-system", "tetragon", ["quay.io/cilium/tetragon:v1.4.0"]), "Tetragon"),
    (daemonset("sysdig", "sysdig-agent", ["quay.io/sysdig/agent-slim:13"]), "Sysdig"),
    (daemonset("neuvector", "neuvector-enforcer-pod", ["neuvector/enforcer:5.4"]), "NeuVector"),
    (daemonset("aqua", "aqua-agent", ["registry.aquasec.com/enforcer:2022.4"]), "Aqua enforcer"),
    (daemonset("twistlock", "twistlock-defender-ds", ["registry/twistlock/defender:defender_32"]),
     "Prisma Cloud defender"),
    (daemonset("kube-system", "microsoft-defender-collector-ds", ["mcr.microsoft.com/x:1"]), "Microsoft Defender"),
    (daemonset("amazon-guardduty", "aws-guardduty-agent", ["ecr/aws-guardduty-agent:v1.7"]), "GuardDuty agent"),
    (daemonset("datadog", "datadog-agent", ["gcr.io/datadoghq/agent:7"],
               env={"DD_RUNTIME_SECURITY_CONFIG_ENABLED": "true"}), "Datadog Cloud Workload Security"),
])
def test_runtime_detection_found(ds, found):
    result = run("KC-SEC-022", {"daemonsets": [KUBE_PROXY, ds]})
    assert result.verdict == "pass"
    assert result.evidence["found"] == [found]


def test_runtime_detection_missing_self_managed_fails_managed_is_unknown():
    kinds = {"daemonsets": [KUBE_PROXY, daemonset("datadog", "datadog-agent", ["gcr.io/datadoghq/agent:7"])]}
    result = run("KC-SEC-022", kinds)
    assert result.verdict == "fail"
    assert "datadog/datadog-agent is a Datadog agent without DD_RUNTIME_SECURITY_CONFIG_ENABLED=true" in result.message
    managed = run("KC-SEC-022", kinds, distribution="eks")
    assert managed.verdict == "unknown"
    assert "eks provider API" in managed.message
    falco = run("KC-SEC-022", {"daemonsets": [daemonset("falco", "falco")]}, distribution="gke")
    assert falco.verdict == "pass"


def cni_run(daemonsets=(), pods=(), crds=(), configmaps=(), distribution="kubeadm"):
    kinds = {"daemonsets": [KUBE_PROXY] + list(daemonsets), "pods": list(pods),
             "customresourcedefinitions": [crd(n) for n in crds],
             "kube_system_configmaps": configmaps if isinstance(configmaps, dict) else {"items": list(configmaps)}}
    return run("KC-SEC-023", kinds, distribution=distribution)


@pytest.mark.parametrize("ds, cni", [
    (daemonset("calico-system", "calico-node", ["docker.io/calico/node:v3.30.0"]), "Calico"),
    (daemonset("kube-system", "rke2-canal", ["rancher/hardened-calico:v3.29", "rancher/hardened-flannel:v0.26"]),
     "Calico, Canal"),
    (daemonset("kube-system", "cilium", ["quay.io/cilium/cilium:v1.18.0"]), "Cilium"),
    (daemonset("kube-system", "anetd", ["gke.gcr.io/cilium/cilium:v1.15"]), "Cilium"),
    (daemonset("kube-system", "antrea-agent", ["antrea/antrea-agent-ubuntu:v2.3"]), "Antrea"),
    (daemonset("kube-system", "weave-net", ["weaveworks/weave-kube:2.8.1"]), "Weave Net"),
    (daemonset("kube-system", "kube-router", ["cloudnativelabs/kube-router:v2.5"]), "kube-router"),
    (daemonset("kube-system", "azure-npm", ["mcr.microsoft.com/containernetworking/azure-npm:v1.6"]), "Azure NPM"),
])
def test_cni_enforcing(ds, cni):
    result = cni_run([ds])
    assert result.verdict == "pass"
    assert result.message == "NetworkPolicy enforced by %s" % cni


def test_cni_found_from_kube_system_pods():
    result = cni_run(pods=[pod("kube-system", "calico-node-x7k2p", images=["docker.io/calico/node:v3.30.0"])])
    assert result.message == "NetworkPolicy enforced by Calico"


def test_flannel_alone_fails_and_k3s_without_cni_passes():
    flannel = daemonset("kube-flannel", "kube-flannel-ds", ["ghcr.io/flannel-io/flannel:v0.27.0"])
    result = cni_run([flannel])
    assert result.verdict == "fail"
    assert result.message == "NetworkPolicies are not enforced: Flannel does not enforce NetworkPolicy"
    k3s = cni_run(distribution="k3s")
    assert k3s.verdict == "pass"
    assert "embedded network policy controller" in k3s.message
    assert cni_run([flannel], distribution="k3s").verdict == "fail"


def test_aws_vpc_cni_depends_on_the_policy_controller_flag():
    aws = daemonset("kube-system", "aws-node", ["602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.19"])
    enabled = {"kind": "ConfigMap", "metadata": meta("amazon-vpc-cni", "kube-system"),
               "data": {"enable-network-policy-controller": "true"}}
    disabled = dict(enabled, data={"enable-network-policy-controller": "false"})
    assert cni_run([aws], configmaps=[enabled], distribution="eks").message == "NetworkPolicy enforced by AWS VPC CNI"
    result = cni_run([aws], configmaps=[disabled], distribution="eks")
    assert result.verdict == "fail"
    assert "enable-network-policy-controller" in result.message
    assert cni_run([aws], distribution="eks").verdict == "fail"
    forbidden = cni_run([aws], configmaps=FORBIDDEN, distribution="eks")
    assert forbidden.verdict == "unknown"
    assert "kube_system_configmaps" in forbidden.message
    # The node termination handler shares the aws-node prefix but is not the CNI.
    nth = daemonset("kube-system", "aws-node-termination-handler", ["public.ecr.aws/aws-ec2/nth:v1.22"])
    assert cni_run([nth]).verdict == "unknown"


def test_unrecognised_or_kindnet_cni_is_unknown():
    kindnet = cni_run([daemonset("kube-system", "kindnet", ["docker.io/kindest/kindnetd:v20250512"])])
    assert kindnet.verdict == "unknown"
    assert "kind v0.24.0" in kindnet.message
    nothing = cni_run([daemonset("monitoring", "node-exporter")], crds=["ciliumnetworkpolicies.cilium.io"])
    assert nothing.verdict == "unknown"
    assert nothing.message == ("no recognised CNI agent (CRDs of Cilium installed, no agent running); DaemonSets "
                               "seen: kube-system/kube-proxy, monitoring/node-exporter")


def test_catalog_entries_are_well_formed():
    assert sorted(CHECKS) == ["KC-SEC-0%d" % n for n in (11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 22, 23)]
    for check in security_api.CHECKS:
        assert check.area == "security"
        assert 2 <= check.runbook.count(". ") + 1 <= 5, check.id
    namespace_scoped = {c.id: c.remediation for c in security_api.CHECKS if c.scope == "namespace"}
    assert namespace_scoped == {
        "KC-SEC-014": {"role": "namespace_guardrails", "tag": "guardrails"},
        "KC-SEC-016": {"role": "network_policies", "tag": "netpol"},
        "KC-SEC-017": {"role": "pod_security", "tag": "psa"},
        "KC-SEC-018": None,
    }
