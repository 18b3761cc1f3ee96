"""Issue 5 acceptance 5 on the local control plane: bad input gives a clear message and the other namespaces are
still handled - a namespace the play may not write to, a namespace with an unknown tier label, an unknown tier."""

from __future__ import annotations

import json

import pytest

from tests.helpers import VENV_BIN, ansible_env, ansible_module, run
from tests.integration import seed

RBAC = "rbac.authorization.k8s.io/v1"
NAMESPACES = {"bad-ok": "critical", "bad-denied": "critical", "bad-gold": "gold"}


@pytest.fixture
def limited(control_plane):
    """A user who may read cluster-wide but write NetworkPolicies only in bad-ok and bad-gold."""
    client = control_plane.client()
    for name, tier in NAMESPACES.items():
        seed.create(client, {"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": name, "labels": {"kubecompass.io/tier": tier}}})
    seed.create(client, {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "bad-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["namespaces", "pods"], "verbs": ["get", "list"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list"]}]})
    seed.create(client, {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": "bad-reader"},
                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                     "name": "bad-reader"},
                         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bad-user"}]})
    for namespace in ("bad-ok", "bad-gold"):
        seed.create(client, {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "netpol-writer",
                                                                              "namespace": namespace},
                             "rules": [{"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                                        "verbs": ["get", "create", "patch", "update"]}]})
        seed.create(client, {"apiVersion": RBAC, "kind": "RoleBinding",
                             "metadata": {"name": "netpol-writer", "namespace": namespace},
                             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                         "name": "netpol-writer"},
                             "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                           "name": "bad-user"}]})
    seed.create(client, {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "coredns-bad", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
        "spec": {"containers": [{"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.12.1"}]}})
    yield control_plane
    for name in NAMESPACES:
        client.request("DELETE", f"/api/v1/namespaces/{name}")
    client.request("DELETE", "/api/v1/namespaces/kube-system/pods/coredns-bad?gracePeriodSeconds=0")
    client.request("DELETE", f"/apis/{RBAC}/clusterrolebindings/bad-reader")
    client.request("DELETE", f"/apis/{RBAC}/clusterroles/bad-reader")


@pytest.mark.nodes(1)
def test_a_forbidden_namespace_and_an_unknown_tier_label_do_not_stop_the_others(limited):
    code, result, output = ansible_module("kubecompass.readiness.network_policies", {
        "kubeconfig": str(limited.kubeconfig), "impersonate_user": "bad-user", "tier": "best_effort",
        "tiers": ["critical"]})
    assert code != 0 and "Traceback" not in output
    assert "bad-denied" in result["msg"] and "forbidden" in result["msg"], result.get("msg")
    by_name = {entry["namespace"]: entry for entry in result["namespaces"]}
    assert [a["action"] for a in by_name["bad-ok"]["applied"]] == ["created", "created"]
    assert by_name["bad-denied"]["error"] and "forbidden" in by_name["bad-denied"]["error"]
    assert by_name["bad-gold"]["action"] == "skip" and "gold" in by_name["bad-gold"]["reason"]
    names = [p["metadata"]["name"] for p in limited.client().request(
        "GET", "/apis/networking.k8s.io/v1/namespaces/bad-ok/networkpolicies")["items"]]
    assert sorted(names) == ["kubecompass-allow-dns", "kubecompass-default-deny"]


@pytest.mark.nodes(1)
def test_an_unknown_tier_is_refused_with_the_allowed_values(control_plane, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"ansible.builtin.include_role": {"name": "kubecompass.readiness.network_policies"},
         "vars": {"network_policies_tiers": ["gold"], "network_policies_kubeconfig": str(control_plane.kubeconfig)}}]}]))
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
                 env=ansible_env())
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "network_policies_tiers" in output and "critical, important, best_effort" in output, output[-2000:]
