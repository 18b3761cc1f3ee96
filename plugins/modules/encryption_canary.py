#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: encryption_canary
short_description: Keep a canary Secret whose stored form proves that new Secrets are encrypted at rest
version_added: 0.1.0
description:
  - Creates the Secret O(namespace)/O(name) with random content when it does not exist, so a cluster always has a
    Secret written after encryption was turned on. Its raw value in etcd shows whether new writes are encrypted
    with the expected key, even on a cluster that holds no other Secret (the assessment cannot decide KC-SEC-005
    without one).
  - An existing canary is left alone (its stored form is then covered by the rewrite and the full etcd scan).
author:
  - KubeCompass contributors (@kubecompass)
options:
  namespace:
    description: Namespace of the canary.
    type: str
    default: kube-system
  name:
    description: Name of the canary.
    type: str
    default: kubecompass-encryption-canary
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.ACTION_GROUP
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Keep the encryption canary
  kubecompass.readiness.encryption_canary:
    kubeconfig: "{{ kubecompass_kubeconfig }}"
"""

RETURN = r"""
created:
  description: Whether the canary was (or in check mode would be) created.
  returned: always
  type: bool
"""

import base64
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import auth_argument_spec, mask_credentials
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import client_from_params


def canary(namespace, name):
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "kubecompass.readiness"},
                         "annotations": {"kubecompass.io/purpose": "proves new Secrets are encrypted at rest"}},
            "data": {"canary": base64.b64encode(os.urandom(16)).decode("ascii")}}


def ensure(client, namespace, name, check_mode):
    path = "/api/v1/namespaces/%s/secrets" % namespace
    status, body, _headers = client.request("GET", "%s/%s" % (path, name))
    if status == 200:
        return False
    if status != 404:
        raise client.status_error(status, body, "%s/%s" % (path, name))
    if check_mode:
        return True
    status, body, _headers = client.request("POST", path, body=canary(namespace, name))
    if status == 409:
        return False  # created meanwhile
    if status >= 300:
        raise client.status_error(status, body, path)
    return True


def main():
    spec = auth_argument_spec()
    spec.update(namespace={"type": "str", "default": "kube-system"},
                name={"type": "str", "default": "kubecompass-encryption-canary"})
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    mask_credentials(module)
    try:
        client = client_from_params(module.params)
        created = ensure(client, module.params["namespace"], module.params["name"], module.check_mode)
    except KubeCompassError as exc:
        module.fail_json(msg="encryption canary %s/%s: %s" % (module.params["namespace"], module.params["name"], exc),
                         category=exc.category)
    module.exit_json(changed=created, created=created)


if __name__ == "__main__":
    main()
