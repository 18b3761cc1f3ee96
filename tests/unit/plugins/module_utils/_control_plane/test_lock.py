"""The remediation lock: decide() on hand-written Leases, the bodies written, and acquire/release against a tiny
in-memory stand-in for the client (request only), never a cluster."""

from __future__ import annotations

import copy
import os
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
    assert lock.decide(None, "awx-job-123", 1800) == (lock.CREATE, None)


def test_our_own_lease_is_renewed_even_when_expired():
    assert lock.decide(lease(holder="awx-job-123"), "awx-job-123", 600) == (lock.RENEW, None)
    old = lease(holder="awx-job-123", renew="2026-11-21T00:00:00.000000Z", acquire="2026-11-21T00:00:00.000000Z")
    assert lock.decide(old, "awx-job-123", 600, observed_for=10 ** 6)[0] == lock.RENEW


def test_a_foreign_lease_is_held_until_observed_unrenewed_for_its_own_duration():
    # Its renewTime says nothing here: a day old by the holder's clock, still held until this run saw it unrenewed.
    stale = lease(renew="2026-11-21T04:00:00.000000Z", acquire="2026-11-21T04:00:00.000000Z", duration=1800)
    assert lock.decide(stale, "awx-job-123", 900) == (lock.HELD, 1800)
    assert lock.decide(stale, "awx-job-123", 900, observed_for=1799.5) == (lock.HELD, 0.5)
    assert lock.decide(stale, "awx-job-123", 900, observed_for=1800) == (lock.TAKE_OVER, None)


def test_observe_restarts_on_any_write_to_the_lease():
    seen = lock.observe(None, lease(rv="41"), 5.0)
    assert lock.observe(seen, lease(rv="41"), 99.0) == seen
    assert lock.observe(seen, lease(rv="42"), 99.0)[1] == 99.0
    assert lock.observe(seen, None, 99.0)[1] == 99.0


def test_a_lease_without_holder_is_free():
    assert lock.decide(lease(holder=None), "me", 60)[0] == lock.TAKE_OVER
    assert lock.decide(lease(holder=""), "me", 60)[0] == lock.TAKE_OVER


@pytest.mark.parametrize("broken", [
    lease(duration=None),
    lease(duration=0),
    lease(duration="1800"),
    lease(duration=True),
])
def test_a_foreign_lease_without_a_valid_duration_is_held_and_never_expires(broken):
    assert lock.decide(broken, "me", 60, observed_for=10 ** 6) == (lock.HELD, None)
    message = lock.held_message(broken)
    assert "never expires" in message and "kubectl -n kube-system delete lease kubecompass-remediation" in message


@pytest.mark.parametrize("holder, duration", [("", 60), (None, 60), ("me", 0), ("me", -5), ("me", True)])
def test_decide_refuses_bad_input(holder, duration):
    with pytest.raises(ValueError):
        lock.decide(None, holder, duration)


def test_held_message_names_holder_purpose_and_what_was_observed():
    message = lock.held_message(lease(), 42.7)
    assert message == ("lock kube-system/kubecompass-remediation is held by awx-job-122 (purpose: audit_logging "
                       "remediation): this run saw its Lease unrenewed for 42s of 1800s, after which an abandoned "
                       "lock is taken over (wait_seconds lets a run wait that long); another remediation run is "
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


def acquire(fake, holder="awx-job-123", check_mode=False, duration=1800, wait=0):
    ticks = FakeTime()
    return lock.acquire(fake, "kube-system", "kubecompass-remediation", holder, duration, "audit_logging remediation",
                        check_mode, clock=lambda: NOW, wait=wait, monotonic=ticks.monotonic, sleep=ticks.sleep)


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
    with pytest.raises(KubeCompassError, match="held by awx-job-122 .purpose: audit_logging remediation.: this run "
                                               "saw its Lease unrenewed for 0s of 1800s") as caught:
        acquire(fake)
    assert caught.value.category == "locked"
    assert caught.value.result == {"holder": "awx-job-122", "purpose": "audit_logging remediation",
                                   "observed_seconds": 0, "lease_seconds": 1800}
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


def test_an_abandoned_lock_is_taken_over_after_a_full_observed_duration():
    fake = FakeLeases(lease(renew="2026-11-22T04:00:00.000000Z"))
    with pytest.raises(KubeCompassError, match="held by awx-job-122"):
        acquire(fake)  # stale by the holder's clock: not evidence of anything
    result = acquire(fake, wait=1800)
    assert (result["changed"], result["action"], result["previous_holder"]) == (True, "take_over", "awx-job-122")
    assert "taken over from awx-job-122, whose lease this run saw unrenewed for 1800s" in result["msg"]
    assert fake.stored["spec"]["leaseTransitions"] == 4


def test_losing_the_race_for_an_expired_lock_fails_naming_the_winner():
    def other_run_wins(fake):
        fake._save(lease(holder="awx-job-124", renew="2026-11-22T05:00:00.000000Z", purpose="hardening"))

    fake = FakeLeases(lease(renew="2026-11-22T04:00:00.000000Z"), interfere=other_run_wins)
    with pytest.raises(KubeCompassError, match="another run took the lock first: .* held by awx-job-124") as caught:
        acquire(fake, wait=1800)
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
    assert result["action"] == "create"
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
    context = _fake_host(tmp_path)
    _fake_proc(tmp_path, 100, 1, "python3", ["/venv/bin/python", "/venv/bin/ansible-playbook", "site.yml"])
    _fake_proc(tmp_path, 200, 100, "python3", ["/venv/bin/python", "/venv/bin/ansible-playbook", "site.yml"])
    _fake_proc(tmp_path, 300, 200, "python3", ["/venv/bin/python", "/tmp/AnsiballZ_cluster_lock.py"])
    assert lock.controller_run("ctl", 300, context, proc=str(tmp_path)).endswith(":100:4242")
    assert lock.controller_run("ctl", 200, (None, None), proc=str(tmp_path)) is None  # no boot id: no identity


def test_a_foreign_unexpired_lock_whose_run_ended_is_taken_over():
    now = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    lease = lock.create_body("kube-system", "kubecompass-remediation", "killed-run", now, 900, run="ctl:1:1")
    assert lock.decide(lease, "rerun", 900)[0] == lock.HELD
    assert lock.decide(lease, "rerun", 900, run_ended=lambda run: run == "ctl:1:1")[0] == lock.TAKE_OVER
    assert lock.decide(lease, "rerun", 900, run_ended=lambda run: False)[0] == lock.HELD


# -- clock skew: a foreign lease is judged by what this run observed, never by the holder's clock ---------------------

class FakeTime:
    """This run's monotonic clock and sleep: sleeping advances the clock, and ``during_sleep`` lets the holder act
    (renew its lease) while this run waits."""

    def __init__(self, during_sleep=None):
        self.now = 1000.0
        self.slept = []
        self.during_sleep = during_sleep

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds
        if self.during_sleep:
            self.during_sleep(self)


def acquire_observing(fake, ticks, wall=NOW, wait=0, holder="awx-job-123"):
    return lock.acquire(fake, "kube-system", "kubecompass-remediation", holder, 900, "hardening",
                        clock=lambda: wall, wait=wait, monotonic=ticks.monotonic, sleep=ticks.sleep)


def test_a_live_foreign_lock_is_not_taken_by_a_controller_sixteen_minutes_ahead():
    live = lease(renew="2026-11-22T05:00:00.000000Z", acquire="2026-11-22T05:00:00.000000Z", duration=900)
    fake = FakeLeases(live)
    ahead = NOW + timedelta(minutes=16)  # by this controller's clock the holder's renewTime + 900s is long past
    with pytest.raises(KubeCompassError, match=r"held by awx-job-122 .*unrenewed for 0s of 900s") as caught:
        acquire_observing(fake, FakeTime(), wall=ahead)
    assert caught.value.category == "locked"
    assert caught.value.result["observed_seconds"] == 0 and caught.value.result["lease_seconds"] == 900
    assert fake.stored["spec"]["holderIdentity"] == "awx-job-122" and fake.calls == ["GET"]


def test_a_lease_this_run_saw_unrenewed_for_its_full_duration_is_taken_over():
    # The holder's renewTime is in this controller's future (a clock behind): irrelevant, only observation counts.
    abandoned = lease(renew="2026-11-23T05:00:00.000000Z", duration=900)
    fake = FakeLeases(abandoned)
    ticks = FakeTime()
    result = acquire_observing(fake, ticks, wait=1200)
    assert (result["action"], result["previous_holder"]) == ("take_over", "awx-job-122")
    assert sum(ticks.slept) == 900  # polled until the observed expiry, no longer
    assert "whose lease this run saw unrenewed for 900s" in result["msg"]
    assert fake.stored["spec"]["holderIdentity"] == "awx-job-123"


def test_a_holder_that_keeps_renewing_is_never_taken_and_the_failure_says_how_long_it_was_observed():
    def holder_renews(ticks):
        if len(ticks.slept) % 4 == 0:  # every fourth poll the holder has renewed: a new resourceVersion
            fake._save(fake.stored)

    fake = FakeLeases(lease(duration=900))
    ticks = FakeTime(holder_renews)
    with pytest.raises(KubeCompassError, match=r"held by awx-job-122 .*unrenewed for \d+s of 900s") as caught:
        acquire_observing(fake, ticks, wait=1500)
    assert sum(ticks.slept) == 1500 and 0 < caught.value.result["observed_seconds"] < 900
    assert fake.stored["spec"]["holderIdentity"] == "awx-job-122"
    assert set(fake.calls) == {"GET"}


def test_a_lock_released_while_waiting_is_created():
    def holder_releases(ticks):
        fake.stored = None

    fake = FakeLeases(lease(duration=900))
    ticks = FakeTime(holder_releases)
    result = acquire_observing(fake, ticks, wait=600)
    assert result["action"] == "create" and len(ticks.slept) == 1


def test_check_mode_observes_without_writing():
    fake = FakeLeases(lease(duration=60))
    ticks = FakeTime()
    result = lock.acquire(fake, "kube-system", "kubecompass-remediation", "me", 900, check_mode=True,
                          clock=lambda: NOW, wait=120, monotonic=ticks.monotonic, sleep=ticks.sleep)
    assert result["action"] == "take_over" and result["msg"].startswith("check mode")
    assert set(fake.calls) == {"GET"} and fake.stored["spec"]["holderIdentity"] == "awx-job-122"


# -- run identity: boot id + PID namespace + pid, never the hostname --------------------------------------------------

def _fake_host(tmp_path, boot_id="b00t-1", pidns_file="pidns"):
    (tmp_path / "sys" / "kernel" / "random").mkdir(parents=True, exist_ok=True)
    (tmp_path / "sys" / "kernel" / "random" / "boot_id").write_text(boot_id + "\n")
    (tmp_path / "self" / "ns").mkdir(parents=True, exist_ok=True)
    (tmp_path / "self" / "ns" / "pid").write_text(pidns_file)
    return lock.run_context(str(tmp_path))


def test_a_run_is_named_by_boot_id_pid_namespace_and_pid(tmp_path):
    context = _fake_host(tmp_path)
    pidns = (tmp_path / "self" / "ns" / "pid").stat().st_ino
    _fake_proc(tmp_path, 100, 1, "python3", ["/venv/bin/python", "/venv/bin/ansible-playbook", "site.yml"])
    _fake_proc(tmp_path, 300, 100, "python3", ["/venv/bin/python", "/tmp/AnsiballZ_cluster_lock.py"])
    run = lock.controller_run("ctl", 300, context, proc=str(tmp_path))
    assert run == "ctl:b00t-1:%d:100:4242" % pidns
    assert lock.run_ended(run, context, proc=str(tmp_path)) is False
    assert lock.run_ended(run.replace(":100:", ":555:"), context, proc=str(tmp_path)) is True   # process gone
    assert lock.run_ended(run[:-4] + "9999", context, proc=str(tmp_path)) is True  # pid reused


def test_a_container_with_the_same_hostname_but_another_pid_namespace_is_not_this_controller(tmp_path):
    context = _fake_host(tmp_path)
    pidns = context[1]
    # Another AWX job pod: same hostname, same kernel (boot id), its own PID namespace; pid 555 is not ours to judge.
    assert lock.run_ended("ctl:b00t-1:%d:555:4242" % (pidns + 1), context, proc=str(tmp_path)) is False
    # Another machine (boot id) that happens to share the PID namespace inode number.
    assert lock.run_ended("ctl:other-boot:%d:555:4242" % pidns, context, proc=str(tmp_path)) is False
    # The old host:pid:start form names no PID namespace: never taken for ours.
    assert lock.run_ended("ctl:555:4242", context, proc=str(tmp_path)) is False
    assert lock.run_ended("ctl:b00t-1:%d:555:4242" % pidns, (None, None), proc=str(tmp_path)) is False


# -- keeping the lock alive during a long task --------------------------------------------------------------------

def test_a_renewal_renews_only_our_lock_once_a_third_of_its_duration_passed():
    fake = FakeLeases(lease(holder="awx-job-123", duration=900))
    ticks = FakeTime()
    keep = lock.Renewal(fake, "kube-system", "kubecompass-remediation", "awx-job-123", 900,
                        clock=lambda: NOW, monotonic=ticks.monotonic)
    keep()  # renews at once: the task starts only while this run holds the lock
    assert fake.calls == ["GET", "PUT"] and fake.stored["spec"]["renewTime"] == "2026-11-22T05:00:00.000000Z"
    ticks.now += 299
    keep()
    assert fake.calls == ["GET", "PUT"]
    ticks.now += 1
    keep()
    assert fake.calls == ["GET", "PUT", "GET", "PUT"] and keep.renewals == 2
    assert fake.stored["metadata"]["annotations"][lock.PURPOSE_ANNOTATION] == "audit_logging remediation"


def test_a_renewal_of_a_lock_taken_over_meanwhile_stops_the_task():
    fake = FakeLeases(lease(holder="awx-job-124"))
    keep = lock.Renewal(fake, "kube-system", "kubecompass-remediation", "awx-job-123", 900, clock=lambda: NOW)
    with pytest.raises(KubeCompassError, match=r"lost the lock .*\(now held by awx-job-124\)") as caught:
        keep()
    assert caught.value.category == "locked" and fake.calls == ["GET"]


def test_run_context_reads_this_machine():
    with open("/proc/sys/kernel/random/boot_id") as handle:
        boot_id = handle.read().strip()
    assert lock.run_context() == (boot_id, os.stat("/proc/self/ns/pid").st_ino)
