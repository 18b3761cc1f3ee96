# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Cluster discovery for the ``kubecompass.readiness.clusters`` inventory plugin: kubeconfig contexts read and
recognised, provider accounts listed, both merged into one entry per cluster with its host name, groups and vars.

Only ``read_kubeconfig`` (one file) and ``discover`` (the providers' ``list_clusters``) do I/O; everything else
is pure. ``list_clusters(account)`` is called once per region, project or subscription, so one that fails loses
only its own clusters:

- eks: ``{"regions": [region], "endpoint_url"?: str, "profile"?: str}``
- gke: ``{"projects": [project], "locations": [str] (``-`` = every location), "endpoint_url"?: str}``
- aks: ``{"subscriptions": [subscription], "endpoint_url"?: str, "monitor_endpoint_url"?: str}``
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import fnmatch
import json
import os
import re
from urllib.parse import urlparse

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import DISTRIBUTIONS, TIERS
from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import (
    TARGET_KEYS,
    ProviderError,
    check_endpoints,
    provider_module,
    validate_target,
)

UNKNOWN_DISTRIBUTION_GROUP = "unknown_distribution"

EKS_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:eks:([a-z0-9-]+):(\d{12}):cluster/([A-Za-z0-9][A-Za-z0-9_-]*)$")
GKE_CONTEXT = re.compile(r"^gke_([^_]+)_([^_]+)_([^_]+)$")
# The label before the provider's domain is the region (EKS, AKS incl. privatelink) or location (GKE DNS endpoint).
EKS_HOST = re.compile(r"\.([a-z0-9-]+)\.eks\.amazonaws\.com(?:\.cn)?$")
AKS_HOST = re.compile(r"\.([a-z0-9]+)\.azmk8s\.io$")
GKE_HOST = re.compile(r"\.([a-z0-9-]+)\.gke\.goog$")
UNSAFE_HOST_CHARS = re.compile(r"[^a-z0-9._-]+")


# Options ------------------------------------------------------------------------------------------------------


def _string_list(value, where):
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ProviderError("%s must be a list of non-empty strings, not %r" % (where, value), "input")
    return [item.strip() for item in value]


def _mapping(value, where, allowed):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProviderError("%s must be a mapping with %s, not %r" % (where, ", ".join(allowed), value), "input")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ProviderError("%s: unknown key(s) %s (expected %s)" % (where, ", ".join(unknown), ", ".join(allowed)),
                            "input")
    return value


def _optional_string(section, key, where):
    value = section.get(key)
    if value is None:
        return {}
    if not isinstance(value, str) or not value:
        raise ProviderError("%s.%s must be a non-empty string" % (where, key), "input")
    return {key: value}


def _endpoints(section, where, provider, keys=("endpoint_url",)):
    """The section's endpoint overrides (and their opt-in), checked before any client of the account exists."""
    extra = {}
    for key in keys:
        extra.update(_optional_string(section, key, where))
    allow = section.get("allow_custom_endpoint")
    if allow is not None and not isinstance(allow, bool):
        raise ProviderError("%s.allow_custom_endpoint must be true or false, not %r" % (where, allow), "input")
    if allow:
        extra["allow_custom_endpoint"] = True
    check_endpoints(provider, extra, where)
    return extra


def accounts_from_options(aws=None, gcp=None, azure=None):
    """``[(provider, account)]`` to list, from the plugin's ``aws``/``gcp``/``azure`` options, in a fixed order."""
    accounts = []
    aws = _mapping(aws, "aws", ("regions", "endpoint_url", "allow_custom_endpoint", "profile"))
    if aws is not None:
        regions = _string_list(aws.get("regions"), "aws.regions")
        if not regions:
            raise ProviderError("aws.regions is required: EKS lists clusters per region", "input")
        extra = dict(_endpoints(aws, "aws", "eks"), **_optional_string(aws, "profile", "aws"))
        accounts += [("eks", dict({"regions": [region]}, **extra)) for region in regions]
    gcp = _mapping(gcp, "gcp", ("projects", "locations", "endpoint_url", "allow_custom_endpoint"))
    if gcp is not None:
        projects = _string_list(gcp.get("projects"), "gcp.projects")
        if not projects:
            raise ProviderError("gcp.projects is required", "input")
        locations = _string_list(gcp.get("locations"), "gcp.locations") or ["-"]
        extra = _endpoints(gcp, "gcp", "gke")
        accounts += [("gke", dict({"projects": [project], "locations": locations}, **extra)) for project in projects]
    azure = _mapping(azure, "azure", ("subscriptions", "endpoint_url", "monitor_endpoint_url",
                                      "allow_custom_endpoint"))
    if azure is not None:
        subscriptions = _string_list(azure.get("subscriptions"), "azure.subscriptions")
        if not subscriptions:
            raise ProviderError("azure.subscriptions is required", "input")
        extra = _endpoints(azure, "azure", "aks", ("endpoint_url", "monitor_endpoint_url"))
        accounts += [("aks", dict({"subscriptions": [subscription]}, **extra)) for subscription in subscriptions]
    return accounts


def describe_account(provider, account):
    """The account in words, for warnings: "eks region eu-west-1"."""
    if provider == "eks":
        return "eks region %s" % ", ".join(account["regions"])
    if provider == "gke":
        return "gke project %s (locations %s)" % (", ".join(account["projects"]), ", ".join(account["locations"]))
    return "aks subscription %s" % ", ".join(account["subscriptions"])


def accounts_cache_key(accounts):
    """A stable text for the accounts a cached discovery answered, so changed options never reuse it."""
    return json.dumps(accounts, sort_keys=True)


# Tiers --------------------------------------------------------------------------------------------------------


def normalise_tier(value):
    """critical / important / best_effort (``best-effort`` and any case accepted), or None when not a tier."""
    if not isinstance(value, str):
        return None
    tier = value.strip().lower().replace("-", "_")
    return tier if tier in TIERS else None


def tier_from_labels(labels, label_keys):
    """(tier, problem) from the first of ``label_keys`` present in ``labels``; problem names the bad value."""
    for key in label_keys:
        if key and key in (labels or {}):
            value = labels[key]
            tier = normalise_tier(value)
            if tier is None:
                return None, "label %s=%r is not one of %s" % (key, value, ", ".join(TIERS))
            return tier, None
    return None, None


# Kubeconfig ---------------------------------------------------------------------------------------------------


def resolve_path(path, base_dir):
    """``~`` expanded; a relative path is taken from the inventory file's directory."""
    path = os.path.expanduser(path)
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(base_dir, path))


def read_kubeconfig(path):
    """The parsed kubeconfig file; a missing or unreadable file raises KubeCompassError category kubeconfig."""
    import yaml  # PyYAML ships with ansible-core; imported here so the pure helpers need nothing.

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise KubeCompassError("kubeconfig %s cannot be read: %s" % (path, exc.strerror or exc), "kubeconfig") from None
    except yaml.YAMLError as exc:
        raise KubeCompassError("kubeconfig %s is not valid YAML: %s" % (path, str(exc).splitlines()[0]),
                               "kubeconfig") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KubeCompassError("kubeconfig %s is not a mapping" % path, "kubeconfig")
    return data


def contexts_of(kubeconfig, path, patterns=()):
    """``[{"kubeconfig", "context", "cluster", "server"}]`` in file order, only the contexts matching one of
    ``patterns`` (globs on the context name) when any are given. Credentials are never read."""
    servers = {}
    for section in ("clusters", "contexts"):
        if not isinstance(kubeconfig.get(section) or [], list):
            raise KubeCompassError("kubeconfig %s: %s must be a list" % (path, section), "kubeconfig")
    for entry in kubeconfig.get("clusters") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            cluster = entry.get("cluster")
            if not isinstance(cluster, dict):
                raise KubeCompassError("kubeconfig %s: cluster %s has no cluster mapping" % (path, entry["name"]),
                                       "kubeconfig")
            server = cluster.get("server")
            servers[entry["name"]] = server if isinstance(server, str) and server else None
    contexts = []
    for entry in kubeconfig.get("contexts") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            continue
        if not isinstance(entry.get("context"), dict):
            raise KubeCompassError("kubeconfig %s: context %s has no context mapping" % (path, entry["name"]),
                                   "kubeconfig")
        name = entry["name"]
        if patterns and not any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            continue
        cluster = (entry.get("context") or {}).get("cluster")
        cluster = cluster if isinstance(cluster, str) else None
        contexts.append({"kubeconfig": path, "context": name, "cluster": cluster,
                         "server": servers.get(cluster) if cluster else None})
    return contexts


def _server_host(server):
    try:
        return (urlparse(server or "").hostname or "").lower()
    except ValueError:
        return ""


def guess_from_context(context):
    """``{"distribution", "region", "target"}`` told from a kubeconfig context alone (values None when unknown).

    EKS: an ``arn:aws:eks:REGION:ACCOUNT:cluster/NAME`` context or cluster name (target from it), or a server
    under ``eks.amazonaws.com``; GKE: a ``gke_PROJECT_LOCATION_NAME`` context or cluster name (target from it), or
    a server under ``gke.goog``; AKS: a server under ``azmk8s.io`` (no target: the resource group is not in it).
    """
    for name in (context.get("context"), context.get("cluster")):
        match = EKS_ARN.match(name or "")
        if match:
            return {"distribution": "eks", "region": match.group(1),
                    "target": {"type": "eks", "name": match.group(3), "region": match.group(1)}}
    for name in (context.get("context"), context.get("cluster")):
        match = GKE_CONTEXT.match(name or "")
        if match:
            project, location, cluster = match.groups()
            return {"distribution": "gke", "region": location,
                    "target": {"type": "gke", "project": project, "location": location, "name": cluster}}
    host = _server_host(context.get("server"))
    for distribution, pattern in (("eks", EKS_HOST), ("aks", AKS_HOST), ("gke", GKE_HOST)):
        match = pattern.search(host)
        if match:
            return {"distribution": distribution, "region": match.group(1), "target": None}
    return {"distribution": None, "region": None, "target": None}


def declared_distribution(context_name, distributions):
    """The distribution the ``distributions`` option declares for a context (first matching glob), or None."""
    for pattern, distribution in (distributions or {}).items():
        if fnmatch.fnmatchcase(context_name, pattern):
            return distribution
    return None


def validate_distributions(distributions):
    """The ``distributions`` option (context glob -> distribution), checked."""
    if distributions is None:
        return {}
    if not isinstance(distributions, dict):
        raise ProviderError("distributions must map context globs to a distribution, not %r" % (distributions,),
                            "input")
    for pattern, distribution in distributions.items():
        if distribution not in DISTRIBUTIONS:
            raise ProviderError("distributions[%r] %r is not one of %s"
                                % (pattern, distribution, ", ".join(DISTRIBUTIONS)), "input")
    return distributions


# Providers ----------------------------------------------------------------------------------------------------


def complete_target(provider, target, account):
    """The DISCOVERED target with ``type`` and the account's endpoint/profile (when the provider takes them), so
    later describes reach the same API the listing did."""
    target = dict(target or {}, type=provider)
    optional = TARGET_KEYS[provider][1]
    for key in ("endpoint_url", "monitor_endpoint_url", "allow_custom_endpoint", "profile"):
        if key in optional and account.get(key) and not target.get(key):
            target[key] = account[key]
    return target


def checked_entry(provider, entry, account):
    """A DISCOVERED entry made JSON-plain and complete, or raise ProviderError saying what is wrong with it."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise ProviderError("entry without a name: %r" % (entry,), "api")
    distribution = entry.get("distribution") or provider
    if distribution != provider:
        raise ProviderError("cluster %s has distribution %r, expected %s" % (entry["name"], distribution, provider),
                            "api")
    target = complete_target(provider, entry.get("target"), account)
    validate_target(target, provider)  # raises naming the bad key
    labels = entry.get("labels") or {}
    if not isinstance(labels, dict):
        raise ProviderError("cluster %s has labels %r, not a mapping" % (entry["name"], labels), "api")
    location = entry.get("location") or target.get("region") or target.get("location")
    return {"name": entry["name"], "distribution": provider, "location": str(location) if location else None,
            "target": target, "labels": {str(k): "" if v is None else str(v) for k, v in labels.items()},
            "server": entry.get("server") or None, "version": entry.get("version") or None}


def discover(accounts, load=None):
    """List every account: ``(entries, warnings, complete)``. An account whose provider module, SDK or listing
    fails adds nothing and one warning naming the account and the cause; the others still count."""
    load = load or provider_module
    entries, warnings, seen = [], [], set()
    for provider, account in accounts:
        where = describe_account(provider, account)
        try:
            listed = load(provider).list_clusters(dict(account))
            checked = [checked_entry(provider, entry, account) for entry in listed or []]
        except ProviderError as exc:
            warnings.append("%s: discovery failed (%s), no cluster added for it: %s"
                            % (where, getattr(exc, "category", "api"), exc))
            continue
        except Exception as exc:  # an unexpected failure of one provider must not lose the others
            warnings.append("%s: discovery failed (%s), no cluster added for it: %s"
                            % (where, type(exc).__name__, exc))
            continue
        for entry in checked:
            # Overlapping accounts (a location listed twice, say) must not make two hosts of one cluster.
            identity = json.dumps(_identity_keys(entry["target"], None), sort_keys=True)
            if identity not in seen:
                seen.add(identity)
                entries.append(entry)
    return entries, warnings, not warnings


# Merging ------------------------------------------------------------------------------------------------------


def host_name(text):
    """A host name safe for files and group names: lower case, runs of other characters as ``-``."""
    name = UNSAFE_HOST_CHARS.sub("-", text.lower()).strip("-.")
    return name or "cluster"


def _identity_keys(target, server):
    """Keys under which two descriptions are the same cluster."""
    keys = []
    if target and target.get("type") == "eks":
        keys.append(("eks", target["region"], target["name"]))
    elif target and target.get("type") == "gke":
        keys.append(("gke", target["project"], target["location"], target["name"]))
    elif target and target.get("type") == "aks":
        keys.append(("aks", target["subscription_id"].lower(), target["resource_group"].lower(),
                     target["name"].lower()))
    try:
        parsed = urlparse(server or "")
        port = parsed.port
    except ValueError:
        return keys
    if parsed.hostname:
        keys.append(("server", parsed.hostname.lower(), port or (80 if parsed.scheme == "http" else 443)))
    return keys


def _entry_sort_key(entry):
    return (entry["distribution"], entry["location"] or "", entry["name"], json.dumps(entry["target"], sort_keys=True))


def assemble(contexts, discovered, settings):
    """``(hosts, warnings)``: one host per cluster, ``{"name", "groups": [...], "vars": {...}}`` in a fixed order
    (provider clusters sorted, then kubeconfig contexts in file order).

    ``settings``: ``{"group", "tier_labels": [keys], "default_tier", "distributions"}``. A context and a
    provider cluster that are the same cluster (EKS region/name, GKE project/location/name, or the same server
    host and port) make one host named as the provider cluster. A second context for a cluster that already has
    one is skipped with a warning (one cluster, one host, one set of credentials).
    """
    warnings = []
    clusters = []
    index = {}  # identity key -> cluster
    for entry in sorted(discovered, key=_entry_sort_key):
        cluster = {"distribution": entry["distribution"], "region": entry["location"], "target": entry["target"],
                   "labels": entry["labels"], "server": entry["server"], "context": None,
                   "title": "%s-%s-%s" % (entry["distribution"], entry["location"] or "", entry["name"])}
        for key in _identity_keys(entry["target"], entry["server"]):
            index.setdefault(key, cluster)
        clusters.append(cluster)

    for context in contexts:
        guess = guess_from_context(context)
        declared = declared_distribution(context["context"], settings.get("distributions"))
        if declared and declared != guess["distribution"]:
            guess = {"distribution": declared, "region": None, "target": None}
        keys = _identity_keys(guess["target"], context["server"])
        same = next((index[key] for key in keys if key in index), None)
        if same is not None:
            if same["context"] is not None:
                warnings.append("context %s in %s is the same cluster as context %s in %s; skipped (select one "
                                "with the contexts option)" % (context["context"], context["kubeconfig"],
                                                               same["context"]["context"],
                                                               same["context"]["kubeconfig"]))
                continue
            same["context"] = context
            same["server"] = same["server"] or context["server"]
            continue
        target = guess["target"]
        # A context whose cluster is fully known is named like the provider would name it: adding provider
        # discovery later then keeps the host name (reports, waivers) unchanged.
        title = context["context"]
        if target is not None:
            title = "%s-%s-%s" % (guess["distribution"], guess["region"], target["name"])
        cluster = {"distribution": guess["distribution"], "region": guess["region"], "target": target,
                   "labels": None, "server": context["server"], "context": context, "title": title}
        # Only a provider identity dedupes contexts: many local clusters share https://127.0.0.1:6443.
        for key in _identity_keys(target, None):
            index.setdefault(key, cluster)
        clusters.append(cluster)

    hosts, used = [], set()
    for cluster in clusters:
        name = host_name(cluster["title"])
        if name in used:
            suffix = 2
            while "%s-%d" % (name, suffix) in used:
                suffix += 1
            name = "%s-%d" % (name, suffix)
        used.add(name)
        host_vars, problem = host_vars_of(cluster, settings)
        if problem:
            warnings.append("cluster %s: %s; the playbooks will stop on it as bad input" % (name, problem))
        distribution = cluster["distribution"]
        hosts.append({"name": name, "groups": [settings.get("group") or "k8s_clusters",
                                               distribution or UNKNOWN_DISTRIBUTION_GROUP],
                      "vars": host_vars})
    return hosts, warnings


def host_vars_of(cluster, settings):
    """(vars, tier problem) of one merged cluster."""
    host_vars = {"ansible_connection": "local"}
    if cluster["distribution"]:
        host_vars["kubecompass_distribution"] = cluster["distribution"]
    tier, problem = tier_from_labels(cluster["labels"], settings.get("tier_labels") or ())
    if tier is None and problem is None:
        tier = normalise_tier(settings.get("default_tier"))
    if tier:
        host_vars["kubecompass_tier"] = tier
    elif problem:
        # The raw value, so the playbooks report it as bad input rather than assess under a default tier.
        host_vars["kubecompass_tier"] = next(str(cluster["labels"][key]) for key in settings.get("tier_labels") or ()
                                             if key and key in (cluster["labels"] or {}))
    if cluster["region"]:
        host_vars["kubecompass_region"] = cluster["region"]
    if cluster["target"]:
        host_vars["kubecompass_provider"] = dict(cluster["target"])
    if cluster["context"]:
        host_vars["kubecompass_kubeconfig"] = cluster["context"]["kubeconfig"]
        host_vars["kubecompass_context"] = cluster["context"]["context"]
    else:
        # Known only to its provider: the playbooks must not fall back to the controller's default kubeconfig,
        # which points at some other cluster.
        host_vars["kubecompass_kubernetes_api"] = False
    if cluster["labels"] is not None:
        host_vars["kubecompass_labels"] = dict(cluster["labels"])
    if cluster["server"]:
        host_vars["kubecompass_server"] = cluster["server"]
    return host_vars, problem
