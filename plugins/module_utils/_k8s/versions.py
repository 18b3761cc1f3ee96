# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Kubernetes version strings."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re


_VERSION = re.compile(r"^v?(\d+)\.(\d+)")


def minor_version(git_version):
    match = _VERSION.match(git_version or "")
    return (int(match.group(1)), int(match.group(2))) if match else None
