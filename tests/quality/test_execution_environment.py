"""The shipped execution environment definition produces a complete build context (`ansible-builder create`): the
Containerfile, the collection artifact and its Python and system requirements. Building the image needs podman or
docker, which the test machine does not have, so the image itself is not built here."""

from __future__ import annotations

import shutil
import tarfile

import pytest
import yaml

from tests.helpers import REPO, VENV_BIN, ansible_env, run

DEFINITION = REPO / "execution-environment.yml"


def test_definition_names_the_version_galaxy_yml_builds():
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    definition = yaml.safe_load(DEFINITION.read_text())
    tarball = f"kubecompass-readiness-{version}.tar.gz"
    assert definition["version"] == 3
    assert definition["additional_build_files"][0]["src"] == f"build/{tarball}"
    assert definition["dependencies"]["galaxy"]["collections"][0]["name"] == f"collections/{tarball}"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """The collection artifact, built as the definition's comment says."""
    output = tmp_path_factory.mktemp("build")
    build = run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(output), str(REPO)])
    assert build.returncode == 0, build.stdout + build.stderr
    return next(output.glob("kubecompass-readiness-*.tar.gz"))


def test_ansible_builder_create_writes_the_build_context(tmp_path, artifact):
    # The definition's relative paths, beside the collection artifact in build/.
    for name in ("execution-environment.yml", "requirements-ee.txt", "bindep.txt"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "build").mkdir()
    shutil.copy(artifact, tmp_path / "build" / artifact.name)
    context = tmp_path / "context"
    created = run([str(VENV_BIN / "ansible-builder"), "create", "-f", str(tmp_path / "execution-environment.yml"),
                   "--context", str(context), "--output-filename", "Containerfile", "-v", "3"], cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    print(created.stdout)

    containerfile = (context / "Containerfile").read_text()
    for step in ('ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"', "FROM base AS galaxy",
                 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml',
                 "introspect.py introspect --user-pip=requirements.txt --user-bindep=bindep.txt",
                 "RUN /output/scripts/check_ansible $PYCMD", "LABEL ansible-execution-environment=true"):
        assert step in containerfile, step
    built = context / "_build"
    assert (built / "requirements.txt").read_text() == (REPO / "requirements-ee.txt").read_text()
    assert (built / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()
    galaxy = yaml.safe_load((built / "requirements.yml").read_text())
    with tarfile.open(built / galaxy["collections"][0]["name"]) as archive:
        names = set(archive.getnames())
    # The collection carries its own EE metadata, so an image that installs it from a Galaxy server gets the same.
    assert {"MANIFEST.json", "meta/execution-environment.yml", "requirements-ee.txt", "bindep.txt",
            "playbooks/assess.yml"} <= names


def test_introspect_finds_the_collections_requirements(tmp_path, artifact):
    """What the builder stage reads from the installed collection (ansible-builder introspect)."""
    collections = tmp_path / "collections"
    env = ansible_env(collections_path=collections)
    env.pop("ANSIBLE_CONFIG")  # the checkout's ansible.cfg points at the checkout, which would count as installed
    install = run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--offline", "-p", str(collections),
                   str(artifact)], env=env, cwd=tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr
    found = run([str(VENV_BIN / "ansible-builder"), "introspect", "--sanitize", str(collections)])
    assert found.returncode == 0, found.stderr
    for requirement in ("kubernetes>=31.0.0", "boto3>=1.35", "azure-mgmt-monitor==6.0.2", "openssh-clients"):
        assert requirement in found.stdout, requirement
