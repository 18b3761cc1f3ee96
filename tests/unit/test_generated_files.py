"""Generated files stay in step with their sources: a stale file fails the suite."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO, SHARED


def _check(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "hack" / script), "--check"], capture_output=True, text=True,
                          check=False)


def test_compliance_data_matches_the_shared_map():
    assert (SHARED / "compliance-map.yml").is_file()
    result = _check("gen_compliance.py")
    assert result.returncode == 0, result.stderr


def test_catalog_doc_is_current():
    result = _check("gen_catalog.py")
    assert result.returncode == 0, result.stderr


def test_execution_environment_requirements_are_current():
    result = _check("gen_ee_requirements.py")
    assert result.returncode == 0, result.stderr
