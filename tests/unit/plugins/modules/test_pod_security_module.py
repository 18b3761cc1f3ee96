"""pod_security module: dry-run warnings read per Warning header, enforce kept off over violating pods, check mode,
failing namespaces. Also holds FakeClient, the in-memory API server the other cluster-object module tests use."""

from __future__ import annotations

import copy
import json
import re
from urllib.parse import parse_qs

import pytest
import urllib3
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubecompass.readiness.plugins.module_utils import _apply, _runner
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import KubeClient
from ansible_collections.kubecompass.readiness.plugins.modules import pod_security

# -- an in-memory API server with the KubeClient interface -----------------------------------------------------------

# Cluster-wide list paths and the kind they list (as KubeClient.list returns items: with apiVersion and kind).
LISTS = {
    "/api/v1/namespaces": ("v1", "Namespace"),
    "/api/v1/resourcequotas": ("v1", "ResourceQuota"),
    "/api/v1/limitranges": ("v1", "LimitRange"),
    "/api/v1/serviceaccounts": ("v1", "ServiceAccount"),
    "/api/v1/pods": ("v1", "Pod"),
    "/api/v1/services": ("v1", "Service"),
    "/api/v1/persistentvolumeclaims": ("v1", "PersistentVolumeClaim"),
    "/apis/apps/v1/deployments": ("apps/v1", "Deployment"),
    "/apis/apps/v1/statefulsets": ("apps/v1", "StatefulSet"),
    "/apis/policy/v1/poddisruptionbudgets": ("policy/v1", "PodDisruptionBudget"),
    "/apis/rbac.authorization.k8s.io/v1/clusterroles": ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings": ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    "/apis/rbac.authorization.k8s.io/v1/roles": ("rbac.authorization.k8s.io/v1", "Role"),
    "/apis/rbac.authorization.k8s.io/v1/rolebindings": ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    "/apis/velero.io/v1/schedules": ("velero.io/v1", "Schedule"),
    "/apis/velero.io/v1/backups": ("velero.io/v1", "Backup"),
    "/apis/velero.io/v1/backupstoragelocations": ("velero.io/v1", "BackupStorageLocation"),
}
SELF_SUBJECT_REVIEW = re.compile(r"^/apis/(authentication\.k8s\.io/v1(?:beta1|alpha1)?)/selfsubjectreviews$")
NAMESPACE_OF = re.compile(r"/namespaces/([^/]+)")


def merge(base, patch):
    """Server-side apply and merge patch, as far as these tests need: maps merge, anything else replaces."""
    result = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def status_body(status, message):
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": status}


class FakeClient:
    """Objects by API path; every request recorded as (method, path, query, content type, body).

    ``warnings``: namespace -> Warning header values of a dry-run merge PATCH of it (each one a separate header).
    ``fail``: object path -> HTTP status of every write to it; a 404 stands for the object's namespace deleted
    meanwhile, so a GET of that namespace answers 404 too. ``identity``: the SelfSubjectReview userInfo (None: the
    review is forbidden). ``reviews``: the authentication.k8s.io versions that serve SelfSubjectReview.
    ``unserved``: path prefixes of resource types the server does not serve (every request there answers 404, as
    for a missing API group version). ``on_delete``: called before each real (not dry-run) DELETE.
    Server-side apply tracks, per field manager, the labels it applied (metadata.managedFields), and removes a label
    its manager applied before and leaves out now, unless another manager owns it.
    """

    base_url = "https://fake:6443"

    def __init__(self, objects=(), version="v1.36.3", warnings=None, fail=None, identity=None, on_delete=None,
                 reviews=("authentication.k8s.io/v1",), unserved=()):
        self.objects = {}
        self.listed = []
        for obj in objects:
            self.add(obj)
        self.version = version
        self.warnings = warnings or {}
        self.fail = fail or {}
        self.identity = identity
        self.reviews = reviews
        self.unserved = unserved
        self.on_delete = on_delete
        self.calls = []
        self.serial = 100

    def add(self, obj):
        obj = copy.deepcopy(obj)
        metadata = obj.setdefault("metadata", {})
        metadata.setdefault("uid", "uid-%s-%s" % (obj["kind"].lower(), metadata["name"]))
        metadata.setdefault("resourceVersion", "1")
        self.listed.append(obj)
        if (obj["apiVersion"], obj["kind"]) in _apply.PATHS:
            self.objects[_apply.object_path(obj)] = obj
        return obj

    # -- what the tests look at ---------------------------------------------------------------------------------

    def stored(self, path):
        return self.objects.get(path)

    @staticmethod
    def dry_run(method, params, body):
        """As the API server decides: a DELETE with a DeleteOptions body takes dryRun from the body only (the query
        string is then ignored); every other request from the query string."""
        if method == "DELETE" and body:
            return (body.get("dryRun") or []) == ["All"]
        return params.get("dryRun") == ["All"]

    def writes(self):
        """Requests that change something: every non-GET/LIST that is not a dry run."""
        return [c for c in self.calls if c[0] not in ("GET", "LIST") and not self.dry_run(c[0], c[2], c[4])]

    def methods(self):
        return [(c[0], c[1]) for c in self.calls]

    # -- KubeClient interface -----------------------------------------------------------------------------------

    def status_error(self, status, body, path):
        return KubeClient.status_error(self, status, body, path)

    def list(self, path, query=None, page_size=500):
        self.calls.append(("LIST", path, {}, None, None))
        api_version, kind = LISTS[path]
        return [copy.deepcopy(o) for o in self.listed if (o["apiVersion"], o["kind"]) == (api_version, kind)
                and self._live(o)]

    def _live(self, obj):
        if (obj["apiVersion"], obj["kind"]) not in _apply.PATHS:
            return True
        return self.objects.get(_apply.object_path(obj)) is obj

    def get(self, path, query=None):
        status, body, _headers = self.request("GET", path, query)
        if status >= 400:
            raise self.status_error(status, body, path)
        return body

    def request(self, method, path, query=None, body=None, content_type="application/json"):
        base, _sep, text = path.partition("?")
        params = parse_qs(text)
        self.calls.append((method, base, params, content_type, copy.deepcopy(body)))
        headers = urllib3.HTTPHeaderDict()
        dry_run = self.dry_run(method, params, body)
        if any(base.startswith(prefix) for prefix in self.unserved):
            return 404, status_body(404, "the server could not find the requested resource"), headers
        if method == "GET":
            if base == "/version":
                return 200, {"major": "1", "minor": "36", "gitVersion": self.version}, headers
            if base in self.objects and not self._deleted_namespace(base):
                return 200, copy.deepcopy(self.objects[base]), headers
            return 404, status_body(404, "%s not found" % base), headers
        if base in self.fail:
            status = self.fail[base]
            return status, status_body(status, "%s refused with %d" % (base, status)), headers
        review = SELF_SUBJECT_REVIEW.match(base) if method == "POST" else None
        if review:
            if review.group(1) not in self.reviews:
                return 404, status_body(404, "the server could not find the requested resource"), headers
            assert body == {"apiVersion": review.group(1), "kind": "SelfSubjectReview"}
            if self.identity is None:
                return 403, status_body(403, "selfsubjectreviews is forbidden"), headers
            return 201, {"kind": "SelfSubjectReview", "apiVersion": review.group(1),
                         "status": {"userInfo": self.identity}}, headers
        if method == "PATCH" and content_type == "application/merge-patch+json":
            current = self.objects.get(base)
            if current is None:
                return 404, status_body(404, "namespaces %r not found" % base.rsplit("/", 1)[-1]), headers
            for value in self.warnings.get(current["metadata"]["name"], []):
                headers.add("Warning", value)
            if not dry_run:
                self.objects[base] = merge(current, body)
            return 200, merge(current, body), headers
        if method == "PATCH" and content_type == "application/apply-patch+yaml":
            return self._apply(base, body, dry_run, params)
        if method == "DELETE":
            return self._delete(base, body, dry_run)
        raise AssertionError("unexpected request %s %s" % (method, path))

    def _deleted_namespace(self, path):
        """Whether ``path`` is a namespace that a 404 in ``fail`` marks as deleted meanwhile."""
        name = path[len("/api/v1/namespaces/"):] if path.startswith("/api/v1/namespaces/") else None
        if not name or "/" in name:
            return False
        return any(status == 404 and (NAMESPACE_OF.search(failed) or [None, None])[1] == name
                   for failed, status in self.fail.items())

    @staticmethod
    def _label_owners(obj):
        """{(manager, operation): set of label keys} from metadata.managedFields."""
        owners = {}
        for entry in (obj.get("metadata") or {}).get("managedFields") or []:
            labels = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:labels") or {}
            owners[(entry["manager"], entry["operation"])] = {key[2:] for key in labels if key.startswith("f:")}
        return owners

    def _apply_labels(self, current, after, body, manager, force):
        """Label ownership of a server-side apply by ``manager``: None, or the (status, body) of a conflict."""
        applied = dict((body.get("metadata") or {}).get("labels") or {})
        owners = self._label_owners(current or {})
        previous = owners.pop((manager, "Apply"), set())
        labels = after["metadata"].get("labels") or {}
        current_labels = ((current or {}).get("metadata") or {}).get("labels") or {}
        for key, value in applied.items():
            others = [owner for owner, keys in owners.items() if key in keys]
            if others and current_labels.get(key) != value:
                if not force:
                    return 409, status_body(409, "Apply failed with 1 conflict: conflict with %r: .metadata.labels.%s"
                                            % (others[0][0], key))
                for owner in others:
                    owners[owner].discard(key)
        for key in previous - set(applied) - set().union(*owners.values()):
            labels.pop(key, None)
        owners[(manager, "Apply")] = set(applied)
        if not any(owners.values()):
            after["metadata"].pop("managedFields", None)
            return None
        after["metadata"]["managedFields"] = [
            {"manager": name, "operation": operation, "apiVersion": after["apiVersion"], "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:" + key: {} for key in sorted(keys)}}}}
            for (name, operation), keys in sorted(owners.items())]
        return None

    def _apply(self, base, body, dry_run, params):
        assert params.get("fieldManager") == ["kubecompass"]
        current = self.objects.get(base)
        if current is None:
            self.serial += 1
            after = merge(body, {"metadata": {"uid": "uid-%d" % self.serial, "resourceVersion": str(self.serial)}})
        else:
            after = merge(current, body)
        conflict = self._apply_labels(current, after, body, params["fieldManager"][0], params.get("force") == ["true"])
        if conflict:
            return conflict[0], conflict[1], urllib3.HTTPHeaderDict()
        if current is not None and _apply.comparable(after) != _apply.comparable(current):
            self.serial += 1
            after["metadata"]["resourceVersion"] = str(self.serial)
        if not dry_run:
            if current is not None:
                self.listed.remove(current)
            self.listed.append(after)
            self.objects[base] = after
        return (201 if current is None else 200), copy.deepcopy(after), urllib3.HTTPHeaderDict()

    def _delete(self, base, body, dry_run):
        headers = urllib3.HTTPHeaderDict()
        current = self.objects.get(base)
        if current is None:
            return 404, status_body(404, "%s not found" % base), headers
        wanted = (body or {}).get("preconditions") or {}
        meta = current["metadata"]
        if wanted.get("uid") not in (None, meta["uid"]) or wanted.get("resourceVersion") not in (
                None, meta["resourceVersion"]):
            return 409, status_body(409, "Precondition failed: resourceVersion in precondition differs"), headers
        if not dry_run:
            if self.on_delete:
                self.on_delete(base)
            del self.objects[base]
            self.listed.remove(current)
        return 200, {"kind": "Status", "status": "Success"}, headers


def only_reads_and_dry_runs(client, allowed=()):
    """Check mode: GET and LIST, writes only with dryRun=All (plus the ``allowed`` read-only POSTs)."""
    return [c[:2] for c in client.writes() if c[1] not in allowed] == []


def run_main(module, monkeypatch, capsys, client, check=False, diff=True, **args):
    """module.main() against ``client``: (exit code, result, warnings). Warnings are caught at module.warn: where
    they end up depends on whether controller code was imported first (then they go to Display)."""
    warned = []
    # The namespace planners build their client in the shared runner, the other modules in themselves.
    if hasattr(module, "client_from_params"):
        monkeypatch.setattr(module, "client_from_params", lambda params: client)
    monkeypatch.setattr(_runner, "client_from_params", lambda params: client)
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, message: warned.append(message))
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)), \
            pytest.raises(SystemExit) as exited:
        module.main()
    return exited.value.code, json.loads(capsys.readouterr().out), warned


# -- fixtures ---------------------------------------------------------------------------------------------------------

# Warning header values of `PATCH /api/v1/namespaces/shop?dryRun=All` setting enforce=restricted:v1.36, recorded
# from kube-apiserver 1.36: one header per warning, texts with ", " and escaped quotes.
EXISTING = r'299 - "existing pods in namespace \"shop\" violate the new PodSecurity enforce level \"restricted:v1.36\""'
WEB = r'299 - "web-7c9d5b6f4-2xkqp (and 2 other pods): allowPrivilegeEscalation != false, unrestricted capabilities"'
REDIS = r'299 - "redis-0 (and 1 other pod): runAsNonRoot != true, seccompProfile"'

ENFORCE = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"
AUDIT = "pod-security.kubernetes.io/audit"
WARN = "pod-security.kubernetes.io/warn"


def namespace(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": dict(labels, **{"kubernetes.io/metadata.name": name})},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def six(level, version="v1.36"):
    labels = {}
    for mode in ("enforce", "audit", "warn"):
        labels["pod-security.kubernetes.io/%s" % mode] = level
        labels["pod-security.kubernetes.io/%s-version" % mode] = version
    return labels


def params(**overrides):
    base = {"tier": "important", "tiers": None, "levels": None, "version": None, "force_enforce": False,
            "excluded_namespaces": [], "waivers": [], "cluster_name": None}
    base.update(overrides)
    return base


def cluster(**options):
    objects = [namespace("kube-system"), namespace("shop", **{"kubecompass.io/tier": "critical"}),
               namespace("web")]
    return FakeClient(objects, warnings={"shop": [EXISTING, WEB, REDIS]}, **options)


def by_name(result):
    return {entry["namespace"]: entry for entry in result["namespaces"]}


def labels_of(client, name):
    return client.stored("/api/v1/namespaces/%s" % name)["metadata"]["labels"]


# -- tests ------------------------------------------------------------------------------------------------------------

def test_check_mode_sends_only_reads_and_dry_runs_and_returns_the_diff():
    client = cluster()
    before = copy.deepcopy(client.objects)
    result = pod_security.run(client, params(), check_mode=True)
    assert only_reads_and_dry_runs(client)
    assert client.objects == before
    assert result["changed"] is True
    assert {d["before_header"] for d in result["diff"]} == {"Namespace shop", "Namespace web"}
    web = [d for d in result["diff"] if d["before_header"] == "Namespace web"][0]
    assert json.loads(web["after"])["metadata"]["labels"][ENFORCE] == "baseline"
    assert ENFORCE not in json.loads(web["before"])["metadata"]["labels"]


def test_the_dry_run_patch_carries_the_label_patch_and_every_warning_header_is_read_on_its_own():
    client = cluster()
    result = pod_security.run(client, params(), check_mode=True)
    merge_patches = [c for c in client.calls if c[3] == "application/merge-patch+json"]
    assert [(c[0], c[1], c[2]) for c in merge_patches] == [
        ("PATCH", "/api/v1/namespaces/shop", {"dryRun": ["All"]}),
        ("PATCH", "/api/v1/namespaces/web", {"dryRun": ["All"]})]
    assert merge_patches[0][4] == {"metadata": {"labels": six("restricted")}}
    shop = by_name(result)["shop"]
    # Both pod lines survive: folding the headers and splitting at ", " would cut their reasons apart.
    assert shop["violators"] == [
        {"pod": "web-7c9d5b6f4-2xkqp", "others": 2,
         "reasons": ["allowPrivilegeEscalation != false", "unrestricted capabilities"]},
        {"pod": "redis-0", "others": 1, "reasons": ["runAsNonRoot != true", "seccompProfile"]}]
    assert result["violators"] == {"shop": shop["violators"]}


def test_violators_keep_enforce_off_while_clean_namespaces_are_enforced():
    client = cluster()
    result = pod_security.run(client, params(), check_mode=False)
    shop, web = by_name(result)["shop"], by_name(result)["web"]
    assert shop["mode"] == "audit_warn_only" and shop["level"] == "restricted"
    assert ENFORCE not in shop["labels"] and shop["labels"][AUDIT] == "restricted"
    assert "would violate" in shop["reason"]
    assert ENFORCE not in labels_of(client, "shop")
    assert labels_of(client, "shop")[WARN] == "restricted"
    assert web["mode"] == "enforce" and web["violators"] == []
    assert {k: v for k, v in labels_of(client, "web").items() if k.startswith("pod-security")} == six("baseline")
    assert labels_of(client, "web")["kubernetes.io/metadata.name"] == "web"
    assert result["failed_namespaces"] == {} and result["version"] == "v1.36"


def test_force_enforce_sets_enforce_over_violating_pods():
    client = cluster()
    result = pod_security.run(client, params(force_enforce=True), check_mode=False)
    shop = by_name(result)["shop"]
    assert shop["mode"] == "enforce" and "forced" in shop["reason"]
    assert labels_of(client, "shop")[ENFORCE] == "restricted"
    assert shop["violators"][0]["pod"] == "web-7c9d5b6f4-2xkqp"


def test_the_labels_are_applied_server_side_with_the_namespace_carrying_only_name_and_labels():
    client = cluster()
    pod_security.run(client, params(tiers=["important"]), check_mode=False)
    applies = [c for c in client.calls if c[3] == "application/apply-patch+yaml"]
    assert [c[2]["dryRun"] for c in applies if "dryRun" in c[2]] == [["All"]]
    real = [c for c in applies if "dryRun" not in c[2]]
    assert len(real) == 1 and real[0][1] == "/api/v1/namespaces/web"
    assert real[0][4] == {"apiVersion": "v1", "kind": "Namespace",
                          "metadata": {"name": "web", "labels": six("baseline")}}
    assert real[0][2]["force"] == ["true"]


def test_a_second_run_changes_nothing():
    client = cluster()
    pod_security.run(client, params(), check_mode=False)
    client.calls.clear()
    result = pod_security.run(client, params(), check_mode=False)
    assert result["changed"] is False and client.writes() == []
    assert by_name(result)["web"]["mode"] == "already"
    # shop: still violating; audit and warn are in place, so there is nothing to apply.
    assert by_name(result)["shop"]["mode"] == "audit_warn_only" and by_name(result)["shop"]["labels"] == {}


def owned_by(manager, operation, *keys, **extra):
    """A managedFields entry: ``manager`` owns the label ``keys`` through ``operation``."""
    return dict({"manager": manager, "operation": operation, "apiVersion": "v1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:labels": dict({".": {}}, **{"f:" + key: {} for key in keys})}}},
                **extra)


def applied_labels(client):
    return [c[4]["metadata"]["labels"] for c in client.writes() if c[3] == "application/apply-patch+yaml"]


def test_no_dry_run_when_enforce_does_not_change_and_stricter_labels_set_by_others_stay_out_of_the_applied_set():
    labels = {ENFORCE: "restricted", ENFORCE_VERSION: "v1.36"}
    web = namespace("web", **labels)
    web["metadata"]["managedFields"] = [owned_by("kubectl-label", "Update", ENFORCE, ENFORCE_VERSION)]
    client = FakeClient([web])
    result = pod_security.run(client, params(), check_mode=False)
    web = by_name(result)["web"]
    assert web["mode"] == "enforce" and set(web["labels"]) == {AUDIT, AUDIT + "-version", WARN, WARN + "-version"}
    assert not [c for c in client.calls if c[3] == "application/merge-patch+json"]
    # The stricter enforce is the user's: not restated, so kubecompass does not become its co-owner.
    assert applied_labels(client) == [web["labels"]]
    assert labels_of(client, "web")[ENFORCE] == "restricted"
    assert labels_of(client, "web")[AUDIT] == "baseline"


def test_the_applied_namespace_holds_the_planned_labels_and_those_kubecompass_applied_before_only():
    # audit: the user's (kubectl label, stricter, kept); warn: applied by kubecompass earlier and at target;
    # enforce: applied by kubecompass earlier at an older level, now planned over.
    web = namespace("web", team="shop", **{AUDIT: "restricted", AUDIT + "-version": "v1.36", WARN: "baseline",
                                           WARN + "-version": "v1.36", ENFORCE: "privileged",
                                           ENFORCE_VERSION: "v1.35"})
    web["metadata"]["managedFields"] = [
        owned_by("kubectl-label", "Update", AUDIT, AUDIT + "-version", "team"),
        owned_by("kubecompass", "Apply", WARN, WARN + "-version", ENFORCE, ENFORCE_VERSION),
        owned_by("kubecompass", "Update", "kubernetes.io/metadata.name")]
    client = FakeClient([web])
    result = pod_security.run(client, params(), check_mode=False)
    assert by_name(result)["web"]["labels"] == {ENFORCE: "baseline", ENFORCE_VERSION: "v1.36"}
    assert applied_labels(client) == [{ENFORCE: "baseline", ENFORCE_VERSION: "v1.36", WARN: "baseline",
                                       WARN + "-version": "v1.36"}]
    applies = [c for c in client.calls if c[3] == "application/apply-patch+yaml"]
    assert {c[2]["force"][0] for c in applies} == {"true"}
    stored = labels_of(client, "web")
    # Left out, the warn labels would have been removed by server-side apply (as the fake models it).
    assert stored[WARN] == "baseline" and stored[ENFORCE] == "baseline"
    assert stored[AUDIT] == "restricted" and stored["team"] == "shop"
    owners = FakeClient._label_owners(client.stored("/api/v1/namespaces/web"))
    assert AUDIT not in owners[("kubecompass", "Apply")] and AUDIT in owners[("kubectl-label", "Update")]


def test_a_label_kubecompass_applied_before_that_another_manager_took_over_is_not_restated():
    # kubectl label --overwrite took warn from kubecompass (an Update takes the fields it changes).
    web = namespace("web", **dict(six("baseline"), **{WARN: "restricted"}))
    web["metadata"]["managedFields"] = [
        owned_by("kubecompass", "Apply", *[key for key in six("baseline") if key != WARN]),
        owned_by("kubectl-label", "Update", WARN)]
    assert pod_security.label_object(web, {AUDIT: "restricted"})["metadata"]["labels"] == dict(
        {key: value for key, value in six("baseline").items() if key != WARN}, **{AUDIT: "restricted"})


def test_a_namespace_that_fails_is_reported_and_the_others_are_handled():
    # gone: listed, then deleted before its dry run; shop: forbidden.
    client = cluster(fail={"/api/v1/namespaces/shop": 403, "/api/v1/namespaces/gone": 404})
    client.add(namespace("gone"))
    result = pod_security.run(client, params(), check_mode=False)
    assert result["failed_namespaces"]["gone"] == "namespace no longer exists"
    assert result["failed_namespaces"]["shop"].startswith("forbidden")
    assert by_name(result)["shop"]["error"] == result["failed_namespaces"]["shop"]
    assert labels_of(client, "web")[ENFORCE] == "baseline" and by_name(result)["web"]["error"] is None


def test_a_404_names_the_namespace_as_gone_only_when_a_read_of_it_answers_404_too():
    client = FakeClient([namespace("web")], fail={"/api/v1/namespaces/web": 404})
    result = pod_security.run(client, params(), check_mode=False)
    assert result["failed_namespaces"] == {"web": "namespace no longer exists"}
    assert client.methods()[-1] == ("GET", "/api/v1/namespaces/web")
    # The namespace still reads (the 404 came from elsewhere): the original error is the cause.
    client = FakeClient([namespace("web")], fail={"/api/v1/namespaces/web": 404})
    client._deleted_namespace = lambda path: False
    result = pod_security.run(client, params(), check_mode=False)
    assert result["failed_namespaces"] == {"web": "not found: /api/v1/namespaces/web refused with 404"}


def test_version_comes_from_the_server_unless_given():
    client = FakeClient([namespace("web")], version="v1.35.2+k3s1")
    assert pod_security.run(client, params(), check_mode=True)["version"] == "v1.35"
    client = FakeClient([namespace("web")])
    result = pod_security.run(client, params(version="latest"), check_mode=True)
    assert result["version"] == "latest" and ("GET", "/version") not in client.methods()
    assert by_name(result)["web"]["labels"][ENFORCE_VERSION] == "latest"


def test_scope_system_excluded_opted_out_unstaged_and_bad_tier_labels_are_skipped_without_requests():
    client = FakeClient([namespace("kube-system"), namespace("calico-system"),
                         namespace("legacy", **{"kubecompass.io/pod-security": "skip"}),
                         namespace("batch", **{"kubecompass.io/tier": "best_effort"}),
                         namespace("odd", **{"kubecompass.io/tier": "gold"})])
    result = pod_security.run(client, params(tiers=["critical", "important"], excluded_namespaces=["calico-*"]),
                              check_mode=False)
    entries = by_name(result)
    assert {name: e["mode"] for name, e in entries.items()} == dict.fromkeys(entries, "skip")
    assert "gold" in entries["odd"]["reason"] and entries["odd"]["tier"] is None
    assert "not staged" in entries["batch"]["reason"]
    assert [c[0] for c in client.calls] == ["GET", "LIST"]
    assert result["changed"] is False


def test_levels_override_the_tier_defaults_and_bad_input_fails_before_any_request():
    client = FakeClient([namespace("web")])
    result = pod_security.run(client, params(levels={"important": "restricted"}), check_mode=True)
    assert by_name(result)["web"]["level"] == "restricted"
    for bad in (params(levels={"important": "strict"}), params(version="1.36"), params(tiers=["gold"]),
                params(excluded_namespaces=[""])):
        client = FakeClient([namespace("web")])
        with pytest.raises(KubeCompassError) as raised:
            pod_security.run(client, bad, check_mode=True)
        assert raised.value.category == "input" and client.calls == []


def test_main_fails_at_the_end_naming_the_failed_namespace(monkeypatch, capsys):
    client = cluster(fail={"/api/v1/namespaces/shop": 403})
    code, result, warned = run_main(
        pod_security, monkeypatch, capsys, client, host="https://fake:6443")
    assert code == 1 and "1 namespace(s) could not be handled (shop: forbidden" in result["msg"]
    assert labels_of(client, "web")[ENFORCE] == "baseline"
    code, result, warned = run_main(
        pod_security, monkeypatch, capsys, cluster(), check=True, diff=False,
        host="https://fake:6443")
    assert code == 0 and result["changed"] is True and "diff" not in result


def test_a_namespace_waived_for_kc_sec_017_is_left_alone_and_an_expired_waiver_does_not_protect():
    waiver = {"check": "KC-SEC-017", "reason": "vendor agent needs hostPath", "owner": "team-web",
              "ticket": "OPS-2002", "expires": "2099-06-30", "namespace": "web"}
    client = cluster()
    result = pod_security.run(client, params(waivers=[waiver], cluster_name="c1"), False)
    left = {entry["namespace"]: entry for entry in result["left_alone"]}
    assert left["web"]["reason"] == "waived by OPS-2002 until 2099-06-30"
    assert ENFORCE not in labels_of(client, "web") and by_name(result)["web"]["mode"] == "skip"
    assert labels_of(client, "shop")[AUDIT] == "restricted"
    client = cluster()
    result = pod_security.run(client, params(waivers=[dict(waiver, expires="2020-01-01")], cluster_name="c1"), False)
    assert labels_of(client, "web")[ENFORCE] == "baseline"
    assert [w["ticket"] for w in result["expired_waivers"]] == ["OPS-2002"]
