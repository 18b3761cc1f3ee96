# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""API server flags on RKE2 and k3s through a config drop-in (control-plane.md 2.2, 2.3, P7). Pure functions.

Both read ``/etc/rancher/<dist>/config.yaml`` then ``config.yaml.d/*.yaml`` in name order; a later key replaces an
earlier one, a key ending in ``+`` appends to it. Our drop-in ``50-kubecompass-<topic>.yaml`` therefore only ever
says ``kube-apiserver-arg+:``, which adds to the user's list instead of replacing it. Inside that list, a scalar
flag given again wins (the API server keeps the last value), and a comma-list flag is written ``flag+=items`` so
k3s appends the items to its default or to the user's value instead of replacing them. Nothing can be taken out
of the user's list by a drop-in: such a need is reported as a problem naming the file to edit.

No mounts are needed: k3s runs the API server in its own process, and RKE2 mounts every existing file named by an
``--flag=/path`` argument and the audit log directory when it writes the static pod, so the referenced files must
exist before the service restarts.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import posixpath
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import (
    ACCUMULATING_FLAGS,
    parse_flags,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane.static_pod import (
    new_change,
    render_yaml,
    resolve_flag,
    split_list,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import (
    RANCHER,
    merge_config_documents,
    rancher_apiserver_argv,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import load_document

ARG_KEY = "kube-apiserver-arg"
APPEND_KEY = ARG_KEY + "+"
DROPIN_PREFIX = "50-kubecompass-"
_TOPIC = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")


def _layout(distribution):
    if distribution not in RANCHER:
        raise ValueError("distribution must be one of %s, not %r" % (", ".join(sorted(RANCHER)), distribution))
    return RANCHER[distribution]


def dropin_dir(distribution):
    return _layout(distribution)["config"] + ".d"


def dropin_path(distribution, topic):
    """/etc/rancher/<dist>/config.yaml.d/50-kubecompass-<topic>.yaml"""
    if not isinstance(topic, str) or not _TOPIC.match(topic):
        raise ValueError("topic %r must be lower-case letters, digits and dashes" % (topic,))
    return "%s/%s%s.yaml" % (dropin_dir(distribution), DROPIN_PREFIX, topic)


def render_dropin(args, topic):
    """The drop-in's content: a header naming its purpose, then ``kube-apiserver-arg+:`` with ``args``."""
    header = ("# Managed by kubecompass.readiness (%s). Appends to kube-apiserver-arg; edit your own config files,\n"
              "# not this one: it is rewritten by the next remediation.\n" % topic)
    return header + render_yaml({APPEND_KEY: list(args)})


def effective_flags(distribution, values, root="/"):
    """kube-apiserver flags an RKE2/k3s server starts with, given its merged config values (see _node.config
    rancher_apiserver_argv). ``root`` is only consulted by k3s's datastore guess (etcd flags, not planned here)."""
    layout = _layout(distribution)
    data_dir = str(values.get("data-dir") or "").rstrip("/") or layout["data_dir"]
    return parse_flags(rancher_apiserver_argv(distribution, values, root, data_dir))


def _ordered(distribution, documents, ours, our_document):
    """Config documents in the order the server reads them, with ours (or none) at its place among the drop-ins."""
    directory = dropin_dir(distribution) + "/"
    main = [(path, doc) for path, doc in documents if not path.startswith(directory)]
    dropins = [(path, doc) for path, doc in documents if path.startswith(directory) and path != ours]
    if our_document is not None:
        dropins.append((ours, our_document))
    return main + sorted(dropins, key=lambda item: posixpath.basename(item[0]))


def _files_setting(documents, flag):
    """Config files whose kube-apiserver-arg (with or without +) mentions ``flag``: where a user must edit."""
    found = []
    for path, document in documents:
        for key in (ARG_KEY, APPEND_KEY):
            items = document.get(key)
            items = items if isinstance(items, list) else [items] if items is not None else []
            if any(str(item).lstrip("-").split("=", 1)[0].rstrip("+-") == flag for item in items):
                found.append(path)
                break
    return found


def _parse(documents):
    parsed = []
    for path, text in documents:
        document = load_document(text or "") or {}
        if not isinstance(document, dict):
            raise ValueError("config file %s is not a mapping of option names to values" % path)
        parsed.append((path, document))
    return parsed


def plan_dropin(distribution, documents, topic, set_flags, remove_flags=(), root="/"):
    """What the ``topic`` drop-in must say so the API server runs with ``set_flags`` and without ``remove_flags``.

    ``documents``: ``[(path, text)]`` of the config file and every drop-in (ours included when it exists), as read
    from the node. Flags already effective without our drop-in need nothing, so a node that is already compliant
    gets no drop-in, and re-planning over our own drop-in yields the same content (idempotent).

    Returns ``{"path", "content"}`` (content None: no drop-in wanted, remove ours if present) with ``changed``
    (content differs from the file on the node), ``args`` (its kube-apiserver-arg+ entries),
    ``already_effective`` (flags needing nothing), ``problems`` (what a drop-in cannot achieve, naming the user's
    file to edit; the caller must fail on any) and ``notes``.
    """
    change = new_change(set_flags, remove_flags)
    ours = dropin_path(distribution, topic)
    parsed = _parse(documents)
    existing = next((text for path, text in documents if path == ours), None)
    without = _ordered(distribution, parsed, ours, None)
    effective = effective_flags(distribution, merge_config_documents([doc for _path, doc in without]), root)
    args, already, problems, notes, targets = [], [], [], [], {}

    def cannot(name, text):
        problems.append(text)
        targets.pop(name, None)

    for name in sorted(change["set_flags"]):
        value = effective.get(name)
        target = resolve_flag(value, change["set_flags"][name])
        targets[name] = target
        if target == value:
            already.append(name)
        elif target is None:
            cannot(name, "--%s=%s must go, which a drop-in cannot do: edit %s" % (
                name, value, ", ".join(_files_setting(without, name)) or "the config"))
        elif name in ACCUMULATING_FLAGS and value is not None:
            have, want = split_list(value), split_list(target)
            if want[:len(have)] != have:
                cannot(name, "--%s=%s has items that must go or move, which a drop-in cannot do (wanted %s): "
                       "edit %s" % (name, value, target, ", ".join(_files_setting(without, name)) or "the config"))
                continue
            args.append("%s+=%s" % (name, ",".join(want[len(have):])))
        else:
            if value is not None and _files_setting(without, name):
                notes.append("--%s=%s from %s is overridden by the drop-in (kube-bench reads the first occurrence)"
                             % (name, value, ", ".join(_files_setting(without, name))))
            args.append("%s=%s" % (name, target))
    for name in change["remove_flags"]:
        if name in effective:
            problems.append("--%s=%s must go, which a drop-in cannot do: edit %s" % (
                name, effective[name], ", ".join(_files_setting(without, name)) or "the config"))
    content = render_dropin(args, topic) if args else None
    if content is not None:
        # Check the result as the server will merge it: a later file could still replace or override our flags.
        after = effective_flags(distribution, merge_config_documents(
            [doc for _path, doc in _ordered(distribution, parsed, ours, {APPEND_KEY: args})]), root)
        for name, target in targets.items():
            if name not in already and after.get(name) != target:
                problems.append("with the drop-in --%s would be %s, not %s: a later config file replaces or "
                                "overrides it" % (name, after.get(name), target))
    return {"path": ours, "content": content, "changed": content != existing, "args": args,
            "already_effective": already, "problems": problems, "notes": notes}
