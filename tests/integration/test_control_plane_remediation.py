"""Issue 4 acceptance on a fresh 3-node local control plane: audit logging, encryption at rest and hardening
remediated one node at a time; check mode honest; second run unchanged; a breaking change rolled back on its
node only; a key rotation killed after its first node converges on rerun.

The tests run in file order and build on each other (one cluster, one story)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest
import yaml

from kclocal import cluster, kubeadm_render, kubebench, manifests
from kclocal.cluster import wait_for
from kclocal.kube import ApiError
from tests.helpers import REPO, VENV_BIN, ansible_env, run
from tests.integration import seed
from tests.integration.test_local_control_plane import apiserver_pid

NAMESPACES = [f"vault-{i}" for i in range(4)]
SECRETS_PER_NAMESPACE = 50
ENCRYPTION_CONFIG = "etc/kubernetes/kubecompass/encryption-config.yaml"
RELATED_CHECKS = ["KC-SEC-%03d" % n for n in range(1, 11)]
KEY_PREFIX = b"k8s:enc:secretbox:v1:kubecompass-"

pytestmark = pytest.mark.nodes(3)


@pytest.fixture(scope="module")
def cp(control_planes):
    """A fresh 3-node cluster with kubeadm defaults and 200 Secrets; stopped afterwards, so later tests start
    from defaults again."""
    control_plane, _state = control_planes.fresh(3)
    client = control_plane.client()
    for namespace in NAMESPACES:
        seed.create(client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        for index in range(SECRETS_PER_NAMESPACE):
            seed.create(client, {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                 "metadata": {"name": f"s{index:03d}", "namespace": namespace,
                                              "labels": {"app": "vault"}},
                                 "stringData": {"password": f"{namespace}-{index}-{os.urandom(8).hex()}"}})
    yield control_plane
    cluster.down()


STORY: dict = {}


# -- helpers ---------------------------------------------------------------------------------------------------------

def playbook(cp, name, *args, timeout=1200):
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(cp.inventory), f"playbooks/{name}.yml", *args]
    started = time.monotonic()
    result = run(cmd, env=ansible_env(), timeout=timeout)
    return result, time.monotonic() - started


def recap_changed(output):
    return int(re.search(r"localcp\s+: ok=\d+\s+changed=(\d+)", output).group(1))


CANARY = "kube-system/kubecompass-encryption-canary"


def secret_hashes(cp):
    """namespace/name -> sha256 of type and data, through the API (what users read); the role's canary aside."""
    items = [s for s in cp.client().request("GET", "/api/v1/secrets")["items"]
             if f"{s['metadata']['namespace']}/{s['metadata']['name']}" != CANARY]
    return {f"{s['metadata']['namespace']}/{s['metadata']['name']}": hashlib.sha256(
        json.dumps([s.get("type"), s.get("data")], sort_keys=True).encode()).hexdigest() for s in items}


def raw_secrets(cp):
    """Every value under /registry/secrets/ read raw from etcd: key -> first bytes."""
    prefix = b"/registry/secrets/"
    answer = seed.etcd_range(cp, {"key": base64.b64encode(prefix).decode(),
                                  "range_end": base64.b64encode(prefix[:-1] + b"0").decode()})
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]) for kv in answer.get("kvs") or []}


def node_state(cp):
    """Every node's control-plane files (not its logs, which any request grows) and its API server process."""
    state = {}
    for node in cp.nodes:
        root = cp.node_root(node["name"])
        files = {}
        for directory in ("etc/kubernetes/manifests", "etc/kubernetes/kubecompass"):
            path = root / directory
            if path.is_dir():
                files.update({str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                              for p in sorted(path.iterdir()) if p.is_file()})
        state[node["name"]] = {"files": files, "pid": apiserver_pid(cp, node["name"])}
    return state


def kubeadm_config(cp):
    return cp.client().request("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config")


def lease_exists(cp):
    try:
        cp.client().request("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kubecompass-remediation")
        return True
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise


def verdicts(cp, tmp_path):
    report_dir = tmp_path / "reports"
    result, _seconds = playbook(cp, "assess", "--check", "-e", f"kubecompass_report_dir={report_dir}",
                                "-e", json.dumps({"kubecompass_include_checks": RELATED_CHECKS}))
    report = json.loads((report_dir / "kubecompass-report.json").read_text())
    return {f["check_id"]: f["verdict"] for f in report["clusters"][0]["findings"]}


def encryption_keys(cp, node):
    document = yaml.safe_load((cp.node_root(node) / ENCRYPTION_CONFIG).read_text())
    rule = next(r for r in document["resources"] if "secrets" in r["resources"])
    return [(kind, key["name"], key["secret"]) for provider in rule["providers"] for kind, body in provider.items()
            for key in (body or {}).get("keys") or []]


# -- the story -------------------------------------------------------------------------------------------------------

def test_check_mode_shows_the_diff_and_changes_nothing(cp, tmp_path):
    before = verdicts(cp, tmp_path)
    STORY["verdicts_before"] = before
    assert before["KC-SEC-001"] == "fail" and before["KC-SEC-004"] == "fail" and before["KC-SEC-005"] == "fail"
    STORY["hashes"] = secret_hashes(cp)
    assert len([k for k in STORY["hashes"] if k.startswith("vault-")]) == 200
    files, config, revision = node_state(cp), kubeadm_config(cp), seed.etcd_revision(cp)

    result, _seconds = playbook(cp, "remediate", "--check", "--diff")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    for expected in ("+    - --audit-log-path=/var/log/kubernetes/audit/audit.log", "+    - --profiling=false",
                     "+    - --encryption-provider-config=/etc/kubernetes/kubecompass/encryption-config.yaml",
                     "+    - --authentication-config=", "+- level: None", "+(secret: ",
                     "kube-system/kubeadm-config ClusterConfiguration"):
        assert expected in output, expected

    assert node_state(cp) == files
    assert not any((cp.node_root(n["name"]) / "var/log/kubernetes/audit").exists() for n in cp.nodes)
    assert kubeadm_config(cp)["metadata"]["resourceVersion"] == config["metadata"]["resourceVersion"]
    assert seed.foreign_writes(seed.etcd_written_since(cp, revision)) == []
    assert not lease_exists(cp)


def test_remediation_is_effective_on_every_node_and_loses_nothing(cp, tmp_path):
    result, seconds = playbook(cp, "remediate")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    timing = re.search(r"(\d+\.\d+) s wall,\s+(\d+) API server restarts taking\s+(\d+\.\d+) s", output)
    STORY["timing"] = {"wall": float(timing.group(1)), "restarts": int(timing.group(2)),
                       "floor": float(timing.group(3)), "playbook_seconds": round(seconds, 1)}
    print("remediation timing:", STORY["timing"])
    assert STORY["timing"]["restarts"] == 15  # audit, hardening, add key, promote, drop identity: 3 nodes each

    keys = {node["name"]: encryption_keys(cp, node["name"]) for node in cp.nodes}
    assert len({json.dumps(k) for k in keys.values()}) == 1, "every node must hold the same key"
    (kind, name, secret), = keys["kc-cp1"]
    assert kind == "secretbox" and name.startswith("kubecompass-")
    assert len(base64.b64decode(secret)) == 32
    assert secret not in output, "the key must never be printed"
    for node in cp.nodes:
        root = cp.node_root(node["name"])
        config = root / ENCRYPTION_CONFIG
        assert oct(config.stat().st_mode & 0o777) == "0o600" and config.stat().st_uid == 0
        assert oct((root / "var/log/kubernetes/audit").stat().st_mode & 0o777) == "0o700"
        assert sorted(p.name for p in (root / "etc/kubernetes/manifests").iterdir()) == [
            "etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]
        command = cp.client().request(
            "GET", f"/api/v1/namespaces/kube-system/pods/kube-apiserver-{node['name']}")["spec"]["containers"][0][
            "command"]
        for flag in ("--audit-log-maxage=30", "--profiling=false", "--encryption-provider-config="
                     "/etc/kubernetes/kubecompass/encryption-config.yaml", "--tls-min-version=VersionTLS12"):
            assert any(arg.startswith(flag) for arg in command), (node["name"], flag)
        log = (root / "var/log/kubernetes/audit/audit.log").read_text()
        assert "kubecompass-audit-probe-" in log, f"{node['name']}: the play's probe request is not in its log"
    logs = "".join((cp.node_root(n["name"]) / "var/log/kubernetes/audit/audit.log").read_text() for n in cp.nodes)
    assert "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kubecompass-remediation" in logs

    raw = raw_secrets(cp)
    assert len(raw) == len(STORY["hashes"]) + 1 and "/registry/secrets/" + CANARY in raw
    assert all(value.startswith(KEY_PREFIX + name[len("kubecompass-"):].encode() + b":") for value in raw.values())
    assert secret_hashes(cp) == STORY["hashes"]

    cluster_configuration = yaml.safe_load(kubeadm_config(cp)["data"]["ClusterConfiguration"])
    args = {a["name"]: a["value"] for a in cluster_configuration["apiServer"]["extraArgs"]}
    assert args["audit-log-path"] == "/var/log/kubernetes/audit/audit.log"
    assert args["encryption-provider-config"] == "/etc/kubernetes/kubecompass/encryption-config.yaml"
    assert args["profiling"] == "false"
    assert not lease_exists(cp)

    after = verdicts(cp, tmp_path)
    failing_before = [c for c in RELATED_CHECKS if STORY["verdicts_before"][c] != "pass"]
    assert failing_before and all(after[c] == "pass" for c in RELATED_CHECKS), after
    print("checks flipped from fail to pass:", failing_before)


def test_a_second_run_changes_nothing(cp):
    state = node_state(cp)
    result, _seconds = playbook(cp, "remediate")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert recap_changed(output) == 0, output[-5000:]
    assert {n: s["pid"] for n, s in node_state(cp).items()} == {n: s["pid"] for n, s in state.items()}


def test_kubeadm_re_renders_every_remediated_flag_and_volume(cp, kubeadm, tmp_path):
    """`kubeadm upgrade` rebuilds the static Pods from kubeadm-config's ClusterConfiguration, so every flag the
    remediation changed (live manifest against a fresh node's) and every hostPath volume it added must come back
    from it. kubeadm's own phases render each node from the live ConfigMap into a scratch root (nodes untouched)."""
    configuration = kubeadm_config(cp)["data"]["ClusterConfiguration"]
    nodes = cluster.node_list(len(cp.nodes))
    kept, lost = {}, []
    for node in nodes:
        rendered_root = kubeadm_render.render(kubeadm, configuration, node, tmp_path / node.name)
        for component, fresh in manifests.node_manifests(node, nodes).items():
            live = yaml.safe_load(cp.manifest(node.name, component).read_text())
            rendered = kubeadm_render.manifest(rendered_root, component)
            for kind, read in (("flag", kubeadm_render.flags), ("volume", kubeadm_render.host_volumes),
                               ("volumeMount", kubeadm_render.mounts)):
                live_items, fresh_items, rendered_items = read(live), read(fresh), read(rendered)
                for name, value in live_items.items():
                    if fresh_items.get(name) != value:
                        kept.setdefault(component, set()).add(f"{kind} {name}")
                        if rendered_items.get(name) != value:
                            lost.append(f"{node.name} {component} {kind} {name}: {value!r} re-rendered as "
                                        f"{rendered_items.get(name)!r}")
                lost += [f"{node.name} {component} {kind} {name}: removed, re-rendered as {rendered_items[name]!r}"
                         for name in fresh_items.keys() - live_items.keys() if name in rendered_items]
    print("remediated flags and volumes kubeadm re-renders:", {c: sorted(k) for c, k in kept.items()})
    expected = {"flag audit-log-path", "flag encryption-provider-config", "flag profiling", "flag tls-min-version",
                "flag authentication-config", "volume audit-policy", "volume audit-log",
                "volume kubecompass-encryption-config", "volumeMount kubecompass-encryption-config"}
    assert expected <= kept["kube-apiserver"], kept
    assert "flag profiling" in kept["kube-controller-manager"] and "flag profiling" in kept["kube-scheduler"], kept
    assert not lost, "\n".join(lost)


# kube-bench (cis-1.11) on kc-cp1 after remediate.yml: the automated items it still FAILs, each with its cause. On the
# fresh rig it FAILs 12 (tests/integration/test_cis_kube_bench.py); remediate.yml fixes the rest (REMEDIATED).
FAILS_AFTER_REMEDIATION = {
    "1.1.12": "documented decision: etcd data directory root:root; kubeadm runs etcd as root with no etcd user "
              "(KC-SEC-054 fails by decision, no remediation)",
    "1.2.5": "documented decision: --kubelet-certificate-authority is opt-in "
             "(apiserver_hardening_kubelet_certificate_authority): kubeadm's kubelets serve self-signed certificates",
    "1.3.7": "rig limit: three nodes share one loopback, so the inventory keeps each controller manager's "
             "127.0.10.N bind address (apiserver_hardening_component_bind_address '')",
    "1.4.2": "rig limit: as 1.3.7, for the scheduler",
}
REMEDIATED = ["1.2.15", "1.2.16", "1.2.17", "1.2.18", "1.2.19", "1.2.30", "1.3.2", "1.4.1"]


def test_kube_bench_after_the_remediation_fails_only_the_pinned_items(cp, kube_bench):
    bench = kube_bench("kc-cp1")
    print("kube-bench after remediate.yml", bench["Totals"])
    assert sorted(kubebench.failing(bench)) == sorted(FAILS_AFTER_REMEDIATION), kubebench.failing(bench)
    results = kubebench.results(bench)
    assert {number: results[number]["status"] for number in REMEDIATED} == dict.fromkeys(REMEDIATED, "PASS")


def test_a_run_is_refused_while_another_run_holds_the_lock(cp):
    """Two AWX jobs: the second finds the first one's unexpired Lease and changes nothing."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    cp.client().request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "kubecompass-remediation", "annotations": {
            "kubecompass.io/purpose": "audit_logging remediation", "kubecompass.io/run": "awx-pod-7:1:1"}},
        "spec": {"holderIdentity": "awx-job-99", "leaseDurationSeconds": 900, "acquireTime": now,
                 "renewTime": now}})
    state = node_state(cp)
    try:
        result, _seconds = playbook(cp, "remediate", "--tags", "hardening", "-e",
                                    json.dumps({"apiserver_hardening_tls_min_version": "VersionTLS13"}))
    finally:
        cp.client().request("DELETE",
                            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kubecompass-remediation")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "is held by awx-job-99 (purpose: audit_logging remediation): this run saw its Lease unrenewed" in output, \
        output[-3000:]
    assert node_state(cp) == state


def test_a_live_lock_is_not_taken_by_a_controller_whose_clock_is_16_minutes_ahead(cp):
    """The holder renewed just now by its own clock, which is 16 minutes behind this controller's: by comparing
    renewTime with the local clock, its 900 s lease looked expired. Its run annotation names this controller's
    host name and boot but another PID namespace (another container) and a pid that does not exist here."""
    behind = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() - 16 * 60))
    with open("/proc/sys/kernel/random/boot_id") as handle:
        boot_id = handle.read().strip()
    other_container = "%s:%s:%d:999999:1" % (os.uname().nodename, boot_id, os.stat("/proc/self/ns/pid").st_ino + 1)
    cp.client().request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "kubecompass-remediation", "annotations": {
            "kubecompass.io/purpose": "audit_logging remediation", "kubecompass.io/run": other_container}},
        "spec": {"holderIdentity": "awx-job-98", "leaseDurationSeconds": 900, "acquireTime": behind,
                 "renewTime": behind}})
    state = node_state(cp)
    try:
        result, _seconds = playbook(cp, "remediate", "--tags", "hardening", "-e",
                                    json.dumps({"apiserver_hardening_tls_min_version": "VersionTLS13"}))
        lease = cp.client().request(
            "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kubecompass-remediation")
    finally:
        cp.client().request("DELETE",
                            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kubecompass-remediation")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "is held by awx-job-98 (purpose: audit_logging remediation): this run saw its Lease unrenewed for 0s " \
           "of 900s" in output, output[-3000:]
    assert lease["spec"]["holderIdentity"] == "awx-job-98" and lease["spec"]["renewTime"] == behind
    assert node_state(cp) == state


def test_a_flag_that_stops_the_api_server_is_rolled_back_on_that_node_only(cp):
    state = node_state(cp)
    client = cp.client(timeout=5)
    reads = {"ok": 0, "failed": 0}
    done = threading.Event()

    def read_through_the_load_balancer():
        while not done.is_set():
            try:
                client.request("GET", "/api/v1/namespaces/vault-0/secrets/s000")
                reads["ok"] += 1
            except (ApiError, OSError):
                reads["failed"] += 1
            time.sleep(0.5)

    reader = threading.Thread(target=read_through_the_load_balancer)
    reader.start()
    try:
        result, _seconds = playbook(cp, "remediate", "--tags", "hardening", "-e", json.dumps({
            "control_plane_rollout_test_inject_flags": {"kubecompass-test-bogus-flag": "1"},
            "apiserver_hardening_timeout": 30}))
    finally:
        done.set()
        reader.join()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert re.search(r"kc-cp1: the API server did not come back healthy .* restored .* healthy again", output), \
        output[-4000:]
    after = node_state(cp)
    assert after["kc-cp1"]["files"] == state["kc-cp1"]["files"]
    assert after["kc-cp1"]["pid"] != state["kc-cp1"]["pid"]  # it did restart (twice)
    for node in ("kc-cp2", "kc-cp3"):
        assert after[node] == state[node], f"{node} must be untouched"
    print("reads through the load balancer during the fault:", reads)
    assert reads["ok"] > 0 and reads["failed"] <= 3
    assert not lease_exists(cp)


def test_a_rotation_killed_after_the_first_node_converges_on_rerun(cp):
    (_kind, old_name, old_secret), = encryption_keys(cp, "kc-cp1")
    first_pid = apiserver_pid(cp, "kc-cp1")
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(cp.inventory), "playbooks/rotate_encryption_key.yml"]
    process = subprocess.Popen(cmd, env=ansible_env(), cwd=str(REPO), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def first_node_done():
        return (len(encryption_keys(cp, "kc-cp1")) == 2 and apiserver_pid(cp, "kc-cp1") not in (None, first_pid)
                and cp.client().text("/readyz") == "ok")

    try:
        wait_for("the rotation to finish its first node", first_node_done, 300, interval=0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    assert len(encryption_keys(cp, "kc-cp2")) == 1, "killed after the first node only"
    assert lease_exists(cp), "the killed run left its lock behind"

    result, _seconds = playbook(cp, "rotate_encryption_key")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    # Succeeding at all means the lock was taken over: the killed run's lease had not expired.
    keys = {node["name"]: encryption_keys(cp, node["name"]) for node in cp.nodes}
    assert len({json.dumps(k) for k in keys.values()}) == 1
    (_kind, new_name, new_secret), = keys["kc-cp1"]
    assert new_name != old_name and new_secret != old_secret
    for node in cp.nodes:
        assert old_secret not in (cp.node_root(node["name"]) / ENCRYPTION_CONFIG).read_text()
    new_prefix = b"k8s:enc:secretbox:v1:" + new_name.encode() + b":"
    raw = raw_secrets(cp)
    assert raw and all(value.startswith(new_prefix) for value in raw.values())
    assert secret_hashes(cp) == STORY["hashes"]
    assert new_secret not in output and old_secret not in output
    assert not lease_exists(cp)
