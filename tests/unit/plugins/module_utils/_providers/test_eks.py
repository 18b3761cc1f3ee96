"""EKS provider: pure facts/plan on recorded answers, apply against botocore's Stubber (exact parameters checked
against the service model), and the whole describe -> plan -> apply loop against the moto-based loopback fake."""

from __future__ import annotations

import json
import sys

import boto3
import botocore.exceptions
import pytest
from botocore.stub import Stubber

from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import (
    UNLIMITED_RETENTION,
    ProviderError,
    describe_facts,
    eks,
    validate_target,
)
from tests.fakes.eks_server import DEFAULT_KMS_KEY, EksFake

NAME = "prod-1"
REGION = "us-east-1"
KEY = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-aaaa-bbbb-cccc-111122223333"
OTHER_KEY = "arn:aws:kms:us-east-1:123456789012:key/99999999-aaaa-bbbb-cccc-111122223333"
TARGET = {"type": "eks", "name": NAME, "region": REGION}


@pytest.fixture(autouse=True)
def isolated_aws_env(monkeypatch, tmp_path):
    """No host AWS config leaks in; fake credentials as moto expects for any direct boto3 use."""
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                     "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                     "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EKS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def cluster(**overrides):
    base = {"name": NAME, "arn": "arn:aws:eks:us-east-1:123456789012:cluster/prod-1", "version": "1.31",
            "status": "ACTIVE", "createdAt": "2026-01-01T00:00:00+00:00", "endpoint": "https://ABC.eks.amazonaws.com",
            "logging": {"clusterLogging": [{"types": ["api", "audit", "authenticator", "controllerManager",
                                                      "scheduler"], "enabled": False}]},
            "resourcesVpcConfig": {"subnetIds": ["subnet-a", "subnet-b"], "endpointPublicAccess": True,
                                   "endpointPrivateAccess": False, "publicAccessCidrs": ["0.0.0.0/0"]},
            "encryptionConfig": []}
    base.update(overrides)
    return base


def raw_of(cluster_dict, **overrides):
    raw = {"cluster": cluster_dict, "log_group": None, "nodegroups": [], "subnet_zones": {}, "version_info": None,
           "errors": {}}
    raw.update(overrides)
    return raw


class FakeClock:
    """time.monotonic/time.sleep stand-ins: sleeping advances the clock."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def stubbed_eks():
    client = boto3.session.Session().client("eks", region_name=REGION, aws_access_key_id="testing",
                                            aws_secret_access_key="testing")
    return client, Stubber(client)


def update_object(update_id, status, update_type="AssociateEncryptionConfig", errors=None):
    return {"update": {"id": update_id, "status": status, "type": update_type, "params": [], "errors": errors or []}}


# --- plan (pure) -------------------------------------------------------------------------------------------------

def test_plan_enables_only_the_missing_log_types_with_logging_alone():
    enabled_audit = cluster(logging={"clusterLogging": [{"types": ["audit"], "enabled": True},
                                                        {"types": ["api", "scheduler"], "enabled": False}]})
    steps = eks.plan(TARGET, raw_of(enabled_audit), {"items": ["audit_logging"], "eks_log_types": ["audit", "api"]})
    assert len(steps) == 1
    step = steps[0]
    assert step["action"] == "update" and step["call"] == "eks:UpdateClusterConfig"
    assert step["request"]["logging"] == {"clusterLogging": [{"types": ["api"], "enabled": True}]}
    assert set(step["request"]) == {"name", "logging"}  # never resourcesVpcConfig with it, no clientRequestToken
    assert step["before"] == {"enabled": True, "log_types": ["audit"]}
    assert step["after"] == {"enabled": True, "log_types": ["api", "audit"]}


def test_plan_is_none_when_audit_is_already_on():
    on = cluster(logging={"clusterLogging": [{"types": ["audit", "api"], "enabled": True}]})
    step = eks.plan(TARGET, raw_of(on), {"items": ["audit_logging"]})[0]
    assert step["action"] == "none" and step["request"] is None
    assert "audit" in step["reason"]


def test_encryption_held_without_opt_in_names_option_role_variable_and_key():
    step = eks.plan(TARGET, raw_of(cluster()), {"items": ["secrets_encryption"], "kms_key": KEY})[0]
    assert step["action"] == "held"
    assert step["reason"] == ("associate_encryption_config cannot be undone; set allow_irreversible_encryption "
                              "(role variable managed_control_plane_allow_irreversible_encryption) to associate %s"
                              % KEY)
    assert step["irreversible"] is True and step["follow_up"] == "rewrite_secrets"


def test_encryption_held_without_key():
    step = eks.plan(TARGET, raw_of(cluster()), {"items": ["secrets_encryption"],
                                                "allow_irreversible_encryption": True})[0]
    assert step["action"] == "held"
    assert step["reason"] == "no KMS key given: set kms_key (role variable managed_control_plane_kms_key)"
    assert step["request"] is None


def test_encryption_with_another_key_is_reported_not_changed():
    encrypted = cluster(encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": OTHER_KEY}}])
    step = eks.plan(TARGET, raw_of(encrypted), {"items": ["secrets_encryption"], "kms_key": KEY,
                                                "allow_irreversible_encryption": True})[0]
    assert step["action"] == "none"
    assert "cannot change the key" in step["reason"] and OTHER_KEY in step["reason"] and KEY in step["reason"]


def test_plan_requests_carry_no_client_request_token():
    """botocore fills the idempotency token per call; a planned one would hand a rerun an earlier update back."""
    steps = eks.plan(TARGET, raw_of(cluster()), {"kms_key": KEY, "allow_irreversible_encryption": True})
    assert [step["action"] for step in steps] == ["update", "update"]
    assert all("clientRequestToken" not in step["request"] for step in steps)


def test_cluster_not_active_holds_updates():
    steps = eks.plan(TARGET, raw_of(cluster(status="UPDATING")),
                     {"kms_key": KEY, "allow_irreversible_encryption": True})
    assert [step["action"] for step in steps] == ["held", "held"]
    assert all("UPDATING" in step["reason"] for step in steps)


# --- facts (pure) ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("group, expected_days", [
    ({"logGroupName": "/aws/eks/prod-1/cluster"}, UNLIMITED_RETENTION),
    ({"logGroupName": "/aws/eks/prod-1/cluster", "retentionInDays": 90}, 90),
    (None, None),
])
def test_audit_retention(group, expected_days):
    on = cluster(logging={"clusterLogging": [{"types": ["audit"], "enabled": True}]})
    section = eks.facts(TARGET, raw_of(on, log_group=group))["sections"]["audit_logging"]
    assert section["enabled"] is True
    assert section["retention_days"] == expected_days


def test_facts_version_support_autoscaling_and_zones():
    auto = cluster(version="1.29", computeConfig={"enabled": True, "nodePools": ["general-purpose"]},
                   accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    raw = raw_of(auto, nodegroups=[{"nodegroupName": "ng", "subnets": ["subnet-a"],
                                    "scalingConfig": {"minSize": 3, "maxSize": 3}}],
                 subnet_zones={"subnet-a": "us-east-1a", "subnet-b": "us-east-1b"},
                 version_info={"clusterVersion": "1.29", "versionStatus": "EXTENDED_SUPPORT",
                               "endOfStandardSupportDate": "2025-03-23T00:00:00+00:00",
                               "endOfExtendedSupportDate": "2026-03-23T00:00:00+00:00"})
    sections = eks.facts(TARGET, raw)["sections"]
    assert sections["version"]["support"] == "extended" and sections["version"]["end_of_support"] == "2026-03-23"
    assert sections["autoscaling"]["enabled"] is True and "Auto Mode" in sections["autoscaling"]["detail"]
    pools = {pool["name"]: pool for pool in sections["node_pools"]["pools"]}
    assert pools["ng"] == {"name": "ng", "zones": ["us-east-1a"], "autoscaling": False, "min": 3, "max": 3}
    assert pools["auto-mode (general-purpose)"]["zones"] == ["us-east-1a", "us-east-1b"]
    assert sections["people_auth"]["sso"] is True and "API_AND_CONFIG_MAP" in sections["people_auth"]["detail"]
    assert sections["control_plane_ha"]["ha"] is True


def test_facts_without_subnet_zones_leave_node_pools_unknown():
    raw = raw_of(cluster(), nodegroups=[{"nodegroupName": "ng", "subnets": ["subnet-a"],
                                         "scalingConfig": {"minSize": 1, "maxSize": 4}}], subnet_zones=None,
                 errors={"node_pools": "ec2:DescribeSubnets: UnauthorizedOperation: denied"})
    result = eks.facts(TARGET, raw)
    assert "node_pools" not in result["sections"]
    assert result["errors"]["node_pools"].startswith("ec2:DescribeSubnets")
    assert result["sections"]["autoscaling"]["enabled"] is False and "ng" in result["sections"]["autoscaling"]["detail"]


def test_node_groups_with_room_to_scale_are_not_autoscaling_without_auto_mode():
    """EKS never resizes a managed node group itself: min < max only bounds an autoscaler someone has to run."""
    raw = raw_of(cluster(), nodegroups=[{"nodegroupName": "ng-a", "subnets": ["subnet-a"],
                                         "scalingConfig": {"minSize": 1, "maxSize": 6}},
                                        {"nodegroupName": "ng-b", "subnets": ["subnet-b"],
                                         "scalingConfig": {"minSize": 2, "maxSize": 2}}],
                 subnet_zones={"subnet-a": "us-east-1a", "subnet-b": "us-east-1b"})
    sections = eks.facts(TARGET, raw)["sections"]
    assert sections["autoscaling"] == {
        "enabled": False,
        "detail": "node group(s) ng-a allow min<max scaling but EKS does not scale them itself; run Cluster "
                  "Autoscaler or Karpenter, or enable Auto Mode"}
    fixed = raw_of(cluster(), nodegroups=[{"nodegroupName": "ng-b", "subnets": ["subnet-b"],
                                           "scalingConfig": {"minSize": 2, "maxSize": 2}}])
    assert eks.facts(TARGET, fixed)["sections"]["autoscaling"]["enabled"] is False
    auto = raw_of(cluster(computeConfig={"enabled": True}), nodegroups=raw["nodegroups"])
    assert eks.facts(TARGET, auto)["sections"]["autoscaling"]["enabled"] is True


@pytest.mark.parametrize("exc, category", [
    (botocore.exceptions.NoCredentialsError(), "credentials"),
    (botocore.exceptions.ReadTimeoutError(endpoint_url="https://eks"), "timeout"),
    (botocore.exceptions.EndpointConnectionError(endpoint_url="https://eks"), "unreachable"),
    (botocore.exceptions.ClientError({"Error": {"Code": "ExpiredTokenException", "Message": "expired"},
                                      "ResponseMetadata": {"HTTPStatusCode": 403}}, "DescribeCluster"), "credentials"),
    (botocore.exceptions.ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "No cluster"},
                                      "ResponseMetadata": {"HTTPStatusCode": 404}}, "DescribeCluster"), "not_found"),
])
def test_classify(exc, category):
    got, message = eks.classify("eks:DescribeCluster", exc, NAME)
    assert got == category and message.startswith("eks:DescribeCluster: ")


# --- apply against the Stubber -----------------------------------------------------------------------------------

def test_apply_associates_encryption_and_polls_describe_update():
    client, stubber = stubbed_eks()
    step = eks.plan(TARGET, raw_of(cluster()), {"items": ["secrets_encryption"], "kms_key": KEY,
                                                "allow_irreversible_encryption": True})[0]
    assert step["request"]["encryptionConfig"] == [{"resources": ["secrets"], "provider": {"keyArn": KEY}}]
    stubber.add_response("associate_encryption_config", update_object("u-1", "InProgress"), step["request"])
    stubber.add_response("describe_update", update_object("u-1", "InProgress"), {"name": NAME, "updateId": "u-1"})
    stubber.add_response("describe_update", update_object("u-1", "Successful"), {"name": NAME, "updateId": "u-1"})
    clock = FakeClock()
    with stubber:
        outcomes = eks.apply(TARGET, [step], {"eks": client}, timeout=600, poll_seconds=15, sleep=clock.sleep,
                             clock=clock)
        stubber.assert_no_pending_responses()
    assert outcomes == [{"item": "secrets_encryption", "call": "eks:AssociateEncryptionConfig", "status": "succeeded",
                         "operation": "u-1", "error": None, "seconds": 30.0}]
    assert clock.sleeps == [15, 15]


def test_apply_skips_held_steps_without_calling():
    client, stubber = stubbed_eks()
    steps = eks.plan(TARGET, raw_of(cluster(logging={"clusterLogging": [{"types": ["audit"], "enabled": True}]})),
                     {"kms_key": KEY})
    assert [step["action"] for step in steps] == ["none", "held"]
    with stubber:  # any call would raise: nothing is stubbed
        assert eks.apply(TARGET, steps, {"eks": client}, timeout=60, poll_seconds=1, sleep=FakeClock().sleep) == []


def test_update_in_progress_is_a_failed_conflict_outcome_and_stops():
    client, stubber = stubbed_eks()
    steps = eks.plan(TARGET, raw_of(cluster()), {"kms_key": KEY, "allow_irreversible_encryption": True})
    stubber.add_client_error("update_cluster_config", "ResourceInUseException",
                             "Cluster has an update in progress", 409, expected_params=steps[0]["request"])
    with stubber:
        outcomes = eks.apply(TARGET, steps, {"eks": client}, timeout=60, poll_seconds=1, sleep=FakeClock().sleep)
    assert len(outcomes) == 1  # the encryption step is not reached
    assert outcomes[0]["status"] == "failed" and outcomes[0]["operation"] is None
    assert outcomes[0]["error"].startswith("eks:UpdateClusterConfig: ResourceInUseException: ")
    assert "conflict" in outcomes[0]["error"] and NAME in outcomes[0]["error"]


def test_access_denied_names_the_iam_permissions():
    client, stubber = stubbed_eks()
    step = eks.plan(TARGET, raw_of(cluster()), {"items": ["secrets_encryption"], "kms_key": KEY,
                                                "allow_irreversible_encryption": True})[0]
    stubber.add_client_error("associate_encryption_config", "AccessDeniedException", "not authorized", 403)
    with stubber:
        outcome = eks.apply(TARGET, [step], {"eks": client}, timeout=60, poll_seconds=1, sleep=FakeClock().sleep)[0]
    assert outcome["status"] == "failed"
    assert "eks:AssociateEncryptionConfig" in outcome["error"] and "kms:CreateGrant" in outcome["error"]
    assert "kms:DescribeKey" in outcome["error"]


def test_failed_update_reports_its_errors():
    client, stubber = stubbed_eks()
    step = eks.plan(TARGET, raw_of(cluster()), {"items": ["secrets_encryption"], "kms_key": KEY,
                                                "allow_irreversible_encryption": True})[0]
    stubber.add_response("associate_encryption_config", update_object("u-2", "InProgress"), step["request"])
    stubber.add_response("describe_update", update_object("u-2", "Failed", errors=[
        {"errorCode": "AccessDenied", "errorMessage": "KMS key not usable"}]), {"name": NAME, "updateId": "u-2"})
    with stubber:
        outcome = eks.apply(TARGET, [step], {"eks": client}, timeout=60, poll_seconds=1, sleep=FakeClock().sleep)[0]
    assert outcome["status"] == "failed" and outcome["operation"] == "u-2"
    assert "Failed" in outcome["error"] and "AccessDenied: KMS key not usable" in outcome["error"]


def test_timeout_with_fake_clock():
    client, stubber = stubbed_eks()
    step = eks.plan(TARGET, raw_of(cluster()), {"items": ["secrets_encryption"], "kms_key": KEY,
                                                "allow_irreversible_encryption": True})[0]
    stubber.add_response("associate_encryption_config", update_object("u-3", "InProgress"), step["request"])
    for _poll in range(3):
        stubber.add_response("describe_update", update_object("u-3", "InProgress"), {"name": NAME, "updateId": "u-3"})
    clock = FakeClock()
    with stubber:
        outcome = eks.apply(TARGET, [step], {"eks": client}, timeout=30, poll_seconds=10, sleep=clock.sleep,
                            clock=clock)[0]
        stubber.assert_no_pending_responses()  # exactly three polls, at 10, 20 and 30 seconds
    assert outcome["status"] == "timeout" and outcome["seconds"] == 30.0
    assert "u-3" in outcome["error"] and "describe-update" in outcome["error"]


def test_describe_drops_connector_secrets_from_raw_and_facts():
    client, stubber = stubbed_eks()
    connector = {"activationId": "act-id-7f3c", "activationCode": "act-code-s3cret", "provider": "OTHER",
                 "roleArn": "arn:aws:iam::123456789012:role/eks-connector"}
    stubber.add_response("describe_cluster", {"cluster": cluster(connectorConfig=connector)}, {"name": NAME})
    stubber.add_response("list_nodegroups", {"nodegroups": []}, {"clusterName": NAME})
    stubber.add_response("describe_cluster_versions", {"clusterVersions": []}, {"clusterVersions": ["1.31"]})
    with stubber:
        raw = eks.describe(TARGET, {"eks": client})
        stubber.assert_no_pending_responses()
    result = eks.facts(TARGET, raw)
    text = json.dumps([raw, result])
    assert "act-code-s3cret" not in text and "act-id-7f3c" not in text
    assert raw["cluster"]["connectorConfig"] == {"provider": "OTHER",
                                                 "roleArn": "arn:aws:iam::123456789012:role/eks-connector"}


def test_describe_failure_of_the_cluster_raises():
    client, stubber = stubbed_eks()
    stubber.add_client_error("describe_cluster", "ResourceNotFoundException", "No cluster found for name: prod-1.",
                             404, expected_params={"name": NAME})
    with stubber, pytest.raises(ProviderError) as caught:
        eks.describe(TARGET, {"eks": client})
    assert caught.value.category == "not_found"
    assert str(caught.value).startswith("eks:DescribeCluster: ResourceNotFoundException")


# --- SDK and credentials -----------------------------------------------------------------------------------------

def test_missing_boto3_is_missing_sdk(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    monkeypatch.setitem(sys.modules, "boto3.session", None)
    with pytest.raises(ProviderError) as caught:
        eks.clients(TARGET)
    assert caught.value.category == "missing_sdk" and "boto3" in str(caught.value)


def test_no_credentials_is_a_credentials_error(monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    made = eks.clients(TARGET)  # no endpoint_url: the real chain, which finds nothing (IMDS disabled)
    with pytest.raises(ProviderError) as caught:
        eks.describe(TARGET, made)
    assert caught.value.category == "credentials" and "eks:DescribeCluster" in str(caught.value)


def test_unknown_profile_is_a_credentials_error():
    with pytest.raises(ProviderError) as caught:
        eks.clients(dict(TARGET, profile="nope"))
    assert caught.value.category == "credentials"


def test_clients_have_retries_and_timeouts():
    made = eks.clients(dict(TARGET, endpoint_url="http://127.0.0.1:9"))
    assert set(made) == {"eks", "logs", "ec2"}
    config = made["eks"].meta.config
    assert config.retries["mode"] == "standard" and config.connect_timeout == 10 and config.read_timeout == 60
    assert made["logs"].meta.endpoint_url == "http://127.0.0.1:9"


# --- against the moto-based fake ---------------------------------------------------------------------------------

@pytest.fixture()
def fake():
    server = EksFake()
    server.start()
    yield server
    server.stop()


def fake_target(fake, name=NAME, region=REGION):
    return validate_target({"type": "eks", "name": name, "region": region, "endpoint_url": fake.url})


@pytest.mark.parametrize("realistic", [False, True])
def test_fake_non_compliant_cluster_remediated_end_to_end(fake, realistic):
    fake.realistic_updates = realistic
    fake.update_polls = 2
    fake.seed_cluster(NAME, tags={"team": "payments"})
    target = fake_target(fake)
    made = eks.clients(target)
    before, raw = describe_facts(target, made)
    assert before["sections"]["audit_logging"]["enabled"] is False
    assert before["sections"]["secrets_encryption"]["state"] == "off"
    assert before["sections"]["node_pools"]["pools"][0]["zones"] == ["us-east-1a", "us-east-1b"]
    assert before["sections"]["version"]["support"] == "standard"

    steps = eks.plan(target, raw, {"kms_key": KEY, "allow_irreversible_encryption": True})
    assert [step["action"] for step in steps] == ["update", "update"]
    fake.requests.clear()
    outcomes = eks.apply(target, steps, made, timeout=60, poll_seconds=0)
    assert [outcome["status"] for outcome in outcomes] == ["succeeded", "succeeded"]

    # the cluster name travels in the path, the rest is the JSON body plus botocore's own idempotency token
    update_config = fake.requests_for("POST", r"^/clusters/prod-1/update-config$")
    associate = fake.requests_for("POST", r"^/clusters/prod-1/encryption-config/associate$")
    bodies = [dict(request["body"]) for request in update_config + associate]
    tokens = [body.pop("clientRequestToken") for body in bodies]
    assert bodies == [{key: value for key, value in steps[0]["request"].items() if key != "name"},
                      {key: value for key, value in steps[1]["request"].items() if key != "clusterName"}]
    assert all(tokens) and tokens[0] != tokens[1]
    polls = fake.requests_for("GET", r"/updates/")
    # associate always returns an update (3 polls: 2 InProgress, then Successful); update-config only when realistic
    assert len(polls) == (6 if realistic else 3)
    assert outcomes[1]["operation"] and (outcomes[0]["operation"] is not None) == realistic

    after, raw_after = describe_facts(target, made)
    assert after["sections"]["audit_logging"]["enabled"] is True
    assert after["sections"]["audit_logging"]["retention_days"] == UNLIMITED_RETENTION  # EKS-created group
    assert after["sections"]["secrets_encryption"] == {
        "state": "on", "key": KEY,
        "detail": "encryptionConfig envelope-encrypts secrets with customer KMS key %s" % KEY}
    again = eks.plan(target, raw_after, {"kms_key": KEY, "allow_irreversible_encryption": True})
    assert [step["action"] for step in again] == ["none", "none"]


def test_fake_compliant_seed_reads_retention_and_key(fake):
    fake.seed_cluster(NAME, logging_enabled=True, encrypted=True, log_retention_days=365, version="1.28",
                      nodegroups=[{"name": "a", "zones": ["us-east-1a", "us-east-1b", "us-east-1c"], "min": 1,
                                   "max": 5}], endpoint_public=False, endpoint_private=True,
                      authentication_mode="API")
    result, raw = describe_facts(fake_target(fake), None)
    sections = result["sections"]
    assert sections["audit_logging"]["retention_days"] == 365
    assert sections["secrets_encryption"]["key"] == DEFAULT_KMS_KEY % REGION
    assert sections["version"]["support"] == "unsupported"
    assert sections["node_pools"]["pools"] == [{"name": "a", "zones": ["us-east-1a", "us-east-1b", "us-east-1c"],
                                                "autoscaling": True, "min": 1, "max": 5}]
    assert sections["endpoint"] == {"public": False, "private": True, "public_cidrs": [],
                                    "detail": "endpointPublicAccess false, endpointPrivateAccess true"}
    assert "authenticationMode API " in sections["people_auth"]["detail"]
    assert result["errors"] == {}
    assert "certificateAuthority" not in raw["cluster"]


def test_fake_side_read_failures_go_to_errors(fake):
    fake.seed_cluster(NAME, logging_enabled=True)
    fake.fail_next("POST", r"^/$", 400, {"message": "User is not authorized"}, "AccessDeniedException",
                   service="logs")
    fake.fail_next("POST", r"^/$", 400, {"message": "denied"}, "UnauthorizedOperation", service="ec2")
    fake.fail_next("GET", r"^/cluster-versions$", 403, {"message": "nope"}, "AccessDeniedException")
    result, raw = describe_facts(fake_target(fake), None)
    sections = result["sections"]
    assert sections["audit_logging"]["enabled"] is True and sections["audit_logging"]["retention_days"] is None
    assert result["errors"]["audit_logging"].startswith("logs:DescribeLogGroups: AccessDeniedException")
    assert "node_pools" not in sections and result["errors"]["node_pools"].startswith("ec2:DescribeSubnets")
    assert sections["version"]["support"] is None
    assert "eks:DescribeClusterVersions" in result["errors"]["version"]


def test_fake_version_status_is_configurable():
    server = EksFake(version_status={"1.31": "EXTENDED_SUPPORT"})
    server.start()
    try:
        server.seed_cluster(NAME)
        result, _raw = describe_facts(fake_target(server), None)
    finally:
        server.stop()
    assert result["sections"]["version"]["support"] == "extended"


def test_fake_conflict_while_another_update_runs(fake):
    fake.update_polls = 100
    fake.seed_cluster(NAME)
    target = fake_target(fake)
    made = eks.clients(target)
    steps = eks.plan(target, eks.describe(target, made), {"items": ["audit_logging"]})
    fake.client("eks").associate_encryption_config(
        clusterName=NAME, encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": KEY}}])
    outcomes = eks.apply(target, steps, made, timeout=60, poll_seconds=0)
    assert outcomes[0]["status"] == "failed"
    assert outcomes[0]["error"].startswith("eks:UpdateClusterConfig: ResourceInUseException")
    assert "conflict" in outcomes[0]["error"]


def test_fake_refuses_mixed_update_types_and_only_retries_share_a_token(fake):
    fake.realistic_updates = True
    fake.update_polls = 0
    fake.seed_cluster(NAME)
    client = fake.client("eks")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.update_cluster_config(name=NAME, logging={"clusterLogging": [{"types": ["audit"], "enabled": True}]},
                                     resourcesVpcConfig={"endpointPrivateAccess": True})
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    target = fake_target(fake)
    made = eks.clients(target)
    steps = eks.plan(target, eks.describe(target, made), {"items": ["audit_logging"]})
    fake.requests.clear()
    fake.fail_next("POST", r"^/clusters/prod-1/update-config$", 500)  # botocore retries the call once
    first = eks.apply(target, steps, made, timeout=60, poll_seconds=0)
    assert first[0]["status"] == "succeeded" and first[0]["operation"]
    sent = [request["body"]["clientRequestToken"] for request in fake.requests_for("POST", "/update-config$")]
    assert len(sent) == 2 and sent[0] == sent[1]  # botocore's own token, the same on its retry
    # A rerun of the same step is a new call with a new token: EKS answers it afresh, never with the first update.
    rerun = eks.apply(target, steps, made, timeout=60, poll_seconds=0)
    assert rerun[0]["status"] == "failed" and rerun[0]["operation"] != first[0]["operation"]
    assert "No changes needed" in rerun[0]["error"]
    tokens = [request["body"]["clientRequestToken"] for request in fake.requests_for("POST", "/update-config$")]
    assert len(tokens) == 3 and tokens[2] != tokens[0]


def test_list_clusters_in_two_regions_with_tags(fake):
    fake.seed_cluster("east", region="us-east-1", tags={"env": "prod", "team": "a"})
    fake.seed_cluster("west", region="eu-west-1", tags={"env": "dev"}, version="1.30")
    found = eks.list_clusters({"regions": ["us-east-1", "eu-west-1"], "endpoint_url": fake.url})
    by_name = {entry["name"]: entry for entry in found}
    assert set(by_name) == {"east", "west"}
    assert by_name["east"]["labels"] == {"env": "prod", "team": "a"}
    assert by_name["west"]["location"] == "eu-west-1" and by_name["west"]["version"] == "1.30"
    assert by_name["west"]["target"] == {"type": "eks", "name": "west", "region": "eu-west-1",
                                         "endpoint_url": fake.url}
    assert by_name["east"]["distribution"] == "eks" and by_name["east"]["server"].startswith("https://")
    assert validate_target(by_name["west"]["target"], "eks")["name"] == "west"


def test_list_clusters_rejects_an_account_without_regions():
    with pytest.raises(ProviderError) as caught:
        eks.list_clusters({"regions": []})
    assert caught.value.category == "input"


def test_update_without_update_object_polls_describe_cluster_until_the_change_shows():
    """moto answers UpdateClusterConfig with {}: success is the cluster ACTIVE with the requested log types."""
    client, stubber = stubbed_eks()
    step = eks.plan(TARGET, raw_of(cluster()), {"items": ["audit_logging"]})[0]
    stubber.add_response("update_cluster_config", {}, step["request"])
    stubber.add_response("describe_cluster", {"cluster": cluster(status="UPDATING")}, {"name": NAME})
    stubber.add_response("describe_cluster", {"cluster": cluster(
        logging={"clusterLogging": [{"types": ["audit"], "enabled": True}]})}, {"name": NAME})
    clock = FakeClock()
    with stubber:
        outcome = eks.apply(TARGET, [step], {"eks": client}, timeout=60, poll_seconds=5, sleep=clock.sleep,
                            clock=clock)[0]
        stubber.assert_no_pending_responses()
    assert outcome["status"] == "succeeded" and outcome["operation"] is None
    assert clock.sleeps == [5]
