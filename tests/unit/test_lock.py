"""The remediation lock: decide() on hand-written Leases, the bodies written, and acquire/release against a tiny
in-memory stand-in for the client (request only), never a cluster."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import lock
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.modules import cluster_lock

NOW = datetime(2026, 11, 22, 5, 0, 0, tzinfo=UTC)
PATH = lock.lease_path("kube-system", "kubecompass-remediation")


def lease(holder="awx-job-122", renew="2026-11-22T04:50:00.000000Z", acquire="2026-11-22T03:00:00.000000Z",
          duration=1800, transitions=3, purpose="audit_logging remediation", rv="41"):
    spec = {"holderIdentity": holder, "leaseDurationSeconds": duration, "acquireTime": acquire, "renewTime": renew,
            "leaseTransitions": transitions}
    metadata = {"name": "kubecompass-remediation", "namespace": "kube-system", "uid": "u-1", "resourceVersion": rv,
                "annotations": {lock.PURPOSE_ANNOTATION: purpose, "other.example/keep": "yes"}}
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
            "spec": {key: value for key, value in spec.items() if value is not None}}


# -- time --------------------------------------------------------------------------------------------------------

def test_times_are_microtime_in_utc():
    assert lock.format_time(NOW) == "2026-11-22T05:00:00.000000Z"
    plus_two = datetime(2026, 11, 22, 7, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert lock.format_time(plus_two) == "2026-11-22T05:00:00.123456Z"


@pytest.mark.parametrize("text, expected", [
    ("2026-11-22T05:00:00.000000Z", NOW),
    ("2026-11-22T05:00:00Z", NOW),
    ("2026-11-22T07:00:00.5+02:00", NOW + timedelta(microseconds=500000)),
    ("2026-11-22T05:00:00.123456789Z", NOW + timedelta(microseconds=123456)),
])
def test_rfc3339_times_parse(text, expected):
    assert lock.parse_time(text) == expected


@pytest.mark.parametrize("text", [None, "", "yesterday", "2026-11-22 05:00:00", "2026-13-22T05:00:00Z",
                                  "2026-11-22T05:00:00", 1700000000])
def test_malformed_times_are_none(text):
    assert lock.parse_time(text) is None


# -- decide --------------------------------------------------------------------------------------------------------

def test_absent_lease_is_created():
    assert lock.decide(None, "awx-job-123", NOW, 1800) == (lock.CREATE, NOW + timedelta(seconds=1800))


def test_our_own_lease_is_renewed_even_when_expired():
    expected = (lock.RENEW, NOW + timedelta(seconds=600))
    assert lock.decide(lease(holder="awx-job-123"), "awx-job-123", NOW, 600) == expected
    old = lease(holder="awx-job-123", renew="2026-11-21T00:00:00.000000Z", acquire="2026-11-21T00:00:00.000000Z")
    assert lock.decide(old, "awx-job-123", NOW, 600)[0] == lock.RENEW


def test_foreign_unexpired_lease_is_held_until_renew_plus_duration():
    action, expires = lock.decide(lease(), "awx-job-123", NOW, 1800)
    assert action == lock.HELD
    assert expires == datetime(2026, 11, 22, 5, 20, 0, tzinfo=UTC)


def test_expiry_uses_the_later_of_renew_and_acquire_time():
    only_acquire = lease(renew=None, acquire="2026-11-22T04:59:00.000000Z", duration=120)
    assert lock.decide(only_acquire, "me", NOW, 1800) == (lock.HELD, NOW + timedelta(seconds=60))


def test_foreign_expired_lease_is_taken_over():
    expired = lease(renew="2026-11-22T04:20:00.000000Z")  # + 1800s = 04:50 < 05:00
    assert lock.decide(expired, "awx-job-123", NOW, 900) == (lock.TAKE_OVER, NOW + timedelta(seconds=900))


def test_a_lease_expiring_exactly_now_is_expired():
    assert lock.decide(lease(renew="2026-11-22T04:30:00.000000Z"), "me", NOW, 60)[0] == lock.TAKE_OVER
    assert lock.decide(lease(renew="2026-11-22T04:30:00.000001Z"), "me", NOW, 60)[0] == lock.HELD


def test_a_lease_without_holder_is_free():
    assert lock.decide(lease(holder=None), "me", NOW, 60)[0] == lock.TAKE_OVER
    assert lock.decide(lease(holder=""), "me", NOW, 60)[0] == lock.TAKE_OVER


@pytest.mark.parametrize("broken", [
    lease(renew="soon", acquire="2026-11-21T00:00:00.000000Z"),  # one unreadable time: unknowable
    lease(renew=None, acquire=None),
    lease(duration=None),
    lease(duration=0),
    lease(duration="1800"),
    lease(duration=True),
])
def test_a_foreign_lease_with_malformed_times_is_held_and_never_expires(broken):
    assert lock.decide(broken, "me", NOW, 60) == (lock.HELD, None)
    message = lock.held_message(broken, NOW)
    assert "never expires" in message and "kubectl -n kube-system delete lease kubecompass-remediation" in message


@pytest.mark.parametrize("holder, duration", [("", 60), (None, 60), ("me", 0), ("me", -5), ("me", True)])
def test_decide_refuses_bad_input(holder, duration):
    with pytest.raises(ValueError):
        lock.decide(None, holder, NOW, duration)


def test_held_message_names_holder_purpose_and_expiry():
    message = lock.held_message(lease(), NOW)
    assert message == ("lock kube-system/kubecompass-remediation is held by awx-job-122 (purpose: audit_logging "
                       "remediation) until 2026-11-22T05:20:00.000000Z (1200s from now); another remediation run is "
                       "changing this control plane")


# -- bodies --------------------------------------------------------------------------------------------------------

def test_create_body():
    body = lock.create_body("kube-system", "kubecompass-remediation", "awx-job-123", NOW, 1800, "rotate keys")
    assert body == {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "kubecompass-remediation", "namespace": "kube-system",
                     "labels": {"app.kubernetes.io/managed-by": "kubecompass.readiness"},
                     "annotations": {lock.PURPOSE_ANNOTATION: "rotate keys"}},
        "spec": {"holderIdentity": "awx-job-123", "leaseDurationSeconds": 1800,
                 "acquireTime": "2026-11-22T05:00:00.000000Z", "renewTime": "2026-11-22T05:00:00.000000Z",
                 "leaseTransitions": 0}}
    assert "annotations" not in lock.create_body("ns", "n", "h", NOW, 60)["metadata"]


def test_renew_body_keeps_acquire_time_transitions_and_resource_version():
    ours = lease(holder="awx-job-123")
    body = lock.renew_body(ours, NOW, 600, "audit_logging remediation")
    assert body["spec"] == dict(ours["spec"], renewTime="2026-11-22T05:00:00.000000Z", leaseDurationSeconds=600)
    assert body["metadata"]["resourceVersion"] == "41"
    assert ours == lease(holder="awx-job-123")  # the input is not modified


def test_take_over_body_counts_a_transition_and_replaces_the_purpose():
    body = lock.take_over_body(lease(renew="2026-11-22T04:00:00.000000Z"), "awx-job-123", NOW, 900, None)
    assert body["spec"] == {"holderIdentity": "awx-job-123", "leaseDurationSeconds": 900,
                            "acquireTime": "2026-11-22T05:00:00.000000Z", "renewTime": "2026-11-22T05:00:00.000000Z",
                            "leaseTransitions": 4}
    assert body["metadata"]["annotations"] == {"other.example/keep": "yes"}
    assert body["metadata"]["resourceVersion"] == "41" and body["metadata"]["uid"] == "u-1"
    assert lock.take_over_body(lease(transitions=None), "me", NOW, 60)["spec"]["leaseTransitions"] == 1


# -- acquire / release against an in-memory stand-in for KubeClient.request ------------------------------------------

class FakeLeases:
    """Just enough of KubeClient.request for one Lease: resourceVersion and delete preconditions enforced."""

    def __init__(self, stored=None, interfere=None):
        self.stored = copy.deepcopy(stored)
        self.calls = []
        self.version = 100
        self.interfere = interfere  # called once before the first write, to simulate another run

    def _save(self, body):
        self.version += 1
        self.stored = copy.deepcopy(body)
        self.stored["metadata"].update(resourceVersion=str(self.version), uid=self.stored["metadata"].get("uid", "u-9"))
        return copy.deepcopy(self.stored)

    def request(self, method, path, query=None, body=None):
        self.calls.append(method)
        if method != "GET" and self.interfere:
            interfere, self.interfere = self.interfere, None
            interfere(self)
        if method == "GET":
            return (200, copy.deepcopy(self.stored), {}) if self.stored else (404, {"reason": "NotFound"}, {})
        if method == "POST":
            assert path == lock.leases_path("kube-system")
            if self.stored:
                return 409, {"reason": "AlreadyExists"}, {}
            return 201, self._save(body), {}
        assert path == PATH
        if not self.stored:
            return 404, {"reason": "NotFound"}, {}
        if method == "PUT":
            if body["metadata"].get("resourceVersion") != self.stored["metadata"]["resourceVersion"]:
                return 409, {"reason": "Conflict"}, {}
            return 200, self._save(body), {}
        if method == "DELETE":
            metadata = self.stored["metadata"]
            if body["preconditions"] != {"uid": metadata["uid"], "resourceVersion": metadata["resourceVersion"]}:
                return 409, {"reason": "Conflict", "message": "Precondition failed"}, {}
            self.stored = None
            return 200, {"kind": "Status", "status": "Success"}, {}
        raise AssertionError(method)


def acquire(fake, holder="awx-job-123", check_mode=False, duration=1800):
    return lock.acquire(fake, "kube-system", "kubecompass-remediation", holder, duration, "audit_logging remediation",
                        check_mode, clock=lambda: NOW)


def test_acquire_creates_then_a_second_run_renews_without_change():
    fake = FakeLeases()
    first = acquire(fake)
    assert (first["changed"], first["acquired"], first["renewed"], first["action"]) == (True, True, False, "create")
    assert first["expires"] == "2026-11-22T05:30:00.000000Z" and first["previous_holder"] is None
    assert fake.stored["spec"]["holderIdentity"] == "awx-job-123"
    second = acquire(fake)
    assert (second["changed"], second["renewed"], second["previous_holder"]) == (False, True, "awx-job-123")
    assert fake.calls == ["GET", "POST", "GET", "PUT"]


def test_acquire_fails_while_another_run_holds_the_lock():
    fake = FakeLeases(lease())
    with pytest.raises(KubeCompassError, match="held by awx-job-122 .purpose: audit_logging remediation. until "
                                               "2026-11-22T05:20:00.000000Z") as caught:
        acquire(fake)
    assert caught.value.category == "locked"
    assert caught.value.result == {"holder": "awx-job-122", "purpose": "audit_logging remediation",
                                   "expires": "2026-11-22T05:20:00.000000Z"}
    assert fake.calls == ["GET"]


def test_check_mode_only_reads_and_fails_the_same_way():
    free = FakeLeases()
    result = acquire(free, check_mode=True)
    assert result["changed"] and result["action"] == "create" and result["msg"].startswith("check mode")
    assert free.calls == ["GET"] and free.stored is None
    held = FakeLeases(lease())
    with pytest.raises(KubeCompassError, match="held by awx-job-122"):
        acquire(held, check_mode=True)
    assert held.calls == ["GET"]


def test_an_expired_lock_is_taken_over():
    fake = FakeLeases(lease(renew="2026-11-22T04:00:00.000000Z"))
    result = acquire(fake)
    assert (result["changed"], result["action"], result["previous_holder"]) == (True, "take_over", "awx-job-122")
    assert "taken over from awx-job-122, whose lease expired at 2026-11-22T04:30:00.000000Z" in result["msg"]
    assert fake.stored["spec"]["leaseTransitions"] == 4


def test_losing_the_race_for_an_expired_lock_fails_naming_the_winner():
    def other_run_wins(fake):
        fake._save(lease(holder="awx-job-124", renew="2026-11-22T05:00:00.000000Z", purpose="hardening"))

    fake = FakeLeases(lease(renew="2026-11-22T04:00:00.000000Z"), interfere=other_run_wins)
    with pytest.raises(KubeCompassError, match="another run took the lock first: .* held by awx-job-124") as caught:
        acquire(fake)
    assert caught.value.category == "locked"
    assert fake.stored["spec"]["holderIdentity"] == "awx-job-124"


def test_a_create_race_reads_again_and_decides_once_more():
    def other_run_creates(fake):
        fake._save(lease(holder="awx-job-124", renew="2026-11-22T05:00:00.000000Z"))

    fake = FakeLeases(interfere=other_run_creates)
    with pytest.raises(KubeCompassError, match="held by awx-job-124"):
        acquire(fake)
    assert fake.calls == ["GET", "POST", "GET"]


def test_release_deletes_only_our_lock_with_preconditions():
    fake = FakeLeases(lease(holder="awx-job-123"))
    result = lock.release(fake, "kube-system", "kubecompass-remediation", "awx-job-123")
    assert (result["changed"], result["released"], result["holder"]) == (True, True, None)
    assert fake.stored is None
    again = lock.release(fake, "kube-system", "kubecompass-remediation", "awx-job-123")
    assert (again["changed"], again["released"]) == (False, False) and "not held" in again["msg"]


def test_release_leaves_a_foreign_lock_alone():
    fake = FakeLeases(lease())
    result = lock.release(fake, "kube-system", "kubecompass-remediation", "awx-job-123")
    assert (result["changed"], result["released"], result["holder"]) == (False, False, "awx-job-122")
    assert "held by awx-job-122, not by awx-job-123" in result["msg"]
    assert fake.calls == ["GET"]


def test_release_after_a_take_over_meanwhile_deletes_nothing():
    def taken_over(fake):
        fake._save(lease(holder="awx-job-124"))

    fake = FakeLeases(lease(holder="awx-job-123"), interfere=taken_over)
    result = lock.release(fake, "kube-system", "kubecompass-remediation", "awx-job-123")
    assert (result["changed"], result["holder"]) == (False, "awx-job-124")
    assert fake.stored["spec"]["holderIdentity"] == "awx-job-124"
    assert fake.calls == ["GET", "DELETE", "GET"]


def test_release_in_check_mode_writes_nothing():
    fake = FakeLeases(lease(holder="awx-job-123"))
    result = lock.release(fake, "kube-system", "kubecompass-remediation", "awx-job-123", check_mode=True)
    assert result["changed"] and result["released"] and fake.stored is not None and fake.calls == ["GET"]


def test_module_run_validates_and_names_the_lease():
    params = {"namespace": "kube-system", "name": "kubecompass-remediation", "holder": "awx-job-123",
              "duration_seconds": 60, "state": "acquired", "purpose": None}
    result = cluster_lock.run(FakeLeases(), params, check_mode=True, clock=lambda: NOW)
    assert result["lease"] == {"namespace": "kube-system", "name": "kubecompass-remediation"}
    assert lock.summary_text(result["after"]).startswith("holder: awx-job-123\npurpose: \n")
    with pytest.raises(KubeCompassError, match="duration_seconds"):
        cluster_lock.run(FakeLeases(), dict(params, duration_seconds=0), check_mode=True)
    with pytest.raises(KubeCompassError, match="holder"):
        cluster_lock.run(FakeLeases(), dict(params, holder="  "), check_mode=True)


# -- a run killed on this controller ---------------------------------------------------------------------------------

def _fake_proc(tmp_path, pid, ppid, name, argv, start="4242"):
    entry = tmp_path / str(pid)
    entry.mkdir()
    fields = ["S", str(ppid)] + ["0"] * 17 + [start]
    (entry / "stat").write_text("%d (%s) %s\n" % (pid, name, " ".join(fields)))
    (entry / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


def test_the_outermost_ansible_playbook_above_the_module_is_the_run(tmp_path):
    _fake_proc(tmp_path, 100, 1, "python3", ["/venv/bin/python", "/venv/bin/ansible-playbook", "site.yml"])
    _fake_proc(tmp_path, 200, 100, "python3", ["/venv/bin/python", "/venv/bin/ansible-playbook", "site.yml"])
    _fake_proc(tmp_path, 300, 200, "python3", ["/venv/bin/python", "/tmp/AnsiballZ_cluster_lock.py"])
    assert lock.controller_run("ctl", 300, proc=str(tmp_path)) == "ctl:100:4242"
    assert lock.run_ended("ctl:100:4242", "ctl", proc=str(tmp_path)) is False
    assert lock.run_ended("ctl:100:9999", "ctl", proc=str(tmp_path)) is True   # pid reused by another process
    assert lock.run_ended("ctl:555:4242", "ctl", proc=str(tmp_path)) is True   # process gone
    assert lock.run_ended("other:555:4242", "ctl", proc=str(tmp_path)) is False  # another controller: unknown


def test_a_foreign_unexpired_lock_whose_run_ended_is_taken_over():
    now = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    lease = lock.create_body("kube-system", "kubecompass-remediation", "killed-run", now, 900, run="ctl:1:1")
    assert lock.decide(lease, "rerun", now, 900)[0] == lock.HELD
    assert lock.decide(lease, "rerun", now, 900, run_ended=lambda run: run == "ctl:1:1")[0] == lock.TAKE_OVER
    assert lock.decide(lease, "rerun", now, 900, run_ended=lambda run: False)[0] == lock.HELD
