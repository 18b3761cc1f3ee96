# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Encryption of Secrets at rest: the EncryptionConfiguration model, its rendering and parsing, and the planner
that moves every control-plane node from whatever their configs and an etcd scan show to a target key.

The planner follows the upstream two-phase procedure (control-plane.md 1.4): add the new key second everywhere,
promote it first everywhere, rewrite every Secret, then drop what no object uses any more. First-time enablement
is the same walk starting from ``identity``. State is derived only from the node configs and the etcd scan, so a
rerun after an interruption continues where the last run stopped. No step ever yields a config that lacks a key
some object may be written with (control-plane.md 4 and 5, "never drop the new key").

Key material lives only in ``Key`` objects: their repr hides it, error messages never quote it, ``summary()``
reduces a config to key names, and the secret comes out only through ``Key.secret()`` (and the rendered file).
Pure code: the only call outside Python objects is os.urandom in new_key().
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import os
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.encryption import (
    KEY_SIZES,
    KEYED_PROVIDERS,
    PROVIDER_KINDS,
    STRONG_PROVIDERS,
    covers_secrets,
    names_secrets,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.encryption import summarize_encryption_config
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import DocumentError, load_document

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
KEY_NAME_PREFIX = "kubecompass-"
KEY_BYTES = 32
# Providers a new key may be generated for: the keyed strong ones (secretbox, aescbc); aesgcm needs rotation every
# 200k writes, so it is read, never chosen.
NEW_KEY_PROVIDERS = tuple(kind for kind in PROVIDER_KINDS if kind in KEYED_PROVIDERS and kind in STRONG_PROVIDERS)
# The etcd scan's class for values stored without encryption (_node.etcd.classify_value), which only the identity
# provider reads; "unknown" is a value of no recognised format.
PLAINTEXT = "plaintext"
UNKNOWN = "unknown"
_GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|\u00b5s|ms|s|m|h))+$")
_PLAIN_SCALAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
_YAML_WORDS = ("y", "n", "yes", "no", "true", "false", "on", "off", "null")
_KEY_TIME = "%Y%m%dT%H%M%SZ"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_LABEL = re.compile(r"^k8s:enc:(aescbc|aesgcm|secretbox|kms):(v1|v2):(.+)$")

# Rotation states, derived from the node configs and the etcd scan (see next_step).
NOT_ENCRYPTED = "NOT_ENCRYPTED"            # no config, or identity writes, and the target key is on no node
ADD_NEW_KEY_SECOND = "ADD_NEW_KEY_SECOND"  # another key writes; the target key is on no node
PROMOTE = "PROMOTE"                        # the target key is on every node, not first
REWRITE = "REWRITE"                        # the target key writes everywhere; etcd holds objects under others
DROP_OLD_KEY = "DROP_OLD_KEY"              # etcd holds only target-key objects; configs still list other keys
DONE = "DONE"                              # final config on every node, every object under the target key
MIXED = "MIXED"                            # nodes disagree: align them on the most advanced safe config
BLOCKED = "BLOCKED"                        # no safe automatic step; the reason says what an operator must do
STATES = (NOT_ENCRYPTED, ADD_NEW_KEY_SECOND, PROMOTE, REWRITE, DROP_OLD_KEY, DONE, MIXED, BLOCKED)
# The step each state calls for.
STEP_NAMES = {NOT_ENCRYPTED: "add_new_key_second", ADD_NEW_KEY_SECOND: "add_new_key_second",
              PROMOTE: "promote_new_key", REWRITE: "rewrite_secrets", DROP_OLD_KEY: "drop_old_keys",
              DONE: "none", MIXED: "align_nodes", BLOCKED: "none"}


class ConfigError(KubeCompassError):
    """An EncryptionConfiguration that cannot be used. The message never quotes key material."""

    def __init__(self, message):
        super(ConfigError, self).__init__(message, "encryption_config")


# -- keys -----------------------------------------------------------------------------------------------------------

def new_key():
    """A new 32-byte key from the operating system's CSPRNG, base64 encoded as EncryptionConfiguration wants it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def key_name(now, existing=()):
    """A stable name that sorts by creation, e.g. ``kubecompass-20261122T031500Z``, for an aware datetime; never at
    or before an ``existing`` kubecompass name, so a clock corrected backwards cannot make an old key look newer
    (the name then is the newest existing one plus one second)."""
    if not isinstance(now, datetime.datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("key_name needs a timezone-aware datetime")
    name = KEY_NAME_PREFIX + now.astimezone(datetime.timezone.utc).strftime(_KEY_TIME)
    ours = sorted(item for item in existing if str(item).startswith(KEY_NAME_PREFIX))
    if not ours or name > ours[-1]:
        return name
    newest = max((_key_time(item) for item in ours), default=None, key=lambda when: when or _EPOCH)
    name = KEY_NAME_PREFIX + ((newest or now) + datetime.timedelta(seconds=1)).strftime(_KEY_TIME)
    if name <= ours[-1]:
        raise ValueError("cannot name a new key after %s: rename that key or pass the rotation target" % ours[-1])
    return name


def _key_time(name):
    try:
        return datetime.datetime.strptime(name[len(KEY_NAME_PREFIX):], _KEY_TIME).replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


class Key:
    """One named key of a secretbox/aescbc/aesgcm provider. The secret comes out only through ``secret()``."""

    __slots__ = ("name", "_secret")

    def __init__(self, name, secret):
        if not isinstance(name, str) or not name:
            raise ConfigError("a key needs a non-empty name")
        if not isinstance(secret, str) or not secret:
            raise ConfigError("key %s has no secret" % name)
        self.name = name
        self._secret = secret

    def secret(self):
        """The base64 key material: for writing the config file only, never for output."""
        return self._secret

    def fingerprint(self):
        """SHA-256 of the name and material (first 16 hex digits): tells keys apart in records and output, and
        reveals nothing of a 32-byte random key."""
        digest = hashlib.sha256(("kubecompass-key\0%s\0%s" % (self.name, self._secret)).encode("utf-8"))
        return digest.hexdigest()[:16]

    def decoded_length(self):
        """Length in bytes of the decoded secret, or None when it is not valid base64."""
        try:
            return len(base64.b64decode(self._secret.encode("ascii"), validate=True))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None

    def __eq__(self, other):
        if not isinstance(other, Key):
            return NotImplemented
        return self.name == other.name and hmac.compare_digest(self._secret.encode("utf-8"),
                                                               other._secret.encode("utf-8"))

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self):
        return hash(("Key", self.name))

    def __repr__(self):
        return "Key(name=%r, secret=<hidden>)" % self.name

    __str__ = __repr__

    def __reduce__(self):
        # Pickling (multiprocessing, caches) would carry the secret somewhere nobody reviewed.
        raise TypeError("Key objects hold key material and cannot be pickled")


# -- providers, rules, configs --------------------------------------------------------------------------------------

class Provider:
    """One entry of a providers list: keyed (secretbox, aescbc, aesgcm) with ordered keys, kms, or identity."""

    __slots__ = ("kind", "keys", "name", "endpoint", "timeout", "api_version", "cachesize")

    def __init__(self, kind, keys=(), name=None, endpoint=None, timeout=None, api_version=None, cachesize=None):
        if kind not in PROVIDER_KINDS:
            raise ConfigError("unknown provider type %s" % kind if isinstance(kind, str) and kind.isalnum()
                              else "unknown provider type")
        self.kind = kind
        self.keys = tuple(keys)
        self.name = name
        self.endpoint = endpoint
        self.timeout = timeout
        self.api_version = api_version
        self.cachesize = cachesize
        if kind in KEYED_PROVIDERS:
            if not self.keys or not all(isinstance(key, Key) for key in self.keys):
                raise ConfigError("%s needs at least one key" % kind)
            names = [key.name for key in self.keys]
            if len(set(names)) != len(names):
                raise ConfigError("%s lists a key name twice" % kind)
        elif self.keys:
            raise ConfigError("%s takes no keys" % kind)
        if kind == "kms":
            if not isinstance(name, str) or not name or ":" in name:
                raise ConfigError("kms needs a name without ':'")
            if not isinstance(endpoint, str) or not endpoint.startswith("unix://"):
                raise ConfigError("kms %s needs an endpoint unix:///path/to/socket" % name)
            if api_version not in ("v1", "v2"):
                raise ConfigError("kms %s: apiVersion must be v1 or v2" % name)
            if timeout is not None and not (isinstance(timeout, str) and _GO_DURATION.match(timeout)):
                raise ConfigError("kms %s: timeout must be a duration such as 3s" % name)

    @classmethod
    def keyed(cls, kind, keys):
        if kind not in KEYED_PROVIDERS:
            raise ConfigError("%s is not a keyed provider" % kind)
        return cls(kind, keys=keys)

    @classmethod
    def kms(cls, name, endpoint, timeout="3s"):
        """A KMS v2 provider (GA in 1.29; v1 is deprecated and only read back, never generated)."""
        return cls("kms", name=name, endpoint=endpoint, timeout=timeout, api_version="v2")

    @classmethod
    def identity(cls):
        return cls("identity")

    def labels(self):
        """What each key of this provider writes in etcd, as the scan classifies it: k8s:enc:<type>:<v>:<name>."""
        if self.kind in KEYED_PROVIDERS:
            return ["k8s:enc:%s:v1:%s" % (self.kind, key.name) for key in self.keys]
        if self.kind == "kms":
            return ["k8s:enc:kms:%s:%s" % (self.api_version, self.name)]
        return [PLAINTEXT]

    def split(self):
        """One provider per label, in order (a keyed provider with keys a, b becomes two)."""
        if self.kind in KEYED_PROVIDERS:
            return [Provider(self.kind, keys=[key]) for key in self.keys]
        return [self]

    def to_document(self):
        """The provider as EncryptionConfiguration data, key material included (for rendering the file)."""
        if self.kind in KEYED_PROVIDERS:
            return {self.kind: {"keys": [{"name": key.name, "secret": key.secret()} for key in self.keys]}}
        if self.kind == "kms":
            body = {"apiVersion": self.api_version, "name": self.name, "endpoint": self.endpoint}
            if self.timeout is not None:
                body["timeout"] = self.timeout
            if self.cachesize is not None:
                body["cachesize"] = self.cachesize
            return {"kms": body}
        return {"identity": {}}

    def _fields(self):
        return (self.kind, self.keys, self.name, self.endpoint, self.timeout, self.api_version, self.cachesize)

    def __eq__(self, other):
        if not isinstance(other, Provider):
            return NotImplemented
        return self._fields() == other._fields()

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self):
        return hash((self.kind, tuple(key.name for key in self.keys), self.name))

    def __repr__(self):
        if self.kind in KEYED_PROVIDERS:
            return "Provider(%s, keys=%r)" % (self.kind, list(self.keys))
        if self.kind == "kms":
            return "Provider(kms, name=%r, endpoint=%r, api_version=%r)" % (self.name, self.endpoint, self.api_version)
        return "Provider(identity)"


class Rule:
    """One entry of ``resources``: the resources it covers and their ordered providers."""

    __slots__ = ("resources", "providers")

    def __init__(self, resources, providers):
        self.resources = tuple(str(resource) for resource in resources)
        self.providers = tuple(providers)
        if not self.resources:
            raise ConfigError("a resources entry needs at least one resource")
        if not self.providers or not all(isinstance(provider, Provider) for provider in self.providers):
            raise ConfigError("resources entry %s needs at least one provider" % ", ".join(self.resources))

    def selects_secrets(self):
        return any(covers_secrets(resource) for resource in self.resources)

    def to_document(self):
        return {"resources": list(self.resources), "providers": [p.to_document() for p in self.providers]}

    def __eq__(self, other):
        if not isinstance(other, Rule):
            return NotImplemented
        return (self.resources, self.providers) == (other.resources, other.providers)

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self):
        return hash(self.resources)

    def __repr__(self):
        return "Rule(resources=%r, providers=%r)" % (list(self.resources), list(self.providers))


class EncryptionConfig:
    """An EncryptionConfiguration: ordered rules; the first rule selecting ``secrets`` is the one for Secrets."""

    __slots__ = ("rules",)

    def __init__(self, rules):
        self.rules = tuple(rules)

    @classmethod
    def for_secrets(cls, providers):
        return cls([Rule(["secrets"], providers)])

    def secrets_rule(self):
        return next((rule for rule in self.rules if rule.selects_secrets()), None)

    def secrets_providers(self):
        """The providers Secrets go through; a config with no rule for them stores Secrets as plaintext."""
        rule = self.secrets_rule()
        return rule.providers if rule is not None else (Provider.identity(),)

    def without_secrets(self):
        """The rules for everything else: explicit ``secrets`` entries removed, wildcard rules kept as they are."""
        rules = []
        for rule in self.rules:
            names = [name for name in rule.resources if not names_secrets(name)]
            if names:
                rules.append(rule if len(names) == len(rule.resources) else Rule(names, rule.providers))
        return tuple(rules)

    def with_secrets_providers(self, providers):
        """This config with Secrets served by ``providers`` through a dedicated rule placed first, so no earlier
        wildcard masks it; every other resource keeps exactly its rule and keys."""
        return EncryptionConfig((Rule(["secrets"], providers),) + self.without_secrets())

    def to_document(self):
        return {"apiVersion": API_VERSION, "kind": KIND, "resources": [rule.to_document() for rule in self.rules]}

    def render(self):
        """The file content (YAML, deterministic). Contains key material: write it 0600, never print it."""
        return "\n".join(_yaml_lines(self.to_document())) + "\n"

    def summary(self):
        """Resources and providers with key names only (_node.encryption.summarize_encryption_config)."""
        return summarize_encryption_config(self.to_document())

    def fingerprint(self):
        """SHA-256 of the rendered file, to show that every node holds the same config without showing it."""
        return hashlib.sha256(self.render().encode("utf-8")).hexdigest()

    def __eq__(self, other):
        if not isinstance(other, EncryptionConfig):
            return NotImplemented
        return self.rules == other.rules

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self):
        return hash(self.rules)

    def __repr__(self):
        return "EncryptionConfig(%r)" % (list(self.rules),)


def render_config(providers):
    """The EncryptionConfiguration file for Secrets with this ordered provider list (or for a whole
    EncryptionConfig)."""
    if isinstance(providers, EncryptionConfig):
        return providers.render()
    return EncryptionConfig.for_secrets(providers).render()


# -- YAML rendering (standard library only; every string that is not a plain identifier is JSON-quoted, which is
# valid YAML and keeps base64 secrets and socket URLs unambiguous) ---------------------------------------------------

def _scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _PLAIN_SCALAR.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)


def _yaml_lines(value, indent=0):
    pad = " " * indent
    if isinstance(value, dict) and value:
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append("%s%s:" % (pad, _scalar(key)))
                lines.extend(_yaml_lines(item, indent + 2))
            else:
                lines.append("%s%s: %s" % (pad, _scalar(key), _inline(item)))
        return lines
    if isinstance(value, list) and value:
        lines = []
        for item in value:
            nested = _yaml_lines(item, indent + 2)
            lines.append(pad + "- " + nested[0][indent + 2:])
            lines.extend(nested[1:])
        return lines
    return [pad + _inline(value)]


def _inline(value):
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


# -- parsing --------------------------------------------------------------------------------------------------------

def parse_config(text):
    """An EncryptionConfig from a file's content, YAML or JSON (RKE2 and k3s write JSON). Keys keep their secrets
    (the same keys must stay on every node across runs); ConfigError names the problem, never a value."""
    try:
        document = load_document(text)
    except DocumentError as exc:
        raise ConfigError(str(exc)) from None
    return config_from_document(document)


def config_from_document(document):
    summary = summarize_encryption_config(document)
    if not summary["valid"]:
        raise ConfigError(summary["error"])
    rules = []
    for index, entry in enumerate(document["resources"]):
        providers = []
        for position, item in enumerate(entry["providers"]):
            kind, body = next(iter(item.items()))
            providers.append(_provider_from(kind, body if isinstance(body, dict) else {},
                                            "resources[%d].providers[%d]" % (index, position)))
        rules.append(Rule([str(name) for name in entry["resources"]], providers))
    return EncryptionConfig(rules)


def _provider_from(kind, body, where):
    if kind in KEYED_PROVIDERS:
        keys = []
        for item in body.get("keys") or []:
            name, secret = str(item.get("name")), item.get("secret")
            if not isinstance(secret, str) or not secret:
                raise ConfigError("%s: %s key %s has no secret" % (where, kind, name))
            key = Key(name, secret)
            if key.decoded_length() not in KEY_SIZES[kind]:
                raise ConfigError("%s: %s key %s is not base64 of %s bytes" % (
                    where, kind, name, " or ".join(str(size) for size in KEY_SIZES[kind])))
            keys.append(key)
        return Provider(kind, keys=keys)
    if kind == "kms":
        timeout = body.get("timeout")
        try:
            return Provider("kms", name=body.get("name"), endpoint=body.get("endpoint"),
                            timeout=None if timeout is None else str(timeout),
                            api_version=str(body.get("apiVersion") or "v1"), cachesize=body.get("cachesize"))
        except ConfigError as exc:
            raise ConfigError("%s: %s" % (where, exc)) from None
    return Provider.identity()


# -- decoders: a config's Secrets providers as one entry per key, the unit the planner reasons in ------------------

def _as_config(value):
    if value is None or isinstance(value, EncryptionConfig):
        return value
    if isinstance(value, str):
        return parse_config(value)
    raise TypeError("a node config must be an EncryptionConfig, its file content, or None (no config)")


def decoders(config):
    """The single-key providers that read Secrets on a node, writer first; None (no config) reads plaintext."""
    result, seen = [], set()
    providers = config.secrets_providers() if config is not None else (Provider.identity(),)
    for provider in providers:
        for part in provider.split():
            label = part.labels()[0]
            if label not in seen:
                seen.add(label)
                result.append(part)
    return result


def labels(config):
    """Prefix classes a node's config reads, writer first, e.g. ["k8s:enc:secretbox:v1:k2", "plaintext"]."""
    return [part.labels()[0] for part in decoders(config)]


def removed_labels(node_configs, step):
    """The labels ``step`` removes from some node (every node: aligning MIXED nodes removes keys too)."""
    removed = set()
    for node, config in node_configs.items():
        removed |= set(labels(_as_config(config))) - set(labels(step.desired_config_per_node[node]))
    return removed


def _group(parts):
    """Single-key providers back into providers: consecutive keys of one keyed type share a provider."""
    providers = []
    for part in parts:
        if providers and part.kind in KEYED_PROVIDERS and providers[-1].kind == part.kind:
            providers[-1] = Provider(part.kind, keys=providers[-1].keys + part.keys)
        else:
            providers.append(part)
    return providers


# -- etcd scan ------------------------------------------------------------------------------------------------------

def scan_summary(etcd_sample):
    """A scan summary (``{"by_prefix": {class: count}, "total", "complete", "error"}``) from a node facts
    ``etcd_sample``; complete only when every key under the secrets prefix was read."""
    counts = {}
    for entry in etcd_sample.get("prefixes") or []:
        counts[entry["encoding"]] = counts.get(entry["encoding"], 0) + 1
    total = etcd_sample.get("total_keys")
    sampled = len(etcd_sample.get("prefixes") or [])
    return {"by_prefix": counts, "total": total, "complete": etcd_sample.get("error") is None and total == sampled,
            "error": etcd_sample.get("error")}


def _normalize_scan(etcd_scan):
    if etcd_scan is None:
        return {"by_prefix": {}, "complete": False, "error": None, "missing": True, "total": None}
    by_prefix = etcd_scan.get("by_prefix") or {}
    if not isinstance(by_prefix, dict):
        raise ValueError("etcd_scan.by_prefix must map storage prefixes to counts, not %r" % (by_prefix,))
    counts = {}
    for label, count in by_prefix.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("etcd scan count for %s must be a non-negative integer" % label)
        label = str(label).rstrip(":")
        counts[label] = counts.get(label, 0) + count
    error = etcd_scan.get("error")
    total = etcd_scan.get("total")
    complete = bool(etcd_scan.get("complete", True)) and not error and (total is None or total == sum(counts.values()))
    return {"by_prefix": counts, "complete": complete, "error": error, "missing": False,
            "total": total if total is not None else sum(counts.values())}


def _normalize_label(prefix):
    label = str(prefix).strip().rstrip(":")
    match = _LABEL.match(label)
    if not match or (match.group(1) != "kms" and match.group(2) != "v1"):
        raise ValueError("expected prefix must look like k8s:enc:<provider>:v1:<key name> or k8s:enc:kms:v2:<name>")
    return label


def _describe_counts(counts):
    return ", ".join("%d %s" % (counts[label], label) for label in sorted(counts))


def verify_prefixes(etcd_scan, expected_prefix):
    """(ok, message): does every key under <etcd prefix>/secrets carry ``expected_prefix`` followed by ':'?"""
    expected = _normalize_label(expected_prefix)
    scan = _normalize_scan(etcd_scan)
    where = "%s/secrets" % str((etcd_scan or {}).get("prefix") or "/registry").rstrip("/")
    if scan["missing"]:
        return False, "no etcd scan of %s was made" % where
    if scan["error"]:
        return False, "the etcd scan of %s failed: %s" % (where, scan["error"])
    counts = scan["by_prefix"]
    seen = sum(counts.values())
    if not scan["complete"]:
        return False, "the etcd scan read %d of %s keys under %s: only a complete scan proves every key" % (
            seen, scan["total"], where)
    others = {label: count for label, count in counts.items() if label != expected and count}
    if others:
        return False, "%d of %d keys under %s do not carry %s (%s)" % (
            sum(others.values()), seen, where, expected + ":", _describe_counts(others))
    if not seen:
        return True, "there are no keys under %s" % where
    return True, "all %d keys under %s carry %s" % (seen, where, expected + ":")


# -- the rotation planner ---------------------------------------------------------------------------------------------

class Target:
    """Where the rotation ends: ``provider`` writes (a keyed provider with exactly its one new key, or a KMS v2
    provider); ``drop_identity`` also removes a trailing identity once no plaintext object remains; ``keep`` names
    labels that stay as decrypt-only entries after the writer (retired keys a retained etcd snapshot still needs)."""

    __slots__ = ("provider", "drop_identity", "keep")

    def __init__(self, provider, drop_identity=False, keep=()):
        if not isinstance(provider, Provider) or provider.kind == "identity":
            raise ValueError("the target must be an encrypting provider")
        if provider.kind in KEYED_PROVIDERS and len(provider.keys) != 1:
            raise ValueError("the target provider must hold exactly the one key it ends with")
        if provider.kind == "kms" and provider.api_version != "v2":
            raise ValueError("only KMS v2 can be a target (v1 is deprecated)")
        self.provider = provider
        self.drop_identity = bool(drop_identity)
        self.keep = tuple(label for label in keep if label not in (self.label, PLAINTEXT))

    @property
    def label(self):
        return self.provider.labels()[0]

    def final_labels(self, current):
        """The labels a node ends with, given its current ones: the target, the kept retired keys it still has (in
        its order, never first), plus identity when kept."""
        keep_identity = PLAINTEXT in current and not self.drop_identity
        kept = [label for label in current if label in self.keep]
        return [self.label] + kept + ([PLAINTEXT] if keep_identity else [])

    def __repr__(self):
        return "Target(%r, drop_identity=%r, keep=%r)" % (self.provider, self.drop_identity, list(self.keep))


def _describe(config):
    """What a desired config is, without its keys: its fingerprint and the prefixes it can read."""
    return None if config is None else {"fingerprint": config.fingerprint(), "providers": labels(config)}


class Step:
    """What to do next: the config every node should have (unchanged nodes keep theirs), whether the changed
    nodes must be rolled one at a time (restart, or wait for the automatic reload), and whether every Secret must
    then be rewritten through the API."""

    __slots__ = ("name", "state", "desired_config_per_node", "changed_nodes", "needs_restart", "needs_rewrite",
                 "reason", "expected_prefix")

    def __init__(self, state, desired, changed_nodes, needs_restart, needs_rewrite, reason, expected_prefix):
        self.name = STEP_NAMES[state]
        self.state = state
        self.desired_config_per_node = desired
        self.changed_nodes = tuple(changed_nodes)
        self.needs_restart = needs_restart
        self.needs_rewrite = needs_rewrite
        self.reason = reason
        self.expected_prefix = expected_prefix

    def to_dict(self):
        """For module output: configs reduced to key names and a fingerprint."""
        return {"name": self.name, "state": self.state, "changed_nodes": list(self.changed_nodes),
                "needs_restart": self.needs_restart, "needs_rewrite": self.needs_rewrite, "reason": self.reason,
                "expected_prefix": self.expected_prefix,
                "desired": {node: _describe(config) for node, config in sorted(self.desired_config_per_node.items())}}

    def __repr__(self):
        return "Step(%s, state=%s, changed=%r, restart=%r, rewrite=%r, reason=%r)" % (
            self.name, self.state, list(self.changed_nodes), self.needs_restart, self.needs_rewrite, self.reason)


def _show(label_list):
    return "[" + ", ".join(label_list) + "]"


def next_step(node_configs, etcd_scan, target):
    """The next step from ``node_configs`` ({node: EncryptionConfig | file text | None}, every control-plane node,
    each as its apiserver has loaded it) and ``etcd_scan`` (``{"by_prefix": {"k8s:enc:secretbox:v1:k1": n,
    "plaintext": m}}`` plus optional ``complete``/``total``/``error``; None when not scanned yet) toward
    ``target``. Steps that need no scan (adding or promoting a key) are planned without one."""
    if not node_configs:
        raise ValueError("next_step needs the config of every control-plane node")
    nodes = sorted(node_configs)
    configs = {node: _as_config(node_configs[node]) for node in nodes}
    scan = _normalize_scan(etcd_scan)
    parts = {node: decoders(configs[node]) for node in nodes}
    current = {node: [part.labels()[0] for part in parts[node]] for node in nodes}
    goal = target.label

    def step(state, desired=None, restart=False, rewrite=False, reason=""):
        desired = desired if desired is not None else dict(configs)
        changed = [node for node in nodes if desired[node] != configs[node]]
        return Step(state, desired, changed, restart and bool(changed), rewrite, reason, goal)

    # One key name must mean one key material on every node and in the target (control-plane.md 4, key drift).
    known = {}
    for node in nodes:
        for part in parts[node]:
            label = part.labels()[0]
            if label in known and known[label][0] != part:
                return step(BLOCKED, reason="%s differs between nodes %s and %s (same name, different key material "
                                            "or settings): restore one key source on every node"
                                            % (label, known[label][1], node))
            known.setdefault(label, (part, node))
    if goal in known and known[goal][0] != target.provider:
        return step(BLOCKED, reason="the nodes already hold %s with other key material or settings than the target: "
                                    "read the key back from the nodes instead of generating one" % goal)
    if len({configs[node].without_secrets() if configs[node] else () for node in nodes}) > 1:
        return step(BLOCKED, reason="the nodes' rules for resources other than secrets differ; align them first, "
                                    "this planner only changes the rule for secrets")
    if scan["error"]:
        return step(BLOCKED, reason="the etcd scan failed: %s" % scan["error"])
    present = {label: count for label, count in scan["by_prefix"].items() if count}
    unreadable = sorted(label for label in present if label not in known and label != UNKNOWN)
    if unreadable:
        return step(BLOCKED, reason="etcd holds Secrets that no node config can decrypt (%s): restore the key "
                                    "from a backup or delete those objects in etcd" % _describe_counts(
                                        {label: present[label] for label in unreadable}))

    def config_with(node, label_list):
        providers = _group([target.provider if label == goal else known[label][0] for label in label_list])
        return (configs[node] or EncryptionConfig(())).with_secrets_providers(providers)

    def every_node(label_list):
        return {node: config_with(node, label_list) for node in nodes}

    if len({tuple(current[node]) for node in nodes}) > 1:
        return _align(nodes, current, present, scan, target, config_with, step)

    now = current[nodes[0]]
    writer = now[0]
    if goal not in now:
        state = NOT_ENCRYPTED if writer == PLAINTEXT else ADD_NEW_KEY_SECOND
        wanted = now[:1] + [goal] + now[1:]
        return step(state, every_node(wanted), restart=True,
                    reason="%s writes; add %s second on every node so each apiserver can read it before any writes "
                           "with it: %s -> %s" % (writer, goal, _show(now), _show(wanted)))
    if writer != goal:
        wanted = [goal] + [label for label in now if label != goal]
        return step(PROMOTE, every_node(wanted), restart=True,
                    reason="every node can read %s; make it first so new writes use it: %s -> %s"
                           % (goal, _show(now), _show(wanted)))
    if present.get(UNKNOWN):
        return step(BLOCKED, reason="etcd holds %d Secrets of unknown format: no key can be removed until they are "
                                    "explained" % present[UNKNOWN])
    stale = {label: count for label, count in present.items() if label != goal}
    if stale:
        return step(REWRITE, rewrite=True,
                    reason="%s writes on every node; rewrite every Secret, etcd still holds %s" % (
                        goal, _describe_counts(stale)))
    if not scan["complete"]:
        return step(BLOCKED, reason="%s writes on every node, but only a complete etcd scan of the secrets can "
                                    "show that no object needs the other keys (%s)" % (
                                        goal, "no scan" if scan["missing"] else "scan incomplete"))
    final = target.final_labels(now)
    if now == final:
        return step(DONE, reason="every node has %s and all %d Secrets are under %s" % (
            _show(now), sum(present.values()), goal))
    return step(DROP_OLD_KEY, every_node(final), restart=True,
                reason="every Secret is under %s; remove what no object uses: %s -> %s" % (
                    goal, _show(now), _show(final)))


def _align(nodes, current, present, scan, target, config_with, step):
    """MIXED: bring every node to the most advanced node's config, plus every key that some node writes with or
    some object in etcd is under or a retained snapshot needs (every key any node has when the scan cannot prove
    which are unused)."""
    goal = target.label

    def phase(label_list):
        if goal not in label_list:
            return 0
        if label_list[0] != goal:
            return 1
        return 3 if label_list == target.final_labels(label_list) else 2

    needed = {current[node][0] for node in nodes} | {label for label in present if label != UNKNOWN}
    needed |= {label for node in nodes for label in current[node] if label in target.keep}
    if not scan["complete"] or present.get(UNKNOWN):
        needed |= {label for node in nodes for label in current[node]}
    base = max(nodes, key=lambda node: (phase(current[node]), len(needed & set(current[node]))))
    wanted = current[base] + sorted(needed - set(current[base]))
    desired = {node: config_with(node, wanted) for node in nodes}
    disagreement = "; ".join("%s %s" % (node, _show(current[node])) for node in nodes)
    extra = sorted(needed - set(current[base]))
    return step(MIXED, desired, restart=True,
                reason="nodes disagree (%s); bring every node to %s's config%s: %s" % (
                    disagreement, base, " plus %s, still in use" % ", ".join(extra) if extra else "",
                    _show(wanted)))


def current_kind(node_configs):
    """The provider kind to keep when none is asked for: the one that writes on every node when it is strong
    (secretbox, aescbc, KMS v2), so a compliant cluster is never moved to another provider by default; a
    kubecompass key resumed mid-rotation keeps its kind; otherwise secretbox."""
    configs = [_as_config(config) for config in node_configs.values()]
    for config in configs:
        for part in decoders(config):
            if part.kind in NEW_KEY_PROVIDERS and part.keys[0].name.startswith(KEY_NAME_PREFIX):
                return part.kind
    writers = {decoders(config)[0] for config in configs}
    if len(writers) == 1:
        writer = writers.pop()
        if writer.kind in NEW_KEY_PROVIDERS or (writer.kind == "kms" and writer.api_version == "v2"):
            return writer.kind
    return "secretbox"


def choose_target(node_configs, etcd_scan, kind, now, rotate=False, drop_identity=False, kms=None, resume=None,
                  keep=()):
    """The Target for this run, with the key read back from the nodes whenever one is there to read.

    A kubecompass key already on some node that the planner has not finished with is resumed (a rerun after an
    interruption must not generate a second new key). Without ``rotate``, the key that writes on every node is
    kept when it has the wanted provider type. Otherwise a new key is generated (new_key, key_name(now)).
    ``kind`` "kms" takes ``kms`` (Provider.kms) as it is; without ``kms`` the KMS v2 provider that writes on every
    node is kept (its keys rotate in the KMS, not here). ``kind`` None keeps what there is (current_kind).
    ``resume`` ({"name", "fingerprint"}, the rotation target recorded when its key was escrowed) is resumed exactly
    while some node holds it with the provider kind asked for (a change of provider, or to KMS, starts anew);
    ``keep`` goes to the Target (labels of retired keys kept decrypt-only).
    """
    configs = [_as_config(config) for config in node_configs.values()]
    if resume and not rotate and kind != "kms":
        recorded = [part for config in configs for part in decoders(config)
                    if part.kind in KEYED_PROVIDERS and part.keys[0].name == resume.get("name")
                    and kind in (None, part.kind)]
        if recorded:
            if recorded[0].keys[0].fingerprint() != resume.get("fingerprint"):
                raise ValueError("the nodes hold the recorded rotation target %s with other key material "
                                 "(fingerprint differs): restore the escrowed key" % resume.get("name"))
            return Target(recorded[0], drop_identity, keep)
    if kind is None:
        kind = current_kind(node_configs)
    if kind == "kms" and kms is None:
        writers = {decoders(_as_config(config))[0] for config in node_configs.values()}
        writer = writers.pop() if len(writers) == 1 else None
        if writer is None or writer.kind != "kms" or writer.api_version != "v2":
            raise ValueError("kind kms needs kms=Provider.kms(name, endpoint, timeout)")
        if rotate:
            raise ValueError("a KMS v2 key is rotated in the KMS itself; the apiserver follows its key ID")
        return Target(writer, drop_identity, keep)
    if kind == "kms":
        if not isinstance(kms, Provider) or kms.kind != "kms":
            raise ValueError("kind kms needs kms=Provider.kms(name, endpoint, timeout)")
        return Target(kms, drop_identity, keep)
    if kind not in NEW_KEY_PROVIDERS:
        raise ValueError("kind must be one of %s or kms" % ", ".join(NEW_KEY_PROVIDERS))
    ours = {}
    for config in configs:
        for part in decoders(config):
            if part.kind == kind and part.keys[0].name.startswith(KEY_NAME_PREFIX):
                ours.setdefault(part.keys[0].name, part)
    if ours:
        newest = Target(ours[max(ours)], drop_identity, keep)
        if not rotate or next_step(node_configs, etcd_scan, newest).state != DONE:
            return newest
    elif not rotate:
        writers = {decoders(config)[0] for config in configs}
        if len(writers) == 1:
            writer = writers.pop()
            if writer.kind == kind:
                return Target(writer, drop_identity, keep)
    names = [part.keys[0].name for config in configs for part in decoders(config) if part.kind in KEYED_PROVIDERS]
    return Target(Provider.keyed(kind, [Key(key_name(now, names), new_key())]), drop_identity, keep)


def retention(node_configs, etcd_scan, target, snapshots, records, drop_needed=False):
    """Which retired keys stay decrypt-only because a retained etcd snapshot may hold objects under them.

    ``snapshots`` are the ids of the snapshots retained now; ``records`` ({label: [snapshot ids]}) the snapshots
    that existed when each retired key was first seen unused in a complete scan. No clock is compared: a snapshot
    taken after that moment holds no object under the key, so the key can go once none of its recorded snapshots
    remains. A key being retired without a record is recorded now with every retained snapshot. Returns
    ``(target, records, unusable)``: the target keeping what is still needed, the records to escrow before the
    step is applied, and, with ``drop_needed``, {label: [snapshot ids]} the drop makes unusable."""
    present = set(snapshots)
    records = {label: sorted(set(ids)) for label, ids in (records or {}).items()}
    on_nodes = {label for config in node_configs.values() for label in labels(_as_config(config))}
    records = {label: ids for label, ids in records.items() if label in on_nodes and label != target.label}
    needed = {label: sorted(present.intersection(ids)) for label, ids in records.items()}
    needed = {label: ids for label, ids in needed.items() if ids}
    kept = Target(target.provider, target.drop_identity, sorted(needed))
    step = next_step(node_configs, etcd_scan, kept)
    for label in sorted(removed_labels(node_configs, step) - {PLAINTEXT} - set(records)):
        if present:
            records[label] = sorted(present)
            needed[label] = sorted(present)
    records = {label: ids for label, ids in records.items() if label in needed}
    if drop_needed:
        return Target(target.provider, target.drop_identity), {}, needed
    return Target(target.provider, target.drop_identity, sorted(needed)), records, {}
