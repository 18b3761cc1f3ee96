"""Issue 13 item 2: a change that assumes every control-plane node first proves the inventory lists every one.

Shapes: the EndpointSlice and mirror pods recorded from the 3-node local control plane (kubeadm_3_nodes.yml: the
API servers advertise 198.51.100.N, the nodes are reached at 127.0.10.N), etcd's JSON gateway member list as
etcd 3.6 returns it, and RKE2/k3s member names (<hostname>-<8 hex>)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import membership

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
KUBEADM = yaml.safe_load((FIXTURES / "kubeadm_3_nodes.yml").read_text())

# POST /v3/cluster/member/list on the local control plane, reduced by _node.etcd.etcd_member_list.
ETCD_MEMBERS = [{"name": "kc-cp%d" % i, "peer_urls": ["https://127.0.10.%d:2380" % i],
                 "client_urls": ["https://127.0.10.%d:2379" % i], "learner": False} for i in (1, 2, 3)]


def identity(i, advertise=True):
    """What control_plane_identity returns for kc-cp<i> (inventory address, advertise address, etcd name/URLs)."""
    addresses = ["127.0.10.%d" % i] + (["198.51.100.%d" % i] if advertise else [])
    return {"name": "kc-cp%d" % i, "names": ["kc-cp%d" % i], "addresses": addresses}


def kubeadm_sources(members=ETCD_MEMBERS):
    return {membership.ENDPOINTSLICE: membership.endpointslice_entries(KUBEADM["endpoint_slices"]),
            membership.APISERVER_PODS: membership.apiserver_pod_entries(KUBEADM["kube_system_pods"]),
            membership.ETCD_MEMBERS: membership.etcd_member_entries(members)}


def test_the_whole_inventory_matches_every_source():
    nodes = [identity(i) for i in (1, 2, 3)]
    result = membership.compare(nodes, kubeadm_sources())
    assert not result["blocked"]
    assert [s["source"] for s in result["sources"]] == ["endpointslice", "apiserver_pods", "etcd_members"]
    assert result["sources"][0]["cluster"] == ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    assert result["sources"][1]["cluster"] == ["kc-cp1", "kc-cp2", "kc-cp3"]
    assert membership.describe("localcp", nodes, result) is None


def test_an_inventory_of_two_on_three_nodes_is_blocked_by_every_source_with_both_lists():
    nodes = [identity(1), identity(2)]
    result = membership.compare(nodes, kubeadm_sources())
    assert result["blocked"]
    assert {d["source"]: d["not_in_inventory"] for d in result["differences"]} == {
        "endpointslice": ["198.51.100.3"], "apiserver_pods": ["kc-cp3"], "etcd_members": ["kc-cp3"]}
    message = membership.describe("localcp", nodes, result)
    assert message.startswith("localcp: the inventory lists the control-plane nodes [kc-cp1 (127.0.10.1, "
                              "198.51.100.1), kc-cp2 (127.0.10.2, 198.51.100.2)]")
    assert "EndpointSlice default/kubernetes shows [198.51.100.1, 198.51.100.2, 198.51.100.3]" in message
    assert "mirror pods kube-system/kube-apiserver-* shows [kc-cp1, kc-cp2, kc-cp3]" in message
    assert "etcd member list shows [kc-cp1, kc-cp2, kc-cp3]" in message
    assert "\n" not in message


def test_an_inventory_node_the_cluster_does_not_run_is_a_difference():
    nodes = [identity(1), identity(2), identity(3), {"name": "kc-cp9", "names": ["kc-cp9"], "addresses": ["10.9.9.9"]}]
    result = membership.compare(nodes, kubeadm_sources())
    assert result["blocked"]
    assert {d["source"]: d["not_in_cluster"] for d in result["differences"]} == {
        "endpointslice": ["kc-cp9"], "apiserver_pods": ["kc-cp9"], "etcd_members": ["kc-cp9"]}


def test_an_unstarted_etcd_member_counts_by_its_peer_url():
    members = ETCD_MEMBERS + [{"name": "", "peer_urls": ["https://10.0.0.14:2380"], "client_urls": [],
                               "learner": True}]
    result = membership.compare([identity(i) for i in (1, 2, 3)], kubeadm_sources(members))
    etcd = next(d for d in result["differences"] if d["source"] == "etcd_members")
    assert etcd["not_in_inventory"] == ["(not started) https://10.0.0.14:2380"]


def test_an_inventory_that_names_hosts_by_fqdn_matches_by_address():
    nodes = [{"name": "cp%d.example.org" % i, "names": ["cp%d.example.org" % i],
              "addresses": ["127.0.10.%d" % i, "198.51.100.%d" % i]} for i in (1, 2, 3)]
    assert not membership.compare(nodes, kubeadm_sources())["blocked"]


def test_without_the_advertise_address_the_endpointslice_cannot_be_matched():
    """kubecompass_node_ip is where the controller reaches the API server; the EndpointSlice shows what it
    advertises. Unknown is never a match."""
    nodes = [identity(i, advertise=False) for i in (1, 2, 3)]
    result = membership.compare(nodes, kubeadm_sources())
    assert [d["source"] for d in result["differences"]] == ["endpointslice"]


def test_rancher_etcd_member_names_carry_a_suffix():
    members = [{"name": "server-%d-%s" % (i, suffix), "peer_urls": ["https://10.0.0.1%d:2380" % i],
                "client_urls": ["https://10.0.0.1%d:2379" % i]} for i, suffix in ((1, "0a1b2c3d"), (2, "9f8e7d6c"))]
    entries = membership.etcd_member_entries(members)
    nodes = [{"name": "server-%d" % i, "names": ["server-%d" % i], "addresses": []} for i in (1, 2)]
    assert membership.compare_source("etcd_members", entries, nodes)["not_in_inventory"] == []
    # A name that only starts like a node's is not that node.
    other = [{"name": "server-1-extra", "names": ["server-1-extra"], "addresses": []}]
    assert membership.compare_source("etcd_members", entries, other)["not_in_cluster"] == ["server-1-extra"]


def test_k3s_control_plane_nodes_match_by_name_or_internal_ip():
    k3s_nodes = [{"metadata": {"name": "k3s-%d" % i, "labels": {membership.CONTROL_PLANE_ROLE: "true"}},
                  "status": {"addresses": [{"type": "InternalIP", "address": "10.0.1.%d" % i},
                                           {"type": "Hostname", "address": "k3s-%d" % i}]}} for i in (1, 2, 3)]
    k3s_nodes.append({"metadata": {"name": "agent-1", "labels": {}}, "status": {}})
    entries = membership.control_plane_node_entries(k3s_nodes)
    assert [e["label"] for e in entries] == ["k3s-1", "k3s-2", "k3s-3"]
    nodes = [{"name": "k3s-1", "names": ["k3s-1"], "addresses": []},
             {"name": "srv2", "names": ["srv2"], "addresses": ["10.0.1.2"]}]
    compared = membership.compare_source(membership.CONTROL_PLANE_NODES, entries, nodes)
    assert compared["not_in_inventory"] == ["k3s-3"]


@pytest.mark.parametrize("cause", ["forbidden: endpointslices.discovery.k8s.io is forbidden",
                                   "cannot reach https://127.0.10.1:2379/v3/cluster/member/list: refused"])
def test_an_unreadable_source_blocks_with_its_cause(cause):
    nodes = [identity(i) for i in (1, 2, 3)]
    sources = kubeadm_sources()
    sources[membership.ETCD_MEMBERS] = {"error": cause}
    result = membership.compare(nodes, sources)
    assert result["blocked"] and not result["differences"]
    assert membership.describe("localcp", nodes, result).endswith(
        "etcd member list could not be read: %s; a change that assumes every control-plane node is refused until "
        "the inventory lists exactly the cluster's nodes" % cause)


def test_an_unreadable_source_passes_only_when_explicitly_allowed():
    nodes = [identity(i) for i in (1, 2, 3)]
    sources = kubeadm_sources()
    sources[membership.ETCD_MEMBERS] = {"error": "refused"}
    result = membership.compare(nodes, sources, allow_unreadable=["etcd_members"])
    assert not result["blocked"]
    assert result["unreadable"] == [{"source": "etcd_members", "description": "etcd member list",
                                     "cause": "refused", "allowed": True}]
    # The opt-out covers unreadable sources only: a source that is read and differs still blocks.
    result = membership.compare(nodes[:2], sources, allow_unreadable=["etcd_members"])
    assert result["blocked"]


def test_external_etcd_is_not_a_source():
    nodes = [identity(i) for i in (1, 2, 3)]
    sources = kubeadm_sources()
    sources[membership.ETCD_MEMBERS] = {"not_applicable": "etcd is external to the control-plane nodes"}
    result = membership.compare(nodes, sources)
    assert not result["blocked"]
    assert result["skipped"][0]["source"] == "etcd_members"


def test_an_empty_endpointslice_shows_no_api_server():
    nodes = [identity(i) for i in (1, 2, 3)]
    sources = kubeadm_sources()
    sources[membership.ENDPOINTSLICE] = membership.endpointslice_entries([])
    result = membership.compare(nodes, sources)
    assert result["differences"][0]["not_in_cluster"] == ["kc-cp1", "kc-cp2", "kc-cp3"]


@pytest.mark.parametrize("url,host", [("https://127.0.10.1:2380", "127.0.10.1"), ("https://[fd00::1]:2380", "fd00::1"),
                                      ("http://etcd-a.example:2379/", "etcd-a.example"), ("", None), ("10.0.0.1", None)])
def test_url_host(url, host):
    assert membership.url_host(url) == host
