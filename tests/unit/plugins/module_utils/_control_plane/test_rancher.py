"""RKE2/k3s drop-ins: kube-apiserver-arg+ appends to the user's list; flags already effective need nothing."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import audit, hardening, rancher
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import merge_config_documents
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import load_document

RKE2_CONFIG = "/etc/rancher/rke2/config.yaml"
K3S_CONFIG = "/etc/rancher/k3s/config.yaml"
RKE2_AUDIT = audit.audit_flags("/etc/rancher/rke2/kubecompass-audit-policy.yaml",
                               "/var/lib/rancher/rke2/server/logs/audit.log")
USER_CONFIG = """\
token: not-read-here
kube-apiserver-arg:
  - tls-min-version=VersionTLS11
  - enable-admission-plugins=PodSecurity
  - event-ttl=2h
"""


def effective(distribution, documents, root):
    """Flags as the server would start with these files (the _node.config model of RKE2/k3s)."""
    parsed = [load_document(text) or {} for _path, text in documents]
    return rancher.effective_flags(distribution, merge_config_documents(parsed), str(root))


def with_dropin(documents, plan):
    return [(path, text) for path, text in documents if path != plan["path"]] + [(plan["path"], plan["content"])]


def test_dropin_path_and_topic():
    assert rancher.dropin_path("rke2", "audit") == "/etc/rancher/rke2/config.yaml.d/50-kubecompass-audit.yaml"
    assert rancher.dropin_path("k3s", "hardening") == "/etc/rancher/k3s/config.yaml.d/50-kubecompass-hardening.yaml"
    with pytest.raises(ValueError, match="topic"):
        rancher.dropin_path("rke2", "../audit")
    with pytest.raises(ValueError, match="distribution"):
        rancher.dropin_path("kubeadm", "audit")


def test_audit_dropin_appends_and_leaves_the_users_list_alone(tmp_path):
    documents = [(RKE2_CONFIG, USER_CONFIG)]
    plan = rancher.plan_dropin("rke2", documents, "audit", RKE2_AUDIT["set_flags"], root=str(tmp_path))
    assert plan["problems"] == [] and plan["changed"]
    assert plan["path"] == "/etc/rancher/rke2/config.yaml.d/50-kubecompass-audit.yaml"
    document = yaml.safe_load(plan["content"])
    assert list(document) == ["kube-apiserver-arg+"]  # never the plain key, which would replace the user's list
    assert document["kube-apiserver-arg+"] == [
        "audit-log-maxage=30", "audit-log-maxbackup=10", "audit-log-maxsize=100",
        "audit-log-path=/var/lib/rancher/rke2/server/logs/audit.log",
        "audit-policy-file=/etc/rancher/rke2/kubecompass-audit-policy.yaml"]
    flags = effective("rke2", with_dropin(documents, plan), tmp_path)
    for name, value in RKE2_AUDIT["set_flags"].items():
        assert flags[name] == value
    # The user's own flags are still there.
    assert flags["event-ttl"] == "2h" and flags["enable-admission-plugins"] == "PodSecurity"
    merged = merge_config_documents([load_document(text) for _p, text in with_dropin(documents, plan)])
    assert merged["kube-apiserver-arg"][:3] == yaml.safe_load(USER_CONFIG)["kube-apiserver-arg"]


def test_replanning_over_our_own_dropin_changes_nothing(tmp_path):
    documents = [(RKE2_CONFIG, USER_CONFIG)]
    first = rancher.plan_dropin("rke2", documents, "audit", RKE2_AUDIT["set_flags"], root=str(tmp_path))
    second = rancher.plan_dropin("rke2", with_dropin(documents, first), "audit", RKE2_AUDIT["set_flags"],
                                 root=str(tmp_path))
    assert second["content"] == first["content"]
    assert second["changed"] is False


def test_flags_already_effective_need_no_dropin(tmp_path):
    # RKE2 defaults: profiling=false, NodeRestriction, anonymous-auth=false, Node,RBAC.
    config = ("kube-apiserver-arg:\n  - tls-min-version=VersionTLS12\n  - tls-cipher-suites=%s\n"
              "  - service-account-extend-token-expiration=false\n" % ",".join(hardening.DEFAULT_CIPHER_SUITES))
    documents = [(RKE2_CONFIG, config)]
    change = hardening.hardening_flags(distribution="rke2", current_flags=effective("rke2", documents, tmp_path))
    plan = rancher.plan_dropin("rke2", documents, "hardening", change["set_flags"], change["remove_flags"],
                               root=str(tmp_path))
    assert plan["content"] is None and plan["changed"] is False and plan["problems"] == []
    assert sorted(plan["already_effective"]) == sorted(change["set_flags"])
    # Our drop-in left from an earlier run is now redundant: the plan says remove it.
    stale = documents + [(plan["path"], rancher.render_dropin(["profiling=false"], "hardening"))]
    assert rancher.plan_dropin("rke2", stale, "hardening", change["set_flags"], root=str(tmp_path))["changed"]


def test_list_flags_are_appended_with_plus_so_k3s_keeps_defaults_and_user_items(tmp_path):
    documents = [(K3S_CONFIG, "kube-apiserver-arg:\n  - enable-admission-plugins=PodSecurity\n")]
    set_flags = {"enable-admission-plugins": {"add": ["NodeRestriction", "EventRateLimit"]}}
    plan = rancher.plan_dropin("k3s", documents, "hardening", set_flags, root=str(tmp_path))
    assert yaml.safe_load(plan["content"]) == {
        "kube-apiserver-arg+": ["enable-admission-plugins+=NodeRestriction,EventRateLimit"]}
    flags = effective("k3s", with_dropin(documents, plan), tmp_path)
    assert flags["enable-admission-plugins"] == "PodSecurity,NodeRestriction,EventRateLimit"
    # Without a user value the k3s default (NodeRestriction) stays and the new item is added to it.
    bare = rancher.plan_dropin("k3s", [], "hardening", set_flags, root=str(tmp_path))
    assert yaml.safe_load(bare["content"])["kube-apiserver-arg+"] == ["enable-admission-plugins+=EventRateLimit"]
    assert effective("k3s", with_dropin([], bare), tmp_path)["enable-admission-plugins"] == (
        "NodeRestriction,EventRateLimit")


def test_a_users_scalar_value_is_overridden_with_a_note(tmp_path):
    documents = [(RKE2_CONFIG, USER_CONFIG)]
    plan = rancher.plan_dropin("rke2", documents, "hardening", {"tls-min-version": "VersionTLS12"},
                               root=str(tmp_path))
    assert yaml.safe_load(plan["content"])["kube-apiserver-arg+"] == ["tls-min-version=VersionTLS12"]
    assert effective("rke2", with_dropin(documents, plan), tmp_path)["tls-min-version"] == "VersionTLS12"
    assert plan["notes"] == ["--tls-min-version=VersionTLS11 from %s is overridden by the drop-in (kube-bench reads "
                             "the first occurrence)" % RKE2_CONFIG]


def test_what_a_dropin_cannot_take_away_is_a_problem_naming_the_users_file(tmp_path):
    user = "/etc/rancher/rke2/config.yaml.d/10-user.yaml"
    documents = [(RKE2_CONFIG, "token: x\n"),
                 (user, "kube-apiserver-arg:\n  - authorization-mode=AlwaysAllow\n  - anonymous-auth=true\n"
                        "  - event-ttl=2h\n")]
    change = hardening.hardening_flags(distribution="rke2", current_flags=effective("rke2", documents, tmp_path))
    plan = rancher.plan_dropin("rke2", documents, "hardening", change["set_flags"], ["event-ttl"],
                               root=str(tmp_path))
    assert plan["problems"] == [
        "--authorization-mode=AlwaysAllow has items that must go or move, which a drop-in cannot do (wanted "
        "Node,RBAC): edit %s" % user,
        "--event-ttl=2h must go, which a drop-in cannot do: edit %s" % user]
    # A scalar the user set is simply given again: the last value wins.
    assert "anonymous-auth=false" in yaml.safe_load(plan["content"])["kube-apiserver-arg+"]
    assert effective("rke2", with_dropin(documents, plan), tmp_path)["anonymous-auth"] == "false"


def test_a_later_dropin_replacing_the_list_is_a_problem(tmp_path):
    documents = [(RKE2_CONFIG, "token: x\n"),
                 ("/etc/rancher/rke2/config.yaml.d/90-site.yaml", "kube-apiserver-arg:\n  - event-ttl=2h\n")]
    plan = rancher.plan_dropin("rke2", documents, "hardening", {"tls-min-version": "VersionTLS12"},
                               root=str(tmp_path))
    assert plan["problems"] == ["with the drop-in --tls-min-version would be None, not VersionTLS12: a later config "
                                "file replaces or overrides it"]
    earlier = [(RKE2_CONFIG, "token: x\n"),
               ("/etc/rancher/rke2/config.yaml.d/10-site.yaml", "kube-apiserver-arg:\n  - event-ttl=2h\n")]
    assert rancher.plan_dropin("rke2", earlier, "hardening", {"tls-min-version": "VersionTLS12"},
                               root=str(tmp_path))["problems"] == []


def test_k3s_audit_dropin_is_stable_text(tmp_path):
    change = audit.audit_flags("/var/lib/rancher/k3s/server/audit.yaml", "/var/lib/rancher/k3s/server/logs/audit.log")
    first = rancher.plan_dropin("k3s", [(K3S_CONFIG, "write-kubeconfig-mode: '0600'\n")], "audit",
                                change["set_flags"], root=str(tmp_path))
    second = rancher.plan_dropin("k3s", [(K3S_CONFIG, "write-kubeconfig-mode: '0600'\n")], "audit",
                                 dict(reversed(list(change["set_flags"].items()))), root=str(tmp_path))
    assert first["content"] == second["content"]
    assert first["content"].startswith("# Managed by kubecompass.readiness (audit).")


def test_a_config_that_is_not_a_mapping_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a mapping"):
        rancher.plan_dropin("rke2", [(RKE2_CONFIG, "- a\n- b\n")], "audit", {"profiling": "false"},
                            root=str(tmp_path))
