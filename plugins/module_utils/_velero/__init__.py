# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Velero backups remediated through the Kubernetes API: Schedules per tier (``schedules``) and restore drills
(``drill``). The planners are pure; what both modules share about Velero's API lives here.

What counts as covered, recent or tested is decided by ``_k8s.velero``, which the assessment's disaster-recovery
checks use too, so a remediation and the verdict that follows it never disagree.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.velero import VELERO_INSTALL

API_VERSION = "velero.io/v1"
SCHEDULES = "/apis/velero.io/v1/schedules"
BACKUPS = "/apis/velero.io/v1/backups"
BACKUP_STORAGE_LOCATIONS = "/apis/velero.io/v1/backupstoragelocations"
DEFAULT_NAMESPACE = "velero"


def list_velero(client, path, query=None):
    """Every object of one velero.io/v1 collection, cluster-wide. The API answers 404 when Velero's CRDs are not
    installed: that becomes one clear error saying how to install Velero, not a bare "not found"."""
    try:
        return client.list(path, query)
    except KubeCompassError as exc:
        if exc.status == 404:
            raise KubeCompassError("Velero is not installed (the velero.io/v1 API is not served, %s answers 404): %s"
                                   % (path, VELERO_INSTALL), "not_found", 404) from None
        raise
