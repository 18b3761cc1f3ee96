"""etcd snapshots on a node: directory rules, schedule windows, cron -> systemd OnCalendar, checksum, status parsing,
the distribution's own settings, and the whole status answer."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import zipfile

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.cron import parse_schedule
from ansible_collections.kubecompass.readiness.plugins.module_utils._node import snapshots as snap
from tests.unit.plugins.module_utils._node.test_gather import write as write_node_file

NOW = 1_800_000_000.0
STATUS_JSON = '{"hash":574507497,"revision":48213,"totalKey":1372,"totalSize":20480,"version":"3.6.0"}'


def snapshot_bytes(pages=2, corrupt=False):
    """A snapshot as etcd streams it: whole 512-byte pages, then the sha256 of those pages."""
    body = os.urandom(512 * pages)
    digest = hashlib.sha256(body).digest()
    if corrupt:
        digest = bytes([digest[0] ^ 1]) + digest[1:]
    return body + digest


def write(path, data, age=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (NOW - age, NOW - age))
    return path


class Runner:
    """run_command stand-in: records argv, answers with (rc, out, err)."""

    def __init__(self, rc=0, out=STATUS_JSON + "\n", err=""):
        self.calls = []
        self.answer = (rc, out, err)

    def __call__(self, argv):
        self.calls.append(argv)
        return self.answer


@pytest.fixture
def etcdutl(tmp_path):
    tool = tmp_path / "bin" / "etcdutl"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    return str(tool)


# -- directory -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/var/backups/kubecompass/etcd", "/srv/etcd-snapshots", "/var/lib/etcd-snapshots"])
def test_a_directory_outside_kubelet_and_etcd_is_accepted(path):
    assert snap.check_snapshot_dir(path) == path


@pytest.mark.parametrize("path, inside", [
    ("/etc/kubernetes/manifests", "/etc/kubernetes/manifests"),
    ("/etc/kubernetes/manifests/backups", "/etc/kubernetes/manifests"),
    ("/var/lib/rancher/rke2/agent/pod-manifests/x", "/var/lib/rancher/rke2/agent/pod-manifests"),
    ("/var/lib/etcd/snapshots", "/var/lib/etcd"),
    ("/var/lib/kubelet/etcd", "/var/lib/kubelet"),
])
def test_a_directory_kubelet_reads_or_etcd_owns_is_refused(path, inside):
    with pytest.raises(KubeCompassError, match="inside %s" % inside) as raised:
        snap.check_snapshot_dir(path)
    assert raised.value.category == "input"


@pytest.mark.parametrize("path", ["relative/dir", "/var/backups/../lib/etcd", "/var/backups/", "/", ""])
def test_a_directory_must_be_a_normalised_absolute_path(path):
    with pytest.raises(KubeCompassError, match="normalised absolute path"):
        snap.check_snapshot_dir(path)


# -- schedule --------------------------------------------------------------------------------------------------------

def test_the_window_is_the_longest_gap_plus_the_margin():
    interval, max_age = snap.schedule_window("0 */6 * * *", 30)
    assert interval == datetime.timedelta(hours=6)
    assert max_age == datetime.timedelta(hours=6, minutes=30)
    assert snap.schedule_window("30 2 * * 1-5", 0) == (datetime.timedelta(days=3), datetime.timedelta(days=3))


def test_an_explicit_maximum_age_wins_and_no_schedule_means_no_window():
    assert snap.schedule_window("0 */6 * * *", 30, 90)[1] == datetime.timedelta(minutes=90)
    assert snap.schedule_window(None, 30) == (None, None)


@pytest.mark.parametrize("schedule, margin, max_age, message", [
    ("0 */6 * *", 30, None, "expected 5"),
    ("0 0 30 2 *", 30, None, "never fires"),
    ("0 */6 * * *", -1, None, "margin_minutes"),
    ("0 */6 * * *", 30, 0, "max_age_minutes"),
])
def test_a_bad_schedule_or_window_is_input_error(schedule, margin, max_age, message):
    with pytest.raises(KubeCompassError, match=message):
        snap.schedule_window(schedule, margin, max_age)


@pytest.mark.parametrize("schedule, expected", [
    ("0 */6 * * *", ["*-*-* 00,06,12,18:00:00"]),
    ("*/15 * * * *", ["*-*-* *:00,15,30,45:00"]),
    ("30 2 * * 1-5", ["Mon,Tue,Wed,Thu,Fri *-*-* 02:30:00"]),
    ("0 3 1,15 * *", ["*-*-01,15 03:00:00"]),
    ("0 0 1 jan,jul *", ["*-01,07-01 00:00:00"]),
    ("@daily", ["*-*-* 00:00:00"]),
    ("@hourly", ["*-*-* *:00:00"]),
    ("@weekly", ["Sun *-*-* 00:00:00"]),
    # cron: day of month OR day of week when both are restricted -> two OnCalendar lines.
    ("0 0 1 * 1", ["*-*-01 00:00:00", "Mon *-*-* 00:00:00"]),
])
def test_cron_schedules_become_systemd_calendar_expressions(schedule, expected):
    assert snap.cron_to_on_calendar(schedule) == expected


@pytest.mark.parametrize("schedule, message", [
    ("@every 6h", "not supported"),
    ("CRON_TZ=Europe/Berlin 0 2 * * *", "not supported"),
    ("0 0 */2 * 1", "read differently"),
    ("0 0 * * 7", "outside 0-6"),
    ("61 * * * *", "outside 0-59"),
])
def test_schedules_without_a_faithful_systemd_equivalent_are_refused(schedule, message):
    with pytest.raises(KubeCompassError, match=message):
        snap.cron_to_on_calendar(schedule)


def _systemd_elapses(expressions, iterations=40):
    """Per expression, the times systemd-analyze says it elapses after 2030-01-01 00:00 UTC (None: no --base-time)."""
    result = subprocess.run(["systemd-analyze", "calendar", "--iterations=%d" % iterations,
                             "--base-time=2030-01-01 00:00:00 UTC", *expressions], capture_output=True, text=True,
                            env={**os.environ, "TZ": "UTC"}, check=False)
    if result.returncode != 0 and "base-time" in result.stderr:
        return None
    assert result.returncode == 0, result.stderr
    blocks = []
    for line in result.stdout.splitlines():
        if "Normalized form:" in line:
            blocks.append(set())
        elif "Next elapse:" in line or "Iter. #" in line:
            stamp = " ".join(line.split(":", 1)[1].split()[1:3])
            blocks[-1].add(datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S"))
    return blocks


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
@pytest.mark.parametrize("schedule", ["0 */6 * * *", "*/20 1-3 * * *", "30 2 * * 1-5", "0 0 1 * 1", "15 4 1,15 2,8 *"])
def test_systemd_fires_exactly_when_cron_does(schedule):
    blocks = _systemd_elapses(snap.cron_to_on_calendar(schedule))
    if blocks is None:
        pytest.skip("this systemd-analyze has no --base-time")
    # Up to the earliest last elapse of the expressions, every fire time of either must be a cron fire time.
    horizon = min(max(block) for block in blocks)
    fired = {moment for block in blocks for moment in block if moment <= horizon}
    parsed = parse_schedule(schedule)
    start, expected, day = datetime.datetime(2030, 1, 1), set(), datetime.date(2030, 1, 1)
    while day <= horizon.date():
        if parsed.fires_on(day):
            expected.update(moment for moment in (datetime.datetime(day.year, day.month, day.day, hour, minute)
                                                  for hour in parsed.hours for minute in parsed.minutes)
                            if start < moment <= horizon)
        day += datetime.timedelta(days=1)
    assert fired == expected and len(fired) > 5


# -- files -----------------------------------------------------------------------------------------------------------

def test_the_newest_regular_non_dot_file_is_the_snapshot(tmp_path):
    write(tmp_path / "etcd-snapshot-a-1.db", b"x", age=3600)
    newest = write(tmp_path / "etcd-snapshot-a-2.db", b"yy", age=60)
    write(tmp_path / ".etcd-snapshot-a-3.db.tmp", b"half", age=0)
    (tmp_path / "subdir").mkdir()
    exists, count, found = snap.newest_snapshot(str(tmp_path))
    assert (exists, count, found[0]) == (True, 2, str(newest))


def test_a_missing_directory_has_no_snapshot(tmp_path):
    assert snap.newest_snapshot(str(tmp_path / "nope")) == (False, 0, None)


def test_checksum_ok_mismatch_and_absent(tmp_path):
    assert snap.check_checksum(str(write(tmp_path / "ok.db", snapshot_bytes()))) == "ok"
    assert snap.check_checksum(str(write(tmp_path / "bad.db", snapshot_bytes(corrupt=True)))) == "mismatch"
    assert snap.check_checksum(str(write(tmp_path / "copy.db", os.urandom(1024)))) == "absent"
    truncated = snapshot_bytes(pages=3)[:-600]
    assert snap.check_checksum(str(write(tmp_path / "cut.db", truncated))) == "absent"


def test_a_compressed_snapshot_is_checked_through_its_member(tmp_path):
    for name, corrupt, expected in (("good.zip", False, "ok"), ("bad.zip", True, "mismatch")):
        with zipfile.ZipFile(tmp_path / name, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("etcd-snapshot-cp1-1763780400", snapshot_bytes(corrupt=corrupt))
        assert snap.check_checksum(str(tmp_path / name)) == expected


def test_an_unreadable_snapshot_is_an_error(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(KubeCompassError, match="cannot read snapshot"):
        snap.check_checksum(str(tmp_path / "broken.zip"))


def test_status_json_is_read_from_the_last_json_line():
    noisy = '{"level":"info","msg":"x"}\n' + STATUS_JSON + "\n"
    assert snap.parse_status(noisy) == {"hash": 574507497, "revision": 48213, "total_keys": 1372, "db_size": 20480,
                                        "version": "3.6.0"}
    with pytest.raises(ValueError):
        snap.parse_status("Error: snapshot file has no hash")
    with pytest.raises(ValueError):
        snap.parse_status('{"level":"info"}')


def test_a_failing_status_reports_the_tool_output():
    runner = Runner(rc=1, out="", err="Error: invalid database\n")
    found, error = snap.snapshot_status("/usr/local/bin/etcdutl", "/s/x.db", runner)
    assert found is None and "exit 1" in error and "invalid database" in error
    assert runner.calls == [["/usr/local/bin/etcdutl", "snapshot", "status", "/s/x.db", "-w", "json"]]


# -- RKE2 and k3s ----------------------------------------------------------------------------------------------------

def rancher_root(tmp_path, distribution, config=None, dropins=None):
    base = tmp_path / "etc" / "rancher" / distribution
    base.mkdir(parents=True)
    if config is not None:
        (base / "config.yaml").write_text(config)
    for name, text in (dropins or {}).items():
        (base / "config.yaml.d").mkdir(exist_ok=True)
        (base / "config.yaml.d" / name).write_text(text)
    return str(tmp_path)


def test_rke2_defaults_are_its_own_schedule(tmp_path):
    builtin = snap.rancher_builtin("rke2", rancher_root(tmp_path, "rke2", "token: secret\n"))
    assert builtin["schedule"] == "0 */12 * * *" and builtin["retention"] == 5
    assert builtin["dir"] == "/var/lib/rancher/rke2/server/db/snapshots"
    assert (builtin["disabled"], builtin["compress"], builtin["datastore"]) == (False, False, "etcd")


def test_rke2_settings_come_from_the_config_and_drop_ins(tmp_path):
    root = rancher_root(tmp_path, "rke2", "etcd-snapshot-retention: 10\n", {
        "50-backup.yaml": "etcd-snapshot-schedule-cron: '0 */4 * * *'\netcd-snapshot-dir: /srv/snaps/\n"
                          "etcd-snapshot-compress: true\n"})
    builtin = snap.rancher_builtin("rke2", root)
    assert (builtin["schedule"], builtin["retention"], builtin["dir"], builtin["compress"]) == (
        "0 */4 * * *", 10, "/srv/snaps", True)


def test_k3s_without_cluster_init_has_no_etcd(tmp_path):
    builtin = snap.rancher_builtin("k3s", rancher_root(tmp_path, "k3s", "write-kubeconfig-mode: '0600'\n"))
    assert builtin["datastore"] == "kine (sqlite)"


# -- the whole answer ------------------------------------------------------------------------------------------------

def status(tmp_path, runner=None, **params):
    params.setdefault("dir", str(tmp_path / "snaps"))
    params.setdefault("margin_minutes", 30)
    return snap.status(params, runner or Runner(), now=NOW, root=str(tmp_path))


def test_a_fresh_verified_snapshot_is_healthy(tmp_path, etcdutl):
    newest = write(tmp_path / "snaps" / "etcd-snapshot-cp1-20261122T060000Z.db", snapshot_bytes(), age=600)
    write(tmp_path / "snaps" / "etcd-snapshot-cp1-20261122T000000Z.db", snapshot_bytes(), age=22200)
    result = status(tmp_path, etcdutl=etcdutl, schedule="0 */6 * * *")
    assert result["healthy"] is True and result["problems"] == []
    assert (result["path"], result["count"], result["age"], result["size"]) == (str(newest), 2, 600, 1056)
    assert (result["revision"], result["total_keys"], result["hash"]) == (48213, 1372, 574507497)
    checks = (result["checksum"], result["status_checked"], result["verified"], result["fresh"])
    assert checks == ("ok", True, True, True)
    assert (result["interval"], result["max_age"]) == (21600, 23400)
    assert result["on_calendar"] == ["*-*-* 00,06,12,18:00:00"]
    assert result["message"].startswith("newest snapshot %s (10m ago, within 6h30m, revision 48213" % newest)


def test_an_empty_directory_and_a_missing_tool_say_so(tmp_path):
    (tmp_path / "snaps").mkdir()
    result = status(tmp_path, etcdutl=str(tmp_path / "nope" / "etcdutl"), schedule="0 */6 * * *")
    assert result["healthy"] is False and result["dir_exists"] is True
    assert result["problems"][0] == "no etcd snapshot in %s" % (tmp_path / "snaps")
    assert "etcdutl not found or not executable at %s" % (tmp_path / "nope" / "etcdutl") in result["problems"][1]
    missing = status(tmp_path, dir=str(tmp_path / "none"), etcdutl=str(tmp_path / "nope"))
    assert missing["problems"][0].endswith("(the directory does not exist)")


def test_a_stale_snapshot_is_unhealthy_with_the_rule(tmp_path, etcdutl):
    write(tmp_path / "snaps" / "etcd-snapshot-cp1-1.db", snapshot_bytes(), age=7 * 3600)
    result = status(tmp_path, etcdutl=etcdutl, schedule="0 */6 * * *")
    assert result["fresh"] is False and result["verified"] is True and result["healthy"] is False
    assert "is 7h old, older than 6h30m (schedule '0 */6 * * *' fires at least every 6h, plus 30 min margin)" in \
        result["message"]


def test_a_corrupt_snapshot_is_unhealthy_even_when_status_reads_it(tmp_path, etcdutl):
    write(tmp_path / "snaps" / "etcd-snapshot-cp1-1.db", snapshot_bytes(corrupt=True), age=60)
    result = status(tmp_path, etcdutl=etcdutl)
    assert (result["checksum"], result["verified"], result["healthy"]) == ("mismatch", False, False)
    assert "fails its sha256 checksum" in result["message"]


def test_a_snapshot_status_cannot_read_is_unhealthy(tmp_path, etcdutl):
    write(tmp_path / "snaps" / "etcd-snapshot-cp1-1.db", snapshot_bytes(), age=60)
    result = status(tmp_path, Runner(rc=1, out="", err="Error: file is not a bolt database"), etcdutl=etcdutl)
    assert result["verified"] is False and "not a bolt database" in result["message"]


def test_without_the_tool_the_checksum_alone_verifies_when_status_is_not_required(tmp_path):
    write(tmp_path / "snaps" / "etcd-snapshot-cp1-1.db", snapshot_bytes(), age=60)
    result = status(tmp_path, etcdutl=str(tmp_path / "nope"), require_status=False)
    checks = (result["healthy"], result["verified"], result["status_checked"], result["etcdutl"])
    assert checks == (True, True, False, None)
    copied = status(tmp_path, dir=str(tmp_path / "copy"), etcdutl=str(tmp_path / "nope"), require_status=False)
    assert copied["problems"] == ["no etcd snapshot in %s (the directory does not exist)" % (tmp_path / "copy")]
    write(tmp_path / "copy" / "db", os.urandom(1024), age=60)
    copied = status(tmp_path, dir=str(tmp_path / "copy"), etcdutl=str(tmp_path / "nope"), require_status=False)
    assert copied["verified"] is False and "is not verified" in copied["message"]


def test_a_refused_directory_fails_on_kubeadm_only(tmp_path):
    with pytest.raises(KubeCompassError, match="kubelet runs every file there"):
        status(tmp_path, dir="/etc/kubernetes/manifests")


def test_an_unconvertible_schedule_is_reported_not_raised(tmp_path, etcdutl):
    write(tmp_path / "snaps" / "etcd-snapshot-cp1-1.db", snapshot_bytes(), age=60)
    result = status(tmp_path, etcdutl=etcdutl, schedule="@every 6h")
    assert result["on_calendar"] is None and "not supported" in result["on_calendar_error"]
    assert result["healthy"] is True and result["interval"] == 21600


def test_rke2_is_judged_by_its_own_schedule_and_directory(tmp_path):
    snaps = tmp_path / "var/lib/rancher/rke2/server/db/snapshots"
    write(snaps / "etcd-snapshot-cp1-1763780400", snapshot_bytes(), age=13 * 3600)
    result = snap.status({"distribution": "rke2", "etcdutl": str(tmp_path / "nope"), "require_status": False,
                          "margin_minutes": 30, "dir": str(snaps)}, Runner(), now=NOW,
                         root=rancher_root(tmp_path, "rke2", "etcd-disable-snapshots: true\n"))
    assert result["schedule"] == "0 */12 * * *" and result["fresh"] is False
    assert "disabled (etcd-disable-snapshots: true)" in result["problems"][0]
    assert result["on_calendar"] is None


def test_an_invalid_distribution_schedule_is_a_problem_not_a_failure(tmp_path):
    snaps = tmp_path / "snaps"
    write(snaps / "etcd-snapshot-cp1-1763780400", snapshot_bytes(), age=60)
    root = rancher_root(tmp_path, "rke2", "etcd-snapshot-schedule-cron: '0 */12'\n")
    result = snap.status({"distribution": "rke2", "etcdutl": "/nope", "require_status": False, "dir": str(snaps)},
                         Runner(), now=NOW, root=root)
    assert result["healthy"] is False and result["fresh"] is None
    assert result["problems"] == ["rke2's etcd-snapshot-schedule-cron is invalid (schedule: schedule '0 */12' has 2 "
                                  "fields, expected 5 (minute hour day-of-month month day-of-week))"]


def test_k3s_on_sqlite_is_healthy_with_nothing_to_check(tmp_path):
    result = snap.status({"distribution": "k3s", "etcdutl": "/nope"}, Runner(), now=NOW,
                         root=rancher_root(tmp_path, "k3s", ""))
    assert result["healthy"] is True and "datastore is kine (sqlite)" in result["message"]


def test_the_answer_is_json_serialisable(tmp_path, etcdutl):
    write(tmp_path / "snaps" / "etcd-snapshot-cp1-1.db", snapshot_bytes(), age=60)
    json.dumps(status(tmp_path, etcdutl=etcdutl, schedule="@daily"))


def test_snapshot_dirs_missing_and_unreadable(tmp_path):
    write_node_file(tmp_path, "/snap/a/one", b"1")
    (tmp_path / "snap/a/subdir").mkdir()
    write_node_file(tmp_path, "/snap/file-not-dir", b"1")
    summary, failures = snap.read_etcd_snapshots(str(tmp_path), ["/snap/a", "/snap/missing"])
    assert summary["count"] == 1 and summary["newest"]["path"] == "/snap/a/one" and failures == []
    summary, failures = snap.read_etcd_snapshots(str(tmp_path), ["/snap/none"])
    assert summary == {"dirs": ["/snap/none"], "count": 0, "newest": None}
