"""The rancher_secrets_encrypt module run for real against a fake rke2/k3s executable that keeps the
secrets-encrypt state in a JSON file, prints the status as the real tool does, and records every call."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubecompass.readiness.plugins.modules import rancher_secrets_encrypt

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "rancher"
KEY_MATERIAL = "c2VjcmV0LWtleS1tYXRlcmlhbC1uZXZlci1zaG93bg=="

# The fake tool. State: version, enabled (true/false, null for no configuration), stage, hashes, keys
# ([active, type, name]), pending (state patches applied one per status call, to walk through reencrypt_active),
# on (command -> {"rc", "stderr", "set", "pending"}), extra (a line printed after the hashes line).
FAKE_TOOL = r'''#!{python}
import json, sys
state_path = {state!r}
with open(state_path) as handle:
    state = json.load(handle)
with open(state_path + ".calls", "a") as handle:
    handle.write(" ".join(sys.argv[1:]) + "\n")

def save():
    with open(state_path, "w") as handle:
        json.dump(state, handle)

def table(rows):
    cells = [["Active", "Key Type", "Name"], ["------", "--------", "----"]] + rows
    widths = [max(len(r[i]) for r in cells) + 2 for i in range(2)]
    return "\n" + "".join(r[0].ljust(widths[0]) + r[1].ljust(widths[1]) + r[2] + "\n" for r in cells)

args = sys.argv[1:]
if args == ["--version"]:
    print("%s version %s (0123abcd)" % (state["program"], state["version"]))
    print("go version go1.24.5")
    sys.exit(0)
if args[:1] != ["secrets-encrypt"]:
    sys.exit(2)
command = args[1]
if command == "status":
    if state.get("pending"):
        state.update(state["pending"].pop(0))
        save()
    if state["enabled"] is None:
        print("Encryption Status: Disabled, no configuration file found")
        sys.exit(0)
    text = "Encryption Status: %s\n" % ("Enabled" if state["enabled"] else "Disabled")
    text += "Current Rotation Stage: %s\n" % state["stage"]
    text += "Server Encryption Hashes: %s\n" % state["hashes"]
    text += state.get("extra", "")
    rows = [[" *" if active else "", kind, name] for active, kind, name in state["keys"]]
    print(text + table(rows))
    sys.exit(0)
action = state.get("on", {{}}).get(command)
if action is None:
    sys.stderr.write("unexpected command %s\n" % command)
    sys.exit(3)
state.update(action.get("set", {{}}))
state["pending"] = action.get("pending", [])
save()
if action.get("stderr"):
    sys.stderr.write(action["stderr"] + "\n")
sys.exit(action.get("rc", 0))
'''


class FakeTool:
    def __init__(self, directory, program, version, **state):
        self.state_path = directory / "state.json"
        self.calls_path = directory / "state.json.calls"
        self.binary = directory / program
        base = {"program": program, "version": version, "enabled": True, "stage": "start",
                "hashes": "All hashes match", "keys": [[True, "AES-CBC", "aescbckey"]], "on": {}}
        base.update(state)
        self.state_path.write_text(json.dumps(base))
        self.binary.write_text(FAKE_TOOL.format(python=sys.executable, state=str(self.state_path)))
        self.binary.chmod(0o755)

    def calls(self):
        return self.calls_path.read_text().splitlines() if self.calls_path.exists() else []

    def state(self):
        return json.loads(self.state_path.read_text())


def run(capsys, tool, check=False, **args):
    args = dict(args, binary=str(tool.binary), poll_interval=1, _ansible_check_mode=check)
    args.setdefault("distribution", "rke2")
    args.setdefault("node_name", "cp-1")
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        rancher_secrets_encrypt.main()
    out = capsys.readouterr().out
    return exited.value.code, json.loads(out), out


NEW_KEY = [[True, "AES-CBC", "aescbckey-2026-11-22T10:00:00Z"], [False, "AES-CBC", "aescbckey"]]
FINISHED_KEY = [[True, "AES-CBC", "aescbckey-2026-11-22T10:00:00Z"]]


def rotate_keys(final_hashes="All hashes match", polls=2):
    """rotate-keys as the server does it: reencrypt_active (hash differs from the other servers) for a few
    status reads, then reencrypt_finished with the old key removed."""
    active = {"stage": "reencrypt_active", "keys": NEW_KEY, "hashes": "hash does not match between cp-1 and cp-2"}
    return {"rotate-keys": {"set": active, "pending": [active] * (polls - 1) + [
        {"stage": "reencrypt_finished", "keys": FINISHED_KEY, "hashes": final_hashes}]}}


def test_check_mode_runs_only_read_only_commands_and_reports_the_plan(tmp_path, capsys):
    tool = FakeTool(tmp_path, "rke2", "v1.31.1+rke2r1", on=rotate_keys())
    before = tool.state_path.read_text()
    rc, result, _out = run(capsys, tool, check=True, goal="rotated")
    assert rc == 0
    assert tool.calls() == ["--version", "secrets-encrypt status"]
    assert tool.state_path.read_text() == before
    assert result["changed"] is True and result["at_goal"] is False
    assert result["plans"][0]["command"] == ["secrets-encrypt", "rotate-keys"]
    assert result["commands"] == []


def test_rotation_on_a_single_server_waits_for_reencrypt_finished(tmp_path, capsys):
    tool = FakeTool(tmp_path, "rke2", "v1.31.1+rke2r1", on=rotate_keys(polls=3))
    rc, result, _out = run(capsys, tool, goal="rotated", timeout=30)
    assert rc == 0, result
    assert result["changed"] is True and result["at_goal"] is True
    assert result["commands"] == ["secrets-encrypt rotate-keys"]
    assert tool.calls().count("secrets-encrypt rotate-keys") == 1
    assert result["status"]["stage"] == "reencrypt_finished"
    assert result["status"]["active_key_name"] == "aescbckey-2026-11-22T10:00:00Z"
    assert result["next_actions"] == []
    # Second run: at the goal, nothing but the read-only commands.
    calls = len(tool.calls())
    rc, again, _out = run(capsys, tool, goal="rotated")
    assert rc == 0 and again["changed"] is False and again["at_goal"] is True
    assert tool.calls()[calls:] == ["--version", "secrets-encrypt status"]


def test_rotation_in_ha_stops_for_the_sequential_restarts(tmp_path, capsys):
    tool = FakeTool(tmp_path, "rke2", "v1.31.1+rke2r1",
                    on=rotate_keys(final_hashes="hash does not match between cp-1 and cp-2"))
    rc, result, _out = run(capsys, tool, goal="rotated", timeout=30)
    assert rc == 0, result
    assert result["changed"] is True and result["at_goal"] is False
    assert result["plans"][-1]["state"] == "restart"
    assert result["next_actions"][0] == "restart rke2-server on this server and wait until it is ready"
    assert "one at a time" in result["next_actions"][1]


def test_already_enabled_is_unchanged(tmp_path, capsys):
    tool = FakeTool(tmp_path, "k3s", "v1.33.4+k3s1")
    rc, result, _out = run(capsys, tool, distribution="k3s", version="v1.33.4+k3s1")
    assert rc == 0 and result["changed"] is False and result["at_goal"] is True
    assert tool.calls() == ["secrets-encrypt status"]  # the version was given


def test_classic_rotation_runs_prepare_then_hands_over_the_restarts(tmp_path, capsys):
    keys = [[True, "AES-CBC", "aescbckey"], [False, "AES-CBC", "aescbckey-2026-11-22T10:00:00Z"]]
    prepared = {"stage": "prepare", "keys": keys}
    tool = FakeTool(tmp_path, "rke2", "v1.27.16+rke2r1", on={"prepare": {"set": prepared}})
    rc, result, _out = run(capsys, tool, goal="rotated")
    assert rc == 0, result
    assert result["commands"] == ["secrets-encrypt prepare"]
    assert "secrets-encrypt rotate" not in tool.calls()
    assert result["next_actions"][-1].endswith("it continues with secrets-encrypt rotate")


def test_k3s_never_encrypted_is_blocked_unless_the_release_is_vouched_for(tmp_path, capsys):
    tool = FakeTool(tmp_path, "k3s", "v1.33.4+k3s1", enabled=None, keys=[],
                    on={"enable": {"set": {"enabled": False, "stage": "start"}}})
    rc, result, _out = run(capsys, tool, check=True, distribution="k3s")
    assert rc == 0 and result["at_goal"] is False and result["changed"] is False
    assert result["plans"][0]["state"] == "blocked"
    rc, result, _out = run(capsys, tool, distribution="k3s")
    assert rc == 1 and result["category"] == "blocked"
    assert result["msg"].startswith("cp-1: secrets encryption was never enabled")
    assert "secrets-encrypt enable" not in tool.calls()
    rc, result, _out = run(capsys, tool, distribution="k3s", k3s_enable_existing=True)
    assert rc == 0, result
    assert result["commands"] == ["secrets-encrypt enable"]
    assert any("secrets-encryption: true" in action for action in result["next_actions"])


def test_failed_status_and_failed_step_name_the_node(tmp_path, capsys):
    fatal = "FATA[0000] see server log for details: secret-encrypt error ID 64661"
    tool = FakeTool(tmp_path, "rke2", "v1.31.1+rke2r1", on={"rotate-keys": {"rc": 1, "stderr": fatal}})
    rc, result, _out = run(capsys, tool, goal="rotated")
    assert rc == 1 and result["category"] == "command"
    assert result["msg"] == ("cp-1: secrets-encrypt rotate-keys failed (rc 1): FATA[0000] see server log for "
                             "details: secret-encrypt error ID 64661")
    (tmp_path / "broken").mkdir()
    broken = FakeTool(tmp_path / "broken", "rke2", "v1.31.1+rke2r1")
    broken.binary.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'rke2 version v1.31.1+rke2r1' && exit 0\n"
                             "echo 'FATA[0000] open /var/lib/rancher/rke2/server/token: no such file' >&2\nexit 1\n")
    rc, result, _out = run(capsys, broken)
    assert rc == 1 and "secrets-encrypt status failed (rc 1): FATA[0000] open" in result["msg"]


def test_reencryption_that_does_not_finish_times_out(tmp_path, capsys):
    tool = FakeTool(tmp_path, "rke2", "v1.31.1+rke2r1", stage="reencrypt_active")
    rc, result, _out = run(capsys, tool, timeout=2)
    assert rc == 1 and result["category"] == "timeout"
    assert "still being re-encrypted (stage reencrypt_active) after 2s" in result["msg"]


def test_key_material_printed_by_the_tool_never_reaches_the_result(tmp_path, capsys):
    tool = FakeTool(tmp_path, "k3s", "v1.33.4+k3s1", extra="Key: %s\n" % KEY_MATERIAL)
    rc, _result, out = run(capsys, tool, distribution="k3s", goal="rotated", check=True)
    assert rc == 0
    assert KEY_MATERIAL not in out


def test_input_checks(tmp_path, capsys):
    tool = FakeTool(tmp_path, "rke2", "v1.31.1+rke2r1")
    rc, result, _out = run(capsys, tool, timeout=0)
    assert rc == 1 and result["msg"] == "cp-1: timeout must be 1 or more, got 0"
    rc, result, _out = run(capsys, tool, version="latest")
    assert rc == 1 and "cannot read a release" in result["msg"]
    missing = dict(binary=str(tmp_path / "nope"))
    with patch_module_args(dict(missing, distribution="rke2", node_name="cp-1")), pytest.raises(SystemExit):
        rancher_secrets_encrypt.main()
    assert "is not an executable file" in json.loads(capsys.readouterr().out)["msg"]
