# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""How a node runs its kubelet, and the value each audited kubelet setting takes, the way the kubelet decides it.

The command line is the running process's (/proc/<pid>/cmdline); without one, the one systemd would start from the
kubelet.service unit and its drop-ins (kubeadm's 10-kubeadm.conf expands $KUBELET_KUBEADM_ARGS from
/var/lib/kubelet/kubeadm-flags.env and $KUBELET_EXTRA_ARGS from /etc/default/kubelet). The file --config names
(a KubeletConfiguration) and the --config-dir drop-ins merged over it give the configured values; a flag on the
command line overrides them (last occurrence wins, parse_flags); where neither sets a setting the kubelet's
built-in default applies, which differs with and without --config (cmd/kubelet/app/options/options.go
applyLegacyDefaults keeps the flag-era defaults when no config file is given; a config file is defaulted by
pkg/kubelet/apis/config/v1beta1/defaults.go).

Only the settings below leave the node: a KubeletConfiguration may hold request headers (staticPodURLHeader)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import copy
import os
import shlex

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import read_running_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import (
    DocumentError,
    cause_of,
    is_missing,
    on_host,
    read_document,
    read_text,
)

# systemd's unit search path for system units, highest precedence first.
UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")
UNIT = "kubelet.service"

# setting -> (flag, KubeletConfiguration key path, default with a config file, default without one). Defaults:
# v1beta1 SetDefaults_KubeletConfiguration (anonymous off, Webhook authorization, makeIPTablesUtilChains true;
# rotateCertificates and clientCAFile are not defaulted: false and empty) and, without --config,
# applyLegacyDefaults (anonymous on, AlwaysAllow authorization).
SETTINGS = {
    "anonymous_auth": ("anonymous-auth", ("authentication", "anonymous", "enabled"), False, True),
    "authorization_mode": ("authorization-mode", ("authorization", "mode"), "Webhook", "AlwaysAllow"),
    "client_ca_file": ("client-ca-file", ("authentication", "x509", "clientCAFile"), "", ""),
    "make_iptables_util_chains": ("make-iptables-util-chains", ("makeIPTablesUtilChains",), True, True),
    "rotate_certificates": ("rotate-certificates", ("rotateCertificates",), False, False),
}
BOOLEAN_SETTINGS = ("anonymous_auth", "make_iptables_util_chains", "rotate_certificates")
# The flags kept in the facts: the audited ones and those that say where the configuration lives.
KEPT_FLAGS = tuple(flag for flag, _key, _d, _l in SETTINGS.values()) + ("config", "config-dir", "kubeconfig")


def key_text(path):
    return ".".join(path)


# -- systemd -------------------------------------------------------------------------------------------------------

def unit_files(root):
    """The unit file systemd loads for kubelet.service (the first of UNIT_DIRS that has it) and its drop-ins
    (``kubelet.service.d/*.conf`` of every directory; a name in a higher directory masks the same name below),
    drop-ins in lexical order of their names. Directories that are one (/lib -> /usr/lib) are read once."""
    seen_dirs, unit, dropins = set(), None, {}
    for directory in UNIT_DIRS:
        real = os.path.realpath(on_host(root, directory))
        if real in seen_dirs:
            continue
        seen_dirs.add(real)
        if unit is None and os.path.isfile(on_host(root, "%s/%s" % (directory, UNIT))):
            unit = "%s/%s" % (directory, UNIT)
        dropin_dir = "%s/%s.d" % (directory, UNIT)
        try:
            names = os.listdir(on_host(root, dropin_dir))
        except OSError as exc:
            if is_missing(exc) or not os.path.isdir(on_host(root, dropin_dir)):
                continue
            raise
        for name in names:
            if name.endswith(".conf") and name not in dropins:
                dropins[name] = "%s/%s" % (dropin_dir, name)
    return ([unit] if unit else []) + [dropins[name] for name in sorted(dropins)]


def unit_lines(text):
    """(key, value) assignments of a unit file's [Service] section, continuation lines joined."""
    section, pending, result = None, "", []
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if sep and section == "Service":
            result.append((key.strip(), value.strip()))
    return result


def env_file_values(text):
    """KEY=VALUE lines of an EnvironmentFile, quotes removed as systemd removes them."""
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _sep, value = line.partition("=")
        try:
            words = shlex.split(value, comments=False)
        except ValueError:
            words = [value]
        values[key.strip()] = " ".join(words)
    return values


def expand_exec(command, env):
    """ExecStart words with systemd's variable expansion: a word that is exactly ``$NAME`` becomes the value's
    whitespace-separated words (none when unset or empty); ``${NAME}`` inside a word is replaced as one string."""
    words = []
    for word in shlex.split(command):
        if word.startswith("$") and not word.startswith("${") and word[1:].replace("_", "").isalnum():
            words.extend(env.get(word[1:], "").split())
            continue
        for name, value in env.items():
            word = word.replace("${%s}" % name, value)
        words.append(word)
    return words


def configured_argv(root, files):
    """(argv, errors) of the kubelet as systemd would start it from these unit files (None without ExecStart)."""
    environment, env_files, exec_start, errors = {}, [], None, []
    for path in files:
        try:
            text = read_text(root, path)
        except OSError as exc:
            errors.append({"what": "kubelet unit file %s" % path, "cause": cause_of(exc)})
            continue
        for key, value in unit_lines(text or ""):
            if key == "Environment":
                if not value:
                    environment = {}
                for assignment in shlex.split(value):
                    name, _sep, setting = assignment.partition("=")
                    environment[name] = setting
            elif key == "EnvironmentFile":
                env_files = [] if not value else env_files + [value]
            elif key == "ExecStart":
                exec_start = value.lstrip("@-:+!") or None
    for entry in env_files:
        path = entry[1:] if entry.startswith("-") else entry
        try:
            text = read_text(root, path)
        except OSError as exc:
            errors.append({"what": "kubelet environment file %s" % path, "cause": cause_of(exc)})
            continue
        if text is None:
            if not entry.startswith("-"):
                errors.append({"what": "kubelet environment file %s" % path, "cause": "does not exist"})
            continue
        environment.update(env_file_values(text))  # files override Environment= (systemd.exec(5))
    if exec_start is None:
        return None, errors
    try:
        return expand_exec(exec_start, environment), errors
    except ValueError as exc:
        errors.append({"what": "kubelet ExecStart", "cause": "does not parse: %s" % exc})
        return None, errors


# -- KubeletConfiguration ------------------------------------------------------------------------------------------

def merge(base, overlay):
    """A --config-dir drop-in merged over the configuration: maps merge key by key, anything else replaces."""
    result = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def lookup(document, path):
    """(found, value) of a key path in a KubeletConfiguration document."""
    current = document
    for key in path:
        if not isinstance(current, dict) or key not in current:
            return False, None
        current = current[key]
    return True, current


def read_kubelet_configuration(root, config_path, config_dir):
    """(configured settings {key path text: value}, files read, error or None) of the --config file and the
    --config-dir drop-ins (``*.conf``, lexical order)."""
    files = [config_path] if config_path else []
    if config_dir:
        try:
            names = sorted(os.listdir(on_host(root, config_dir)))
        except OSError as exc:
            return None, files, "kubelet --config-dir %s: %s" % (config_dir, cause_of(exc))
        files += ["%s/%s" % (config_dir.rstrip("/"), name) for name in names if name.endswith(".conf")]
    document = {}
    for path in files:
        try:
            exists, part = read_document(root, path)
        except (OSError, DocumentError) as exc:
            return None, files, "kubelet config file %s: %s" % (path, cause_of(exc))
        if not exists:
            return None, files, "kubelet config file %s does not exist (the kubelet cannot start)" % path
        if not isinstance(part, dict):
            return None, files, "kubelet config file %s is not a KubeletConfiguration" % path
        document = merge(document, part)
    configured = {}
    for _setting, (_flag, path, _default, _legacy) in SETTINGS.items():
        found, value = lookup(document, path)
        if found:
            configured[key_text(path)] = value
    return configured, files, None


# -- the facts -----------------------------------------------------------------------------------------------------

NO_KUBELET = {
    "k3s": "k3s runs the kubelet inside the k3s process; its flags appear only in the k3s journal, which is not read",
    "rke2": "no kubelet process runs on this node (rke2 starts it; without the process its flags are not known)",
}


def read_kubelet(root, proc, distribution):
    """Kubelet facts: {"source", "flags" (KEPT_FLAGS only), "config_files", "config" ({key path: value} of the
    audited settings) or None, "missing" (why the settings cannot be judged) or None, "errors"}."""
    facts = {"source": None, "flags": None, "config_files": [], "config": None, "missing": None, "errors": []}
    running, problem = (None, None) if distribution == "k3s" else read_running_flags(proc, "kubelet")
    if problem:
        facts["errors"].append({"what": "running kubelet flags", "cause": problem})
    flags = running
    if running is not None:
        facts["source"] = "running kubelet process"
    elif distribution == "kubeadm":
        try:
            files = unit_files(root)
        except OSError as exc:
            files = []
            facts["errors"].append({"what": "kubelet.service drop-in directory", "cause": cause_of(exc)})
        argv, errors = configured_argv(root, files) if files else (None, [])
        facts["errors"].extend(errors)
        if argv is not None:
            flags = parse_flags(argv)
            facts["source"] = "kubelet.service as systemd starts it (%s; no kubelet process runs)" % ", ".join(files)
        else:
            facts["missing"] = ("no kubelet process runs and no kubelet.service unit with an ExecStart was found in "
                                "%s" % ", ".join(UNIT_DIRS))
    else:
        facts["missing"] = NO_KUBELET[distribution]
    if flags is None:
        if not facts["missing"]:
            facts["missing"] = problem or NO_KUBELET.get(distribution, "no kubelet process runs")
        return facts
    facts["flags"] = {name: value for name, value in flags.items() if name in KEPT_FLAGS}
    configured, files, error = read_kubelet_configuration(root, flags.get("config"), flags.get("config-dir"))
    facts["config_files"] = files
    if error:
        facts["errors"].append({"what": "kubelet configuration", "cause": error})
        facts["missing"] = error
    else:
        facts["config"] = configured
    return facts


# -- effective values (checks and remediation) ---------------------------------------------------------------------

def parse_bool(text):
    """strconv.ParseBool, as pflag reads a boolean flag; None when it does not parse."""
    lowered = str(text)
    if lowered in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if lowered in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def shown(value):
    """A setting's value as YAML writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return '""' if value == "" else str(value)


def effective(kubelet, setting):
    """(value, origin) of a setting from kubelet facts: the flag, else the config key, else the kubelet's default
    for how it was started (with or without --config). Raises KeyError for facts that cannot decide it."""
    flag, path, default, legacy_default = SETTINGS[setting]
    flags = kubelet.get("flags") or {}
    if flag in flags:
        value = flags[flag]
        if setting in BOOLEAN_SETTINGS:
            value = parse_bool(value)
        return value, "--%s=%s on the command line" % (flag, flags[flag])
    config = kubelet.get("config") or {}
    key = key_text(path)
    if key in config:
        return config[key], "%s: %s in %s" % (key, shown(config[key]), ", ".join(kubelet.get("config_files") or ()))
    if flags.get("config"):
        return default, "%s not set: the kubelet defaults it to %s with a config file" % (key, shown(default))
    return legacy_default, "no --config and no --%s: the kubelet's flag default is %s" % (flag, shown(legacy_default))


def plan_config_changes(document, flags, wanted):
    """What remediation changes in a KubeletConfiguration document: {"document": the new document, "changes":
    [(key path text, old value or None, new value)], "overridden": [(key path text, flag value)]}.

    ``wanted`` is {setting: value}. A key already at its value, or absent where the kubelet's default (with a
    config file) is the value, is left alone: a second run changes nothing and no kubelet restarts for nothing. A
    setting the command line sets is listed in ``overridden`` instead: the file cannot fix it, the flag must go."""
    new = copy.deepcopy(document or {})
    changes, overridden = [], []
    for setting in sorted(wanted):
        flag, path, default, _legacy = SETTINGS[setting]
        value = wanted[setting]
        if flag in (flags or {}):
            overridden.append((key_text(path), flags[flag]))
            continue
        found, old = lookup(new, path)
        if (found and old == value) or (not found and default == value):
            continue
        current = new
        for key in path[:-1]:
            if not isinstance(current.get(key), dict):
                current[key] = {}
            current = current[key]
        current[path[-1]] = value
        changes.append((key_text(path), old if found else None, value))
    return {"document": new, "changes": changes, "overridden": overridden}
