#!/usr/bin/env python
"""Benchmark: the largest job event of an assess.yml run, as AWX stores it, and the size of the reports.

Runs playbooks/assess.yml through ansible-runner (the engine AWX and AWX's execution environments use) against the
running local control plane, then prints the size of the largest file under artifacts/<ident>/job_events/ (one per
event: the task's result and its invocation arguments), which event it is, and the size of each report.

Two scenarios:
- one cluster holding --namespaces namespaces (each: a Deployment, a Service, a NetworkPolicy, a PDB; seeded with
  tests/benchmark/bench_assess.py's objects);
- --clusters cluster hosts all pointing at the one local control plane, which holds --fleet-namespaces namespaces.

--collection points at another checkout of the collection (for example `git archive <commit>` unpacked under
DIR/ansible_collections/kubecompass/readiness) to measure the code before a change. The namespaces this script seeds
are deleted at the end unless --keep (a control plane this script started is stopped). Not a test: it prints
figures. The local control plane is shared: run it as
  flock /tmp/kc-localcp.lock .venv/bin/python tests/benchmark/bench_events.py --namespaces 500 --clusters 100
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "cluster"))
sys.path.insert(0, str(REPO))

import ansible_runner  # noqa: E402
import yaml  # noqa: E402

from kclocal import cluster  # noqa: E402
from kclocal.kube import ApiError  # noqa: E402
from tests.benchmark import bench_assess  # noqa: E402
from tests.helpers import DEV_COLLECTIONS  # noqa: E402

EVENT_TARGET = 64 * 1024


def seeded(client) -> list[str]:
    return sorted(n["metadata"]["name"] for n in client.request("GET", "/api/v1/namespaces")["items"]
                  if n["metadata"]["name"].startswith(bench_assess.PREFIX))


def seed_to(client, count: int) -> float:
    present = len(seeded(client))
    return bench_assess.seed(client, present, count) if count > present else 0.0


def inventory(paths: cluster.Paths, clusters: int) -> dict:
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "kubecompass_distribution": "kubeadm", "kubecompass_tier": "critical",
            "kubecompass_kubeconfig": str(paths.admin_conf)}
    names = ["localcp"] if clusters == 1 else ["cluster-%03d" % i for i in range(clusters)]
    return {"all": {"children": {"k8s_clusters": {"hosts": {name: dict(host) for name in names}}}}}


def measure(paths: cluster.Paths, collections: Path, clusters: int, forks: int, max_event_res: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="kc-bench-events-") as tmp:
        data = Path(tmp)
        (data / "inventory").mkdir()
        (data / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory(paths, clusters)))
        reports = data / "reports"
        started = time.monotonic()
        runner = ansible_runner.run(
            private_data_dir=str(data), playbook="kubecompass.readiness.assess", cmdline="--check",
            extravars={"kubecompass_report_dir": str(reports)}, forks=forks, quiet=True,
            envvars={"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                     # The runner empties an event's result above this many characters; AWX passes 700000.
                     "MAX_EVENT_RES": str(max_event_res),
                     "PATH": "%s%s%s" % (Path(sys.executable).parent, os.pathsep, os.environ.get("PATH", ""))})
        seconds = time.monotonic() - started
        events = sorted((path.stat().st_size, path) for path in
                        (data / "artifacts" / runner.config.ident / "job_events").glob("*.json"))
        size, path = events[-1]
        event = json.loads(path.read_text())
        data_ = event.get("event_data") or {}
        report_sizes = {p.name: p.stat().st_size for p in sorted(reports.glob("kubecompass-report*"))}
        return {"rc": runner.rc, "seconds": round(seconds, 1), "events": len(events), "largest": size,
                "largest_event": "%s %s" % (event.get("event"), data_.get("task") or ""),
                "over_target": sum(1 for s, _p in events if s >= EVENT_TARGET),
                "total_events_bytes": sum(s for s, _p in events), "reports": report_sizes}


def show(label: str, figures: dict) -> None:
    print("%s: rc %s in %ss; %d events, largest %d bytes (%s), %d event(s) >= 64 KB, all events %d bytes; "
          "reports %s" % (label, figures["rc"], figures["seconds"], figures["events"], figures["largest"],
                          figures["largest_event"], figures["over_target"], figures["total_events_bytes"],
                          ", ".join("%s %d" % item for item in figures["reports"].items())), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--namespaces", type=int, default=2000, help="namespaces of the one-cluster scenario")
    parser.add_argument("--clusters", type=int, default=100, help="cluster hosts of the fleet scenario")
    parser.add_argument("--fleet-namespaces", type=int, default=50, help="namespaces while the fleet runs")
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--collection", type=Path, nargs="+", default=[DEV_COLLECTIONS],
                        help="collections paths holding ansible_collections/kubecompass/readiness to measure")
    parser.add_argument("--max-event-res", type=int, nargs="+", default=[700000],
                        help="ansible-runner's MAX_EVENT_RES (AWX: 700000; a huge value shows the uncut size)")
    parser.add_argument("--keep", action="store_true", help="keep the seeded namespaces")
    args = parser.parse_args()
    args.collection = [path.resolve() for path in args.collection]  # ansible-runner runs from its own directory
    paths = cluster.Paths(cluster.state_dir())
    # As the test fixture does: reuse a running control plane, else start one and stop it at the end.
    started_here = not cluster.is_running(paths)
    if started_here:
        cluster.up(1)
    client = cluster.admin_client(paths, timeout=60)
    before = set(seeded(client))
    try:
        for count, size in ((args.clusters, args.fleet_namespaces), (1 if args.namespaces else 0, args.namespaces)):
            if not count:
                continue
            seconds = seed_to(client, size)
            for collection in args.collection:
                for cap in args.max_event_res:
                    show("%s, %d cluster(s) x %d namespaces (seeded in %.0fs), MAX_EVENT_RES %d" % (
                        os.path.realpath(collection / "ansible_collections" / "kubecompass" / "readiness"), count,
                        len(seeded(client)), seconds, cap), measure(paths, collection, count, args.forks, cap))
    finally:
        if started_here:
            cluster.down()
        elif not args.keep:
            for name in sorted(set(seeded(client)) - before):
                try:
                    client.request("DELETE", "/api/v1/namespaces/%s" % name)
                except ApiError as exc:
                    if exc.status != 404:
                        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
