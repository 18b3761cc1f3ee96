"""control_plane_identity (on a node) and control_plane_members (on the controller): what each node is known by,
etcd's member list read through the node's etcd client, and the sources read from the API."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.etcd import EtcdError
from ansible_collections.kubecompass.readiness.plugins.modules import control_plane_identity, control_plane_members
from tests.unit.plugins.module_utils._node.test_gather import KUBEADM, static_pod, write

# etcd 3.6 JSON gateway, POST /v3/cluster/member/list on the local control plane (IDs shortened).
MEMBER_LIST = {"header": {"cluster_id": "1", "member_id": "2", "raft_term": "2"}, "members": [
    {"ID": "1%d" % i, "name": "kc-cp%d" % i, "peerURLs": ["https://127.0.10.%d:2380" % i],
     "clientURLs": ["https://127.0.10.%d:2379" % i]} for i in (1, 2, 3)]}


def params(**overrides):
    values = {"distribution": "kubeadm", "node_name": "kc-cp1", "addresses": ["127.0.10.1"],
              "list_etcd_members": False}
    values.update(overrides)
    return values


@pytest.fixture
def kubeadm_root(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    write(root, "/etc/kubernetes/manifests/kube-apiserver.yaml", static_pod("kube-apiserver"))
    write(root, "/etc/kubernetes/manifests/etcd.yaml", static_pod("etcd"))
    proc.mkdir()
    return str(root), str(proc)


def test_a_kubeadm_node_is_known_by_its_advertise_address_and_etcd_urls(kubeadm_root):
    root, proc = kubeadm_root
    result = control_plane_identity.read_identity(params(), root=root, proc=proc)
    assert result["identity"] == {"name": "kc-cp1", "names": ["kc-cp1"],
                                  "addresses": ["127.0.10.1", "198.51.100.1"]}
    assert result["etcd"] == {"topology": "stacked", "members": None, "error": None, "not_applicable": None}


def test_the_member_list_is_read_through_the_apiservers_etcd(kubeadm_root):
    root, proc = kubeadm_root
    calls = []

    def post(url, body):
        calls.append((url, body))
        return MEMBER_LIST

    result = control_plane_identity.read_identity(params(list_etcd_members=True), root=root, proc=proc, post=post)
    assert calls == [("https://127.0.10.1:2379/v3/cluster/member/list", {"linearizable": True})]
    assert [m["name"] for m in result["etcd"]["members"]] == ["kc-cp1", "kc-cp2", "kc-cp3"]
    assert result["etcd"]["members"][0] == {"name": "kc-cp1", "peer_urls": ["https://127.0.10.1:2380"],
                                            "client_urls": ["https://127.0.10.1:2379"], "learner": False}


def test_an_unreachable_etcd_is_reported_not_raised(kubeadm_root):
    root, proc = kubeadm_root

    def post(url, body):
        raise EtcdError("cannot reach %s: connection refused" % url)

    result = control_plane_identity.read_identity(params(list_etcd_members=True), root=root, proc=proc, post=post)
    assert result["etcd"]["members"] is None
    assert result["etcd"]["error"] == "cannot reach https://127.0.10.1:2379/v3/cluster/member/list: connection refused"


def test_without_an_etcd_static_pod_etcd_is_external(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    write(root, "/etc/kubernetes/manifests/kube-apiserver.yaml", static_pod("kube-apiserver"))
    proc.mkdir()
    result = control_plane_identity.read_identity(params(list_etcd_members=True), root=str(root), proc=str(proc))
    assert result["etcd"]["topology"] == "external" and result["etcd"]["not_applicable"]


@pytest.mark.parametrize("damage", ["truncated", "unreadable"])
def test_an_etcd_manifest_that_cannot_be_read_is_an_error_of_the_etcd_source_never_external(tmp_path, damage):
    """A truncated or unreadable etcd.yaml says nothing about where etcd runs: the member list is unknown, which
    blocks the gate (unless allowed) instead of being skipped as external etcd."""
    root, proc = tmp_path / "node", tmp_path / "proc"
    write(root, "/etc/kubernetes/manifests/kube-apiserver.yaml", static_pod("kube-apiserver"))
    manifest = root / "etc/kubernetes/manifests/etcd.yaml"
    if damage == "truncated":
        manifest.write_text("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command: [etcd, --name=kc")
    else:
        manifest.mkdir()  # reading it fails (EISDIR) even as root
    proc.mkdir()
    result = control_plane_identity.read_identity(params(list_etcd_members=True), root=str(root), proc=str(proc))
    assert result["etcd"]["topology"] == "unknown" and not result["etcd"]["not_applicable"]
    assert result["etcd"]["error"].startswith("cannot read the static pod manifest /etc/kubernetes/manifests/etcd.yaml")
    client = FakeClient({"/apis/discovery.k8s.io/v1/namespaces/default/endpointslices": KUBEADM["endpoint_slices"],
                         "/api/v1/namespaces/kube-system/pods": KubeCompassError("forbidden", "forbidden", 403)})
    sources = control_plane_members.read_sources(client, "kubeadm", result["etcd"])
    assert sources["etcd_members"] == {"error": result["etcd"]["error"]}


def test_k3s_on_sqlite_has_no_etcd_members(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    write(root, "/etc/rancher/k3s/config.yaml", {"node-ip": "10.0.1.1"})
    proc.mkdir()
    result = control_plane_identity.read_identity(params(distribution="k3s", list_etcd_members=True),
                                                  root=str(root), proc=str(proc))
    assert result["etcd"]["topology"] == "none"
    assert result["etcd"]["not_applicable"] == "the datastore is kine (sqlite), not etcd"


class FakeClient:
    def __init__(self, responses):
        self.responses = responses

    def list(self, path, query=None):
        answer = self.responses[path]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_the_api_sources_are_read_and_a_forbidden_one_is_unreadable():
    client = FakeClient({
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices": KUBEADM["endpoint_slices"],
        "/api/v1/namespaces/kube-system/pods": KubeCompassError("pods is forbidden", "forbidden", 403),
    })
    etcd = {"topology": "stacked", "members": [{"name": "kc-cp1", "peer_urls": [], "client_urls": []}],
            "error": None, "not_applicable": None}
    sources = control_plane_members.read_sources(client, "kubeadm", etcd)
    assert [e["label"] for e in sources["endpointslice"]] == ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    assert sources["apiserver_pods"] == {"error": "pods is forbidden"}
    assert [e["label"] for e in sources["etcd_members"]] == ["kc-cp1"]


def test_an_unreachable_api_ends_the_read():
    client = FakeClient({"/apis/discovery.k8s.io/v1/namespaces/default/endpointslices":
                         KubeCompassError("cannot reach", "unreachable")})
    with pytest.raises(KubeCompassError):
        control_plane_members.read_sources(client, "kubeadm", {"members": None, "error": "x"})


def test_etcd_not_read_is_unreadable_and_k3s_reads_control_plane_nodes():
    client = FakeClient({"/apis/discovery.k8s.io/v1/namespaces/default/endpointslices": [], "/api/v1/nodes": []})
    sources = control_plane_members.read_sources(client, "k3s", {"members": None, "error": None})
    assert sources["control_plane_nodes"] == [] and "apiserver_pods" not in sources
    assert sources["etcd_members"] == {"error": "the member list was not read"}
