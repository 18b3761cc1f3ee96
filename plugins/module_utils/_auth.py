# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Connection options shared by every module, with the same names and K8S_AUTH_* fallbacks as kubernetes.core.

AWX's Kubernetes credential types inject K8S_AUTH_HOST, K8S_AUTH_API_KEY, K8S_AUTH_VERIFY_SSL and
K8S_AUTH_SSL_CA_CERT; a kubeconfig is therefore never required. A kubeconfig path may list several files
separated by os.pathsep, merged as kubectl merges KUBECONFIG.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import base64
import copy
import os
import re
from urllib.parse import urlparse

from ansible.module_utils.basic import env_fallback

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

try:
    import yaml
    from kubernetes import config as kube_config
    from urllib3.util import make_headers
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported through missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc


# The headers urllib3's make_headers builds, sent to the proxy (kubernetes.core's proxy_headers suboptions).
PROXY_HEADERS_SPEC = {
    "basic_auth": {"type": "str", "no_log": True, "fallback": (env_fallback, ["K8S_AUTH_PROXY_HEADERS_BASIC_AUTH"])},
    "proxy_basic_auth": {"type": "str", "no_log": True,
                         "fallback": (env_fallback, ["K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH"])},
    "user_agent": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_PROXY_HEADERS_USER_AGENT"])},
}
_PROXY_HEADER_SECRETS = ("basic_auth", "proxy_basic_auth")

AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "raw", "fallback": (env_fallback, ["K8S_AUTH_KUBECONFIG"])},
    "context": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_CONTEXT"])},
    "host": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_HOST"])},
    "api_key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["K8S_AUTH_API_KEY"])},
    "username": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_USERNAME"])},
    "password": {"type": "str", "no_log": True, "fallback": (env_fallback, ["K8S_AUTH_PASSWORD"])},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"], "fallback": (env_fallback, ["K8S_AUTH_VERIFY_SSL"])},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"], "fallback": (env_fallback, ["K8S_AUTH_SSL_CA_CERT"])},
    "client_cert": {"type": "path", "aliases": ["cert_file"], "fallback": (env_fallback, ["K8S_AUTH_CERT_FILE"])},
    "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False,
                   "fallback": (env_fallback, ["K8S_AUTH_KEY_FILE"])},
    "proxy": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_PROXY"])},
    "no_proxy": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_NO_PROXY"])},
    # apply_defaults: the K8S_AUTH_PROXY_HEADERS_* fallbacks apply when the option itself is not given.
    "proxy_headers": {"type": "dict", "options": PROXY_HEADERS_SPEC, "apply_defaults": True},
    "persist_config": {"type": "bool", "default": False, "fallback": (env_fallback, ["K8S_AUTH_PERSIST_CONFIG"])},
    "impersonate_user": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_IMPERSONATE_USER"])},
    "impersonate_groups": {"type": "list", "elements": "str",
                           "fallback": (env_fallback, ["K8S_AUTH_IMPERSONATE_GROUPS"])},
    "request_timeout": {"type": "int", "default": 30},
}


def auth_argument_spec():
    """A fresh copy, so modules can extend it without touching the shared one."""
    return copy.deepcopy(AUTH_ARG_SPEC)


# Secret fields of a kubeconfig user entry, of its auth-provider config, and exec environment variable names that
# name a secret. Certificates, names and URLs are public and stay readable in messages.
_USER_SECRETS = ("token", "password", "client-key-data")
_AUTH_PROVIDER_SECRETS = ("access-token", "id-token", "refresh-token", "client-secret")
_SECRET_ENV_NAME = re.compile(r"TOKEN|SECRET|PASSW|KEY|CREDENTIAL", re.IGNORECASE)


def _mapping(value):
    return value if isinstance(value, dict) else {}


def credential_values(params):
    """Every secret in the connection options that no_log does not already cover: the credentials of an inline
    kubeconfig (token, password, client-key-data, auth-provider tokens and client secret, secret exec env values)
    and the password of the proxy URL (with its userinfo)."""
    values = []
    kubeconfig = params.get("kubeconfig")
    users = kubeconfig.get("users") if isinstance(kubeconfig, dict) else None
    for entry in users if isinstance(users, list) else []:
        user = _mapping(_mapping(entry).get("user"))
        values += [user.get(field) for field in _USER_SECRETS]
        provider_config = _mapping(_mapping(user.get("auth-provider")).get("config"))
        values += [provider_config.get(field) for field in _AUTH_PROVIDER_SECRETS]
        env = _mapping(user.get("exec")).get("env")
        values += [_mapping(var).get("value") for var in (env if isinstance(env, list) else [])
                   if _SECRET_ENV_NAME.search(str(_mapping(var).get("name") or ""))]
    proxy = params.get("proxy")
    if isinstance(proxy, str) and "@" in proxy:
        try:
            parsed = urlparse(proxy)
            password = parsed.password
        except ValueError:
            password = None
        if password:
            values += [password, "%s:%s" % (parsed.username or "", password)]
    headers = _mapping(params.get("proxy_headers"))
    for field in _PROXY_HEADER_SECRETS:
        credential = headers.get(field)
        if isinstance(credential, str) and credential:
            # The raw value is no_log already; its password and the header urllib3 encodes from it are not.
            values += [credential.partition(":")[2], base64.b64encode(credential.encode()).decode()]
    return {value for value in values if isinstance(value, str) and value}


def mask_credentials(module):
    """Add the connection options' secrets to the module's no-log values, so its result (the -vvv invocation,
    registered variables, AWX events) shows them masked. Call right after AnsibleModule(...) is built.

    In check mode it also turns persist_config off: check mode writes no file, not even a refreshed token
    into the kubeconfig (every module calls this, test_credential_masking checks it)."""
    module.no_log_values.update(credential_values(module.params))
    if getattr(module, "check_mode", False):
        module.params["persist_config"] = False


def _kubeconfig_files(kubeconfig):
    """The files a kubeconfig path (else KUBECONFIG, else ~/.kube/config) names, in order."""
    listed = kubeconfig or os.environ.get("KUBECONFIG")
    if listed:
        return [os.path.expanduser(path) for path in listed.split(os.pathsep) if path]
    return [os.path.expanduser("~/.kube/config")]


def _first_current_context(files):
    """kubectl's merge rule: the first file that sets current-context wins (the kubernetes client lets the last
    one win, so the context is chosen here)."""
    for path in files:
        with open(path, encoding="utf-8") as stream:
            document = yaml.safe_load(stream)
        if isinstance(document, dict) and document.get("current-context"):
            return document["current-context"]
    return None


def _load_kubeconfig(params, configuration):
    kubeconfig = params.get("kubeconfig")
    context = params.get("context")
    try:
        if isinstance(kubeconfig, dict):
            contexts = [c.get("name") for c in kubeconfig.get("contexts") or []]
            if context and context not in contexts:
                raise KubeCompassError(
                    "context %r not found in the kubeconfig given inline (available: %s)"
                    % (context, ", ".join(contexts) or "none"), "context")
            kube_config.load_kube_config_from_dict(kubeconfig, context=context, client_configuration=configuration,
                                                   persist_config=False)
            return "inline kubeconfig"
        if kubeconfig is not None and not isinstance(kubeconfig, str):
            raise KubeCompassError("kubeconfig must be a path (several separated by %r) or a kubeconfig mapping, "
                                   "not %s" % (os.pathsep, type(kubeconfig).__name__), "input")
        files = _kubeconfig_files(kubeconfig)
        # As kubectl does, a listed file that does not exist is skipped; none existing is bad input.
        present = [f for f in files if os.path.exists(f)]
        if not present:
            raise KubeCompassError("kubeconfig %s not found" % ", ".join(files), "input")
        source = os.pathsep.join(present)
        contexts, _active = kube_config.list_kube_config_contexts(config_file=source)
        names = [c.get("name") for c in contexts or []]
        if context and context not in names:
            raise KubeCompassError("context %r not found in kubeconfig %s (available: %s)"
                                   % (context, source, ", ".join(names) or "none"), "context")
        if not context and len(present) > 1:
            context = _first_current_context(present)
        kube_config.load_kube_config(config_file=source, context=context, client_configuration=configuration,
                                     persist_config=bool(params.get("persist_config")))
        return "kubeconfig %s" % source
    except ConfigException as exc:
        raise KubeCompassError("invalid kubeconfig: %s" % str(exc).splitlines()[0], "kubeconfig") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        raise KubeCompassError("kubeconfig %s is not valid YAML%s: %s"
                               % (params.get("kubeconfig") or "(default)", where,
                                  getattr(exc, "problem", None) or "parse error"), "kubeconfig") from None
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise KubeCompassError("unreadable kubeconfig: %s" % exc, "kubeconfig") from None


# Attribute names of the kubernetes Configuration for each connection option.
_OPTION_ATTRIBUTES = (
    ("host", "host"), ("username", "username"), ("password", "password"), ("validate_certs", "verify_ssl"),
    ("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"), ("client_key", "key_file"), ("proxy", "proxy"),
    ("no_proxy", "no_proxy"),
)


def _explicit_overrides(params):
    overrides = {attr: params[option] for option, attr in _OPTION_ATTRIBUTES if params.get(option) is not None}
    if params.get("api_key"):
        overrides["api_key"] = {"authorization": "Bearer %s" % params["api_key"]}
        overrides["api_key_prefix"] = {}
    return overrides


def _apply(configuration, overrides):
    for attr, value in overrides.items():
        setattr(configuration, attr, value)


def bearer_token(configuration):
    """The Authorization header value, whichever key this version of the kubernetes client uses."""
    return (configuration.get_api_key_with_prefix("authorization")
            or configuration.get_api_key_with_prefix("BearerToken"))


def load_configuration(params):
    """Resolve connection options into a kubernetes Configuration; explicit options override the kubeconfig.

    Precedence, as in kubernetes.core: an explicit kubeconfig or context is loaded; otherwise, when a host is
    given, options alone describe the connection; otherwise the default kubeconfig (KUBECONFIG or
    ~/.kube/config), then the in-cluster service account.
    """
    if not HAS_KUBERNETES:
        raise KubeCompassError("the kubernetes Python package is required: %s" % KUBERNETES_IMPORT_ERROR,
                               "dependency")
    configuration = Configuration()
    source = "options"
    if params.get("kubeconfig") or params.get("context") or not params.get("host"):
        if params.get("kubeconfig") or params.get("context") or any(
                os.path.exists(f) for f in _kubeconfig_files(None)):
            source = _load_kubeconfig(params, configuration)
        else:
            try:
                kube_config.load_incluster_config(client_configuration=configuration)
                source = "in-cluster service account"
            except ConfigException:
                raise KubeCompassError(
                    "no connection configured: set kubeconfig or host (or K8S_AUTH_KUBECONFIG / K8S_AUTH_HOST)",
                    "kubeconfig") from None
    overrides = _explicit_overrides(params)
    _apply(configuration, overrides)
    headers = {name: value for name, value in _mapping(params.get("proxy_headers")).items() if value is not None}
    if headers:
        configuration.proxy_headers = make_headers(**headers)
    hook = configuration.refresh_api_key_hook
    if hook is not None and overrides:
        # The kubeconfig loader's token refresh rewrites host, TLS and token; explicit options must survive it.
        def refresh_then_override(config):
            hook(config)
            _apply(config, overrides)

        configuration.refresh_api_key_hook = refresh_then_override
    for option in ("ca_cert", "client_cert", "client_key"):
        value = params.get(option)
        if value and not os.path.isfile(value):
            raise KubeCompassError("%s file %s not found" % (option, value), "kubeconfig")
    if not configuration.host or configuration.host == "http://localhost":
        raise KubeCompassError("no API server address in %s" % source, "kubeconfig")
    return configuration, source
