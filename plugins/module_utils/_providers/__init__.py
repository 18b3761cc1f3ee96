# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Managed control planes (EKS, GKE, AKS) read and changed through the provider's API.

Every provider module (``eks``, ``gke``, ``aks``) offers the same functions; only ``clients``, ``describe``,
``apply`` and ``list_clusters`` do I/O, and their SDK is imported inside ``clients`` so a cluster of another
provider never needs it:

``clients(target)``
    SDK clients for one cluster, credentials from the provider's standard chain (the environment variables AWX
    credential types inject). A missing package raises ProviderError category ``missing_sdk`` naming it.
``describe(target, clients)``
    One describe of the cluster (plus the few reads its sections need) as a JSON-able, provider-native dict,
    ``{"cluster": {...}, ..., "errors": {section: cause}}``. A failed side read (a forbidden diagnostic-settings
    list, say) goes to ``errors`` under the section it feeds; a failed read of the cluster itself raises.
``facts(target, raw)``
    Pure: the provider-neutral facts the assessment's checks read (FACTS_SCHEMA below).
``plan(target, raw, desired)``
    Pure: the calls that would bring the requested items to the desired state (STEP below), one concern per
    call, only what differs. Check mode stops here.
``apply(target, steps, clients, timeout, poll_seconds, sleep=time.sleep, clock=time.monotonic)``
    Makes the ``update`` steps in order, polling each long-running operation to its end, and stops at the first
    failure. Returns one OUTCOME per step it reached; provider errors become failed outcomes, never exceptions.
``REWRITES_SECRETS_ITSELF``
    Whether the provider re-encrypts existing Secrets after a key change; if not, they are rewritten through the
    Kubernetes API.
``list_clusters(account, clients=None)``
    Discovery for the inventory plugin: DISCOVERED entries for the clusters of ``account`` - EKS ``{"regions",
    "endpoint_url", "profile"}``, GKE ``{"projects", "locations", "endpoint_url"}``, AKS ``{"subscriptions",
    "endpoint_url", "monitor_endpoint_url"}``.

FACTS_SCHEMA (``facts``): ``{"provider", "id", "name", "location", "sections": {...}, "errors": {section: cause}}``
with sections (absent when unreadable, the cause then under ``errors``; a section read only in part stays, its
unread field None, and the cause is under ``errors`` too):

- ``audit_logging``: ``{"enabled": bool, "detail": str, "retention_days": int | None, "retention_detail": str}``
  (``retention_days`` None = unknown; ``UNLIMITED_RETENTION`` = kept until deleted)
- ``secrets_encryption``: ``{"state": "on" | "off" | "pending" | "error", "key": str | None, "detail": str}``
- ``control_plane_ha``: ``{"ha": bool, "detail": str}``
- ``endpoint``: ``{"public": bool, "private": bool, "public_cidrs": [str], "detail": str}``
- ``node_pools``: ``{"pools": [{"name", "zones": [str], "autoscaling": bool, "min": int | None,
  "max": int | None}], "detail": str}``
- ``autoscaling``: ``{"enabled": bool, "detail": str}``
- ``version``: ``{"version": "1.31", "support": "standard" | "extended" | "unsupported" | None,
  "end_of_support": "YYYY-MM-DD" | None, "detail": str}``
- ``people_auth``: ``{"sso": bool, "detail": str}`` (people sign in through the provider's identity, not
  client certificates or static tokens)

STEP (``plan``): ``{"item", "action": "update" | "none" | "held", "reason", "call", "request", "before", "after",
"irreversible": bool, "follow_up": "rewrite_secrets" | None}``. ``call`` names the API operation
("eks:UpdateClusterConfig"); ``request`` is exactly what would be sent (JSON-able, no credentials); ``before`` and
``after`` are the item's state for the diff; ``held`` says in ``reason`` what is missing (an opt-in, a key).

DESIRED (``plan``'s third argument, validated by ``validate_desired``): ``{"items": [ITEMS...], "kms_key": str |
None, "allow_irreversible_encryption": bool, "eks_log_types": [str], "gke_logging_components": [str],
"aks_audit_category": "kube-audit-admin" | "kube-audit", "aks_diagnostic_setting_name": str,
"aks_log_destination": {"workspace_id" | "storage_account_id" | "event_hub_authorization_rule_id": str,
"event_hub_name": str} | None, "aks_key_vault_network_access": "Public" | "Private",
"aks_key_vault_resource_id": str | None}``.

OUTCOME (``apply``): ``{"item", "call", "status": "succeeded" | "failed" | "timeout", "operation": str | None,
"error": str | None, "seconds": float}``.

DISCOVERED (``list_clusters``): ``{"name", "distribution", "location", "target": {...}, "labels": {str: str},
"server": str | None, "version": str | None}``; ``labels`` are the provider's tags/labels.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import importlib
import ipaddress
from urllib.parse import urlparse

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import (  # noqa: F401 (provider facts)
    MANAGED,
    UNLIMITED_RETENTION,
)

PROVIDERS = MANAGED
ITEMS = ("audit_logging", "secrets_encryption")
DEFAULT_TIMEOUT_SECONDS = 1800
DEFAULT_POLL_SECONDS = 15

# The keys a target may carry beyond ``type``, required first.
TARGET_KEYS = {
    "eks": (("name", "region"), ("endpoint_url", "allow_custom_endpoint", "profile", "timeout_seconds",
                                 "poll_seconds")),
    "gke": (("project", "location", "name"), ("endpoint_url", "allow_custom_endpoint", "timeout_seconds",
                                              "poll_seconds")),
    "aks": (("subscription_id", "resource_group", "name"),
            ("endpoint_url", "monitor_endpoint_url", "allow_custom_endpoint", "timeout_seconds", "poll_seconds")),
}
ENDPOINT_KEYS = ("endpoint_url", "monitor_endpoint_url")
# The domains each provider's API lives under (commercial, China and government clouds). An endpoint override
# elsewhere would receive the provider credentials, so it needs allow_custom_endpoint.
PROVIDER_DOMAINS = {
    "eks": ("amazonaws.com", "amazonaws.com.cn", "api.aws"),
    "gke": ("googleapis.com",),
    "aks": ("management.azure.com", "management.chinacloudapi.cn", "management.usgovcloudapi.net"),
    # Not a provider of clusters: where kubecompass_report_publish may send the AWS credentials (S3).
    "s3": ("amazonaws.com", "amazonaws.com.cn"),
}


class ProviderError(KubeCompassError):
    """A provider call failed; ``category`` is one of missing_sdk, credentials, forbidden, not_found, conflict,
    timeout, unreachable, api, input."""


def provider_module(provider):
    """The module implementing one provider. Imported here, not at the top: they import this package. Their SDKs
    are imported only by their ``clients``, so importing all three loads no SDK."""
    from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import aks, eks, gke

    modules = {"eks": eks, "gke": gke, "aks": aks}
    if provider not in modules:
        raise ProviderError("provider %r is not one of %s" % (provider, ", ".join(PROVIDERS)), "input")
    return modules[provider]


def import_sdk(provider, module_name, package):
    """Import one SDK module, or raise naming the pip package the cluster's provider needs."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise ProviderError("%s clusters need the Python package %s (pip install %s; it is one of the collection's "
                            "optional provider extras): %s" % (provider.upper(), package, package, exc),
                            "missing_sdk") from exc


def is_loopback_http(url):
    """True for an http:// URL on a loopback address: test fakes, which get no credentials."""
    parsed = urlparse(url or "")
    if parsed.scheme != "http":
        return False
    host = parsed.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoints(provider, settings, where):
    """Raise ProviderError (input) unless every endpoint override in ``settings`` may receive ``provider``'s
    credentials: http only on a loopback address (test fakes, which get none), https under the provider's own
    domains, or any https host when ``settings["allow_custom_endpoint"]`` is true. Called before any client
    exists; ``where`` names the option in the message ("aws", "kubecompass_provider")."""
    allow_custom = settings.get("allow_custom_endpoint") is True
    for key in ENDPOINT_KEYS:
        url = settings.get(key)
        if not url or is_loopback_http(url):
            continue
        parsed = urlparse(str(url))
        host = (parsed.hostname or "").lower().rstrip(".")
        if parsed.scheme != "https" or not host:
            raise ProviderError("%s.%s %s must be https (http only on a loopback address, where no credentials are "
                                "sent)" % (where, key, url), "input")
        if not allow_custom and not any(host == domain or host.endswith("." + domain)
                                        for domain in PROVIDER_DOMAINS[provider]):
            raise ProviderError("%s.%s %s is not a %s API host (%s); set %s.allow_custom_endpoint: true to send "
                                "%s credentials there" % (where, key, url, provider.upper(),
                                                          ", ".join(PROVIDER_DOMAINS[provider]), where,
                                                          provider.upper()), "input")


def validate_target(target, distribution=None):
    """A provider target from the inventory (``kubecompass_provider``), checked and normalised.

    ``{"type": "eks", "name": ..., "region": ...}`` and so on (TARGET_KEYS); ``type`` defaults to the cluster's
    distribution. Endpoint overrides follow ``check_endpoints``, so credentials never cross the network in clear
    nor reach a host that is not the provider's unless the target opts in.
    """
    if not isinstance(target, dict):
        raise ProviderError("kubecompass_provider must be a mapping, not %r" % (target,), "input")
    provider = target.get("type") or distribution
    if provider not in PROVIDERS:
        raise ProviderError("kubecompass_provider.type %r is not one of %s" % (provider, ", ".join(PROVIDERS)), "input")
    if distribution in PROVIDERS and provider != distribution:
        raise ProviderError("kubecompass_provider.type %s does not match kubecompass_distribution %s"
                            % (provider, distribution), "input")
    required, optional = TARGET_KEYS[provider]
    unknown = sorted(set(target) - set(required) - set(optional) - {"type"})
    if unknown:
        raise ProviderError("kubecompass_provider: unknown key(s) %s for %s (expected %s)"
                            % (", ".join(unknown), provider, ", ".join(required + optional)), "input")
    normalised = {"type": provider}
    for key in required:
        value = target.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ProviderError("kubecompass_provider.%s is required for %s clusters and must be a non-empty string"
                                % (key, provider), "input")
        normalised[key] = value.strip()
    for key in optional:
        if target.get(key) is None:
            continue
        value = target[key]
        if key in ("timeout_seconds", "poll_seconds"):
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "poll_seconds" else 1):
                raise ProviderError("kubecompass_provider.%s must be a positive integer, not %r" % (key, value),
                                    "input")
        elif key == "allow_custom_endpoint":
            if not isinstance(value, bool):
                raise ProviderError("kubecompass_provider.allow_custom_endpoint must be true or false, not %r"
                                    % (value,), "input")
        elif not isinstance(value, str) or not value:
            raise ProviderError("kubecompass_provider.%s must be a non-empty string" % key, "input")
        normalised[key] = value
    check_endpoints(provider, normalised, "kubecompass_provider")
    normalised.setdefault("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    normalised.setdefault("poll_seconds", DEFAULT_POLL_SECONDS)
    return normalised


def provider_argument_spec():
    """The options every provider module takes (doc fragment kubecompass.readiness.provider_options)."""
    return {
        "cluster_name": {"type": "str", "required": True},
        "distribution": {"type": "str", "choices": list(PROVIDERS)},
        "provider": {"type": "dict", "required": True},
    }


def describe_facts(target, clients=None):
    """(facts, raw) for one cluster: one describe, then the pure normalisation."""
    module = provider_module(target["type"])
    if clients is None:
        clients = module.clients(target)
    raw = module.describe(target, clients)
    return module.facts(target, raw), raw


def diff_of(steps):
    """Ansible diff (before/after per item) of the steps that would change something."""
    before, after = {}, {}
    for step in steps:
        if step["action"] != "update":
            continue
        before.setdefault(step["item"], step["before"])
        after[step["item"]] = step["after"]
    return {"before": before, "after": after}


def plan_step(item, action, reason, call=None, request=None, before=None, after=None, irreversible=False,
              follow_up=None):
    """One STEP of a plan."""
    return {"item": item, "action": action, "reason": reason, "call": call, "request": request, "before": before,
            "after": after, "irreversible": irreversible, "follow_up": follow_up}


def outcome(step, status, operation, error, seconds):
    """The OUTCOME of one step."""
    return {"item": step["item"], "call": step["call"], "status": status, "operation": operation, "error": error,
            "seconds": seconds}


def apply_in_order(steps, apply_step):
    """OUTCOMEs of ``apply_step(step)`` for the update steps in order, up to the first that did not succeed."""
    outcomes = []
    for step in steps:
        if step.get("action") != "update":
            continue
        outcomes.append(apply_step(step))
        if outcomes[-1]["status"] != "succeeded":
            break
    return outcomes


def without_secrets(document, secret_fields):
    """``document`` (a describe answer, freshly decoded) with the secret fields removed in place and returned:
    ``secret_fields`` is ``((path to the holder), field)`` pairs; describe's answer is returned to the user."""
    for path, field in secret_fields:
        holder = document
        for key in path:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict):
            holder.pop(field, None)
    return document


def is_string_list(values):
    """True for a non-empty list of non-empty strings (an account's regions, projects, locations)."""
    return isinstance(values, list) and bool(values) and all(isinstance(v, str) and v for v in values)


DESIRED_DEFAULTS = {
    "items": list(ITEMS),
    "kms_key": None,
    "allow_irreversible_encryption": False,
    "eks_log_types": ["audit"],
    "gke_logging_components": ["SYSTEM_COMPONENTS", "APISERVER"],
    "aks_audit_category": "kube-audit-admin",
    "aks_diagnostic_setting_name": "kubecompass-audit",
    "aks_log_destination": None,
    "aks_key_vault_network_access": "Public",
    "aks_key_vault_resource_id": None,
}
EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
AKS_AUDIT_CATEGORIES = ("kube-audit-admin", "kube-audit")
AKS_DESTINATION_KEYS = ("workspace_id", "storage_account_id", "event_hub_authorization_rule_id")


def validate_desired(desired):
    """The remediation request with defaults filled in; a wrong value raises an input error naming the key."""
    desired = dict(DESIRED_DEFAULTS, **{k: v for k, v in (desired or {}).items() if v is not None})
    unknown = sorted(set(desired) - set(DESIRED_DEFAULTS))
    if unknown:
        raise ProviderError("unknown remediation option(s) %s" % ", ".join(unknown), "input")
    bad_items = [i for i in desired["items"] if i not in ITEMS]
    if bad_items or not isinstance(desired["items"], list):
        raise ProviderError("items %r: each must be one of %s" % (desired["items"], ", ".join(ITEMS)), "input")
    bad_types = [t for t in desired["eks_log_types"] if t not in EKS_LOG_TYPES]
    if bad_types or "audit" not in desired["eks_log_types"]:
        raise ProviderError("eks_log_types %r must include audit and only name %s"
                            % (desired["eks_log_types"], ", ".join(EKS_LOG_TYPES)), "input")
    if desired["aks_audit_category"] not in AKS_AUDIT_CATEGORIES:
        raise ProviderError("aks_audit_category %r is not one of %s"
                            % (desired["aks_audit_category"], ", ".join(AKS_AUDIT_CATEGORIES)), "input")
    if desired["aks_key_vault_network_access"] not in ("Public", "Private"):
        raise ProviderError("aks_key_vault_network_access must be Public or Private", "input")
    if desired["aks_key_vault_network_access"] == "Private" and not desired["aks_key_vault_resource_id"]:
        raise ProviderError("aks_key_vault_network_access Private needs aks_key_vault_resource_id", "input")
    destination = desired["aks_log_destination"]
    if destination is not None:
        if not isinstance(destination, dict) or not any(destination.get(k) for k in AKS_DESTINATION_KEYS):
            raise ProviderError("aks_log_destination must name one of %s" % ", ".join(AKS_DESTINATION_KEYS), "input")
        extra = sorted(set(destination) - set(AKS_DESTINATION_KEYS) - {"event_hub_name"})
        if extra:
            raise ProviderError("aks_log_destination: unknown key(s) %s" % ", ".join(extra), "input")
    components = desired["gke_logging_components"]
    if "APISERVER" in components and "SYSTEM_COMPONENTS" not in components:
        raise ProviderError("gke_logging_components: APISERVER needs SYSTEM_COMPONENTS", "input")
    return desired


def remediate(target, desired, check_mode, clients=None):
    """Plan the requested items from one describe and, outside check mode, apply the plan and read the result.

    Returns ``{"changed", "steps", "held", "outcomes", "diff", "facts", "rewrite_secrets", "rewrite_key",
    "failed"}``: ``failed`` lists the outcomes that did not succeed (apply stops at the first); ``facts`` are read
    again after the changes (before them in check mode); ``rewrite_secrets`` says this run put a new key in front;
    ``rewrite_key`` is the key existing Secrets must be rewritten under through the Kubernetes API (None when
    Secrets are not encrypted with a customer key, or the provider re-encrypts them itself).
    """
    desired = validate_desired(desired)
    module = provider_module(target["type"])
    if clients is None:
        clients = module.clients(target)
    raw = module.describe(target, clients)
    steps = module.plan(target, raw, desired)
    updates = [s for s in steps if s["action"] == "update"]
    result = {
        "changed": bool(updates),
        "steps": steps,
        "held": [{"item": s["item"], "reason": s["reason"]} for s in steps if s["action"] == "held"],
        "outcomes": [],
        "diff": diff_of(steps),
        "facts": module.facts(target, raw),
        "rewrite_secrets": False,
        "rewrite_key": None,
        "failed": [],
    }
    if check_mode or not updates:
        result["rewrite_key"] = _rewrite_key(module, result["facts"])
        return result
    outcomes = module.apply(target, steps, clients, target["timeout_seconds"], target["poll_seconds"])
    succeeded = {(o["item"], o["call"]) for o in outcomes if o["status"] == "succeeded"}
    result.update(
        changed=bool(succeeded),
        outcomes=outcomes,
        failed=[o for o in outcomes if o["status"] != "succeeded"],
        rewrite_secrets=any(s.get("follow_up") == "rewrite_secrets" and (s["item"], s["call"]) in succeeded
                            for s in updates),
    )
    try:
        result["facts"] = module.facts(target, module.describe(target, clients))
    except ProviderError as exc:  # the changes stand; say they could not be read back
        result["facts"] = {"error": "read after the changes: %s" % exc}
    result["rewrite_key"] = _rewrite_key(module, result["facts"])
    return result


def _rewrite_key(module, facts):
    encryption = (facts.get("sections") or {}).get("secrets_encryption") or {}
    if module.REWRITES_SECRETS_ITSELF or encryption.get("state") != "on":
        return None
    return encryption.get("key") or None
