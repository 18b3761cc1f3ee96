#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: waived_checks
short_description: Which of a remediation's checks an active cluster-wide waiver covers
version_added: 0.1.0
description:
  - An action that runs on the controller and changes nothing. The remediations that change a cluster as a whole
    (audit logging, API server hardening, encryption at rest, the managed control plane, etcd snapshots) leave the
    cluster alone when an active waiver of a check they fix covers it, and say why with RV(message).
  - Waivers are validated, expired and matched exactly as the assessment does. Only waivers without C(namespace)
    and C(object) cover a cluster-wide change.
author:
  - KubeCompass contributors (@kubecompass)
options:
  checks:
    description: The check IDs the remediation fixes.
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - kubecompass.readiness.waiver_options
  - kubecompass.readiness.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Find the waived checks of this role
  kubecompass.readiness.waived_checks:
    waivers: "{{ kubecompass_waivers | default([]) }}"
    cluster_name: "{{ inventory_hostname }}"
    checks: [KC-SEC-001, KC-SEC-002, KC-SEC-003]
  register: waived
"""

RETURN = r"""
waived:
  description: The checks an active cluster-wide waiver covers - C(check), C(reason) (C(waived by <ticket> until
    <expires>)) and C(waiver).
  returned: success
  type: list
  elements: dict
message:
  description: The waived checks and why, in one line (empty when none is waived).
  returned: success
  type: str
  sample: KC-SEC-001 waived by OPS-2001 until 2027-06-30
expired_waivers:
  description: Expired cluster-wide waivers of these checks; they protect nothing.
  returned: success
  type: list
  elements: dict
"""
