"""Acceptance of the local control plane itself: a real, kubeadm-shaped cluster the rest of the suite trusts."""

from __future__ import annotations

import base64
import json
import os
import ssl
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from kclocal.cluster import wait_for
from kclocal.kube import ApiError
from tests.helpers import ansible_env, run
from tests.integration import seed

VELERO_CRDS = seed.VELERO_CRDS


def write_atomically(path: Path, text: str) -> None:
    """Replace a manifest the way remediation must: a dot-file in the same directory, then rename."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def apiserver_pid(cp, node: str, filename: str = "kube-apiserver.yaml"):
    return cp.pods(node).get(filename, {}).get("pid")


def mirror_command(cp, node: str) -> list[str]:
    pod = cp.client().request("GET", f"/api/v1/namespaces/kube-system/pods/kube-apiserver-{node}")
    return pod["spec"]["containers"][0]["command"]


def livez(url: str) -> bool:
    context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return response.status == 200
    except OSError:
        return False


# 1 -------------------------------------------------------------------------------------------------------------

@pytest.mark.nodes(1)
def test_readyz_answers_ok_through_admin_kubeconfig(control_plane):
    assert control_plane.client().text("/readyz") == "ok"
    assert control_plane.client().text("/readyz?verbose").rstrip().endswith("readyz check passed")


@pytest.mark.nodes(1)
def test_velero_crds_install_and_a_schedule_round_trips(control_plane):
    client = control_plane.client()
    names = seed.install_crds(client, VELERO_CRDS)
    assert "schedules.velero.io" in names and len(names) == 5
    namespace = f"velero-{uuid.uuid4().hex[:6]}"
    client.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    schedule = {
        "apiVersion": "velero.io/v1", "kind": "Schedule",
        "metadata": {"name": "daily", "namespace": namespace},
        "spec": {"schedule": "0 1 * * *", "template": {"includedNamespaces": ["payments"], "ttl": "720h0m0s"}},
    }
    wait_for("Schedule create (CRD served)",
             lambda: client.request("POST", f"/apis/velero.io/v1/namespaces/{namespace}/schedules", schedule),
             30, interval=0.5)
    read = client.request("GET", f"/apis/velero.io/v1/namespaces/{namespace}/schedules/daily")
    assert read["spec"]["schedule"] == "0 1 * * *"
    assert read["spec"]["template"]["includedNamespaces"] == ["payments"]
    assert read["spec"]["template"]["ttl"] == "720h0m0s"


# 2 -------------------------------------------------------------------------------------------------------------

@pytest.mark.nodes(3)
def test_each_node_is_an_ssh_host_with_its_own_manifests(control_plane, tmp_path):
    playbook = tmp_path / "stat.yml"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    playbook.write_text(yaml.safe_dump([{
        "name": "Stat and read the apiserver manifest on every node",
        "hosts": "localcp_control_plane",
        "gather_facts": False,
        "tasks": [
            {"name": "Stat", "ansible.builtin.stat": {"path": "/etc/kubernetes/manifests/kube-apiserver.yaml"},
             "register": "manifest_stat"},
            {"name": "Read", "ansible.builtin.slurp": {"src": "/etc/kubernetes/manifests/kube-apiserver.yaml"},
             "register": "manifest_content"},
            {"name": "Record", "delegate_to": "localhost",
             "ansible.builtin.copy": {
                 "dest": f"{out_dir}/{{{{ inventory_hostname }}}}.json", "mode": "0600",
                 "content": "{{ {'stat': manifest_stat.stat, 'content': manifest_content.content} | to_json }}"}},
        ],
    }]))
    result = run([str(Path(os.sys.executable).parent / "ansible-playbook"), "-i", str(control_plane.inventory),
                  str(playbook)], env=ansible_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    seen = {}
    for node in control_plane.nodes:
        record = json.loads((out_dir / f"{node['name']}.json").read_text())
        assert record["stat"]["exists"] and record["stat"]["isreg"]
        assert record["stat"]["mode"] == "0600"
        content = base64.b64decode(record["content"]).decode()
        assert f"--bind-address={node['ip']}" in content
        for other in control_plane.nodes:
            if other is not node:
                assert f"--bind-address={other['ip']}" not in content
        seen[node["name"]] = content
    assert len(set(seen.values())) == len(control_plane.nodes) == 3


# 3 -------------------------------------------------------------------------------------------------------------

@pytest.mark.nodes(3)
def test_manifest_change_restarts_only_that_nodes_apiserver(control_plane):
    target = "kc-cp2"
    before = {n["name"]: apiserver_pid(control_plane, n["name"]) for n in control_plane.nodes}
    assert all(before.values()), before
    manifest_path = control_plane.manifest(target)
    original = manifest_path.read_text()
    manifest = yaml.safe_load(original)
    manifest["spec"]["containers"][0]["command"].append("--profiling=false")
    started = time.monotonic()
    write_atomically(manifest_path, yaml.safe_dump(manifest, sort_keys=False))
    try:
        wait_for("mirror pod to show --profiling=false",
                 lambda: "--profiling=false" in mirror_command(control_plane, target),
                 30, interval=0.5)
        elapsed = time.monotonic() - started
        after = {n["name"]: apiserver_pid(control_plane, n["name"]) for n in control_plane.nodes}
        assert after[target] != before[target], "the changed node's apiserver was not restarted"
        for name in before:
            if name != target:
                assert after[name] == before[name], f"{name}'s apiserver restarted although its manifest did not change"
                assert "--profiling=false" not in mirror_command(control_plane, name)
        print(f"flag visible in the mirror pod after {elapsed:.1f}s")
    finally:
        write_atomically(manifest_path, original)
        wait_for("manifest restored",
                 lambda: "--profiling=false" not in mirror_command(control_plane, target),
                 60, interval=0.5)


@pytest.mark.nodes(3)
def test_hidden_backup_is_ignored_and_plain_backup_runs_as_second_pod(control_plane):
    node = "kc-cp1"
    manifests = control_plane.manifest(node).parent
    original = control_plane.manifest(node).read_text()
    hidden = manifests / ".kube-apiserver.yaml.bak"
    plain = manifests / "kube-apiserver.yaml.bak"
    # The copy listens on another port, so a second apiserver answering proves kubelet-like behaviour; it
    # advertises its own address so its shutdown does not remove the first one's from the kubernetes endpoints.
    second_port = 6544
    second_url = f"https://{control_plane.nodes[0]['ip']}:{second_port}/livez"
    copy = original.replace("--secure-port=6443", f"--secure-port={second_port}").replace(
        "--advertise-address=198.51.100.1", "--advertise-address=198.51.100.99")
    assert copy.count("6544") == 1 and "198.51.100.99" in copy
    hidden.write_text(copy)
    try:
        time.sleep(5)  # several runner scans
        assert ".kube-apiserver.yaml.bak" not in control_plane.pods(node)
        assert not livez(second_url)
        plain.write_text(copy)
        wait_for("the .bak file to be started as a pod",
                 lambda: control_plane.pods(node).get("kube-apiserver.yaml.bak", {}).get("pid"),
                 15, interval=0.5)
        wait_for("a second apiserver answering on the .bak file's port", lambda: livez(second_url), 90, interval=0.5)
    finally:
        hidden.unlink(missing_ok=True)
        plain.unlink(missing_ok=True)
    wait_for("the .bak pod to stop",
             lambda: "kube-apiserver.yaml.bak" not in control_plane.pods(node),
             30, interval=0.5)
    wait_for("the second apiserver to stop", lambda: not livez(second_url), 30, interval=0.5)


# 4 -------------------------------------------------------------------------------------------------------------

@pytest.mark.nodes(3)
def test_cluster_stays_readable_through_haproxy_with_one_apiserver_down(control_plane, tmp_path):
    node = "kc-cp1"
    manifest_path = control_plane.manifest(node)
    parked = control_plane.paths.node(node) / "parked-kube-apiserver.yaml"  # outside the node's manifests dir
    manifest_path.replace(parked)
    try:
        wait_for("apiserver stop", lambda: "kube-apiserver.yaml" not in control_plane.pods(node), 30, interval=0.5)
        node_url = f"https://{control_plane.nodes[0]['ip']}:6443/livez"
        wait_for(f"{node}'s apiserver to stop answering", lambda: not livez(node_url), 30, interval=0.5)
        assert control_plane.server().startswith("https://127.0.10.254:")
        client = control_plane.client(timeout=5)
        failures = 0
        for _attempt in range(20):
            try:
                assert client.text("/readyz") == "ok"
                assert client.request("GET", "/api/v1/namespaces")["items"]
            except (ApiError, OSError):
                failures += 1
            time.sleep(0.25)
        # HAProxy needs two failed checks (1 s apart) to take the stopped server out of rotation.
        assert failures <= 3, f"{failures}/20 requests failed through the load balancer"
    finally:
        parked.replace(manifest_path)
    wait_for("apiserver back", lambda: livez(f"https://{control_plane.nodes[0]['ip']}:6443/livez"), 90, interval=0.5)


# 5 -------------------------------------------------------------------------------------------------------------

@pytest.mark.nodes(1)
def test_secret_read_raw_from_etcd_is_plaintext(control_plane):
    client = control_plane.client()
    name = f"raw-{uuid.uuid4().hex[:6]}"
    client.request("POST", "/api/v1/namespaces/default/secrets",
                   {"metadata": {"name": name}, "stringData": {"password": "not-encrypted-yet"}})
    node = control_plane.nodes[0]
    pki = control_plane.node_root(node["name"]) / "etc/kubernetes/pki"
    context = ssl.create_default_context(cafile=str(pki / "etcd/ca.crt"))
    context.load_cert_chain(str(pki / "apiserver-etcd-client.crt"), str(pki / "apiserver-etcd-client.key"))
    key = f"/registry/secrets/default/{name}".encode()
    request = urllib.request.Request(
        f"https://{node['ip']}:2379/v3/kv/range", method="POST",
        data=json.dumps({"key": base64.b64encode(key).decode()}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        answer = json.loads(response.read())
    value = base64.b64decode(answer["kvs"][0]["value"])
    assert value.startswith(b"k8s\x00"), value[:20]
    assert b"not-encrypted-yet" in value
