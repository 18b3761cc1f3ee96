"""Rewriting Secrets: content hashes and digests, the integrity verdict, and no Secret data in any result or message.

The rewrite loop runs against a small in-memory stand-in for the client (list and request), never a cluster."""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import secrets_rewrite as sr
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.modules import secrets_rewrite as module

PASSWORD = "hunter2-correct-horse"
TOKEN = "tok-9f8e7d6c5b4a"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def secret(namespace, name, data=None, rv="10", **extra):
    metadata = {"namespace": namespace, "name": name, "resourceVersion": rv, "uid": "uid-%s-%s" % (namespace, name)}
    metadata.update(extra.pop("metadata", {}))
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque",
            "data": data if data is not None else {"password": b64(PASSWORD)}}
    body.update(extra)
    return body


SECRETS = [
    secret("payments", "db", {"password": b64(PASSWORD), "user": b64("svc-payments-rw")}),
    secret("identity", "oidc", {"token": b64(TOKEN)}, metadata={"labels": {"app": "oidc"}}),
    secret("kube-system", "bootstrap-token-abcdef", {"token-secret": b64("0123456789abcdef")},
           type="bootstrap.kubernetes.io/token"),
]


# -- hashing -------------------------------------------------------------------------------------------------------

def test_content_hash_is_sha256_of_canonical_json_of_user_visible_content():
    item = SECRETS[1]
    canonical = json.dumps({"type": "Opaque", "data": {"token": b64(TOKEN)}, "immutable": False,
                            "labels": {"app": "oidc"}, "annotations": {}}, sort_keys=True, separators=(",", ":"))
    assert sr.content_hash(item) == hashlib.sha256(canonical.encode()).hexdigest()


def test_content_hash_ignores_key_order_defaults_and_server_metadata():
    a = secret("ns", "s", {"a": b64("1"), "b": b64("2")}, metadata={"labels": {"x": "1", "y": "2"}})
    b = secret("ns", "s", {"b": b64("2"), "a": b64("1")}, rv="99", metadata={"labels": {"y": "2", "x": "1"},
                                                                             "managedFields": [{"manager": "kubectl"}]})
    b.pop("type")  # the API defaults it to Opaque
    b["immutable"] = False
    assert sr.content_hash(a) == sr.content_hash(b)
    assert sr.content_hash(secret("ns", "s", {})) == sr.content_hash({"metadata": {"namespace": "ns", "name": "s"},
                                                                      "data": None, "type": "Opaque"})


@pytest.mark.parametrize("change", [
    lambda s: s["data"].update(password=b64(PASSWORD + "!")),
    lambda s: s["data"].update(extra=b64("x")),
    lambda s: s.update(type="kubernetes.io/basic-auth"),
    lambda s: s.update(immutable=True),
    lambda s: s["metadata"].update(labels={"app": "db"}),
    lambda s: s["metadata"].update(annotations={"note": "x"}),
])
def test_any_user_visible_change_changes_the_hash(change):
    original = secret("payments", "db")
    changed = copy.deepcopy(original)
    change(changed)
    assert sr.content_hash(changed) != sr.content_hash(original)


def test_digest_covers_names_and_hashes_in_a_stable_order():
    indexed = sr.index(SECRETS)
    lines = "".join("%s:%s\n" % (key, indexed[key]["hash"]) for key in sorted(indexed))
    assert sr.digest(indexed) == "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
    assert sr.digest(sr.index(list(reversed(SECRETS)))) == sr.digest(indexed)
    renamed = copy.deepcopy(SECRETS)
    renamed[0]["metadata"]["name"] = "db2"
    assert sr.digest(sr.index(renamed)) != sr.digest(indexed)
    assert sr.digest({}) == "sha256:" + hashlib.sha256(b"").hexdigest()


# -- comparison ----------------------------------------------------------------------------------------------------

def entry(value, rv="10"):
    return {"hash": value, "rv": rv}


def write(value, rv="11", stored=None):
    return {"hash": value, "stored_hash": stored or value, "rv": rv}


def test_compare_sorts_every_secret_into_its_verdict():
    before = {"a/ok": entry("h1"), "a/lost": entry("h2"), "a/altered": entry("h3"), "a/gone": entry("h4"),
              "a/recreated": entry("h5"), "a/changed-later": entry("h6"), "a/mutated": entry("h7"),
              "a/not-written": entry("h8")}
    written = {"a/ok": write("h1"), "a/lost": write("h2"), "a/altered": write("h3"),
               "a/changed-later": write("h6"), "a/mutated": write("h7", stored="hX")}
    after = {"a/ok": entry("h1", "11"), "a/altered": entry("hY", "11"), "a/recreated": entry("h9", "20"),
             "a/changed-later": entry("hZ", "12"), "a/mutated": entry("hX", "11"), "a/not-written": entry("h8"),
             "a/new": entry("h10", "30")}
    verdict = sr.compare(before, after, written, deleted=["a/gone", "a/recreated"])
    assert verdict == {"lost": ["a/lost"], "altered": ["a/altered", "a/mutated"],
                       "deleted_meanwhile": ["a/gone", "a/recreated"], "created_meanwhile": ["a/new", "a/recreated"],
                       "changed_meanwhile": ["a/changed-later"]}


def test_compare_of_an_untouched_set_finds_nothing():
    indexed = sr.index(SECRETS)
    verdict = sr.compare(indexed, copy.deepcopy(indexed), {}, [])
    assert verdict == {"lost": [], "altered": [], "deleted_meanwhile": [], "created_meanwhile": [],
                       "changed_meanwhile": []}


# -- redaction -----------------------------------------------------------------------------------------------------

def test_redact_removes_encoded_and_decoded_values():
    item = SECRETS[0]
    message = 'admission webhook "x" denied: password %s (%s) not allowed' % (PASSWORD, b64(PASSWORD))
    cleaned = sr.redact(message, item)
    assert PASSWORD not in cleaned and b64(PASSWORD) not in cleaned
    assert cleaned == 'admission webhook "x" denied: password (redacted) ((redacted)) not allowed'
    assert sr.redact("nothing to hide", {"data": {"k": "!!not-base64!!"}}) == "nothing to hide"


# -- the rewrite against an in-memory stand-in ---------------------------------------------------------------------

class FakeSecrets:
    """list() and request() over a dict of Secrets; PUT checks resourceVersion like the API server.

    ``before_put`` maps namespace/name to a function run (once) before that Secret's first PUT, to play another
    client; ``mutate`` maps namespace/name to a function the "server" applies to what it stores (a webhook)."""

    def __init__(self, secrets, before_put=None, mutate=None, status=None):
        self.secrets = {sr.secret_key(item): copy.deepcopy(item) for item in secrets}
        self.version = 100
        self.before_put = dict(before_put or {})
        self.mutate = dict(mutate or {})
        self.status = dict(status or {})
        self.puts = []
        self.lists = []

    def bump(self, key):
        self.version += 1
        self.secrets[key]["metadata"]["resourceVersion"] = str(self.version)

    def list(self, path, query=None, page_size=500):
        self.lists.append((path, page_size))
        namespace = None if path == "/api/v1/secrets" else path.split("/")[4]
        return [copy.deepcopy(item) for key, item in sorted(self.secrets.items())
                if namespace is None or key.startswith(namespace + "/")]

    def request(self, method, path, query=None, body=None):
        parts = path.split("/")
        key = "%s/%s" % (parts[4], parts[6])
        if method == "GET":
            return (200, copy.deepcopy(self.secrets[key]), {}) if key in self.secrets else (404, {}, {})
        assert method == "PUT" and body["apiVersion"] == "v1" and body["kind"] == "Secret"
        self.puts.append(key)
        if key in self.before_put:
            self.before_put.pop(key)(self)
        if key in self.status:
            return self.status[key], {"kind": "Status", "reason": "Invalid",
                                      "message": "denied: value %s" % PASSWORD}, {}
        if key not in self.secrets:
            return 404, {"reason": "NotFound"}, {}
        if body["metadata"]["resourceVersion"] != self.secrets[key]["metadata"]["resourceVersion"]:
            return 409, {"reason": "Conflict"}, {}
        stored = copy.deepcopy(body)
        if key in self.mutate:
            self.mutate[key](stored)
        self.secrets[key] = stored
        self.bump(key)
        return 200, copy.deepcopy(self.secrets[key]), {}


def no_data_in(value):
    text = json.dumps(value, default=str)
    for item in SECRETS:
        for encoded in item["data"].values():
            assert encoded not in text
            assert base64.b64decode(encoded).decode() not in text


def run(fake, **kwargs):
    ticks = iter(range(100))
    return sr.rewrite(fake, clock=lambda: float(next(ticks)), **kwargs)


def test_a_clean_rewrite_writes_every_secret_and_keeps_the_digest():
    fake = FakeSecrets(SECRETS)
    result = run(fake)
    assert fake.puts == sorted(sr.secret_key(item) for item in SECRETS)
    assert result["changed"] and result["rewritten"] == 3 and result["would_rewrite"] == 0
    assert result["count_before"] == result["count_after"] == 3
    assert result["digest_before"] == result["digest_after"] == sr.digest(sr.index(SECRETS))
    assert (result["lost"], result["altered"], result["failed_secrets"]) == ([], [], [])
    assert result["seconds"] == 1.0 and result["scope"] == "all namespaces"
    assert fake.lists == [("/api/v1/secrets", sr.DEFAULT_PAGE_SIZE)] * 2
    no_data_in(result)


def test_check_mode_lists_and_hashes_only():
    fake = FakeSecrets(SECRETS)
    result = run(fake, check_mode=True, namespaces=["payments", "identity"], page_size=7)
    assert fake.puts == [] and result["changed"] is True  # a check-mode gate sees the work left
    assert result["would_rewrite"] == 2 and result["rewritten"] == 0 and result["count_after"] is None
    assert fake.lists == [("/api/v1/namespaces/payments/secrets", 7), ("/api/v1/namespaces/identity/secrets", 7)]
    assert result["scope"] == ["payments", "identity"]


def test_conflicts_are_retried_with_a_fresh_read_and_count_as_changed_meanwhile_only_when_written_after_us():
    def someone_writes(fake):
        fake.secrets["payments/db"]["data"]["user"] = b64("payments-v2")
        fake.bump("payments/db")

    fake = FakeSecrets(SECRETS, before_put={"payments/db": someone_writes})
    result = run(fake)
    assert result["conflicts_retried"] == 1 and result["rewritten"] == 3
    assert fake.puts.count("payments/db") == 2
    # The after-list matches what was written (the fresh version): not altered, not changed after us.
    assert (result["altered"], result["changed_meanwhile"]) == ([], 0)
    assert result["digest_after"] != result["digest_before"]


def test_conflicts_beyond_the_retries_fail_the_secret_not_the_run():
    def keeps_writing(fake):
        fake.bump("payments/db")
        fake.before_put["payments/db"] = keeps_writing

    fake = FakeSecrets(SECRETS, before_put={"payments/db": keeps_writing})
    with pytest.raises(KubeCompassError, match=r"1 of 3 Secrets could not be rewritten .*payments/db \(409") as caught:
        run(fake, retries=2)
    assert caught.value.category == "rewrite_failed"
    assert caught.value.result["conflicts_retried"] == 2 and caught.value.result["rewritten"] == 2
    assert fake.puts.count("payments/db") == 3


def test_deleted_meanwhile_and_created_meanwhile_are_counted_not_errors():
    def delete_and_create(fake):
        del fake.secrets["identity/oidc"]
        fake.secrets["identity/new"] = secret("identity", "new", rv="500")

    fake = FakeSecrets(SECRETS, before_put={"identity/oidc": delete_and_create})
    result = run(fake)
    assert (result["deleted_meanwhile"], result["created_meanwhile"], result["rewritten"]) == (1, 1, 2)
    assert result["count_after"] == 3 and result["lost"] == []


def test_a_secret_altered_by_the_write_fails_integrity_naming_it_only():
    def webhook(stored):
        stored["data"]["password"] = b64("changed-by-webhook")

    fake = FakeSecrets(SECRETS, mutate={"payments/db": webhook})
    with pytest.raises(KubeCompassError) as caught:
        run(fake)
    assert caught.value.category == "integrity"
    assert str(caught.value) == ("integrity check after rewriting 3 Secrets failed: 1 Secret(s) altered (content "
                                 "differs from what was written back): payments/db")
    assert caught.value.result["altered"] == ["payments/db"]
    no_data_in([str(caught.value), caught.value.result])


def test_a_secret_missing_after_the_rewrite_is_lost():
    class Losing(FakeSecrets):
        def list(self, path, query=None, page_size=500):
            items = super().list(path, query, page_size)
            return [item for item in items if len(self.lists) == 1 or item["metadata"]["name"] != "oidc"]

    with pytest.raises(KubeCompassError, match=r"1 Secret\(s\) lost .*: identity/oidc$") as caught:
        run(Losing(SECRETS))
    assert caught.value.result["lost"] == ["identity/oidc"] and caught.value.result["count_after"] == 2


def test_failed_writes_are_reported_without_secret_data():
    fake = FakeSecrets(SECRETS, status={"payments/db": 422})
    with pytest.raises(KubeCompassError) as caught:
        run(fake)
    expected = [{"secret": "payments/db", "error": "422 Invalid: denied: value (redacted)"}]
    assert caught.value.result["failed_secrets"] == expected
    no_data_in([str(caught.value), caught.value.result])


def test_forbidden_stops_at_the_first_refusal():
    fake = FakeSecrets(SECRETS, status={"identity/oidc": 403})
    with pytest.raises(KubeCompassError, match="forbidden to rewrite Secret identity/oidc") as caught:
        run(fake)
    assert caught.value.category == "forbidden" and fake.puts == ["identity/oidc"]
    assert caught.value.result["rewritten"] == 0
    no_data_in(str(caught.value))


def test_a_failing_list_after_the_rewrite_is_an_integrity_failure():
    class Undecryptable(FakeSecrets):
        def list(self, path, query=None, page_size=500):
            if self.lists:
                raise KubeCompassError("API error 500 on /api/v1/secrets: unable to transform key", "api", 500)
            return super().list(path, query, page_size)

    with pytest.raises(KubeCompassError, match="cannot be decrypted") as caught:
        run(Undecryptable(SECRETS))
    assert caught.value.category == "integrity"


def test_module_diff_and_input_checks():
    result = module.run(FakeSecrets(SECRETS), {"namespaces": None, "retries": 5, "page_size": 100}, check_mode=True)
    text = module.diff(result)
    assert text["before"] == text["after"] == "secrets: 3\ndigest: %s\n" % result["digest_before"]
    assert text["before_header"] == "Secrets (all namespaces)"
    for params, message in (({"namespaces": [], "retries": 5, "page_size": 100}, "namespaces is empty"),
                            ({"namespaces": None, "retries": -1, "page_size": 100}, "retries"),
                            ({"namespaces": None, "retries": 5, "page_size": 0}, "page_size")):
        with pytest.raises(KubeCompassError, match=message):
            module.run(FakeSecrets(SECRETS), params, check_mode=True)


def test_a_secret_deleted_between_a_conflict_and_the_fresh_read_is_deleted_meanwhile():
    def write_then_delete(fake):
        fake.bump("identity/oidc")
        original = fake.request

        def request(method, path, query=None, body=None):
            if method == "GET":
                fake.secrets.pop("identity/oidc", None)
            return original(method, path, query, body)

        fake.request = request

    fake = FakeSecrets(SECRETS, before_put={"identity/oidc": write_then_delete})
    result = run(fake)
    assert (result["conflicts_retried"], result["deleted_meanwhile"], result["rewritten"]) == (1, 1, 2)
    assert result["lost"] == [] and result["count_after"] == 2


class FakeSecretsAndRecord(FakeSecrets):
    """FakeSecrets plus the record ConfigMap, applied server-side (dry runs store nothing)."""

    RECORD = "/api/v1/namespaces/kube-system/configmaps/kubecompass-secrets-rewrite"

    def __init__(self, secrets, **kwargs):
        super().__init__(secrets, **kwargs)
        self.record = None
        self.record_writes = 0

    def request(self, method, path, query=None, body=None, content_type=None):
        if not path.startswith(self.RECORD):
            return super().request(method, path, query, body)
        if method == "GET":
            return (200, copy.deepcopy(self.record), {}) if self.record else (404, {}, {})
        assert method == "PATCH" and body["kind"] == "ConfigMap"
        stored = dict(copy.deepcopy(body), metadata=dict(body["metadata"], resourceVersion="1"))
        if "dryRun=All" not in path:
            self.record = stored
            self.record_writes += 1
        return 200, copy.deepcopy(stored), {}


def test_a_rewrite_recorded_for_a_key_is_made_once_and_again_for_a_new_key():
    fake = FakeSecretsAndRecord(SECRETS)
    first = sr.rewrite_once_per_key(fake, "arn:aws:kms:eu-west-1:1:key/a")
    assert first["changed"] and first["recorded_key"] is None and first["rewritten"] == len(SECRETS)
    assert fake.record["data"] == {"key": "arn:aws:kms:eu-west-1:1:key/a"}
    puts = len(fake.puts)
    again = sr.rewrite_once_per_key(fake, "arn:aws:kms:eu-west-1:1:key/a")
    assert not again["changed"] and again["recorded_key"] == "arn:aws:kms:eu-west-1:1:key/a"
    assert len(fake.puts) == puts and fake.record_writes == 1
    rotated = sr.rewrite_once_per_key(fake, "arn:aws:kms:eu-west-1:1:key/b")
    assert rotated["changed"] and len(fake.puts) == 2 * puts and fake.record["data"] == {
        "key": "arn:aws:kms:eu-west-1:1:key/b"}


def test_check_mode_and_a_failed_rewrite_record_nothing():
    fake = FakeSecretsAndRecord(SECRETS)
    planned = sr.rewrite_once_per_key(fake, "k1", check_mode=True)
    assert planned["would_rewrite"] == len(SECRETS) and fake.puts == [] and fake.record is None
    failing = FakeSecretsAndRecord(SECRETS, status={sr.secret_key(SECRETS[0]): 422})
    with pytest.raises(KubeCompassError):
        sr.rewrite_once_per_key(failing, "k1")
    assert failing.record is None  # the next run tries again
    with pytest.raises(KubeCompassError, match="record_key must not be empty"):
        module.run(fake, {"namespaces": None, "retries": 5, "page_size": 100, "record_key": " "}, check_mode=True)


# -- the cluster lock stays alive during the rewrite ------------------------------------------------------------------

LEASE_PATH = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kubecompass-remediation"


class FakeSecretsAndLease(FakeSecrets):
    """FakeSecrets plus the remediation Lease; every Secret PUT takes ``seconds_per_put`` of this run's clock."""

    def __init__(self, secrets, holder="awx-job-123", seconds_per_put=400, **kwargs):
        super().__init__(secrets, **kwargs)
        self.now = 0.0
        self.seconds_per_put = seconds_per_put
        self.lease = {"metadata": {"name": "kubecompass-remediation", "namespace": "kube-system",
                                   "resourceVersion": "7", "annotations": {"kubecompass.io/purpose": "encryption"}},
                      "spec": {"holderIdentity": holder, "leaseDurationSeconds": 900,
                               "renewTime": "2026-11-22T05:00:00.000000Z"}}
        self.events = []

    def monotonic(self):
        return self.now

    def request(self, method, path, query=None, body=None):
        if path == LEASE_PATH:
            self.events.append("lease " + method)
            if method == "PUT":
                assert body["metadata"]["resourceVersion"] == self.lease["metadata"]["resourceVersion"]
                self.lease = copy.deepcopy(body)
                self.lease["metadata"]["resourceVersion"] = str(int(body["metadata"]["resourceVersion"]) + 1)
            return 200, copy.deepcopy(self.lease), {}
        if method == "PUT":
            self.events.append("secret PUT")
            self.now += self.seconds_per_put
        return super().request(method, path, query, body)


LOCK_PARAMS = {"namespaces": None, "retries": 5, "page_size": 100, "lock_holder": "awx-job-123",
               "lock_name": "kubecompass-remediation", "lock_namespace": "kube-system", "lock_duration_seconds": 900}


def test_a_long_rewrite_renews_the_lock_every_third_of_its_duration():
    fake = FakeSecretsAndLease(SECRETS)
    result = module.run(fake, LOCK_PARAMS, check_mode=False, monotonic=fake.monotonic)
    assert result["rewritten"] == 3 and result["lock_renewals"] == 4
    # Renewed first (the rewrite starts only under this run's lock), then before each Secret once 300s passed.
    assert fake.events == ["lease GET", "lease PUT", "secret PUT"] + ["lease GET", "lease PUT", "secret PUT"] * 2 + [
        "lease GET", "lease PUT"]
    assert fake.lease["spec"]["holderIdentity"] == "awx-job-123"
    assert fake.lease["metadata"]["annotations"]["kubecompass.io/purpose"] == "encryption"


def test_a_rewrite_whose_lock_was_taken_over_stops_before_the_next_secret():
    fake = FakeSecretsAndLease(SECRETS, before_put={"identity/oidc": lambda f: f.lease["spec"].update(
        holderIdentity="awx-job-124")})
    with pytest.raises(KubeCompassError, match=r"lost the lock .*\(now held by awx-job-124\)") as caught:
        module.run(fake, LOCK_PARAMS, check_mode=False, monotonic=fake.monotonic)
    assert caught.value.category == "locked"
    assert fake.puts == ["identity/oidc"] and caught.value.result["rewritten"] == 1


def test_check_mode_neither_renews_nor_writes():
    fake = FakeSecretsAndLease(SECRETS)
    result = module.run(fake, LOCK_PARAMS, check_mode=True, monotonic=fake.monotonic)
    assert fake.events == [] and result["would_rewrite"] == 3
