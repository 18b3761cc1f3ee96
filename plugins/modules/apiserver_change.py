#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apiserver_change
short_description: Plan the kube-apiserver flags, volumes and files for audit logging and hardening
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
    unauthenticated probes keep working) or turned off.
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
"""
