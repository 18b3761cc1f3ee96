# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The collection's vocabularies, one constant each: tiers, distributions (self-managed, managed by a provider),
system namespaces, the tier label, unlimited retention."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

TIERS = ("critical", "important", "best_effort")
DISTRIBUTIONS = ("kubeadm", "rke2", "k3s", "eks", "gke", "aks")
SELF_MANAGED = ("kubeadm", "rke2", "k3s")
MANAGED = ("eks", "gke", "aks")
# Rancher's distributions: API server flags in a config drop-in, Secrets encryption by their own tool.
RANCHER = ("rke2", "k3s")
# The label a namespace declares its tier with; namespaces without it take the cluster's tier.
NAMESPACE_TIER_LABEL = "kubecompass.io/tier"
# Namespaces Kubernetes itself creates and runs: never judged or remediated as application namespaces.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
# Log retention (days) standing for "kept until deleted" in provider facts and the checks that read them.
UNLIMITED_RETENTION = 36500
