"""gather_node_facts on crafted node filesystems under tmp_path (kubeadm, RKE2, k3s) and a fake /proc. Also
holds the node builders (write, static_pod, kubeadm_node, FakeEtcd, ...) the other _node tests use."""

from __future__ import annotations

import base64
import copy
import json
import os
import pwd
from pathlib import Path

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import missing_file
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.gather import gather_node_facts

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
KUBEADM = yaml.safe_load((FIXTURES / "kubeadm_3_nodes.yml").read_text())

KEY_MATERIAL = b"kubecompass-test-key-material-32"  # 32 bytes, recognisable in any output
SECRET = base64.b64encode(KEY_MATERIAL).decode()
CLUSTER_TOKEN = "K10cafe0000000000000000000000000000000000000000000000000000000000::server:tokensecret"
PLAINTEXT_SECRET_VALUE = b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12\x00s3cr3t-password-in-etcd"

NODE_SCHEMA_KEYS = {"distribution", "apiserver", "etcd_flags", "files", "audit_policy", "audit_log",
                    "encryption_config", "authentication_config", "etcd_sample", "etcd_snapshots", "errors",
                    "certificates", "serving_certificates", "controller_manager", "scheduler", "file_modes",
                    "kubelet"}


# -- helpers -------------------------------------------------------------------------------------------------------

def write(root, path, content, mode=0o600):
    target = Path(root) / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    os.chmod(target, mode)
    return target


def static_pod(component, node="kc-cp1"):
    """A static pod manifest rebuilt from the recorded mirror pod (the kubelet mirrors the manifest's spec)."""
    mirror = copy.deepcopy(next(p for p in KUBEADM["kube_system_pods"]
                                if p["metadata"]["name"] == "%s-%s" % (component, node)))
    spec = {key: value for key, value in mirror["spec"].items() if key not in ("nodeName", "tolerations")}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": component, "namespace": "kube-system", "labels": mirror["metadata"]["labels"]},
            "spec": spec}


def fake_process(proc, pid, comm, argv):
    directory = Path(proc) / str(pid)
    directory.mkdir(parents=True)
    (directory / "comm").write_bytes(comm.encode() + b"\n")
    (directory / "cmdline").write_bytes(b"\0".join(arg.encode() for arg in argv) + b"\0")


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


class FakeEtcd:
    """etcd's /v3/kv/range JSON gateway over an in-memory keyspace, with its real range and omit-zero rules."""

    def __init__(self, values):
        self.values = values
        self.requests = []

    def __call__(self, url, body):
        self.requests.append((url, body))
        start, end = base64.b64decode(body["key"]), base64.b64decode(body["range_end"])
        keys = sorted(k for k in self.values if start <= k.encode() < end)
        answer = {"header": {"revision": "7"}}
        if keys:
            answer["count"] = str(len(keys))
        if body.get("count_only"):
            return answer
        shown = keys[:body["limit"]] if body.get("limit") else keys
        if shown:
            answer["kvs"] = [{"key": b64(k), "value": b64(self.values[k]), "mod_revision": "5"} for k in shown]
        if len(shown) < len(keys):
            answer["more"] = True
        return answer


ENCRYPTION_AESCBC = {
    "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
    "resources": [{"resources": ["secrets"],
                   "providers": [{"aescbc": {"keys": [{"name": "key1", "secret": SECRET}]}}, {"identity": {}}]}],
}

KUBESPRAY_STYLE_POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"],
         "resources": [{"group": "", "resources": ["endpoints", "services"]}]},
        {"level": "None", "nonResourceURLs": ["/healthz*", "/version"]},
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps"]},
                                            {"group": "authentication.k8s.io", "resources": ["tokenreviews"]}]},
        {"level": "Request", "verbs": ["get", "list", "watch"]},
        {"level": "RequestResponse"},
    ],
}

AUDIT_EVENTS = [
    {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "stage": "ResponseComplete",
     "requestReceivedTimestamp": "2026-11-22T02:59:58.100000Z", "stageTimestamp": "2026-11-22T02:59:58.200000Z"},
    {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "stage": "ResponseComplete",
     "requestReceivedTimestamp": "2026-11-22T02:59:59.100000Z", "stageTimestamp": "2026-11-22T02:59:59.300000Z"},
]


def audit_log_bytes(events, partial=b""):
    return b"".join(json.dumps(e).encode() + b"\n" for e in events) + partial


def kubeadm_node(root, proc):
    """A kubeadm node shaped as kubespray hardens it: audit policy and encryption config, the log directory
    mounted from /var/log/kubernetes/audit at /var/log/audit (the path trap), and a second node's apiserver in
    the same PID namespace, as on the local control plane."""
    pod = static_pod("kube-apiserver")
    container = pod["spec"]["containers"][0]
    container["command"] += [
        "--audit-policy-file=/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml",
        "--audit-log-path=/var/log/audit/kube-apiserver-audit.log",
        "--audit-log-maxage=30", "--audit-log-maxbackup=10", "--audit-log-maxsize=100",
        "--encryption-provider-config=/etc/kubernetes/pki/secrets_encryption.yaml",
    ]
    container["volumeMounts"] += [
        {"name": "audit-policy", "mountPath": "/etc/kubernetes/audit-policy", "readOnly": True},
        {"name": "audit-logs", "mountPath": "/var/log/audit"},
    ]
    pod["spec"]["volumes"] += [
        {"name": "audit-policy", "hostPath": {"path": "/etc/kubernetes/audit-policy", "type": "DirectoryOrCreate"}},
        {"name": "audit-logs", "hostPath": {"path": "/var/log/kubernetes/audit", "type": "DirectoryOrCreate"}},
    ]
    write(root, "/etc/kubernetes/manifests/kube-apiserver.yaml", pod)
    write(root, "/etc/kubernetes/manifests/etcd.yaml", static_pod("etcd"))
    write(root, "/etc/kubernetes/manifests/kube-scheduler.yaml", static_pod("kube-scheduler"), mode=0o644)
    write(root, "/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml", KUBESPRAY_STYLE_POLICY, mode=0o640)
    write(root, "/etc/kubernetes/pki/secrets_encryption.yaml", ENCRYPTION_AESCBC, mode=0o640)
    write(root, "/var/log/kubernetes/audit/kube-apiserver-audit.log", audit_log_bytes(AUDIT_EVENTS))
    os.chmod(Path(root) / "var/log/kubernetes/audit", 0o700)
    snapshots = Path(root) / "var/backups/kubecompass/etcd"
    write(root, "/var/backups/kubecompass/etcd/snapshot-old.db", b"x" * 10)
    write(root, "/var/backups/kubecompass/etcd/snapshot-new.db", b"x" * 20)
    os.utime(snapshots / "snapshot-old.db", (1763776800, 1763776800))  # 2025-11-22T02:00:00Z
    os.utime(snapshots / "snapshot-new.db", (1763780400, 1763780400))  # 2025-11-22T03:00:00Z
    fake_process(proc, 4242, "kube-apiserver", container["command"])
    other = static_pod("kube-apiserver", node="kc-cp2")["spec"]["containers"][0]["command"]
    fake_process(proc, 4343, "kube-apiserver", other)
    fake_process(proc, 4444, "etcd", static_pod("etcd")["spec"]["containers"][0]["command"])
    (Path(proc) / "self").mkdir()


ETCD_KEYS = {
    "/registry/secrets/default/aaa-old": PLAINTEXT_SECRET_VALUE,
    "/registry/secrets/default/app": b"k8s:enc:aescbc:v1:key1:" + os.urandom(48),
    "/registry/secrets/kube-system/bootstrap": b"k8s:enc:aescbc:v1:key1:" + os.urandom(48),
    "/registry/secretsX/not-a-secret": b"k8s\x00",
    "/registry/serviceaccounts/default/default": b"k8s\x00",
}


# -- kubeadm -------------------------------------------------------------------------------------------------------

@pytest.fixture
def kubeadm(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    kubeadm_node(root, proc)
    etcd = FakeEtcd(dict(ETCD_KEYS))
    facts = gather_node_facts("kubeadm", root=str(root), proc=str(proc), etcd_sample_size=2, etcd_post=etcd)
    return facts, etcd, root, proc


def test_kubeadm_facts_follow_the_schema_and_read_without_errors(kubeadm):
    facts = kubeadm[0]
    assert set(facts) == NODE_SCHEMA_KEYS
    assert facts["errors"] == []
    assert facts["distribution"] == "kubeadm"
    json.dumps(facts)  # JSON-serialisable, as Ansible returns it


def test_kubeadm_configured_flags_come_from_the_manifest(kubeadm):
    apiserver = kubeadm[0]["apiserver"]
    assert apiserver["source"] == "/etc/kubernetes/manifests/kube-apiserver.yaml"
    assert apiserver["flags"]["authorization-mode"] == "Node,RBAC"
    assert apiserver["flags"]["audit-log-maxbackup"] == "10"
    assert apiserver["flags"]["etcd-servers"] == "https://127.0.10.1:2379"
    assert "anonymous-auth" not in apiserver["flags"]
    assert kubeadm[0]["etcd_flags"]["data-dir"] == "/var/lib/etcd"
    assert kubeadm[0]["etcd_flags"]["client-cert-auth"] == "true"


def test_running_flags_are_this_nodes_apiserver_among_several(kubeadm):
    running = kubeadm[0]["apiserver"]["running_flags"]
    assert running["bind-address"] == "127.0.10.1"  # kc-cp2's process binds 127.0.10.2
    assert running["audit-log-path"] == "/var/log/audit/kube-apiserver-audit.log"


def test_kubeadm_file_modes_and_owners(kubeadm):
    files = kubeadm[0]["files"]
    me = pwd.getpwuid(os.getuid()).pw_name
    manifest = files["/etc/kubernetes/manifests/kube-apiserver.yaml"]
    assert manifest["exists"] is True and manifest["mode"] == "0600" and manifest["owner"] == me
    assert manifest["size"] > 0 and manifest["mtime"].endswith("Z")
    assert files["/etc/kubernetes/manifests/kube-scheduler.yaml"]["mode"] == "0644"
    assert files["/etc/kubernetes/manifests/kube-controller-manager.yaml"] == missing_file()
    assert files["/etc/kubernetes/pki/secrets_encryption.yaml"]["mode"] == "0640"
    assert files["/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml"]["exists"] is True
    assert files["/var/log/kubernetes/audit"]["mode"] == "0700"  # the log's host directory, not /var/log/audit


def test_kubeadm_audit_log_is_found_through_the_manifest_mounts(kubeadm):
    audit_log = kubeadm[0]["audit_log"]
    assert audit_log["path"] == "/var/log/kubernetes/audit/kube-apiserver-audit.log"
    assert audit_log["exists"] is True and audit_log["error"] is None
    assert audit_log["last_event_time"] == "2026-11-22T02:59:59.300000Z"


def test_kubeadm_audit_policy_and_encryption_summaries(kubeadm):
    policy = kubeadm[0]["audit_policy"]
    assert policy["path"] == "/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml"
    assert policy["valid"] is True and policy["rule_count"] == 5
    assert policy["levels"] == ["None", "Metadata", "Request", "RequestResponse"]
    assert policy["catch_all_level"] == "RequestResponse"
    assert policy["secrets_level"] == "Metadata"
    assert policy["omit_stages"] == ["RequestReceived"]
    encryption = kubeadm[0]["encryption_config"]
    assert encryption["exists"] is True and encryption["valid"] is True
    assert encryption["resources"] == [{"resources": ["secrets"], "providers": [
        {"type": "aescbc", "key_names": ["key1"], "kms_api_version": None},
        {"type": "identity", "key_names": [], "kms_api_version": None}]}]


def test_kubeadm_etcd_sample_reads_the_apiservers_etcd(kubeadm):
    facts, etcd = kubeadm[0], kubeadm[1]
    sample = facts["etcd_sample"]
    assert sample["endpoint"] == "https://127.0.10.1:2379" and sample["error"] is None
    assert sample["total_keys"] == 3  # the prefix range stops before /registry/secretsX and serviceaccounts
    assert sample["sampled"] == 2
    assert sample["prefixes"] == [
        {"key": "/registry/secrets/default/aaa-old", "encoding": "plaintext"},
        {"key": "/registry/secrets/default/app", "encoding": "k8s:enc:aescbc:v1:key1"}]
    assert all(url == "https://127.0.10.1:2379/v3/kv/range" for url, _body in etcd.requests)
    assert [body.get("count_only", False) for _url, body in etcd.requests] == [True, False]


def test_kubeadm_snapshots_newest_by_mtime(kubeadm):
    assert kubeadm[0]["etcd_snapshots"] == {
        "dirs": ["/var/backups/kubecompass/etcd"], "count": 2,
        "newest": {"path": "/var/backups/kubecompass/etcd/snapshot-new.db", "mtime": "2025-11-22T03:00:00Z",
                   "size": 20}}


def test_the_running_apiservers_flags_decide_which_files_are_read(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    kubeadm_node(root, proc)
    # The manifest gained the encryption flag but the apiserver was not restarted yet.
    running = static_pod("kube-apiserver")["spec"]["containers"][0]["command"]
    for pid in (4242, 4343):
        for name in os.listdir(proc / str(pid)):
            os.remove(proc / str(pid) / name)
        os.rmdir(proc / str(pid))
    fake_process(proc, 4242, "kube-apiserver", running)
    facts = gather_node_facts("kubeadm", root=str(root), proc=str(proc), etcd_sample_size=0)
    assert "encryption-provider-config" in facts["apiserver"]["flags"]
    assert "encryption-provider-config" not in facts["apiserver"]["running_flags"]
    assert facts["encryption_config"] is None and facts["audit_policy"] is None and facts["audit_log"] is None
    assert facts["etcd_sample"] is None


def test_missing_manifests_are_facts_and_unreadable_ones_errors(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    proc.mkdir()
    (root / "etc/kubernetes/manifests/kube-apiserver.yaml").mkdir(parents=True)  # unreadable: a directory
    facts = gather_node_facts("kubeadm", root=str(root), proc=str(proc), etcd_sample_size=0)
    assert facts["apiserver"]["flags"] == {} and facts["apiserver"]["running_flags"] is None
    assert facts["etcd_flags"] is None
    assert facts["files"]["/etc/kubernetes/manifests/etcd.yaml"]["exists"] is False
    assert facts["errors"] == [{"what": "static pod manifest /etc/kubernetes/manifests/kube-apiserver.yaml",
                                "cause": "Is a directory"}]


def test_an_unparsable_encryption_config_is_an_error_without_its_content(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    kubeadm_node(root, proc)
    write(root, "/etc/kubernetes/pki/secrets_encryption.yaml",
          "resources:\n  - resources: [secrets]\n    providers:\n      - aescbc:\n          keys:\n"
          "            - name: key1\n              secret: %s: broken\n" % SECRET)
    facts = gather_node_facts("kubeadm", root=str(root), proc=str(proc), etcd_sample_size=0)
    encryption = facts["encryption_config"]
    assert encryption["exists"] is True and encryption["valid"] is False
    assert encryption["error"].startswith("not valid YAML: mapping values are not allowed here at line 7")
    assert {"what": "encryption configuration /etc/kubernetes/pki/secrets_encryption.yaml",
            "cause": encryption["error"]} in facts["errors"]
    assert SECRET not in json.dumps(facts)


def test_no_key_material_anywhere_in_the_facts(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    kubeadm_node(root, proc)
    facts = gather_node_facts("kubeadm", root=str(root), proc=str(proc), etcd_post=FakeEtcd(dict(ETCD_KEYS)))
    dumped = json.dumps(facts)
    assert facts["encryption_config"]["resources"][0]["providers"][0]["key_names"] == ["key1"]
    for material in (SECRET, KEY_MATERIAL.decode(), "s3cr3t-password-in-etcd", b64(PLAINTEXT_SECRET_VALUE)):
        assert material not in dumped


# -- RKE2 ----------------------------------------------------------------------------------------------------------

RKE2_ENCRYPTION_JSON = json.dumps({
    "kind": "EncryptionConfiguration", "apiVersion": "apiserver.config.k8s.io/v1",
    "resources": [{"resources": ["secrets"], "providers": [
        {"aescbc": {"keys": [{"name": "aescbckey-2026-11-22T02:10:06Z", "secret": SECRET}]}},
        {"identity": {}}]}]})


def rke2_node(root, proc, dropins):
    write(root, "/etc/rancher/rke2/config.yaml", {
        "profile": "cis",
        "token": CLUSTER_TOKEN,
        "kube-apiserver-arg": ["audit-log-maxage=90", "enable-admission-plugins+=EventRateLimit"],
        "etcd-arg": ["quota-backend-bytes=8589934592"],
    })
    for name, content in dropins.items():
        write(root, "/etc/rancher/rke2/config.yaml.d/" + name, content)
    # RKE2 writes this default policy when the file is missing (rancher/rke2 pkg/podexecutor/staticpod.go).
    write(root, "/etc/rancher/rke2/audit-policy.yaml", "apiVersion: audit.k8s.io/v1\nkind: Policy\n"
                                                       "metadata:\n  creationTimestamp: null\nrules:\n- level: None\n")
    write(root, "/var/lib/rancher/rke2/server/cred/encryption-config.json", RKE2_ENCRYPTION_JSON)
    write(root, "/var/lib/rancher/rke2/server/db/snapshots/etcd-snapshot-cp1-1763780400", b"x" * 5)
    write(root, "/var/lib/rancher/rke2/server/db/snapshots/.metadata", b"{}")
    Path(proc).mkdir(parents=True, exist_ok=True)


RKE2_DROPINS = {
    "10-audit.yaml": {"kube-apiserver-arg+": ["audit-log-path=/var/log/rke2/audit.log"]},
    "20-notes.txt": {"kube-apiserver-arg": ["profiling=true"]},  # not .yaml: RKE2 ignores it
    "30-tls.YML": {"kube-apiserver-arg+": "tls-min-version=VersionTLS13"},
}


def test_rke2_flags_merge_config_dropins_and_rke2_defaults(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    rke2_node(root, proc, RKE2_DROPINS)
    facts = gather_node_facts("rke2", root=str(root), proc=str(proc), etcd_sample_size=0)
    apiserver = facts["apiserver"]
    assert apiserver["source"] == ("/etc/rancher/rke2/config.yaml, /etc/rancher/rke2/config.yaml.d/10-audit.yaml, "
                                   "/etc/rancher/rke2/config.yaml.d/30-tls.YML + rke2 built-in defaults")
    flags = apiserver["flags"]
    assert flags["audit-policy-file"] == "/etc/rancher/rke2/audit-policy.yaml"  # profile: cis
    assert flags["audit-log-maxage"] == "90"  # the user's value comes after RKE2's prepended 30
    assert flags["audit-log-maxbackup"] == "10" and flags["audit-log-maxsize"] == "100"
    assert flags["audit-log-path"] == "/var/log/rke2/audit.log"  # appended by the drop-in, so no default
    assert flags["tls-min-version"] == "VersionTLS13"
    assert flags["profiling"] == "false" and flags["anonymous-auth"] == "false"
    assert flags["enable-admission-plugins"] == "NodeRestriction,EventRateLimit"
    assert flags["authorization-mode"] == "Node,RBAC"
    assert flags["encryption-provider-config"] == "/var/lib/rancher/rke2/server/cred/encryption-config.json"
    assert flags["etcd-servers"] == "https://127.0.0.1:2379"
    assert apiserver["running_flags"] is None
    assert facts["etcd_flags"] == {"quota-backend-bytes": "8589934592"}


def test_rke2_reads_its_default_policy_json_encryption_config_and_snapshots(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    rke2_node(root, proc, RKE2_DROPINS)
    facts = gather_node_facts("rke2", root=str(root), proc=str(proc), etcd_sample_size=0)
    policy = facts["audit_policy"]
    assert policy["valid"] is True and policy["catch_all_level"] == "None" and policy["secrets_level"] == "None"
    assert facts["encryption_config"]["resources"][0]["providers"][0] == {
        "type": "aescbc", "key_names": ["aescbckey-2026-11-22T02:10:06Z"], "kms_api_version": None}
    assert facts["audit_log"] == {"path": "/var/log/rke2/audit.log", "exists": False, "size": None, "mtime": None,
                                  "last_event_time": None, "error": None}
    assert facts["etcd_snapshots"]["count"] == 1  # the dotfile is not a snapshot
    assert facts["etcd_snapshots"]["newest"]["path"] == (
        "/var/lib/rancher/rke2/server/db/snapshots/etcd-snapshot-cp1-1763780400")
    assert facts["files"]["/etc/rancher/rke2/config.yaml.d/30-tls.YML"]["exists"] is True
    assert facts["files"]["/var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml"]["exists"] is False
    assert facts["errors"] == []
    dumped = json.dumps(facts)
    assert CLUSTER_TOKEN not in dumped and "tokensecret" not in dumped and SECRET not in dumped


def test_rke2_dropin_without_plus_replaces_the_whole_list(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    rke2_node(root, proc, {"50-replace.yaml": {"kube-apiserver-arg": ["request-timeout=300s"]}})
    flags = gather_node_facts("rke2", root=str(root), proc=str(proc), etcd_sample_size=0)["apiserver"]["flags"]
    assert flags["request-timeout"] == "300s"
    assert flags["audit-log-maxage"] == "30"  # the user's 90 from config.yaml is gone; RKE2's cis default remains
    assert flags["enable-admission-plugins"] == "NodeRestriction"
    assert flags["audit-log-path"] == "/var/lib/rancher/rke2/server/logs/audit.log"


def test_rke2_running_apiserver_and_etcd_sample(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    rke2_node(root, proc, {})
    fake_process(proc, 900, "kube-apiserver", [
        "kube-apiserver", "--audit-log-maxage=30", "--etcd-servers=https://127.0.0.1:2379",
        "--encryption-provider-config=/var/lib/rancher/rke2/server/cred/encryption-config.json",
        "--enable-admission-plugins=NodeRestriction", "--enable-admission-plugins=EventRateLimit"])
    etcd = FakeEtcd({"/registry/secrets/default/app": b"k8s:enc:aescbc:v1:aescbckey-2026-11-22T02:10:06Z:" + b"\x01"})
    facts = gather_node_facts("rke2", root=str(root), proc=str(proc), etcd_post=etcd)
    assert facts["apiserver"]["running_flags"]["enable-admission-plugins"] == "NodeRestriction,EventRateLimit"
    assert facts["etcd_sample"]["prefixes"] == [{"key": "/registry/secrets/default/app",
                                                 "encoding": "k8s:enc:aescbc:v1:aescbckey-2026-11-22T02:10:06Z"}]
    assert facts["etcd_sample"]["total_keys"] == 1


def test_rke2_without_audit_option_or_cis_profile_has_no_audit_flags(tmp_path):
    root = tmp_path / "node"
    write(root, "/etc/rancher/rke2/config.yaml", {"data-dir": "/data/rke2", "etcd-snapshot-dir": "/backup/etcd"})
    facts = gather_node_facts("rke2", root=str(root), proc=str(tmp_path), etcd_sample_size=0)
    flags = facts["apiserver"]["flags"]
    assert not any(name.startswith("audit-") for name in flags)
    assert flags["encryption-provider-config"] == "/data/rke2/server/cred/encryption-config.json"
    assert facts["audit_policy"] is None and facts["audit_log"] is None
    assert facts["encryption_config"]["exists"] is False
    assert facts["etcd_snapshots"]["dirs"] == ["/backup/etcd"]


# -- k3s -----------------------------------------------------------------------------------------------------------

def k3s_node(root, extra=None):
    config = {"secrets-encryption": True, "kube-apiserver-arg": [
        "audit-policy-file=/var/lib/rancher/k3s/server/audit.yaml",
        "audit-log-path=/var/lib/rancher/k3s/server/logs/audit.log"]}
    config.update(extra or {})
    write(root, "/etc/rancher/k3s/config.yaml", config)
    write(root, "/etc/rancher/k3s/config.yaml.d/50-retention.yaml",
          {"kube-apiserver-arg+": ["audit-log-maxage=30", "audit-log-maxbackup=10", "audit-log-maxsize=100"]})
    write(root, "/var/lib/rancher/k3s/server/audit.yaml",
          {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]})
    write(root, "/var/lib/rancher/k3s/server/logs/audit.log", audit_log_bytes(AUDIT_EVENTS[:1]))
    write(root, "/var/lib/rancher/k3s/server/cred/encryption-config.json", RKE2_ENCRYPTION_JSON)


def test_k3s_flags_from_config_and_appending_dropin(tmp_path):
    root = tmp_path / "node"
    k3s_node(root)
    facts = gather_node_facts("k3s", root=str(root), proc=str(tmp_path), etcd_sample_size=0)
    flags = facts["apiserver"]["flags"]
    assert flags["audit-policy-file"] == "/var/lib/rancher/k3s/server/audit.yaml"
    assert (flags["audit-log-maxage"], flags["audit-log-maxbackup"], flags["audit-log-maxsize"]) == ("30", "10", "100")
    assert flags["encryption-provider-config"] == "/var/lib/rancher/k3s/server/cred/encryption-config.json"
    assert flags["encryption-provider-config-automatic-reload"] == "true"
    assert flags["anonymous-auth"] == "false" and flags["profiling"] == "false"
    assert facts["apiserver"]["running_flags"] is None  # k3s embeds the apiserver: no process to read
    assert facts["audit_policy"]["catch_all_level"] == "Metadata"
    assert facts["audit_log"]["last_event_time"] == "2026-11-22T02:59:58.200000Z"
    assert facts["encryption_config"]["valid"] is True
    assert facts["etcd_flags"] is None  # SQLite through kine: no etcd
    assert facts["errors"] == []


def test_k3s_without_secrets_encryption_has_no_encryption_flag(tmp_path):
    root = tmp_path / "node"
    k3s_node(root, {"secrets-encryption": "false"})
    facts = gather_node_facts("k3s", root=str(root), proc=str(tmp_path), etcd_sample_size=0)
    assert "encryption-provider-config" not in facts["apiserver"]["flags"]
    assert facts["encryption_config"] is None


def test_k3s_on_sqlite_cannot_be_sampled_and_says_why(tmp_path):
    root = tmp_path / "node"
    k3s_node(root)
    facts = gather_node_facts("k3s", root=str(root), proc=str(tmp_path), etcd_post=FakeEtcd({}))
    assert facts["etcd_sample"]["error"] == (
        "no etcd endpoint: the apiserver has no --etcd-servers flag and none was given")
    facts = gather_node_facts("k3s", root=str(root), proc=str(tmp_path), etcd_endpoint="https://10.0.0.1:2379",
                              etcd_post=FakeEtcd({}))
    assert facts["etcd_sample"]["error"].startswith("the datastore is kine (sqlite), not etcd")
    assert {"what": "etcd sample from https://10.0.0.1:2379", "cause": facts["etcd_sample"]["error"]} in facts["errors"]


def test_k3s_embedded_etcd_uses_the_k3s_client_certificate(tmp_path):
    root = tmp_path / "node"
    k3s_node(root, {"cluster-init": True, "etcd-arg": ["--heartbeat-interval=500"]})
    facts = gather_node_facts("k3s", root=str(root), proc=str(tmp_path))
    assert facts["apiserver"]["flags"]["etcd-servers"] == "https://127.0.0.1:2379"
    assert facts["etcd_flags"] == {"heartbeat-interval": "500"}
    assert facts["etcd_sample"]["error"] == (
        "no etcd client certificate found (looked for /var/lib/rancher/k3s/server/tls/etcd/client.crt, "
        "/var/lib/rancher/k3s/server/tls/etcd/server-client.crt)")
    for name in ("client.crt", "client.key", "server-ca.crt"):
        write(root, "/var/lib/rancher/k3s/server/tls/etcd/" + name, "not a PEM file\n")
    facts = gather_node_facts("k3s", root=str(root), proc=str(tmp_path))
    assert facts["etcd_sample"]["error"].startswith(
        "cannot load the etcd client certificate /var/lib/rancher/k3s/server/tls/etcd/client.crt")


def test_a_broken_dropin_is_an_error_and_the_rest_still_counts(tmp_path):
    root = tmp_path / "node"
    write(root, "/etc/rancher/k3s/config.yaml", {"kube-apiserver-arg": ["audit-log-maxage=30"]})
    write(root, "/etc/rancher/k3s/config.yaml.d/10-bad.yaml", "token: %s\nkube-apiserver-arg: [\n" % CLUSTER_TOKEN)
    write(root, "/etc/rancher/k3s/config.yaml.d/20-list.yaml", "- not a mapping\n")
    facts = gather_node_facts("k3s", root=str(root), proc=str(tmp_path), etcd_sample_size=0)
    assert facts["apiserver"]["flags"]["audit-log-maxage"] == "30"
    assert [e["what"] for e in facts["errors"]] == ["config file /etc/rancher/k3s/config.yaml.d/10-bad.yaml",
                                                    "config file /etc/rancher/k3s/config.yaml.d/20-list.yaml"]
    assert facts["errors"][0]["cause"].startswith("not valid YAML")
    assert CLUSTER_TOKEN not in json.dumps(facts)


def test_unknown_distribution_is_refused():
    with pytest.raises(ValueError):
        gather_node_facts("eks")


def test_kubeadm_without_authentication_config_reports_null(kubeadm):
    assert kubeadm[0]["authentication_config"] is None
