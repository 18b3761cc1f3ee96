#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: provider_config
short_description: Turn on audit logging and Secrets envelope encryption of a managed control plane (EKS, GKE, AKS)
version_added: 0.1.0
description:
  - Reads the cluster once, plans the provider calls that bring the requested O(items) to the desired state - one
    concern per call and only what differs - and, outside check mode, makes them in order, polling each long-running
    update to its end and stopping at the first failure.
  - "EKS: C(UpdateClusterConfig) with the C(logging) section (the update polled with C(DescribeUpdate));
    C(AssociateEncryptionConfig) for Secrets, which cannot be undone and is therefore only made with
    O(allow_irreversible_encryption) - without it the plan holds the step and says why."
  - "GKE: C(UpdateCluster) with C(desired_logging_service) and C(desired_logging_config) (the API and control-plane
    component logs), and C(desired_database_encryption) (GKE re-encrypts every Secret itself); each operation polled
    until C(DONE)."
  - "AKS: a diagnostic setting on the cluster sending C(kube-audit-admin) (or C(kube-audit)) to O(aks_log_destination),
    and the managed cluster's C(securityProfile.azureKeyVaultKms) (read, changed in that field only, written back with
    C(If-Match) on the ETag read)."
  - Check mode reads only and returns the calls it would make (RV(steps)) with the diff. A second run reports no
    change. Provider errors (an update already in progress, a missing permission, a timeout) fail the task naming
    the cluster, the call and the cause.
  - After a new key is put in front of the Secrets on EKS or AKS, RV(rewrite_secrets) is true - the Secrets written
    before are encrypted with the new key only once rewritten (M(kubecompass.readiness.secrets_rewrite)).
author:
  - KubeCompass contributors (@kubecompass)
options:
  items:
    description: What to bring to the desired state.
    type: list
    elements: str
    choices: [audit_logging, secrets_encryption]
    default: [audit_logging, secrets_encryption]
  kms_key:
    description:
      - "The customer key for Secrets: EKS a KMS key ARN (symmetric, in the cluster's region); GKE
        C(projects/P/locations/L/keyRings/R/cryptoKeys/K) (the GKE service agent needs
        C(roles/cloudkms.cryptoKeyEncrypterDecrypter) on it); AKS a versioned Key Vault key URL."
      - Without it the encryption step is held and the plan says so.
    type: str
  allow_irreversible_encryption:
    description:
      - EKS only. C(AssociateEncryptionConfig) cannot be undone, and a key deleted or disabled later makes the
        cluster's Secrets unreadable. Set this to make the call; otherwise the step is held.
    type: bool
    default: false
  eks_log_types:
    description: EKS control-plane log types to enable; must include C(audit). Types already on stay on.
    type: list
    elements: str
    default: [audit]
  gke_logging_components:
    description: GKE logging components to enable besides those already on (C(APISERVER) needs C(SYSTEM_COMPONENTS)).
    type: list
    elements: str
    default: [SYSTEM_COMPONENTS, APISERVER]
  aks_audit_category:
    description: AKS log category - C(kube-audit-admin) (writes only, cheaper) or C(kube-audit) (every request).
    type: str
    choices: [kube-audit-admin, kube-audit]
    default: kube-audit-admin
  aks_diagnostic_setting_name:
    description: Name of the AKS diagnostic setting created or extended.
    type: str
    default: kubecompass-audit
  aks_log_destination:
    description:
      - Where AKS sends the audit log - one of C(workspace_id), C(storage_account_id) or
        C(event_hub_authorization_rule_id) (with C(event_hub_name)), as ARM resource IDs.
      - Without it the audit step is held, unless the diagnostic setting of that name already has a destination.
    type: dict
  aks_key_vault_network_access:
    description: AKS Key Vault network access - C(Public) or C(Private) (needs O(aks_key_vault_resource_id)).
    type: str
    choices: [Public, Private]
    default: Public
  aks_key_vault_resource_id:
    description: ARM ID of the Key Vault, required when O(aks_key_vault_network_access=Private).
    type: str
extends_documentation_fragment:
  - kubecompass.readiness.provider_options
  - kubecompass.readiness.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Turn on EKS audit logging; associate the KMS key (irreversible, explicitly allowed)
  kubecompass.readiness.provider_config:
    cluster_name: "{{ inventory_hostname }}"
    provider: "{{ kubecompass_provider }}"
    distribution: eks
    kms_key: arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
    allow_irreversible_encryption: true
  delegate_to: localhost
  register: provider_change
"""

RETURN = r"""
steps:
  description: >-
    The plan - per step C(item), C(action) (C(update), C(none) or C(held)), C(reason), C(call), the exact
    C(request), C(before), C(after), C(irreversible) and C(follow_up).
  returned: always
  type: list
  elements: dict
held:
  description: Steps not taken and why (an opt-in or a key missing).
  returned: always
  type: list
  elements: dict
outcomes:
  description: Per call made - C(status) (C(succeeded), C(failed), C(timeout)), C(operation), C(error), C(seconds).
  returned: always
  type: list
  elements: dict
facts:
  description: The cluster's facts as M(kubecompass.readiness.provider_facts) returns them, read after the changes.
  returned: always
  type: dict
rewrite_secrets:
  description: This run put a new key in front of the Secrets; the existing ones must be rewritten to use it.
  returned: always
  type: bool
rewrite_key:
  description: >-
    The customer key existing Secrets must be rewritten under through the Kubernetes API (EKS, AKS; GKE re-encrypts
    them itself), for M(kubecompass.readiness.secrets_rewrite)'s O(kubecompass.readiness.secrets_rewrite#module:record_key);
    C(null) when Secrets are not encrypted with a customer key.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import (
    DESIRED_DEFAULTS,
    provider_argument_spec,
    remediate,
    validate_target,
)


def main():
    spec = provider_argument_spec()
    spec.update(
        items={"type": "list", "elements": "str", "choices": ["audit_logging", "secrets_encryption"],
               "default": list(DESIRED_DEFAULTS["items"])},
        kms_key={"type": "str", "no_log": False},
        allow_irreversible_encryption={"type": "bool", "default": False},
        eks_log_types={"type": "list", "elements": "str", "default": list(DESIRED_DEFAULTS["eks_log_types"])},
        gke_logging_components={"type": "list", "elements": "str",
                                "default": list(DESIRED_DEFAULTS["gke_logging_components"])},
        aks_audit_category={"type": "str", "choices": ["kube-audit-admin", "kube-audit"],
                            "default": DESIRED_DEFAULTS["aks_audit_category"]},
        aks_diagnostic_setting_name={"type": "str", "default": DESIRED_DEFAULTS["aks_diagnostic_setting_name"]},
        aks_log_destination={"type": "dict"},
        aks_key_vault_network_access={"type": "str", "choices": ["Public", "Private"], "default": "Public"},
        aks_key_vault_resource_id={"type": "str"},
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    cluster = params["cluster_name"]
    desired = {key: params[key] for key in DESIRED_DEFAULTS}
    try:
        target = validate_target(params["provider"], params["distribution"])
        result = remediate(target, desired, module.check_mode)
    except KubeCompassError as exc:
        module.fail_json(msg="%s: %s" % (cluster, exc), category=exc.category)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    for held in result["held"]:
        module.warn("%s: %s held: %s" % (cluster, held["item"], held["reason"]))
    failed = result.pop("failed")
    if failed:
        causes = "; ".join(o["error"] if (o["error"] or "").startswith(o["call"]) else "%s %s: %s" % (
            o["call"], o["status"], o["error"]) for o in failed)
        module.fail_json(msg="%s: %s" % (cluster, causes), category="provider", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
