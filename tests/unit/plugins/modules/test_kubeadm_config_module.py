"""The kubeadm_config module's plan, change summary and diff on a kubeadm-config ConfigMap, and its read/plan/write
cycle against a small in-memory stand-in for the client (get and request), never a cluster.

tests/unit/fixtures holds no kubeadm ClusterConfiguration, so the ConfigMap below is written by hand in the shape
``kubeadm init`` (v1.31 and later, kubeadm.k8s.io/v1beta4) uploads it: the document as one block-literal string
under data.ClusterConfiguration, keys sorted, an existing extraArg and extraVolume from the init configuration.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.modules import kubeadm_config as module

KUBEADM_CONFIG = yaml.safe_load("""\
apiVersion: v1
kind: ConfigMap
metadata:
  creationTimestamp: "2026-11-20T09:12:44Z"
  name: kubeadm-config
  namespace: kube-system
  resourceVersion: "231"
  uid: 0b6a9c1e-5d0f-4a52-9d7e-2f1c3b4a5e6f
data:
  ClusterConfiguration: |
    apiServer:
      certSANs:
      - kc-lb.example.net
      extraArgs:
      - name: authorization-mode
        value: Node,RBAC
      - name: oidc-issuer-url
        value: https://sso.example.net
      extraVolumes:
      - hostPath: /etc/kubernetes/oidc
        mountPath: /etc/kubernetes/oidc
        name: oidc
        pathType: DirectoryOrCreate
        readOnly: true
    apiVersion: kubeadm.k8s.io/v1beta4
    caCertificateValidityPeriod: 87600h0m0s
    certificateValidityPeriod: 8760h0m0s
    certificatesDir: /etc/kubernetes/pki
    clusterName: kubernetes
    controlPlaneEndpoint: kc-lb.example.net:6443
    controllerManager: {}
    dns: {}
    encryptionAlgorithm: RSA-2048
    etcd:
      local:
        dataDir: /var/lib/etcd
    imageRepository: registry.k8s.io
    kind: ClusterConfiguration
    kubernetesVersion: v1.31.4
    networking:
      dnsDomain: cluster.local
      podSubnet: 10.244.0.0/16
      serviceSubnet: 10.96.0.0/12
    proxy: {}
    scheduler: {}
""")

AUDIT = {
    "set_flags": {"audit-policy-file": "/etc/kubernetes/audit/policy.yaml",
                  "audit-log-path": "/var/log/kubernetes/audit/audit.log", "audit-log-maxage": "30"},
    "remove_flags": [],
    "volumes": [
        {"name": "audit-policy", "host_path": "/etc/kubernetes/audit/policy.yaml",
         "mount_path": "/etc/kubernetes/audit/policy.yaml", "read_only": True, "type": "File"},
        {"name": "audit-log", "host_path": "/var/log/kubernetes/audit", "mount_path": "/var/log/kubernetes/audit",
         "read_only": False, "type": "DirectoryOrCreate"},
    ],
}


def params(**overrides):
    base = {"namespace": "kube-system", "name": "kubeadm-config", "set_flags": {}, "remove_flags": [], "volumes": [],
            "base_flags": None}
    base.update(copy.deepcopy(AUDIT))
    base.update(overrides)
    return base


def document(text):
    return yaml.safe_load(text)


# -- plan and diff -------------------------------------------------------------------------------------------------

def test_plan_adds_flags_and_volumes_and_keeps_everything_else():
    planned = module.plan(copy.deepcopy(KUBEADM_CONFIG), params())
    assert planned["changed"] and planned["api_version"] == "kubeadm.k8s.io/v1beta4"
    assert planned["changes"] == [
        "add --audit-log-maxage=30", "add --audit-log-path=/var/log/kubernetes/audit/audit.log",
        "add --audit-policy-file=/etc/kubernetes/audit/policy.yaml",
        "add extraVolume audit-log", "add extraVolume audit-policy"]
    before, after = document(planned["before"]), document(planned["after"])
    assert after["apiServer"]["extraArgs"][:2] == before["apiServer"]["extraArgs"]
    assert after["apiServer"]["extraVolumes"][0] == before["apiServer"]["extraVolumes"][0]
    assert {k: v for k, v in after.items() if k != "apiServer"} == {k: v for k, v in before.items() if k != "apiServer"}
    assert after["apiServer"]["certSANs"] == ["kc-lb.example.net"]
    body = planned["body"]
    assert body["metadata"] == KUBEADM_CONFIG["metadata"]  # resourceVersion kept: the update is conditional
    assert (body["apiVersion"], body["kind"]) == ("v1", "ConfigMap")
    assert body["data"]["ClusterConfiguration"] == planned["after"]


def test_diff_shows_the_cluster_configuration_text():
    planned = module.plan(copy.deepcopy(KUBEADM_CONFIG), params())
    assert module.diff(params(), planned) == {
        "before_header": "kube-system/kubeadm-config ClusterConfiguration",
        "after_header": "kube-system/kubeadm-config ClusterConfiguration",
        "before": KUBEADM_CONFIG["data"]["ClusterConfiguration"], "after": planned["after"]}


def test_a_configuration_that_has_the_change_is_unchanged():
    planned = module.plan(copy.deepcopy(KUBEADM_CONFIG), params())
    again = module.plan(planned["body"], params())
    assert (again["changed"], again["changes"], again["body"]) == (False, [], None)
    assert again["before"] == again["after"]


def test_set_replace_and_remove_are_described():
    planned = module.plan(copy.deepcopy(KUBEADM_CONFIG), params(
        set_flags={"oidc-issuer-url": "https://sso2.example.net", "authorization-mode": {"add": ["Webhook"]}},
        remove_flags=["profiling", "oidc-client-id"],
        volumes=[{"name": "oidc", "host_path": "/etc/kubernetes/oidc2", "mount_path": "/etc/kubernetes/oidc",
                  "read_only": True, "type": "DirectoryOrCreate"}]))
    assert planned["changes"] == [
        "set --authorization-mode=Node,RBAC,Webhook (was Node,RBAC)",
        "set --oidc-issuer-url=https://sso2.example.net (was https://sso.example.net)",
        "replace extraVolume oidc"]


def test_remove_flag_present_is_described():
    planned = module.plan(copy.deepcopy(KUBEADM_CONFIG), params(set_flags={}, volumes=[],
                                                                remove_flags=["oidc-issuer-url"]))
    assert planned["changes"] == ["remove --oidc-issuer-url (was https://sso.example.net)"]


def test_list_merges_resolve_against_base_flags():
    planned = module.plan(copy.deepcopy(KUBEADM_CONFIG), params(
        set_flags={"enable-admission-plugins": {"add": ["NodeRestriction", "EventRateLimit"]}}, volumes=[],
        base_flags={"enable-admission-plugins": "NodeRestriction"}))
    assert planned["changes"] == ["add --enable-admission-plugins=NodeRestriction,EventRateLimit"]


@pytest.mark.parametrize("overrides, category, message", [
    ({"set_flags": {"--profiling": "false"}}, "input", "without dashes"),
    ({"volumes": [{"name": "Bad_Name", "host_path": "/x"}]}, "input", "not a DNS label"),
    ({"set_flags": {"profiling": "false"}, "remove_flags": ["profiling"]}, "input", "both set and removed"),
])
def test_bad_input_is_an_input_error(overrides, category, message):
    with pytest.raises(KubeCompassError, match=message) as caught:
        module.plan(copy.deepcopy(KUBEADM_CONFIG), params(**overrides))
    assert caught.value.category == category


@pytest.mark.parametrize("text, message", [
    ("apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n", "v1beta2"),
    ("apiServer: [unclosed\n", "not valid YAML"),
    (None, "has no ClusterConfiguration"),
])
def test_unusable_configurations_are_refused(text, message):
    configmap = copy.deepcopy(KUBEADM_CONFIG)
    configmap["data"] = {"ClusterConfiguration": text} if text else {}
    with pytest.raises(KubeCompassError, match="cannot plan the change of kube-system/kubeadm-config: .*" + message) \
            as caught:
        module.plan(configmap, params())
    assert caught.value.category == "kubeadm_config"


# -- read, plan, write against an in-memory stand-in -------------------------------------------------------------------

class FakeConfigMaps:
    """get() and request() for one ConfigMap; PUT checks the resourceVersion like the API server."""

    def __init__(self, configmap, before_put=None, put_status=None):
        self.configmap = copy.deepcopy(configmap)
        self.before_put = before_put
        self.put_status = put_status
        self.calls = []

    def get(self, path, query=None):
        self.calls.append("GET")
        assert path == "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"
        if self.configmap is None:
            raise KubeCompassError("not found: %s" % path, "not_found", 404)
        return copy.deepcopy(self.configmap)

    def request(self, method, path, query=None, body=None):
        self.calls.append(method)
        assert method == "PUT" and path == "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"
        if self.before_put:
            before_put, self.before_put = self.before_put, None
            before_put(self)
        if self.put_status:
            return self.put_status, {"message": "configmaps \"kubeadm-config\" is forbidden"}, {}
        if body["metadata"]["resourceVersion"] != self.configmap["metadata"]["resourceVersion"]:
            return 409, {"reason": "Conflict"}, {}
        self.configmap = copy.deepcopy(body)
        self.configmap["metadata"]["resourceVersion"] = str(int(body["metadata"]["resourceVersion"]) + 1)
        return 200, copy.deepcopy(self.configmap), {}


def test_reconcile_writes_once_then_is_unchanged():
    fake = FakeConfigMaps(KUBEADM_CONFIG)
    assert module.reconcile(fake, params(), check_mode=False)["changed"]
    assert fake.calls == ["GET", "PUT"] and fake.configmap["metadata"]["resourceVersion"] == "232"
    again = module.reconcile(fake, params(), check_mode=False)
    assert not again["changed"] and fake.calls == ["GET", "PUT", "GET"]


def test_check_mode_reads_only():
    fake = FakeConfigMaps(KUBEADM_CONFIG)
    planned = module.reconcile(fake, params(), check_mode=True)
    assert planned["changed"] and fake.calls == ["GET"] and fake.configmap == KUBEADM_CONFIG


def test_a_conflict_is_read_and_planned_again_once():
    def someone_edits(fake):
        text = fake.configmap["data"]["ClusterConfiguration"].replace("clusterName: kubernetes", "clusterName: prod")
        fake.configmap["data"]["ClusterConfiguration"] = text
        fake.configmap["metadata"]["resourceVersion"] = "240"

    fake = FakeConfigMaps(KUBEADM_CONFIG, before_put=someone_edits)
    assert module.reconcile(fake, params(), check_mode=False)["changed"]
    assert fake.calls == ["GET", "PUT", "GET", "PUT"]
    stored = document(fake.configmap["data"]["ClusterConfiguration"])
    assert stored["clusterName"] == "prod" and len(stored["apiServer"]["extraVolumes"]) == 3


def test_no_configmap_means_not_kubeadm():
    with pytest.raises(KubeCompassError, match="has no ConfigMap kube-system/kubeadm-config") as caught:
        module.reconcile(FakeConfigMaps(None), params(), check_mode=True)
    assert caught.value.category == "not_kubeadm"


def test_a_refused_write_fails_with_its_category():
    with pytest.raises(KubeCompassError, match="cannot update kube-system/kubeadm-config: API error 403") as caught:
        module.reconcile(FakeConfigMaps(KUBEADM_CONFIG, put_status=403), params(), check_mode=False)
    assert caught.value.category == "forbidden"


def test_component_flags_go_to_their_section_and_repeats_are_described():
    scheduler = params(component="kube-scheduler", set_flags={"profiling": "false", "bind-address": "127.0.0.1"},
                       volumes=[])
    planned = module.plan(copy.deepcopy(KUBEADM_CONFIG), scheduler)
    assert planned["changes"] == ["add --bind-address=127.0.0.1", "add --profiling=false"]
    after = document(planned["after"])
    assert after["scheduler"]["extraArgs"] == [{"name": "bind-address", "value": "127.0.0.1"},
                                               {"name": "profiling", "value": "false"}]
    assert after["apiServer"] == document(planned["before"])["apiServer"]
    assert module.plan(planned["body"], scheduler)["changed"] is False
    repeated = copy.deepcopy(planned["body"])
    config = document(repeated["data"]["ClusterConfiguration"])
    config["scheduler"]["extraArgs"].insert(0, {"name": "profiling", "value": "true"})
    repeated["data"]["ClusterConfiguration"] = yaml.safe_dump(config)
    again = module.plan(repeated, scheduler)
    assert again["changes"] == ["set --profiling=false (was repeated)"]
    assert document(again["after"])["scheduler"]["extraArgs"] == [{"name": "profiling", "value": "false"},
                                                                  {"name": "bind-address", "value": "127.0.0.1"}]
