# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Framework controls a readiness item evidences (from the generated compliance map)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance_data import ITEMS

CIS = "cis_kubernetes"
NIST = "nist_800_53_r5"
HIPAA = "hipaa_security_rule"
# The item's NIST IDs in the moderate baseline (hack/gen_compliance.py): a check's NIST restriction restricts it too.
FEDRAMP = "fedramp_moderate"

# Frameworks an inventory may declare (kubecompass_frameworks), with the audit-log history each requires.
FRAMEWORK_AUDIT_RETENTION_DAYS = {
    "cis_kubernetes": 30,       # CIS 1.2.17: --audit-log-maxage >= 30
    "disa_k8s_stig": 30,        # V-242464
    "nist_800_53_r5": 365,      # AU-11 (FedRAMP parameter: at least one year)
    "pci_dss_v4": 365,          # 10.5.1: 12 months, 3 immediately available
    "iso27001_2022": 30,
    "soc2_tsc": 30,
    # 45 CFR 164.316(b)(2)(i): documentation kept 6 years; the rule sets no audit-log period, applied conservatively.
    "hipaa_security_rule": 6 * 365,
    # AU-11: at least one year (the reference's FedRAMP reading); M-21-31's figures were not read, so not applied.
    "fedramp_moderate": 365,
}


def controls_for(item, only=None):
    """[{framework, id, basis, title?}] for an item, or [] for an item the map does not list. ``only``
    ({framework: IDs}) keeps, in the frameworks it names, just those IDs; each must be one the item maps to."""
    entry = ITEMS.get(item) or {"controls": {}}
    only = dict(only or {})
    if NIST in only and FEDRAMP not in only:
        moderate = {control["id"] for control in entry["controls"].get(FEDRAMP) or []}
        only[FEDRAMP] = tuple(control_id for control_id in only[NIST] if control_id in moderate)
    result = []
    for framework in sorted(set(entry["controls"]) | set(only)):
        controls = entry["controls"].get(framework) or []
        if framework in only:
            mapped = {control["id"] for control in controls}
            unknown = sorted(set(only[framework]) - mapped)
            if unknown:
                raise ValueError("item %s maps no %s control %s" % (item, framework, ", ".join(unknown)))
            controls = [control for control in controls if control["id"] in only[framework]]
        result.extend(dict(control, framework=framework) for control in controls)
    return result


# Items a check covers that hack/data/compliance-map.yml does not list yet: no controls until it does.
# control-plane-certificates: CIS 1.2.x names certificate flags, not lifetimes; no source maps expiry monitoring.
UNMAPPED_ITEMS = ("api-endpoint-exposure", "control-plane-certificates")


def known_items():
    return sorted(set(ITEMS) | set(UNMAPPED_ITEMS))
