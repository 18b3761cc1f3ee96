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
    """Group tests by control-plane size (each resize costs a down and an up); `last` tests stop it, so go last."""

    def order(item):
        nodes = item.get_closest_marker("nodes")
        return (item.get_closest_marker("last") is not None, nodes.args[0] if nodes else 0)

    items.sort(key=order)


@pytest.fixture(scope="session")
def keep_cluster() -> bool:
    return os.environ.get("KUBECOMPASS_KEEP_CLUSTER") == "1"
