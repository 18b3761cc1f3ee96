"""The example inventory (inventories/example/hosts.yml) uses only variables the playbooks and roles read, with
values they accept: a user who copies it gets what it shows."""

from __future__ import annotations

import re

import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import DISTRIBUTIONS, TIERS
from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import validate_target
from tests.helpers import REPO

INVENTORY = yaml.safe_load((REPO / "inventories" / "example" / "hosts.yml").read_text())
GROUPS = INVENTORY["all"]["children"]
CLUSTERS = GROUPS["k8s_clusters"]["hosts"]


def _read_by_the_code() -> set[str]:
    """Every kubecompass_* name the playbooks and roles (tasks, defaults, templates) refer to."""
    names = set()
    for path in [*REPO.glob("playbooks/**/*.yml"), *REPO.glob("roles/**/*.yml"), *REPO.glob("roles/**/*.j2")]:
        names.update(re.findall(r"\bkubecompass_[a-z0-9_]+", path.read_text()))
    return names


def test_every_cluster_variable_is_read_by_the_code():
    read = _read_by_the_code()
    used = {name for host in CLUSTERS.values() for name in host} | set(GROUPS["k8s_clusters"].get("vars", {}))
    unread = sorted(name for name in used if name.startswith("kubecompass_") and name not in read)
    assert unread == [], "the example inventory sets variables nothing reads: %s" % ", ".join(unread)
    assert all(name.startswith(("kubecompass_", "ansible_")) for name in used), sorted(used)


def test_every_cluster_is_assessable_as_written():
    for name, host in CLUSTERS.items():
        assert host["kubecompass_distribution"] in DISTRIBUTIONS, name
        assert host["kubecompass_tier"] in TIERS, name
        if host["kubecompass_distribution"] in ("eks", "gke", "aks"):
            # The provider target the provider modules validate, and a way to the cluster's objects.
            validate_target(host["kubecompass_provider"], host["kubecompass_distribution"])
            assert "kubecompass_kubeconfig" in host or host.get("kubecompass_kubernetes_api") is False, name
        else:
            assert host["kubecompass_kubeconfig"], name
            assert host["kubecompass_control_plane_group"] in GROUPS, name
            assert GROUPS[host["kubecompass_control_plane_group"]]["hosts"], name
