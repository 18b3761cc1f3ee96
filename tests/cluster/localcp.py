#!/usr/bin/env python
"""Local control plane for KubeCompass tests and demos: build [--velero] [--kube-bench] [--kubeadm] |
up [--nodes 1|3] [--velero] | down | status | env."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kclocal import build, cluster, velero  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localcp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="build (or find cached) control-plane binaries")
    build_cmd.add_argument("--velero", action="store_true", help="also velero and the tests' object-store plugin")
    build_cmd.add_argument("--kube-bench", action="store_true", help="also kube-bench, the CIS benchmark's judge")
    build_cmd.add_argument("--kubeadm", action="store_true", help="also kubeadm (certificate expiry and renewal)")
    up = sub.add_parser("up", help="start the local control plane (reuses a running one of the same size)")
    up.add_argument("--nodes", type=int, default=1, choices=(1, 3))
    up.add_argument("--timeout", type=float, default=300)
    up.add_argument("--velero", action="store_true",
                    help="also run velero server out of cluster, backing up into a directory under the state dir")
    sub.add_parser("down", help="stop everything and remove what was created outside the state directory")
    sub.add_parser("status", help="print the state of every node and pod as JSON")
    sub.add_parser("env", help="print shell exports for the admin kubeconfig and the inventory")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            extra = ((build.VELERO,) * args.velero + (build.KUBE_BENCH,) * args.kube_bench
                     + (build.KUBEADM,) * args.kubeadm)
            return build.main((build.CONTROL_PLANE, *extra))
        if args.command == "up":
            state = cluster.up(args.nodes, timeout=args.timeout)
            paths = cluster.Paths(cluster.state_dir())
            print(f"local control plane up: {len(state['nodes'])} node(s)")
            print(f"  kubeconfig: {paths.admin_conf}")
            print(f"  inventory:  {paths.inventory}")
            if args.velero:
                record = velero.up(paths)
                print(f"  velero:     server pid {record['pid']}, metrics http://{record['metrics_address']}/metrics, "
                      f"log {record['log']}")
                print(f"  backups:    {record['bucket_dir']}")
            return 0
        if args.command == "down":
            problems = cluster.down()
            for problem in problems:
                print(f"down: {problem}", file=sys.stderr)
            return 1 if problems else 0
        if args.command == "status":
            result = cluster.status()
            print(json.dumps(result, indent=2))
            return 0 if result.get("running") else 3
        if args.command == "env":
            paths = cluster.Paths(cluster.state_dir())
            print(f"export KUBECONFIG={paths.admin_conf}")
            print(f"export KUBECOMPASS_INVENTORY={paths.inventory}")
            return 0
    except (cluster.ClusterError, build.BuildError) as exc:
        print(f"localcp {args.command}: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
