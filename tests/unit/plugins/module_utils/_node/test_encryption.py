"""EncryptionConfiguration summaries: providers and key names, never key material."""

from __future__ import annotations

import json
import os

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.encryption import (
    read_encryption_config,
    summarize_encryption_config,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.etcd import (
    classify_value,
    encryption_prefixes,
)
from tests.unit.plugins.module_utils._node.test_gather import RKE2_ENCRYPTION_JSON, SECRET, write


# -- encryption configuration ---------------------------------------------------------------------------------------
def encryption(*providers):
    return summarize_encryption_config({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets", "configmaps"], "providers": list(providers)}]})


def test_identity_first_then_aesgcm():
    keys = [{"name": "new", "secret": SECRET}, {"name": "old", "secret": SECRET}]
    summary = encryption({"identity": {}}, {"aesgcm": {"keys": keys}})
    assert summary["valid"] is True
    assert summary["resources"] == [{"resources": ["secrets", "configmaps"], "providers": [
        {"type": "identity", "key_names": [], "kms_api_version": None},
        {"type": "aesgcm", "key_names": ["new", "old"], "kms_api_version": None}]}]
    assert SECRET not in json.dumps(summary)


def test_kms_v2_and_defaulted_v1():
    summary = encryption({"kms": {"apiVersion": "v2", "name": "vault", "endpoint": "unix:///run/kms.sock"}},
                         {"kms": {"name": "legacy", "endpoint": "unix:///run/old.sock", "cachesize": 100}},
                         {"secretbox": {"keys": [{"name": "sb", "secret": SECRET}]}})
    assert list(summary["resources"][0]["providers"]) == [
        {"type": "kms", "key_names": ["vault"], "kms_api_version": "v2"},
        {"type": "kms", "key_names": ["legacy"], "kms_api_version": "v1"},
        {"type": "secretbox", "key_names": ["sb"], "kms_api_version": None}]
    assert "unix:///run/kms.sock" not in json.dumps(summary)


def test_unknown_provider_and_keyless_provider_are_invalid_without_echoing_values():
    summary = encryption({"aesgcn": {}}, {SECRET: {}}, {"aescbc": {"keys": [{"secret": SECRET}]}})
    assert summary["valid"] is False
    assert summary["error"] == ("resources[0].providers[0]: unknown provider type aesgcn; "
                                "resources[0].providers[1]: unknown provider type (hidden); "
                                "resources[0].providers[2]: keys[0] has no name")
    assert SECRET not in json.dumps(summary)


def test_encryption_config_as_json_file(tmp_path):
    write(tmp_path, "/cred/encryption-config.json", RKE2_ENCRYPTION_JSON)
    summary = read_encryption_config(str(tmp_path), "/cred/encryption-config.json")
    assert summary["exists"] is True and summary["valid"] is True
    assert summary["resources"][0]["providers"][1]["type"] == "identity"


def test_key_names_with_colons_need_the_configured_prefixes():
    value = b"k8s:enc:aescbc:v1:aescbckey-2026-11-22T02:10:06Z:" + b"A:" + os.urandom(30)
    assert classify_value(value) == "k8s:enc:aescbc:v1:aescbckey-2026-11-22T02"  # first colon: never ciphertext
    prefixes = encryption_prefixes(summarize_encryption_config(json.loads(RKE2_ENCRYPTION_JSON)))
    assert prefixes == ["k8s:enc:aescbc:v1:aescbckey-2026-11-22T02:10:06Z:"]
    assert classify_value(value, prefixes) == "k8s:enc:aescbc:v1:aescbckey-2026-11-22T02:10:06Z"
    kms = encryption({"kms": {"apiVersion": "v2", "name": "vault"}}, {"kms": {"name": "old"}}, {"identity": {}})
    assert encryption_prefixes(kms) == ["k8s:enc:kms:v2:vault:", "k8s:enc:kms:v1:old:"]
