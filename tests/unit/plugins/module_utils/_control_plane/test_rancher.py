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


# -- kube-controller-manager and kube-scheduler (CIS 1.3.2, 1.3.7, 1.4.1, 1.4.2) ---------------------------------

CIS_COMPONENTS = {"kube-controller-manager": {"profiling": "false", "bind-address": "127.0.0.1"},
                  "kube-scheduler": {"profiling": "false", "bind-address": "127.0.0.1"}}
METRICS_CONFIG = """\
kube-controller-manager-arg:
  - bind-address=0.0.0.0
kube-scheduler-arg: [bind-address=0.0.0.0, profiling=true]
"""


def component_flags(documents, component):
    parsed = [load_document(text) or {} for _path, text in documents]
    return rancher.effective_flags("k3s", merge_config_documents(parsed), component=component)


@pytest.mark.parametrize("distribution,config", [("rke2", RKE2_CONFIG), ("k3s", K3S_CONFIG)])
def test_components_at_their_defaults_need_no_dropin(distribution, config, tmp_path):
    plan = rancher.plan_dropin(distribution, [(config, "token: x\n")], "hardening", {}, root=str(tmp_path),
                               component_flags=CIS_COMPONENTS)
    assert plan["content"] is None and plan["component_args"] == {} and plan["problems"] == []
    assert sorted(plan["already_effective"]) == ["kube-controller-manager bind-address",
                                                 "kube-controller-manager profiling",
                                                 "kube-scheduler bind-address", "kube-scheduler profiling"]


@pytest.mark.parametrize("distribution,config", [("rke2", RKE2_CONFIG), ("k3s", K3S_CONFIG)])
def test_component_args_go_in_the_same_dropin_after_the_users_and_win(distribution, config, tmp_path):
    documents = [(config, USER_CONFIG + METRICS_CONFIG)]
    plan = rancher.plan_dropin(distribution, documents, "hardening", {"profiling": "false"}, root=str(tmp_path),
                               component_flags=CIS_COMPONENTS)
    assert plan["problems"] == []
    assert plan["component_args"] == {"kube-controller-manager": ["bind-address=127.0.0.1"],
                                      "kube-scheduler": ["bind-address=127.0.0.1", "profiling=false"]}
    document = yaml.safe_load(plan["content"])
    assert list(document) == ["kube-controller-manager-arg+", "kube-scheduler-arg+"]  # apiserver: k3s default
    assert "Appends to kube-controller-manager-arg, kube-scheduler-arg;" in plan["content"]
    assert "profiling" in plan["already_effective"]
    # The user's settings stay where they are; the notes say the drop-in overrides them.
    assert "kube-scheduler --profiling=true from %s is overridden by the drop-in" % config in " ".join(plan["notes"])
    after = with_dropin(documents, plan)
    for component in CIS_COMPONENTS:
        flags = component_flags(after, component)
        assert (flags["profiling"], flags["bind-address"]) == ("false", "127.0.0.1"), component
    again = rancher.plan_dropin(distribution, after, "hardening", {"profiling": "false"}, root=str(tmp_path),
                                component_flags=CIS_COMPONENTS)
    assert (again["content"], again["changed"]) == (plan["content"], False)


def test_a_later_user_file_overriding_a_component_flag_is_reported_not_fought(tmp_path):
    later = "/etc/rancher/k3s/config.yaml.d/90-metrics.yaml"
    documents = [(K3S_CONFIG, "token: x\n"), (later, "kube-scheduler-arg:\n  - bind-address=0.0.0.0\n")]
    plan = rancher.plan_dropin("k3s", documents, "hardening", {}, root=str(tmp_path), component_flags=CIS_COMPONENTS)
    assert plan["problems"] == ["with the drop-in kube-scheduler --bind-address would be 0.0.0.0, not 127.0.0.1: "
                                "a later config file replaces or overrides it"]


def test_component_args_of_an_unknown_component_are_refused(tmp_path):
    with pytest.raises(ValueError, match="'etcd' is not one of kube-controller-manager, kube-scheduler"):
        rancher.plan_dropin("rke2", [], "hardening", {}, root=str(tmp_path), component_flags={"etcd": {"a": "b"}})


def test_an_apiserver_only_dropin_keeps_its_content(tmp_path):
    """Drop-ins written before the components were planned stay byte for byte (a second run changes nothing)."""
    assert rancher.render_dropin(["profiling=false"], "hardening") == (
        "# Managed by kubecompass.readiness (hardening). Appends to kube-apiserver-arg; edit your own config files,\n"
        "# not this one: it is rewritten by the next remediation.\nkube-apiserver-arg+:\n- profiling=false\n")
