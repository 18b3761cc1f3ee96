"""Endpoint overrides: provider credentials go only to loopback http fakes (which get none) or the provider's own
domains; any other host needs allow_custom_endpoint, and is refused before any client or request exists."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import (
    ProviderError,
    aks,
    check_endpoints,
    discovery,
    eks,
    gke,
    validate_target,
)

REQUIRED = {
    "eks": {"name": "payments", "region": "eu-west-1"},
    "gke": {"project": "example", "location": "europe-west1", "name": "analytics"},
    "aks": {"subscription_id": "sub-1", "resource_group": "rg", "name": "intranet"},
}
PROVIDER_HOSTS = {
    "eks": ["https://eks.eu-west-1.amazonaws.com", "https://eks.cn-north-1.amazonaws.com.cn",
            "https://eks.eu-west-1.api.aws"],
    "gke": ["https://container.googleapis.com", "https://container.googleapis.com:443/"],
    "aks": ["https://management.azure.com", "https://management.usgovcloudapi.net",
            "https://management.chinacloudapi.cn/"],
}
FOREIGN_HTTPS = ["https://eks.attacker.example", "https://amazonaws.com.attacker.example",
                 "https://googleapis.com.evil.net", "https://management.azure.com.evil.net",
                 "https://evil.net#.amazonaws.com"]
CLEAR_TEXT = ["http://10.0.0.5:8080", "http://eks.eu-west-1.amazonaws.com", "http://endpoint.example.net",
              "ftp://127.0.0.1/", "http://0x7f000001:8080"]


def target(provider, **extra):
    return dict({"type": provider}, **REQUIRED[provider], **extra)


@pytest.mark.parametrize("provider", ["eks", "gke", "aks"])
def test_loopback_http_and_the_providers_own_domains_are_accepted(provider):
    for url in ["http://127.0.0.1:8123", "http://localhost:9", "http://[::1]:80"] + PROVIDER_HOSTS[provider]:
        assert validate_target(target(provider, endpoint_url=url))["endpoint_url"] == url


@pytest.mark.parametrize("provider", ["eks", "gke", "aks"])
@pytest.mark.parametrize("url", FOREIGN_HTTPS + [u for p, urls in PROVIDER_HOSTS.items() for u in urls])
def test_a_foreign_https_host_needs_the_opt_in(provider, url):
    if url in PROVIDER_HOSTS[provider]:
        return
    with pytest.raises(ProviderError) as caught:
        validate_target(target(provider, endpoint_url=url))
    assert caught.value.category == "input"
    assert "kubecompass_provider.endpoint_url" in str(caught.value) and "allow_custom_endpoint" in str(caught.value)
    opted_in = validate_target(target(provider, endpoint_url=url, allow_custom_endpoint=True))
    assert opted_in["endpoint_url"] == url and opted_in["allow_custom_endpoint"] is True


@pytest.mark.parametrize("provider", ["eks", "gke", "aks"])
@pytest.mark.parametrize("url", CLEAR_TEXT)
def test_clear_text_off_loopback_is_refused_even_with_the_opt_in(provider, url):
    for extra in ({}, {"allow_custom_endpoint": True}):
        with pytest.raises(ProviderError) as caught:
            validate_target(target(provider, endpoint_url=url, **extra))
        assert caught.value.category == "input" and "must be https" in str(caught.value)


def test_the_aks_monitor_endpoint_follows_the_same_rule():
    with pytest.raises(ProviderError, match="kubecompass_provider.monitor_endpoint_url"):
        validate_target(target("aks", monitor_endpoint_url="https://monitor.evil.net"))


def test_the_opt_in_must_be_a_boolean():
    with pytest.raises(ProviderError, match="allow_custom_endpoint must be true or false"):
        validate_target(target("eks", allow_custom_endpoint="yes"))


@pytest.mark.parametrize("option, account", [
    ("aws", {"regions": ["eu-west-1"], "endpoint_url": "http://10.0.0.5:8080"}),
    ("aws", {"regions": ["eu-west-1"], "endpoint_url": "https://eks.attacker.example"}),
    ("gcp", {"projects": ["p"], "endpoint_url": "https://gke.attacker.example"}),
    ("azure", {"subscriptions": ["s"], "monitor_endpoint_url": "http://192.0.2.1"}),
])
def test_inventory_accounts_are_checked_before_any_listing(option, account):
    with pytest.raises(ProviderError) as caught:
        discovery.accounts_from_options(**{option: account})
    assert caught.value.category == "input" and "%s." % option in str(caught.value)
    if account.get("endpoint_url", "").startswith("https"):
        accounts = discovery.accounts_from_options(**{option: dict(account, allow_custom_endpoint=True)})
        assert accounts[0][1]["allow_custom_endpoint"] is True


def test_the_opt_in_reaches_the_discovered_target():
    account = {"regions": ["eu-west-1"], "endpoint_url": "https://eks.internal.example", "allow_custom_endpoint": True}
    completed = discovery.complete_target("eks", {"name": "x", "region": "eu-west-1"}, account)
    assert validate_target(completed)["allow_custom_endpoint"] is True


@pytest.mark.parametrize("provider, build, endpoint", [
    (eks, eks.clients, "http://10.0.0.5:8080"),
    (eks, eks.clients, "https://eks.attacker.example"),
    (gke, gke.clients, "https://gke.attacker.example"),
    (aks, aks.clients, "http://192.0.2.1"),
])
def test_client_builders_refuse_before_building_anything(monkeypatch, provider, build, endpoint):
    """Whoever calls clients() (a module, discovery, a test), the rule holds: no SDK is even imported."""
    imported = []
    monkeypatch.setattr(provider, "import_sdk", lambda *args: imported.append(args))
    name = provider.__name__.rsplit(".", 1)[-1]
    with pytest.raises(ProviderError) as caught:
        build(target(name, endpoint_url=endpoint))
    assert caught.value.category == "input" and imported == []


def test_check_endpoints_names_where_the_value_came_from():
    with pytest.raises(ProviderError, match=r"^gcp\.endpoint_url https://x\.example is not a GKE API host"):
        check_endpoints("gke", {"endpoint_url": "https://x.example"}, "gcp")
