"""The CIS Kubernetes Benchmark IDs each check carries are the ones it tests: walked check by check.

Controls come from a check's readiness item, and several checks share one (rbac-least-privilege carries 17 CIS
IDs, from the authorization-mode flags to every 5.1.x RBAC item). A report that tags "default ServiceAccount does not
automount its token" with CIS 1.2.6 claims a test the check never makes; kube-bench on the local control plane
disagreed with the collection on 15 items for that reason alone (tests/integration/test_cis_kube_bench.py)."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance import controls_for

# Check -> the CIS IDs it tests, and why where the item maps more. A check absent here carries none.
TESTED = {
    "KC-SEC-001": ({"1.2.16", "3.2.1", "3.2.2"}, "audit log path set, a policy file, what the policy records"),
    "KC-SEC-002": ({"1.2.17", "1.2.18", "1.2.19"}, "maxage, maxbackup, maxsize"),
    "KC-SEC-003": ({"1.2.16"}, "events written to the path; the policy's content is KC-SEC-001's"),
    "KC-SEC-004": ({"1.2.27", "1.2.28"}, "encryption config set, providers strong"),
    "KC-SEC-005": ({"1.2.27", "1.2.28"}, "ciphertext in etcd is the effect of both"),
    "KC-SEC-006": ({"1.2.1"}, "the apiserver's anonymous auth; the kubelet's (4.2.1) is KC-SEC-072"),
    "KC-SEC-007": ({"1.2.6", "1.2.7", "1.2.8"}, "--authorization-mode: not AlwaysAllow, Node, RBAC"),
    "KC-SEC-008": ({"1.2.15"}, "apiserver --profiling"),
    "KC-SEC-009": ({"1.2.14"}, "NodeRestriction; not the authorization-mode or RBAC items"),
    "KC-SEC-010": (set(), "TLS minimum version: no CIS item; cipher suites (1.2.29) are only noted, not required"),
    "KC-SEC-011": ({"5.1.1"}, "cluster-admin only where required"),
    "KC-SEC-012": ({"5.1.3", "5.1.8"}, "wildcards; bind, impersonate and escalate"),
    "KC-SEC-013": (set(), "bindings to anonymous groups: no CIS item names them"),
    "KC-SEC-014": ({"5.1.6"}, "service account tokens mounted only where necessary"),
    "KC-SEC-015": ({"3.1.1", "3.1.2", "3.1.3"}, "people authenticate through OIDC; --token-auth-file is KC-SEC-026"),
    "KC-SEC-016": ({"5.3.1", "5.3.2"}, None),
    "KC-SEC-017": ({"5.2.1", "5.2.2", "5.2.3", "5.2.4", "5.2.5", "5.2.6", "5.2.7", "5.2.8", "5.2.9", "5.2.10",
                    "5.2.11", "5.2.12", "5.6.2", "5.6.3"}, "Pod Security Admission levels enforce these"),
    "KC-SEC-018": (set(), "Ingress TLS: no CIS item; the item's IDs are the apiserver's and etcd's TLS flags"),
    "KC-SEC-019": ({"5.2.1"}, None),
    "KC-SEC-020": ({"5.5.1"}, "image provenance; AlwaysPullImages (1.2.11) is not read"),
    "KC-SEC-021": ({"5.4.1", "5.4.2"}, None),
    "KC-SEC-023": ({"5.3.1", "5.3.2"}, None),
    # Peer certificate files (2.4) and a CA unique to etcd (2.7) are not read.
    "KC-SEC-024": ({"1.2.23", "1.2.26", "2.1", "2.2", "2.3", "2.5", "2.6"},
                   "apiserver's etcd client TLS flags; etcd's client/peer cert auth and auto-tls"),
    "KC-SEC-026": ({"1.2.2"}, None), "KC-SEC-027": ({"1.2.4"}, None), "KC-SEC-028": ({"1.2.5"}, None),
    "KC-SEC-029": ({"1.2.10"}, None), "KC-SEC-030": ({"1.2.12"}, None), "KC-SEC-031": ({"1.2.13"}, None),
    "KC-SEC-032": ({"1.2.21"}, None), "KC-SEC-033": ({"1.2.22"}, None), "KC-SEC-034": ({"1.2.24"}, None),
    "KC-SEC-035": ({"1.2.25"}, None), "KC-SEC-036": ({"1.2.30"}, None), "KC-SEC-037": ({"1.3.2"}, None),
    "KC-SEC-038": ({"1.3.3"}, None), "KC-SEC-039": ({"1.3.4"}, None), "KC-SEC-040": ({"1.3.5"}, None),
    "KC-SEC-041": ({"1.3.6"}, None), "KC-SEC-042": ({"1.3.7"}, None), "KC-SEC-043": ({"1.4.1"}, None),
    "KC-SEC-044": ({"1.4.2"}, None),
    # File items, one CIS ID each (plugins/module_utils/_readiness/checks/cis_files.py ITEMS).
    "KC-SEC-045": ({"1.1.1"}, None), "KC-SEC-046": ({"1.1.2"}, None), "KC-SEC-047": ({"1.1.3"}, None),
    "KC-SEC-048": ({"1.1.4"}, None), "KC-SEC-049": ({"1.1.5"}, None), "KC-SEC-050": ({"1.1.6"}, None),
    "KC-SEC-051": ({"1.1.7"}, None), "KC-SEC-052": ({"1.1.8"}, None), "KC-SEC-053": ({"1.1.11"}, None),
    "KC-SEC-054": ({"1.1.12"}, None), "KC-SEC-055": ({"1.1.13"}, None), "KC-SEC-056": ({"1.1.14"}, None),
    "KC-SEC-057": ({"1.1.15"}, None), "KC-SEC-058": ({"1.1.16"}, None), "KC-SEC-059": ({"1.1.17"}, None),
    "KC-SEC-060": ({"1.1.18"}, None), "KC-SEC-061": ({"1.1.19"}, None), "KC-SEC-062": ({"1.1.20"}, None),
    "KC-SEC-063": ({"1.1.21"}, None), "KC-SEC-064": ({"4.1.5"}, None), "KC-SEC-065": ({"4.1.6"}, None),
    "KC-SEC-066": ({"4.1.7"}, None), "KC-SEC-067": ({"4.1.8"}, None), "KC-SEC-068": ({"4.1.9"}, None),
    "KC-SEC-069": ({"4.1.10"}, None), "KC-SEC-070": ({"4.1.1"}, None), "KC-SEC-071": ({"4.1.2"}, None),
    # Kubelet settings, one CIS ID each (plugins/module_utils/_readiness/checks/cis_kubelet.py ITEMS).
    "KC-SEC-072": ({"4.2.1"}, None), "KC-SEC-073": ({"4.2.2"}, None), "KC-SEC-074": ({"4.2.3"}, None),
    "KC-SEC-075": ({"4.2.6"}, None), "KC-SEC-076": ({"4.2.10"}, None), "KC-SEC-077": ({"4.3.1"}, None),
    "KC-CMP-001": ({"1.2.17", "1.2.18", "1.2.19"}, "retention the frameworks need, from the same flags"),
    # KC-AVL-011, KC-CMP-002, KC-CMP-003 share resource-quotas-limitranges, mapped to 4.2.13 (the kubelet's pod
    # PID limit), which none of them reads.
}


def cis_of(check):
    return {control["id"] for control in controls_for(check.item, check.controls)
            if control["framework"] == "cis_kubernetes"}


@pytest.mark.parametrize("check", catalog.all_checks(), ids=lambda check: check.id)
def test_each_check_carries_exactly_the_cis_items_it_tests(check):
    wanted, _why = TESTED.get(check.id, (set(), None))
    assert cis_of(check) == wanted


def test_a_restriction_to_an_id_the_item_does_not_map_is_refused():
    with pytest.raises(ValueError, match="item oidc-sso maps no cis_kubernetes control 1.2.14"):
        controls_for("oidc-sso", {"cis_kubernetes": ("3.1.1", "1.2.14")})


def test_a_restriction_keeps_the_other_frameworks_whole():
    everything = controls_for("rbac-least-privilege")
    restricted = controls_for("rbac-least-privilege", {"cis_kubernetes": ("5.1.6",)})
    others = [c for c in everything if c["framework"] != "cis_kubernetes"]
    assert [c for c in restricted if c["framework"] != "cis_kubernetes"] == others and others
    assert [c["id"] for c in restricted if c["framework"] == "cis_kubernetes"] == ["5.1.6"]
