#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: assess
short_description: Decide every production-readiness check for one Kubernetes cluster, with evidence
version_added: 0.1.0
description:
  - Lists each Kubernetes kind the selected checks need once, cluster-wide, then evaluates every check of the
    catalog in-process (see C(docs/catalog.md)) and returns one finding per check with its verdict
    (C(pass), C(fail), C(waived), C(unknown), C(not_applicable)), evidence, the framework controls it
    evidences, the tier rule that applied and any waiver used.
  - A kind that cannot be read (forbidden, CRD absent) makes only the checks that need it C(unknown), naming
    the cause. An unreachable server, rejected credentials or bad input fail the task with one line.
  - Read-only; never reports C(changed).
author:
  - KubeCompass contributors (@kubecompass)
options:
  cluster_name:
    description: Name of the cluster in findings and reports (normally C(inventory_hostname)).
    type: str
    required: true
  tier:
    description: The cluster's tier; namespaces may override it with the label C(kubecompass.io/tier).
    type: str
    required: true
  distribution:
    description:
      - The distribution. When omitted it is guessed from the server version, nodes and kube-system, and the
        task fails if it cannot be told.
    type: str
    choices: [kubeadm, rke2, k3s, eks, gke, aks]
  tier_thresholds:
    description: "Per-tier overrides of the tier table (for example C({critical: {min_replicas: 3}}))."
    type: dict
  waivers:
    description:
      - Exceptions as data. Each has C(check), C(reason), C(owner), C(ticket), C(expires) (YYYY-MM-DD) and
        optionally C(cluster), C(namespace) and C(object) (C(kind), C(name), C(namespace)).
      - Expired waivers are not applied and are returned in RV(expired_waivers).
    type: list
    elements: dict
  attestations:
    description:
      - Evidence for the items no program can observe (KC-CMP-004 to KC-CMP-010). Each has C(item) (one of
        C(compliance-frameworks), C(incident-response-plan), C(on-call-escalation), C(incident-runbooks),
        C(dr-runbooks), C(failover-test), C(access-review)), C(evidence) (URL, document or ticket), C(owner),
        C(attested) (YYYY-MM-DD) and optionally C(review_interval) (days, or C(monthly), C(quarterly),
        C(twice_a_year), C(yearly); defaults per item) and C(cluster).
      - An attestation counts until its review interval runs out; a missing or expired one fails its check. A
        malformed one fails the task with one line naming the entry and the problem.
    type: list
    elements: dict
  history_dir:
    description:
      - Directory of the JSON reports of previous runs (C(kubecompass-report.json) files, directly in it or one
        sub-directory per run). KC-CMP-011 judges the dates of the last runs that assessed this cluster against
        C(settings.assessment_interval_days) (default 30). Unset, KC-CMP-011 fails and says how to keep one.
    type: path
  settings:
    description:
      - Check settings, for example C(excluded_namespaces), C(frameworks), C(rbac_allowed_subjects),
        C(psa_levels), C(rpo_evidence), C(audit_offcluster_retention_days), C(assessment_interval_days). Unknown
        keys are errors.
      - Every value and every element of a list or mapping is checked before any request; a wrong one fails with
        one line naming it (C(kubecompass_settings.frameworks[0] must be a non-empty string, not None)).
    type: raw
  node_facts:
    description:
      - Facts of the control-plane nodes of a self-managed cluster as returned by
        M(kubecompass.readiness.node_facts), keyed by node name. Without them, checks that need the nodes
        (audit log, encryption configuration, raw etcd values) are C(unknown).
    type: dict
  provider_facts:
    description:
      - Facts of a managed cluster's control plane as returned by M(kubecompass.readiness.provider_facts) (its
        RV(kubecompass.readiness.provider_facts#module:facts)), or a mapping with the single key C(error) (the cause)
        when they could not be read.
        Without them the checks that need the provider (audit logging, Secrets encryption, control-plane HA,
        endpoint exposure, node pools, autoscaling, version support) are C(unknown), naming the cause.
    type: dict
  kubernetes_api:
    description:
      - Whether to read the cluster through its Kubernetes API. C(false) for a managed cluster known only to its
        provider (the inventory plugin sets C(kubecompass_kubernetes_api=false) when no kubeconfig context names it) -
        the connection options are then ignored, every check that needs the API is C(unknown) with that cause, and
        only the provider-backed checks reach a verdict. O(distribution) is then required.
    type: bool
    default: true
  include_checks:
    description: Only these check IDs.
    type: list
    elements: str
  exclude_checks:
    description: Skip these check IDs.
    type: list
    elements: str
  page_size:
    description: Items per LIST page; large pages keep the request count independent of cluster size.
    type: int
    default: 5000
  run_dir:
    description:
      - Directory on the host running the module (the controller, for a cluster) to write the cluster's full result
        to, as C(<cluster_name>.json) (mode C(0600), directory C(0700), written to a temporary name then renamed).
      - When set, the module returns only a compact summary (counts, failing and unknown check IDs, gather cost) and
        RV(result_path), so no Ansible variable or job event carries per-object outcomes;
        M(kubecompass.readiness.report) reads the file. Without it, the full result is returned.
    type: path
extends_documentation_fragment:
  - kubecompass.readiness.auth_options
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.INFO_MODULE
  - kubecompass.readiness.attributes.ACTION_GROUP
"""

EXAMPLES = r"""
- name: Assess a cluster
  kubecompass.readiness.assess:
    kubeconfig: "{{ kubecompass_kubeconfig }}"
    cluster_name: "{{ inventory_hostname }}"
    tier: "{{ kubecompass_tier }}"
    distribution: "{{ kubecompass_distribution | default(omit) }}"
    waivers: "{{ kubecompass_waivers | default([]) }}"
  register: assessment

- name: Fail on critical findings
  ansible.builtin.assert:
    that: assessment.summary.by_severity.critical.fail == 0

- name: Assess a 2,000-namespace cluster, keeping the per-object outcomes in a file on the controller
  kubecompass.readiness.assess:
    cluster_name: "{{ inventory_hostname }}"
    tier: "{{ kubecompass_tier }}"
    run_dir: "{{ playbook_dir }}/kubecompass-reports/clusters"
  delegate_to: localhost
  register: assessment

- name: Fail on failing checks
  ansible.builtin.assert:
    that: assessment.failing | length == 0
    fail_msg: "{{ assessment.failing | join(', ') }} failed; see {{ assessment.result_path }}"
"""

RETURN = r"""
cluster:
  description: The cluster name.
  returned: success
  type: str
  sample: prod-eu-1
status:
  description: C(assessed).
  returned: success
  type: str
  sample: assessed
distribution:
  description: The distribution used, declared or guessed.
  returned: success
  type: str
  sample: kubeadm
distribution_evidence:
  description: Why that distribution.
  returned: success
  type: list
  elements: str
tier:
  description: The cluster tier.
  returned: success
  type: str
  sample: critical
findings:
  description: One finding per check, in catalog order.
  returned: success and O(run_dir) not set
  type: list
  elements: dict
  contains:
    check_id:
      description: Stable check ID.
      type: str
      sample: KC-SEC-004
    verdict:
      description: pass, fail, waived, unknown or not_applicable.
      type: str
    message:
      description: One line saying why.
      type: str
    evidence:
      description: What the verdict was decided from.
      type: dict
    objects:
      description: Per-object outcomes (kind, namespace, name, verdict, reason, waiver).
      type: list
      elements: dict
    controls:
      description: Framework controls this check evidences, with the basis of each mapping.
      type: list
      elements: dict
    tier_rule:
      description: The tier rule that applied.
      type: str
summary:
  description:
    - Counts by verdict, area and severity, and a score in percent.
    - With O(run_dir), only C(total), C(score) and C(by_verdict).
  returned: success
  type: dict
expired_waivers:
  description: Waivers past their expiry date, which were not applied.
  returned: success
  type: list
  elements: dict
result_path:
  description: Path of the file holding the full result.
  returned: success and O(run_dir) set
  type: str
  sample: /srv/ci/kubecompass-reports/clusters/prod-eu-1.json
failing:
  description: IDs of the checks whose verdict is C(fail), in catalog order.
  returned: success and O(run_dir) set
  type: list
  elements: str
  sample: ["KC-AVL-003", "KC-SEC-016"]
unknown:
  description: IDs of the checks whose verdict is C(unknown) (never a pass), in catalog order.
  returned: success and O(run_dir) set
  type: list
  elements: str
  sample: ["KC-SEC-023"]
gather:
  description: API requests made, kinds listed, phase timings and kinds that could not be read.
  returned: success
  type: dict
  sample: {"api_requests": 32, "kinds_listed": 31, "timings": {"gather_seconds": 0.8, "evaluate_seconds": 0.1}}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    auth_argument_spec,
    mask_credentials,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import client_from_params
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import runs
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.assess import assess
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import DISTRIBUTIONS


def argument_spec():
    spec = auth_argument_spec()
    spec.update(
        cluster_name={"type": "str", "required": True},
        tier={"type": "str", "required": True},
        distribution={"type": "str", "choices": list(DISTRIBUTIONS)},
        tier_thresholds={"type": "dict"},
        waivers={"type": "list", "elements": "dict"},
        attestations={"type": "list", "elements": "dict"},
        history_dir={"type": "path"},
        settings={"type": "raw"},  # checked by validate_settings, which names kubecompass_settings
        node_facts={"type": "dict"},
        provider_facts={"type": "dict"},
        kubernetes_api={"type": "bool", "default": True},
        include_checks={"type": "list", "elements": "str"},
        exclude_checks={"type": "list", "elements": "str"},
        page_size={"type": "int", "default": 5000},
        run_dir={"type": "path"},
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    mask_credentials(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    params = module.params
    client = None
    try:
        client = client_from_params(params) if params["kubernetes_api"] else None
        result = assess(client, params["cluster_name"], params["tier"], distribution=params["distribution"],
                        thresholds=params["tier_thresholds"], waivers=params["waivers"], settings=params["settings"],
                        node_facts=params["node_facts"], provider_facts=params["provider_facts"],
                        include=params["include_checks"], exclude=params["exclude_checks"],
                        page_size=params["page_size"], attestations=params["attestations"],
                        history_dir=params["history_dir"])
        if params["run_dir"]:
            result = runs.compact(result, runs.write_result(params["run_dir"], result))
    except KubeCompassError as exc:
        module.fail_json(msg="%s: %s" % (params["cluster_name"], exc), category=exc.category,
                         api_requests=client.requests if client else 0)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
