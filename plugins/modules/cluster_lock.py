#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cluster_lock
short_description: Take or release a cluster-wide lock so that only one remediation run changes a control plane
version_added: 0.1.0
description:
  - Holds a lock in a C(coordination.k8s.io/v1) Lease (by default C(kube-system/kubecompass-remediation)), so that
    two remediation runs, for example two AWX jobs started at once, never change the same control plane together.
  - O(state=acquired) creates the Lease when there is none. When this run (O(holder)) already holds it, the lease is
    renewed, which is not reported as a change (RV(renewed) says so), so a second run of an idempotent play reports
    no change.
  - Another holder's lease is judged as client-go leader election does, by observed renewals, never by comparing
    its C(renewTime) with this controller's clock (clocks of different machines disagree). The task reads the Lease
    again every 10 seconds for up to O(wait_seconds); once it has seen the same record (C(resourceVersion))
    unchanged for the lease's full C(leaseDurationSeconds), the lock is taken over with an update that carries that
    C(resourceVersion), so of two runs taking over at once exactly one wins. Otherwise the task fails with category
    C(locked), naming the holder, its purpose and for how long it saw the lease unrenewed.
  - O(state=released) deletes the Lease only when O(holder) holds it, with the Lease's C(uid) and
    C(resourceVersion) as preconditions; a lock held by another run, or no lock, is left alone (no change).
  - A Lease whose holder is set but whose C(leaseDurationSeconds) is not a positive integer never expires by
    itself; the failure message says how to delete it once no run is active.
  - The Lease records the controller's C(ansible-playbook) process (annotation C(kubecompass.io/run) - host name,
    kernel boot id, PID namespace inode, pid and start time). A run killed on this controller leaves its lock
    behind; a rerun in the same boot and PID namespace sees that process gone and takes the lock over at once.
    Runs anywhere else (another AWX job pod, even with the same host name) wait for the observed expiry.
  - Runs on the controller against the API server. Clocks need not agree across machines.
author:
  - KubeCompass contributors (@kubecompass)
options:
  name:
    description: Name of the Lease.
    type: str
    default: kubecompass-remediation
  namespace:
    description: Namespace of the Lease.
    type: str
    default: kube-system
  holder:
    description:
      - Identity of this run, stored as the Lease's C(holderIdentity), for example C(awx-job-{{ awx_job_id }}) or
        C({{ inventory_hostname }}/{{ lookup('env', 'USER') }}/{{ now(utc=true) }}).
      - Use the same value to renew and to release the lock.
    type: str
    required: true
  duration_seconds:
    description:
      - How long the lock stays valid after it was taken or last renewed. Renew it (run the module again with the
        same O(holder)) in runs that may take longer; another run takes it over once it has seen it unrenewed for
        this long.
    type: int
    default: 1800
  wait_seconds:
    description:
      - How long to wait for a lock another run holds, reading the Lease again every 10 seconds. A lease seen
        unrenewed for its full duration within the wait is taken over; a lock released meanwhile is taken.
      - V(0) fails at once when another run holds the lock. Only a wait of at least the holder's
        C(leaseDurationSeconds) can take over the lock of a run killed on another controller.
    type: int
    default: 0
  state:
    description: Whether this run must hold the lock (V(acquired)) or give it up (V(released)).
    type: str
    choices: [acquired, released]
    default: acquired
  purpose:
    description:
      - Free text stored in the Lease's C(kubecompass.io/purpose) annotation and shown to runs that find the lock
        held, for example C(audit_logging remediation).
    type: str
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.ACTION_GROUP
attributes:
  check_mode:
    support: full
    details:
      - Only reads the Lease. Reports whether the lock would be acquired, renewed, taken over or released, and
        fails as a real run would when another run holds it.
  diff_mode:
    support: full
    details:
      - The diff shows the lock's holder, purpose and times before and after.
notes:
  - RBAC needed in O(namespace) on C(leases.coordination.k8s.io) with O(name) are C(get), C(create), C(update)
    and C(delete).
"""

EXAMPLES = r"""
- name: Take the remediation lock for this AWX job (fails while another run holds it)
  kubecompass.readiness.cluster_lock:
    holder: "awx-job-{{ awx_job_id | default('local') }}"
    purpose: audit_logging remediation
    duration_seconds: 1800
  run_once: true
  delegate_to: localhost

# ... change the control plane, for example with kubecompass.readiness.static_pod_manifest in a later play that
# goes through the control-plane nodes with serial: 1 ...

- name: Give the lock back at the end of the run
  kubecompass.readiness.cluster_lock:
    holder: "awx-job-{{ awx_job_id | default('local') }}"
    state: released
  run_once: true
  delegate_to: localhost

- name: Hold the lock around a task file, and release it even when a task fails
  block:
    - name: Take the lock
      kubecompass.readiness.cluster_lock:
        holder: "{{ lookup('ansible.builtin.env', 'USER') }}@{{ inventory_hostname }}"
        purpose: encryption key rotation
    - name: Remediate
      ansible.builtin.include_tasks: remediate.yml
  always:
    - name: Release the lock
      kubecompass.readiness.cluster_lock:
        holder: "{{ lookup('ansible.builtin.env', 'USER') }}@{{ inventory_hostname }}"
        state: released

- name: See who holds the lock, without changing anything
  kubecompass.readiness.cluster_lock:
    holder: probe
  check_mode: true
  register: lock_probe
  ignore_errors: true

- name: Show it
  ansible.builtin.debug:
    msg: "{{ lock_probe.msg }}"
"""

RETURN = r"""
changed:
  description:
    - Whether the lock was (in check mode would be) created, taken over or released. Renewing a lock this run
      already holds is not a change.
  returned: always
  type: bool
  sample: true
acquired:
  description: Whether O(holder) holds the lock now (in check mode, would hold it).
  returned: when O(state=acquired)
  type: bool
  sample: true
released:
  description: Whether the lock was (in check mode would be) released by this task.
  returned: when O(state=released)
  type: bool
  sample: true
renewed:
  description: Whether O(holder) already held the lock and its lease was (would be) renewed.
  returned: when O(state=acquired)
  type: bool
  sample: false
action:
  description: What acquiring did, one of V(create), V(renew), V(take_over).
  returned: when O(state=acquired)
  type: str
  sample: create
holder:
  description: Who holds the lock after this task, or null when nobody does.
  returned: always
  type: str
  sample: awx-job-123
expires:
  description:
    - When the lock this run holds expires by this controller's clock (RFC 3339 UTC); null when nobody holds it or
      another run does (its expiry is observed, not read from its clock).
  returned: always
  type: str
  sample: "2026-11-22T05:30:00.000000Z"
previous_holder:
  description: Who held the lock before this task (null when there was no Lease or no holder).
  returned: always
  type: str
  sample: awx-job-122
msg:
  description: What happened, in one line.
  returned: always
  type: str
  sample: lock kube-system/kubecompass-remediation acquired until 2026-11-22T05:30:00.000000Z
lease:
  description: Namespace and name of the Lease.
  returned: always
  type: dict
  sample: {"namespace": "kube-system", "name": "kubecompass-remediation"}
"""

import os
import socket

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    auth_argument_spec,
    mask_credentials,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import lock
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import client_from_params


def argspec():
    spec = auth_argument_spec()
    spec.update(
        name={"type": "str", "default": lock.DEFAULT_NAME},
        namespace={"type": "str", "default": lock.DEFAULT_NAMESPACE},
        holder={"type": "str", "required": True},
        duration_seconds={"type": "int", "default": lock.DEFAULT_DURATION},
        wait_seconds={"type": "int", "default": 0},
        state={"type": "str", "choices": ["acquired", "released"], "default": "acquired"},
        purpose={"type": "str"},
    )
    return spec


def run(client, params, check_mode, clock=None):
    """The module result for ``params`` (without diff); raises KubeCompassError."""
    if not params["holder"].strip():
        raise KubeCompassError("holder must not be empty", "input")
    if params["duration_seconds"] <= 0:
        raise KubeCompassError("duration_seconds must be positive", "input")
    if params.get("wait_seconds", 0) < 0:
        raise KubeCompassError("wait_seconds must not be negative", "input")
    if params["state"] == "released":
        result = lock.release(client, params["namespace"], params["name"], params["holder"], check_mode)
    else:
        context = lock.run_context()
        result = lock.acquire(client, params["namespace"], params["name"], params["holder"],
                              params["duration_seconds"], params["purpose"], check_mode, clock,
                              run=lock.controller_run(socket.gethostname(), os.getpid(), context),
                              run_ended=lambda run: lock.run_ended(run, context),
                              wait=params.get("wait_seconds", 0))
    result["lease"] = {"namespace": params["namespace"], "name": params["name"]}
    return result


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    mask_credentials(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    try:
        result = run(client_from_params(module.params), module.params, module.check_mode)
    except KubeCompassError as exc:
        module.fail_json(msg=str(exc), category=exc.category, **getattr(exc, "result", {}))
    before, after = result.pop("before"), result.pop("after")
    if module._diff and result["changed"]:
        header = "lease %s/%s" % (module.params["namespace"], module.params["name"])
        result["diff"] = {"before_header": header, "after_header": header,
                          "before": lock.summary_text(before), "after": lock.summary_text(after)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
