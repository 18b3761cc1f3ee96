"""kube-bench v0.14.0 (cis-1.11, targets master, etcd and controlplane) as the judge of the collection's CIS verdicts,
on a node of the local control plane as the fixtures leave it (issue 17, item 3; remediation comes later).

Two facts are pinned: the automated items kube-bench fails on this rig, each with its cause; and on every automated
item both tools judge, whether the collection agrees with kube-bench, each disagreement with its cause. A change in
either tool's verdicts on this rig fails the test until the lists say why.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from kclocal import kubebench
from tests.helpers import REPO, VENV_BIN, ansible_env, run

pytestmark = pytest.mark.nodes(1)

PLAYBOOK = "kubecompass.readiness.assess"
# What both tools said per automated item on this rig; hack/gen_cis.py renders it into docs/cis.md.
RECORD = REPO / "hack" / "data" / "kube-bench-rig.yml"
RECORD_HEADER = ("# Written by tests/integration/test_cis_kube_bench.py (KUBECOMPASS_RECORD=1) from kube-bench v0.14.0 and\n"
                 "# one check-mode assessment on a fresh one-node local control plane; the test fails when it is\n"
                 "# stale. Per automated item: kube-bench's status, the collection's verdict, agreement.\n")


def collection_verdicts(control_plane, tmp_path):
    """{CIS ID: {check ID: verdict}} from one check-mode assessment of the control plane (its node group included),
    over the checks whose readiness item maps to the CIS item directly (analog mappings judge something else)."""
    report_dir = tmp_path / "reports"
    vars_file = tmp_path / "vars.yml"
    vars_file.write_text(yaml.safe_dump({"kubecompass_report_dir": str(report_dir)}))
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(control_plane.inventory), PLAYBOOK, "--check",
                  "-e", "@%s" % vars_file], env=ansible_env(), timeout=600)
    report_file = report_dir / "kubecompass-report.json"
    assert report_file.exists(), result.stdout[-4000:] + result.stderr[-2000:]
    [cluster] = json.loads(report_file.read_text())["clusters"]
    by_item: dict[str, dict[str, str]] = {}
    for finding in cluster["findings"]:
        for control in finding.get("controls") or ():
            if control["framework"] == "cis_kubernetes" and control["basis"] == "direct":
                by_item.setdefault(control["id"], {})[finding["check_id"]] = finding["verdict"]
    return by_item


def agreement(bench, ours):
    """({CIS ID: how}, {CIS ID: how}): agreed and disagreed, over the automated items both tools judge. The
    collection judges an item when a check mapped to it passed or failed (unknown and not_applicable judge
    nothing); it fails the item when any such check fails."""
    agreed, disagreed = {}, {}
    for number, result in sorted(kubebench.results(bench).items()):
        judged = {check: verdict for check, verdict in (ours.get(number) or {}).items() if verdict in ("pass", "fail")}
        if result.get("type") == "manual" or result["status"] not in ("PASS", "FAIL") or not judged:
            continue
        verdict = "fail" if "fail" in judged.values() else "pass"
        how = "kube-bench %s, %s" % (result["status"], ", ".join("%s %s" % pair for pair in sorted(judged.items())))
        (agreed if verdict.upper() == result["status"] else disagreed)[number] = how
    return agreed, disagreed


def numeric(number):
    return tuple(int(part) for part in number.split("."))


def rig_record(bench, ours, disagreed):
    """{CIS ID: {kube_bench, collection, agreement}} over kube-bench's automated items."""
    record = {}
    for number, result in sorted(kubebench.results(bench).items(), key=lambda pair: numeric(pair[0])):
        if result.get("type") == "manual":
            continue
        verdicts = set((ours.get(number) or {}).values())
        collection = next((v for v in ("fail", "pass", "unknown", "not_applicable") if v in verdicts), "not judged")
        both = result["status"] in ("PASS", "FAIL") and collection in ("pass", "fail")
        record[number] = {"kube_bench": result["status"], "collection": collection,
                          "agreement": ("disagreed: " + disagreed[number] if number in disagreed
                                        else "agreed" if both else "not judged by both")}
    return record


def test_kube_bench_and_the_collection_on_the_rig(control_plane, kube_bench, tmp_path):
    bench = kube_bench()
    assert [c["version"] for c in bench["Controls"]] == ["cis-1.11"] * len(bench["Controls"])
    assert sorted(c["node_type"] for c in bench["Controls"]) == ["controlplane", "etcd", "master"]
    fails = kubebench.failing(bench)
    ours = collection_verdicts(control_plane, tmp_path)
    agreed, disagreed = agreement(bench, ours)
    print("kube-bench totals", bench["Totals"])
    print("kube-bench FAIL (automated)", json.dumps(fails, indent=1))
    print("agreed", json.dumps(agreed, indent=1))
    print("disagreed", json.dumps(disagreed, indent=1))
    for number in sorted(disagreed):
        print(number, repr(kubebench.results(bench)[number].get("actual_value"))[:400])
    assert sorted(fails) == sorted(RIG_FAILS), "kube-bench's automated FAILs on the rig changed"
    assert sorted(disagreed) == sorted(DISAGREEMENTS), "the collection and kube-bench disagree on other items"
    assert len(agreed) >= 20, agreed
    record = {"benchmark": kubebench.BENCHMARK, "rig": "fresh one-node local control plane",
              "items": rig_record(bench, ours, {n: DISAGREEMENTS.get(n, "cause not yet known") for n in disagreed})}
    if os.environ.get("KUBECOMPASS_RECORD") == "1":
        RECORD.write_text(RECORD_HEADER + yaml.safe_dump(record, sort_keys=False, width=120))
    assert RECORD.exists() and yaml.safe_load(RECORD.read_text()) == record, (
        "%s is stale: rerun this test with KUBECOMPASS_RECORD=1, then hack/gen_cis.py" % RECORD.relative_to(REPO))


# The automated items kube-bench fails on the rig before any remediation, and why (kubeadm's defaults, as
# tests/cluster/kclocal/manifests.py renders them).
RIG_FAILS = {
    "1.1.12": "etcd data directory root:root: kubeadm creates it so and etcd runs as root (no etcd user)",
    "1.2.5": "--kubelet-certificate-authority: kubeadm does not set it (kubelet serving certificates are self-signed)",
    "1.2.15": "--profiling: not set, and the apiserver's default is true",
    "1.2.16": "--audit-log-path: audit logging is not configured until the audit_logging role runs",
    "1.2.17": "--audit-log-maxage: as 1.2.16",
    "1.2.18": "--audit-log-maxbackup: as 1.2.16",
    "1.2.19": "--audit-log-maxsize: as 1.2.16",
    "1.2.30": "--service-account-extend-token-expiration: not set, default true",
    "1.3.2": "controller-manager --profiling: not set, default true",
    "1.3.7": "controller-manager --bind-address: not set (0.0.0.0)",
    "1.4.1": "scheduler --profiling: not set, default true",
    "1.4.2": "scheduler --bind-address: not set (0.0.0.0)",
}

# Where the collection's verdict on an item differs from kube-bench's, with the cause. Empty since checks carry only
# the CIS IDs they test (tests/unit/.../test_cis_mapping.py): before, 15 items disagreed because a check shared a
# readiness item whose CIS IDs it never reads (KC-SEC-010 with etcd's 2.1-2.7, KC-SEC-014 with 1.2.6-1.2.8, ...).
DISAGREEMENTS: dict[str, str] = {}
