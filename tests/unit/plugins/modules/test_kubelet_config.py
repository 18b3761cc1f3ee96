"""The kubelet_config module run for real on a KubeletConfiguration under tmp_path: check mode changes nothing and
shows the diff, a run sets only the keys off their value keeping the file's mode, a second run changes nothing, a
flag-decided key is reported not edited, a missing file or an unknown setting fails with one line naming it."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubecompass.readiness.plugins.modules import kubelet_config as module

KUBEADM = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: AlwaysAllow
"""
WANTED = {"anonymous_auth": False, "authorization_mode": "Webhook", "rotate_certificates": True,
          "make_iptables_util_chains": True}


def run(capsys, check=False, **args):
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=True)), \
            pytest.raises(SystemExit) as exited:
        module.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(KUBEADM)
    path.chmod(0o600)
    return path


def test_check_mode_changes_nothing_and_shows_the_diff(config, capsys):
    rc, result = run(capsys, check=True, path=str(config), settings=WANTED)
    assert rc == 0 and result["changed"] is True
    assert config.read_text() == KUBEADM
    assert result["diff"]["before"] == ("authentication.anonymous.enabled: true\nauthorization.mode: AlwaysAllow\n"
                                        "rotateCertificates: (unset)\n")
    assert result["diff"]["after"] == ("authentication.anonymous.enabled: false\nauthorization.mode: Webhook\n"
                                       "rotateCertificates: true\n")
    assert [c["key"] for c in result["changes"]] == ["authentication.anonymous.enabled", "authorization.mode",
                                                     "rotateCertificates"]


def test_a_run_sets_the_keys_keeps_the_mode_and_a_second_run_changes_nothing(config, capsys):
    rc, result = run(capsys, path=str(config), settings=WANTED)
    assert rc == 0 and result["changed"] is True
    written = yaml.safe_load(config.read_text())
    assert written["authentication"] == {"anonymous": {"enabled": False},
                                         "x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}}
    assert written["authorization"] == {"mode": "Webhook"} and written["rotateCertificates"] is True
    assert "makeIPTablesUtilChains" not in written  # the kubelet's default is already true
    assert config.stat().st_mode & 0o777 == 0o600
    rc, again = run(capsys, path=str(config), settings=WANTED)
    assert rc == 0 and again["changed"] is False and again["changes"] == []


def test_a_key_the_command_line_sets_is_reported_not_edited(config, capsys):
    rc, result = run(capsys, path=str(config), settings={"anonymous_auth": False},
                     flags={"anonymous-auth": "true", "config": str(config)})
    assert rc == 0 and result["changed"] is False
    assert result["overridden"] == [{"key": "authentication.anonymous.enabled", "flag": "true"}]
    assert config.read_text() == KUBEADM


@pytest.mark.parametrize("args, message", [
    ({"path": "/nonexistent/config.yaml", "settings": WANTED},
     "kubelet config file /nonexistent/config.yaml does not exist; it is not created"),
    ({"settings": {"readOnlyPort": 0}}, "settings: unknown setting readOnlyPort"),
    ({"settings": {"anonymous_auth": "no"}}, "settings: anonymous_auth must be true or false, got 'no'"),
])
def test_bad_input_fails_with_one_line_naming_it(config, capsys, args, message):
    rc, result = run(capsys, **dict({"path": str(config)}, **args))
    assert rc == 1 and result["msg"].startswith(message) and "\n" not in result["msg"]
