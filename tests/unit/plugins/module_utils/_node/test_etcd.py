"""etcd range requests, value classes and the sample (errors reported, not raised)."""

from __future__ import annotations

import base64

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.etcd import (
    EtcdError,
    classify_value,
    etcd_range_request,
    etcd_sample,
    prefix_range_end,
)
from tests.unit.plugins.module_utils._node.test_gather import PLAINTEXT_SECRET_VALUE, FakeEtcd


# -- etcd request bodies and prefix classification ------------------------------------------------------------------
def test_prefix_range_end():
    assert prefix_range_end(b"/registry/secrets/") == b"/registry/secrets0"
    assert prefix_range_end(b"a\xff\xff") == b"b"
    assert prefix_range_end(b"\xff") == b"\0"


def test_range_request_bodies():
    assert etcd_range_request("/registry/secrets/", limit=20) == {
        "key": base64.b64encode(b"/registry/secrets/").decode(),
        "range_end": base64.b64encode(b"/registry/secrets0").decode(),
        "limit": 20, "keys_only": False}
    assert etcd_range_request("/registry/secrets/", count_only=True) == {
        "key": "L3JlZ2lzdHJ5L3NlY3JldHMv", "range_end": "L3JlZ2lzdHJ5L3NlY3JldHMw", "count_only": True}


@pytest.mark.parametrize("value, encoding", [
    (PLAINTEXT_SECRET_VALUE, "plaintext"),
    (b'{"kind":"Secret","apiVersion":"v1","data":{"p":"cGFzcw=="}}', "plaintext"),
    (b"k8s:enc:aescbc:v1:key1:\x00\x01binary", "k8s:enc:aescbc:v1:key1"),
    (b"k8s:enc:aesgcm:v1:2026-rotation:\xff", "k8s:enc:aesgcm:v1:2026-rotation"),
    (b"k8s:enc:secretbox:v1:sb:\x10", "k8s:enc:secretbox:v1:sb"),
    (b"k8s:enc:kms:v2:vault-kms:\n\x10ciphertext", "k8s:enc:kms:v2:vault-kms"),
    (b"k8s:enc:kms:v1:legacy:abc", "k8s:enc:kms:v1:legacy"),
    (b"k8s:enc:aescbc:v1:key with spaces:", "unknown"),
    (b"k8s:enc:rot13:v1:k:", "unknown"),
    (b"k8s:enc:aescbc:v1:" + b"\x01" * 40, "unknown"),  # no key name terminator: never echo ciphertext
    (b"\x00garbage", "unknown"),
    (b"", "unknown"),
])
def test_classify_value(value, encoding):
    assert classify_value(value) == encoding


def test_etcd_sample_with_custom_prefix_and_empty_keyspace():
    etcd = FakeEtcd({"/custom/secrets/ns/a": b"k8s\x00x", "/registry/secrets/ns/b": b"k8s\x00y"})
    sample = etcd_sample("https://e:2379/", etcd, 5, prefix="/custom")
    assert sample["total_keys"] == 1 and sample["prefixes"] == [{"key": "/custom/secrets/ns/a",
                                                                 "encoding": "plaintext"}]
    assert etcd.requests[0][0] == "https://e:2379/v3/kv/range"
    empty = etcd_sample("https://e:2379", FakeEtcd({}), 5)
    assert (empty["total_keys"], empty["sampled"], empty["prefixes"], empty["error"]) == (0, 0, [], None)


def test_etcd_errors_are_reported_not_raised():
    def unreachable(url, body):
        raise EtcdError("cannot reach %s: Connection refused" % url)

    sample = etcd_sample("https://127.0.0.1:2379", unreachable, 5)
    assert sample["error"] == "cannot reach https://127.0.0.1:2379/v3/kv/range: Connection refused"
    assert sample["total_keys"] is None and sample["prefixes"] == []
    garbled = etcd_sample("https://127.0.0.1:2379", lambda url, body: {"count": "x"}, 5)
    assert garbled["error"] == "unexpected answer from etcd at https://127.0.0.1:2379/v3/kv/range: ValueError"
