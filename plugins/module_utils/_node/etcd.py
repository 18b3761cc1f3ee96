# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Reading a node's etcd with its own client certificate through etcd's JSON gateway: a key count, a
sample or a scan of values reduced to their prefix class (never the values), the member list."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import base64
import http.client
import json
import os
import re
import ssl

from urllib.error import HTTPError, URLError
from urllib.request import HTTPSHandler, ProxyHandler, Request, build_opener

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.encryption import ENCRYPTING_PROVIDERS
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import on_host


DEFAULT_ETCD_PREFIX = "/registry"
ETCD_TIMEOUT = 10


# -- etcd ----------------------------------------------------------------------------------------------------------

def prefix_range_end(prefix):
    """etcd's range end for every key starting with ``prefix`` (clientv3 GetPrefixRangeEnd)."""
    end = bytearray(prefix)
    for index in range(len(end) - 1, -1, -1):
        if end[index] < 0xFF:
            end[index] += 1
            return bytes(end[:index + 1])
    return b"\0"


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def etcd_range_request(prefix, limit=None, count_only=False):
    """Body of a POST /v3/kv/range on etcd's JSON gateway for every key under ``prefix``."""
    key = prefix.encode("utf-8")
    body = {"key": _b64(key), "range_end": _b64(prefix_range_end(key))}
    if count_only:
        body["count_only"] = True
    else:
        body["limit"] = int(limit)
        body["keys_only"] = False
    return body


_ENCRYPTED = re.compile(rb"^k8s:enc:(aescbc|aesgcm|secretbox|kms):(v1|v2):([\x21-\x39\x3b-\x7e]{1,253}):")


def encryption_prefixes(encryption_summary):
    """The etcd value prefixes the providers of an encryption config summary write, e.g.
    ``k8s:enc:aescbc:v1:key1:``, for classify_value."""
    prefixes = set()
    for entry in (encryption_summary or {}).get("resources") or []:
        for provider in entry.get("providers") or []:
            version = provider.get("kms_api_version") if provider.get("type") == "kms" else "v1"
            if provider.get("type") in ENCRYPTING_PROVIDERS:
                for name in provider.get("key_names") or []:
                    prefixes.add("k8s:enc:%s:%s:%s:" % (provider["type"], version, name))
    return sorted(prefixes, key=len, reverse=True)


def classify_value(value, known_prefixes=()):
    """What a raw etcd value says about its encryption, from its prefix only: "plaintext" (protobuf ``k8s\\x00``,
    or a JSON object when the apiserver stores JSON), "k8s:enc:<provider>:<version>:<key name>", or "unknown".

    Key names may contain colons (RKE2 and k3s name keys ``aescbckey-<RFC 3339 time>``), so the configured
    prefixes (encryption_prefixes) are tried first, as the apiserver does; otherwise the name ends at the first
    colon, which never reaches into the ciphertext.
    """
    if value.startswith(b"k8s\x00") or value.lstrip().startswith(b"{"):
        return "plaintext"
    for prefix in known_prefixes:
        if value.startswith(prefix.encode("utf-8")):
            return prefix[:-1]
    match = _ENCRYPTED.match(value)
    if match:
        return "k8s:enc:%s:%s:%s" % tuple(part.decode("ascii") for part in match.groups())
    return "unknown"


class EtcdError(Exception):
    pass


def etcd_json_client(cert, key, ca, timeout=ETCD_TIMEOUT):
    """A ``post(url, body) -> dict`` for etcd's JSON gateway with this client certificate. Environment proxies
    are ignored: etcd traffic must not leave the node through a proxy."""
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    opener = build_opener(ProxyHandler({}), HTTPSHandler(context=context))

    def post(url, body):
        request = Request(url, data=json.dumps(body).encode("utf-8"),
                          headers={"Content-Type": "application/json"}, method="POST")
        try:
            with opener.open(request, timeout=timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except HTTPError as exc:
            try:
                detail = json.loads(exc.read().decode("utf-8"))
                message = detail.get("message") or detail.get("error") or ""
            except (ValueError, AttributeError):
                message = exc.reason
            raise EtcdError("HTTP %d from %s: %s" % (exc.code, url, str(message)[:300])) from None
        except URLError as exc:
            raise EtcdError("cannot reach %s: %s" % (url, exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise EtcdError("cannot reach %s: %s" % (url, exc)) from None
        except ValueError as exc:
            raise EtcdError("etcd at %s did not answer JSON: %s" % (url, exc)) from None

    return post


def etcd_sample(endpoint, post, sample_size, prefix=DEFAULT_ETCD_PREFIX, known_prefixes=()):
    """Count the Secrets under ``<prefix>/secrets/`` and classify the prefix of the first ``sample_size`` values
    (classify_value with ``known_prefixes``). Values never leave this function: only keys and their class."""
    result = {"endpoint": endpoint, "error": None, "total_keys": None, "sampled": 0, "prefixes": []}
    url = endpoint.rstrip("/") + "/v3/kv/range"
    secrets_prefix = prefix.rstrip("/") + "/secrets/"
    try:
        counted = post(url, etcd_range_request(secrets_prefix, count_only=True))
        result["total_keys"] = int((counted or {}).get("count") or 0)
        listed = post(url, etcd_range_request(secrets_prefix, limit=sample_size)) if sample_size > 0 else {}
        for kv in (listed or {}).get("kvs") or []:
            key = base64.b64decode(kv.get("key") or "").decode("utf-8", errors="replace")
            encoding = classify_value(base64.b64decode(kv.get("value") or ""), known_prefixes)
            result["prefixes"].append({"key": key, "encoding": encoding})
    except EtcdError as exc:
        result["error"] = str(exc)
    except (ValueError, TypeError, AttributeError) as exc:
        result["error"] = "unexpected answer from etcd at %s: %s" % (url, exc.__class__.__name__)
    result["sampled"] = len(result["prefixes"])
    return result


def etcd_scan(endpoint, post, prefix=DEFAULT_ETCD_PREFIX, known_prefixes=(), page_size=500):
    """Classify every value under ``<prefix>/secrets/`` (classify_value), page by page at one etcd revision so the
    result is one consistent view. Returns ``{"by_prefix": {class: count}, "total", "complete", "error",
    "revision", "endpoint"}``; values never leave this function. Only a complete scan proves that no object still
    needs an old key (control-plane.md 1.3)."""
    result = {"endpoint": endpoint, "by_prefix": {}, "total": 0, "complete": False, "error": None, "revision": None}
    url = endpoint.rstrip("/") + "/v3/kv/range"
    secrets_prefix = (prefix.rstrip("/") + "/secrets/").encode("utf-8")
    start = secrets_prefix
    try:
        while True:
            body = etcd_range_request(secrets_prefix.decode("utf-8"), limit=page_size)
            body["key"] = _b64(start)
            if result["revision"] is not None:
                body["revision"] = result["revision"]
            answer = post(url, body) or {}
            if result["revision"] is None:
                result["revision"] = int((answer.get("header") or {}).get("revision") or 0) or None
            kvs = answer.get("kvs") or []
            for kv in kvs:
                encoding = classify_value(base64.b64decode(kv.get("value") or ""), known_prefixes)
                result["by_prefix"][encoding] = result["by_prefix"].get(encoding, 0) + 1
                result["total"] += 1
            if not answer.get("more") or not kvs:
                break
            start = base64.b64decode(kvs[-1]["key"]) + b"\x00"
        result["complete"] = True
    except EtcdError as exc:
        result["error"] = str(exc)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        result["error"] = "unexpected answer from etcd at %s: %s" % (url, exc.__class__.__name__)
    return result


def etcd_member_list(endpoint, post):
    """``(members, error)``: etcd's member list (POST /v3/cluster/member/list) as ``[{"name", "peer_urls",
    "client_urls", "learner"}]``; a member added but not started yet has no name and no client URLs."""
    url = endpoint.rstrip("/") + "/v3/cluster/member/list"
    try:
        answer = post(url, {"linearizable": True}) or {}
        members = [{"name": member.get("name") or "", "peer_urls": list(member.get("peerURLs") or []),
                    "client_urls": list(member.get("clientURLs") or []), "learner": bool(member.get("isLearner"))}
                   for member in answer.get("members") or []]
    except EtcdError as exc:
        return None, str(exc)
    except (ValueError, TypeError, AttributeError) as exc:
        return None, "unexpected answer from etcd at %s: %s" % (url, exc.__class__.__name__)
    if not members:
        return None, "etcd at %s listed no members" % url
    return members, None


def first_existing_client(root, candidates):
    for cert, key, ca in candidates:
        if all(os.path.isfile(on_host(root, path)) for path in (cert, key, ca)):
            return cert, key, ca
    return None


# -- one node ------------------------------------------------------------------------------------------------------

def etcd_client_files(root, config, effective, to_host):
    """((cert, key, ca) host paths of the first client certificate present, or None), candidates looked at: the
    distribution's own, then the apiserver's --etcd-certfile/--etcd-keyfile/--etcd-cafile."""
    candidates = list(config["etcd_clients"])
    if all(effective.get(flag) for flag in ("etcd-certfile", "etcd-keyfile", "etcd-cafile")):
        own = tuple(to_host(effective[flag]) for flag in ("etcd-certfile", "etcd-keyfile", "etcd-cafile"))
        if own not in candidates:
            candidates.append(own)
    return first_existing_client(root, candidates), candidates


def first_url(value):
    return next((url.strip() for url in str(value or "").split(",") if url.strip()), None)


def etcd_access(root, config, effective, to_host, endpoint=None, post=None):
    """(endpoint, post, error) for reading the node's etcd with its own client certificate: the endpoint is the
    first --etcd-servers URL unless given; ``post`` (etcd_json_client) unless given (tests); error says why etcd
    cannot be read (no endpoint, kine/SQL datastore, no client certificate)."""
    endpoint = endpoint or first_url(effective.get("etcd-servers"))
    if not endpoint:
        return endpoint, None, "no etcd endpoint: the apiserver has no --etcd-servers flag and none was given"
    if endpoint.startswith("unix:") or config["datastore"] != "etcd":
        return endpoint, None, ("the datastore is %s, not etcd: raw values cannot be read through etcd's JSON "
                                "gateway" % config["datastore"])
    if post is None:
        client, candidates = etcd_client_files(root, config, effective, to_host)
        if client is None:
            return endpoint, None, "no etcd client certificate found (looked for %s)" % ", ".join(
                cert for cert, _key, _ca in candidates)
        try:
            post = etcd_json_client(*(on_host(root, path) for path in client))
        except (OSError, ssl.SSLError) as exc:
            return endpoint, None, "cannot load the etcd client certificate %s: %s" % (client[0], exc)
    return endpoint, post, None


def sample_etcd(root, config, effective, to_host, endpoint, sample_size, post, known_prefixes):
    endpoint, post, error = etcd_access(root, config, effective, to_host, endpoint, post)
    if error:
        return {"endpoint": endpoint, "error": error, "total_keys": None, "sampled": 0, "prefixes": []}
    return etcd_sample(endpoint, post, sample_size, effective.get("etcd-prefix") or DEFAULT_ETCD_PREFIX,
                       known_prefixes)
