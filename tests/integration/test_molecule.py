"""The role scenarios (extensions/molecule/<role>) on the local control plane: prepare a non-compliant state, check
mode must change nothing, converge, a second converge changes nothing, verify through the raw API."""

from __future__ import annotations

import pytest

from tests.helpers import REPO, VENV_BIN, ansible_env, run

SCENARIOS = sorted(p.parent.name for p in (REPO / "extensions" / "molecule").glob("*/molecule.yml"))


@pytest.mark.nodes(1)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(control_plane, scenario):
    env = ansible_env(KUBECOMPASS_API=control_plane.server(), KUBECOMPASS_KUBECONFIG=str(control_plane.kubeconfig),
                      KUBECOMPASS_PKI=str(control_plane.paths.admin_pki), MOLECULE_NO_LOG="false")
    # Molecule keeps "already prepared" state between runs; each run starts from prepare.
    run([str(VENV_BIN / "molecule"), "reset", "-s", scenario], env=env, cwd=REPO / "extensions", timeout=120)
    result = run([str(VENV_BIN / "molecule"), "test", "-s", scenario], env=env, cwd=REPO / "extensions",
                 timeout=1200)
    assert result.returncode == 0, (result.stdout + result.stderr)[-8000:]
