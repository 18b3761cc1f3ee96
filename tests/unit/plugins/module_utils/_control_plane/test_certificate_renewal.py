"""kubeadm certificate renewal on one node (certificate_renewal.renew_node) with kubeadm and the node's files faked:
what is due, check mode touching nothing, the backup before kubeadm runs, the components to restart, a second run
changing nothing, kubeadm or the backup failing, and no key material in any result."""

from __future__ import annotations

import datetime
import errno
import json
import os
from pathlib import Path

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import certificate_renewal as cr
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import static_pod_change
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
KEY = "-----BEGIN RSA PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END RSA PRIVATE KEY-----\n"


def entry(name, path, days, sha, is_ca=False, **extra):
    moment = NOW + datetime.timedelta(days=days)
    return {"name": name, "path": path, "missing": False, "error": None, "is_ca": is_ca, "sha256": sha,
            "not_after": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), **extra}


def entries(apiserver_days=10, apiserver_sha="old"):
    return [
        entry("ca", "/etc/kubernetes/pki/ca.crt", 3000, "ca", is_ca=True),
        entry("apiserver", "/etc/kubernetes/pki/apiserver.crt", apiserver_days, apiserver_sha),
        entry("apiserver-kubelet-client", "/etc/kubernetes/pki/apiserver-kubelet-client.crt", 60, "kc"),
        entry("etcd-server", "/etc/kubernetes/pki/etcd/server.crt", 300, "es"),
        entry("scheduler.conf", "/etc/kubernetes/scheduler.conf", 300, "sc"),
        entry("kubelet.conf", "/etc/kubernetes/kubelet.conf", 2, "kl"),
        {"name": "super-admin.conf", "path": "/etc/kubernetes/super-admin.conf", "missing": True, "error": None},
    ]


class Node:
    """kubeadm and the node's files: renewing apiserver gives it a new fingerprint and a year."""

    def __init__(self, tmp_path, rc=0):
        self.calls, self.rc, self.renewed = [], rc, False
        self.pki = tmp_path / "pki"
        self.pki.mkdir()
        (self.pki / "apiserver.crt").write_text("-----BEGIN CERTIFICATE-----\nPUBLIC\n-----END CERTIFICATE-----\n")
        (self.pki / "apiserver.key").write_text(KEY)
        self.manifests = tmp_path / "manifests"
        self.manifests.mkdir()
        self.backups = tmp_path / "backups"

    def entries(self):
        found = entries(365, "new") if self.renewed else entries()
        for item in found:  # the files exist below tmp_path
            if item["name"] == "apiserver":
                item["path"] = str(self.pki / "apiserver.crt")
        return found

    def run(self, argv):
        self.calls.append(argv)
        if self.rc:
            return self.rc, "", "[certs] reading the certificate\nerror: open /etc/kubernetes/pki/ca.key: denied\n"
        self.renewed = True
        return 0, "", ""

    def renew(self, check_mode=False, within=30):
        return cr.renew_node(self.entries, self.run, NOW, within, "kubeadm", None, str(self.backups), "STAMP",
                             check_mode, manifest_dir=str(self.manifests))

    def annotate(self, component, value):
        (self.manifests / ("%s.yaml" % component)).write_text(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  annotations:\n    %s: %s\n" % (
                component, cr.ANNOTATION, value))


def test_due_names_renewable_certificates_under_the_threshold_and_unreadable_ones():
    found = entries()
    found.append({"name": "front-proxy-client", "path": "/etc/kubernetes/pki/front-proxy-client.crt",
                  "missing": False, "error": "no PEM CERTIFICATE block", "not_after": None})
    renew, problems = cr.due(found, NOW, 30)
    # kubelet.conf (2 days) is the kubelet's to rotate; CAs are never renewed; 60 days is not under 30.
    assert [(name, round(left)) for name, left in renew] == [("apiserver", 10)]
    assert problems == ["cannot read /etc/kubernetes/pki/front-proxy-client.crt: no PEM CERTIFICATE block"]
    assert [n for n, _left in cr.due(found, NOW, 90)[0]] == ["apiserver", "apiserver-kubelet-client"]


def test_check_mode_runs_nothing_writes_nothing_and_says_what_would_change(tmp_path):
    node = Node(tmp_path)
    result = node.renew(check_mode=True)
    assert node.calls == [] and not node.backups.exists()
    assert result["changed"] is True and result["renewed"] == []
    assert result["due"] == [{"name": "apiserver", "days_left": 10.0}]
    assert list(result["restart"]) == ["kube-apiserver"]


def test_renewal_backs_up_first_then_renews_and_names_the_restarts_and_a_second_run_changes_nothing(tmp_path):
    node = Node(tmp_path)
    result = node.renew()
    assert node.calls == [["kubeadm", "certs", "renew", "apiserver"]]
    assert result["renewed"] == ["apiserver"] and result["changed"] is True
    digest = cr.certificates_digest(node.entries(), "kube-apiserver")
    assert result["restart"] == {"kube-apiserver": digest}
    backup = result["backup"]
    assert backup == str(node.backups / "STAMP-certificates")
    copied_key = os.path.join(backup, str(node.pki / "apiserver.key").lstrip("/"))
    assert Path(copied_key).read_text() == KEY and os.stat(copied_key).st_mode & 0o777 == 0o600
    assert os.stat(backup).st_mode & 0o777 == 0o700
    assert "SECRETKEYMATERIAL" not in json.dumps(result)
    # The restart wrote the annotation: nothing is due and nothing restarts.
    node.annotate("kube-apiserver", digest)
    node.calls.clear()
    again = node.renew()
    assert again == {"changed": False, "renewed": [], "due": [], "problems": [], "backup": None, "restart": {}}
    assert node.calls == []


def test_a_pod_restarted_for_other_certificates_restarts_without_a_renewal(tmp_path):
    node = Node(tmp_path)
    node.renewed = True  # renewed by hand since the pod's last restart
    node.annotate("kube-scheduler", "0123456789abcdef")
    result = node.renew()
    assert node.calls == [] and result["renewed"] == []
    assert result["restart"] == {"kube-scheduler": cr.certificates_digest(node.entries(), "kube-scheduler")}
    assert result["changed"] is True


def test_kubeadm_failing_names_the_certificate_its_cause_and_the_backup(tmp_path):
    node = Node(tmp_path, rc=1)
    with pytest.raises(KubeCompassError) as failed:
        node.renew()
    message = str(failed.value)
    assert message.startswith("kubeadm certs renew apiserver failed (exit 1): error: open "
                              "/etc/kubernetes/pki/ca.key: denied; the certificates before this run are in ")
    assert "\n" not in message and "SECRET" not in message


def test_a_full_disk_during_the_backup_renews_nothing(tmp_path, monkeypatch):
    node = Node(tmp_path)
    real_open = os.open

    def full(path, flags, mode=0o777, **kwargs):
        if flags & os.O_CREAT and str(path).startswith(str(node.backups)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(cr.os, "open", full)
    with pytest.raises(KubeCompassError, match="cannot back up the certificates into .*backups "
                                               r"\(nothing was renewed\): No space left on device"):
        node.renew()
    assert node.calls == [] and not (node.backups / "STAMP-certificates").exists()


def test_still_due_after_kubeadm_ran_fails_naming_them(tmp_path):
    node = Node(tmp_path)
    node.run = lambda argv: (0, "", "")  # kubeadm "succeeds" but the certificate stays as it was
    with pytest.raises(KubeCompassError, match="kubeadm renewed apiserver but apiserver still expire within 30 days"):
        node.renew()


def test_restart_annotations_must_be_the_collections_own(tmp_path):
    params = {"annotations": {"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": "x"}}
    with pytest.raises(KubeCompassError, match="annotations: kubeadm.kubernetes.io/.* is not under "
                                               "checksum.kubecompass.io/"):
        static_pod_change._annotations(params, [])
    assert static_pod_change._annotations({"annotations": {cr.ANNOTATION: "abc"}}, []) == {cr.ANNOTATION: "abc"}


def test_a_run_killed_after_renewing_and_before_restarting_restarts_on_the_rerun(tmp_path):
    """The pods never carried the annotation (a first run): the rerun must still restart the API server, which
    else keeps serving the old certificate (and the old client certificates towards etcd and the kubelets)."""
    node = Node(tmp_path)
    first = node.renew()
    assert first["restart"] == {"kube-apiserver": cr.certificates_digest(node.entries(), "kube-apiserver")}
    # killed here: no static pod was restarted, no manifest carries the annotation
    rerun = node.renew()
    assert rerun["renewed"] == [] and rerun["restart"] == first["restart"] and rerun["changed"] is True
    # once the restart carried the renewed certificates, the owed restart is settled and nothing changes
    node.annotate("kube-apiserver", first["restart"]["kube-apiserver"])
    settled = node.renew()
    assert settled["restart"] == {} and settled["changed"] is False, settled
    assert node.renew() == settled


def test_check_mode_names_an_owed_restart_and_settles_nothing(tmp_path):
    node = Node(tmp_path)
    owed = node.renew()["restart"]
    marker = sorted(p.name for p in node.backups.iterdir() if p.is_file())
    assert node.renew(check_mode=True)["restart"] == owed
    assert sorted(p.name for p in node.backups.iterdir() if p.is_file()) == marker
