# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one main() of the namespace planner modules (modelled on kubernetes.core's runner.run_module).

Each module is a pure run(client, params, check_mode) -> result plus what its result means for the play: the
warnings to show and the failure, if any. Everything else - argument spec with auth and waivers, credential
masking, the kubernetes import check, the one KubeCompassError catch, diff only when asked - lives here once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubecompass.readiness.plugins.module_utils._auth import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    auth_argument_spec,
    mask_credentials,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import TIERS
from ansible_collections.kubecompass.readiness.plugins.module_utils._kubeclient import client_from_params
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import waivers as waiver_rules

TIER_CHOICES = list(TIERS)

# The options the namespace_scope doc fragment documents: tier alone (TIER), or with tiers and excluded_namespaces.
TIER_ARGUMENT_SPEC = {"tier": {"type": "str", "default": "important", "choices": TIER_CHOICES}}
NAMESPACE_SCOPE_ARGUMENT_SPEC = dict(
    TIER_ARGUMENT_SPEC,
    tiers={"type": "list", "elements": "str", "choices": TIER_CHOICES},
    excluded_namespaces={"type": "list", "elements": "str", "default": []},
)


def failed_namespaces(result):
    """The failure of a per-namespace planner: the namespaces that could not be handled, or None."""
    failed = result["failed_namespaces"]
    if not failed:
        return None
    return "%d namespace(s) could not be handled (%s); the others were" % (
        len(failed), "; ".join("%s: %s" % item for item in sorted(failed.items())))


def no_warnings(result):
    return ()


def run_namespace_module(label, run, argument_spec, warnings=no_warnings, failure=failed_namespaces):
    """Run ``run`` as an Ansible module. ``label`` prefixes every failure message (``network policies: ...``);
    ``argument_spec`` holds the module's own options (auth and waiver options are added); ``warnings(result)``
    yields the warnings to show; ``failure(result)`` returns why the module fails despite a result, or None."""
    spec = auth_argument_spec()
    spec.update(argument_spec)
    spec.update(waiver_rules.REMEDIATION_ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    mask_credentials(module)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    try:
        result = run(client_from_params(module.params), module.params, module.check_mode)
    except KubeCompassError as exc:
        module.fail_json(msg="%s: %s" % (label, exc), category=exc.category)
    if not module._diff:
        result.pop("diff")
    for warning in warnings(result):
        module.warn(warning)
    cause = failure(result)
    if cause:
        module.fail_json(msg="%s: %s" % (label, cause), **result)
    module.exit_json(**result)
