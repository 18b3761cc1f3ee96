"""Connection option resolution: kubeconfig, context, explicit options and their precedence."""

from __future__ import annotations

import base64
import socketserver
import threading

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import (
    AUTH_ARG_SPEC,
    PROXY_HEADERS_SPEC,
    auth_argument_spec,
    bearer_token,
    credential_values,
    load_configuration,
    mask_credentials,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import KubeClient

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
        "impersonate_groups": "K8S_AUTH_IMPERSONATE_GROUPS", "persist_config": "K8S_AUTH_PERSIST_CONFIG",
    }
    for option, env in expected.items():
        assert AUTH_ARG_SPEC[option]["fallback"][1] == [env], option
    for suboption in ("basic_auth", "proxy_basic_auth", "user_agent"):
        assert PROXY_HEADERS_SPEC[suboption]["fallback"][1] == ["K8S_AUTH_PROXY_HEADERS_%s" % suboption.upper()]
    assert AUTH_ARG_SPEC["proxy_headers"]["options"] is PROXY_HEADERS_SPEC
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


def test_missing_kubeconfig_file_is_an_input_error(tmp_path):
    with pytest.raises(KubeCompassError, match="kubeconfig .*missing.conf not found") as err:
        load_configuration(params(kubeconfig=str(tmp_path / "missing.conf")))
    assert err.value.category == "input"  # bad input of this run, never an unreachable cluster


def test_kubeconfig_of_another_type_is_an_input_error():
    with pytest.raises(KubeCompassError, match="kubeconfig must be a path .* not list") as err:
        load_configuration(params(kubeconfig=["/a", "/b"]))
    assert err.value.category == "input"


def test_missing_ca_file_is_named(kubeconfig_file, tmp_path):
    with pytest.raises(KubeCompassError, match="ca_cert file .*ca.pem not found"):
        load_configuration(params(kubeconfig=str(kubeconfig_file), ca_cert=str(tmp_path / "ca.pem")))


def test_nothing_configured(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeCompassError, match="no connection configured"):
        load_configuration(params())


# -- kubernetes.core compatibility: kubeconfig lists, proxy_headers, persist_config ---------------------------------


def validated(args):
    """Module parameters as AnsibleModule builds them from ``args`` and the environment."""
    result = ArgumentSpecValidator(auth_argument_spec()).validate(args)
    assert not result.error_messages, result.error_messages
    return result


def _config(server_of, users, contexts, current=None):
    document = {"apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": n, "cluster": {"server": s, "insecure-skip-tls-verify": True}}
                             for n, s in server_of.items()],
                "users": [{"name": n, "user": {"token": t}} for n, t in users.items()],
                "contexts": [{"name": n, "context": {"cluster": c, "user": u}} for n, (c, u) in contexts.items()]}
    if current:
        document["current-context"] = current
    return document


@pytest.fixture
def two_kubeconfigs(tmp_path, monkeypatch):
    """Two files that disagree: the first defines cluster a, user u and ctx-a; the second redefines them and adds
    b and ctx-b, and names another current-context."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    first, second = tmp_path / "first.conf", tmp_path / "second.conf"
    first.write_text(yaml.safe_dump(_config({"a": "https://a.example:6443"}, {"u": "first-token"},
                                            {"ctx-a": ("a", "u")}, current="ctx-a")))
    second.write_text(yaml.safe_dump(_config({"a": "https://shadowed.example:6443", "b": "https://b.example:6443"},
                                             {"u": "second-token"},
                                             {"ctx-a": ("b", "u"), "ctx-b": ("b", "u")}, current="ctx-b")))
    return first, second


def test_colon_separated_kubeconfig_merges_as_kubectl(two_kubeconfigs):
    first, second = two_kubeconfigs
    configuration, source = load_configuration(params(kubeconfig="%s:%s" % (first, second)))
    # current-context, cluster a, user u and ctx-a all come from the first file that defines them.
    assert configuration.host == "https://a.example:6443"
    assert bearer_token(configuration) == "Bearer first-token"
    assert source == "kubeconfig %s:%s" % (first, second)
    configuration, _source = load_configuration(params(kubeconfig="%s:%s" % (first, second), context="ctx-b"))
    assert configuration.host == "https://b.example:6443"
    assert bearer_token(configuration) == "Bearer first-token"


def test_k8s_auth_kubeconfig_list_skips_a_missing_file(two_kubeconfigs, monkeypatch):
    first, second = two_kubeconfigs
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", "%s:%s:~/absent.conf" % (second, first))
    result = validated({})
    configuration, source = load_configuration(result.validated_parameters)
    assert configuration.host == "https://b.example:6443"  # second.conf comes first now: its current-context
    assert source == "kubeconfig %s:%s" % (second, first)


def test_kubeconfig_list_without_an_existing_file_is_an_input_error(tmp_path):
    listed = "%s:%s" % (tmp_path / "one.conf", tmp_path / "two.conf")
    with pytest.raises(KubeCompassError, match="kubeconfig .*one.conf, .*two.conf not found") as err:
        load_configuration(params(kubeconfig=listed))
    assert err.value.category == "input"


class _RecordingProxy(socketserver.BaseRequestHandler):
    """Records the request a client sends to its proxy, then refuses it (407)."""

    received = []

    def handle(self):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(4096)
            if not chunk:
                break
            data += chunk
        self.received.append(data.decode("latin-1"))
        self.request.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def recording_proxy():
    _RecordingProxy.received = []
    server = socketserver.TCPServer(("127.0.0.1", 0), _RecordingProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1], _RecordingProxy.received
    server.shutdown()
    server.server_close()


def test_proxy_headers_reach_the_proxy(kubeconfig_file, recording_proxy):
    proxy, received = recording_proxy
    configuration, _source = load_configuration(params(
        kubeconfig=str(kubeconfig_file), proxy=proxy,
        proxy_headers={"proxy_basic_auth": "relay:pr0xy-pw", "user_agent": "kubecompass-ci/1", "basic_auth": None}))
    with pytest.raises(KubeCompassError):
        KubeClient(configuration, timeout=5).get("/version")
    request = received[0].lower()
    assert request.startswith("connect a.example:6443 ")
    assert "proxy-authorization: basic %s" % base64.b64encode(b"relay:pr0xy-pw").decode().lower() in request
    assert "user-agent: kubecompass-ci/1" in request


def test_proxy_headers_from_k8s_auth_proxy_headers_env(kubeconfig_file, monkeypatch):
    monkeypatch.setenv("K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH", "relay:env-pw")
    monkeypatch.setenv("K8S_AUTH_PROXY_HEADERS_BASIC_AUTH", "user:basic-pw")
    monkeypatch.setenv("K8S_AUTH_PROXY_HEADERS_USER_AGENT", "awx/24")
    result = validated({"kubeconfig": str(kubeconfig_file), "proxy": "http://proxy.example:3128"})
    assert result.validated_parameters["proxy_headers"] == {
        "proxy_basic_auth": "relay:env-pw", "basic_auth": "user:basic-pw", "user_agent": "awx/24"}
    assert {"relay:env-pw", "user:basic-pw"} <= result._no_log_values  # no_log covers env values too
    configuration, _source = load_configuration(result.validated_parameters)
    assert configuration.proxy_headers == {
        "proxy-authorization": "Basic " + base64.b64encode(b"relay:env-pw").decode(),
        "authorization": "Basic " + base64.b64encode(b"user:basic-pw").decode(), "user-agent": "awx/24"}


def test_no_proxy_headers_leaves_the_default(kubeconfig_file):
    result = validated({"kubeconfig": str(kubeconfig_file)})
    assert result.validated_parameters["proxy_headers"] == {"proxy_basic_auth": None, "basic_auth": None,
                                                            "user_agent": None}
    configuration, _source = load_configuration(result.validated_parameters)
    assert configuration.proxy_headers is None


class _Module:
    def __init__(self, module_params, check_mode=False):
        self.params = module_params
        self.check_mode = check_mode
        self.no_log_values = set()


def test_proxy_header_credentials_are_masked_in_every_form():
    module = _Module(params(proxy_headers={"proxy_basic_auth": "relay:pr0xy-pw", "basic_auth": "user:basic-pw",
                                           "user_agent": "ci/1"}))
    mask_credentials(module)
    for secret in ("pr0xy-pw", "basic-pw", base64.b64encode(b"relay:pr0xy-pw").decode(),
                   base64.b64encode(b"user:basic-pw").decode()):
        assert secret in module.no_log_values
    assert "ci/1" not in module.no_log_values and "relay" not in module.no_log_values
    assert credential_values(params(proxy_headers={"basic_auth": None})) == set()


@pytest.fixture
def gcp_kubeconfig(tmp_path, monkeypatch):
    """A kubeconfig whose gcp auth-provider has no token yet: loading it fetches one through cmd-path (a local
    script), the refresh persist_config writes back."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    helper = tmp_path / "token-helper"
    helper.write_text("#!/bin/sh\necho '{\"credential\": {\"access_token\": \"fresh-token\", "
                      "\"token_expiry\": \"2099-01-01T00:00:00Z\"}}'\n")
    helper.chmod(0o755)
    path = tmp_path / "gcp.conf"
    document = _config({"g": "https://g.example:6443"}, {}, {"ctx-g": ("g", "gcp-user")}, current="ctx-g")
    document["users"] = [{"name": "gcp-user", "user": {"auth-provider": {"name": "gcp",
                                                                         "config": {"cmd-path": str(helper)}}}}]
    path.write_text(yaml.safe_dump(document))
    return path


def _stored_token(path):
    return yaml.safe_load(path.read_text())["users"][0]["user"]["auth-provider"]["config"].get("access-token")


def test_persist_config_writes_the_refreshed_token_back(gcp_kubeconfig):
    configuration, _source = load_configuration(params(kubeconfig=str(gcp_kubeconfig), persist_config=True))
    assert bearer_token(configuration) == "Bearer fresh-token"
    assert _stored_token(gcp_kubeconfig) == "fresh-token"


def test_persist_config_off_by_default_and_in_check_mode(gcp_kubeconfig, monkeypatch):
    before = gcp_kubeconfig.read_text()
    configuration, _source = load_configuration(params(kubeconfig=str(gcp_kubeconfig)))
    assert bearer_token(configuration) == "Bearer fresh-token"
    assert gcp_kubeconfig.read_text() == before
    monkeypatch.setenv("K8S_AUTH_PERSIST_CONFIG", "true")
    module = _Module(validated({"kubeconfig": str(gcp_kubeconfig)}).validated_parameters, check_mode=True)
    assert module.params["persist_config"] is True
    mask_credentials(module)
    load_configuration(module.params)
    assert gcp_kubeconfig.read_text() == before
