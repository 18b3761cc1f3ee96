"""Issue 13 item 2 on the 3-node local control plane: an inventory that lists two of the three control-plane nodes
is blocked before the encryption role writes anything, naming the cluster and both lists; the full inventory
passes the same gate."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
import yaml

from kclocal.kube import ApiError
from tests.helpers import VENV_BIN, ansible_env, run
from tests.integration import seed
from tests.integration.test_local_control_plane import apiserver_pid

pytestmark = pytest.mark.nodes(3)

MISSING = "kc-cp3"
GATE = "The inventory lists every control-plane node the cluster runs"
BACKUPS = Path("/var/lib/kubecompass/backups")


def inventory_without(control_plane, tmp_path, node):
    inventory = yaml.safe_load(control_plane.inventory.read_text())
    groups = inventory["all"]["children"]
    group = next(name for name, body in groups.items() if node in (body.get("hosts") or {}))
    del groups[group]["hosts"][node]
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def files_under(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} \
        if root.is_dir() else {}


def everything_the_role_could_write(control_plane):
    """Every node's /etc/kubernetes (manifests, encryption config, PKI) byte for byte, its API server process,
    the backups, and every raw Secret value in etcd."""
    state = {"backups": files_under(BACKUPS)}
    for node in control_plane.nodes:
        root = control_plane.node_root(node["name"])
        state[node["name"]] = {"files": files_under(root / "etc/kubernetes/manifests")
                               | files_under(root / "etc/kubernetes/kubecompass"),
                               "pid": apiserver_pid(control_plane, node["name"])}
    prefix = b"/registry/secrets/"
    answer = seed.etcd_range(control_plane, {"key": base64.b64encode(prefix).decode(),
                                             "range_end": base64.b64encode(prefix[:-1] + b"0").decode()})
    state["secrets"] = {kv["key"]: hashlib.sha256(base64.b64decode(kv["value"])).hexdigest()
                        for kv in answer.get("kvs") or []}
    return state


def lock_held(control_plane):
    try:
        lease = control_plane.client().request(
            "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kubecompass-remediation")
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise
    return bool((lease.get("spec") or {}).get("holderIdentity"))


def encryption(inventory, *args):
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/remediate.yml",
           "--tags", "encryption", *args]
    return run(cmd, env=ansible_env(), timeout=900)


@pytest.mark.parametrize("check_mode", [True, False], ids=["check", "apply"])
def test_an_inventory_of_two_of_three_nodes_is_blocked_and_nothing_is_written(control_plane, tmp_path, check_mode):
    inventory = inventory_without(control_plane, tmp_path, MISSING)
    before = everything_the_role_could_write(control_plane)

    result = encryption(inventory, *(["--check"] if check_mode else []))

    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    assert "localcp: the inventory lists the control-plane nodes [kc-cp1 (127.0.10.1, 198.51.100.1), " \
           "kc-cp2 (127.0.10.2, 198.51.100.2)]" in output, output[-4000:]
    assert "EndpointSlice default/kubernetes shows [198.51.100.1, 198.51.100.2, 198.51.100.3] " \
           "(not in the inventory: 198.51.100.3)" in output
    assert "mirror pods kube-system/kube-apiserver-* shows [kc-cp1, kc-cp2, kc-cp3] (not in the inventory: " \
           "kc-cp3)" in output
    assert "etcd member list shows [kc-cp1, kc-cp2, kc-cp3] (not in the inventory: kc-cp3)" in output
    # Blocked before the first step: nothing was read for planning, nothing applied.
    assert "Read every node's encryption configuration" not in output
    assert "Escrow every key" not in output and "Write the encryption configuration" not in output
    assert "Traceback" not in output
    assert everything_the_role_could_write(control_plane) == before
    assert not lock_held(control_plane)


def test_the_full_inventory_passes_the_gate(control_plane):
    result = encryption(control_plane.inventory, "--check")
    output = result.stdout + result.stderr
    gate = re.search(r"TASK \[kubecompass\.readiness\.control_plane_rollout : %s\] \**\n(.*)\n" % re.escape(GATE),
                     output)
    assert gate, output[-4000:]
    assert gate.group(1) == "ok: [localcp -> localhost]", output[gate.start():gate.start() + 2000]
