"""The clusters inventory plugin: kubeconfig contexts and provider accounts become one host per cluster, with the
groups and variables the collection's playbooks read; a failing provider never loses the others."""

from __future__ import annotations

import importlib
import sys
import types

import pytest
import yaml
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, inventory_loader
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import discovery
from tests.helpers import DEV_COLLECTIONS

PROVIDERS_PACKAGE = "ansible_collections.kubecompass.readiness.plugins.module_utils._providers"
EKS_ARN = "arn:aws:eks:eu-west-1:123456789012:cluster/payments"
EKS_SERVER = "https://ABCDEF0123456789.gr7.eu-west-1.eks.amazonaws.com"
GKE_CONTEXT = "gke_example-analytics_europe-west1_analytics"
AKS_SERVER = "https://intranet-dns-1a2b3c4d.hcp.westeurope.azmk8s.io:443"

KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config",
    "clusters": [
        {"name": EKS_ARN, "cluster": {"server": EKS_SERVER}},
        {"name": GKE_CONTEXT, "cluster": {"server": "https://34.76.1.2"}},
        {"name": "intranet", "cluster": {"server": AKS_SERVER}},
        {"name": "kubernetes", "cluster": {"server": "https://127.0.0.1:6443"}},
    ],
    "contexts": [
        {"name": EKS_ARN, "context": {"cluster": EKS_ARN, "user": "eks"}},
        {"name": GKE_CONTEXT, "context": {"cluster": GKE_CONTEXT, "user": "gke"}},
        {"name": "intranet", "context": {"cluster": "intranet", "user": "aks"}},
        {"name": "kubernetes-admin@kubernetes", "context": {"cluster": "kubernetes", "user": "kubernetes-admin"}},
    ],
    "users": [{"name": "eks", "user": {"token": "s3cr3t-token"}}],
    "current-context": "kubernetes-admin@kubernetes",
}


def _collection_modules():
    return {name: module for name, module in sys.modules.items()
            if name == "ansible_collections" or name.startswith("ansible_collections.")}


@pytest.fixture(scope="module", autouse=True)
def collection_loader():
    """Load the plugin the way ansible-inventory does: through the collection loader, with its documentation.

    The collection was imported as a plain package by other tests; the loader needs its own import of it, so the
    plain modules are set aside for this module's tests and put back afterwards."""
    saved = _collection_modules()
    for name in saved:
        del sys.modules[name]
    init_plugin_loader([str(DEV_COLLECTIONS)])
    yield
    _AnsibleCollectionFinder._remove()
    for name in _collection_modules():
        del sys.modules[name]
    sys.modules.update(saved)


def provider_error(message, category):
    """A ProviderError of the package the loaded plugin uses (its own import of the collection)."""
    return importlib.import_module(PROVIDERS_PACKAGE).ProviderError(message, category)


class Warnings(list):
    def warning(self, msg, *args, **kwargs):
        self.append(msg)

    def __getattr__(self, name):  # vvv, debug, ...: not under test
        return lambda *args, **kwargs: None


class FakeProvider:
    """A provider module whose list_clusters answers from a table (or raises), recording each account asked."""

    def __init__(self, answers):
        self.answers = answers
        self.accounts = []

    def list_clusters(self, account, clients=None):
        self.accounts.append(account)
        answer = self.answers(account) if callable(self.answers) else self.answers
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def providers(monkeypatch):
    """Install fake eks/gke/aks modules where provider_module imports them from."""

    def install(**fakes):
        for name, fake in fakes.items():
            module = types.ModuleType("%s.%s" % (PROVIDERS_PACKAGE, name))
            module.list_clusters = fake.list_clusters
            monkeypatch.setitem(sys.modules, "%s.%s" % (PROVIDERS_PACKAGE, name), module)
            # `from package import eks` reads the package attribute first, once a real module was imported.
            monkeypatch.setattr(importlib.import_module(PROVIDERS_PACKAGE), name, module, raising=False)
        return fakes

    return install


def write_config(tmp_path, config, name="test.clusters.yml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(dict({"plugin": "kubecompass.readiness.clusters"}, **config)))
    return path


def write_kubeconfig(tmp_path, kubeconfig=None, name="kubeconfig"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(kubeconfig or KUBECONFIG))
    return path


def parse(path, cache=True):
    """(inventory, warnings) after one parse of the source, cache written back as InventoryManager does."""
    plugin = inventory_loader.get("kubecompass.readiness.clusters")
    warnings = Warnings()
    plugin.display = warnings
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path), cache=cache)
    if plugin.get_option("cache"):  # InventoryManager calls it, ignoring the AttributeError of no cache
        plugin.update_cache_if_changed()
    return inventory, warnings


def members(inventory, group):
    return sorted(host.name for host in inventory.groups[group].get_hosts())


MAGIC_VARS = ("group_names", "inventory_dir", "inventory_file", "inventory_hostname", "inventory_hostname_short")


def host_vars(inventory, name):
    """The variables the plugin set (without the magic ones every host has)."""
    return {key: value for key, value in inventory.get_host(name).get_vars().items() if key not in MAGIC_VARS}


def discovered(name, distribution, location, target, labels=None, server=None):
    return {"name": name, "distribution": distribution, "location": location, "target": target,
            "labels": labels or {}, "server": server, "version": "1.31"}


EKS_PAYMENTS = discovered("payments", "eks", "eu-west-1", {"type": "eks", "name": "payments", "region": "eu-west-1"},
                          {"kubecompass.io/tier": "critical", "team": "pay"}, EKS_SERVER)
GKE_ANALYTICS = discovered("analytics", "gke", "europe-west1",
                           {"type": "gke", "project": "example-analytics", "location": "europe-west1",
                            "name": "analytics"}, {"kubecompass-tier": "best-effort"}, "https://34.76.1.2")
AKS_INTRANET = discovered("intranet", "aks", "westeurope",
                          {"type": "aks", "subscription_id": "sub-1", "resource_group": "rg-intranet",
                           "name": "intranet"}, {"kubecompass.io/tier": "gold"}, AKS_SERVER)


# Kubeconfig contexts ------------------------------------------------------------------------------------------


def test_four_contexts_become_hosts_grouped_by_distribution(tmp_path):
    kubeconfig = write_kubeconfig(tmp_path)
    inventory, warnings = parse(write_config(tmp_path, {"kubeconfigs": [str(kubeconfig)]}))
    names = ["eks-eu-west-1-payments", "gke-europe-west1-analytics", "intranet", "kubernetes-admin-kubernetes"]
    assert members(inventory, "k8s_clusters") == names
    assert members(inventory, "eks") == ["eks-eu-west-1-payments"]
    assert members(inventory, "gke") == ["gke-europe-west1-analytics"]
    assert members(inventory, "aks") == ["intranet"]
    assert members(inventory, "unknown_distribution") == ["kubernetes-admin-kubernetes"]
    assert host_vars(inventory, "eks-eu-west-1-payments") == {
        "ansible_connection": "local", "kubecompass_distribution": "eks", "kubecompass_region": "eu-west-1",
        "kubecompass_provider": {"type": "eks", "name": "payments", "region": "eu-west-1"},
        "kubecompass_kubeconfig": str(kubeconfig), "kubecompass_context": EKS_ARN, "kubecompass_server": EKS_SERVER}
    assert host_vars(inventory, "gke-europe-west1-analytics")["kubecompass_provider"] == {
        "type": "gke", "project": "example-analytics", "location": "europe-west1", "name": "analytics"}
    aks = host_vars(inventory, "intranet")
    assert aks["kubecompass_distribution"] == "aks" and aks["kubecompass_region"] == "westeurope"
    assert "kubecompass_provider" not in aks  # the resource group is not in a kubeconfig
    assert host_vars(inventory, "kubernetes-admin-kubernetes") == {
        "ansible_connection": "local", "kubecompass_kubeconfig": str(kubeconfig),
        "kubecompass_context": "kubernetes-admin@kubernetes", "kubecompass_server": "https://127.0.0.1:6443"}
    assert warnings == []
    assert "s3cr3t-token" not in repr([host_vars(inventory, name) for name in names])


def test_relative_kubeconfig_and_context_globs_and_declared_distribution(tmp_path):
    write_kubeconfig(tmp_path, name="kc.yaml")
    config = {"kubeconfigs": ["kc.yaml"], "contexts": ["kubernetes-*", "intra*"],
              "distributions": {"kubernetes-admin@*": "kubeadm"}, "default_tier": "important"}
    inventory, warnings = parse(write_config(tmp_path, config))
    assert members(inventory, "k8s_clusters") == ["intranet", "kubernetes-admin-kubernetes"]
    assert members(inventory, "kubeadm") == ["kubernetes-admin-kubernetes"]
    assert "unknown_distribution" not in inventory.groups
    kubeadm = host_vars(inventory, "kubernetes-admin-kubernetes")
    assert kubeadm["kubecompass_distribution"] == "kubeadm" and kubeadm["kubecompass_tier"] == "important"
    assert kubeadm["kubecompass_kubeconfig"] == str(tmp_path / "kc.yaml")


def test_unreadable_kubeconfig_is_a_warning_and_the_others_still_count(tmp_path):
    good = write_kubeconfig(tmp_path)
    broken = tmp_path / "broken"
    broken.write_text("clusters: [unclosed")
    config = {"kubeconfigs": [str(tmp_path / "missing"), str(broken), str(good)], "contexts": ["intranet"]}
    inventory, warnings = parse(write_config(tmp_path, config))
    assert members(inventory, "k8s_clusters") == ["intranet"]
    assert len(warnings) == 2
    assert str(tmp_path / "missing") in warnings[0] and "cannot be read" in warnings[0]
    assert str(broken) in warnings[1] and "not valid YAML" in warnings[1]


def test_colliding_names_get_a_numeric_suffix_in_file_order(tmp_path):
    kubeconfig = {"clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                  "contexts": [{"name": name, "context": {"cluster": "c"}} for name in ("Lab One", "lab/one", "lab-one")]}
    inventory, warnings = parse(write_config(tmp_path, {"kubeconfigs": [str(write_kubeconfig(tmp_path, kubeconfig))]}))
    assert {name: host_vars(inventory, name)["kubecompass_context"] for name in members(inventory, "k8s_clusters")} \
        == {"lab-one": "Lab One", "lab-one-2": "lab/one", "lab-one-3": "lab-one"}
    assert warnings == []  # same local server, different clusters: never merged by server alone


# Provider discovery -------------------------------------------------------------------------------------------


def test_discovered_clusters_become_hosts_with_tiers_from_labels(tmp_path, providers):
    fakes = providers(eks=FakeProvider(lambda account: [EKS_PAYMENTS] if account["regions"] == ["eu-west-1"] else []),
                      gke=FakeProvider([GKE_ANALYTICS]), aks=FakeProvider([AKS_INTRANET]))
    config = {"aws": {"regions": ["eu-west-1", "us-east-1"], "profile": "audit"},
              "gcp": {"projects": ["example-analytics"], "endpoint_url": "http://127.0.0.1:8123"},
              "azure": {"subscriptions": ["sub-1"]}, "default_tier": "important"}
    inventory, warnings = parse(write_config(tmp_path, config))
    assert fakes["eks"].accounts == [{"regions": ["eu-west-1"], "profile": "audit"},
                                     {"regions": ["us-east-1"], "profile": "audit"}]
    assert fakes["gke"].accounts == [{"projects": ["example-analytics"], "locations": ["-"],
                                      "endpoint_url": "http://127.0.0.1:8123"}]
    assert fakes["aks"].accounts == [{"subscriptions": ["sub-1"]}]
    assert members(inventory, "k8s_clusters") == ["aks-westeurope-intranet", "eks-eu-west-1-payments",
                                                  "gke-europe-west1-analytics"]
    eks = host_vars(inventory, "eks-eu-west-1-payments")
    # No kubeconfig context names it: the playbooks must not use the controller's default kubeconfig for it.
    assert eks == {"ansible_connection": "local", "kubecompass_distribution": "eks", "kubecompass_tier": "critical",
                   "kubecompass_region": "eu-west-1", "kubecompass_kubernetes_api": False,
                   "kubecompass_provider": {"type": "eks", "name": "payments", "region": "eu-west-1",
                                            "profile": "audit"},
                   "kubecompass_labels": {"kubecompass.io/tier": "critical", "team": "pay"},
                   "kubecompass_server": EKS_SERVER}
    gke = host_vars(inventory, "gke-europe-west1-analytics")
    assert gke["kubecompass_tier"] == "best_effort"  # from the GKE-safe label, best-effort accepted
    assert gke["kubecompass_provider"]["endpoint_url"] == "http://127.0.0.1:8123"
    aks = host_vars(inventory, "aks-westeurope-intranet")
    assert aks["kubecompass_tier"] == "gold"  # kept raw so the playbooks stop on it; default_tier does not hide it
    assert warnings == ["cluster aks-westeurope-intranet: label kubecompass.io/tier='gold' is not one of critical, "
                        "important, best_effort; the playbooks will stop on it as bad input"]


def test_kubeconfig_context_and_eks_discovery_merge_into_one_host(tmp_path, providers):
    providers(eks=FakeProvider([EKS_PAYMENTS]))
    kubeconfig = write_kubeconfig(tmp_path)
    # The AKS context matches no discovery; the EKS one matches by ARN (and server).
    inventory, warnings = parse(write_config(tmp_path, {"kubeconfigs": [str(kubeconfig)], "contexts": [EKS_ARN],
                                                        "aws": {"regions": ["eu-west-1"]}}))
    assert members(inventory, "k8s_clusters") == ["eks-eu-west-1-payments"]
    merged = host_vars(inventory, "eks-eu-west-1-payments")
    assert merged["kubecompass_context"] == EKS_ARN and merged["kubecompass_kubeconfig"] == str(kubeconfig)
    assert "kubecompass_kubernetes_api" not in merged
    assert merged["kubecompass_provider"] == {"type": "eks", "name": "payments", "region": "eu-west-1"}
    assert merged["kubecompass_tier"] == "critical" and merged["kubecompass_labels"]["team"] == "pay"
    assert warnings == []


def test_a_context_named_freely_merges_by_server_and_a_second_context_is_skipped(tmp_path, providers):
    providers(aks=FakeProvider([AKS_INTRANET]))
    kubeconfig = dict(KUBECONFIG, contexts=[{"name": "intranet-admin", "context": {"cluster": "intranet"}},
                                            {"name": "intranet-reader", "context": {"cluster": "intranet"}}])
    kubeconfig_path = write_kubeconfig(tmp_path, kubeconfig)
    inventory, warnings = parse(write_config(tmp_path, {"kubeconfigs": [str(kubeconfig_path)],
                                                        "azure": {"subscriptions": ["sub-1"]},
                                                        "tier_label": "missing"}))
    assert members(inventory, "k8s_clusters") == ["aks-westeurope-intranet"]
    merged = host_vars(inventory, "aks-westeurope-intranet")
    assert merged["kubecompass_context"] == "intranet-admin"
    assert merged["kubecompass_provider"]["resource_group"] == "rg-intranet"
    assert warnings == ["context intranet-reader in %s is the same cluster as context intranet-admin in %s; skipped "
                        "(select one with the contexts option)" % (kubeconfig_path, kubeconfig_path)]


def test_a_failing_provider_warns_and_the_others_are_still_added(tmp_path, providers):
    providers(eks=FakeProvider([EKS_PAYMENTS]),
              gke=FakeProvider(provider_error("gke:ListClusters: PermissionDenied: caller lacks container.clusters.list",
                                              "forbidden")),
              aks=FakeProvider(provider_error("AKS clusters need the Python package azure-identity", "missing_sdk")))
    kubeconfig = write_kubeconfig(tmp_path)
    config = {"aws": {"regions": ["eu-west-1"]}, "gcp": {"projects": ["p1"]}, "azure": {"subscriptions": ["sub-1"]},
              "kubeconfigs": [str(kubeconfig)], "contexts": ["kubernetes-admin@kubernetes"]}
    inventory, warnings = parse(write_config(tmp_path, config))
    assert members(inventory, "k8s_clusters") == ["eks-eu-west-1-payments", "kubernetes-admin-kubernetes"]
    assert "gke" not in inventory.groups and "aks" not in inventory.groups
    assert warnings == [
        "gke project p1 (locations -): discovery failed (forbidden), no cluster added for it: "
        "gke:ListClusters: PermissionDenied: caller lacks container.clusters.list",
        "aks subscription sub-1: discovery failed (missing_sdk), no cluster added for it: "
        "AKS clusters need the Python package azure-identity"]


def test_a_malformed_answer_adds_nothing_for_that_account(tmp_path, providers):
    incomplete = dict(EKS_PAYMENTS, name="other", target={"type": "eks", "name": "other"})  # no region
    providers(eks=FakeProvider([EKS_PAYMENTS, incomplete]), aks=FakeProvider(RuntimeError("boom")))
    inventory, warnings = parse(write_config(tmp_path, {"aws": {"regions": ["eu-west-1"]},
                                                        "azure": {"subscriptions": ["sub-1"]}}))
    assert "k8s_clusters" not in inventory.groups  # no half of the EKS account
    assert "eks region eu-west-1" in warnings[0] and "kubecompass_provider.region is required" in warnings[0]
    assert warnings[1] == "aks subscription sub-1: discovery failed (RuntimeError), no cluster added for it: boom"


def test_overlapping_accounts_make_one_host_per_cluster(tmp_path, providers):
    fakes = providers(eks=FakeProvider([EKS_PAYMENTS]))
    inventory, warnings = parse(write_config(tmp_path, {"aws": {"regions": ["eu-west-1", "eu-west-1"]}}))
    assert len(fakes["eks"].accounts) == 2
    assert members(inventory, "k8s_clusters") == ["eks-eu-west-1-payments"] and warnings == []


# Cache, constructed features, options -------------------------------------------------------------------------


def cache_config(tmp_path, **extra):
    return dict({"aws": {"regions": ["eu-west-1"]}, "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
                 "cache_connection": str(tmp_path / "cache")}, **extra)


def test_a_cache_hit_makes_no_provider_call(tmp_path, providers):
    fakes = providers(eks=FakeProvider([EKS_PAYMENTS]))
    path = write_config(tmp_path, cache_config(tmp_path))
    first, _warnings = parse(path)
    assert len(fakes["eks"].accounts) == 1
    providers(eks=FakeProvider(AssertionError("list_clusters called despite a valid cache")))
    second, warnings = parse(path)
    assert members(second, "k8s_clusters") == members(first, "k8s_clusters") == ["eks-eu-west-1-payments"]
    assert host_vars(second, "eks-eu-west-1-payments") == host_vars(first, "eks-eu-west-1-payments")
    assert warnings == []


def test_refresh_or_changed_accounts_list_again_and_a_failed_listing_is_not_cached(tmp_path, providers):
    fakes = providers(eks=FakeProvider([EKS_PAYMENTS]))
    path = write_config(tmp_path, cache_config(tmp_path))
    parse(path)
    parse(path, cache=False)  # --flush-cache / refresh_inventory
    assert len(fakes["eks"].accounts) == 2
    write_config(tmp_path, cache_config(tmp_path, aws={"regions": ["eu-west-1", "us-east-1"]}))
    parse(path)
    assert [account["regions"] for account in fakes["eks"].accounts[2:]] == [["eu-west-1"], ["us-east-1"]]

    failing = providers(eks=FakeProvider(provider_error("eks:ListClusters: throttled", "api")))
    other = write_config(tmp_path, cache_config(tmp_path), name="other.clusters.yaml")
    parse(other)
    parse(other)
    assert len(failing["eks"].accounts) == 2  # nothing cached from a failed run


def test_keyed_groups_on_tier_and_compose(tmp_path, providers):
    providers(eks=FakeProvider([EKS_PAYMENTS]), gke=FakeProvider([GKE_ANALYTICS]))
    config = {"aws": {"regions": ["eu-west-1"]}, "gcp": {"projects": ["example-analytics"]}, "group": "managed",
              "keyed_groups": [{"key": "kubecompass_tier", "prefix": "tier"}],
              "compose": {"owner": "kubecompass_labels.team | default('nobody')"}}
    inventory, _warnings = parse(write_config(tmp_path, config))
    assert members(inventory, "managed") == ["eks-eu-west-1-payments", "gke-europe-west1-analytics"]
    assert members(inventory, "tier_critical") == ["eks-eu-west-1-payments"]
    assert members(inventory, "tier_best_effort") == ["gke-europe-west1-analytics"]
    assert host_vars(inventory, "eks-eu-west-1-payments")["owner"] == "pay"
    assert host_vars(inventory, "gke-europe-west1-analytics")["owner"] == "nobody"


@pytest.mark.parametrize("config, message", [
    ({"aws": {"profile": "x"}}, "aws.regions is required"),
    ({"gcp": {"projects": ["p"], "zones": ["a"]}}, "gcp: unknown key(s) zones"),
    ({"distributions": {"*": "openshift"}}, "distributions['*'] 'openshift' is not one of"),
])
def test_wrong_options_fail_the_source_naming_the_option(tmp_path, config, message):
    with pytest.raises(AnsibleParserError, match=".*" + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]").replace("*", r"\*")):
        parse(write_config(tmp_path, config))


@pytest.mark.parametrize("name, accepted", [
    ("prod.clusters.yml", True), ("clusters.yaml", True), ("cloud_clusters.yml", True),
    ("clusters.yml.bak", False), ("hosts.yml", False), ("clusters.json", False),
])
def test_verify_file_accepts_only_clusters_yml_files(tmp_path, name, accepted):
    path = tmp_path / name
    path.write_text("plugin: kubecompass.readiness.clusters\n")
    assert inventory_loader.get("kubecompass.readiness.clusters").verify_file(str(path)) is accepted


def test_verify_file_rejects_a_missing_file(tmp_path):
    assert not inventory_loader.get("kubecompass.readiness.clusters").verify_file(str(tmp_path / "x.clusters.yml"))


# Pure helpers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("context, expected", [
    ({"context": "prod", "cluster": "arn:aws-cn:eks:cn-north-1:123456789012:cluster/p", "server": None},
     ("eks", "cn-north-1", {"type": "eks", "name": "p", "region": "cn-north-1"})),
    ({"context": "x", "cluster": "x", "server": "https://ABC.yl4.us-east-2.eks.amazonaws.com"},
     ("eks", "us-east-2", None)),
    ({"context": "gke_my-proj_us-central1-a_c1", "cluster": None, "server": None},
     ("gke", "us-central1-a", {"type": "gke", "project": "my-proj", "location": "us-central1-a", "name": "c1"})),
    ({"context": "x", "cluster": "x", "server": "https://gke-0123-456.us-central1.gke.goog"},
     ("gke", "us-central1", None)),
    ({"context": "x", "cluster": "x", "server": "https://x.privatelink.eastus.azmk8s.io:443"}, ("aks", "eastus", None)),
    ({"context": "x", "cluster": "x", "server": "https://eks.amazonaws.com.example.net"}, (None, None, None)),
    ({"context": "x", "cluster": "x", "server": "https://[::1"}, (None, None, None)),
])
def test_distribution_guessed_from_a_context(context, expected):
    guess = discovery.guess_from_context(context)
    assert (guess["distribution"], guess["region"], guess["target"]) == expected


@pytest.mark.parametrize("value, tier", [("critical", "critical"), (" Best-Effort ", "best_effort"),
                                         ("best_effort", "best_effort"), ("gold", None), (3, None)])
def test_tier_values(value, tier):
    assert discovery.normalise_tier(value) == tier


def test_host_names_are_safe():
    assert discovery.host_name("AKS-westeurope-My Cluster/1") == "aks-westeurope-my-cluster-1"
    assert discovery.host_name("@@@") == "cluster"


@pytest.mark.parametrize("broken,cause", [
    ({"clusters": [{"name": "a", "cluster": "https://10.0.0.1"}]}, "cluster a has no cluster mapping"),
    ({"contexts": [{"name": "a", "context": "a"}]}, "context a has no context mapping"),
    ({"contexts": {"name": "a"}}, "contexts must be a list"),
])
def test_a_malformed_kubeconfig_is_a_warning_naming_the_file_and_entry(tmp_path, broken, cause):
    (tmp_path / "broken").write_text(yaml.safe_dump(broken))
    inventory, warnings = parse(write_config(tmp_path, {"kubeconfigs": [str(tmp_path / "broken")]}))
    assert list(inventory.hosts) == []
    assert any(str(tmp_path / "broken") in w and cause in w for w in warnings), warnings


# Endpoint overrides -------------------------------------------------------------------------------------------


@pytest.fixture
def recording_server():
    """An http server on loopback that records the headers of every request and answers an empty EKS listing."""
    import http.server
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server protocol
            seen.append(dict(self.headers))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer()

        def do_GET(self):  # noqa: N802
            seen.append(dict(self.headers))
            self._answer()

        def _answer(self):
            body = b'{"clusters": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_an_http_endpoint_off_loopback_gets_no_credentials(tmp_path, monkeypatch, recording_server):
    """A host name that is not a loopback address (it resolves to the recording server here, so nothing leaves the
    machine) fails the source before any client exists: no request, so no SigV4 header, no session token."""
    import socket

    port, seen = recording_server
    real_getaddrinfo = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real_getaddrinfo("127.0.0.1" if host == "eks-endpoint.example.net" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAKUBECOMPASSTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "kubecompass-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "kubecompass-session-token")
    for url in ("http://eks-endpoint.example.net:%d" % port, "https://eks-endpoint.example.net:%d" % port):
        path = write_config(tmp_path, {"aws": {"regions": ["eu-west-1"], "endpoint_url": url}})
        with pytest.raises(AnsibleParserError, match="aws.endpoint_url"):
            parse(path)
    assert seen == []


def test_the_recording_server_sees_what_a_client_sends(tmp_path, monkeypatch, recording_server):
    """The proof above can fail: the same listing on a loopback address reaches the server (with fake credentials,
    as on every loopback fake, never the environment's)."""
    port, seen = recording_server
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAKUBECOMPASSTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "kubecompass-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "kubecompass-session-token")
    path = write_config(tmp_path, {"aws": {"regions": ["eu-west-1"], "endpoint_url": "http://127.0.0.1:%d" % port}})
    inventory, warnings = parse(path)
    assert seen and warnings == []
    assert all("AKIAKUBECOMPASSTEST" not in str(h) and "kubecompass-session-token" not in str(h) for h in seen)
