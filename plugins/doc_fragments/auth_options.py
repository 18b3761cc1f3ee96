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
