# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Accessors for any API object's metadata and status (absent fields read as empty)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type


def object_meta(item):
    return item.get("metadata") or {}


def object_name(item):
    return object_meta(item).get("name")


def object_namespace(item):
    return object_meta(item).get("namespace")


def object_labels(item):
    return object_meta(item).get("labels") or {}


def object_status(item):
    return item.get("status") or {}


def qualified_name(item):
    """'namespace/name', or the name alone for a cluster-scoped object."""
    namespace = object_namespace(item)
    return "%s/%s" % (namespace, object_name(item)) if namespace else object_name(item)


def object_ref(item):
    """'namespace/name' always (None/name for a cluster-scoped object), as Velero records name its objects."""
    return "%s/%s" % (object_namespace(item), object_name(item))
