"""The collection's documentation as antsibull-docs (docs.ansible.com's builder) reads it: every module, plugin and
role entry point has the fields and markup it requires."""

from __future__ import annotations

from tests.helpers import DEV_COLLECTIONS, VENV_BIN, ansible_env, run


def test_antsibull_docs_lint_collection_docs():
    # Run from ansible_collections/kubecompass/readiness, as antsibull-docs requires (hack/setup.sh links it).
    collection = DEV_COLLECTIONS / "ansible_collections" / "kubecompass" / "readiness"
    result = run([str(VENV_BIN / "antsibull-docs"), "lint-collection-docs", "--plugin-docs", "."], cwd=collection,
                 env=ansible_env(), timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
