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
them, ``secrets.apps`` and ``*.apps`` do not. A bare ``*`` is refused at load (validation: "use '*.' ... or *.*"),
and names are never trimmed, so ``" secrets"`` names no resource."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

PROVIDER_KINDS = ("secretbox", "aescbc", "aesgcm", "kms", "identity")
# Providers configured with a list of named keys in the file itself.
KEYED_PROVIDERS = ("aescbc", "aesgcm", "secretbox")
# Providers whose writes KC-SEC-004 accepts: aesgcm needs a new key every 200k writes, identity stores plaintext.
STRONG_PROVIDERS = ("aescbc", "secretbox", "kms")
# Providers that encrypt: their values in etcd start with k8s:enc:<kind>:<version>:<key name>:.
ENCRYPTING_PROVIDERS = ("secretbox", "aescbc", "aesgcm", "kms")
# Decoded key lengths kube-apiserver accepts per keyed provider (secretbox 32 bytes, AES 16, 24 or 32).
KEY_SIZES = {"secretbox": (32,), "aescbc": (16, 24, 32), "aesgcm": (16, 24, 32)}

# Every name whose entry serves Secrets: what ParseGroupResource reads as core/secrets, core/* or */*, without the
# bare "*" kube-apiserver refuses.
NAMES_COVERING_SECRETS = ("secrets", "secrets.", "*.", "*.*")
_REFUSED_STAR = "*"
_SECRETS = ("", "secrets")


def group_resource(name):
    """(group, resource) of one name of a resources entry, as schema.ParseGroupResource splits it."""
    resource, _dot, group = str(name).partition(".")
    return group, resource


def names_secrets(name):
    """True when the name is Secrets themselves (not a wildcard that also covers them)."""
    return group_resource(name) == _SECRETS


def covers_secrets(name):
    """True when kube-apiserver serves Secrets with the providers of an entry listing this name."""
    return str(name) in NAMES_COVERING_SECRETS


def refused_name(name):
    """Why kube-apiserver refuses to load a config whose resources list this name, or None."""
    if str(name) == _REFUSED_STAR:
        return "* is refused by kube-apiserver: write *. for the core group or *.* for every resource"
    return None


def secrets_entry(entries, names_of=lambda entry: entry.get("resources") or []):
    """The first entry of a resources list whose names cover Secrets, or None (Secrets then stay plaintext)."""
    return next((entry for entry in entries if any(covers_secrets(name) for name in names_of(entry))), None)
