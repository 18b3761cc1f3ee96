# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The meaning of Kubernetes objects, shared by the assessment's checks and the remediation planners.

The bottom layer of module_utils: pure functions and constants over plain dicts (API objects, config documents),
importing nothing of the collection but each other and _errors. Both sides import these public names, so a
remediation and the verdict that follows it read an object the same way."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type
