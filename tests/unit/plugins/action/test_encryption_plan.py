"""encryption_plan's planning: keys read back or generated once, unchanged files kept byte for byte, nothing
secret outside node_files."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.kubecompass.readiness.plugins.action import encryption_plan
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import encryption
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

NOW = datetime.datetime(2026, 11, 22, 5, 0, tzinfo=datetime.UTC)
NODES = ("kc-cp1", "kc-cp2", "kc-cp3")


def args(nodes, scan=None, **extra):
    base = {"nodes": nodes, "etcd_scan": scan, "provider": "secretbox", "kms_name": None, "kms_endpoint": None,
            "kms_timeout": "3s", "rotate": False, "drop_identity": True, "resume_target": None, "snapshots": [],
            "retired_keys": {}, "drop_keys_snapshots_need": False, "snapshot_dirs_missing": []}
    base.update(extra)
    return base


def secret_parts(result):
    """Everything but node_files and escrow_keys, as text: must never contain key material."""
    return json.dumps({k: v for k, v in result.items() if k not in ("node_files", "escrow_keys")})


def keys_in(text):
    config = encryption.parse_config(text)
    return [key.secret() for provider in config.secrets_providers() for key in provider.keys]


def test_first_enablement_adds_one_new_key_second_on_every_node():
    result = encryption_plan.plan(args(dict.fromkeys(NODES)), now=NOW)
    assert result["state"] == "NOT_ENCRYPTED" and result["name"] == "add_new_key_second"
    assert sorted(result["changed_nodes"]) == list(NODES)
    texts = set(result["node_files"].values())
    assert len(texts) == 1  # one key, identical on every node
    secret = keys_in(texts.pop())[0]
    assert secret not in secret_parts(result)
    assert result["target"] == "k8s:enc:secretbox:v1:kubecompass-20261122T050000Z"


def test_the_next_round_reads_the_key_back_and_promotes_it():
    first = encryption_plan.plan(args(dict.fromkeys(NODES)), now=NOW)
    later = NOW + datetime.timedelta(minutes=3)
    second = encryption_plan.plan(args(first["node_files"]), now=later)
    assert second["state"] == "PROMOTE" and second["target"] == first["target"]
    assert keys_in(second["node_files"]["kc-cp1"]) == keys_in(first["node_files"]["kc-cp1"])


def test_unchanged_nodes_keep_their_file_byte_for_byte():
    first = encryption_plan.plan(args(dict.fromkeys(NODES)), now=NOW)
    promoted = encryption_plan.plan(args(first["node_files"]), now=NOW)["node_files"]
    scan = {"by_prefix": {"plaintext": 3}, "complete": True, "total": 3}
    rewrite = encryption_plan.plan(args(promoted, scan), now=NOW)
    assert rewrite["state"] == "REWRITE" and rewrite["needs_rewrite"] and rewrite["changed_nodes"] == []
    assert rewrite["node_files"] == promoted


def test_a_broken_node_config_is_named():
    with pytest.raises(KubeCompassError, match="kc-cp2: its encryption configuration cannot be used"):
        encryption_plan.plan(args({"kc-cp1": None, "kc-cp2": "kind: Nonsense\n"}), now=NOW)


def test_kms_without_an_endpoint_needs_kms_already_in_use():
    with pytest.raises(KubeCompassError, match="kind kms needs"):
        encryption_plan.plan(args(dict.fromkeys(NODES), provider="kms"), now=NOW)


KMS_CONFIG = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - kms: {apiVersion: v2, name: vault, endpoint: "unix:///var/run/kms/vault.sock", timeout: 3s}
  - identity: {}
"""
AESCBC_CONFIG = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aescbc:
      keys:
      - {name: key1, secret: "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="}
  - identity: {}
"""


@pytest.mark.parametrize("config,label", [(KMS_CONFIG, "k8s:enc:kms:v2:vault"),
                                          (AESCBC_CONFIG, "k8s:enc:aescbc:v1:key1")])
def test_without_a_provider_a_strong_writer_in_use_is_kept(config, label):
    """A cluster already encrypted with KMS v2 or the user's own aescbc key is never moved to secretbox."""
    nodes = dict.fromkeys(NODES, config)
    scan = {"by_prefix": {label: 5}, "complete": True, "total": 5}
    result = encryption_plan.plan(args(nodes, scan, provider=None), now=NOW)
    assert result["target"] == label
    assert result["state"] in ("DROP_OLD_KEY", "DONE") and result["changed_nodes"] in ([], list(NODES))
    assert "secretbox" not in json.dumps(result["desired"])


def test_asking_for_another_provider_migrates_explicitly():
    nodes = dict.fromkeys(NODES, AESCBC_CONFIG)
    scan = {"by_prefix": {"k8s:enc:aescbc:v1:key1": 5}, "complete": True, "total": 5}
    result = encryption_plan.plan(args(nodes, scan, provider="secretbox"), now=NOW)
    assert result["state"] == "ADD_NEW_KEY_SECOND" and result["target"].startswith("k8s:enc:secretbox:v1:")


def writer_of(text):
    return encryption.labels(encryption.parse_config(text))[0]


def rotate_like_the_role(node_files, secrets, clock, rounds=8, **extra):
    """What roles/encryption_at_rest does: round 0 plans with rotate, later rounds resume; each step's files are
    applied, every Secret is rewritten under the writer when asked. Returns (plans, node_files, secrets)."""
    plans, records = [], {}
    for round_number in range(rounds):
        scan = {"by_prefix": {writer: count for writer, count in secrets.items() if count}, "complete": True,
                "total": sum(secrets.values())}
        result = encryption_plan.plan(args(node_files, scan, rotate=round_number == 0, retired_keys=records,
                                           **extra), now=clock())
        records = result["retired_keys"]
        plans.append(result)
        if result["done"] or result["blocked"]:
            return plans, node_files, secrets
        node_files = result["node_files"]
        if result["needs_rewrite"]:
            writer = writer_of(node_files[NODES[0]])
            secrets = {writer: sum(secrets.values())}
    raise AssertionError("no DONE in %d rounds: %s" % (rounds, [plan["state"] for plan in plans]))


def test_a_rotation_after_a_backward_clock_correction_ends_with_the_new_key_writing():
    ahead = NOW + datetime.timedelta(days=365)
    plans, files, secrets = rotate_like_the_role(dict.fromkeys(NODES), {"plaintext": 4}, lambda: ahead)
    old_target = plans[-1]["target"]
    assert old_target.endswith("kubecompass-20271122T050000Z") and set(secrets) == {old_target}
    old_secret = keys_in(files[NODES[0]])[0]
    # The controller clock is corrected back a year; the operator rotates.
    plans, files, secrets = rotate_like_the_role(files, secrets, lambda: NOW)
    new_target = plans[0]["target"]
    assert new_target != old_target and all(plan["target"] == new_target for plan in plans)
    assert plans[-1]["done"] and writer_of(files[NODES[0]]) == new_target and set(secrets) == {new_target}
    assert old_secret not in keys_in(files[NODES[0]])
    # Never a name that sorts before (or equals) an existing one, whatever the clock says.
    assert new_target.rsplit(":", 1)[1] > old_target.rsplit(":", 1)[1]


def test_key_names_never_sort_before_an_existing_one_whatever_the_clock():
    existing = ["kubecompass-20271122T050000Z", "key1"]
    assert encryption.key_name(NOW, existing) == "kubecompass-20271122T050001Z"
    assert encryption.key_name(NOW + datetime.timedelta(days=400), existing) == "kubecompass-20271227T050000Z"
    assert encryption.key_name(NOW, ["kubecompass-20261122T050000Z"]) == "kubecompass-20261122T050001Z"


def test_the_recorded_rotation_target_is_resumed_exactly():
    ahead = NOW + datetime.timedelta(days=365)
    plans, files, secrets = rotate_like_the_role(dict.fromkeys(NODES), {"plaintext": 4}, lambda: ahead)
    scan = {"by_prefix": secrets, "complete": True, "total": 4}
    first = encryption_plan.plan(args(files, scan, rotate=True), now=NOW)
    assert first["state"] == "ADD_NEW_KEY_SECOND"
    record = {"name": first["target_key"]["name"], "fingerprint": first["target_key"]["fingerprint"]}
    resumed = encryption_plan.plan(args(first["node_files"], None, resume_target=record), now=NOW)
    assert resumed["state"] == "PROMOTE" and resumed["target"] == first["target"]
    # The same name with other material on the nodes is refused, not adopted.
    forged = dict(record, fingerprint="0" * 16)
    with pytest.raises(KubeCompassError, match="recorded rotation target .* other key material"):
        encryption_plan.plan(args(first["node_files"], None, resume_target=forged), now=NOW)


def test_escrow_keys_list_every_key_with_its_fingerprint_and_nothing_else_shows_material():
    first = encryption_plan.plan(args(dict.fromkeys(NODES)), now=NOW)
    [entry] = first["escrow_keys"]
    assert entry["name"] == first["target_key"]["name"] and entry["fingerprint"] == first["target_key"]["fingerprint"]
    assert entry["secret"] == keys_in(first["node_files"][NODES[0]])[0]
    assert entry["secret"] not in secret_parts(first)


SNAPSHOTS = ["kc-cp1:/var/backups/kubecompass/etcd/a.db", "kc-cp1:/var/backups/kubecompass/etcd/b.db"]


def rotated_once(snapshots, **extra):
    """Encrypt, then rotate once with ``snapshots`` retained throughout; returns (plans, files, secrets)."""
    plans, files, secrets = rotate_like_the_role(dict.fromkeys(NODES), {"plaintext": 4}, lambda: NOW)
    later = NOW + datetime.timedelta(hours=1)
    return (files, secrets) + rotate_like_the_role(files, secrets, lambda: later, snapshots=snapshots, **extra)


def test_a_rotation_keeps_the_old_key_decrypt_only_while_a_retained_snapshot_needs_it():
    before, _secrets, plans, files, secrets = rotated_once(SNAPSHOTS)
    old = writer_of(before[NODES[0]])
    final = plans[-1]
    assert final["done"] and final["kept_for_snapshots"] == [old]
    assert encryption.labels(encryption.parse_config(files[NODES[0]])) == [final["target"], old]
    assert final["retired_keys"] == {old: SNAPSHOTS}
    # Rerun: still done, nothing changes while the snapshots remain.
    scan = {"by_prefix": secrets, "complete": True, "total": 4}
    again = encryption_plan.plan(args(files, scan, snapshots=SNAPSHOTS, retired_keys=final["retired_keys"]), now=NOW)
    assert again["done"] and again["changed_nodes"] == []
    # A snapshot taken after the drop does not need the old key; once the recorded ones are gone, it goes.
    newer = ["kc-cp1:/var/backups/kubecompass/etcd/c.db"]
    gone = encryption_plan.plan(args(files, scan, snapshots=newer, retired_keys=final["retired_keys"]), now=NOW)
    assert gone["state"] == "DROP_OLD_KEY" and gone["retired_keys"] == {}
    assert encryption.labels(encryption.parse_config(gone["node_files"][NODES[0]])) == [final["target"]]


def test_without_snapshots_the_old_key_is_dropped():
    _before, _secrets, plans, files, _final_secrets = rotated_once([])
    assert plans[-1]["done"] and plans[-1]["kept_for_snapshots"] == []
    assert encryption.labels(encryption.parse_config(files[NODES[0]])) == [plans[-1]["target"]]


def test_opting_out_names_the_snapshots_the_drop_makes_unusable():
    before, _secrets, plans, files, _final_secrets = rotated_once(SNAPSHOTS, drop_keys_snapshots_need=True)
    old = writer_of(before[NODES[0]])
    drop = next(plan for plan in plans if plan["state"] == "DROP_OLD_KEY")
    assert drop["unusable_snapshots"] == {old: SNAPSHOTS}
    assert encryption.labels(encryption.parse_config(files[NODES[0]])) == [plans[-1]["target"]]


def test_a_second_rotation_generates_a_new_key_while_the_retired_one_is_kept():
    _before, _secrets, plans, files, secrets = rotated_once(SNAPSHOTS)
    records = plans[-1]["retired_keys"]
    scan = {"by_prefix": secrets, "complete": True, "total": 4}
    later = NOW + datetime.timedelta(hours=2)
    third = encryption_plan.plan(args(files, scan, rotate=True, snapshots=SNAPSHOTS, retired_keys=records),
                                 now=later)
    assert third["state"] == "ADD_NEW_KEY_SECOND" and third["target"] not in (plans[-1]["target"], *records)


@pytest.mark.parametrize("provider, extra, label", [
    ("aescbc", {}, "k8s:enc:aescbc:v1:"),
    ("kms", {"kms_name": "vault", "kms_endpoint": "unix:///var/run/kms/vault.sock"}, "k8s:enc:kms:v2:vault"),
])
def test_a_recorded_rotation_target_of_another_provider_is_not_resumed(provider, extra, label):
    """A move from secretbox to aescbc or KMS while the secretbox rotation target is still recorded starts the
    migration, never reports the recorded secretbox key as done."""
    plans, files, secrets = rotate_like_the_role(dict.fromkeys(NODES), {"plaintext": 4}, lambda: NOW)
    record = {"name": plans[-1]["target_key"]["name"], "fingerprint": plans[-1]["target_key"]["fingerprint"]}
    scan = {"by_prefix": secrets, "complete": True, "total": 4}
    moved = encryption_plan.plan(args(files, scan, provider=provider, resume_target=record, **extra), now=NOW)
    assert moved["state"] == "ADD_NEW_KEY_SECOND" and moved["target"].startswith(label), moved["reason"]
    kept = encryption_plan.plan(args(files, scan, provider=None, resume_target=record), now=NOW)
    assert kept["done"] and kept["target"] == plans[-1]["target"]


@pytest.mark.parametrize("recorded", [False, True])
def test_aligning_nodes_never_drops_a_retired_key_a_snapshot_needs_from_any_node(recorded):
    """The first node already lost the retired key (a run stopped during the drop, the snapshots' records lost or
    kept): aligning the nodes (MIXED) keeps it wherever it is, on every node, whatever the first node holds."""
    before, _secrets, plans, files, secrets = rotated_once(SNAPSHOTS)
    old, target = writer_of(before[NODES[0]]), plans[-1]["target"]
    scan = {"by_prefix": secrets, "complete": True, "total": 4}
    dropped = encryption_plan.plan(args(files, scan, retired_keys={}), now=NOW)["node_files"][NODES[0]]
    assert encryption.labels(encryption.parse_config(dropped)) == [target]
    mixed = dict(files, **{NODES[0]: dropped})
    records = {old: SNAPSHOTS} if recorded else {}
    result = encryption_plan.plan(args(mixed, scan, snapshots=SNAPSHOTS, retired_keys=records), now=NOW)
    assert result["state"] == "MIXED" and result["retired_keys"] == {old: SNAPSHOTS}
    for node in NODES:
        assert encryption.labels(encryption.parse_config(result["node_files"][node])) == [target, old], node


SNAPSHOT_DIR = "/var/backups/kubecompass/etcd"


def test_a_missing_snapshot_directory_holding_recorded_snapshots_never_lets_their_key_go():
    """The directory is absent on a node (an unmounted volume): the snapshots the escrow record lists in it are found
    nowhere, which is no proof they are gone. A directory the record lists nothing in counts as empty."""
    before, _secrets, plans, files, secrets = rotated_once(SNAPSHOTS)
    old, records = writer_of(before[NODES[0]]), plans[-1]["retired_keys"]
    scan = {"by_prefix": secrets, "complete": True, "total": 4}
    missing = [["kc-cp2", SNAPSHOT_DIR + "/"]]
    with pytest.raises(KubeCompassError, match="cannot drop %s: .* in %s, which does not exist on kc-cp2 .*a.db" % (
            old, SNAPSHOT_DIR)):
        encryption_plan.plan(args(files, scan, retired_keys=records, snapshot_dirs_missing=missing), now=NOW)
    opted_out = encryption_plan.plan(args(files, scan, retired_keys=records, snapshot_dirs_missing=missing,
                                          drop_keys_snapshots_need=True), now=NOW)
    assert opted_out["state"] == "DROP_OLD_KEY"
    elsewhere = encryption_plan.plan(args(files, scan, retired_keys=records,
                                          snapshot_dirs_missing=[["kc-cp2", "/srv/other"]]), now=NOW)
    assert elsewhere["state"] == "DROP_OLD_KEY" and elsewhere["retired_keys"] == {}
    # Found on another node: kept, nothing blocks.
    found = encryption_plan.plan(args(files, scan, retired_keys=records, snapshots=SNAPSHOTS[:1],
                                      snapshot_dirs_missing=missing), now=NOW)
    assert found["done"] and found["kept_for_snapshots"] == [old]


def test_a_fresh_cluster_without_the_snapshot_directory_rotates_and_drops_the_old_key():
    missing = [[node, SNAPSHOT_DIR] for node in NODES]
    _before, _secrets, plans, files, _final = rotated_once([], snapshot_dirs_missing=missing)
    assert plans[-1]["done"] and plans[-1]["kept_for_snapshots"] == []
    assert encryption.labels(encryption.parse_config(files[NODES[0]])) == [plans[-1]["target"]]


TWO_PROVIDERS_ONE_NAME = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - secretbox:
      keys:
      - {name: key1, secret: "c2VjcmV0Ym94LWtleS1tYXRlcmlhbC0zMmJ5dGVzLi4="}
  - aescbc:
      keys:
      - {name: key1, secret: "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="}
  - identity: {}
"""


def test_a_name_under_two_providers_is_two_keys_to_escrow():
    result = encryption_plan.plan(args(dict.fromkeys(NODES, TWO_PROVIDERS_ONE_NAME), None, provider=None), now=NOW)
    assert sorted((entry["provider"], entry["name"]) for entry in result["escrow_keys"]) == [
        ("aescbc", "key1"), ("secretbox", "key1")]
    assert len({entry["secret"] for entry in result["escrow_keys"]}) == 2


def test_one_label_with_two_materials_across_nodes_is_named_and_nothing_is_escrowed():
    other = AESCBC_CONFIG.replace("a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=",
                                  "bGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGxsbGw=")
    nodes = {"kc-cp1": AESCBC_CONFIG, "kc-cp2": other, "kc-cp3": AESCBC_CONFIG}
    with pytest.raises(KubeCompassError, match="aescbc:v1:key1 has other key material on kc-cp2 than on kc-cp1"):
        encryption_plan.plan(args(nodes, None, provider=None), now=NOW)
