# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""What a check sees: the snapshot of one cluster, its tier table and settings. Read-only, no I/O."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SYSTEM_NAMESPACES
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import Unreadable
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.tiers import namespace_tier


def parse_date(value, where, field):
    """A YYYY-MM-DD inventory date (or a date YAML already parsed); a bad one names ``where`` and ``field``."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.datetime.strptime(str(value), "%Y-%m-%d").date()
    except ValueError:
        raise KubeCompassError("%s: %s %r is not a date (YYYY-MM-DD)" % (where, field, value), "input") from None


def parse_time(value):
    """RFC 3339 timestamp from the API as an aware datetime, or None."""
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if "." in text:
        head, tail = text.split(".", 1)
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits):]
        text = "%s.%s%s" % (head, digits[:6].ljust(6, "0"), zone)
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


class Context:
    """Snapshot accessors for checks.

    ``snapshot`` is the gather result: ``{"cluster": {...}, "kinds": {name: {"items": [...]} | {"error": {...}}},
    "nodes": {...} | None, "provider": {...} | None}``. Reading an input that could not be gathered raises
    Unreadable, which the engine turns into an unknown verdict naming the input and the cause.
    """

    def __init__(self, snapshot, tier_table, settings=None, now=None):
        self.snapshot = snapshot
        self.cluster = snapshot.get("cluster") or {}
        self.tier = self.cluster.get("tier")
        self.distribution = self.cluster.get("distribution")
        self.table = tier_table
        self.settings = settings or {}
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        self._by_namespace = {}
        self._application = None
        self._tiers = {}

    # -- raw inputs ------------------------------------------------------------------------------------------------

    def items(self, kind):
        entry = (self.snapshot.get("kinds") or {}).get(kind)
        if entry is None:
            raise Unreadable(kind, "not gathered")
        if "error" in entry:
            raise Unreadable(kind, entry["error"].get("message") or entry["error"].get("category"))
        return entry.get("items") or []

    def optional_items(self, kind):
        """Items of a kind whose absence is itself the answer (a CRD not installed means no such objects)."""
        entry = (self.snapshot.get("kinds") or {}).get(kind) or {}
        error = entry.get("error") or {}
        if error.get("category") == "not_found":
            return None
        return self.items(kind)

    def by_namespace(self, kind):
        if kind not in self._by_namespace:
            grouped = {}
            for item in self.items(kind):
                grouped.setdefault((item.get("metadata") or {}).get("namespace"), []).append(item)
            self._by_namespace[kind] = grouped
        return self._by_namespace[kind]

    def node_facts(self):
        nodes = self.snapshot.get("nodes")
        if nodes is None:
            raise Unreadable("control-plane node facts", "not gathered (no control-plane group for this cluster)")
        if "error" in nodes:
            raise Unreadable("control-plane node facts", nodes["error"])
        return nodes.get("hosts") or {}

    def provider(self):
        provider = self.snapshot.get("provider")
        if not provider or "error" in provider:
            cause = (provider or {}).get("error") or (
                "no provider facts were given (the assess playbook reads them from kubecompass_provider)")
            raise Unreadable("%s provider API" % (self.distribution or "provider"), cause)
        return provider

    def provider_section(self, name):
        """One section of the provider facts; Unreadable with the provider's cause when it could not be read."""
        provider = self.provider()
        section = (provider.get("sections") or {}).get(name)
        if section is None:
            cause = (provider.get("errors") or {}).get(name) or "the provider facts have no %s section" % name
            raise Unreadable("%s provider API (%s)" % (self.distribution, name.replace("_", " ")), cause)
        return section

    # -- tiers and scope -------------------------------------------------------------------------------------------

    def threshold(self, tier, key):
        return self.table[tier][key]

    def excluded_namespaces(self):
        return set(SYSTEM_NAMESPACES) | set(self.settings.get("excluded_namespaces") or [])

    def application_namespaces(self):
        """[(namespace object, tier, tier rule, error)] for every namespace outside the system/excluded set."""
        if self._application is None:
            excluded = self.excluded_namespaces()
            self._application = []
            for ns in self.items("namespaces"):
                if ns["metadata"]["name"] in excluded:
                    continue
                tier, rule, error = namespace_tier(ns, self.tier)
                self._application.append((ns, tier, rule, error))
            self._tiers = {ns["metadata"]["name"]: (tier, rule, error)
                           for ns, tier, rule, error in self._application}
        return self._application

    def is_application_namespace(self, name):
        self.application_namespaces()
        return name in self._tiers

    def tier_of(self, namespace_name):
        """(tier, rule, error) for a namespace by name; the cluster tier outside application namespaces."""
        self.application_namespaces()
        return self._tiers.get(namespace_name, (self.tier, "cluster tier %s" % self.tier, None))
