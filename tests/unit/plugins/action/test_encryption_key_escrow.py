"""encryption_key_escrow: keys vault-encrypted on the controller before first use, never removed or replaced, fail
closed without a vault secret or when the user's command fails."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys

import pytest
from ansible.errors import AnsibleActionFail
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.kubecompass.readiness.plugins.action import encryption_key_escrow
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import key_escrow

KEY = {"name": "kubecompass-20261122T050000Z", "provider": "secretbox", "fingerprint": "0123456789abcdef",
       "secret": "c2VjcmV0LW1hdGVyaWFsLW5ldmVyLXNob3duLTMyYnl0ZXM="}
SECRETS = [("default", VaultSecret(b"escrow-test-password"))]
LABEL = "k8s:enc:secretbox:v1:" + KEY["name"]


def run(args, secrets=None, check_mode=False):
    secrets = SECRETS if secrets is None else secrets
    try:
        return encryption_key_escrow.escrow(encryption_key_escrow.validated(args), secrets, check_mode)
    except key_escrow.EscrowError as exc:
        return {"failed": True, "msg": str(exc)}


def read(path):
    with open(path, "rb") as stream:
        return json.loads(VaultLib(SECRETS).decrypt(stream.read()))


def test_keys_are_vault_encrypted_0600_and_read_back_without_material(tmp_path):
    path = str(tmp_path / "escrow" / "prod.vault.json")
    target = {"name": KEY["name"], "fingerprint": KEY["fingerprint"]}
    result = run({"cluster": "prod", "path": path, "keys": [KEY], "rotation_target": target})
    assert result["changed"] and result["added"] == [LABEL]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, "rb") as stream:
        raw = stream.read()
    assert raw.startswith(b"$ANSIBLE_VAULT") and KEY["secret"].encode() not in raw
    assert read(path)["keys"][LABEL]["secret"] == KEY["secret"]
    back = run({"cluster": "prod", "path": path, "read_only": True})
    assert back["escrow"]["rotation_target"] == target and KEY["secret"] not in json.dumps(back)
    again = run({"cluster": "prod", "path": path, "keys": [KEY], "rotation_target": target})
    assert not again["changed"]


def test_a_name_escrowed_with_other_material_is_refused_and_nothing_is_removed(tmp_path):
    path = str(tmp_path / "prod.vault.json")
    run({"cluster": "prod", "path": path, "keys": [KEY]})
    other = dict(KEY, fingerprint="fedcba9876543210", secret="b3RoZXI=")
    result = run({"cluster": "prod", "path": path, "keys": [other]})
    assert result["failed"] and "escrowed with other material" in result["msg"] and "b3RoZXI=" not in result["msg"]
    second = dict(KEY, name="kubecompass-20261123T050000Z")
    run({"cluster": "prod", "path": path, "keys": [second]})
    assert sorted(read(path)["keys"]) == [LABEL, "k8s:enc:secretbox:v1:" + second["name"]]


def test_without_a_vault_secret_it_fails_closed(tmp_path):
    path = tmp_path / "prod.vault.json"
    result = run({"cluster": "prod", "path": str(path), "keys": [KEY]}, secrets=[])
    assert result["failed"] and result["msg"].startswith("encryption_at_rest_escrow: vault_file needs a vault password")
    assert not path.exists()


def test_check_mode_writes_nothing(tmp_path):
    path = tmp_path / "prod.vault.json"
    result = run({"cluster": "prod", "path": str(path), "keys": [KEY]}, check_mode=True)
    assert result["changed"] and not path.exists()


def test_a_record_of_another_cluster_is_refused(tmp_path):
    path = str(tmp_path / "prod.vault.json")
    run({"cluster": "prod", "path": path, "keys": [KEY]})
    result = run({"cluster": "staging", "path": path, "keys": [KEY]})
    assert result["failed"] and "names cluster prod, not staging" in result["msg"]


def test_a_disk_error_fails_closed_and_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "prod.vault.json"

    def full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(encryption_key_escrow.os, "fsync", full)
    result = run({"cluster": "prod", "path": str(path), "keys": [KEY]})
    assert result["failed"] and "No space left on device" in result["msg"]
    assert list(tmp_path.iterdir()) == []


def test_the_command_gets_the_record_on_stdin_and_a_failure_fails_closed(tmp_path):
    out = tmp_path / "received.json"
    script = "import sys; open(%r, 'w').write(sys.stdin.read())" % str(out)
    result = run({"cluster": "prod", "mode": "command", "command": [sys.executable, "-c", script], "keys": [KEY]})
    assert result["changed"] and json.loads(out.read_text())["keys"][LABEL]["secret"] == KEY["secret"]
    failing = run({"cluster": "prod", "mode": "command", "command": [sys.executable, "-c", "raise SystemExit(3)"],
                   "keys": [KEY]})
    assert failing["failed"] and "exited 3; nothing was written to any node" in failing["msg"]


def test_the_decryption_config_reads_with_every_named_escrowed_key():
    record, _added = key_escrow.merge(key_escrow.empty("prod"), [dict(KEY, secret="A" * 43 + "=")])
    text = key_escrow.decryption_config(record, [KEY["name"]])
    assert "secretbox" in text and "identity" in text
    with pytest.raises(key_escrow.EscrowError, match="not in the escrow"):
        key_escrow.decryption_config(record, ["missing"])


def test_command_mode_runs_the_command_only_for_what_the_nodes_record_does_not_hold(tmp_path):
    """The command's escrow cannot be read back: the nodes' record (names, fingerprints, the target, the retired
    keys' snapshots; no material) says what it already holds, so a rerun neither calls it again nor loses records."""
    out = tmp_path / "calls.jsonl"
    script = "import sys; open(%r, 'a').write(sys.stdin.read().replace(chr(10), '') + chr(10))" % str(out)
    command = {"cluster": "prod", "mode": "command", "command": [sys.executable, "-c", script]}
    target = {"name": KEY["name"], "fingerprint": KEY["fingerprint"]}
    retired = {"k8s:enc:secretbox:v1:kubecompass-20261101T000000Z:": ["cp1:/snap/a.db"]}
    first = run(dict(command, keys=[KEY], rotation_target=target, retired_keys=retired))
    assert first["changed"] and len(out.read_text().splitlines()) == 1
    assert KEY["secret"] not in json.dumps(first["escrow"])
    again = run(dict(command, keys=[KEY], rotation_target=target, retired_keys=retired, escrowed=first["escrow"]))
    assert not again["changed"] and again["added"] == [] and len(out.read_text().splitlines()) == 1
    assert again["escrow"] == first["escrow"]
    second = dict(KEY, name="kubecompass-20261123T050000Z", fingerprint="fedcba9876543210")
    grown = run(dict(command, keys=[KEY, second], rotation_target=target, retired_keys=retired,
                     escrowed=first["escrow"]))
    second_label = "k8s:enc:secretbox:v1:" + second["name"]
    assert grown["changed"] and grown["added"] == [second_label] and len(out.read_text().splitlines()) == 2
    assert sorted(grown["escrow"]["keys"]) == [LABEL, second_label]
    # A key the nodes' record lists with another fingerprint is a different key: escrowed again, never trusted.
    forged = dict(first["escrow"], keys={KEY["name"]: {"provider": "secretbox", "fingerprint": "0" * 16}})
    assert run(dict(command, keys=[KEY], rotation_target=target, retired_keys=retired, escrowed=forged))["changed"]


@pytest.mark.parametrize("damaged", [{"keys": []}, {"keys": {"k": "x"}}, {"retired_keys": {"l": "s"}},
                                     {"rotation_target": "name"}])
def test_a_damaged_node_record_is_named_and_never_counts_as_escrowed(damaged):
    result = run({"cluster": "prod", "mode": "command", "command": ["/bin/true"], "keys": [KEY], "escrowed": damaged})
    assert result["failed"] and "escrow record kept on the nodes is damaged" in result["msg"]
    assert "\n" not in result["msg"]


def test_one_name_under_two_providers_escrows_two_keys_and_old_records_keyed_by_name_are_read(tmp_path):
    """A config holding secretbox key1 and aescbc key1 holds two keys: both are escrowed. A record written before
    (format 1, keys by name) is read: its key is not escrowed again, other material under its label is refused."""
    path = str(tmp_path / "prod.vault.json")
    aescbc = dict(KEY, provider="aescbc", fingerprint="fedcba9876543210",
                  secret="YWVzY2JjLWtleS1tYXRlcmlhbC0zMmJ5dGVzLi4uLi4=")
    both = run({"cluster": "prod", "path": path, "keys": [KEY, aescbc]})
    assert both["added"] == ["k8s:enc:aescbc:v1:" + KEY["name"], LABEL]
    assert {key["secret"] for key in read(path)["keys"].values()} == {KEY["secret"], aescbc["secret"]}
    old = {"format": 1, "cluster": "prod", "rotation_target": None, "retired_keys": {},
           "keys": {KEY["name"]: {"provider": "secretbox", "fingerprint": KEY["fingerprint"], "secret": KEY["secret"]}}}
    with open(path, "wb") as stream:
        stream.write(VaultLib(SECRETS).encrypt(json.dumps(old).encode(), secret=SECRETS[0][1]))
    back = run({"cluster": "prod", "path": path, "read_only": True})
    assert back["escrow"]["keys"] == {LABEL: {"name": KEY["name"], "provider": "secretbox",
                                              "fingerprint": KEY["fingerprint"]}}
    assert run({"cluster": "prod", "path": path, "keys": [KEY]})["added"] == []
    forged = run({"cluster": "prod", "path": path, "keys": [dict(KEY, fingerprint="0" * 16)]})
    assert forged["failed"] and "%s is escrowed with other material" % LABEL in forged["msg"]


RECORD_PATH = "/etc/kubernetes/kubecompass/encryption-escrow-record.json"


def slurped(record):
    text = record if isinstance(record, str) else json.dumps(record)
    return {"content": base64.b64encode(text.encode()).decode(), "source": RECORD_PATH, "encoding": "base64"}


def test_read_back_the_vault_keeps_its_rotation_target_and_unites_the_nodes_retired_keys(tmp_path):
    path = str(tmp_path / "prod.vault.json")
    target = {"name": KEY["name"], "fingerprint": KEY["fingerprint"]}
    run({"cluster": "prod", "path": path, "keys": [KEY], "rotation_target": target,
         "retired_keys": {"k8s:enc:secretbox:v1:k0": ["/snap/a.db"]}})
    stale = {"keys": {}, "rotation_target": {"name": "kubecompass-20250101T000000Z", "fingerprint": "1" * 16},
             "retired_keys": {"k8s:enc:secretbox:v1:k0": ["/snap/b.db"], "k8s:enc:aescbc:v1:k1": ["/snap/a.db"]}}
    back = run({"cluster": "prod", "path": path, "read_only": True, "node_records": {"kc-cp2": slurped(stale)}})
    assert back["escrow"]["rotation_target"] == target
    assert back["escrow"]["retired_keys"] == {"k8s:enc:secretbox:v1:k0": ["/snap/a.db", "/snap/b.db"],
                                              "k8s:enc:aescbc:v1:k1": ["/snap/a.db"]}


def test_command_mode_takes_the_nodes_rotation_target_and_fails_naming_nodes_that_disagree():
    command = {"cluster": "prod", "mode": "command", "command": ["/bin/false"], "read_only": True}
    first = {"keys": {}, "rotation_target": {"name": KEY["name"], "fingerprint": KEY["fingerprint"]},
             "retired_keys": {}}
    other = dict(first, rotation_target={"name": "kubecompass-20261201T000000Z", "fingerprint": "2" * 16})
    agreed = run(dict(command, node_records={"kc-cp1": slurped(first), "kc-cp2": slurped(first)}))
    assert agreed["escrow"]["rotation_target"] == first["rotation_target"]
    split = run(dict(command, node_records={"kc-cp1": slurped(first), "kc-cp2": slurped(other),
                                            "kc-cp3": slurped(first)}))
    assert split["failed"] and "disagree on the rotation target" in split["msg"] and "\n" not in split["msg"]
    assert "%s on kc-cp1, kc-cp3" % KEY["name"] in split["msg"] and "on kc-cp2" in split["msg"]


@pytest.mark.parametrize("content", ['{"keys": {"k8s:enc:secretbox:v1:k', "[1, 2]", "\x00\x01"])
def test_a_damaged_node_record_fails_naming_the_node_and_the_file(tmp_path, content):
    path = str(tmp_path / "prod.vault.json")
    result = run({"cluster": "prod", "path": path, "read_only": True,
                  "node_records": {"kc-cp1": slurped({}), "kc-cp2": slurped(content)}})
    assert result["failed"] and "\n" not in result["msg"]
    assert "kc-cp2: %s is not a valid escrow record (remove it to escrow every key again)" % RECORD_PATH \
        in result["msg"]


MALFORMED = [
    ({"keys": [{"name": "k"}]}, "missing required arguments: fingerprint, provider, secret"),
    ({"keys": [dict(KEY, provider="kms")]}, "value of provider must be one of"),
    ({"keys": ["k8s:enc:secretbox:v1:k"]}, "keys"),
    ({"rotation_target": {"fingerprint": "0" * 16}}, "missing required arguments: name"),
    ({"retired_keys": {"k8s:enc:secretbox:v1:k0": "/snap/a.db"}}, "retired_keys[k8s:enc:secretbox:v1:k0] must be"),
    ({"retired_keys": {"k8s:enc:secretbox:v1:k0": [1]}}, "retired_keys[k8s:enc:secretbox:v1:k0] must be"),
    ({"node_records": {"kc-cp1": "not slurped"}}, "kc-cp1: the record kept there is not a valid escrow record"),
]


@pytest.mark.parametrize("extra, message", MALFORMED)
def test_malformed_input_is_one_line_never_a_crash(tmp_path, extra, message):
    """Wrong shapes fail in one line naming the option; the secret never shows."""
    args = dict({"cluster": "prod", "path": str(tmp_path / "prod.vault.json"), "keys": [KEY]}, **extra)
    try:
        result = run(args)
    except AnsibleActionFail as exc:
        result = {"failed": True, "msg": str(exc)}
    assert result.get("failed") and message in result["msg"] and "\n" not in result["msg"], result
    assert KEY["secret"] not in result["msg"]
