"""The built collection artifact installs and runs: catches packaging mistakes the checkout hides."""

from __future__ import annotations

import json
import tarfile

import pytest

from tests.helpers import REPO, VENV_BIN, ansible_env, run


@pytest.mark.nodes(1)
def test_built_artifact_installs_and_runs_a_playbook(control_plane, tmp_path):
    build = run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), str(REPO)])
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = tmp_path / "kubecompass-readiness-0.1.0.tar.gz"
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {"plugins/modules/cluster_info.py", "meta/runtime.yml", "meta/execution-environment.yml",
            "playbooks/cluster_info.yml", "requirements.txt", "bindep.txt", "MANIFEST.json", "LICENSE"} <= names
    with tarfile.open(tarball) as archive:
        license_text = archive.extractfile("LICENSE").read().decode()
    assert "GNU GENERAL PUBLIC LICENSE" in license_text and "Version 3, 29 June 2007" in license_text
    leaked = sorted(n for n in names if n.split("/")[0] in {"tests", ".venv", "molecule", "hack", ".ci", ".git"})
    assert leaked == []

    collections = tmp_path / "collections"
    env = ansible_env(collections_path=collections)
    env.pop("ANSIBLE_CONFIG")  # the checkout's ansible.cfg points at the checkout
    install = run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--offline", "-p", str(collections),
                   str(tarball)], env=env, cwd=tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr
    installed = collections / "ansible_collections" / "kubecompass" / "readiness"
    assert (installed / "plugins" / "modules" / "cluster_info.py").is_file()

    listed = run([str(VENV_BIN / "ansible-galaxy"), "collection", "list", "kubecompass.readiness", "--format", "json"],
                 env=env, cwd=tmp_path)
    assert list(json.loads(listed.stdout)) == [str(collections / "ansible_collections")], listed.stdout
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(control_plane.inventory),
                  "kubecompass.readiness.cluster_info", "-v"], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "distribution kubeadm" in result.stdout
