#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: audit_log_probe
short_description: Prove that a node's API server writes audit events, by finding this module's own request in the log
version_added: 0.1.0
description:
  - Runs on a control-plane node (over SSH, as root). Sends one read request with a unique name to the node's own
    API server (a GET of a ConfigMap that does not exist in C(kube-system)) and waits until an event for that
    request appears in the node's audit log.
  - A configured policy and log flag say nothing about whether events are written (wrong mount, read-only
    directory, a policy that drops the request); this is the effective check. The request changes nothing in the
    cluster, so the module runs in check mode too.
author:
  - KubeCompass contributors (@kubecompass)
options:
  endpoint:
    description: The node's own API server URL, for example C(https://10.0.0.11:6443).
    type: str
    required: true
  log_path:
    description: The audit log file on the node (host path).
    type: path
    required: true
  ca_cert:
    description: CA bundle that signs the API server's serving certificate.
    type: path
    default: /etc/kubernetes/pki/ca.crt
  client_cert:
    description: Client certificate for the request (any authenticated identity is audited).
    type: path
    default: /etc/kubernetes/pki/apiserver-kubelet-client.crt
  client_key:
    description: Key of O(client_cert).
    type: path
    default: /etc/kubernetes/pki/apiserver-kubelet-client.key
  timeout:
    description: Seconds to wait for the event (the log backend writes in batches in C(batch) mode).
    type: int
    default: 30
extends_documentation_fragment:
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.INFO_MODULE
"""

EXAMPLES = r"""
- name: Prove the audit log receives this play's requests
  kubecompass.readiness.audit_log_probe:
    endpoint: "https://{{ kubecompass_node_ip }}:6443"
    log_path: /var/log/kubernetes/audit/audit.log
"""

RETURN = r"""
found:
  description: Whether the probe's request was found in the log within the timeout (the module fails otherwise).
  returned: always
  type: bool
probe:
  description: The request URI that was sent and searched for.
  returned: always
  type: str
  sample: /api/v1/namespaces/kube-system/configmaps/kubecompass-audit-probe-3f2a9c1b7d0e4a55
audit_id:
  description: The C(auditID) of the event found.
  returned: when found
  type: str
seconds:
  description: Seconds from the request until the event was found.
  returned: when found
  type: float
"""

import binascii
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import rollout
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError

from urllib.error import HTTPError

PROBE_PREFIX = "kubecompass-audit-probe-"


def find_event(lines, probe_uri):
    """The first audit event (a JSON line) whose requestURI is ``probe_uri``, or None."""
    for line in lines:
        if probe_uri not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("requestURI") == probe_uri:
            return event
    return None


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _lines_after(path, offset):
    try:
        with open(path, "rb") as handle:
            if _size(path) >= offset:
                handle.seek(offset)
            return handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def probe(params):
    probe_uri = "/api/v1/namespaces/kube-system/configmaps/%s%s" % (
        PROBE_PREFIX, binascii.hexlify(os.urandom(8)).decode("ascii"))
    offset = _size(params["log_path"])
    started = time.monotonic()
    try:
        open_url(params["endpoint"].rstrip("/") + probe_uri, timeout=10, validate_certs=True,
                 ca_path=params["ca_cert"], client_cert=params["client_cert"], client_key=params["client_key"],
                 use_proxy=False)
    except HTTPError:
        pass  # 404 (or 403) is expected: the request is audited all the same
    except (OSError, ValueError) as exc:  # URLError is an OSError
        raise KubeCompassError("cannot send the probe request to %s: %s" % (params["endpoint"], exc),
                               "unreachable") from None
    found = {}

    def logged():
        event = find_event(_lines_after(params["log_path"], offset), probe_uri)
        if event is not None:
            found["event"] = event
        return event is not None

    if not rollout.wait_until(logged, params["timeout"], interval=0.5):
        raise KubeCompassError("the probe request %s was not in %s after %ss: the API server does not write audit "
                               "events there (policy, flags or mount)" % (probe_uri, params["log_path"],
                                                                          params["timeout"]), "not_effective")
    return {"found": True, "probe": probe_uri, "audit_id": found["event"].get("auditID"),
            "seconds": round(time.monotonic() - started, 2)}


def main():
    module = AnsibleModule(
        argument_spec={
            "endpoint": {"type": "str", "required": True},
            "log_path": {"type": "path", "required": True},
            "ca_cert": {"type": "path", "default": "/etc/kubernetes/pki/ca.crt"},
            "client_cert": {"type": "path", "default": "/etc/kubernetes/pki/apiserver-kubelet-client.crt"},
            "client_key": {"type": "path", "default": "/etc/kubernetes/pki/apiserver-kubelet-client.key"},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    try:
        result = probe(module.params)
    except KubeCompassError as exc:
        module.fail_json(msg=str(exc), category=exc.category, found=False)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
