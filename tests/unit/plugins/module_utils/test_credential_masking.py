"""Secrets given inline (a kubeconfig dict, proxy userinfo) join the module's no-log values, so they never show in
its result (-vvv invocation, registered variables, AWX events); every module with the connection options masks."""

from __future__ import annotations

import ast
import json
import types

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import (
    credential_values,
    mask_credentials,
)
from tests.helpers import REPO, VENV_BIN, ansible_env, run

TOKEN = "kc-token-0123456789abcdef"
CLIENT_KEY = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tS0MtU0VDUkVULUtFWQ=="
PASSWORD = "kc-basic-password-42"
REFRESH = "kc-refresh-token-77"
CLIENT_SECRET = "kc-oidc-client-secret"
EXEC_SECRET = "kc-exec-secret-access-key"
PROXY_PASSWORD = "kc-pr0xy-pa55"
SECRETS = (TOKEN, CLIENT_KEY, PASSWORD, REFRESH, CLIENT_SECRET, EXEC_SECRET, PROXY_PASSWORD)

INLINE = {
    "apiVersion": "v1", "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
    "users": [
        {"name": "token", "user": {"token": TOKEN, "client-key-data": CLIENT_KEY,
                                   "client-certificate-data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"}},
        {"name": "basic", "user": {"username": "admin", "password": PASSWORD}},
        {"name": "oidc", "user": {"auth-provider": {"name": "oidc", "config": {
            "client-id": "kubernetes", "client-secret": CLIENT_SECRET, "refresh-token": REFRESH,
            "idp-issuer-url": "https://idp.example"}}}},
        {"name": "exec", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "aws",
                                           "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": EXEC_SECRET},
                                                   {"name": "AWS_PROFILE", "value": "prod"}]}}},
        "not-a-mapping",
        {"name": "empty", "user": None},
    ],
    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "token"}}],
    "current-context": "c",
}
PROXY = "http://proxyuser:%s@127.0.0.1:3128" % PROXY_PASSWORD


def test_every_secret_of_an_inline_kubeconfig_and_the_proxy_password_is_found():
    values = credential_values({"kubeconfig": INLINE, "proxy": PROXY})
    assert set(SECRETS) <= values
    # Names, public certificates, URLs and non-secret exec settings stay readable in messages.
    assert not values & {"admin", "prod", "kubernetes", "https://127.0.0.1:1", "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"}


@pytest.mark.parametrize("params", [
    {}, {"kubeconfig": "/etc/kubeconfig"}, {"kubeconfig": {"users": "x"}}, {"kubeconfig": {"users": [{"user": []}]}},
    {"proxy": "http://127.0.0.1:3128"}, {"proxy": "not a url"},
])
def test_nothing_to_mask_is_not_an_error(params):
    assert credential_values(params) == set()


def test_mask_credentials_adds_to_the_modules_no_log_values():
    module = types.SimpleNamespace(params={"kubeconfig": INLINE, "proxy": PROXY}, no_log_values={"already"})
    mask_credentials(module)
    assert set(SECRETS) | {"already"} <= module.no_log_values


def test_every_module_with_the_connection_options_masks_right_after_it_is_built():
    """Static: each module whose argument spec is the shared auth spec calls mask_credentials(module) directly
    after AnsibleModule(...)."""
    missing = []
    for path in sorted((REPO / "plugins" / "modules").glob("*.py")):
        source = path.read_text()
        if "auth_argument_spec" not in source:
            continue
        lines = [line.strip() for line in source.splitlines()]
        built = [i for i, line in enumerate(lines) if line.startswith("module = AnsibleModule(")]
        if not built or not any(lines[j] == "mask_credentials(module)" for j in range(built[0], built[0] + 4)):
            missing.append(path.name)
        ast.parse(source)
    assert missing == []


def test_a_failed_module_run_at_vvv_shows_no_inline_secret(tmp_path):
    """End to end: cluster_info with an inline kubeconfig and a proxy with userinfo against a closed loopback port
    fails; at -vvv its result carries the invocation, which must not hold any secret."""
    valid = dict(INLINE, users=[user for user in INLINE["users"] if isinstance(user, dict) and user["user"]])
    args = {"kubeconfig": valid, "proxy": PROXY, "no_proxy": "127.0.0.1", "request_timeout": 2}
    result = run([str(VENV_BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-vvv",
                  "-m", "kubecompass.readiness.cluster_info", "-a", json.dumps(args),
                  "-e", "ansible_python_interpreter=%s" % (VENV_BIN / "python")],
                 env=ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default"), timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "module_args" in output and "https://127.0.0.1:1" in output
    assert [secret for secret in SECRETS if secret in output] == []
    assert "proxyuser" in output or "********" in output  # the option is shown, its password is not
