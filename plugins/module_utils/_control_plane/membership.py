# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Whether the inventory lists every control-plane node, judged from what the cluster itself says runs: the
``kubernetes`` EndpointSlice (one address per API server), the ``kube-apiserver-*`` mirror pods (k3s has none: its
Nodes with the control-plane role instead) and the etcd member list. A change that assumes every node (an
encryption key promoted or dropped) must not run when a node is missing: that node would be left unable to read
what the others write, or still writing with a dropped key.

Pure functions: the modules read the sources, this compares them.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import (
    api_endpoints,
    control_plane_components,
)

ENDPOINTSLICE = "endpointslice"
APISERVER_PODS = "apiserver_pods"
CONTROL_PLANE_NODES = "control_plane_nodes"
ETCD_MEMBERS = "etcd_members"
SOURCES = (ENDPOINTSLICE, APISERVER_PODS, CONTROL_PLANE_NODES, ETCD_MEMBERS)
DESCRIPTIONS = {
    ENDPOINTSLICE: "EndpointSlice default/kubernetes",
    APISERVER_PODS: "mirror pods kube-system/kube-apiserver-*",
    CONTROL_PLANE_NODES: "Nodes labelled node-role.kubernetes.io/control-plane",
    ETCD_MEMBERS: "etcd member list",
}
CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane"
# RKE2 and k3s name an etcd member <hostname>-<8 hex digits> (k3s pkg/etcd/etcd.go).
_RANCHER_MEMBER_SUFFIX = re.compile(r"^-[0-9a-f]{8}$")


def url_host(url):
    """The host of a URL (``https://[fd00::1]:2380`` -> ``fd00::1``), or None."""
    match = re.match(r"^[a-z][a-z0-9+.-]*://(\[[^\]]+\]|[^/:]+)", str(url or ""), re.IGNORECASE)
    return match.group(1).strip("[]") if match else None


def endpointslice_entries(endpoint_slices):
    return [{"label": address, "names": [], "addresses": [address]}
            for address in sorted({e["address"] for e in api_endpoints(endpoint_slices)})]


def apiserver_pod_entries(pods):
    """One entry per kube-apiserver mirror pod: its node, and the address it advertises (matched as well, so an
    inventory that names hosts by FQDN still matches a node registered by its short name)."""
    entries = []
    for component in control_plane_components(pods):
        if component["component"] != "kube-apiserver":
            continue
        advertised = component["flags"].get("advertise-address")
        entries.append({"label": component["node"] or component["pod"], "names": [component["node"] or ""],
                        "addresses": [advertised] if isinstance(advertised, str) else []})
    return entries


def control_plane_node_entries(nodes):
    entries = []
    for node in nodes:
        meta = node.get("metadata") or {}
        if CONTROL_PLANE_ROLE not in (meta.get("labels") or {}):
            continue
        addresses = [a.get("address") for a in (node.get("status") or {}).get("addresses") or []
                     if a.get("type") in ("InternalIP", "ExternalIP") and a.get("address")]
        entries.append({"label": meta.get("name"), "names": [meta.get("name")], "addresses": addresses})
    return sorted(entries, key=lambda e: e["label"] or "")


def etcd_member_entries(members):
    entries = []
    for member in members:
        urls = list(member.get("peer_urls") or []) + list(member.get("client_urls") or [])
        addresses = sorted({host for host in map(url_host, urls) if host})
        name = member.get("name") or ""
        label = name or "(not started) " + ", ".join(member.get("peer_urls") or [])
        entries.append({"label": label, "names": [name] if name else [], "addresses": addresses,
                        "etcd": True})
    return sorted(entries, key=lambda e: e["label"])


def _matches(entry, node):
    names = {n for n in node.get("names") or [] if n}
    if names & set(entry["names"]) or set(node.get("addresses") or []) & set(entry["addresses"]):
        return True
    return bool(entry.get("etcd")) and any(
        name.startswith(known) and _RANCHER_MEMBER_SUFFIX.match(name[len(known):])
        for name in entry["names"] for known in names)


def compare_source(source, entries, nodes):
    """``nodes`` is ``[{"name", "names": [...], "addresses": [...]}]`` (every name and address a node is known
    by). Returns the source's view and what differs: entries no inventory node matches, nodes no entry matches."""
    unmatched_entries = [e["label"] for e in entries if not any(_matches(e, node) for node in nodes)]
    unmatched_nodes = [node["name"] for node in nodes if not any(_matches(e, node) for e in entries)]
    return {"source": source, "description": DESCRIPTIONS[source], "cluster": [e["label"] for e in entries],
            "not_in_inventory": unmatched_entries, "not_in_cluster": unmatched_nodes}


def compare(nodes, sources, allow_unreadable=()):
    """Every source compared with the inventory's ``nodes``. ``sources`` maps a source name to its entries (a
    list), to ``{"error": cause}`` when it could not be read, or to ``{"not_applicable": why}``. Returns
    ``{"sources": [...], "differences": [...], "unreadable": [...], "blocked": bool}``: a difference always
    blocks; an unreadable source blocks unless its name is in ``allow_unreadable`` (unknown is never a match)."""
    result = {"sources": [], "differences": [], "unreadable": [], "skipped": []}
    for source in SOURCES:
        if source not in sources:
            continue
        view = sources[source]
        if isinstance(view, dict):
            record = {"source": source, "description": DESCRIPTIONS[source]}
            if view.get("not_applicable"):
                result["skipped"].append(dict(record, reason=view["not_applicable"]))
            else:
                unread = dict(record, cause=view.get("error") or "not read", allowed=source in allow_unreadable)
                result["unreadable"].append(unread)
            continue
        compared = compare_source(source, view, nodes)
        result["sources"].append(compared)
        if compared["not_in_inventory"] or compared["not_in_cluster"]:
            result["differences"].append(compared)
    result["blocked"] = bool(result["differences"]) or any(not u["allowed"] for u in result["unreadable"])
    return result


def _show_node(node):
    extra = sorted(set(node.get("addresses") or []) - {node["name"]})
    return node["name"] + (" (%s)" % ", ".join(extra) if extra else "")


def describe(cluster, nodes, result):
    """One line naming the cluster, the inventory's list and every source's differing list, or None when the
    inventory is proven complete."""
    if not result["blocked"]:
        return None
    parts = []
    for diff in result["differences"]:
        detail = []
        if diff["not_in_inventory"]:
            detail.append("not in the inventory: %s" % ", ".join(diff["not_in_inventory"]))
        if diff["not_in_cluster"]:
            detail.append("inventory nodes it does not show: %s" % ", ".join(diff["not_in_cluster"]))
        parts.append("%s shows [%s] (%s)" % (diff["description"], ", ".join(diff["cluster"]), "; ".join(detail)))
    for unread in result["unreadable"]:
        if not unread["allowed"]:
            parts.append("%s could not be read: %s" % (unread["description"], unread["cause"]))
    return ("%s: the inventory lists the control-plane nodes [%s], but %s; a change that assumes every "
            "control-plane node is refused until the inventory lists exactly the cluster's nodes"
            % (cluster, ", ".join(_show_node(node) for node in nodes), "; ".join(parts)))
