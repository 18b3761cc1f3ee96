"""The gate fails closed on the real local control plane, whatever --limit selects, and partial runs (AWX job slices,
several --limit runs) merge into the report of one run.

The --limit matrix of the closing note is MATRIX: each row runs assess.yml and asserts its exit code and the gate's
one line. "gone" is a cluster whose kubeconfig points at a closed port; "bystander" is a host outside k8s_clusters.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.helpers import VENV_BIN, ansible_env, run

# Checks that pass on any local control plane whatever other tests left in it: the matrix is about the gate, not
# the findings (the full catalog is judged in test_assess.py and in the slicing test below).
PASSING_CHECKS = ["KC-SEC-024"]
GONE = "https://127.0.10.99:6443"
NO_CLUSTER = "Gate (fail on high): FAILED - no cluster was assessed."
GONE_CAUSE = "1 cluster(s) unreachable: gone (gone: cannot reach %s" % GONE


def cluster_host(control_plane, **extra):
    inventory = yaml.safe_load(control_plane.inventory.read_text())
    host = dict(inventory["all"]["children"]["k8s_clusters"]["hosts"]["localcp"])
    host.pop("kubecompass_control_plane_group")  # the nodes' SSH is not what these tests are about
    host.update(extra)
    return host


def write_inventory(control_plane, tmp_path, clusters):
    unreachable = tmp_path / "gone.conf"
    unreachable.write_text(control_plane.kubeconfig.read_text().replace(control_plane.server(), GONE))
    hosts = {name: cluster_host(control_plane) for name in clusters}
    hosts["gone"] = cluster_host(control_plane, kubecompass_kubeconfig=str(unreachable))
    inventory = {"all": {
        # localhost listed, as many inventories do: "--limit localhost" (AWX relaunch on failed hosts) selects it.
        "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter":
                                "{{ ansible_playbook_python }}"}},
        "children": {"k8s_clusters": {"hosts": hosts},
                     "outside": {"hosts": {"bystander": {"ansible_connection": "local"}}}}}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def playbook(name, inventory, report_dir, *args, extra=None):
    variables = dict(extra or {}, kubecompass_report_dir=str(report_dir))
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "kubecompass.readiness.%s" % name,
           "-e", json.dumps(variables)] + list(args)
    return run(cmd, env=ansible_env(), timeout=900)


def gate_line(result):
    """The gate's message as the assert task printed it (fail_msg or success_msg)."""
    for line in result.stdout.splitlines():
        if "Gate (fail on " in line:
            start = line.index("Gate (fail on ")
            end = line.find(" Reports: ", start)
            return line[start:end if end > 0 else None].rstrip('",')
    return None


# (case, assess.yml arguments, extra vars, exit code, what the gate line says)
MATRIX = [
    ("one cluster", ["--limit", "localcp"], {}, 0,
     "Gate (fail on high): PASSED - no finding at or above high failed in 1 cluster(s)."),
    ("a group", ["--limit", "k8s_clusters"], {}, 2, "Gate (fail on high): FAILED - %s" % GONE_CAUSE),
    ("a group, unreachable not gated", ["--limit", "k8s_clusters"], {"kubecompass_fail_on_unreachable": False}, 0,
     "Gate (fail on high): PASSED - 1 cluster(s) unreachable, not gated (kubecompass_fail_on_unreachable is false): "
     "gone (gone: cannot reach %s" % GONE),
    ("localhost", ["--limit", "localhost"], {}, 2, NO_CLUSTER),
    ("a host outside k8s_clusters", ["--limit", "bystander"], {}, 2, NO_CLUSTER),
    ("an unreachable cluster", ["--limit", "gone"], {}, 2, "Gate (fail on high): FAILED - %s" % GONE_CAUSE),
    ("zero clusters (a target group with none)", [], {"kubecompass_target": "no_such_group"}, 2, NO_CLUSTER),
]


@pytest.mark.parametrize("case, args, extra, exit_code, gate", MATRIX, ids=[row[0] for row in MATRIX])
def test_the_gate_fails_closed_whatever_limit_selects(control_plane, tmp_path, case, args, extra, exit_code, gate):
    inventory = write_inventory(control_plane, tmp_path, ["localcp"])
    report_dir = tmp_path / "reports"
    result = playbook("assess", inventory, report_dir, "--check", *args,
                      extra=dict(extra, kubecompass_include_checks=PASSING_CHECKS))
    output = result.stdout + result.stderr
    assert result.returncode == exit_code, output[-4000:]
    line = gate_line(result)
    assert line is not None and line.startswith(gate), (line, gate)
    assert "()" not in line and "'item' is undefined" not in output and "Traceback" not in output
    report = json.loads((report_dir / "kubecompass-report.json").read_text())
    assert report["gate"]["message"] == line and report["gate"]["failed"] is (exit_code != 0)


def test_a_limit_that_matches_no_host_fails(control_plane, tmp_path):
    inventory = write_inventory(control_plane, tmp_path, ["localcp"])
    result = playbook("assess", inventory, tmp_path / "reports", "--check", "--limit", "no-such-host")
    assert result.returncode != 0
    assert "no hosts to target" in result.stderr or "no hosts matched" in result.stdout


def test_a_malformed_gate_variable_is_one_line_naming_it(control_plane, tmp_path):
    inventory = write_inventory(control_plane, tmp_path, ["localcp"])
    result = playbook("assess", inventory, tmp_path / "reports", "--check", "--limit", "localcp",
                      extra={"kubecompass_fail_on": "severe", "kubecompass_include_checks": PASSING_CHECKS})
    assert result.returncode == 2
    assert "kubecompass_fail_on 'severe' is not one of critical, high, medium, low, info" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def verdicts(report):
    return {c["cluster"]: {f["check_id"]: (f["verdict"], len(f["objects"])) for f in c["findings"]}
            for c in report["clusters"]}


def test_three_slices_merged_equal_one_run(control_plane, tmp_path):
    clusters = ["c1", "c2", "c3", "c4"]
    inventory = write_inventory(control_plane, tmp_path, clusters)
    limit = "k8s_clusters:!gone"
    # A control plane started moments ago still changes under its controllers (ServiceAccounts, ConfigMaps in new
    # namespaces): compare slices with a whole run only once two whole runs in a row agree.
    previous = None
    for _attempt in range(5):
        whole = playbook("assess", inventory, tmp_path / "whole", "--check", "--limit", limit)
        assert gate_line(whole), whole.stdout[-3000:]
        current = verdicts(json.loads((tmp_path / "whole" / "kubecompass-report.json").read_text()))
        if current == previous:
            break
        previous = current
    else:
        pytest.fail("the control plane did not settle: five whole runs in a row disagreed")
    # AWX slices round-robin over hosts ordered by name: c1+c4, c2, c3.
    slices = [["c1", "c4"], ["c2"], ["c3"]]
    for index, hosts in enumerate(slices):
        part = playbook("assess", inventory, tmp_path / ("slice%d" % index), "--check", "--limit", ":".join(hosts))
        assert gate_line(part), part.stdout[-3000:]
    sources = [str(tmp_path / ("slice%d" % index)) for index in range(3)]
    merged = playbook("report_merge", inventory, tmp_path / "merged", "--limit", "localhost",
                      extra={"kubecompass_merge_sources": sources, "kubecompass_target": limit})
    one = json.loads((tmp_path / "whole" / "kubecompass-report.json").read_text())
    both = json.loads((tmp_path / "merged" / "kubecompass-report.json").read_text())
    assert sorted(c["cluster"] for c in both["clusters"]) == clusters
    assert verdicts(both) == verdicts(one)
    assert merged.returncode == whole.returncode
    for key in ("failing", "unknown"):
        assert sorted((f["cluster"], f["check_id"]) for f in both["gate"][key]) == sorted(
            (f["cluster"], f["check_id"]) for f in one["gate"][key])
    assert both["gate"]["failed"] == one["gate"]["failed"] and both["gate"]["unreachable"] == []

    # A slice that did not report fails the merged gate, naming its hosts.
    partial = playbook("report_merge", inventory, tmp_path / "partial", extra={
        "kubecompass_merge_sources": sources[:2], "kubecompass_target": limit})
    assert partial.returncode == 2
    assert "1 cluster(s) no result: c3 (in the inventory group, but in none of the merged reports" in gate_line(partial)
    # The same slice twice is an error naming the cluster and both files.
    twice = playbook("report_merge", inventory, tmp_path / "twice", extra={
        "kubecompass_merge_sources": [sources[0], sources[0] + "/kubecompass-report.json"],
        "kubecompass_target": limit})
    assert twice.returncode == 2
    assert re.search(r"kubecompass_merge_sources: cluster (c1|c4) is in both \S+/slice0/kubecompass-report.json and "
                     r"\S+/slice0/kubecompass-report.json", twice.stdout), twice.stdout[-3000:]
