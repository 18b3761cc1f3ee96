"""The CI examples in docs/ci run as they stand: their own shell commands (GitHub `run:` steps, GitLab `script:` and
`after_script:`), in the shell and with the files each CI system provides, against the local control plane with a
one-cluster inventory. The gate fails there (the cluster has failing high findings), so this proves the job goes
red, the summary and report steps still run, and every file the upload steps name exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from junitparser import JUnitXml

from tests.helpers import REPO, ansible_env

GITHUB = REPO / "docs" / "ci" / "github-actions.yml"
GITLAB = REPO / "docs" / "ci" / "gitlab-ci.yml"
# The steps that install software are the CI system's business; every other `run:` step is run here.
INSTALL_STEP = "Install Ansible, the collection and its Python requirements"
# What ansible-playbook exits with when a task (the gate) failed.
GATE_FAILED = 2


def _workspace(tmp_path, inventory_path):
    """A checkout of the user's inventory repository: one cluster, credentials from K8S_AUTH_KUBECONFIG."""
    workspace = tmp_path / "workspace"
    inventory = workspace / inventory_path
    inventory.parent.mkdir(parents=True)
    inventory.write_text(yaml.safe_dump({"all": {"children": {"k8s_clusters": {"hosts": {"localcp": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "kubecompass_distribution": "kubeadm", "kubecompass_tier": "critical"}}}}}}))
    return workspace


def _ci_env(**extra):
    env = ansible_env(**extra)
    env.pop("ANSIBLE_CONFIG")  # a user's repository does not have this checkout's ansible.cfg
    return env


def _run_script(script, env, cwd, shell_options):
    return subprocess.run(["bash", "--noprofile", "--norc", *shell_options, "-c", script], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=900, check=False)


def _assert_reports(workspace, output, control_plane):
    report = json.loads((workspace / "kubecompass-reports" / "kubecompass-report.json").read_text())
    assert [c["cluster"] for c in report["clusters"]] == ["localcp"]
    assert report["clusters"][0]["status"] == "assessed", report["clusters"][0].get("error")
    assert report["gate"]["failed"] is True
    secret = yaml.safe_load(control_plane.kubeconfig.read_text())["users"][0]["user"]
    assert not [v for v in secret.values() if isinstance(v, str) and len(v) > 40 and v in output], \
        "credential material printed"


@pytest.mark.nodes(1)
def test_github_actions_example_gates_and_keeps_its_reports(control_plane, tmp_path):
    workflow = yaml.safe_load(GITHUB.read_text())
    job = workflow["jobs"]["assess"]
    workspace = _workspace(tmp_path, job["env"]["KUBECOMPASS_INVENTORY"])
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    github_env = tmp_path / "github-env"
    github_env.touch()
    secrets = {"${{ secrets.KUBECOMPASS_KUBECONFIG }}": control_plane.kubeconfig.read_text()}
    env = _ci_env(**job["env"], GITHUB_WORKSPACE=str(workspace), RUNNER_TEMP=str(runner_temp),
                  GITHUB_ENV=str(github_env), CI="true", GITHUB_ACTIONS="true")
    ran, failed, output = {}, False, ""
    for step in job["steps"]:
        if "uses" in step or step.get("name") == INSTALL_STEP:
            continue
        assert step.get("id"), f"step {step['name']!r}: give it an id so this test can name it"
        if failed and step.get("if") != "always()":
            continue
        step_env = dict(env, **{k: secrets.get(v, v) for k, v in step.get("env", {}).items()})
        summary = tmp_path / f"summary-{step['id']}.md"
        step_env["GITHUB_STEP_SUMMARY"] = str(summary)
        # GitHub's default shell for run steps: bash --noprofile --norc -eo pipefail {0}.
        result = _run_script(step["run"], step_env, workspace, ["-eo", "pipefail"])
        ran[step["id"]] = (result, summary)
        output += result.stdout + result.stderr
        failed = failed or result.returncode != 0
        for line in github_env.read_text().splitlines():  # what later steps get from $GITHUB_ENV
            name, value = line.split("=", 1)
            env[name] = value
    assert list(ran) == ["kubeconfig", "gate", "summary"]
    assert ran["kubeconfig"][0].returncode == 0, ran["kubeconfig"][0].stderr
    gate = ran["gate"][0]
    assert gate.returncode == GATE_FAILED, gate.stdout[-3000:] + gate.stderr[-2000:]
    summary_result, summary = ran["summary"]
    assert summary_result.returncode == 0, summary_result.stderr
    markdown = (workspace / "kubecompass-reports" / "kubecompass-report.md").read_text()
    assert summary.read_text() == markdown and markdown.startswith("#")
    _assert_reports(workspace, output, control_plane)

    uploads = {s["uses"].split("@")[0]: s for s in job["steps"] if "uses" in s}
    sarif_step = uploads["github/codeql-action/upload-sarif"]
    sarif = json.loads((workspace / sarif_step["with"]["sarif_file"]).read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    assert sarif_step["with"]["sarif_file"] in sarif_step["if"]
    junit_step = uploads["mikepenz/action-junit-report"]
    assert list(JUnitXml.fromfile(str(workspace / junit_step["with"]["report_paths"])))
    assert (workspace / uploads["actions/upload-artifact"]["with"]["path"]).is_dir()


@pytest.mark.nodes(1)
def test_gitlab_ci_example_gates_and_keeps_its_reports(control_plane, tmp_path):
    pipeline = yaml.safe_load(GITLAB.read_text())
    job = pipeline["kubecompass-gate"]
    workspace = _workspace(tmp_path, job["variables"]["KUBECOMPASS_INVENTORY"])
    # KUBECOMPASS_KUBECONFIG is a File variable: GitLab passes the path of a file holding it.
    kubeconfig = tmp_path / "KUBECOMPASS_KUBECONFIG"
    kubeconfig.write_text(control_plane.kubeconfig.read_text())
    os.chmod(kubeconfig, 0o600)
    env = _ci_env(**job["variables"], CI_PROJECT_DIR=str(workspace), KUBECOMPASS_KUBECONFIG=str(kubeconfig),
                  CI="true", GITLAB_CI="true")
    # The runner runs script lines in one shell that stops at the first failing line, after_script in another.
    script = _run_script("\n".join(job["script"]), env, workspace, ["-eo", "pipefail"])
    after = _run_script("\n".join(job["after_script"]), env, workspace, ["-eo", "pipefail"])
    assert script.returncode == GATE_FAILED, script.stdout[-3000:] + script.stderr[-2000:]
    assert after.returncode == 0, after.stderr
    assert after.stdout == (workspace / "kubecompass-reports" / "kubecompass-report.md").read_text()
    _assert_reports(workspace, script.stdout + script.stderr + after.stdout, control_plane)

    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert all((workspace / path).exists() for path in artifacts["paths"])
    assert list(JUnitXml.fromfile(str(workspace / artifacts["reports"]["junit"])))
