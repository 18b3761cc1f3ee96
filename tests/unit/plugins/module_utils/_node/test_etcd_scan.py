"""The full etcd scan of Secrets: every page read at one revision, every value classified, nothing returned."""

from __future__ import annotations

import base64

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.etcd import EtcdError, etcd_scan


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def range_server(store: dict[bytes, bytes], revision: int = 42):
    """Answers /v3/kv/range bodies the way etcd's JSON gateway does (sorted keys, limit, more, header)."""
    calls = []

    def post(url, body):
        calls.append(dict(body))
        start, end = base64.b64decode(body["key"]), base64.b64decode(body["range_end"])
        keys = sorted(k for k in store if start <= k < end)
        limit = int(body.get("limit") or 0)
        page = keys[:limit] if limit else keys
        return {"header": {"revision": str(revision)}, "more": len(keys) > len(page), "count": str(len(keys)),
                "kvs": [{"key": b64(k), "value": b64(store[k])} for k in page]}

    return post, calls


def test_every_page_is_read_at_the_first_answers_revision():
    store = {b"/registry/secrets/ns/s%03d" % i: (b"k8s:enc:secretbox:v1:key1:" if i % 3 else b"k8s\x00") + b"SECRETVALUE"
             for i in range(25)}
    store[b"/registry/configmaps/ns/c"] = b"k8s\x00"
    post, calls = range_server(store)
    scan = etcd_scan("https://127.0.0.1:2379", post, page_size=10)
    assert scan["complete"] and scan["error"] is None and scan["total"] == 25 and scan["revision"] == 42
    assert scan["by_prefix"] == {"plaintext": 9, "k8s:enc:secretbox:v1:key1": 16}
    assert len(calls) == 3 and "revision" not in calls[0] and all(c["revision"] == 42 for c in calls[1:])
    assert "SECRETVALUE" not in repr(scan)  # no value leaves the function


def test_an_unreachable_etcd_makes_the_scan_incomplete_with_the_cause():
    def post(url, body):
        raise EtcdError("cannot reach %s: connection refused" % url)

    scan = etcd_scan("https://127.0.0.1:2379", post)
    assert not scan["complete"] and "connection refused" in scan["error"]


def test_an_empty_prefix_is_a_complete_scan_of_nothing():
    post, _calls = range_server({})
    scan = etcd_scan("https://127.0.0.1:2379", post)
    assert scan["complete"] and scan["total"] == 0 and scan["by_prefix"] == {}
