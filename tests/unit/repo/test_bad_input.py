"""Bad input: every kubecompass_settings option and every encryption_plan option fed a wrong type (and a wrong
encryption_key_escrow provider) gives one line naming the variable, never a traceback; the assess playbook reports
such a cluster as `error`, never `unreachable`."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kubecompass.readiness.plugins.action import encryption_key_escrow, encryption_plan
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.assess import SETTINGS, assess
from tests.helpers import REPO, VENV_BIN, ansible_env, run

# Values of every JSON/YAML type, each wrong for some option.
WRONG = [None, True, 0, -1, 10 ** 12, 1.5, "", "x", [], [None], [{"x": 1}], [["a"]], [1], {}, {"a": 1},
         {"a": None}, {"a": [1]}]

# (option, value, message): the bad-input table of the closing note. Every setting appears.
SETTINGS_TABLE = [
    ("excluded_namespaces", [{"a": 1}], "kubecompass_settings.excluded_namespaces[0] must be a non-empty string, "
                                        "not {'a': 1}"),
    ("excluded_namespaces", ["shop", 7], "kubecompass_settings.excluded_namespaces[1] must be a non-empty string"),
    ("excluded_namespaces", "shop", "kubecompass_settings.excluded_namespaces must be a list of strings, not 'shop'"),
    ("frameworks", [None], "kubecompass_settings.frameworks[0] must be a non-empty string, not None"),
    ("frameworks", [["pci_dss"]], "kubecompass_settings.frameworks[0] must be a non-empty string, not ['pci_dss']"),
    ("rbac_allowed_subjects", [{"User": "alice"}], "kubecompass_settings.rbac_allowed_subjects[0] must be a "
                                                   "non-empty string"),
    ("psa_levels", {"critical": ["restricted"]}, "kubecompass_settings.psa_levels.critical must be a string, "
                                                 "not ['restricted']"),
    ("psa_levels", ["critical"], "kubecompass_settings.psa_levels must be a mapping of strings, not ['critical']"),
    ("rpo_evidence", [{"x": 1}], "kubecompass_settings.rpo_evidence[0] must be a non-empty string, not {'x': 1}"),
    ("rpo_evidence", [""], "kubecompass_settings.rpo_evidence[0] must be a non-empty string, not ''"),
    ("audit_offcluster_retention_days", -1, "kubecompass_settings.audit_offcluster_retention_days must be a whole "
                                            "number from 0 to 36500, not -1"),
    ("audit_offcluster_retention_days", "400", "kubecompass_settings.audit_offcluster_retention_days must be a "
                                               "whole number from 0 to 36500, not '400'"),
    ("audit_log_max_silence_minutes", True, "kubecompass_settings.audit_log_max_silence_minutes must be a whole "
                                            "number from 1 to 525600, not True"),
    ("etcd_snapshot_max_age_hours", 10 ** 12, "kubecompass_settings.etcd_snapshot_max_age_hours must be a whole "
                                              "number from 1 to 87600, not 1000000000000"),
    ("etcd_snapshot_max_age_hours", 1.5, "kubecompass_settings.etcd_snapshot_max_age_hours must be a whole number"),
    ("assessment_interval_days", 0, "kubecompass_settings.assessment_interval_days must be a whole number from 1 "
                                    "to 366, not 0"),
    ("unknown", 1, "kubecompass_settings: unknown setting 'unknown'"),
]


def assess_with(settings):
    """The assessment without a Kubernetes API (checks run on nothing gathered): input is validated first."""
    return assess(None, "c1", "critical", distribution="kubeadm", settings=settings)


def test_the_table_covers_every_setting():
    assert {option for option, _value, _message in SETTINGS_TABLE} >= set(SETTINGS)


@pytest.mark.parametrize("option, value, message", SETTINGS_TABLE)
def test_a_wrong_setting_is_one_line_naming_it(option, value, message):
    with pytest.raises(KubeCompassError) as caught:
        assess_with({option: value})
    assert caught.value.category == "input"
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


@pytest.mark.parametrize("option", sorted(SETTINGS))
def test_every_setting_fed_every_type_is_accepted_or_an_input_error(option):
    """Property over the value space: no wrong type reaches a check (a crash there was 'unreachable')."""
    for value in WRONG:
        try:
            assess_with({option: value})
        except KubeCompassError as exc:
            assert exc.category == "input" and str(exc).startswith("kubecompass_settings.%s" % option)


def test_good_settings_still_pass():
    result = assess_with({"excluded_namespaces": ["legacy"], "frameworks": ["cis_kubernetes"],
                          "rbac_allowed_subjects": ["User:alice"], "psa_levels": {"critical": "restricted"},
                          "rpo_evidence": ["shop"], "audit_offcluster_retention_days": 365,
                          "audit_log_max_silence_minutes": 60, "etcd_snapshot_max_age_hours": 24,
                          "assessment_interval_days": 7})
    assert result["status"] == "assessed"


# encryption_plan ----------------------------------------------------------------------------------------------

CONFIG = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - secretbox:
      keys:
      - name: k1
        secret: c2VjcmV0aXMzMmJ5dGVzbG9uZ3NlY3JldGlzMzJieXQ=
  - identity: {}
"""


def plan_outcome(args):
    """What the action reports: ('spec', message) for Ansible's argument check, ('input', message) for a
    KubeCompassError, ('planned', state). Anything else propagates: a traceback."""
    validated = ArgumentSpecValidator(encryption_plan.ARGUMENT_SPEC).validate(args)
    if validated.error_messages:
        return "spec", "; ".join(validated.error_messages)
    try:
        return "planned", encryption_plan.plan(validated.validated_parameters)["state"]
    except KubeCompassError as exc:
        return exc.category, str(exc)


ENCRYPTION_PLAN_TABLE = [
    ("nodes", {"cp1": 7}, "nodes.cp1 must be the text of an encryption configuration or null, not a value of "
                          "type int"),
    ("nodes", {"cp1": {"secret": "c2VjcmV0"}}, "nodes.cp1 must be the text of an encryption configuration or null, "
                                               "not a value of type dict"),
    ("etcd_scan", {"by_prefix": ["k8s:enc:secretbox:v1:k1"]},
     "cannot plan the encryption step: etcd_scan.by_prefix must map storage prefixes to counts, not "
     "['k8s:enc:secretbox:v1:k1']"),
    ("etcd_scan", {"by_prefix": {"k8s:enc:secretbox:v1:k1": "3"}},
     "cannot plan the encryption step: etcd scan count for k8s:enc:secretbox:v1:k1 must be a non-negative integer"),
    ("retired_keys", {"k8s:enc:secretbox:v1:k0": "node:/snap"}, "retired_keys[k8s:enc:secretbox:v1:k0] must be a "
                                                                "list of snapshot ids"),
    ("rotate", "maybe", "argument 'rotate' is of type str"),
    ("provider", "aesgcm", "value of provider must be one of: aescbc, secretbox, kms, got: aesgcm"),
    ("kms_timeout", "soon", "kms kms1: timeout must be a duration such as 3s"),
]


@pytest.mark.parametrize("option, value, message", ENCRYPTION_PLAN_TABLE)
def test_a_wrong_encryption_plan_option_is_one_line_naming_it(option, value, message):
    args = {"nodes": {"cp1": CONFIG}, option: value}
    if option == "kms_timeout":
        args.update(provider="kms", kms_name="kms1", kms_endpoint="unix:///run/kms.sock")
    kind, text = plan_outcome(args)
    assert kind != "planned" and message in text and "\n" not in text


# encryption_key_escrow: a key's provider is one of the keyed providers, listed in _k8s.encryption's order.
ESCROW_KEY = {"name": "k1", "provider": "aescbc", "fingerprint": "0" * 16, "secret": "c2VjcmV0"}
ESCROW_TABLE = [
    ("keys", [dict(ESCROW_KEY, provider="kms")],
     "encryption_key_escrow: value of provider must be one of: aescbc, aesgcm, secretbox, got: kms found in keys"),
]


@pytest.mark.parametrize("option, value, message", ESCROW_TABLE)
def test_a_wrong_encryption_key_escrow_option_is_one_line_naming_it(option, value, message):
    with pytest.raises(AnsibleActionFail) as failure:
        encryption_key_escrow.validated({"cluster": "prod", "path": "/tmp/prod.vault.json", option: value})
    text = str(failure.value)
    assert message in text and "\n" not in text and ESCROW_KEY["secret"] not in text


def test_a_wrong_node_value_is_named_by_its_type_never_echoed():
    kind, text = plan_outcome({"nodes": {"cp1": {"aescbc": {"keys": [{"name": "k1", "secret": "c2VjcmV0"}]}}}})
    assert kind == "input" and "not a value of type dict" in text and "c2VjcmV0" not in text


@pytest.mark.parametrize("option", sorted(encryption_plan.ARGUMENT_SPEC))
def test_every_encryption_plan_option_fed_every_type_never_crashes(option):
    for value in WRONG:
        plan_outcome({"nodes": {"cp1": CONFIG}, option: value})  # raises (fails the test) on a crash


@pytest.mark.parametrize("where", ["node", "by_prefix"])
def test_every_element_of_the_nested_inputs_never_crashes(where):
    for value in WRONG:
        if where == "node":
            plan_outcome({"nodes": {"cp1": value}})
        else:
            plan_outcome({"nodes": {"cp1": CONFIG}, "etcd_scan": {"by_prefix": value}})
            plan_outcome({"nodes": {"cp1": CONFIG}, "etcd_scan": {"by_prefix": {"k8s:enc:secretbox:v1:k1": value}}})


# The assess playbook --------------------------------------------------------------------------------------------


def test_the_playbook_reports_bad_settings_as_error_naming_the_variable(tmp_path):
    """No cluster needed: hosts without a Kubernetes API, each with one bad setting, and one with settings that are
    not a mapping at all. Each is `error` with one line naming kubecompass_settings; none is `unreachable`."""
    bad = {"elements": {"rpo_evidence": [{"x": 1}]}, "namespaces": {"excluded_namespaces": [{"a": 1}]},
           "frameworks": {"frameworks": [None]}, "notamapping": "excluded_namespaces=shop",
           "alist": ["excluded_namespaces"]}
    hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python"),
                    "kubecompass_distribution": "kubeadm", "kubecompass_kubernetes_api": False,
                    "kubecompass_tier": "important", "kubecompass_settings": settings}
             for name, settings in bad.items()}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"k8s_clusters": {"hosts": hosts}}}}))
    report_dir = tmp_path / "reports"
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(REPO / "playbooks" / "assess.yml"),
                  "--check", "-e", "kubecompass_report_dir=%s" % report_dir], env=ansible_env(), timeout=300)
    report = json.loads((report_dir / "kubecompass-report.json").read_text())
    by_name = {cluster["cluster"]: cluster for cluster in report["clusters"]}
    assert result.returncode != 0 and set(by_name) == set(bad)
    assert {name: cluster["status"] for name, cluster in by_name.items()} == dict.fromkeys(bad, "error")
    for name, cluster in by_name.items():
        assert cluster["error"].startswith("%s: kubecompass_settings" % name), cluster["error"]
        assert "\n" not in cluster["error"] and "Traceback" not in cluster["error"]
    assert "Traceback" not in result.stdout + result.stderr
