"""Unit tests never reach a TLS server by accident: the local control plane listens on the loopback addresses the
recorded manifests name, so gather_node_facts's served-certificate reader is refused unless a test passes its own."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._node import certificates


@pytest.fixture(autouse=True)
def _no_tls_connections(monkeypatch):
    def refuse(host, port, client=None, timeout=None):
        raise ConnectionRefusedError(111, "Connection refused (unit test)")

    monkeypatch.setattr(certificates, "served_certificate", refuse)
