"""The collection on the ansible-core the suite pins (2.19, Python 3.11) and on the newest one (Python 3.12+, in
.venv/core-latest, made by hack/setup.sh), against the local control plane: the check-mode playbooks print no error
line and no deprecation warning."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from tests.fakes.eks_server import EksFake
from tests.helpers import REPO, VENV_BIN, ansible_env, run

CORES = {"2.19": VENV_BIN, "latest": REPO / ".venv" / "core-latest" / "bin"}
# Lines Ansible prints in red (or that announce a removal): none may come from a check-mode run of our content.
RED = re.compile(r"^(\[ERROR\]|ERROR!|fatal:|failed:|\[DEPRECATION WARNING\])|\.\.\.ignoring$", re.MULTILINE)


@pytest.fixture
def eks():
    fake = EksFake()
    url = fake.start()
    fake.seed_cluster("kc-eks", "eu-west-1")
    yield url
    fake.stop()


def _managed_cluster(control_plane, eks_url, tmp_path):
    """An EKS cluster (the offline fake; its Kubernetes API is the local control plane): a cluster host without a
    control-plane group, whose node loops are empty."""
    inventory = tmp_path / "eks.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"k8s_clusters": {"hosts": {"kc-eks": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "kubecompass_distribution": "eks", "kubecompass_tier": "best_effort",
        "kubecompass_kubeconfig": str(control_plane.kubeconfig),
        "kubecompass_provider": {"name": "kc-eks", "region": "eu-west-1", "poll_seconds": 0,
                                 "endpoint_url": eks_url}}}}}}}))
    return inventory


def _red_lines(output: str, expected_task: str) -> list[str]:
    """The red lines of a run, each with its task, but those of the one task expected to fail."""
    task, red = None, []
    for line in output.splitlines():
        header = re.match(r"^TASK \[(.*)\]", line)
        if header:
            task = header.group(1)
        elif RED.search(line) and not (task or "").startswith(expected_task):
            red.append("%s: %s" % (task, line))
    return red


@pytest.mark.nodes(1)
@pytest.mark.parametrize("core", sorted(CORES))
def test_check_mode_playbooks_print_no_red_line(control_plane, eks, tmp_path, core):
    bin_dir = CORES[core]
    assert (bin_dir / "ansible-playbook").is_file(), "%s is missing: run hack/setup.sh (needs Python 3.12+)" % bin_dir
    env = ansible_env(PATH="%s%s%s" % (bin_dir, os.pathsep, os.environ["PATH"]))
    version = run([str(bin_dir / "ansible"), "--version"], env=env).stdout.splitlines()[0]
    if core == "latest":
        assert not version.startswith("ansible [core 2.19"), version
    inventories = ["-i", str(control_plane.inventory), "-i", str(_managed_cluster(control_plane, eks, tmp_path))]
    runs = {}
    for playbook in ("assess", "remediate"):
        result = run([str(bin_dir / "ansible-playbook"), *inventories, "kubecompass.readiness.%s" % playbook,
                      "--check", "-e", "kubecompass_report_dir=%s" % (tmp_path / "reports")], env=env)
        runs[playbook] = (result.returncode, result.stdout + result.stderr)
    # The clusters fail checks: the assessment's gate fails (only it), and remediation in check mode fixes nothing,
    # so its last task fails each cluster naming what is still unfixed (only it).
    red = {playbook: _red_lines(output, "Gate" if playbook == "assess" else "Fail once for this cluster")
           for playbook, (_rc, output) in runs.items()}
    assert red == {"assess": [], "remediate": []}, "%s\n%s" % (version, "\n".join(
        "%s rc=%d\n%s" % (playbook, rc, output[-4000:]) for playbook, (rc, output) in runs.items()))
    assert runs["assess"][0] == 2 and "Gate (fail on high): FAILED" in runs["assess"][1]
    assert "does not support Ansible version" not in runs["assess"][1]  # requires_ansible has no cap
