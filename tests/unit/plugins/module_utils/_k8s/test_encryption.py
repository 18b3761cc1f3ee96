"""EncryptionConfiguration names read as kube-apiserver's schema.ParseGroupResource reads them."""

from __future__ import annotations

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s import encryption


@pytest.mark.parametrize("name,group_resource,names_secrets,covers", [
    ("secrets", ("", "secrets"), True, True),
    ("secrets.", ("", "secrets"), True, True),
    ("*.", ("", "*"), False, True),
    ("*.*", ("*", "*"), False, True),
    ("secrets.apps", ("apps", "secrets"), False, False),
    ("*.apps", ("apps", "*"), False, False),
    ("configmaps", ("", "configmaps"), False, False),
    ("deployments.apps.v1", ("apps.v1", "deployments"), False, False),
])
def test_names(name, group_resource, names_secrets, covers):
    assert encryption.group_resource(name) == group_resource
    assert encryption.names_secrets(name) is names_secrets
    assert encryption.covers_secrets(name) is covers


def test_the_first_entry_covering_secrets_is_theirs():
    entries = [{"resources": ["configmaps"]}, {"resources": ["*."], "id": 1}, {"resources": ["secrets"], "id": 2}]
    assert encryption.secrets_entry(entries)["id"] == 1
    assert encryption.secrets_entry([{"resources": ["events"]}]) is None
