"""The record of a change in flight: written atomically, removed with the key copies only in a known state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import pending, rollout
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from tests.fakes.full_disk import FullDisk


def test_the_marker_is_written_through_a_dot_file_renamed_over_it(tmp_path, monkeypatch):
    key = tmp_path / "enc.yaml"
    key.write_text("OLDKEY")
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((os.path.basename(src), os.path.basename(dst), Path(src).read_text()))
        real_replace(src, dst)

    monkeypatch.setattr(rollout.os, "replace", spy)
    record = pending.begin(str(tmp_path / "b"), "/b", "x", {str(key): pending.digest(b"NEWKEY")}, [str(key)])
    (temp, final, text), = renames
    assert temp.startswith(".") and final == "pending-x.json" and json.loads(text) == record
    assert pending.read(str(tmp_path / "b"), "x") == record
    assert oct(os.stat(tmp_path / "b" / "pending-x.json").st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("budget", [0, 3, 6])
def test_a_full_disk_leaves_no_marker_and_no_key_copy(tmp_path, monkeypatch, budget):
    key = tmp_path / "enc.yaml"
    key.write_text("OLDKEY")
    (tmp_path / "b").mkdir()
    FullDisk(tmp_path / "b", budget).install(monkeypatch)
    with pytest.raises(KubeCompassError) as raised:
        pending.begin(str(tmp_path / "b"), "/var/backups", "x", {str(key): None}, [str(key)])
    assert str(raised.value).startswith("cannot back up the change in backup_dir /var/backups: errno 28 ENOSPC "
                                        "(No space left on device); nothing was changed")
    assert list((tmp_path / "b").iterdir()) == [] and key.read_text() == "OLDKEY"


def test_finish_drops_the_key_copies_and_the_marker_but_keeps_other_backups(tmp_path):
    key, policy = tmp_path / "enc.yaml", tmp_path / "policy.yaml"
    key.write_text("OLDKEY")
    policy.write_text("old policy")
    record = pending.begin(str(tmp_path / "b"), "/b", "x", {str(key): None, str(policy): None}, [str(key)])
    pending.finish(str(tmp_path / "b"), "x", record)
    left = [p.read_text() for p in (tmp_path / "b").rglob("*") if p.is_file()]
    assert left == ["old policy"]
