# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""What an EncryptionConfiguration (apiserver.config.k8s.io/v1) means: which entry covers Secrets, provider kinds.

kube-apiserver reads each name of a ``resources`` entry with schema.ParseGroupResource (resource, then group after
the first dot) and serves a resource from its exact group/resource entry, else ``*.<group>``, else ``*.*``; an entry
masked by an earlier wildcard is refused at load, so the first entry that covers Secrets is the one they use.
Secrets are core/v1: ``secrets`` and ``secrets.`` (the core group written out) name them, ``*.`` and ``*.*`` cover
them, ``secrets.apps`` and ``*.apps`` do not."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

PROVIDER_KINDS = ("secretbox", "aescbc", "aesgcm", "kms", "identity")
# Providers configured with a list of named keys in the file itself.
KEYED_PROVIDERS = ("aescbc", "aesgcm", "secretbox")
# Providers whose writes KC-SEC-004 accepts: aesgcm needs a new key every 200k writes, identity stores plaintext.
STRONG_PROVIDERS = ("aescbc", "secretbox", "kms")

_SECRETS = ("", "secrets")
_WHOLE_CORE_GROUP = ("", "*")
_EVERYTHING = ("*", "*")


def group_resource(name):
    """(group, resource) of one name of a resources entry, as schema.ParseGroupResource splits it."""
    resource, _dot, group = str(name).partition(".")
    return group, resource


def names_secrets(name):
    """True when the name is Secrets themselves (not a wildcard that also covers them)."""
    return group_resource(name) == _SECRETS


def covers_secrets(name):
    """True when kube-apiserver serves Secrets with the providers of an entry listing this name."""
    return group_resource(name) in (_SECRETS, _WHOLE_CORE_GROUP, _EVERYTHING)


def secrets_entry(entries, names_of=lambda entry: entry.get("resources") or []):
    """The first entry of a resources list whose names cover Secrets, or None (Secrets then stay plaintext)."""
    return next((entry for entry in entries if any(covers_secrets(name) for name in names_of(entry))), None)
