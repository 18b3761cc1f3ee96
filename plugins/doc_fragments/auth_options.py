# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Same option names and K8S_AUTH_* fallbacks as kubernetes.core, so AWX credentials work unchanged.
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or its content as a dictionary.
      - Several files can be given separated by V(:) (V(;) on Windows) and are merged as kubectl merges
        E(KUBECONFIG) - the first file to define a cluster, user or context name wins, C(current-context) comes
        from the first file that sets it, and a listed file that does not exist is skipped. None existing is an
        input error.
      - When neither O(kubeconfig), O(context) nor O(host) is given, C(KUBECONFIG) or C(~/.kube/config) is used,
        then the in-cluster service account.
      - Can be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: raw
  context:
    description:
      - The kubeconfig context to use. Can be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the API server. Can be set with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - Bearer token. Can be set with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  username:
    description:
      - Username for basic authentication. Can be set with the E(K8S_AUTH_USERNAME) environment variable.
    type: str
  password:
    description:
      - Password for basic authentication. Can be set with the E(K8S_AUTH_PASSWORD) environment variable.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate.
      - Can be set with the E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to a CA bundle that signs the API server's certificate.
      - Can be set with the E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate. Can be set with the E(K8S_AUTH_CERT_FILE) environment variable.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the client certificate's key. Can be set with the E(K8S_AUTH_KEY_FILE) environment variable.
    type: path
    aliases: [key_file]
  proxy:
    description:
      - HTTP proxy URL for API requests. Can be set with the E(K8S_AUTH_PROXY) environment variable.
    type: str
  no_proxy:
    description:
      - Comma-separated hosts that bypass O(proxy). Can be set with the E(K8S_AUTH_NO_PROXY) environment variable.
    type: str
  proxy_headers:
    description:
      - Headers sent to the HTTP proxy of O(proxy), built as urllib3's C(make_headers) builds them.
      - Each suboption can be set with its E(K8S_AUTH_PROXY_HEADERS_*) environment variable. The credentials are
        never shown, neither as given nor base64-encoded.
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - Colon-separated C(username:password) for the C(Proxy-Authorization) basic authentication header.
          - Can be set with the E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH) environment variable.
        type: str
      basic_auth:
        description:
          - Colon-separated C(username:password) for an C(Authorization) basic authentication header.
          - Can be set with the E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH) environment variable.
        type: str
      user_agent:
        description:
          - The C(User-Agent) header, such as V(foo/1.0).
          - Can be set with the E(K8S_AUTH_PROXY_HEADERS_USER_AGENT) environment variable.
        type: str
  persist_config:
    description:
      - Whether to write refreshed credentials (OIDC and GCP auth-provider tokens) back to the kubeconfig file
        that holds them, so that a rotated refresh token is not lost.
      - Never in check mode, which writes no file.
      - Can be set with the E(K8S_AUTH_PERSIST_CONFIG) environment variable.
    type: bool
    default: false
  impersonate_user:
    description:
      - User to impersonate. Can be set with the E(K8S_AUTH_IMPERSONATE_USER) environment variable.
    type: str
  impersonate_groups:
    description:
      - Groups to impersonate. Can be set with the E(K8S_AUTH_IMPERSONATE_GROUPS) environment variable.
    type: list
    elements: str
  request_timeout:
    description:
      - Seconds to wait for each API request.
    type: int
    default: 30
requirements:
  - kubernetes >= 31.0.0 (Python package; used to load kubeconfig and in-cluster credentials)
notes:
  - Options can be set once for every module of the collection with C(module_defaults) and the
    C(group/kubecompass.readiness.readiness) action group.
"""
