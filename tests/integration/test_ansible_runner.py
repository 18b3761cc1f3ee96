"""assess and remediate --check through ansible-runner, the engine AWX runs jobs with, laid out as an AWX job is:
the example project of docs/awx/project, the kubeconfig credential type of docs/awx injected as AWX injects it (a
file under env/, its path in K8S_AUTH_KUBECONFIG), against the local control plane. Asserts what AWX keeps of a
job: rc and status, the artifacts directory, the set_stats data it saves as the job's artifacts, and the size of
every job event."""

from __future__ import annotations

import json
import re
import shutil
import sys

import ansible_runner
import pytest
import yaml

from tests.helpers import REPO, ansible_env

AWX = REPO / "docs" / "awx"
# The target for every job event, well under AWX's MAX_EVENT_RES (700,000) at which event data is dropped.
EVENT_LIMIT = 64 * 1024


def _inject_credential(private_data_dir, kubeconfig_text):
    """What AWX does with a credential of the kubeconfig type: write each file injector, render each env injector."""
    credential_type = json.loads((AWX / "credential-type-kubeconfig.json").read_text())
    files = {}
    for key in credential_type["injectors"]["file"]:
        name = key.split(".", 1)[1]
        path = private_data_dir / "env" / f"tmp_{name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(kubeconfig_text)
        path.chmod(0o600)
        files[name] = str(path)
    return {name: re.sub(r"\{\{\s*tower\.filename\.(\w+)\s*\}\}", lambda m: files[m.group(1)], template)
            for name, template in credential_type["injectors"]["env"].items()}


def _inventory_without_kubeconfig(control_plane, path):
    """The control plane's inventory with the cluster's kubeconfig left to the credential, as in AWX."""
    inventory = yaml.safe_load(control_plane.inventory.read_text())
    for host in inventory["all"]["children"]["k8s_clusters"]["hosts"].values():
        host.pop("kubecompass_kubeconfig")
        host["ansible_python_interpreter"] = sys.executable
    path.write_text(yaml.safe_dump(inventory))
    return path


def _run(control_plane, tmp_path, playbook, **extravars):
    private_data_dir = tmp_path / playbook.replace(".yml", "")
    shutil.copytree(AWX / "project", private_data_dir / "project")
    env = ansible_env(**_inject_credential(private_data_dir, control_plane.kubeconfig.read_text()))
    env.pop("ANSIBLE_CONFIG")  # an AWX project does not have this checkout's ansible.cfg
    reports = tmp_path / "reports"
    runner = ansible_runner.run(
        private_data_dir=str(private_data_dir), playbook=playbook, ident="job",
        inventory=str(_inventory_without_kubeconfig(control_plane, tmp_path / "inventory.yml")),
        extravars=dict(extravars, kubecompass_report_dir=str(reports)), cmdline="--check --diff", envvars=env,
        quiet=True)
    artifacts = private_data_dir / "artifacts" / "job"
    events = [json.loads(p.read_text()) for p in sorted((artifacts / "job_events").glob("*.json"))]
    sizes = {p.name: p.stat().st_size for p in (artifacts / "job_events").glob("*.json")}
    stats = next(e for e in events if e["event"] == "playbook_on_stats")["event_data"]
    return runner, artifacts, events, sizes, stats, reports


@pytest.fixture(scope="module")
def jobs(control_planes, tmp_path_factory):
    control_plane = control_planes.get(1)
    ran = {name: _run(control_plane, tmp_path_factory.mktemp(name), f"{name}.yml") for name in ("assess",
                                                                                                "remediate")}
    # The merge job of a sliced assessment, over the one "slice" above (AWX runs it on the controller).
    ran["report_merge"] = _run(control_plane, tmp_path_factory.mktemp("report_merge"), "report_merge.yml",
                               kubecompass_merge_sources=[str(ran["assess"][5])])
    return ran


def _largest(sizes):
    name = max(sizes, key=sizes.get)
    return sizes[name], name


@pytest.mark.nodes(1)
def test_assess_job_fails_the_gate_and_keeps_its_summary(jobs):
    runner, artifacts, events, _sizes, stats, reports = jobs["assess"]
    assert runner.rc == 2 and runner.status == "failed", (artifacts / "stdout").read_text()[-3000:]
    assert (artifacts / "rc").read_text() == "2" and (artifacts / "status").read_text() == "failed"
    assert "Assess the cluster" in (artifacts / "stdout").read_text()
    # Only the gate failed (an assert); the cluster itself was assessed.
    failed = [e["event_data"] for e in events if e["event"] == "runner_on_failed"]
    assert [e["task_action"] for e in failed] == ["ansible.builtin.assert"], [e["task"] for e in failed]
    assert sum(runner.stats["failures"].values()) == 1 and runner.stats["dark"] == {}
    summary = stats["artifact_data"]["kubecompass"]
    assert summary["gate"]["failed"] is True and summary["clusters"]["localcp"]["status"] == "assessed"
    report = json.loads((reports / "kubecompass-report.json").read_text())
    assert [c["cluster"] for c in report["clusters"]] == ["localcp"]
    assert any(e["event"] == "runner_on_ok" and e["event_data"]["host"] == "localcp" for e in events)


@pytest.mark.nodes(1)
def test_remediate_check_job_succeeds_and_keeps_its_summary(jobs):
    runner, artifacts, events, _sizes, stats, _reports = jobs["remediate"]
    assert runner.rc == 0 and runner.status == "successful", (artifacts / "stdout").read_text()[-3000:]
    assert runner.stats["failures"] == {} and runner.stats["dark"] == {}
    assert "localcp" in stats["artifact_data"]["kubecompass_remediation"]
    assert any(e["event"] == "playbook_on_task_start" for e in events)


@pytest.mark.nodes(1)
def test_report_merge_job_gates_the_merged_report(jobs):
    runner, artifacts, _events, _sizes, stats, reports = jobs["report_merge"]
    assert runner.rc == 2 and runner.status == "failed", (artifacts / "stdout").read_text()[-3000:]
    merged = json.loads((reports / "kubecompass-report.json").read_text())
    source = json.loads((jobs["assess"][5] / "kubecompass-report.json").read_text())
    assert [c["cluster"] for c in merged["clusters"]] == ["localcp"]
    assert merged["gate"]["failed"] is True and merged["summary"] == source["summary"]
    assert stats["artifact_data"]["kubecompass"]["gate"]["failed"] is True


@pytest.mark.nodes(1)
@pytest.mark.parametrize("job", ["assess", "remediate", "report_merge"])
def test_every_job_event_is_under_64_kb(jobs, job):
    sizes = jobs[job][3]
    largest, name = _largest(sizes)
    print(f"{job}: {len(sizes)} events, largest {largest} bytes ({name})")
    assert largest < EVENT_LIMIT, f"{job}: event {name} is {largest} bytes"
