#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apiserver_change
short_description: Plan the control-plane flags, volumes and files for audit logging and hardening
version_added: 0.1.0
description:
  - An action that runs on the controller and changes nothing. It turns the audit logging and hardening options
    into one I(change) (flags to set or remove, hostPath volumes, files, notes) that
    M(kubecompass.readiness.static_pod_manifest) (kubeadm) and M(kubecompass.readiness.rancher_apiserver_config)
    (RKE2, k3s) apply, so a node restarts once for every topic.
  - Audit logging - the policy file (a default that keeps Secret and ConfigMap bodies out of the log, records
    security-relevant writes with bodies and drops health checks and system watches; overridable), the log path
    and rotation flags no lower than CIS (maxage 30, maxbackup 10, maxsize 100), the volumes they need.
  - Hardening - profiling off, authorization mode with Node and RBAC (never AlwaysAllow; the user's other modes
    kept), NodeRestriction admission, TLS minimum version and cipher suites (a stronger current value stays), and
    anonymous access limited to the health paths through an AuthenticationConfiguration (so kubeadm's
    unauthenticated probes keep working) or turned off; C(--service-account-extend-token-expiration=false)
    (CIS 1.2.30) and, opt-in, C(--kubelet-certificate-authority) (CIS 1.2.5).
  - Components - C(--profiling=false) and C(--bind-address) for kube-controller-manager and kube-scheduler (CIS
    1.3.2, 1.3.7, 1.4.1, 1.4.2), one change per component in RV(component_changes), applied by
    M(kubecompass.readiness.static_pod_manifest) with its O(kubecompass.readiness.static_pod_manifest#module:component)
    on kubeadm, or by M(kubecompass.readiness.rancher_apiserver_config) with its
    O(kubecompass.readiness.rancher_apiserver_config#module:component_flags) on RKE2 and k3s.
author:
  - KubeCompass contributors (@kubecompass)
options:
  audit:
    description: Audit logging options; omit to leave audit logging alone.
    type: dict
    suboptions:
      policy_path:
        description: Where the policy file goes (never in a directory kubelet reads as pods).
        type: str
        default: /etc/kubernetes/kubecompass/audit-policy.yaml
      log_path:
        description: The audit log file; its directory is mounted read-write and created 0700.
        type: str
        default: /var/log/kubernetes/audit/audit.log
      maxage:
        description: Days to keep rotated logs (CIS 1.2.17 minimum 30).
        type: int
        default: 30
      maxbackup:
        description: Rotated files to keep (CIS 1.2.18 minimum 10).
        type: int
        default: 10
      maxsize:
        description: Megabytes before rotation (CIS 1.2.19 minimum 100).
        type: int
        default: 100
      policy:
        description: A complete audit.k8s.io/v1 Policy replacing the default one.
        type: dict
      policy_overrides:
        description: Changes to the default policy - C(rules), C(prepend_rules), C(omit_stages), C(allow_secret_bodies).
        type: dict
        default: {}
  hardening:
    description: Hardening options; omit to leave these flags alone.
    type: dict
    suboptions:
      tls_min_version:
        description: Minimum TLS version.
        type: str
        default: VersionTLS12
      cipher_suites:
        description: TLS 1.2 cipher suites (each on the CIS 1.2.29 strong list); an empty list leaves the flag alone.
        type: list
        elements: str
        default: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]
      anonymous:
        description:
          - C(restrict) allows anonymous requests on C(/livez), C(/readyz) and C(/healthz) only (kubeadm's probes
            need them); C(off) sets C(--anonymous-auth=false); C(keep) leaves anonymous access alone.
        type: str
        choices: [restrict, 'off', keep]
        default: restrict
      auth_config_path:
        description: Where the AuthenticationConfiguration goes with O(hardening.anonymous=restrict).
        type: str
        default: /etc/kubernetes/kubecompass/authentication-config.yaml
      extend_token_expiration:
        description:
          - C(false) sets C(--service-account-extend-token-expiration=false) (CIS 1.2.30), so projected service
            account tokens expire when they say (an hour for kubelet-mounted ones) instead of after a year;
            clients must refresh them (client-go does). C(true) leaves the flag alone.
        type: bool
        default: false
      kubelet_certificate_authority:
        description:
          - The CA file for C(--kubelet-certificate-authority) (CIS 1.2.5); empty leaves the flag alone. Only when
            the kubelets' serving certificates are signed by it (serverTLSBootstrap and approved CSRs), otherwise
            logs, exec and port-forward break.
        type: str
        default: ""
  components:
    description: kube-controller-manager and kube-scheduler hardening; omit to leave them alone.
    type: dict
    suboptions:
      names:
        description: The components to change.
        type: list
        elements: str
        choices: [kube-controller-manager, kube-scheduler]
        default: [kube-controller-manager, kube-scheduler]
      profiling:
        description: C(false) sets C(--profiling=false); C(true) leaves it alone.
        type: bool
        default: false
      bind_address:
        description: The C(--bind-address) of their secure ports (CIS 127.0.0.1); empty leaves it alone.
        type: str
        default: 127.0.0.1
  component_flags:
    description:
      - The components' configured flags by component name, for the notes (for example a wildcard bind address
        given up).
    type: dict
    default: {}
  current_flags:
    description: The node's configured API server flags (RV(kubecompass.readiness.node_facts#module:facts.apiserver.flags)).
    type: dict
  kubernetes_version:
    description: The cluster's version, which decides the AuthenticationConfiguration apiVersion.
    type: str
  distribution:
    description: The node's distribution.
    type: str
    choices: [kubeadm, rke2, k3s]
    default: kubeadm
extends_documentation_fragment:
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.INFO_MODULE
"""

EXAMPLES = r"""
- name: Plan audit logging and hardening for one node
  kubecompass.readiness.apiserver_change:
    audit: {}
    hardening:
      anonymous: restrict
    current_flags: "{{ node.facts.apiserver.flags }}"
  register: planned
"""

RETURN = r"""
change:
  description: C(set_flags), C(remove_flags), C(volumes), C(files) and C(notes), the options of the modules that apply it.
  returned: success
  type: dict
component_changes:
  description: One change (as RV(change)) per component of O(components), by component name; empty without it.
  returned: success
  type: dict
"""
