"""Test layers: tests/unit (pure functions on recorded objects), tests/integration (the real local control
plane, brought up once per run or reused), tests/quality (lint, sanity, packaging)."""

from __future__ import annotations

import os
import sys

import pytest

from tests.helpers import DEV_COLLECTIONS

# Import the collection as Ansible does (hack/setup.sh links this checkout under .venv/collections).
if str(DEV_COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(DEV_COLLECTIONS))


def pytest_collection_modifyitems(config, items):
    # Tests marked `last` stop the control plane; keep them after every test that uses it.
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


@pytest.fixture(scope="session")
def keep_cluster() -> bool:
    return os.environ.get("KUBECOMPASS_KEEP_CLUSTER") == "1"
