# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Namespace guardrails applied through the Kubernetes API, planned per namespace.

The planning modules are pure (no I/O). Among them: ``netpol`` finds the cluster DNS pods and says which
NetworkPolicies each namespace needs, never touching a policy its users wrote; ``psa`` says which
pod-security.kubernetes.io labels each namespace gets, from the warnings of a server-side dry run, so existing pods
are reported instead of broken.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type
