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
of the user's list by a drop-in: such a need is reported as a problem naming the file to edit. The same holds for
``kube-controller-manager-arg+:`` and ``kube-scheduler-arg+:``, which the same drop-in carries (CIS 1.3.2, 1.3.7,
1.4.1, 1.4.2), so one restart of the service covers the three components.

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
    rancher_arg_key,
    rancher_component_argv,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import load_document

APISERVER = "kube-apiserver"
ARG_KEY = "kube-apiserver-arg"
APPEND_KEY = ARG_KEY + "+"
# The components a drop-in passes flags to, in the order their lists appear in it.
COMPONENTS = (APISERVER, "kube-controller-manager", "kube-scheduler")
DROPIN_PREFIX = "50-kubecompass-"
_TOPIC = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")


def append_key(component):
    """kube-apiserver-arg+, kube-controller-manager-arg+, kube-scheduler-arg+"""
    return rancher_arg_key(component) + "+"


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


def dropin_document(args, component_args=None):
    """The drop-in's lists: ``<component>-arg+`` for each component with entries, the API server's first."""
    by_component = dict(component_args or {}, **{APISERVER: list(args or ())})
    return {append_key(component): list(by_component[component]) for component in COMPONENTS
            if by_component.get(component)}


def appended_keys_text(document):
    return ", ".join(key[:-1] for key in document if key.endswith("+"))


def render_dropin(args, topic, component_args=None):
    """The drop-in's content: a header naming its purpose, then ``kube-apiserver-arg+:`` with ``args`` and the
    ``<component>-arg+:`` lists of ``component_args``."""
    document = dropin_document(args, component_args)
    header = ("# Managed by kubecompass.readiness (%s). Appends to %s; edit your own config files,\n"
              "# not this one: it is rewritten by the next remediation.\n" % (topic, appended_keys_text(document)))
    return header + render_yaml(document)


def effective_flags(distribution, values, root="/", component=APISERVER):
    """Flags of ``component`` as an RKE2/k3s server starts it, given its merged config values (see _node.config
    rancher_apiserver_argv and rancher_component_argv, which node facts read too). ``root`` is only consulted by
    k3s's datastore guess (etcd flags, not planned here)."""
    if component != APISERVER:
        return parse_flags(rancher_component_argv(component, values))
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


def _files_setting(documents, flag, component=APISERVER):
    """Config files whose <component>-arg (with or without +) mentions ``flag``: where a user must edit."""
    found = []
    for path, document in documents:
        for key in (rancher_arg_key(component), append_key(component)):
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


def _check_component_flags(component_flags):
    checked = {}
    for component, flags in (component_flags or {}).items():
        if component not in COMPONENTS[1:]:
            raise ValueError("component_flags: %r is not one of %s" % (component, ", ".join(COMPONENTS[1:])))
        if flags:
            checked[component] = new_change(flags)["set_flags"]
    return checked


def _plan_flags(component, effective, without, set_flags, remove_flags):
    """The <component>-arg+ entries that give ``component`` the ``set_flags``, with (already effective names,
    problems, notes, targets); see plan_dropin."""
    prefix = "" if component == APISERVER else component + " "
    args, already, problems, notes, targets = [], [], [], [], {}

    def edit(name):
        return ", ".join(_files_setting(without, name, component)) or "the config"

    for name in sorted(set_flags):
        value = effective.get(name)
        target = resolve_flag(value, set_flags[name])
        targets[name] = target
        if target == value:
            already.append(prefix + name)
        elif target is None:
            problems.append("%s--%s=%s must go, which a drop-in cannot do: edit %s" % (prefix, name, value, edit(name)))
            targets.pop(name, None)
        elif name in ACCUMULATING_FLAGS and value is not None:
            have, want = split_list(value), split_list(target)
            if want[:len(have)] != have:
                problems.append("%s--%s=%s has items that must go or move, which a drop-in cannot do (wanted %s): "
                                "edit %s" % (prefix, name, value, target, edit(name)))
                targets.pop(name, None)
                continue
            args.append("%s+=%s" % (name, ",".join(want[len(have):])))
        else:
            if value is not None and _files_setting(without, name, component):
                notes.append("%s--%s=%s from %s is overridden by the drop-in (kube-bench reads the first occurrence)"
                             % (prefix, name, value, edit(name)))
            args.append("%s=%s" % (name, target))
    for name in remove_flags:
        if name in effective:
            problems.append("%s--%s=%s must go, which a drop-in cannot do: edit %s" % (
                prefix, name, effective[name], edit(name)))
    return args, already, problems, notes, targets


def plan_dropin(distribution, documents, topic, set_flags, remove_flags=(), root="/", component_flags=None):
    """What the ``topic`` drop-in must say so the API server runs with ``set_flags`` and without ``remove_flags``,
    and each component of ``component_flags`` ({kube-controller-manager or kube-scheduler: {flag: value}}) with
    its flags.

    ``documents``: ``[(path, text)]`` of the config file and every drop-in (ours included when it exists), as read
    from the node. Flags already effective without our drop-in need nothing, so a node that is already compliant
    gets no drop-in, and re-planning over our own drop-in yields the same content (idempotent).

    Returns ``{"path", "content"}`` (content None: no drop-in wanted, remove ours if present) with ``changed``
    (content differs from the file on the node), ``args`` (its kube-apiserver-arg+ entries), ``component_args``
    ({component: its <component>-arg+ entries}), ``already_effective`` (flags needing nothing, a component's
    prefixed with its name), ``problems`` (what a drop-in cannot achieve, naming the user's file to edit, or a
    later file overriding ours; the caller must fail on any) and ``notes``.
    """
    change = new_change(set_flags, remove_flags)
    wanted = {APISERVER: (change["set_flags"], change["remove_flags"])}
    wanted.update((component, (flags, ())) for component, flags in _check_component_flags(component_flags).items())
    ours = dropin_path(distribution, topic)
    parsed = _parse(documents)
    existing = next((text for path, text in documents if path == ours), None)
    without = _ordered(distribution, parsed, ours, None)
    values = merge_config_documents([doc for _path, doc in without])
    planned, already, problems, notes, targets = {}, [], [], [], {}
    for component in COMPONENTS:
        if component not in wanted:
            continue
        effective = effective_flags(distribution, values, root, component)
        args, done, cannot, remarks, targets[component] = _plan_flags(component, effective, without, *wanted[component])
        planned[component] = args
        already += done
        problems += cannot
        notes += remarks
    args = planned.get(APISERVER, [])
    component_args = {component: entries for component, entries in planned.items()
                      if component != APISERVER and entries}
    document = dropin_document(args, component_args)
    content = render_dropin(args, topic, component_args) if document else None
    if content is not None:
        # Check the result as the server will merge it: a later file could still replace or override our flags.
        after = merge_config_documents([doc for _path, doc in _ordered(distribution, parsed, ours, document)])
        for component, component_targets in targets.items():
            after_flags = effective_flags(distribution, after, root, component)
            prefix = "" if component == APISERVER else component + " "
            for name, target in component_targets.items():
                if prefix + name not in already and after_flags.get(name) != target:
                    problems.append("with the drop-in %s--%s would be %s, not %s: a later config file replaces or "
                                    "overrides it" % (prefix, name, after_flags.get(name), target))
    return {"path": ours, "content": content, "changed": content != existing, "args": args,
            "component_args": component_args, "already_effective": already, "problems": problems, "notes": notes}
