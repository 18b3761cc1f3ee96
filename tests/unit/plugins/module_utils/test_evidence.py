"""_evidence: the reports' default directory, the remediation change record and publishing to an S3 bucket (moto's
server mode on 127.0.0.1 for the uploads)."""

from __future__ import annotations

import datetime
import errno
import json
import os

import pytest

from ansible_collections.kubecompass.readiness.plugins.action import change_record as action
from ansible_collections.kubecompass.readiness.plugins.module_utils import _evidence
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from tests.helpers import ansible_env, ansible_module

STARTED = 1796958900.0  # 2026-12-11T03:15:00Z
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


# --- the default report directory ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("environ", "cwd", "expected"), [
    ({"GITHUB_WORKSPACE": "/home/runner/work/app/app"}, "/tmp/x", "/home/runner/work/app/app/kubecompass-reports"),
    ({"CI_PROJECT_DIR": "/builds/group/app"}, "/", "/builds/group/app/kubecompass-reports"),
    ({"GITHUB_WORKSPACE": "/gh", "CI_PROJECT_DIR": "/gl"}, "/tmp", "/gh/kubecompass-reports"),
    ({"GITHUB_WORKSPACE": "relative", "CI_PROJECT_DIR": ""}, "/srv/ops", "/srv/ops/kubecompass-reports"),
    ({}, "/runner/project", "/runner/project/kubecompass-reports"),
])
def test_the_default_report_dir_is_the_ci_workspace_else_the_current_directory(environ, cwd, expected):
    assert _evidence.default_report_dir(environ, cwd) == expected


@pytest.mark.parametrize("cwd", ["/", "", "relative"])
def test_the_default_report_dir_is_never_the_file_system_root(cwd):
    with pytest.raises(KubeCompassError, match="kubecompass_report_dir") as caught:
        _evidence.default_report_dir({"GITHUB_WORKSPACE": "/"}, cwd)
    assert "\n" not in str(caught.value)


# --- the change record ---------------------------------------------------------------------------------------------

NETPOL = {"changed": True, "namespaces": [{"namespace": "shop"}], "changed_objects": [
    {"object": "NetworkPolicy shop/kubecompass-default-deny", "action": "created", "before": None,
     "after": "sha256:" + "a" * 64}]}
RBAC = {"changed": True, "removed": ["RoleBinding shop/anon"], "changed_objects": [
    {"object": "RoleBinding shop/anon", "action": "deleted", "before": "sha256:" + "b" * 64, "after": None}]}
ROLLOUT = [{"node": "cp1", "changes": ["add --profiling=false"], "restart_seconds": 12.5,
            "digest_before": "sha256:" + "c" * 64, "digest_after": "sha256:" + "d" * 64, "notes": []},
           {"node": "cp2", "changes": [], "restart_seconds": None}]
PROVIDER = {"steps": [{"item": "audit_logging", "action": "update", "reason": "enable audit logs",
                       "call": "eks:UpdateClusterConfig", "before": {"enabled": False}, "after": {"enabled": True}},
                      {"item": "secrets_encryption", "action": "none", "reason": "already", "call": None}],
            "outcomes": [{"item": "audit_logging", "status": "succeeded"}]}
REWRITE = {"changed": True, "rewritten": 12, "record_key": "arn:aws:kms:eu-west-1:1:key/k",
           "digest_before": "sha256:" + "e" * 64, "digest_after": "sha256:" + "e" * 64}


def record(returns, check_mode=False, problems=None, task_vars=None):
    who = _evidence.actor(task_vars or {}, "ops")
    return _evidence.change_record("prod-eu1", returns, check_mode, STARTED, STARTED + 42.25, who, "kubeadm",
                                   problems)


def test_the_record_names_every_node_object_and_provider_item_changed_with_digests_in_role_order():
    rec = record({"rbac_least_privilege": {"objects": RBAC}, "network_policies": {"objects": NETPOL},
                  "audit_logging": {"rollout": ROLLOUT}, "managed_control_plane": {"provider": PROVIDER,
                                                                                   "rewrite": REWRITE}})
    assert rec["kind"] == "change" and rec["changed"] and rec["check_mode"] is False
    assert [(c["role"], c["target"]) for c in rec["changes"]] == [
        ("audit_logging", "node cp1"), ("managed_control_plane", "audit_logging"),
        ("managed_control_plane", "Secrets (all namespaces)"),
        ("network_policies", "NetworkPolicy shop/kubecompass-default-deny"),
        ("rbac_least_privilege", "RoleBinding shop/anon")]
    node, provider = rec["changes"][0], rec["changes"][1]
    assert node["what"] == "add --profiling=false" and node["before"] == "sha256:" + "c" * 64
    assert provider["before"] == _evidence.digest({"enabled": False}) != provider["after"]
    assert rec["changes"][4]["action"] == "deleted" and rec["changes"][4]["after"] is None
    assert rec["counts"] == {"audit_logging": 1, "managed_control_plane": 2, "network_policies": 1,
                             "rbac_least_privilege": 1}
    assert (rec["started"], rec["finished"], rec["seconds"]) == ("2026-12-11T03:15:00Z", "2026-12-11T03:15:42Z", 42.2)


def test_check_mode_makes_the_same_record_marked_as_a_plan():
    real = record({"network_policies": {"objects": NETPOL}})
    plan = record({"network_policies": {"objects": NETPOL}}, check_mode=True)
    assert plan["kind"] == "plan" and plan["check_mode"] is True
    assert plan["changes"] == real["changes"]
    assert _evidence.record_basename(plan).endswith("-plan") and _evidence.record_basename(real).endswith("-change")
    assert "check mode - nothing was changed" in _evidence.render_markdown(plan)


def test_skipped_and_missing_results_add_nothing_and_an_unchanged_run_has_no_changes():
    rec = record({"network_policies": {"objects": {"skipped": True, "changed": False}},
                  "pod_security": {"objects": None}, "disruption_budgets": {"objects": {"changed_objects": []}},
                  "audit_logging": {"rollout": [{"node": "cp1", "changes": []}]},
                  "encryption_at_rest": {"rewrite": [{"skipped": True}]}})
    assert rec["changes"] == [] and rec["changed"] is False and rec["counts"] == {}
    assert "Nothing changed." in _evidence.render_markdown(rec)


def test_an_unknown_role_is_named():
    with pytest.raises(KubeCompassError, match="unknown role.*network_policy"):
        record({"network_policy": {}})


def test_who_ran_it_comes_from_the_awx_variables_or_their_tower_aliases():
    assert record({})["actor"] == {"controller_user": "ops", "awx": None}
    rec = record({}, task_vars={"awx_job_id": 4711, "tower_user_name": "alice", "awx_job_template_name": "Remediate",
                                "awx_schedule_id": "", "awx_other": "not kept"})
    assert rec["actor"]["awx"] == {"job_id": 4711, "user_name": "alice", "job_template_name": "Remediate"}
    assert "Run by: ops (AWX job 4711, launched by alice)" in _evidence.render_markdown(rec)


def test_the_markdown_is_capped_and_the_stats_summary_stays_small():
    many = {"changed_objects": [{"object": "NetworkPolicy ns%d/deny" % i, "action": "created", "before": None,
                                 "after": _evidence.digest(i)} for i in range(300)]}
    rec = record({"network_policies": {"objects": many}}, problems=["KC-SEC-016 not fixed: shop | x"])
    markdown = _evidence.render_markdown(rec, max_rows=10)
    assert markdown.count("| network_policies |") == 10 and "290 more in the JSON record." in markdown
    assert "- KC-SEC-016 not fixed: shop \\| x" in markdown
    summary = _evidence.stats_summary(rec, {"json": "/r/x.json"})
    assert len(summary["changes"]) == 50 and summary["more_changes"] == 250
    assert len(json.dumps(summary)) < 8000


def test_the_record_carries_no_secret_material(tmp_path):
    """What the roles return may hold file contents and keys (a manifest diff, a rewrite's key); the record keeps
    names, change lines and digests only."""
    rollout = [dict(ROLLOUT[0], diff={"after": SECRET}, secret_files=[{"content": SECRET}])]
    objects = dict(NETPOL, diff=[{"after": SECRET}], namespaces=[{"namespace": "shop", "data": SECRET}])
    rec = record({"encryption_at_rest": {"rollout": rollout}, "network_policies": {"objects": objects}})
    paths = action.write_record(str(tmp_path), rec)
    for path in paths.values():
        with open(path) as handle:
            assert SECRET not in handle.read()


def test_the_files_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    rec = record({"network_policies": {"objects": NETPOL}})
    paths = action.write_record(str(tmp_path / "new" / "dir"), rec)
    with open(paths["json"]) as written_json, open(paths["markdown"]) as written_markdown:
        assert json.loads(written_json.read()) == rec
        assert written_markdown.read() == _evidence.render_markdown(rec)
    assert oct(os.stat(paths["json"]).st_mode & 0o777) == "0o644"

    real_fdopen = os.fdopen
    calls = []

    def full_disk_on_second_file(fd, *args, **kwargs):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", full_disk_on_second_file)
    target = tmp_path / "full"
    with pytest.raises(KubeCompassError, match="prod-eu1 to .*full: No space left on device") as caught:
        action.write_record(str(target), dict(rec, started="2026-12-11T04:00:00Z"))
    assert caught.value.category == "io"
    assert sorted(os.listdir(target)) == []


# --- publishing ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "message"), [
    ("evidence", r"^kubecompass_report_publish must be a mapping with bucket .*not str$"),
    ({}, r"^kubecompass_report_publish\.bucket None is not an S3 bucket name"),
    ({"bucket": "Evidence_Bucket"}, r"^kubecompass_report_publish\.bucket 'Evidence_Bucket' is not"),
    ({"bucket": "ev", "prefix": "x"}, r"^kubecompass_report_publish\.bucket 'ev' is not"),
    ({"bucket": "evidence", "buckt": "x"}, r"^kubecompass_report_publish: unknown key\(s\) buckt \(expected"),
    ({"bucket": "evidence", "prefix": "a/../b"}, r"^kubecompass_report_publish\.prefix 'a/\.\./b' must be"),
    ({"bucket": "evidence", "prefix": 7}, r"^kubecompass_report_publish\.prefix 7 must be"),
    ({"bucket": "evidence", "region": "EU West"}, r"^kubecompass_report_publish\.region 'EU West' is not"),
    ({"bucket": "evidence", "allow_custom_endpoint": "yes"},
     r"^kubecompass_report_publish\.allow_custom_endpoint must be true or false, not 'yes'$"),
    ({"bucket": "evidence", "endpoint_url": ""}, r"^kubecompass_report_publish\.endpoint_url must be a URL"),
    ({"bucket": "evidence", "endpoint_url": "http://minio.example:9000"},
     r"^kubecompass_report_publish\.endpoint_url http://minio\.example:9000 must be https \(http only on a "
     r"loopback"),
    ({"bucket": "evidence", "endpoint_url": "https://minio.example"},
     r"^kubecompass_report_publish\.endpoint_url https://minio\.example is not a S3 API host .*"
     r"kubecompass_report_publish\.allow_custom_endpoint: true"),
])
def test_every_malformed_publish_variable_is_one_line_naming_it(value, message):
    with pytest.raises(KubeCompassError, match=message) as caught:
        _evidence.validate_publish(value)
    assert "\n" not in str(caught.value) and caught.value.category == "input"


def test_publish_endpoints_follow_the_provider_rule():
    assert _evidence.validate_publish({"bucket": "evidence"}) == {
        "bucket": "evidence", "prefix": "kubecompass", "endpoint_url": None, "region": None,
        "allow_custom_endpoint": False}
    for url in ("https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000", "http://localhost:1"):
        assert _evidence.validate_publish({"bucket": "evidence", "endpoint_url": url})["endpoint_url"] == url
    custom = _evidence.validate_publish({"bucket": "evidence", "endpoint_url": "https://minio.example",
                                         "allow_custom_endpoint": True, "prefix": "/ci/nightly/"})
    assert custom["endpoint_url"] == "https://minio.example" and custom["prefix"] == "ci/nightly"


def test_objects_are_keyed_by_date_then_cluster_then_run(tmp_path):
    report = tmp_path / "kubecompass-report.json"
    report.write_text("{}")
    config = _evidence.validate_publish({"bucket": "evidence", "prefix": "kc"})
    plan = _evidence.publish_plan(config, [str(report), {"path": str(report), "cluster": "prod/eu 1"},
                                           [str(report), "stage"]], "2026-12-11T03:15:00Z")
    assert [item["key"] for item in plan] == ["kc/2026-12-11/fleet/031500Z/kubecompass-report.json",
                                              "kc/2026-12-11/prod_eu_1/031500Z/kubecompass-report.json",
                                              "kc/2026-12-11/stage/031500Z/kubecompass-report.json"]
    assert plan[0]["url"] == "s3://evidence/kc/2026-12-11/fleet/031500Z/kubecompass-report.json"
    assert _evidence.parse_started(STARTED) == datetime.datetime(2026, 12, 11, 3, 15, tzinfo=datetime.UTC)
    with pytest.raises(KubeCompassError, match="is not a file"):
        _evidence.publish_plan(config, [str(tmp_path / "missing.json")], STARTED)


@pytest.fixture
def s3_server(monkeypatch):
    """moto in server mode on 127.0.0.1 (a real HTTP S3 API); real-looking credentials in the environment, which
    must never be sent to a loopback endpoint nor printed."""
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAKUBECOMPASSTEST1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield "http://%s:%d" % (host, port)
    server.stop()


def test_reports_are_uploaded_to_the_bucket_and_read_back(s3_server, tmp_path):
    import boto3

    config = _evidence.validate_publish({"bucket": "evidence", "endpoint_url": s3_server})
    client, secrets = _evidence.s3_client(config)
    # A loopback endpoint is sent fixed fake credentials, never the environment's (which are still scrubbed).
    assert client._request_signer._credentials.secret_key != SECRET and SECRET in secrets
    client.create_bucket(Bucket="evidence")
    report = tmp_path / "kubecompass-report.md"
    report.write_text("# Readiness\n")
    done = _evidence.upload(client, config, _evidence.publish_plan(config, [str(report)], STARTED), secrets)
    reader = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    body = reader.get_object(Bucket="evidence", Key=done[0]["key"])
    assert body["Body"].read() == b"# Readiness\n" and body["ContentType"] == "text/markdown"


def test_a_publish_failure_names_the_bucket_and_cause_and_never_a_credential(s3_server, tmp_path):
    config = _evidence.validate_publish({"bucket": "no-such-bucket", "endpoint_url": s3_server})
    client, secrets = _evidence.s3_client(config)
    report = tmp_path / "kubecompass-report.json"
    report.write_text("{}")
    plan = _evidence.publish_plan(config, [str(report)], STARTED)
    with pytest.raises(KubeCompassError) as caught:
        _evidence.upload(client, config, plan, secrets + [SECRET])
    message = str(caught.value)
    assert message.startswith("kubecompass_report_publish: publishing to bucket no-such-bucket key kubecompass/")
    assert "NoSuchBucket" in message and caught.value.category == "not_found"
    assert SECRET not in message and "\n" not in message


def test_an_unreachable_endpoint_is_named_with_its_cause(tmp_path):
    config = _evidence.validate_publish({"bucket": "evidence", "endpoint_url": "http://127.0.0.1:9"})
    client, secrets = _evidence.s3_client(config)
    report = tmp_path / "kubecompass-report.json"
    report.write_text("{}")
    with pytest.raises(KubeCompassError, match=r"bucket evidence key .* failed: s3:PutObject: "
                                               r"EndpointConnectionError") as caught:
        _evidence.upload(client, config, _evidence.publish_plan(config, [str(report)], STARTED), secrets)
    assert caught.value.category == "unreachable"


def test_a_credential_echoed_by_an_error_is_removed():
    assert _evidence.scrub("denied for %s and key AKIA1234" % SECRET, [SECRET, "AKIA1234", "", "ab"]) == \
        "denied for ******** and key ********"


def test_the_module_publishes_and_names_a_malformed_variable_in_one_line(s3_server, tmp_path):
    report = tmp_path / "kubecompass-report.sarif"
    report.write_text("{}")
    args = {"files": [str(report)], "cluster": "prod-eu1", "started": "2026-12-11T03:15:00Z"}
    env = ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal", AWS_SECRET_ACCESS_KEY=SECRET)
    rc, result, output = ansible_module("kubecompass.readiness.publish_reports",
                                        dict(args, publish={"bucket": "Bad_Name"}), env=env)
    assert rc != 0 and result["msg"] == ("kubecompass_report_publish.bucket 'Bad_Name' is not an S3 bucket name "
                                         "(3-63 lowercase letters, digits, dots and hyphens)"), output
    assert "Traceback" not in output
    rc, result, output = ansible_module("kubecompass.readiness.publish_reports",
                                        dict(args, publish={"bucket": "missing", "endpoint_url": s3_server}), env=env)
    assert rc != 0 and "bucket missing key kubecompass/2026-12-11/prod-eu1/031500Z/kubecompass-report.sarif" in \
        result["msg"] and "NoSuchBucket" in result["msg"], output
    assert SECRET not in output
    import boto3

    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket="evidence")
    rc, result, output = ansible_module("kubecompass.readiness.publish_reports",
                                        dict(args, publish={"bucket": "evidence", "endpoint_url": s3_server}), env=env)
    assert rc == 0 and result["changed"] is False, output
    assert [item["url"] for item in result["uploaded"]] == [
        "s3://evidence/kubecompass/2026-12-11/prod-eu1/031500Z/kubecompass-report.sarif"]
