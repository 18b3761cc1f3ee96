# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import audit, hardening, static_pod
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.plugin_utils._planner_action import PlannerAction
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SELF_MANAGED

AUDIT_SPEC = {
    "policy_path": {"type": "str", "default": "/etc/kubernetes/kubecompass/audit-policy.yaml"},
    "log_path": {"type": "str", "default": "/var/log/kubernetes/audit/audit.log"},
    "maxage": {"type": "int", "default": 30},
    "maxbackup": {"type": "int", "default": 10},
    "maxsize": {"type": "int", "default": 100},
    "policy": {"type": "dict"},
    "policy_overrides": {"type": "dict", "default": {}},
}
HARDENING_SPEC = {
    "tls_min_version": {"type": "str", "default": "VersionTLS12"},
    "cipher_suites": {"type": "list", "elements": "str", "default": list(hardening.DEFAULT_CIPHER_SUITES)},
    "anonymous": {"type": "str", "default": "restrict", "choices": list(hardening.ANONYMOUS_MODES)},
    "auth_config_path": {"type": "str", "default": hardening.AUTH_CONFIG_PATH},
    "extend_token_expiration": {"type": "bool", "default": False},
    "kubelet_certificate_authority": {"type": "str", "default": ""},
}
COMPONENTS_SPEC = {
    "names": {"type": "list", "elements": "str", "default": sorted(hardening.SECURE_PORTS),
              "choices": sorted(hardening.SECURE_PORTS)},
    "profiling": {"type": "bool", "default": False},
    "bind_address": {"type": "str", "default": "127.0.0.1"},
}
ARGUMENT_SPEC = {
    "audit": {"type": "dict", "options": AUDIT_SPEC},
    "hardening": {"type": "dict", "options": HARDENING_SPEC},
    "components": {"type": "dict", "options": COMPONENTS_SPEC},
    "current_flags": {"type": "dict"},
    "component_flags": {"type": "dict", "default": {}},
    "kubernetes_version": {"type": "str"},
    "distribution": {"type": "str", "default": "kubeadm", "choices": list(SELF_MANAGED)},
}


def plan(args):
    """One change (static_pod's format) with every requested topic, so a node restarts once for all of them."""
    changes = []
    try:
        if args["audit"]:
            options = args["audit"]
            policy = options["policy"] or audit.default_policy(options["policy_overrides"])
            changes.append(audit.audit_flags(options["policy_path"], options["log_path"], options["maxage"],
                                             options["maxbackup"], options["maxsize"], policy))
        if args["hardening"]:
            options = args["hardening"]
            changes.append(hardening.hardening_flags(
                options["tls_min_version"], options["cipher_suites"], options["anonymous"], args["current_flags"],
                args["kubernetes_version"], args["distribution"], options["auth_config_path"],
                options["extend_token_expiration"], options["kubelet_certificate_authority"] or None))
        if not changes and not args.get("components"):
            raise KubeCompassError("give at least one of audit, hardening, components", "input")
        return static_pod.merge_changes(*changes)
    except ValueError as exc:
        raise KubeCompassError(str(exc), "input") from None


def plan_components(args):
    """{component: change} for kube-controller-manager and kube-scheduler (each restarts on its own)."""
    options = args.get("components")
    if not options:
        return {}
    try:
        return {name: hardening.component_hardening_flags(
            name, options["profiling"], options["bind_address"], (args.get("component_flags") or {}).get(name))
            for name in options["names"]}
    except ValueError as exc:
        raise KubeCompassError(str(exc), "input") from None


class ActionModule(PlannerAction):
    """Runs on the controller and changes nothing: the planners are pure functions."""

    ARGUMENT_SPEC = ARGUMENT_SPEC

    def planned(self, args):
        return {"change": plan(args), "component_changes": plan_components(args)}
