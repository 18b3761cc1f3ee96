# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The API server's own metrics (GET /metrics, Prometheus text format): only the series a check judges are kept."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

DEPRECATED_APIS = "apiserver_requested_deprecated_apis"
# What an identity needs to read them; named in the error so the reader knows the rule to add.
METRICS_RBAC_RULE = 'nonResourceURLs: ["/metrics"], verbs: ["get"]'

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text, name):
    """[(labels, value)] of one metric's samples in a Prometheus text exposition."""
    found = []
    for line in (text or "").splitlines():
        if not line.startswith(name):
            continue
        match = _SAMPLE.match(line)
        if not match or match.group("name") != name:
            continue
        labels = {key: value.replace('\\"', '"').replace("\\\\", "\\")
                  for key, value in _LABEL.findall(match.group("labels") or "")}
        try:
            found.append((labels, float(match.group("value"))))
        except ValueError:
            continue
    return found


def deprecated_api_requests(text):
    """The deprecated group/version/resources requested since the API server started (gauge value 1), with the
    release that removes each (label removed_release, empty when none is announced)."""
    keys = ("group", "version", "resource", "subresource", "removed_release")
    return [{key: labels.get(key, "") for key in keys} for labels, value in samples(text, DEPRECATED_APIS) if value]


def read_deprecated_api_requests(client, path="/metrics"):
    """The deprecated APIs requested, read from the API server's metrics; a forbidden read names the RBAC rule."""
    try:
        body = client.get(path, accept="text/plain")
    except KubeCompassError as exc:
        if exc.status == 403:
            raise KubeCompassError("%s; the assessing identity needs a ClusterRole rule {%s} to read %s"
                                   % (exc, METRICS_RBAC_RULE, DEPRECATED_APIS), exc.category, exc.status) from None
        raise
    return deprecated_api_requests(body.get("raw") if isinstance(body, dict) else "")
