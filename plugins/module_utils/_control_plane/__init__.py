# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Control-plane remediations on self-managed clusters (kubeadm, RKE2, k3s): audit logging and API server hardening.

The planning modules are pure (no I/O): ``audit`` and ``hardening`` say which flags, files and hostPath volumes a
remediation needs; ``static_pod`` applies that to a kubeadm kube-apiserver manifest, ``kubeadm_config`` to the
ClusterConfiguration in kube-system/kubeadm-config (so ``kubeadm upgrade`` keeps it), ``rancher`` to an RKE2/k3s
config drop-in. ``rollout`` performs a change on one node, health-gated, with automatic rollback.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type
