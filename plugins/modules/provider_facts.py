#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: provider_facts
short_description: Read a managed control plane (EKS, GKE, AKS) from the provider's API
version_added: 0.1.0
description:
  - One describe of the cluster, plus the few reads its facts need (EKS log group retention, node groups and
    version support; GKE upgrade info; AKS diagnostic settings and supported versions).
  - Returns provider-neutral RV(facts) that M(kubecompass.readiness.assess) judges (its O(kubecompass.readiness.assess#module:provider_facts)
    option) - audit logging, Secrets envelope encryption, control-plane HA, endpoint exposure, node pools and zones,
    autoscaling, version support, how people sign in - and the provider's own view in RV(raw).
  - A side read that fails (a forbidden diagnostic-settings list, say) leaves its section out and names the cause in
    the C(errors) of RV(facts), so the checks that need it are C(unknown), never C(pass). A failed describe of the cluster
    fails the task naming the cluster, the call and the cause.
author:
  - KubeCompass contributors (@kubecompass)
extends_documentation_fragment:
  - kubecompass.readiness.provider_options
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.INFO_MODULE
"""

EXAMPLES = r"""
- name: Read the EKS control plane
  kubecompass.readiness.provider_facts:
    cluster_name: "{{ inventory_hostname }}"
    distribution: eks
    provider: {name: prod-eu-1, region: eu-west-1}
  delegate_to: localhost
  register: provider

- name: Assess with the provider's view
  kubecompass.readiness.assess:
    cluster_name: "{{ inventory_hostname }}"
    tier: critical
    distribution: eks
    provider_facts: "{{ provider.facts }}"
"""

RETURN = r"""
facts:
  description: >-
    Provider-neutral facts - C(provider), C(id), C(name), C(location), C(sections) (audit_logging,
    secrets_encryption, control_plane_ha, endpoint, node_pools, autoscaling, version, people_auth) and C(errors)
    (section to cause).
  returned: success
  type: dict
  sample:
    provider: eks
    name: prod-eu-1
    sections:
      audit_logging: {enabled: false, detail: "audit is not in any enabled clusterLogging group"}
    errors: {version: "eks:DescribeClusterVersions: AccessDeniedException"}
raw:
  description: The provider's own view of the cluster as read (no credentials).
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import (
    describe_facts,
    provider_argument_spec,
    validate_target,
)


def main():
    module = AnsibleModule(argument_spec=provider_argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        target = validate_target(params["provider"], params["distribution"])
        facts, raw = describe_facts(target)
    except KubeCompassError as exc:
        module.fail_json(msg="%s: %s" % (params["cluster_name"], exc), category=exc.category)
    module.exit_json(changed=False, facts=facts, raw=raw)


if __name__ == "__main__":
    main()
