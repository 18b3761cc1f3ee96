"""cluster_info against the real local control plane, through Ansible, including every connection failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kclocal import manifests, pki
from tests.helpers import VENV_BIN, ansible_env, ansible_module, run

MODULE = "kubecompass.readiness.cluster_info"


def run_playbook(control_plane, tmp_path: Path) -> dict:
    """Run the collection's own playbook, then the module, through the generated inventory."""
    out = tmp_path / "cluster_info.json"
    playbook = tmp_path / "record.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Record cluster_info", "hosts": "k8s_clusters", "gather_facts": False,
        "tasks": [
            {"name": "Read", "kubecompass.readiness.cluster_info": {"kubeconfig": "{{ kubecompass_kubeconfig }}"},
             "register": "info"},
            {"name": "Save", "ansible.builtin.copy": {"content": "{{ info | to_json }}", "dest": str(out),
                                                      "mode": "0600"}},
        ]}]))
    shipped = run([str(VENV_BIN / "ansible-playbook"), "-i", str(control_plane.inventory),
                   "kubecompass.readiness.cluster_info"], env=ansible_env())
    assert shipped.returncode == 0, shipped.stdout[-3000:]
    assert "distribution kubeadm" in shipped.stdout
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(control_plane.inventory), str(playbook)],
                 env=ansible_env())
    assert result.returncode == 0, result.stdout[-3000:]
    return json.loads(out.read_text())


def assert_cluster_info(info: dict, nodes: list[dict]) -> None:
    assert info["changed"] is False
    assert info["server"]["git_version"] == manifests.K8S_VERSION
    assert len(info["api_endpoints"]) == len(nodes)
    assert all(e["ports"] == [6443] for e in info["api_endpoints"])
    assert info["distribution"] == "kubeadm"
    assert "ConfigMap kube-system/kubeadm-config exists" in info["distribution_evidence"]
    assert info["unreadable"] == []
    by_pod = {c["pod"]: c for c in info["control_plane"]}
    for node in nodes:
        for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            entry = by_pod[f"{component}-{node['name']}"]
            assert entry["node"] == node["name"] and entry["component"] == component
        apiserver = by_pod[f"kube-apiserver-{node['name']}"]
        assert apiserver["flags"]["authorization-mode"] == "Node,RBAC"
        assert apiserver["flags"]["bind-address"] == node["ip"]
        assert apiserver["flags"]["enable-admission-plugins"] == "NodeRestriction"
        assert apiserver["command"][0] == "kube-apiserver"
    assert info["api_requests"] == 5


@pytest.mark.nodes(3)
def test_cluster_info_three_nodes(control_plane, tmp_path):
    assert_cluster_info(run_playbook(control_plane, tmp_path), control_plane.nodes)


@pytest.mark.nodes(1)
def test_cluster_info_one_node(control_plane, tmp_path):
    assert_cluster_info(run_playbook(control_plane, tmp_path), control_plane.nodes)


@pytest.mark.nodes(1)
def test_k8s_auth_environment_is_honoured(control_plane, tmp_path):
    """What AWX injects: host, CA and credentials through K8S_AUTH_* only, no kubeconfig option."""
    conf = yaml.safe_load(control_plane.kubeconfig.read_text())
    admin = control_plane.paths.admin_pki
    env = ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal",
                      K8S_AUTH_HOST=conf["clusters"][0]["cluster"]["server"],
                      K8S_AUTH_SSL_CA_CERT=str(admin / "ca.crt"),
                      K8S_AUTH_CERT_FILE=str(admin / "admin.crt"),
                      K8S_AUTH_KEY_FILE=str(admin / "admin.key"),
                      HOME=str(tmp_path))  # no ~/.kube/config to fall back on
    rc, result, output = ansible_module(MODULE, {}, env=env)
    assert rc == 0, output
    assert result["distribution"] == "kubeadm"


# -- failures: one line naming the cause, never a traceback -------------------------------------------------------


def _foreign_kubeconfig(tmp_path: Path, server: str, *, trust_real_ca: Path | None) -> Path:
    """A kubeconfig whose client certificate (and, unless trust_real_ca is given, CA) come from another CA."""
    other = pki.new_ca("someone-else")
    pair = pki.client_pair(pki.ClusterCAs(other, other, other, other.key), "mallory", ("system:masters",))
    ca_pem = trust_real_ca.read_bytes() if trust_real_ca else other.cert_pem()
    path = tmp_path / "foreign.conf"
    path.write_text(manifests.kubeconfig(server, ca_pem, "mallory", pair.cert_pem(), pair.key_pem()))
    return path


def _assert_clean_failure(rc: int, result: dict, output: str, *fragments: str) -> str:
    assert rc != 0, output
    message = result.get("msg", "")
    assert message, output
    assert "\n" not in message, message
    assert "Traceback" not in output and "module_stderr" not in result, output
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.nodes(1)
def test_unreachable_server(tmp_path):
    rc, result, output = ansible_module(MODULE, {"host": "https://127.0.10.99:6443", "validate_certs": False,
                                                 "request_timeout": 5})
    message = _assert_clean_failure(rc, result, output, "cannot reach https://127.0.10.99:6443", "refused")
    assert result["category"] == "unreachable", message


@pytest.mark.nodes(1)
def test_bad_credentials(control_plane, tmp_path):
    kubeconfig = _foreign_kubeconfig(tmp_path, control_plane.server(),
                                     trust_real_ca=control_plane.paths.admin_pki / "ca.crt")
    rc, result, output = ansible_module(MODULE, {"kubeconfig": str(kubeconfig)})
    _assert_clean_failure(rc, result, output, "rejected the credentials", "401")
    assert result["category"] == "unauthorized"


@pytest.mark.nodes(1)
def test_tls_failure(control_plane, tmp_path):
    kubeconfig = _foreign_kubeconfig(tmp_path, control_plane.server(), trust_real_ca=None)
    rc, result, output = ansible_module(MODULE, {"kubeconfig": str(kubeconfig)})
    _assert_clean_failure(rc, result, output, "TLS verification of", "failed")
    assert result["category"] == "tls"


@pytest.mark.nodes(1)
def test_unknown_context(control_plane):
    rc, result, output = ansible_module(MODULE, {"kubeconfig": str(control_plane.kubeconfig), "context": "prod-eu-9"})
    _assert_clean_failure(rc, result, output, "context 'prod-eu-9' not found", "kubernetes-admin@kubecompass-local")
    assert result["category"] == "context"


def test_missing_kubeconfig(tmp_path):
    rc, result, output = ansible_module(MODULE, {"kubeconfig": str(tmp_path / "nope.conf")})
    _assert_clean_failure(rc, result, output, "kubeconfig", "nope.conf", "not found")


def test_malformed_kubeconfig(tmp_path):
    broken = tmp_path / "broken.conf"
    broken.write_text("apiVersion: v1\nclusters: [\n")
    rc, result, output = ansible_module(MODULE, {"kubeconfig": str(broken)})
    _assert_clean_failure(rc, result, output, "kubeconfig")


@pytest.mark.nodes(1)
def test_forbidden_reads_are_reported_not_guessed(control_plane, tmp_path):
    """A user who may read /version but nothing in kube-system: the module says what it could not read."""
    conf = yaml.safe_load(control_plane.kubeconfig.read_text())
    admin = control_plane.paths.admin_pki
    rc, result, output = ansible_module(MODULE, {
        "host": conf["clusters"][0]["cluster"]["server"], "ca_cert": str(admin / "ca.crt"),
        "client_cert": str(admin / "admin.crt"), "client_key": str(admin / "admin.key"),
        "impersonate_user": "nobody-in-particular"})
    assert rc == 0, output
    unreadable = {u["resource"] for u in result["unreadable"]}
    assert unreadable == {"endpointslices of Service default/kubernetes", "pods in kube-system", "nodes",
                          "configmap kube-system/kubeadm-config"}
    assert all(u["cause"].startswith("forbidden:") for u in result["unreadable"])
    assert result["distribution"] == "unknown"
    assert result["control_plane"] == [] and result["api_endpoints"] == []
    assert any(e.startswith("could not read:") for e in result["distribution_evidence"])
