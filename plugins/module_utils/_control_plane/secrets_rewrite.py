# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Rewrite every Secret through the API so that it is stored with the first provider of the encryption
configuration: the documented ``kubectl get secrets -A -o json | kubectl replace -f -`` (control-plane.md 1.3),
with a check that nothing was lost or altered on the way.

Each Secret is written back unchanged (PUT with the resourceVersion it was read with). The API server writes to
etcd only when the stored form is stale (another key, or plain text), so Secrets already stored with the first
provider cost a request but no etcd write. On 409 Conflict the Secret is read again and the fresh version written;
on 404 it was deleted meanwhile.

Integrity: the *content hash* of a Secret is the sha256 of the canonical JSON (sorted keys, no spaces) of what a
user sees of it: ``type`` (default Opaque), ``data`` (base64 values as the API returns them), ``immutable``
(default false), ``metadata.labels`` and ``metadata.annotations`` (missing maps as empty). The *digest* of a set
of Secrets is the sha256 of the sorted lines ``namespace/name:hash``. After the rewrite every Secret is listed
again; a Secret seen before that is gone (and was not found deleted during the rewrite) is *lost*, one whose
content differs from what was written while nobody else wrote it since (same resourceVersion) is *altered*. A
Secret another client changed after the rewrite wrote it (newer resourceVersion) is counted as changed meanwhile.

Secret data never leaves this module: results and messages carry counts, names (namespace/name), hashes of the
whole set and API status reasons, and API messages are cleaned of any value of the Secret concerned.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import time

from ansible_collections.kubecompass.readiness.plugins.module_utils import _apply
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

DEFAULT_RETRIES = 5
DEFAULT_PAGE_SIZE = 100
# At most this many names in one message; the result lists them all.
NAMES_IN_MESSAGE = 20
REDACTED = "(redacted)"


# -- pure functions ------------------------------------------------------------------------------------------------

def secret_key(secret):
    metadata = secret.get("metadata") or {}
    return "%s/%s" % (metadata.get("namespace"), metadata.get("name"))


def content(secret):
    """What a user sees of a Secret, normalised: the input of content_hash."""
    metadata = secret.get("metadata") or {}
    return {"type": secret.get("type") or "Opaque", "data": secret.get("data") or {},
            "immutable": bool(secret.get("immutable")), "labels": metadata.get("labels") or {},
            "annotations": metadata.get("annotations") or {}}


def content_hash(secret):
    """sha256 (hex) of the canonical JSON of content(secret): independent of key order and of missing versus empty
    maps, changed by any change of a value, a key, the type, immutability, a label or an annotation."""
    canonical = json.dumps(content(secret), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def index(secrets):
    """{namespace/name: {"hash", "rv"}} of listed Secrets."""
    return {secret_key(secret): {"hash": content_hash(secret),
                                 "rv": (secret.get("metadata") or {}).get("resourceVersion")}
            for secret in secrets}


def digest(indexed):
    """sha256 over the sorted lines namespace/name:hash, as "sha256:<hex>": one value for the whole set."""
    lines = "".join("%s:%s\n" % (key, indexed[key]["hash"]) for key in sorted(indexed))
    return "sha256:" + hashlib.sha256(lines.encode("utf-8")).hexdigest()


def compare(before, after, written, deleted):
    """Sort every Secret of ``before`` and ``after`` (index() maps) into the integrity verdict.

    ``written`` maps namespace/name to {"hash": content as sent, "stored_hash": content the server answered,
    "rv": resourceVersion it answered} for every successful PUT; ``deleted`` holds the names that were not found
    while being rewritten. Returns sorted name lists: lost, altered (problems), deleted_meanwhile,
    created_meanwhile, changed_meanwhile (not problems).
    """
    verdict = {"lost": [], "altered": [], "deleted_meanwhile": [], "created_meanwhile": [], "changed_meanwhile": []}
    deleted = set(deleted)
    for key in sorted(before):
        now = after.get(key)
        if key in deleted:
            verdict["deleted_meanwhile"].append(key)
            if now is not None:
                verdict["created_meanwhile"].append(key)  # deleted, then created again under the same name
            continue
        if now is None:
            verdict["lost"].append(key)
            continue
        write = written.get(key)
        if write is not None and write["stored_hash"] != write["hash"]:
            verdict["altered"].append(key)  # the server stored something else than what was sent
            continue
        expected = {"hash": write["hash"], "rv": write["rv"]} if write is not None else before[key]
        if now["rv"] != expected["rv"]:
            verdict["changed_meanwhile"].append(key)
        elif now["hash"] != expected["hash"]:
            verdict["altered"].append(key)
    verdict["created_meanwhile"].extend(key for key in sorted(after) if key not in before)
    verdict["created_meanwhile"].sort()
    return verdict


def _secret_values(secrets):
    """Every value of the Secrets as listed (base64) and decoded (4 characters or more), longest first."""
    values = set()
    for secret in secrets:
        for value in ((secret or {}).get("data") or {}).values():
            if not isinstance(value, str) or not value:
                continue
            values.add(value)
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                continue
            if len(decoded.strip()) >= 4:
                values.add(decoded)
    return sorted(values, key=len, reverse=True)


def redact(text, secrets):
    """``text`` (an API message, which an admission webhook may have written) without any value of ``secrets``
    (a Secret or a list of them)."""
    text = str(text)
    for value in _secret_values([secrets] if isinstance(secrets, dict) else secrets or []):
        text = text.replace(value, REDACTED)
    return text


def names(keys, limit=NAMES_IN_MESSAGE):
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (" and %d more" % (len(keys) - limit) if len(keys) > limit else "")


def _failures_text(failed, limit=NAMES_IN_MESSAGE):
    text = "; ".join("%s (%s)" % (entry["secret"], entry["error"]) for entry in failed[:limit])
    return text + ("; and %d more" % (len(failed) - limit) if len(failed) > limit else "")


def put_body(secret):
    """The Secret written back as read: apiVersion and kind set, the resourceVersion kept."""
    body = dict(secret)
    body["apiVersion"], body["kind"] = "v1", "Secret"
    return body


def secret_path(key):
    namespace, _sep, name = key.partition("/")
    return "/api/v1/namespaces/%s/secrets/%s" % (namespace, name)


# -- API -----------------------------------------------------------------------------------------------------------

def _status_text(status, body, secrets):
    """Status code, reason and the API message without any value of ``secrets`` (every Secret read: a message
    about one Secret could quote another)."""
    if not isinstance(body, dict):
        return "HTTP %s" % status
    reason = body.get("reason") or "HTTP %s" % status
    message = body.get("message")
    return "%s %s%s" % (status, reason, ": " + redact(message, secrets)[:300] if message else "")


def list_secrets(client, namespaces=None, page_size=DEFAULT_PAGE_SIZE, when="before"):
    """Every Secret (one cluster-wide paged LIST, or one per namespace); list failures name the step."""
    paths = (["/api/v1/secrets"] if not namespaces
             else ["/api/v1/namespaces/%s/secrets" % namespace for namespace in namespaces])
    secrets = []
    for path in paths:
        try:
            secrets.extend(client.list(path, page_size=page_size))
        except KubeCompassError as exc:
            if exc.status == 410:
                raise KubeCompassError("listing Secrets %s the rewrite took longer than the list's continue token "
                                       "lives (410 Gone); use a larger page_size" % when, "api", 410) from None
            if when == "after" and exc.status and exc.status >= 500:
                raise KubeCompassError("listing Secrets after the rewrite failed (%s); a Secret that cannot be "
                                       "decrypted makes the list fail: check the encryption configuration of every "
                                       "API server" % exc, "integrity", exc.status) from None
            raise
    return secrets


def rewrite_one(client, secret, retries, known=()):
    """PUT one Secret back unchanged, retrying conflicts with a fresh read. API messages are cleaned of the values
    of this Secret and of ``known`` (the other Secrets read).

    Returns (outcome, write, conflicts) where outcome is "rewritten", "deleted" or "failed: <status text>", write is
    {"hash", "stored_hash", "rv"} for a rewrite, and conflicts counts the 409 answers retried.
    """
    key = secret_key(secret)
    current = secret
    conflicts = 0

    def status_text(status, body):
        return _status_text(status, body, [secret, current] + list(known))

    while True:
        status, answer, _headers = client.request("PUT", secret_path(key), body=put_body(current))
        if status < 300:
            stored = answer if isinstance(answer, dict) and "metadata" in answer else current
            return "rewritten", {"hash": content_hash(current), "stored_hash": content_hash(stored),
                                 "rv": (stored.get("metadata") or {}).get("resourceVersion")}, conflicts
        if status == 404:
            return "deleted", None, conflicts
        if status == 401:
            raise KubeCompassError("the API server rejected the credentials (401) while rewriting Secret %s" % key,
                                   "unauthorized", status)
        if status == 403:
            # Every further Secret would most likely be refused too: stop instead of sending thousands of requests.
            raise KubeCompassError("forbidden to rewrite Secret %s (%s); the rewrite needs list, get and update on "
                                   "secrets in every namespace it covers" % (key, status_text(status, answer)),
                                   "forbidden", status)
        if status != 409 or conflicts >= retries:
            return "failed: %s" % status_text(status, answer), None, conflicts
        conflicts += 1
        status, fresh, _headers = client.request("GET", secret_path(key))
        if status == 404:
            return "deleted", None, conflicts
        if status >= 300:
            return "failed: reading again after a conflict: %s" % status_text(status, fresh), None, conflicts
        current = fresh


def rewrite(client, namespaces=None, retries=DEFAULT_RETRIES, page_size=DEFAULT_PAGE_SIZE, check_mode=False,
            clock=time.monotonic, keep_alive=None):
    """List, rewrite each Secret, list again and compare. Returns the module result; raises KubeCompassError
    (category "integrity" for lost or altered Secrets, "rewrite_failed" when some could not be rewritten) with the
    result attached as ``exc.result``.

    ``keep_alive`` (the cluster lock's Renewal) is called before each Secret is written and before the list
    after: a rewrite of many Secrets outlasts any fixed lock duration, and it stops as soon as the lock is lost."""
    started = clock()
    before_list = list_secrets(client, namespaces, page_size, "before")
    before = index(before_list)
    result = {"changed": False, "count_before": len(before), "digest_before": digest(before), "count_after": None,
              "digest_after": None, "rewritten": 0, "would_rewrite": 0, "conflicts_retried": 0,
              "deleted_meanwhile": 0, "created_meanwhile": 0, "changed_meanwhile": 0, "lost": [], "altered": [],
              "failed_secrets": [], "scope": list(namespaces) if namespaces else "all namespaces"}
    if check_mode:
        result["would_rewrite"] = len(before)
        # A check-mode gate must see that this step still has work to do.
        result["changed"] = bool(before)
        result["seconds"] = round(clock() - started, 1)
        return result
    written, deleted, failed = {}, [], []
    try:
        for secret in sorted(before_list, key=secret_key):
            if keep_alive is not None:
                keep_alive()
            outcome, write, conflicts = rewrite_one(client, secret, retries, before_list)
            result["conflicts_retried"] += conflicts
            if outcome == "rewritten":
                written[secret_key(secret)] = write
                result["rewritten"] = len(written)
                result["changed"] = True
            elif outcome == "deleted":
                deleted.append(secret_key(secret))
            else:
                failed.append({"secret": secret_key(secret), "error": outcome[len("failed: "):]})
        if keep_alive is not None:
            keep_alive()
    except KubeCompassError as exc:
        result.update(failed_secrets=failed, deleted_meanwhile=len(deleted), seconds=round(clock() - started, 1))
        exc.result = result
        raise
    after = index(list_secrets(client, namespaces, page_size, "after"))
    verdict = compare(before, after, written, deleted)
    result.update(count_after=len(after), digest_after=digest(after), lost=verdict["lost"],
                  altered=verdict["altered"], failed_secrets=failed,
                  deleted_meanwhile=len(verdict["deleted_meanwhile"]),
                  created_meanwhile=len(verdict["created_meanwhile"]),
                  changed_meanwhile=len(verdict["changed_meanwhile"]),
                  seconds=round(clock() - started, 1))
    problems = []
    if verdict["lost"]:
        problems.append("%d Secret(s) lost (present before, absent after, not deleted by anyone during the "
                        "rewrite as far as it saw): %s" % (len(verdict["lost"]), names(verdict["lost"])))
    if verdict["altered"]:
        problems.append("%d Secret(s) altered (content differs from what was written back): %s"
                        % (len(verdict["altered"]), names(verdict["altered"])))
    if problems:
        exc = KubeCompassError("integrity check after rewriting %d Secrets failed: %s"
                               % (len(written), "; ".join(problems)), "integrity")
        exc.result = result
        raise exc
    if failed:
        exc = KubeCompassError("%d of %d Secrets could not be rewritten (the others were): %s"
                               % (len(failed), len(before), _failures_text(failed)), "rewrite_failed")
        exc.result = result
        raise exc
    return result


# Where a rewrite under a key this collection cannot see on the API servers (a managed cluster's KMS key) is
# recorded as done.
RECORD_NAMESPACE, RECORD_NAME = "kube-system", "kubecompass-secrets-rewrite"


def record_object(key):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": RECORD_NAME, "namespace": RECORD_NAMESPACE,
                         "labels": {"app.kubernetes.io/managed-by": "kubecompass"}},
            "data": {"key": key}}


def recorded_key(client):
    record = _apply.get(client, "/api/v1/namespaces/%s/configmaps/%s" % (RECORD_NAMESPACE, RECORD_NAME))
    return ((record or {}).get("data") or {}).get("key")


def rewrite_once_per_key(client, key, namespaces=None, retries=DEFAULT_RETRIES, page_size=DEFAULT_PAGE_SIZE,
                         check_mode=False, keep_alive=None):
    """Rewrite every Secret unless the record says it was done under ``key``; record ``key`` after a rewrite
    that succeeded (rewrite raises otherwise, and the record stays as it was so the next run tries again)."""
    before = recorded_key(client)
    if before == key:
        return {"changed": False, "recorded_key": before, "rewritten": 0, "would_rewrite": 0,
                "scope": list(namespaces) if namespaces else "all namespaces"}
    result = rewrite(client, namespaces, retries, page_size, check_mode, keep_alive=keep_alive)
    _apply.apply(client, record_object(key), check_mode)
    result.update(recorded_key=before, changed=True)
    return result
