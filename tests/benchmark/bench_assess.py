#!/usr/bin/env python
"""Benchmark: the assessment's cost against cluster size, and against the plain approach.

Seeds the local control plane with N namespaces (each: a 2-replica Deployment whose pods are never scheduled, a
Service, a default-deny NetworkPolicy and a PDB), then for each size prints
- ours: API requests, gather and evaluate seconds, total module seconds and peak RSS of the process that runs the
  assess code path (the same functions the module runs);
- plain: what a user would write with kubernetes.core-style lists: for every check, one LIST per namespaced kind it
  reads per namespace (plus one cluster-wide LIST per cluster-scoped kind), each a task-loop iteration in an
  Ansible playbook. Its request count is exact; its wall time is measured on a sample of namespaces through
  ansible-playbook and scaled linearly to all of them (printed as such).

Not a test: it prints figures. Run: .venv/bin/python tests/benchmark/bench_assess.py --sizes 200 1000 2000
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "cluster"))
sys.path.insert(0, str(REPO / ".venv" / "collections"))
sys.path.insert(0, str(REPO))

from kclocal import cluster  # noqa: E402
from kclocal.kube import ApiError  # noqa: E402
from tests.helpers import VENV_BIN, ansible_env  # noqa: E402

PREFIX = "bench-"

MEASURE = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[2])
from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import load_configuration, AUTH_ARG_SPEC
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import KubeClient
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.assess import assess
params = {k: v.get("default") for k, v in AUTH_ARG_SPEC.items()}
params["kubeconfig"] = sys.argv[1]
started = time.monotonic()
configuration, _ = load_configuration(params)
client = KubeClient(configuration, timeout=120)
result = assess(client, "bench", "critical", distribution="kubeadm")
total = time.monotonic() - started
print(json.dumps({"api_requests": result["gather"]["api_requests"], "kinds": result["gather"]["kinds_listed"],
                  "gather_seconds": result["gather"]["timings"]["gather_seconds"],
                  "evaluate_seconds": result["gather"]["timings"]["evaluate_seconds"],
                  "total_seconds": round(total, 3),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
                  "findings": len(result["findings"])}))
"""


def namespace_objects(name: str) -> list[tuple[str, dict]]:
    app = {"app": "web"}
    return [
        ("/apis/apps/v1/namespaces/%s/deployments" % name, {
            "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": app}, "template": {"metadata": {"labels": app}, "spec": {
                # A scheduler that does not exist: pods stay Pending without keeping kube-scheduler busy.
                "schedulerName": "bench-unscheduled",
                "containers": [{"name": "web", "image": "registry.example.net/web:1", "readinessProbe": {
                    "httpGet": {"path": "/", "port": 8080}}}]}}}}),
        ("/api/v1/namespaces/%s/services" % name, {
            "metadata": {"name": "web"}, "spec": {"selector": app, "ports": [{"port": 80, "targetPort": 8080}]}}),
        ("/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies" % name, {
            "metadata": {"name": "default-deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}),
        ("/apis/policy/v1/namespaces/%s/poddisruptionbudgets" % name, {
            "metadata": {"name": "web"}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": app}}}),
    ]


def seed(client, first: int, last: int) -> float:
    def one(index: int) -> None:
        name = "%s%04d" % (PREFIX, index)
        for path, body in [("/api/v1/namespaces", {"metadata": {"name": name, "labels": {
                "kubecompass.io/tier": "critical"}}})] + namespace_objects(name):
            try:
                client.request("POST", path, body)
            except ApiError as exc:
                if exc.status != 409:
                    raise

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(first, last)))
    return time.monotonic() - started


def measure_ours(kubeconfig: Path) -> dict:
    output = subprocess.run([sys.executable, "-c", MEASURE, str(kubeconfig), str(REPO / ".venv" / "collections")],
                            capture_output=True, text=True, check=True).stdout
    return json.loads(output)


def plain_plan(namespaces: list[str]) -> tuple[int, list[tuple[str, str]]]:
    """(request count, the per-namespace (check, path) loop items) of one LIST per check per namespaced kind."""
    from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import catalog
    from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.gather import KIND_SPECS

    per_namespace = []
    cluster_scoped = 0
    for check in catalog.all_checks():
        for kind in check.needs:
            if kind not in KIND_SPECS:
                continue
            path, _query = KIND_SPECS[kind]
            parts = path.strip("/").split("/")
            # Namespaced kinds listed cluster-wide by us are listed per namespace by the plain approach.
            namespaced = kind not in ("namespaces", "nodes", "customresourcedefinitions", "clusterroles",
                                      "clusterrolebindings", "validatingwebhookconfigurations",
                                      "mutatingwebhookconfigurations", "validatingadmissionpolicies",
                                      "validatingadmissionpolicybindings", "ciliumclusterwidenetworkpolicies",
                                      "calicoglobalnetworkpolicies", "kube_system_configmaps",
                                      "kubernetes_endpointslices")
            if namespaced:
                resource_path = "/".join(parts[:-1]) + "/namespaces/{ns}/" + parts[-1]
                per_namespace.append((check.id, "/" + resource_path))
            else:
                cluster_scoped += 1
    return cluster_scoped + len(per_namespace) * len(namespaces), per_namespace


def measure_plain(paths: cluster.Paths, namespaces: list[str], per_namespace: list[tuple[str, str]]) -> float:
    """Seconds for the plain playbook over the given namespaces (every check x kind x namespace is a loop item)."""
    admin = paths.admin_pki
    server = cluster.admin_client(paths).server
    items = [{"check": check, "url": server + path.format(ns=ns)} for ns in namespaces for check, path in per_namespace]
    with tempfile.TemporaryDirectory() as tmp:
        playbook = Path(tmp) / "plain.yml"
        playbook.write_text(json.dumps([{
            "name": "Plain approach: one list per check per namespace", "hosts": "localhost", "gather_facts": False,
            "tasks": [{"name": "List", "ansible.builtin.uri": {
                "url": "{{ item.url }}", "client_cert": str(admin / "admin.crt"), "client_key": str(admin / "admin.key"),
                "ca_path": str(admin / "ca.crt"), "return_content": False,
                # APIs whose CRD is absent answer 404; a user's playbook would tolerate them too.
                "status_code": [200, 404]},
                "loop": items, "loop_control": {"label": "{{ item.check }}"}, "register": "lists"}]}]))
        started = time.monotonic()
        result = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                                 "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                                env=ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal"),
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit("plain playbook failed:\n%s%s" % (result.stdout[-3000:], result.stderr[-2000:]))
        return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000, 2000])
    parser.add_argument("--plain-sample", type=int, default=10,
                        help="namespaces the plain playbook really runs over per size (then scaled)")
    args = parser.parse_args()
    cluster.up(1)
    paths = cluster.Paths(cluster.state_dir())
    client = cluster.admin_client(paths, timeout=60)
    existing = sum(1 for n in client.request("GET", "/api/v1/namespaces")["items"]
                   if n["metadata"]["name"].startswith(PREFIX))
    rows = []
    for size in sorted(args.sizes):
        seeded_in = seed(client, existing, size) if size > existing else 0.0
        existing = max(existing, size)
        ours = measure_ours(paths.admin_conf)
        names = ["%s%04d" % (PREFIX, i) for i in range(size)]
        plain_requests, per_namespace = plain_plan(names)
        sample = names[:args.plain_sample]
        sample_seconds = measure_plain(paths, sample, per_namespace)
        plain_seconds = sample_seconds * size / len(sample)
        rows.append((size, ours, plain_requests, plain_seconds, sample_seconds, len(sample), seeded_in))
        print("size %5d: ours %3d requests (%d kinds), gather %.2fs, evaluate %.2fs, module %.2fs, peak RSS %.0f MB | "
              "plain %d requests, ~%.0fs (measured %.1fs on %d namespaces) | ratio requests %.0fx, time %.0fx"
              % (size, ours["api_requests"], ours["kinds"], ours["gather_seconds"], ours["evaluate_seconds"],
                 ours["total_seconds"], ours["peak_rss_mb"], plain_requests, plain_seconds, sample_seconds,
                 len(sample), plain_requests / ours["api_requests"], plain_seconds / ours["total_seconds"]),
              flush=True)
    print("\n| namespaces | our requests | kinds | gather s | evaluate s | module s | peak RSS MB | plain requests "
          "| plain s (scaled) | request ratio | time ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size, ours, plain_requests, plain_seconds, _sample_s, _n, _seed in rows:
        print("| %d | %d | %d | %.2f | %.2f | %.2f | %.0f | %d | %.0f | %.0fx | %.0fx |" % (
            size, ours["api_requests"], ours["kinds"], ours["gather_seconds"], ours["evaluate_seconds"],
            ours["total_seconds"], ours["peak_rss_mb"], plain_requests, plain_seconds,
            plain_requests / ours["api_requests"], plain_seconds / ours["total_seconds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
