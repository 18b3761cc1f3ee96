"""Issue 13 items 7 and 8 on the local control plane (remediate.yml, tags netpol and psa).

7: a namespace whose KC-SEC-016 finding is waived (valid waiver, owner and ticket, not expired) gets no
   kubecompass-default-deny, and the output says why; an expired waiver protects nothing.
8: a namespace whose user policy allows all traffic cancels the deny: the network policy verification fails, yet the
   later role (pod_security) still runs, and the play fails once at the end naming the cluster and KC-SEC-016 with
   its cause.

The cluster is shared with other tests: every role is scoped to this file's wv-* namespaces, deleted afterwards."""

from __future__ import annotations

import json
import time

import pytest

from kclocal.kube import ApiError
from tests.helpers import VENV_BIN, ansible_env, run
from tests.integration import seed

pytestmark = pytest.mark.nodes(1)

# Every namespace but wv-*: the roles touch only this file's namespaces.
OTHERS = ["[!w]*", "w[!v]*", "wv[!-]*", "w", "wv"]
WAIVED, EXPIRED, OPEN = "wv-pay", "wv-old", "wv-open"
DENY = "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies/kubecompass-default-deny"
WAIVERS = [
    {"check": "KC-SEC-016", "reason": "egress to the payment gateway", "owner": "team-pay", "ticket": "OPS-2001",
     "expires": "2099-06-30", "namespace": WAIVED},
    {"check": "KC-SEC-016", "reason": "legacy batch egress", "owner": "team-old", "ticket": "OPS-1999",
     "expires": "2020-01-31", "namespace": EXPIRED},
]


@pytest.fixture(scope="module")
def cp(control_planes):
    control_plane = control_planes.get(1)
    client = control_plane.client()
    for name in (WAIVED, EXPIRED):
        seed.create(client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield control_plane
    for name in (WAIVED, EXPIRED, OPEN):
        try:
            client.request("DELETE", f"/api/v1/namespaces/{name}")
        except ApiError as exc:
            if exc.status != 404:
                raise
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        names = {n["metadata"]["name"] for n in client.request("GET", "/api/v1/namespaces")["items"]}
        if not names & {WAIVED, EXPIRED, OPEN}:
            break
        time.sleep(1)


def remediate(cp, tags):
    variables = {"network_policies_tiers": ["critical", "important", "best_effort"],
                 "network_policies_excluded_namespaces": OTHERS,
                 "network_policies_dns": {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
                 "pod_security_excluded_namespaces": OTHERS,
                 "kubecompass_waivers": WAIVERS}
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(cp.inventory), "playbooks/remediate.yml",
                  "--tags", tags, "-e", json.dumps(variables)], env=ansible_env(), timeout=900)
    return result, result.stdout + result.stderr


def exists(client, path):
    try:
        client.request("GET", path)
        return True
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise


def test_a_waived_namespace_is_left_alone_and_said_so_while_an_expired_waiver_protects_nothing(cp):
    result, output = remediate(cp, "netpol")
    assert result.returncode == 0, output[-4000:]
    client = cp.client()
    assert not exists(client, DENY % WAIVED)
    assert exists(client, DENY % EXPIRED)
    assert (f"{WAIVED}: no default deny, waived by OPS-2001 until 2099-06-30 "
            "(team-pay: egress to the payment gateway)") in output, output[-4000:]
    # A second run changes nothing and still leaves it alone.
    again, output = remediate(cp, "netpol")
    assert again.returncode == 0 and "changed=0" in again.stdout, output[-4000:]
    assert not exists(client, DENY % WAIVED)


def test_an_unfixable_check_does_not_stop_the_later_roles_and_the_play_fails_once_naming_it(cp):
    client = cp.client()
    seed.create(client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPEN}})
    seed.create(client, {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                         "metadata": {"name": "allow-everything", "namespace": OPEN},
                         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                                  "ingress": [{}], "egress": [{}]}})
    result, output = remediate(cp, "netpol,psa")
    assert result.returncode != 0, output[-4000:]
    # The deny was applied and the user's policy left alone; the later role ran.
    assert exists(client, DENY % OPEN) and exists(
        client, f"/apis/networking.k8s.io/v1/namespaces/{OPEN}/networkpolicies/allow-everything")
    labels = client.request("GET", f"/api/v1/namespaces/{OPEN}")["metadata"]["labels"]
    assert labels.get("pod-security.kubernetes.io/enforce") in ("baseline", "restricted"), labels
    # One failure, at the end, naming the cluster, the check and its cause.
    final = [line for line in output.splitlines() if line.startswith("fatal: [localcp]")]
    assert len(final) == 1, output[-4000:]
    assert "localcp: remediation incomplete - KC-SEC-016 not fixed: fail: " in final[0], output[-4000:]
    assert f"{OPEN}: default-deny cancelled by allow-all" in final[0] and "allow-everything" in final[0], final[0]
    print(final[0])
