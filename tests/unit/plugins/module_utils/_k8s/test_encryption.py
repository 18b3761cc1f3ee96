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
    # kube-apiserver refuses a bare "*" at load ("use '*.' ... or *.*"), so it covers nothing.
    ("*", ("", "*"), False, False),
    # Names are not trimmed (neither by ParseGroupResource nor by the config loader): " secrets" is no resource.
    (" secrets", ("", " secrets"), False, False),
    ("secrets ", ("", "secrets "), False, False),
])
def test_names(name, group_resource, names_secrets, covers):
    assert encryption.group_resource(name) == group_resource
    assert encryption.names_secrets(name) is names_secrets
    assert encryption.covers_secrets(name) is covers


def test_the_first_entry_covering_secrets_is_theirs():
    entries = [{"resources": ["configmaps"]}, {"resources": ["*."], "id": 1}, {"resources": ["secrets"], "id": 2}]
    assert encryption.secrets_entry(entries)["id"] == 1
    assert encryption.secrets_entry([{"resources": ["events"]}]) is None


@pytest.mark.parametrize("name,refused", [("*", True), ("*.", False), ("*.*", False), ("secrets", False),
                                          (" secrets", False)])
def test_a_bare_star_is_refused_as_kube_apiserver_refuses_it(name, refused):
    reason = encryption.refused_name(name)
    assert (reason is not None) is refused
    if refused:
        assert "*." in reason and "*.*" in reason


def test_the_names_covering_secrets_are_exactly_the_constant():
    candidates = ["secrets", "secrets.", "*.", "*.*", "*", " secrets", "secrets ", "Secrets", "secrets.apps", "*.apps",
                  "secrets.*", ".secrets", "", "*.*.*"]
    assert [name for name in candidates if encryption.covers_secrets(name)] == list(encryption.NAMES_COVERING_SECRETS)
