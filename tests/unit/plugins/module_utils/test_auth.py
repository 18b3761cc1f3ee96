"""Connection option resolution: kubeconfig, context, explicit options and their precedence."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import (
    AUTH_ARG_SPEC,
    auth_argument_spec,
    bearer_token,
    load_configuration,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

KUBECONFIG = {
    "apiVersion": "v1", "kind": "Config",
    "clusters": [{"name": "a", "cluster": {"server": "https://a.example:6443", "insecure-skip-tls-verify": True}},
                 {"name": "b", "cluster": {"server": "https://b.example:6443", "insecure-skip-tls-verify": True}}],
    "users": [{"name": "u", "user": {"token": "s3cr3t-token"}}],
    "contexts": [{"name": "ctx-a", "context": {"cluster": "a", "user": "u"}},
                 {"name": "ctx-b", "context": {"cluster": "b", "user": "u"}}],
    "current-context": "ctx-a",
}


def params(**overrides):
    base = {name: spec.get("default") for name, spec in AUTH_ARG_SPEC.items()}
    base.update(overrides)
    return base


@pytest.fixture
def kubeconfig_file(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(KUBECONFIG))
    return path


def test_every_option_has_the_kubernetes_core_env_fallback():
    expected = {
        "kubeconfig": "K8S_AUTH_KUBECONFIG", "context": "K8S_AUTH_CONTEXT", "host": "K8S_AUTH_HOST",
        "api_key": "K8S_AUTH_API_KEY", "username": "K8S_AUTH_USERNAME", "password": "K8S_AUTH_PASSWORD",
        "validate_certs": "K8S_AUTH_VERIFY_SSL", "ca_cert": "K8S_AUTH_SSL_CA_CERT",
        "client_cert": "K8S_AUTH_CERT_FILE", "client_key": "K8S_AUTH_KEY_FILE", "proxy": "K8S_AUTH_PROXY",
        "no_proxy": "K8S_AUTH_NO_PROXY", "impersonate_user": "K8S_AUTH_IMPERSONATE_USER",
        "impersonate_groups": "K8S_AUTH_IMPERSONATE_GROUPS",
    }
    for option, env in expected.items():
        assert AUTH_ARG_SPEC[option]["fallback"][1] == [env], option
    assert AUTH_ARG_SPEC["api_key"]["no_log"] and AUTH_ARG_SPEC["password"]["no_log"]


def test_auth_argument_spec_is_a_copy():
    spec = auth_argument_spec()
    spec["host"]["type"] = "int"
    assert AUTH_ARG_SPEC["host"]["type"] == "str"


def test_context_selects_its_cluster(kubeconfig_file):
    configuration, source = load_configuration(params(kubeconfig=str(kubeconfig_file), context="ctx-b"))
    assert configuration.host == "https://b.example:6443"
    assert bearer_token(configuration) == "Bearer s3cr3t-token"
    assert str(kubeconfig_file) in source


def test_inline_kubeconfig_dict(kubeconfig_file):
    configuration, source = load_configuration(params(kubeconfig=KUBECONFIG))
    assert configuration.host == "https://a.example:6443"
    assert source == "inline kubeconfig"


def test_explicit_options_override_the_kubeconfig(kubeconfig_file):
    explicit = params(kubeconfig=str(kubeconfig_file), host="https://override:6443", api_key="other",
                      validate_certs=True)
    configuration, _source = load_configuration(explicit)
    assert configuration.host == "https://override:6443"
    assert bearer_token(configuration) == "Bearer other"
    assert configuration.verify_ssl is True


def test_host_and_token_alone_need_no_kubeconfig(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    configuration, source = load_configuration(params(host="https://awx-target:6443", api_key="t"))
    assert source == "options"
    assert configuration.host == "https://awx-target:6443"


def test_unknown_context_names_the_available_ones(kubeconfig_file):
    with pytest.raises(KubeCompassError) as err:
        load_configuration(params(kubeconfig=str(kubeconfig_file), context="nope"))
    assert err.value.category == "context"
    assert "'nope' not found" in str(err.value) and "ctx-a, ctx-b" in str(err.value)


def test_unknown_context_in_inline_kubeconfig(kubeconfig_file):
    with pytest.raises(KubeCompassError, match="not found in the kubeconfig given inline"):
        load_configuration(params(kubeconfig=KUBECONFIG, context="nope"))


def test_missing_kubeconfig_file(tmp_path):
    with pytest.raises(KubeCompassError, match="kubeconfig .*missing.conf not found"):
        load_configuration(params(kubeconfig=str(tmp_path / "missing.conf")))


def test_missing_ca_file_is_named(kubeconfig_file, tmp_path):
    with pytest.raises(KubeCompassError, match="ca_cert file .*ca.pem not found"):
        load_configuration(params(kubeconfig=str(kubeconfig_file), ca_cert=str(tmp_path / "ca.pem")))


def test_nothing_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeCompassError, match="no connection configured"):
        load_configuration(params())
