#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: secrets_rewrite
short_description: Rewrite every Secret through the API so it is stored with the current encryption key
version_added: 0.1.0
description:
  - Writes every Secret back unchanged through the API, so that the API server stores it with the first provider
    of its encryption configuration. This is the documented
    C(kubectl get secrets --all-namespaces -o json | kubectl replace -f -), needed after enabling encryption at rest
    and after promoting a new key, before an old key or C(identity) may be removed.
  - The API server only writes to etcd the Secrets whose stored form is stale, so Secrets already stored with the
    first provider cost one request each and no etcd write.
  - Each Secret is written with the C(resourceVersion) it was read with, so a concurrent change is never
    overwritten. On 409 Conflict the Secret is read again and the fresh version written (up to O(retries) times).
    A Secret deleted meanwhile (404) is counted, not an error.
  - Afterwards every Secret is listed again and compared with what was read and written. The comparison uses a
    content hash per Secret, the sha256 of the canonical JSON (sorted keys, no spaces) of its C(type), C(data),
    C(immutable), C(metadata.labels) and C(metadata.annotations). A Secret present before that is missing after
    (and was not found deleted during the rewrite), or whose content differs from what was written while nobody
    else wrote it since, fails the task with category C(integrity), naming only namespace/name.
  - Secret data is never returned or printed. Results hold counts, the names of problem Secrets, the duration and
    one aggregate digest before and after (sha256 over the sorted lines C(namespace/name:hash)).
  - Run it only once every API server has the final encryption configuration (a rewrite goes through one API
    server). It does not decide whether a rewrite is needed; an etcd scan of the raw values does that.
author:
  - KubeCompass contributors (@kubecompass)
options:
  namespaces:
    description:
      - Rewrite only the Secrets of these namespaces (one list per namespace).
      - By default every namespace, with one cluster-wide paged list.
    type: list
    elements: str
  retries:
    description: How many times one Secret is read again and written after a 409 Conflict.
    type: int
    default: 5
  page_size:
    description: Secrets per page of the list (Secrets can be large; lower it when pages time out).
    type: int
    default: 100
  record_key:
    description:
      - For a key whose API server side this collection cannot read (a managed cluster's KMS key). The rewrite is
        made only when the ConfigMap C(kube-system/kubecompass-secrets-rewrite) does not record this key as done,
        and the key is recorded there after a rewrite that succeeded - so a rewrite that failed or never ran is made
        by the next run, and a second run changes nothing.
      - The key's identifier (an ARN or URL), not key material.
    type: str
  lock_holder:
    description:
      - The holder of the cluster lock (M(kubecompass.readiness.cluster_lock)) this run took. When set, the Lease
        is renewed before the first Secret is written and again whenever a third of O(lock_duration_seconds) has
        passed, so that a rewrite of many Secrets never lets another run see the lock unrenewed for a full
        duration. When the Lease is held by someone else, the rewrite stops before the next Secret (category
        C(locked)). Check mode does not renew.
    type: str
  lock_name:
    description: Name of the lock's Lease (with O(lock_holder)).
    type: str
    default: kubecompass-remediation
  lock_namespace:
    description: Namespace of the lock's Lease (with O(lock_holder)).
    type: str
    default: kube-system
  lock_duration_seconds:
    description: The lease duration each renewal sets (with O(lock_holder)), as O(kubecompass.readiness.cluster_lock#module:duration_seconds).
    type: int
    default: 1800
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.ACTION_GROUP
attributes:
  check_mode:
    support: full
    details:
      - Lists and hashes the Secrets, writes nothing, and reports how many would be rewritten (all of them) in
        RV(would_rewrite); RV(changed) is true when there is any Secret to rewrite. Whether a rewrite is needed is
        decided from an etcd scan, not by this module.
  diff_mode:
    support: full
    details:
      - The diff shows the number of Secrets and the aggregate digest before and after. A rewrite does not change
        what a user sees, so they differ only when Secrets were created, deleted or changed meanwhile.
  idempotent:
    description: When run twice with the same input, the second run makes no change.
    support: none
    details:
      - Every run writes every Secret again (cheap when the stored form is current); run it when an etcd scan finds
        Secrets not stored with the first provider.
notes:
  - RBAC needed is C(list), C(get) and C(update) on C(secrets) in every namespace covered. A 403 stops the run at
    the first Secret refused.
  - Other resources listed in the encryption configuration (for example configmaps) are not rewritten.
  - With O(lock_holder), RBAC on the lock's Lease needs C(get) and C(update).
"""

EXAMPLES = r"""
- name: Rewrite every Secret after promoting the new key on every API server
  kubecompass.readiness.secrets_rewrite:
  register: rewrite

- name: Show the outcome
  ansible.builtin.debug:
    msg: "{{ rewrite.rewritten }} of {{ rewrite.count_before }} Secrets rewritten in {{ rewrite.seconds }}s"

- name: Rewrite the Secrets of two namespaces, with more conflict retries
  kubecompass.readiness.secrets_rewrite:
    namespaces:
      - payments
      - identity
    retries: 10

- name: Count and hash the Secrets without writing
  kubecompass.readiness.secrets_rewrite:
  check_mode: true
  register: secrets_before
"""

RETURN = r"""
recorded_key:
  description: >-
    With O(record_key) - the key the ConfigMap recorded before this run (C(null) when none); when it equals
    O(record_key) nothing was rewritten.
  returned: when O(record_key) is given
  type: str
changed:
  description: Whether any Secret was written (in check mode, whether any would be).
  returned: always
  type: bool
  sample: true
rewritten:
  description:
    - Number of Secrets written back (successful PUT requests). A Secret already stored with the first provider
      counts too; the API server then makes no etcd write.
  returned: always
  type: int
  sample: 1412
lock_renewals:
  description: How many times the cluster lock was renewed during the rewrite.
  returned: when O(lock_holder) is given outside check mode
  type: int
  sample: 4
would_rewrite:
  description: Number of Secrets a real run would write (every Secret listed); 0 outside check mode.
  returned: always
  type: int
  sample: 1412
count_before:
  description: Secrets listed before the rewrite.
  returned: always
  type: int
  sample: 1412
count_after:
  description: Secrets listed after the rewrite.
  returned: when not in check mode
  type: int
  sample: 1413
digest_before:
  description:
    - sha256 over the sorted lines C(namespace/name:content-hash) of the Secrets listed before the rewrite.
    - Equal digests mean the same Secrets with the same content.
  returned: always
  type: str
  sample: sha256:0f3c3f1ec0c1ad2c08b2fe3cbb6f3e4a1c3f0a5d3a51a3a1d1f6bd0d8e9b1a2c
digest_after:
  description: The same digest over the Secrets listed after the rewrite.
  returned: when not in check mode
  type: str
  sample: sha256:0f3c3f1ec0c1ad2c08b2fe3cbb6f3e4a1c3f0a5d3a51a3a1d1f6bd0d8e9b1a2c
conflicts_retried:
  description: 409 Conflict answers that were retried with a fresh read.
  returned: always
  type: int
  sample: 2
deleted_meanwhile:
  description: Secrets listed before that were deleted by someone else during the rewrite.
  returned: always
  type: int
  sample: 1
created_meanwhile:
  description: Secrets listed after that were not listed before (created, or deleted and created again, meanwhile).
  returned: always
  type: int
  sample: 2
changed_meanwhile:
  description: Secrets another client changed after the rewrite wrote them (not an integrity problem).
  returned: always
  type: int
  sample: 0
lost:
  description: Secrets (namespace/name) present before, absent after, and not seen deleted during the rewrite.
  returned: always
  type: list
  elements: str
  sample: []
altered:
  description: Secrets (namespace/name) whose content differs from what was written back.
  returned: always
  type: list
  elements: str
  sample: []
failed_secrets:
  description: Secrets that could not be rewritten, each with C(secret) (namespace/name) and C(error) (API status).
  returned: always
  type: list
  elements: dict
  sample: [{"secret": "payments/db", "error": "422 Invalid: admission webhook denied the request"}]
scope:
  description: The namespaces covered, or C(all namespaces).
  returned: always
  type: raw
  sample: all namespaces
seconds:
  description: Duration of the run in seconds.
  returned: always
  type: float
  sample: 41.7
api_requests:
  description: Number of API requests made.
  returned: always
  type: int
  sample: 1418
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    auth_argument_spec,
    mask_credentials,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import lock, secrets_rewrite
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import client_from_params


def argspec():
    spec = auth_argument_spec()
    spec.update(
        namespaces={"type": "list", "elements": "str"},
        retries={"type": "int", "default": secrets_rewrite.DEFAULT_RETRIES},
        page_size={"type": "int", "default": secrets_rewrite.DEFAULT_PAGE_SIZE},
        record_key={"type": "str", "no_log": False},
        lock_holder={"type": "str"},
        lock_name={"type": "str", "default": lock.DEFAULT_NAME},
        lock_namespace={"type": "str", "default": lock.DEFAULT_NAMESPACE},
        lock_duration_seconds={"type": "int", "default": lock.DEFAULT_DURATION},
    )
    return spec


def run(client, params, check_mode, monotonic=time.monotonic):
    """The module result (without diff); raises KubeCompassError, with the partial result as ``exc.result``."""
    if params["retries"] < 0:
        raise KubeCompassError("retries must not be negative", "input")
    if params["page_size"] < 1:
        raise KubeCompassError("page_size must be at least 1", "input")
    namespaces = [ns for ns in params["namespaces"] or [] if ns]
    if params["namespaces"] is not None and not namespaces:
        raise KubeCompassError("namespaces is empty; omit it to rewrite every namespace", "input")
    keep_alive = None
    if params.get("lock_holder") is not None:
        if not params["lock_holder"].strip():
            raise KubeCompassError("lock_holder must not be empty", "input")
        if params["lock_duration_seconds"] <= 0:
            raise KubeCompassError("lock_duration_seconds must be positive", "input")
        if not check_mode:  # check mode writes nothing, not even the Lease
            keep_alive = lock.Renewal(client, params["lock_namespace"], params["lock_name"], params["lock_holder"],
                                      params["lock_duration_seconds"], monotonic=monotonic)
    if params.get("record_key") is not None:
        if not params["record_key"].strip():
            raise KubeCompassError("record_key must not be empty", "input")
        result = secrets_rewrite.rewrite_once_per_key(client, params["record_key"], namespaces or None,
                                                      params["retries"], params["page_size"], check_mode,
                                                      keep_alive=keep_alive)
    else:
        result = secrets_rewrite.rewrite(client, namespaces or None, params["retries"], params["page_size"],
                                         check_mode, keep_alive=keep_alive)
    if keep_alive is not None:
        result["lock_renewals"] = keep_alive.renewals
    return result


def diff(result):
    def text(count, value):
        return "secrets: %s\ndigest: %s\n" % (count, value)

    after_count = result["count_before"] if result["count_after"] is None else result["count_after"]
    after_digest = result["digest_before"] if result["digest_after"] is None else result["digest_after"]
    return {"before_header": "Secrets (%s)" % result["scope"], "after_header": "Secrets (%s)" % result["scope"],
            "before": text(result["count_before"], result["digest_before"]), "after": text(after_count, after_digest)}


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    mask_credentials(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    client = None
    try:
        client = client_from_params(module.params)
        result = run(client, module.params, module.check_mode)
    except KubeCompassError as exc:
        module.fail_json(msg=str(exc), category=exc.category, api_requests=client.requests if client else 0,
                         **getattr(exc, "result", {}))
    if module._diff and "count_before" in result:  # nothing to show when the record says it was done
        result["diff"] = diff(result)
    module.exit_json(api_requests=client.requests, **result)


if __name__ == "__main__":
    main()
