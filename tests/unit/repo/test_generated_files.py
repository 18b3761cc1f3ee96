"""Generated files stay in step with their sources, and the generators need nothing outside the repository: every
hack/gen_*.py runs in check mode from a copy of the repository with nothing beside it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

GENERATORS = sorted(path.name for path in (REPO / "hack").glob("gen_*.py"))
# Spelled in two halves so that this file does not name them itself.
OUTSIDE = ("../" + "shared", "/work/" + "shared", 'parent / "' + 'shared"', "REPO" + ".parent")


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


def test_every_generator_is_checked():
    assert {"gen_architecture.py", "gen_catalog.py", "gen_cis.py", "gen_compliance.py",
            "gen_ee_requirements.py", "gen_readiness.py"} <= set(GENERATORS)


@pytest.mark.parametrize("script", GENERATORS)
def test_generated_file_is_current(script):
    result = _check(REPO, script)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", GENERATORS)
def test_generator_runs_from_a_clone_with_nothing_beside_it(lone_clone, script):
    result = _check(lone_clone, script)
    assert result.returncode == 0, result.stderr


def _outside_references(root: Path, names: list[str]) -> list[str]:
    offenders = []
    for name in names:
        path = root / name
        if path == Path(__file__) or (path.suffix not in {".py", ".sh", ".yml", ".yaml", ".cfg", ".ini", ".toml"}
                                      and path.name != "run"):
            continue
        if any(marker in path.read_text(errors="replace") for marker in OUTSIDE):
            offenders.append(name)
    return offenders


def test_no_repository_file_reads_outside_the_repository():
    offenders = _outside_references(REPO, _repository_files())
    assert offenders == [], "files that read outside the repository: %s" % offenders


@pytest.mark.parametrize("line", ['DATA = "../" "shared/crds"'.replace('" "', ""),
                                  'MAP = "/work/" "shared/compliance-map.yml"'.replace('" "', "")])
def test_a_file_reading_outside_the_repository_is_named(tmp_path, line):
    (tmp_path / "seed.py").write_text(line + "\n")
    assert _outside_references(tmp_path, ["seed.py"]) == ["seed.py"]


def test_a_new_package_makes_the_architecture_page_stale(tmp_path):
    """On a copy of what the generator reads, regenerated first: one new package and --check fails, naming the page."""
    for name in ("hack", "plugins", "meta", "roles", "docs"):
        shutil.copytree(REPO / name, tmp_path / name)
    assert subprocess.run([sys.executable, str(tmp_path / "hack" / "gen_architecture.py")], check=False).returncode == 0
    assert _check(tmp_path, "gen_architecture.py").returncode == 0
    package = tmp_path / "plugins" / "module_utils" / "_brand_new"
    package.mkdir()
    (package / "__init__.py").write_text('"""A package nobody documented yet."""\n')
    result = _check(tmp_path, "gen_architecture.py")
    assert result.returncode == 1 and "docs/architecture.md is stale" in result.stderr


@pytest.mark.parametrize("folder", ["tests/data/crds/velero", "tests/data/crds/prometheus-operator"])
def test_copied_upstream_data_names_its_release_and_commit(folder):
    readme = (REPO / folder / "README.md").read_text()
    assert re.search(r"Tag: `v\d+\.\d+\.\d+`.*commit `[0-9a-f]{40}`", readme), readme
    assert "License" in readme


def test_the_compliance_map_names_its_sources():
    text = (REPO / "hack" / "data" / "compliance-map.yml").read_text()
    assert re.search(r"^schema: k8s-readiness-compliance-map/v1$", text, re.M)
    assert re.search(r"^sources:\n  [\w.-]+:\n    repo: [\w.-]+/[\w.-]+\n", text, re.M)
