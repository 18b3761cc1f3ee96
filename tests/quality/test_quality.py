"""Lint, sanity and documentation gates, run as tests so one command reports everything."""

from __future__ import annotations

import os
import re
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


def _ansible_test_home() -> Path:
    """A persistent HOME for ansible-test (its sanity virtualenvs are cached there), with a pip bootstrap."""
    import ansible_test

    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(r"pip='([0-9.]+)'", source.read_text())
    assert match, f"cannot find ansible-test's pip version in {source}"
    home = Path(os.environ.get("KUBECOMPASS_CACHE_DIR", Path.home() / ".cache" / "kubecompass")) / "ansible-test-home"
    cache = home / ".ansible" / "test" / "cache" / f"get_pip_{match.group(1).replace('.', '_')}.py"
    cache.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("pip_bootstrap.py"), cache)
    return home


def test_ansible_test_sanity(collection_copy):
    env = ansible_env(HOME=str(_ansible_test_home()))
    result = run([_tool("ansible-test"), "sanity", "--venv", "--python", "3.11", "--color", "no"],
                 cwd=collection_copy, env=env, timeout=1800)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
