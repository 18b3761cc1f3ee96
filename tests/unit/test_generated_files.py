"""Generated files stay in step with their sources, and the generators need nothing outside the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

GENERATORS = ("gen_compliance.py", "gen_catalog.py", "gen_ee_requirements.py")


def _check(repo: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(repo / "hack" / script), "--check"], capture_output=True, text=True,
                          check=False, cwd=repo)


def _repository_files() -> list[str]:
    """What a clone holds: tracked files plus the ones a commit would add (untracked, not ignored)."""
    listing = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    return [name for name in listing.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def lone_clone(tmp_path_factory) -> Path:
    """A copy of the repository in an otherwise empty directory: no ../shared, no .venv beside it."""
    clone = tmp_path_factory.mktemp("alone") / "readiness"
    for name in _repository_files():
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    # gen_catalog imports the collection the way hack/setup.sh makes it importable.
    namespace = clone / ".venv" / "collections" / "ansible_collections" / "kubecompass"
    namespace.mkdir(parents=True)
    (namespace / "readiness").symlink_to(clone)
    assert not (clone.parent / "shared").exists()
    return clone


@pytest.mark.parametrize("script", GENERATORS)
def test_generated_file_is_current(script):
    result = _check(REPO, script)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", GENERATORS)
def test_generator_runs_from_a_clone_with_nothing_beside_it(lone_clone, script):
    result = _check(lone_clone, script)
    assert result.returncode == 0, result.stderr


def test_no_repository_file_reads_outside_the_repository():
    offenders = []
    for name in _repository_files():
        path = REPO / name
        if path == Path(__file__) or (path.suffix not in {".py", ".sh", ".yml", ".yaml", ".cfg", ".ini", ".toml"}
                                      and path.name != "run"):
            continue
        text = path.read_text(errors="replace")
        if "../shared" in text or 'parent / "shared"' in text or "REPO.parent" in text:
            offenders.append(name)
    assert offenders == [], "files that read outside the repository: %s" % offenders
