"""Lint, sanity and documentation gates, run as tests so one command reports everything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO, VENV_BIN, ansible_env, run


def _tool(name: str) -> str:
    return str(VENV_BIN / name)


def test_ruff():
    result = run([_tool("ruff"), "check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint():
    result = run([_tool("yamllint"), "--strict", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile():
    result = run([_tool("ansible-lint"), "--profile", "production"], timeout=900)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]


def test_changelog_fragments_lint():
    result = run([_tool("antsibull-changelog"), "lint"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_module_documentation_renders():
    result = run([_tool("ansible-doc"), "kubecompass.readiness.cluster_info"])
    assert result.returncode == 0, result.stderr
    for option in ("kubeconfig", "K8S_AUTH_HOST", "validate_certs", "distribution_evidence"):
        assert option in result.stdout


def _collection_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode()
    return [f for f in listed.split("\0") if f and (REPO / f).is_file()]


@pytest.fixture(scope="module")
def collection_copy(tmp_path_factory) -> Path:
    """The checkout at ansible_collections/kubecompass/readiness, as ansible-test requires."""
    root = tmp_path_factory.mktemp("sanity") / "ansible_collections" / "kubecompass" / "readiness"
    for name in _collection_files():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target, follow_symlinks=False)
    return root


def test_ansible_test_sanity(collection_copy):
    result = run([_tool("ansible-test"), "sanity", "--venv", "--python", "3.11", "--color", "no"],
                 cwd=collection_copy, env=ansible_env(), timeout=1800)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
