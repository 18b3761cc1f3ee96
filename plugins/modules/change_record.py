#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: change_record
short_description: Write the change record of one cluster's remediation run (JSON and Markdown)
version_added: 0.1.0
description:
  - An action that runs on the controller. From what the remediation roles returned (O(returns)) it builds the
    record of what changed - per node, object or provider item, what changed, digests before and after, the role -
    with check mode or not, timings, and who ran it (the controller user and, under AWX or Automation Controller,
    the job ID, template, the user who launched it, schedule and workflow job from the C(awx_*) / C(tower_*)
    variables).
  - Writes C(kubecompass-remediation-<cluster>-<started>-<kind>.json) and C(.md) into O(dest), the directory of the
    assessment reports. In check mode the same record is written with C(kind=plan) - what a real run would change.
  - Each file is written to a temporary name in O(dest) and renamed; when the second cannot be written the first is
    removed, so a record is never half there.
  - The record names objects, flags and key names only - never file contents, Secret data or credentials. Digests
    are C(sha256:) over the canonical JSON of the object (without server-set fields), or over the file.
author:
  - KubeCompass contributors (@kubecompass)
options:
  dest:
    description: Directory to write the record to (created with mode C(0755) when missing).
    type: path
    required: true
  cluster:
    description: The cluster (its inventory name).
    type: str
    required: true
  started:
    description: When the remediation of the cluster started, in seconds since the epoch.
    type: float
    required: true
  returns:
    description:
      - What the roles returned, per role (C(etcd_snapshots), C(audit_logging), C(apiserver_hardening),
        C(encryption_at_rest), C(managed_control_plane), C(network_policies), C(pod_security),
        C(namespace_guardrails), C(disruption_budgets), C(rbac_least_privilege), C(backups)).
      - Each role's value maps C(objects) (the registered result of a cluster-object module, read from its
        C(changed_objects)), C(rollout) (the per-node records of a control-plane rollout), C(provider) (the result of
        M(kubecompass.readiness.provider_config)) and C(rewrite) (the result of
        M(kubecompass.readiness.secrets_rewrite)). Skipped or missing results add nothing.
    type: dict
    default: {}
  problems:
    description: What the run could not fix (unfixed checks, roles failed mid-way or not run), one line each.
    type: list
    elements: str
    default: []
  distribution:
    description: The cluster's distribution, for the record.
    type: str
  timing:
    description: Timings to keep in the record (for example wall time and API server restarts).
    type: dict
    default: {}
extends_documentation_fragment:
  - kubecompass.readiness.attributes
attributes:
  check_mode:
    support: full
    details:
      - Writes the record in check mode too, marked as a plan; it is evidence of the run, not managed state.
  diff_mode:
    support: N/A
    details:
      - The record is not managed state; there is nothing to diff.
notes:
  - Always returns C(changed=false), so a second remediation run that changes nothing reports no change.
"""

EXAMPLES = r"""
- name: Write the change record of this cluster
  kubecompass.readiness.change_record:
    dest: "{{ kubecompass_report_dir | default(lookup('kubecompass.readiness.report_dir')) }}"
    cluster: "{{ inventory_hostname }}"
    started: "{{ __started }}"
    returns:
      network_policies:
        objects: "{{ __network_policies_result | default(none) }}"
  register: record
"""

RETURN = r"""
kind:
  description: C(plan) in check mode, else C(change).
  returned: success
  type: str
  sample: change
paths:
  description: The files written - C(json) and C(markdown).
  returned: success
  type: dict
  sample: {"json": "/work/kubecompass-reports/kubecompass-remediation-prod-eu1-20261122T031500Z-change.json"}
summary:
  description:
    - The record for C(set_stats) - C(kind), C(changed), C(counts) per role, the first 50 C(changes) as lines and
      C(more_changes), C(problems), C(started), C(seconds), C(actor) and C(paths); the full list is in the files.
  returned: success
  type: dict
"""
