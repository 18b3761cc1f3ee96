"""apply_with_rollback names the step an OSError stopped it at: the health probe (before any restore, or after the
backup was restored) or the restore itself; in every case the marker stays for the next run."""

from __future__ import annotations

import errno

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import pending, rollback
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError


class Change(rollback.NodeChange):
    """A change whose health probe answers from a script: True, False, or an OSError to raise."""

    def __init__(self, answers, restart_command=None, write_error=None):
        super().__init__("/backups", "bk", "/marker", "https://10.0.0.1:6443", self.probe, 0)
        self.answers, self.write_error, self.restart_command = list(answers), write_error, restart_command
        self.finished = False

    def probe(self):
        answer = self.answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        return answer

    def begin(self, written, secrets, expect):
        return {"backup": "/backups/bk"}

    def finish(self, record):
        self.finished = True

    def write(self):
        if self.write_error:
            raise self.write_error
        return True

    def restart(self):
        return 0, ""

    def failure(self, reason, record, restarted, recovered):
        return KubeCompassError("rolled back: %s" % reason, "node")


@pytest.fixture
def restores(monkeypatch):
    done = []
    monkeypatch.setattr(pending, "restore", done.append)
    return done


def test_a_health_probe_error_after_the_write_names_the_probe_and_no_restore(restores):
    change = Change([True, OSError(errno.ECONNREFUSED, "Connection refused")])
    with pytest.raises(KubeCompassError) as failure:
        rollback.apply_with_rollback(change, {"/etc/kubernetes/manifests/kube-apiserver.yaml": "d"})
    message = str(failure.value)
    assert "health probe of the API server at https://10.0.0.1:6443 failed (Connection refused)" in message
    assert "before any restore was attempted" in message and "restoring the backup" not in message
    assert "the next run restores /backups/bk first" in message
    assert restores == [] and not change.finished  # the marker stays


def test_a_health_probe_error_after_the_restore_says_the_backup_was_restored(restores):
    change = Change([True, OSError(errno.ECONNREFUSED, "Connection refused")], restart_command=["restart"],
                    write_error=OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(KubeCompassError) as failure:
        rollback.apply_with_rollback(change, {"/etc/rancher/rke2/config.yaml.d/kc.yaml": "d"})
    message = str(failure.value)
    assert "the backup /backups/bk was restored, then the health probe of the API server at https://10.0.0.1:6443 " \
           "failed (Connection refused)" in message
    assert restores == [{"backup": "/backups/bk"}] and not change.finished


def test_a_failing_restore_still_says_so(monkeypatch):
    def refuse(record):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(pending, "restore", refuse)
    change = Change([True], write_error=OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(KubeCompassError, match=r"restoring the backup /backups/bk failed \(Permission denied\); "
                                               r"the next run restores it first"):
        rollback.apply_with_rollback(change, {"/etc/kubernetes/manifests/kube-apiserver.yaml": "d"})
    assert not change.finished
