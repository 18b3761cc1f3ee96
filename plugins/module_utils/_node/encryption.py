# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The EncryptionConfiguration file of a node, reduced to resources and providers with key names only:
key material never leaves this module."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.encryption import (
    KEYED_PROVIDERS,
    PROVIDER_KINDS,
    refused_name,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import to_string
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import read_document


# -- encryption configuration --------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9]{0,15}$")


def _provider_summary(provider_type, config, where, problems):
    config = config if isinstance(config, dict) else {}
    known = provider_type in PROVIDER_KINDS
    if not known:
        # Echo a mistyped provider name, never a value that could be key material pushed up by bad indentation.
        shown = provider_type if isinstance(provider_type, str) and _IDENTIFIER.match(provider_type) else "(hidden)"
        problems.append("%s: unknown provider type %s" % (where, shown))
        provider_type = shown
    summary = {"type": provider_type, "key_names": [], "kms_api_version": None}
    if provider_type in KEYED_PROVIDERS:
        keys = config.get("keys")
        if not isinstance(keys, list) or not keys:
            problems.append("%s: %s has no keys" % (where, provider_type))
            keys = []
        for index, key in enumerate(keys):
            name = key.get("name") if isinstance(key, dict) else None
            if not name:
                problems.append("%s: keys[%d] has no name" % (where, index))
                continue
            summary["key_names"].append(to_string(name))
    elif provider_type == "kms":
        if config.get("name"):
            summary["key_names"].append(to_string(config["name"]))
        else:
            problems.append("%s: kms has no name" % where)
        # apiserver.config.k8s.io/v1 KMSConfiguration.apiVersion defaults to v1.
        summary["kms_api_version"] = to_string(config.get("apiVersion") or "v1")
    return summary


def summarize_encryption_config(document):
    """Resources and their ordered providers (type, key names, kms apiVersion) of an EncryptionConfiguration.
    Only names are copied: secrets, KMS endpoints and everything else stay behind."""
    summary = {"valid": False, "error": None, "resources": []}
    if not isinstance(document, dict):
        summary["error"] = "not an EncryptionConfiguration object"
        return summary
    problems = []
    if document.get("apiVersion") != "apiserver.config.k8s.io/v1":
        problems.append("apiVersion is %s, expected apiserver.config.k8s.io/v1" % document.get("apiVersion"))
    if document.get("kind") != "EncryptionConfiguration":
        problems.append("kind is %s, expected EncryptionConfiguration" % document.get("kind"))
    entries = document.get("resources")
    if not isinstance(entries, list) or not entries:
        problems.append("resources is empty")
        entries = []
    for index, entry in enumerate(entries):
        where = "resources[%d]" % index
        if not isinstance(entry, dict):
            problems.append("%s is not a mapping" % where)
            continue
        names = entry.get("resources")
        if not isinstance(names, list) or not names:
            problems.append("%s lists no resources" % where)
            names = []
        for position, name in enumerate(names):
            refusal = refused_name(name)
            if refusal:
                problems.append("%s.resources[%d]: %s" % (where, position, refusal))
        providers = entry.get("providers")
        if not isinstance(providers, list) or not providers:
            problems.append("%s has no providers" % where)
            providers = []
        summaries = []
        for position, provider in enumerate(providers):
            place = "%s.providers[%d]" % (where, position)
            if not isinstance(provider, dict) or len(provider) != 1:
                problems.append("%s must name exactly one provider" % place)
                if not isinstance(provider, dict):
                    continue
            for provider_type, config in provider.items():
                summaries.append(_provider_summary(provider_type, config, place, problems))
        summary["resources"].append({"resources": [to_string(name) for name in names], "providers": summaries})
    summary["valid"] = not problems
    summary["error"] = "; ".join(problems) or None
    return summary


def read_encryption_config(root, path):
    """EncryptionConfiguration facts (YAML or JSON) for the file at ``path``; exists false when there is no such
    file. Raises OSError when it cannot be read and DocumentError when it does not parse."""
    exists, document = read_document(root, path)
    summary = {"path": path, "exists": exists}
    summary.update(summarize_encryption_config(document))
    if not exists:
        summary["error"] = None
    return summary
