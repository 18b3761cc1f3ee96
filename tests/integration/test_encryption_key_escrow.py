"""Issue 13 item 1 on a fresh 1-node local control plane: a rotation keeps the retired key while a retained etcd
snapshot needs it, and that snapshot, restored into a fresh etcd and a fresh kube-apiserver whose encryption config is
rebuilt from the escrow alone (the inventory's escrow command appends every record to <root>/escrow.jsonl), gives
every Secret back. Once the snapshot is gone the retired key is dropped, also when newer snapshots arrived (the
retirement records are read back from the nodes in command mode); the opt-out names the snapshots it makes unusable.

The tests run in file order and build on each other (one cluster, one story); the cluster is stopped afterwards."""

from __future__ import annotations

import json
import os
import re
import time
import types
from pathlib import Path

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import key_escrow
from kclocal import cluster
from tests.helpers import VENV_BIN, ansible_env, run
from tests.integration import restore, seed
from tests.integration.test_control_plane_remediation import (
    encryption_keys,
    playbook,
    raw_secrets,
    recap_changed,
    secret_hashes,
)

NAMESPACES = [f"escrow-{i}" for i in range(3)]
SECRETS_PER_NAMESPACE = 20
NODE = "kc-cp1"
SCRIPT = "/etc/kubernetes/kubecompass-etcd-snapshot"
RECORD = "etc/kubernetes/kubecompass/encryption-escrow-record.json"

pytestmark = pytest.mark.nodes(1)

STORY: dict = {"timings": {}}


@pytest.fixture(scope="module")
def cp(control_planes):
    """A fresh 1-node cluster with N Secrets of known content; stopped afterwards (it ends encrypted)."""
    control_plane, state = control_planes.fresh(1)
    client = control_plane.client()
    for namespace in NAMESPACES:
        seed.create(client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        for index in range(SECRETS_PER_NAMESPACE):
            seed.create(client, {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                 "metadata": {"name": f"s{index:03d}", "namespace": namespace},
                                 "stringData": {"value": f"{namespace}-{index}-{os.urandom(8).hex()}"}})
    STORY["bin_dir"] = Path(state["bin_dir"])
    yield control_plane
    print("escrow story:", json.dumps({k: v for k, v in STORY.items() if k != "bin_dir"}, default=str, indent=1))
    cluster.down()


# -- helpers ---------------------------------------------------------------------------------------------------------

def step(cp, name, *args):
    result, seconds = playbook(cp, name, *args)
    output = result.stdout + result.stderr
    STORY["timings"].setdefault(name, []).append(round(seconds, 1))
    return result, output


def labels(cp):
    """The key names on the node, writer first."""
    return [name for _kind, name, _secret in encryption_keys(cp, NODE)]


def snapshot_dir(cp):
    return cp.node_root(NODE) / cluster.ETCD_SNAPSHOT_DIR.lstrip("/")


def snapshots(cp):
    directory = snapshot_dir(cp)
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".db")) if directory.is_dir() else []


def take_snapshot(cp):
    """One more snapshot through the script the etcd_snapshots role installed; its file name."""
    before = snapshots(cp)
    time.sleep(1.1)  # a new UTC second, a new name
    result = run([str(VENV_BIN / "ansible"), NODE, "-i", str(cp.inventory), "-m", "ansible.builtin.command",
                  "-a", SCRIPT], env=ansible_env(), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    [new] = sorted(set(snapshots(cp)) - set(before))
    return new


def escrowed_keys(cp):
    """Every key the escrow command received, by name (the records are concatenated JSON documents; keys by storage
    label, or by name in records written before)."""
    text, keys, decoder, index = (cp.paths.root / "escrow.jsonl").read_text(), {}, json.JSONDecoder(), 0
    while index < len(text.rstrip()):
        record, index = decoder.raw_decode(text, index)
        keys.update({key.get("name", ident): key for ident, key in record["keys"].items()})
        while index < len(text) and text[index].isspace():
            index += 1
    return keys


def node_record(cp):
    return json.loads((cp.node_root(NODE) / RECORD).read_text())


def retired_labels(cp):
    return sorted(node_record(cp)["retired_keys"])


# -- the story -------------------------------------------------------------------------------------------------------

def test_encryption_escrows_the_key_before_the_node_uses_it(cp):
    result, output = step(cp, "remediate", "--tags", "encryption")
    assert result.returncode == 0, output[-6000:]
    [key] = labels(cp)
    assert key.startswith("kubecompass-")
    escrowed = escrowed_keys(cp)
    assert escrowed[key]["secret"] == encryption_keys(cp, NODE)[0][2]
    assert escrowed[key]["secret"] not in output
    assert oct((cp.paths.root / "escrow.jsonl").stat().st_mode & 0o777) == "0o600"
    record = node_record(cp)
    assert record["rotation_target"]["name"] == key
    assert escrowed[key]["secret"] not in json.dumps(record) and '"secret"' not in json.dumps(record)
    assert oct((cp.node_root(NODE) / RECORD).stat().st_mode & 0o777) == "0o600"
    STORY.update(first_key=key, labels_after_encryption=labels(cp))


def test_a_second_run_changes_nothing_and_escrows_nothing_again(cp):
    size = (cp.paths.root / "escrow.jsonl").stat().st_size
    result, output = step(cp, "remediate", "--tags", "encryption")
    assert result.returncode == 0, output[-6000:]
    assert recap_changed(output) == 0, output[-6000:]
    assert (cp.paths.root / "escrow.jsonl").stat().st_size == size


def test_a_snapshot_taken_under_the_first_key(cp):
    result, output = step(cp, "remediate", "--tags", "etcd_snapshots")
    assert result.returncode == 0, output[-6000:]
    [first] = snapshots(cp)
    prefix = f"k8s:enc:secretbox:v1:{STORY['first_key']}:".encode()
    assert all(value.startswith(prefix) for value in raw_secrets(cp).values())
    STORY.update(snapshot=first, hashes=secret_hashes(cp))
    assert len([name for name in STORY["hashes"] if name.split("/")[0] in NAMESPACES]) == \
        len(NAMESPACES) * SECRETS_PER_NAMESPACE


def test_the_rotation_keeps_the_old_key_decrypt_only_while_the_snapshot_is_retained(cp):
    result, output = step(cp, "rotate_encryption_key")
    assert result.returncode == 0, output[-6000:]
    new, old = labels(cp)
    assert old == STORY["first_key"] and new > old
    prefix = f"k8s:enc:secretbox:v1:{new}:".encode()
    raw = raw_secrets(cp)
    assert raw and all(value.startswith(prefix) for value in raw.values())
    assert secret_hashes(cp) == STORY["hashes"]
    old_label = f"k8s:enc:secretbox:v1:{old}"
    assert node_record(cp)["retired_keys"] == {old_label: [f"{cluster.ETCD_SNAPSHOT_DIR}/{STORY['snapshot']}"]}
    assert sorted(escrowed_keys(cp)) == sorted([old, new])
    STORY.update(second_key=new, labels_after_rotation=labels(cp))


def test_a_rerun_keeps_the_retired_key_and_changes_nothing(cp):
    result, output = step(cp, "remediate", "--tags", "encryption")
    assert result.returncode == 0, output[-6000:]
    assert recap_changed(output) == 0, output[-6000:]
    assert labels(cp) == STORY["labels_after_rotation"]


def test_the_snapshot_restores_with_the_escrowed_keys_and_every_secret_reads_back(cp, tmp_path):
    keys = escrowed_keys(cp)
    record = {"keys": keys}
    config = tmp_path / "encryption-from-escrow.yaml"
    config.write_text(key_escrow.decryption_config(record, sorted(keys, reverse=True)))
    config.chmod(0o600)
    started = time.monotonic()
    snapshot = snapshot_dir(cp) / STORY["snapshot"]
    with restore.restored_etcd(STORY["bin_dir"], snapshot, tmp_path) as etcd_url, \
            restore.fresh_apiserver(STORY["bin_dir"], etcd_url, config, tmp_path) as client:
        restored = secret_hashes(types.SimpleNamespace(client=lambda: client))
    STORY["timings"]["restore"] = round(time.monotonic() - started, 1)
    STORY["restored"] = {"secrets": len(restored), "equal": restored == STORY["hashes"]}
    assert restored == STORY["hashes"]


def test_once_its_snapshot_is_gone_the_retired_key_is_dropped_though_newer_snapshots_remain(cp):
    newer = take_snapshot(cp)
    (snapshot_dir(cp) / STORY["snapshot"]).unlink()
    assert snapshots(cp) == [newer]
    result, output = step(cp, "remediate", "--tags", "encryption")
    assert result.returncode == 0, output[-6000:]
    assert labels(cp) == [STORY["second_key"]]
    assert retired_labels(cp) == []
    assert secret_hashes(cp) == STORY["hashes"]
    STORY.update(newer_snapshot=newer, labels_after_snapshot_removed=labels(cp))


def test_the_opt_out_names_the_snapshots_it_makes_unusable(cp):
    result, output = step(cp, "rotate_encryption_key", "-e", "encryption_at_rest_drop_keys_snapshots_need=true")
    assert result.returncode == 0, output[-6000:]
    [third] = labels(cp)
    assert third > STORY["second_key"]
    unusable = f"{cluster.ETCD_SNAPSHOT_DIR}/{STORY['newer_snapshot']}"
    assert re.search(r"dropping k8s:enc:secretbox:v1:%s makes these retained etcd snapshots unusable.*%s"
                     % (re.escape(STORY["second_key"]), re.escape(unusable)), output, re.S), output[-6000:]
    assert retired_labels(cp) == []
    assert secret_hashes(cp) == STORY["hashes"]
    STORY.update(labels_after_opt_out=labels(cp))


def faketime_env(offset):
    """The controller's clock moved by ``offset`` (libfaketime, e.g. "+360d"); the nodes keep the real one."""
    library = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)
    if library is None:
        pytest.fail("libfaketime is missing (hack/setup.sh installs it: apt-get install libfaketime)")
    # The monotonic clock moves too: Python's sleep fails under libfaketime with a real one.
    return {"LD_PRELOAD": str(library), "FAKETIME": offset}


def test_a_rotation_under_a_clock_a_year_ahead_then_one_after_the_correction_writes_with_the_new_key(cp, monkeypatch):
    # 360 days: the local control plane's serving certificates are valid for 365.
    with monkeypatch.context() as patched:
        for name, value in faketime_env("+360d").items():
            patched.setenv(name, value)
        result, output = step(cp, "rotate_encryption_key")
    assert result.returncode == 0, output[-6000:]
    future = labels(cp)[0]
    assert future > f"kubecompass-{time.gmtime().tm_year + 1}", labels(cp)
    before = labels(cp)
    result, output = step(cp, "rotate_encryption_key")  # the clock corrected: now sorts before the future key
    assert result.returncode == 0, output[-6000:]
    writer = labels(cp)[0]
    assert writer not in before and writer > future, (before, labels(cp))
    prefix = f"k8s:enc:secretbox:v1:{writer}:".encode()
    raw = raw_secrets(cp)
    assert raw and all(value.startswith(prefix) for value in raw.values())
    assert secret_hashes(cp) == STORY["hashes"]
    assert writer in escrowed_keys(cp)
    STORY.update(labels_under_future_clock=before, labels_after_correction=labels(cp))
