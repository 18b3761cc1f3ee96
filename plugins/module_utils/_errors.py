# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The collection's one domain exception, caught once in each module's main()."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type


class KubeCompassError(Exception):
    """A failure with a one-line cause meant for the operator.

    ``category`` names the kind of failure (``kubeconfig``, ``context``, ``unreachable``, ``tls``,
    ``unauthorized``, ``forbidden``, ``not_found``, ``timeout``, ``api``) so callers can decide whether a
    failure makes one finding unknown or the whole cluster unreachable.
    """

    def __init__(self, message, category="error", status=None):
        super(KubeCompassError, self).__init__(message)
        self.category = category
        self.status = status
