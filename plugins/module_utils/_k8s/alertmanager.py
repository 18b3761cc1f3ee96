# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Alertmanager configuration reduced to its routing: which routes end in which receiver, and which receivers
notify anyone. An Alertmanager config holds webhook URLs and API keys, so it is summarised where it is read
(gather) and only the summary, which names receivers and integration types, ever reaches a snapshot or report."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import base64
import binascii
import gzip
import re
import zlib

try:
    import yaml
except ImportError:  # pragma: no cover - ansible-core requires PyYAML on the controller, where this runs
    yaml = None

# Keys an Alertmanager configuration lives under: the operator's Secret (plain or, for the -generated Secret,
# gzipped), VMAlertmanager's configSecret, and the prometheus-community chart's ConfigMap.
CONFIG_KEYS = ("alertmanager.yaml", "alertmanager.yml", "alertmanager.yaml.gz")
# Prometheus-style durations ("30s", "1m30s", "1d"), as Alertmanager and Prometheus parse them.
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNIT_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
DEFAULT_GROUP_WAIT = "30s"


def duration_seconds(text, default=None):
    """A Prometheus duration ("5m", "1h30m", "0s") in seconds; ``default`` for None/empty; ValueError if malformed."""
    if text is None or str(text).strip() == "":
        return default
    match = _DURATION.match(str(text).strip())
    if not match or not any(match.groups()):
        if str(text).strip() == "0":
            return 0.0
        raise ValueError("%r is not a Prometheus duration" % text)
    return float(sum(int(part) * _UNIT_SECONDS[index] for index, part in enumerate(match.groups()) if part))


def _integrations(receiver):
    return sorted(key for key, value in (receiver or {}).items() if key.endswith("_configs") and value)


def _route(route, inherited_wait):
    route = route or {}
    matchers = [str(m) for m in route.get("matchers") or []]
    matchers += ["%s=%s" % (k, v) for k, v in sorted((route.get("match") or {}).items())]
    matchers += ["%s=~%s" % (k, v) for k, v in sorted((route.get("match_re") or {}).items())]
    group_wait = route.get("group_wait") or inherited_wait
    return {"receiver": route.get("receiver"), "matchers": matchers, "group_wait": group_wait,
            "continue": bool(route.get("continue")),
            "routes": [_route(child, group_wait) for child in route.get("routes") or []]}


def routing_summary(config_text):
    """{"route": {...}, "receivers": {name: [integration types]}} from Alertmanager YAML; ValueError if unusable."""
    try:
        config = yaml.safe_load(config_text)
    except yaml.YAMLError as exc:
        raise ValueError("not YAML (%s)" % str(exc).splitlines()[0]) from None
    if not isinstance(config, dict) or not isinstance(config.get("route"), dict):
        raise ValueError("no top-level route")
    receivers = {r.get("name"): _integrations(r) for r in config.get("receivers") or [] if isinstance(r, dict)}
    route = _route(config["route"], config["route"].get("group_wait") or DEFAULT_GROUP_WAIT)
    return {"route": route, "receivers": receivers}


def _decode(value, gzipped):
    try:
        raw = base64.b64decode(value)
        return (gzip.decompress(raw) if gzipped else raw).decode("utf-8")
    except (binascii.Error, OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ValueError("cannot decode (%s)" % exc) from None


def _summary_or_error(text, key):
    try:
        return dict(routing_summary(text), key=key)
    except ValueError as exc:
        return {"key": key, "error": str(exc)}


def summarise_object(item, is_secret):
    """A Secret or ConfigMap with its Alertmanager configuration replaced by its routing summary (Secrets: every
    value dropped); the summary sits under ``alertmanager_config`` ({"error": why} when it does not parse)."""
    data = (item.pop("data", None) or {}) if is_secret else dict(item.get("data") or {})
    item.pop("stringData", None)
    for key in CONFIG_KEYS:
        if key in data:
            try:
                text = _decode(data[key], key.endswith(".gz")) if is_secret else data[key]
            except ValueError as exc:
                item["alertmanager_config"] = {"key": key, "error": str(exc)}
            else:
                item["alertmanager_config"] = _summary_or_error(text, key)
            break
    if not is_secret:
        item["data"] = {k: v for k, v in data.items() if k not in CONFIG_KEYS}
    return item


def summarise_vmalertmanager(item):
    """A VMAlertmanager with spec.configRawYaml (which may hold credentials) replaced by its routing summary."""
    spec = item.get("spec") or {}
    raw = spec.pop("configRawYaml", None)
    if raw:
        item["alertmanager_config"] = _summary_or_error(raw, "spec.configRawYaml")
    return item
