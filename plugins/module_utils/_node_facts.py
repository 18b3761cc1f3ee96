# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Facts about one self-managed control-plane node (kubeadm, RKE2, k3s), read on the node itself.

Everything here is a pure function except the ``read_*`` functions, which read files below a ``root`` (or
``proc``) path so tests can point them at a temporary directory, and ``etcd_json_client``, which talks to etcd.
Nothing returned ever contains key material: encryption keys are reduced to their names, raw etcd values to
their prefix class, config files to the flags derived from them.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import base64
import datetime
import errno
import grp
import http.client
import json
import os
import pwd
import re
import ssl
import stat

from urllib.error import HTTPError, URLError
from urllib.request import HTTPSHandler, ProxyHandler, Request, build_opener

try:
    import yaml

    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the node
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags

DISTRIBUTIONS = ("kubeadm", "rke2", "k3s")

# Audit levels from least to most detailed (audit.k8s.io/v1 Level).
AUDIT_LEVELS = ("None", "Metadata", "Request", "RequestResponse")
AUDIT_STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
# Every verb a request on core/v1 Secrets can carry.
SECRET_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
ENCRYPTION_PROVIDERS = ("aescbc", "aesgcm", "secretbox", "kms", "identity")
KEYED_PROVIDERS = ("aescbc", "aesgcm", "secretbox")

KUBEADM_MANIFESTS = "/etc/kubernetes/manifests"
KUBEADM_PKI = "/etc/kubernetes/pki"
KUBEADM_SNAPSHOT_DIR = "/var/backups/kubecompass/etcd"

RANCHER = {
    "rke2": {"config": "/etc/rancher/rke2/config.yaml", "data_dir": "/var/lib/rancher/rke2",
             "kubeconfig": "/etc/rancher/rke2/rke2.yaml"},
    "k3s": {"config": "/etc/rancher/k3s/config.yaml", "data_dir": "/var/lib/rancher/k3s",
            "kubeconfig": "/etc/rancher/k3s/k3s.yaml"},
}
# rancher/rke2 pkg/podexecutor/staticpod.go: defaultAuditPolicyFile, used when `profile: cis*` sets no policy path.
RKE2_CIS_AUDIT_POLICY = "/etc/rancher/rke2/audit-policy.yaml"

DEFAULT_ETCD_PREFIX = "/registry"
ETCD_TIMEOUT = 10

# pflag StringSlice/StringArray/map flags accumulate repeated occurrences (the first replaces the default, later
# ones append) instead of keeping the last one. RKE2/k3s produce repeats for `flag+=value` and for a flag listed in
# several config files; a last-wins reading would drop NodeRestriction from `enable-admission-plugins`.
# Flags that tell one kube-apiserver from another on a host running several (the local control plane runs every
# node's processes in one PID namespace).
IDENTITY_FLAGS = ("advertise-address", "bind-address", "secure-port", "etcd-servers")


class DocumentError(ValueError):
    """A configuration file that does not parse. The message never quotes the file's content."""


# -- small helpers -----------------------------------------------------------------------------------------------

def rfc3339(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def on_host(root, path):
    """``path`` (absolute, as on the node) below ``root``."""
    return os.path.join(root, str(path).lstrip("/"))


def _missing(exc):
    return isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.ENOTDIR)


def cause_of(exc):
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or exc.__class__.__name__


def _to_string(value):
    """A config value as k3s's convert.ToString renders it (booleans lower case, null empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_list(value):
    """k3s configfilearg toSlice: a string is one item, a list stays, other scalars become one item unless empty."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [value]
    text = _to_string(value).strip()
    return [text] if text else []


def _truthy(value):
    # urfave/cli bool flags go through strconv.ParseBool.
    return _to_string(value).strip().lower() in ("1", "t", "true")


def load_document(text):
    """A YAML or JSON document as Python data.

    Errors name the position only: parser messages normally quote the offending line, and the file may hold
    encryption keys or a cluster token.
    """
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            return json.loads(text)
        except ValueError as exc:
            if not HAS_YAML:
                raise DocumentError("not valid JSON (line %s, column %s)" % (
                    getattr(exc, "lineno", "?"), getattr(exc, "colno", "?"))) from None
    if not HAS_YAML:
        raise DocumentError("PyYAML is not installed on this node, so YAML files cannot be read")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark is not None else ""
        # "from None": the YAML error's snippet of the file must not travel with the exception either.
        raise DocumentError("not valid YAML: %s%s" % (getattr(exc, "problem", None) or "parse error", where)) from None


def read_text(root, path):
    """Content of a file below root, or None when it does not exist. Other OS errors propagate."""
    try:
        with open(on_host(root, path), "rb") as handle:
            data = handle.read()
    except OSError as exc:
        if _missing(exc):
            return None
        raise
    return data.decode("utf-8", errors="replace")


def read_document(root, path):
    """(exists, document) of a YAML/JSON file; raises OSError (unreadable) or DocumentError (does not parse)."""
    text = read_text(root, path)
    if text is None:
        return False, None
    return True, load_document(text)


# -- file facts --------------------------------------------------------------------------------------------------

def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def missing_file():
    return {"exists": False, "mode": None, "owner": None, "group": None, "size": None, "mtime": None}


def stat_summary(st):
    return {"exists": True, "mode": "%04o" % stat.S_IMODE(st.st_mode), "owner": _user_name(st.st_uid),
            "group": _group_name(st.st_gid), "size": st.st_size, "mtime": rfc3339(st.st_mtime)}


def read_file_stat(root, path):
    """Mode, owner, group, size and mtime of a file or directory (symlinks followed); exists False if absent."""
    try:
        st = os.stat(on_host(root, path))
    except OSError as exc:
        if _missing(exc):
            return missing_file()
        raise
    return stat_summary(st)


# -- static pods (kubeadm) ----------------------------------------------------------------------------------------

def pod_container(pod, name):
    containers = ((pod or {}).get("spec") or {}).get("containers") or []
    for container in containers:
        if isinstance(container, dict) and container.get("name") == name:
            return container
    return containers[0] if containers and isinstance(containers[0], dict) else {}


def pod_argv(pod, name):
    container = pod_container(pod, name)
    return [str(arg) for arg in list(container.get("command") or []) + list(container.get("args") or [])]


def host_path(path, pod, container_name):
    """The host path behind a path seen inside a static pod's container, through its hostPath volumeMounts.

    kubespray mounts host /var/log/kubernetes/audit at /var/log/audit, so the flag value is not where the log
    lives on the node. The longest matching mountPath wins; a path no mount covers is returned unchanged.
    """
    if not pod or not path:
        return path
    volumes = {}
    for volume in ((pod.get("spec") or {}).get("volumes") or []):
        host = (volume.get("hostPath") or {}).get("path") if isinstance(volume, dict) else None
        if host:
            volumes[volume.get("name")] = host
    best = None
    for mount in pod_container(pod, container_name).get("volumeMounts") or []:
        if not isinstance(mount, dict):
            continue
        mount_path = str(mount.get("mountPath") or "").rstrip("/") or "/"
        if mount.get("name") not in volumes:
            continue
        inside = path == mount_path or path.startswith(mount_path.rstrip("/") + "/")
        if inside and (best is None or len(mount_path) > len(best[0])):
            best = (mount_path, mount)
    if best is None:
        return path
    mount_path, mount = best
    base = volumes[mount["name"]]
    if mount.get("subPath"):
        base = base.rstrip("/") + "/" + str(mount["subPath"]).strip("/")
    rest = path[len(mount_path):].lstrip("/") if mount_path != "/" else path.lstrip("/")
    return base.rstrip("/") + "/" + rest if rest else base


def read_kubeadm_config(root):
    """Configured flags of a kubeadm node, from its static pod manifests."""
    apiserver_manifest = KUBEADM_MANIFESTS + "/kube-apiserver.yaml"
    etcd_manifest = KUBEADM_MANIFESTS + "/etcd.yaml"
    config = {
        "source": apiserver_manifest, "flags": {}, "etcd_flags": None, "pod": None, "errors": [],
        "datastore": "etcd", "snapshot_dirs": [KUBEADM_SNAPSHOT_DIR],
        "files": [KUBEADM_MANIFESTS + "/" + name for name in (
            "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml", "etcd.yaml")]
        + ["/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf", KUBEADM_PKI, KUBEADM_PKI + "/etcd"],
        "etcd_clients": [(KUBEADM_PKI + "/apiserver-etcd-client.crt", KUBEADM_PKI + "/apiserver-etcd-client.key",
                          KUBEADM_PKI + "/etcd/ca.crt")],
    }
    for path, component in ((apiserver_manifest, "kube-apiserver"), (etcd_manifest, "etcd")):
        try:
            exists, pod = read_document(root, path)
        except (OSError, DocumentError) as exc:
            config["errors"].append({"what": "static pod manifest %s" % path, "cause": cause_of(exc)})
            continue
        if not exists:
            continue
        if not isinstance(pod, dict):
            config["errors"].append({"what": "static pod manifest %s" % path, "cause": "not a Pod object"})
            continue
        flags = parse_flags(pod_argv(pod, component))
        if component == "kube-apiserver":
            config["flags"], config["pod"] = flags, pod
        else:
            config["etcd_flags"] = flags
            if flags.get("data-dir"):
                config["files"].append(host_path(flags["data-dir"], pod, "etcd"))
    return config


# -- RKE2 and k3s config files ------------------------------------------------------------------------------------

def merge_config_documents(documents):
    """Merge RKE2/k3s config documents in order (k3s pkg/configfilearg/parser.go readConfigFile).

    A later key replaces the earlier value; a key ending in ``+`` appends to the earlier value (both as lists),
    or sets it when there was none. Keys keep the position where they first appeared.
    """
    values = {}
    for document in documents:
        for raw_key, value in (document or {}).items():
            key = _to_string(raw_key)
            append = key.endswith("+")
            if append:
                key = key[:-1]
            if append and key in values:
                values[key] = list(_to_list(values[key])) + list(_to_list(value))
            else:
                values[key] = value
    return values


def config_files(root, config_path):
    """The config file (if present) then its ``.d`` drop-ins (.yaml/.yml, any case) in lexical order."""
    files = []
    if os.path.isfile(on_host(root, config_path)):
        files.append(config_path)
    dropin_dir = config_path + ".d"
    try:
        names = sorted(os.listdir(on_host(root, dropin_dir)))
    except OSError as exc:
        if _missing(exc):
            return files
        raise
    for name in names:
        if name.lower().endswith((".yaml", ".yml")) and not os.path.isdir(on_host(root, dropin_dir + "/" + name)):
            files.append(dropin_dir + "/" + name)
    return files


def read_rancher_config_values(root, config_path):
    """(merged values, files read, errors) for an RKE2/k3s config file and its drop-ins."""
    errors = []
    try:
        files = config_files(root, config_path)
    except OSError as exc:
        errors.append({"what": "config directory %s.d" % config_path, "cause": cause_of(exc)})
        files = [config_path]
    documents, read = [], []
    for path in files:
        try:
            exists, document = read_document(root, path)
        except (OSError, DocumentError) as exc:
            errors.append({"what": "config file %s" % path, "cause": cause_of(exc)})
            continue
        if not exists:
            continue
        if document is not None and not isinstance(document, dict):
            errors.append({"what": "config file %s" % path, "cause": "not a mapping of option names to values"})
            continue
        documents.append(document or {})
        read.append(path)
    return merge_config_documents(documents), read, errors


def _arg_list(values, key):
    """A ``*-arg`` option as a list of "flag=value" strings, without leading dashes."""
    return [_to_string(item)[2:] if _to_string(item).startswith("--") else _to_string(item)
            for item in _to_list(values.get(key))]


def k3s_get_args(defaults, extra_args):
    """Component argv the way k3s builds it from its defaults and the user's ``*-arg`` list (k3s pkg/util/args.go
    GetArgs): a user flag replaces the default; ``flag+=v`` appends to the default, ``flag-=v`` prepends; repeats
    are kept as repeated flags; flags come out sorted by name."""
    initial = dict(defaults)
    multi = {}
    for raw in extra_args:
        name, sep, value = raw.partition("=")
        if not sep:
            value = "true"
        cleaned = name.rstrip("-+")
        initial_value = initial.pop(cleaned, None)
        existing = multi.get(cleaned) or []
        initial_values = [initial_value] if initial_value is not None else []
        if name.endswith("+"):
            values = initial_values + existing + [value]
        elif name.endswith("-"):
            values = [value] + initial_values + existing
        else:
            values = existing + [value]
        multi[cleaned] = values
    for name, value in initial.items():
        multi[name] = [value]
    return ["--%s=%s" % (name, value) for name in sorted(multi) for value in multi[name]]


def _redact_userinfo(url):
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return "%s://REDACTED@%s" % (scheme, rest.split("@", 1)[1])
    return url


def rancher_datastore(distribution, values, root, data_dir):
    """(kind, apiserver storage flags) for an RKE2/k3s server.

    k3s pkg/daemons/control/server.go setupStorageBackend passes the datastore endpoint and TLS files to the
    apiserver. An http(s) ``datastore-endpoint`` is an external etcd; any other is kine (SQL). Without one, RKE2
    always runs embedded etcd (rke2 pkg/rke2/rke2_linux.go initExecutor); k3s does when ``cluster-init`` or
    ``server`` is set or an embedded etcd data dir already exists, and otherwise runs kine on SQLite.
    Embedded etcd: k3s pkg/etcd/etcd.go sets https://127.0.0.1:2379 with server/tls/etcd/{server-ca,client}.
    """
    endpoint = _to_string(values.get("datastore-endpoint")).strip()
    if endpoint:
        if endpoint.split("://", 1)[0] in ("http", "https") and "://" in endpoint:
            flags = {"etcd-servers": _redact_userinfo(endpoint)}
            for option, flag in (("datastore-cafile", "etcd-cafile"), ("datastore-certfile", "etcd-certfile"),
                                 ("datastore-keyfile", "etcd-keyfile")):
                if values.get(option):
                    flags[flag] = _to_string(values[option])
            return "etcd", flags
        # kine serves the apiserver from SQL; where it listens is kine's business, so no etcd flags are claimed.
        return "kine (%s)" % endpoint.split(":", 1)[0], {}
    server_dir = data_dir + "/server"
    embedded = (distribution == "rke2" or _truthy(values.get("cluster-init")) or bool(values.get("server"))
                or os.path.isdir(on_host(root, server_dir + "/db/etcd")))
    if not embedded:
        return "kine (sqlite)", {}
    return "etcd", {"etcd-servers": "https://127.0.0.1:2379",
                    "etcd-cafile": server_dir + "/tls/etcd/server-ca.crt",
                    "etcd-certfile": server_dir + "/tls/etcd/client.crt",
                    "etcd-keyfile": server_dir + "/tls/etcd/client.key"}


def rancher_apiserver_argv(distribution, values, root, data_dir):
    """kube-apiserver argv as an RKE2/k3s server would start it from these config values (the flags our checks
    read; image, ports and certificates unrelated to them are left out).

    Defaults: k3s pkg/daemons/control/server.go apiServer() sets profiling=false, enable-admission-plugins=
    NodeRestriction, anonymous-auth=false (unless the user passes authentication-config), authorization-mode=
    Node,RBAC (unless authorization-config), and with secrets encryption encryption-provider-config=
    <data-dir>/server/cred/encryption-config.json plus automatic reload. RKE2 forces secrets encryption on
    (control-plane.md 2.2). rancher/rke2 pkg/podexecutor/staticpod.go APIServer() then prepends, when the
    ``audit-policy-file`` option or a ``profile: cis*`` is set, the policy path and audit-log-maxage=30,
    maxbackup=10, maxsize=100, and audit-log-path=<data-dir>/server/logs/audit.log unless the user set one.
    """
    server_dir = data_dir + "/server"
    extra = _arg_list(values, "kube-apiserver-arg")
    user_flags = {arg.partition("=")[0] for arg in extra}
    defaults = {"profiling": "false", "enable-admission-plugins": "NodeRestriction", "allow-privileged": "true",
                "enable-bootstrap-token-auth": "true"}
    if "authentication-config" not in user_flags:
        defaults["anonymous-auth"] = "false"
    if "authorization-config" not in user_flags:
        defaults["authorization-mode"] = "Node,RBAC"
    if distribution == "rke2" or _truthy(values.get("secrets-encryption")):
        defaults["encryption-provider-config"] = server_dir + "/cred/encryption-config.json"
        defaults["encryption-provider-config-automatic-reload"] = "true"
    defaults.update(rancher_datastore(distribution, values, root, data_dir)[1])
    args = k3s_get_args(defaults, extra)
    if distribution == "rke2":
        policy = _to_string(values.get("audit-policy-file")).strip()
        if not policy and _to_string(values.get("profile")).startswith("cis"):
            policy = RKE2_CIS_AUDIT_POLICY
        if policy:
            audit_log = parse_flags(args).get("audit-log-path")
            prefix = ["--audit-policy-file=" + policy, "--audit-log-maxage=30", "--audit-log-maxbackup=10",
                      "--audit-log-maxsize=100"]
            if not audit_log:
                prefix.append("--audit-log-path=" + server_dir + "/logs/audit.log")
            args = prefix + args
    return ["kube-apiserver"] + args


def read_rancher_config(root, distribution):
    """Configured flags of an RKE2 or k3s server from /etc/rancher/<dist>/config.yaml(.d) and the built-in
    defaults (see rancher_apiserver_argv)."""
    layout = RANCHER[distribution]
    values, read, errors = read_rancher_config_values(root, layout["config"])
    data_dir = _to_string(values.get("data-dir")).rstrip("/") or layout["data_dir"]
    server_dir = data_dir + "/server"
    datastore = rancher_datastore(distribution, values, root, data_dir)[0]
    flags = parse_flags(rancher_apiserver_argv(distribution, values, root, data_dir))
    etcd_flags = None
    if datastore == "etcd":
        etcd_flags = parse_flags(["--" + arg for arg in _arg_list(values, "etcd-arg")])
    snapshot_dir = _to_string(values.get("etcd-snapshot-dir")).rstrip("/") or server_dir + "/db/snapshots"
    files = [layout["config"]] + read + [layout["kubeconfig"], server_dir + "/tls", server_dir + "/tls/etcd",
                                         server_dir + "/db/etcd", server_dir + "/token"]
    if distribution == "rke2":
        files += [data_dir + "/agent/pod-manifests/kube-apiserver.yaml", data_dir + "/agent/pod-manifests/etcd.yaml"]
    tls = server_dir + "/tls/etcd/"
    # kube-bench reads etcd with server-client on RKE2; the apiserver itself uses client (control-plane.md 2.2, 2.3).
    pairs = [(tls + "server-client.crt", tls + "server-client.key", tls + "server-ca.crt"),
             (tls + "client.crt", tls + "client.key", tls + "server-ca.crt")]
    if distribution == "k3s":
        pairs.reverse()
    source = ", ".join(read) if read else "no config file"
    return {"source": "%s + %s built-in defaults" % (source, distribution), "flags": flags,
            "etcd_flags": etcd_flags, "pod": None, "errors": errors, "datastore": datastore,
            "snapshot_dirs": [snapshot_dir], "files": files, "etcd_clients": pairs}


# -- running apiserver ---------------------------------------------------------------------------------------------

def read_running_apiserver_flags(proc, configured=None):
    """(flags, error) of the kube-apiserver process on this host, from /proc/<pid>/cmdline.

    (None, None) when no such process runs. When several run (a host carrying several nodes), the one whose
    identity flags (address, port, etcd) match the configured flags is taken; an ambiguous match is an error.
    """
    try:
        entries = os.listdir(proc)
    except OSError as exc:
        return None, "cannot list %s: %s" % (proc, cause_of(exc))
    candidates = []
    for entry in entries:
        if not entry.isdigit():
            continue
        base = os.path.join(proc, entry)
        try:
            with open(os.path.join(base, "comm"), "rb") as handle:
                if handle.read().strip() != b"kube-apiserver":
                    continue
            with open(os.path.join(base, "cmdline"), "rb") as handle:
                raw = handle.read()
        except OSError:
            continue  # the process ended while we looked
        argv = [arg.decode("utf-8", errors="replace") for arg in raw.split(b"\0") if arg]
        if argv:
            candidates.append((int(entry), parse_flags(argv)))
    if not candidates:
        return None, None
    if len(candidates) == 1:
        return candidates[0][1], None
    configured = configured or {}
    scored = sorted(((sum(1 for name in IDENTITY_FLAGS
                          if configured.get(name) is not None and flags.get(name) == configured.get(name)), pid, flags)
                     for pid, flags in candidates), key=lambda item: (-item[0], item[1]))
    if scored[0][0] > 0 and scored[0][0] > scored[1][0]:
        return scored[0][2], None
    return None, "%d kube-apiserver processes run on this host and none matches the configured %s alone" % (
        len(candidates), "/".join(IDENTITY_FLAGS))


# -- audit policy --------------------------------------------------------------------------------------------------

def _resource_names_match_secrets(names):
    # k8s.io/apiserver pkg/audit/policy/checker.go ruleMatchesResource for resource "secrets", no subresource:
    # "secrets", "*" and "secrets/*" match ("*/sub" needs a subresource, which secrets do not have).
    return any(name in ("secrets", "*", "secrets/*") for name in names)


def secrets_match(rule):
    """How a policy rule matches requests on core/v1 Secrets: "all", "some" (only some users, verbs,
    namespaces or names) or "none" (checker.go ruleMatches semantics)."""
    conditional = bool(rule.get("users") or rule.get("userGroups"))
    verbs = rule.get("verbs") or []
    if verbs:
        if not set(verbs) & set(SECRET_VERBS):
            return "none"
        conditional = conditional or not set(SECRET_VERBS) <= set(verbs)
    namespaces = rule.get("namespaces") or []
    resources = rule.get("resources") or []
    if namespaces or resources:
        if namespaces:
            if all(ns == "" for ns in namespaces):  # "" selects cluster-scoped objects only
                return "none"
            conditional = True
        if resources:
            best = "none"
            for group_resources in resources:
                if not isinstance(group_resources, dict) or (group_resources.get("group") or "") != "":
                    continue
                names = group_resources.get("resources") or []
                if not names:
                    return "some" if conditional else "all"
                if _resource_names_match_secrets(names):
                    best = "some" if group_resources.get("resourceNames") else "all"
                    if best == "all":
                        break
            if best == "none":
                return "none"
            conditional = conditional or best == "some"
        return "some" if conditional else "all"
    if rule.get("nonResourceURLs"):
        return "none"
    return "some" if conditional else "all"


def audit_level_for_secrets(rules):
    """The most detailed level any request on core Secrets gets: the first rule that matches a request decides
    its level, so every rule that can match some Secrets request counts, up to the first that matches them all;
    requests no rule matches get None."""
    reachable = []
    for rule in rules:
        match = secrets_match(rule)
        if match == "none":
            continue
        reachable.append(rule.get("level"))
        if match == "all":
            break
    else:
        reachable.append("None")
    known = [level for level in reachable if level in AUDIT_LEVELS]
    return max(known, key=AUDIT_LEVELS.index) if known else None


def _matches_everything(rule):
    return not any(rule.get(field) for field in (
        "users", "userGroups", "verbs", "resources", "namespaces", "nonResourceURLs"))


def summarize_audit_policy(document):
    """Summary of an audit.k8s.io/v1 Policy: rule count, levels used, the catch-all level (the level of the first
    rule matching every request: later rules never see a request, so it is the effective one; None when there is
    no catch-all), policy-wide omitStages, the level Secrets get (audit_level_for_secrets), valid and error."""
    summary = {"valid": False, "error": None, "rule_count": 0, "levels": [], "catch_all_level": None,
               "omit_stages": [], "secrets_level": None}
    if not isinstance(document, dict):
        summary["error"] = "not an audit Policy object"
        return summary
    problems = []
    if document.get("apiVersion") != "audit.k8s.io/v1":
        problems.append("apiVersion is %s, the apiserver reads audit.k8s.io/v1" % document.get("apiVersion"))
    if document.get("kind") != "Policy":
        problems.append("kind is %s, expected Policy" % document.get("kind"))
    rules = document.get("rules")
    if not isinstance(rules, list):
        rules = []
    if not rules:
        problems.append("the policy has no rules, which the apiserver rejects")
    valid_rules = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            problems.append("rules[%d] is not a mapping" % index)
            continue
        if rule.get("level") not in AUDIT_LEVELS:
            problems.append("rules[%d].level %s is not one of %s" % (index, rule.get("level"), ", ".join(AUDIT_LEVELS)))
        bad_stages = [s for s in rule.get("omitStages") or [] if s not in AUDIT_STAGES]
        if bad_stages:
            problems.append("rules[%d].omitStages has unknown stages %s" % (index, ", ".join(map(str, bad_stages))))
        valid_rules.append(rule)
    omit_stages = document.get("omitStages") or []
    if not isinstance(omit_stages, list):
        problems.append("omitStages is not a list")
        omit_stages = []
    bad_stages = [s for s in omit_stages if s not in AUDIT_STAGES]
    if bad_stages:
        problems.append("omitStages has unknown stages %s" % ", ".join(map(str, bad_stages)))
    used = {rule.get("level") for rule in valid_rules}
    catch_all = next((rule for rule in valid_rules if _matches_everything(rule)), None)
    summary.update({
        "valid": not problems,
        "error": "; ".join(problems) or None,
        "rule_count": len(rules),
        "levels": [level for level in AUDIT_LEVELS if level in used],
        "catch_all_level": catch_all.get("level") if catch_all is not None else None,
        "omit_stages": [str(s) for s in omit_stages],
        "secrets_level": audit_level_for_secrets(valid_rules),
    })
    return summary


def read_audit_policy(root, path):
    """Audit policy facts for the file at ``path`` (as on the node); exists false when there is no such file.
    Raises OSError when it cannot be read and DocumentError when it does not parse."""
    exists, document = read_document(root, path)
    summary = {"path": path, "exists": exists}
    summary.update(summarize_audit_policy(document))
    if not exists:
        summary["error"] = None
    return summary


# -- authentication configuration ----------------------------------------------------------------------------------

def anonymous_access(document):
    """What an AuthenticationConfiguration says about anonymous requests: {"configured": bool (the file decides,
    --anonymous-auth must be absent), "enabled": bool, "paths": [paths] or None (any path)}; for checks reading
    node files."""
    anonymous = (document or {}).get("anonymous") if isinstance(document, dict) else None
    if not isinstance(anonymous, dict):
        return {"configured": False, "enabled": None, "paths": None}
    enabled = anonymous.get("enabled") is True
    conditions = anonymous.get("conditions") or []
    paths = sorted({str(c.get("path")) for c in conditions if isinstance(c, dict)}) if conditions else None
    return {"configured": True, "enabled": enabled, "paths": paths if enabled else []}


def read_authentication_config(root, path):
    """AuthenticationConfiguration facts for the file at ``path``: exists, valid, and what it allows anonymously.
    Raises OSError when it cannot be read and DocumentError when it does not parse."""
    exists, document = read_document(root, path)
    valid = exists and isinstance(document, dict) and document.get("kind") == "AuthenticationConfiguration"
    return {"path": path, "exists": exists, "valid": valid,
            "error": None if valid or not exists else "not an AuthenticationConfiguration",
            "anonymous": anonymous_access(document if valid else None)}


# -- encryption configuration --------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9]{0,15}$")


def _provider_summary(provider_type, config, where, problems):
    config = config if isinstance(config, dict) else {}
    known = provider_type in ENCRYPTION_PROVIDERS
    if not known:
        # Echo a mistyped provider name, never a value that could be key material pushed up by bad indentation.
        shown = provider_type if isinstance(provider_type, str) and _IDENTIFIER.match(provider_type) else "(hidden)"
        problems.append("%s: unknown provider type %s" % (where, shown))
        provider_type = shown
    summary = {"type": provider_type, "key_names": [], "kms_api_version": None}
    if provider_type in KEYED_PROVIDERS:
        keys = config.get("keys")
        if not isinstance(keys, list) or not keys:
            problems.append("%s: %s has no keys" % (where, provider_type))
            keys = []
        for index, key in enumerate(keys):
            name = key.get("name") if isinstance(key, dict) else None
            if not name:
                problems.append("%s: keys[%d] has no name" % (where, index))
                continue
            summary["key_names"].append(_to_string(name))
    elif provider_type == "kms":
        if config.get("name"):
            summary["key_names"].append(_to_string(config["name"]))
        else:
            problems.append("%s: kms has no name" % where)
        # apiserver.config.k8s.io/v1 KMSConfiguration.apiVersion defaults to v1.
        summary["kms_api_version"] = _to_string(config.get("apiVersion") or "v1")
    return summary


def summarize_encryption_config(document):
    """Resources and their ordered providers (type, key names, kms apiVersion) of an EncryptionConfiguration.
    Only names are copied: secrets, KMS endpoints and everything else stay behind."""
    summary = {"valid": False, "error": None, "resources": []}
    if not isinstance(document, dict):
        summary["error"] = "not an EncryptionConfiguration object"
        return summary
    problems = []
    if document.get("apiVersion") != "apiserver.config.k8s.io/v1":
        problems.append("apiVersion is %s, expected apiserver.config.k8s.io/v1" % document.get("apiVersion"))
    if document.get("kind") != "EncryptionConfiguration":
        problems.append("kind is %s, expected EncryptionConfiguration" % document.get("kind"))
    entries = document.get("resources")
    if not isinstance(entries, list) or not entries:
        problems.append("resources is empty")
        entries = []
    for index, entry in enumerate(entries):
        where = "resources[%d]" % index
        if not isinstance(entry, dict):
            problems.append("%s is not a mapping" % where)
            continue
        names = entry.get("resources")
        if not isinstance(names, list) or not names:
            problems.append("%s lists no resources" % where)
            names = []
        providers = entry.get("providers")
        if not isinstance(providers, list) or not providers:
            problems.append("%s has no providers" % where)
            providers = []
        summaries = []
        for position, provider in enumerate(providers):
            place = "%s.providers[%d]" % (where, position)
            if not isinstance(provider, dict) or len(provider) != 1:
                problems.append("%s must name exactly one provider" % place)
                if not isinstance(provider, dict):
                    continue
            for provider_type, config in provider.items():
                summaries.append(_provider_summary(provider_type, config, place, problems))
        summary["resources"].append({"resources": [_to_string(name) for name in names], "providers": summaries})
    summary["valid"] = not problems
    summary["error"] = "; ".join(problems) or None
    return summary


def read_encryption_config(root, path):
    """EncryptionConfiguration facts (YAML or JSON) for the file at ``path``; exists false when there is no such
    file. Raises OSError when it cannot be read and DocumentError when it does not parse."""
    exists, document = read_document(root, path)
    summary = {"path": path, "exists": exists}
    summary.update(summarize_encryption_config(document))
    if not exists:
        summary["error"] = None
    return summary


# -- audit log -----------------------------------------------------------------------------------------------------

def last_event_time(data, at_line_start):
    """Timestamp of the last complete JSON audit event in ``data`` (stageTimestamp, else
    requestReceivedTimestamp), or None. The text after the last newline may still be being written and a
    window that does not start at a line start begins with a cut line: neither is read."""
    lines = data.split(b"\n")[:-1]
    if not at_line_start:
        lines = lines[1:]
    for line in reversed(lines):
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line.decode("utf-8"))
        except ValueError:
            continue
        if isinstance(event, dict):
            timestamp = event.get("stageTimestamp") or event.get("requestReceivedTimestamp")
            if timestamp:
                return str(timestamp)
    return None


def read_audit_log(root, path, tail_bytes=65536):
    """Audit log facts: existence, size, mtime and the time of the last event, reading only the file's tail."""
    summary = {"path": path, "exists": False, "size": None, "mtime": None, "last_event_time": None, "error": None}
    if path == "-":
        summary["error"] = "audit-log-path is '-' (standard output): there is no log file on the node to inspect"
        return summary
    try:
        with open(on_host(root, path), "rb") as handle:
            st = os.fstat(handle.fileno())
            start = max(0, st.st_size - max(1, int(tail_bytes)))
            at_line_start = start == 0
            if start:
                handle.seek(start - 1)
                at_line_start = handle.read(1) == b"\n"
            data = handle.read(st.st_size - start)
    except OSError as exc:
        if _missing(exc):
            return summary
        raise
    summary.update({"exists": True, "size": st.st_size, "mtime": rfc3339(st.st_mtime),
                    "last_event_time": last_event_time(data, at_line_start)})
    if data.strip() and summary["last_event_time"] is None:
        summary["error"] = "no complete JSON audit event in the last %d bytes" % len(data)
    return summary


# -- etcd ----------------------------------------------------------------------------------------------------------

def prefix_range_end(prefix):
    """etcd's range end for every key starting with ``prefix`` (clientv3 GetPrefixRangeEnd)."""
    end = bytearray(prefix)
    for index in range(len(end) - 1, -1, -1):
        if end[index] < 0xFF:
            end[index] += 1
            return bytes(end[:index + 1])
    return b"\0"


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def etcd_range_request(prefix, limit=None, count_only=False):
    """Body of a POST /v3/kv/range on etcd's JSON gateway for every key under ``prefix``."""
    key = prefix.encode("utf-8")
    body = {"key": _b64(key), "range_end": _b64(prefix_range_end(key))}
    if count_only:
        body["count_only"] = True
    else:
        body["limit"] = int(limit)
        body["keys_only"] = False
    return body


_ENCRYPTED = re.compile(rb"^k8s:enc:(aescbc|aesgcm|secretbox|kms):(v1|v2):([\x21-\x39\x3b-\x7e]{1,253}):")


def encryption_prefixes(encryption_summary):
    """The etcd value prefixes the providers of an encryption config summary write, e.g.
    ``k8s:enc:aescbc:v1:key1:``, for classify_value."""
    prefixes = set()
    for entry in (encryption_summary or {}).get("resources") or []:
        for provider in entry.get("providers") or []:
            version = provider.get("kms_api_version") if provider.get("type") == "kms" else "v1"
            if provider.get("type") in ("aescbc", "aesgcm", "secretbox", "kms"):
                for name in provider.get("key_names") or []:
                    prefixes.add("k8s:enc:%s:%s:%s:" % (provider["type"], version, name))
    return sorted(prefixes, key=len, reverse=True)


def classify_value(value, known_prefixes=()):
    """What a raw etcd value says about its encryption, from its prefix only: "plaintext" (protobuf ``k8s\\x00``,
    or a JSON object when the apiserver stores JSON), "k8s:enc:<provider>:<version>:<key name>", or "unknown".

    Key names may contain colons (RKE2 and k3s name keys ``aescbckey-<RFC 3339 time>``), so the configured
    prefixes (encryption_prefixes) are tried first, as the apiserver does; otherwise the name ends at the first
    colon, which never reaches into the ciphertext.
    """
    if value.startswith(b"k8s\x00") or value.lstrip().startswith(b"{"):
        return "plaintext"
    for prefix in known_prefixes:
        if value.startswith(prefix.encode("utf-8")):
            return prefix[:-1]
    match = _ENCRYPTED.match(value)
    if match:
        return "k8s:enc:%s:%s:%s" % tuple(part.decode("ascii") for part in match.groups())
    return "unknown"


class EtcdError(Exception):
    pass


def etcd_json_client(cert, key, ca, timeout=ETCD_TIMEOUT):
    """A ``post(url, body) -> dict`` for etcd's JSON gateway with this client certificate. Environment proxies
    are ignored: etcd traffic must not leave the node through a proxy."""
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    opener = build_opener(ProxyHandler({}), HTTPSHandler(context=context))

    def post(url, body):
        request = Request(url, data=json.dumps(body).encode("utf-8"),
                          headers={"Content-Type": "application/json"}, method="POST")
        try:
            with opener.open(request, timeout=timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except HTTPError as exc:
            try:
                detail = json.loads(exc.read().decode("utf-8"))
                message = detail.get("message") or detail.get("error") or ""
            except (ValueError, AttributeError):
                message = exc.reason
            raise EtcdError("HTTP %d from %s: %s" % (exc.code, url, str(message)[:300])) from None
        except URLError as exc:
            raise EtcdError("cannot reach %s: %s" % (url, exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise EtcdError("cannot reach %s: %s" % (url, exc)) from None
        except ValueError as exc:
            raise EtcdError("etcd at %s did not answer JSON: %s" % (url, exc)) from None

    return post


def etcd_sample(endpoint, post, sample_size, prefix=DEFAULT_ETCD_PREFIX, known_prefixes=()):
    """Count the Secrets under ``<prefix>/secrets/`` and classify the prefix of the first ``sample_size`` values
    (classify_value with ``known_prefixes``). Values never leave this function: only keys and their class."""
    result = {"endpoint": endpoint, "error": None, "total_keys": None, "sampled": 0, "prefixes": []}
    url = endpoint.rstrip("/") + "/v3/kv/range"
    secrets_prefix = prefix.rstrip("/") + "/secrets/"
    try:
        counted = post(url, etcd_range_request(secrets_prefix, count_only=True))
        result["total_keys"] = int((counted or {}).get("count") or 0)
        listed = post(url, etcd_range_request(secrets_prefix, limit=sample_size)) if sample_size > 0 else {}
        for kv in (listed or {}).get("kvs") or []:
            key = base64.b64decode(kv.get("key") or "").decode("utf-8", errors="replace")
            encoding = classify_value(base64.b64decode(kv.get("value") or ""), known_prefixes)
            result["prefixes"].append({"key": key, "encoding": encoding})
    except EtcdError as exc:
        result["error"] = str(exc)
    except (ValueError, TypeError, AttributeError) as exc:
        result["error"] = "unexpected answer from etcd at %s: %s" % (url, exc.__class__.__name__)
    result["sampled"] = len(result["prefixes"])
    return result


def etcd_scan(endpoint, post, prefix=DEFAULT_ETCD_PREFIX, known_prefixes=(), page_size=500):
    """Classify every value under ``<prefix>/secrets/`` (classify_value), page by page at one etcd revision so the
    result is one consistent view. Returns ``{"by_prefix": {class: count}, "total", "complete", "error",
    "revision", "endpoint"}``; values never leave this function. Only a complete scan proves that no object still
    needs an old key (control-plane.md 1.3)."""
    result = {"endpoint": endpoint, "by_prefix": {}, "total": 0, "complete": False, "error": None, "revision": None}
    url = endpoint.rstrip("/") + "/v3/kv/range"
    secrets_prefix = (prefix.rstrip("/") + "/secrets/").encode("utf-8")
    start = secrets_prefix
    try:
        while True:
            body = etcd_range_request(secrets_prefix.decode("utf-8"), limit=page_size)
            body["key"] = _b64(start)
            if result["revision"] is not None:
                body["revision"] = result["revision"]
            answer = post(url, body) or {}
            if result["revision"] is None:
                result["revision"] = int((answer.get("header") or {}).get("revision") or 0) or None
            kvs = answer.get("kvs") or []
            for kv in kvs:
                encoding = classify_value(base64.b64decode(kv.get("value") or ""), known_prefixes)
                result["by_prefix"][encoding] = result["by_prefix"].get(encoding, 0) + 1
                result["total"] += 1
            if not answer.get("more") or not kvs:
                break
            start = base64.b64decode(kvs[-1]["key"]) + b"\x00"
        result["complete"] = True
    except EtcdError as exc:
        result["error"] = str(exc)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        result["error"] = "unexpected answer from etcd at %s: %s" % (url, exc.__class__.__name__)
    return result


def etcd_member_list(endpoint, post):
    """``(members, error)``: etcd's member list (POST /v3/cluster/member/list) as ``[{"name", "peer_urls",
    "client_urls", "learner"}]``; a member added but not started yet has no name and no client URLs."""
    url = endpoint.rstrip("/") + "/v3/cluster/member/list"
    try:
        answer = post(url, {"linearizable": True}) or {}
        members = [{"name": member.get("name") or "", "peer_urls": list(member.get("peerURLs") or []),
                    "client_urls": list(member.get("clientURLs") or []), "learner": bool(member.get("isLearner"))}
                   for member in answer.get("members") or []]
    except EtcdError as exc:
        return None, str(exc)
    except (ValueError, TypeError, AttributeError) as exc:
        return None, "unexpected answer from etcd at %s: %s" % (url, exc.__class__.__name__)
    if not members:
        return None, "etcd at %s listed no members" % url
    return members, None


def first_existing_client(root, candidates):
    for cert, key, ca in candidates:
        if all(os.path.isfile(on_host(root, path)) for path in (cert, key, ca)):
            return cert, key, ca
    return None


# -- etcd snapshots ------------------------------------------------------------------------------------------------

def read_etcd_snapshots(root, dirs):
    """(summary, failures): regular files (not dotfiles) directly in the snapshot directories and the newest by
    mtime; failures lists (dir, cause) for directories that exist but cannot be read."""
    summary = {"dirs": list(dirs), "count": 0, "newest": None}
    failures = []
    newest = None
    for directory in dirs:
        try:
            with os.scandir(on_host(root, directory)) as listing:
                entries = list(listing)
        except OSError as exc:
            if not _missing(exc):
                failures.append((directory, cause_of(exc)))
            continue
        for entry in entries:
            try:
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                st = entry.stat()
            except OSError:
                continue
            summary["count"] += 1
            path = directory.rstrip("/") + "/" + entry.name
            if newest is None or st.st_mtime > newest[0]:
                newest = (st.st_mtime, path, st.st_size)
    if newest is not None:
        summary["newest"] = {"path": newest[1], "mtime": rfc3339(newest[0]), "size": newest[2]}
    return summary, failures


# -- one node ------------------------------------------------------------------------------------------------------

def _first_url(value):
    return next((url.strip() for url in str(value or "").split(",") if url.strip()), None)


def gather_node_facts(distribution, root="/", proc="/proc", etcd_sample_size=20, etcd_endpoint=None,
                      snapshot_dirs=None, audit_log_tail_bytes=65536, etcd_post=None):
    """Facts of one control-plane node in the node facts schema. Never raises for what it reads: a missing file
    is a fact (exists false), an unreadable or unparsable one adds an entry to ``errors``.

    The files the apiserver points at (audit policy and log, encryption config) and the etcd endpoint come from
    the running apiserver's flags when one runs here, else from the configured ones; static pod paths are
    translated to host paths through the manifest's mounts. ``etcd_post`` replaces the etcd client (tests).
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError("distribution must be one of %s" % ", ".join(DISTRIBUTIONS))
    config = read_kubeadm_config(root) if distribution == "kubeadm" else read_rancher_config(root, distribution)
    errors = list(config["errors"])
    files = {}

    def note(what, cause):
        errors.append({"what": what, "cause": cause})

    def stat_file(path):
        if not path or path in files:
            return
        try:
            files[path] = read_file_stat(root, path)
        except OSError as exc:
            note("file %s" % path, cause_of(exc))

    for path in config["files"]:
        stat_file(path)

    running = None
    # k3s runs the apiserver inside the k3s process: there is no kube-apiserver process to read.
    if distribution != "k3s":
        running, problem = read_running_apiserver_flags(proc, config["flags"])
        if problem:
            note("running kube-apiserver flags", problem)
    effective = running if running is not None else config["flags"]

    def to_host(path):
        return host_path(path, config["pod"], "kube-apiserver") if path and path != "-" else path

    def read_config(flag, what, reader, unreadable):
        """The summary of the file a flag names (None without the flag); a file that cannot be read or parsed
        gives ``unreadable`` with the cause, noted in errors."""
        path = to_host(effective.get(flag))
        if not path:
            return None
        stat_file(path)
        try:
            return reader(root, path)
        except (OSError, DocumentError) as exc:
            note("%s %s" % (what, path), cause_of(exc))
            return dict(unreadable, path=path, exists=True, error=cause_of(exc))

    audit_policy = read_config("audit-policy-file", "audit policy", read_audit_policy,
                               summarize_audit_policy(None))

    audit_log = None
    log_path = to_host(effective.get("audit-log-path"))
    if log_path:
        if log_path != "-":
            stat_file(os.path.dirname(log_path.rstrip("/")) or "/")
        try:
            audit_log = read_audit_log(root, log_path, audit_log_tail_bytes)
        except OSError as exc:
            audit_log = {"path": log_path, "exists": True, "size": None, "mtime": None, "last_event_time": None,
                         "error": cause_of(exc)}
            note("audit log %s" % log_path, cause_of(exc))

    authentication = read_config("authentication-config", "authentication configuration",
                                 read_authentication_config, {"valid": False, "anonymous": anonymous_access(None)})
    encryption = read_config("encryption-provider-config", "encryption configuration", read_encryption_config,
                             summarize_encryption_config(None))

    sample = None
    if etcd_sample_size > 0:
        sample = _sample_etcd(root, config, effective, to_host, etcd_endpoint, etcd_sample_size, etcd_post,
                              encryption_prefixes(encryption))
        if sample["error"]:
            note("etcd sample from %s" % (sample["endpoint"] or "etcd"), sample["error"])

    snapshots, failures = read_etcd_snapshots(root, list(snapshot_dirs or config["snapshot_dirs"]))
    for directory, cause in failures:
        note("etcd snapshot directory %s" % directory, cause)

    return {
        "distribution": distribution,
        "apiserver": {"source": config["source"], "flags": config["flags"], "running_flags": running},
        "etcd_flags": config["etcd_flags"],
        "files": files,
        "audit_policy": audit_policy,
        "audit_log": audit_log,
        "encryption_config": encryption,
        "authentication_config": authentication,
        "etcd_sample": sample,
        "etcd_snapshots": snapshots,
        "errors": errors,
    }


def etcd_access(root, config, effective, to_host, endpoint=None, post=None):
    """(endpoint, post, error) for reading the node's etcd with its own client certificate: the endpoint is the
    first --etcd-servers URL unless given; ``post`` (etcd_json_client) unless given (tests); error says why etcd
    cannot be read (no endpoint, kine/SQL datastore, no client certificate)."""
    endpoint = endpoint or _first_url(effective.get("etcd-servers"))
    if not endpoint:
        return endpoint, None, "no etcd endpoint: the apiserver has no --etcd-servers flag and none was given"
    if endpoint.startswith("unix:") or config["datastore"] != "etcd":
        return endpoint, None, ("the datastore is %s, not etcd: raw values cannot be read through etcd's JSON "
                                "gateway" % config["datastore"])
    if post is None:
        candidates = list(config["etcd_clients"])
        if all(effective.get(flag) for flag in ("etcd-certfile", "etcd-keyfile", "etcd-cafile")):
            own = tuple(to_host(effective[flag]) for flag in ("etcd-certfile", "etcd-keyfile", "etcd-cafile"))
            if own not in candidates:
                candidates.append(own)
        client = first_existing_client(root, candidates)
        if client is None:
            return endpoint, None, "no etcd client certificate found (looked for %s)" % ", ".join(
                cert for cert, _key, _ca in candidates)
        try:
            post = etcd_json_client(*(on_host(root, path) for path in client))
        except (OSError, ssl.SSLError) as exc:
            return endpoint, None, "cannot load the etcd client certificate %s: %s" % (client[0], exc)
    return endpoint, post, None


def _sample_etcd(root, config, effective, to_host, endpoint, sample_size, post, known_prefixes):
    endpoint, post, error = etcd_access(root, config, effective, to_host, endpoint, post)
    if error:
        return {"endpoint": endpoint, "error": error, "total_keys": None, "sampled": 0, "prefixes": []}
    return etcd_sample(endpoint, post, sample_size, effective.get("etcd-prefix") or DEFAULT_ETCD_PREFIX,
                       known_prefixes)
