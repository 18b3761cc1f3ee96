# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""How a control-plane node configures its kube-apiserver: the kubeadm static pod manifests, the RKE2/k3s
config files merged as the server merges them (and the flags it derives from them), the running
process's flags, the authentication configuration file."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import os

from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import parse_flags
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SELF_MANAGED
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import (
    DocumentError,
    cause_of,
    is_missing,
    on_host,
    read_document,
)

# The distributions whose nodes are read here.
DISTRIBUTIONS = SELF_MANAGED

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

# pflag StringSlice/StringArray/map flags accumulate repeated occurrences (the first replaces the default, later
# ones append) instead of keeping the last one. RKE2/k3s produce repeats for `flag+=value` and for a flag listed in
# several config files; a last-wins reading would drop NodeRestriction from `enable-admission-plugins`.
# Flags that tell one kube-apiserver from another on a host running several (the local control plane runs every
# node's processes in one PID namespace).
IDENTITY_FLAGS = ("advertise-address", "bind-address", "secure-port", "etcd-servers")
# The components whose flags node facts carry besides the apiserver: {component: (facts key, identity flags)}.
COMPONENTS = {
    "kube-controller-manager": ("controller_manager", ("bind-address", "secure-port", "kubeconfig")),
    "kube-scheduler": ("scheduler", ("bind-address", "secure-port", "kubeconfig")),
}


def to_string(value):
    """A config value as k3s's convert.ToString renders it (booleans lower case, null empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_list(value):
    """k3s configfilearg toSlice: a string is one item, a list stays, other scalars become one item unless empty."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [value]
    text = to_string(value).strip()
    return [text] if text else []


def truthy(value):
    # urfave/cli bool flags go through strconv.ParseBool.
    return to_string(value).strip().lower() in ("1", "t", "true")


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


def _read_static_pod(root, path, errors):
    """The Pod at ``path``, or None when it is missing or unreadable (then noted in ``errors``)."""
    try:
        exists, pod = read_document(root, path)
    except (OSError, DocumentError) as exc:
        errors.append({"what": "static pod manifest %s" % path, "cause": cause_of(exc)})
        return None
    if exists and not isinstance(pod, dict):
        errors.append({"what": "static pod manifest %s" % path, "cause": "not a Pod object"})
        return None
    return pod if exists else None


def read_static_pod_flags(root, directory, component, errors):
    """{"source": manifest path, "flags": flags or None, "missing": why there are none} of a component's static
    pod manifest in ``directory``."""
    path = "%s/%s.yaml" % (directory, component)
    before = len(errors)
    pod = _read_static_pod(root, path, errors)
    if pod is None:
        cause = errors[before]["cause"] if len(errors) > before else "does not exist"
        return {"source": path, "flags": None, "missing": "%s %s" % (path, cause)}
    return {"source": path, "flags": parse_flags(pod_argv(pod, component)), "missing": None}


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
    config["components"] = {component: read_static_pod_flags(root, KUBEADM_MANIFESTS, component, config["errors"])
                            for component in COMPONENTS}
    for path, component in ((apiserver_manifest, "kube-apiserver"), (etcd_manifest, "etcd")):
        pod = _read_static_pod(root, path, config["errors"])
        if pod is None:
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
            key = to_string(raw_key)
            append = key.endswith("+")
            if append:
                key = key[:-1]
            if append and key in values:
                values[key] = list(to_list(values[key])) + list(to_list(value))
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
        if is_missing(exc):
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
    return [to_string(item)[2:] if to_string(item).startswith("--") else to_string(item)
            for item in to_list(values.get(key))]


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
    endpoint = to_string(values.get("datastore-endpoint")).strip()
    if endpoint:
        if endpoint.split("://", 1)[0] in ("http", "https") and "://" in endpoint:
            flags = {"etcd-servers": _redact_userinfo(endpoint)}
            for option, flag in (("datastore-cafile", "etcd-cafile"), ("datastore-certfile", "etcd-certfile"),
                                 ("datastore-keyfile", "etcd-keyfile")):
                if values.get(option):
                    flags[flag] = to_string(values[option])
            return "etcd", flags
        # kine serves the apiserver from SQL; where it listens is kine's business, so no etcd flags are claimed.
        return "kine (%s)" % endpoint.split(":", 1)[0], {}
    server_dir = data_dir + "/server"
    embedded = (distribution == "rke2" or truthy(values.get("cluster-init")) or bool(values.get("server"))
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
    if distribution == "rke2" or truthy(values.get("secrets-encryption")):
        defaults["encryption-provider-config"] = server_dir + "/cred/encryption-config.json"
        defaults["encryption-provider-config-automatic-reload"] = "true"
    defaults.update(rancher_datastore(distribution, values, root, data_dir)[1])
    args = k3s_get_args(defaults, extra)
    if distribution == "rke2":
        policy = to_string(values.get("audit-policy-file")).strip()
        if not policy and to_string(values.get("profile")).startswith("cis"):
            policy = RKE2_CIS_AUDIT_POLICY
        if policy:
            audit_log = parse_flags(args).get("audit-log-path")
            prefix = ["--audit-policy-file=" + policy, "--audit-log-maxage=30", "--audit-log-maxbackup=10",
                      "--audit-log-maxsize=100"]
            if not audit_log:
                prefix.append("--audit-log-path=" + server_dir + "/logs/audit.log")
            args = prefix + args
    return ["kube-apiserver"] + args


# k3s pkg/daemons/control/server.go controllerManager() and scheduler(): the defaults of the flags our checks read
# (bind-address is cfg.Loopback(false): ::1 on an IPv6-only server, which this reading does not model). RKE2 passes
# the same arguments into its static pods.
RANCHER_COMPONENT_DEFAULTS = {
    "kube-controller-manager": {"profiling": "false", "bind-address": "127.0.0.1", "secure-port": "10257"},
    "kube-scheduler": {"profiling": "false", "bind-address": "127.0.0.1", "secure-port": "10259"},
}


def rancher_arg_key(component):
    """The config option that passes flags to ``component``: kube-apiserver-arg, kube-scheduler-arg..."""
    return component + "-arg"


def rancher_component_argv(component, values):
    """kube-controller-manager or kube-scheduler argv as an RKE2/k3s server would start it from these config values
    (the defaults above, then the ``<component>-arg`` list merged as k3s_get_args does)."""
    return [component] + k3s_get_args(RANCHER_COMPONENT_DEFAULTS[component],
                                      _arg_list(values, rancher_arg_key(component)))


def read_rancher_config(root, distribution):
    """Configured flags of an RKE2 or k3s server from /etc/rancher/<dist>/config.yaml(.d) and the built-in
    defaults (see rancher_apiserver_argv)."""
    layout = RANCHER[distribution]
    values, read, errors = read_rancher_config_values(root, layout["config"])
    data_dir = to_string(values.get("data-dir")).rstrip("/") or layout["data_dir"]
    server_dir = data_dir + "/server"
    datastore = rancher_datastore(distribution, values, root, data_dir)[0]
    flags = parse_flags(rancher_apiserver_argv(distribution, values, root, data_dir))
    etcd_flags = None
    if datastore == "etcd":
        etcd_flags = parse_flags(["--" + arg for arg in _arg_list(values, "etcd-arg")])
    snapshot_dir = to_string(values.get("etcd-snapshot-dir")).rstrip("/") or server_dir + "/db/snapshots"
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
    if distribution == "rke2":
        # RKE2 renders these static pods from its config and defaults: the manifest is what the kubelet runs.
        components = {c: read_static_pod_flags(root, data_dir + "/agent/pod-manifests", c, errors)
                      for c in COMPONENTS}
    else:
        # k3s runs them inside its own process: their flags as k3s builds them, read as the API server's are (and
        # as rancher_apiserver_config plans them).
        components = {c: {"source": "%s + k3s built-in defaults" % source,
                          "flags": parse_flags(rancher_component_argv(c, values)), "missing": None}
                      for c in COMPONENTS}
    return {"source": "%s + %s built-in defaults" % (source, distribution), "flags": flags,
            "components": components,
            "etcd_flags": etcd_flags, "pod": None, "errors": errors, "datastore": datastore,
            "snapshot_dirs": [snapshot_dir], "files": files, "etcd_clients": pairs,
            "cert_dirs": [server_dir + "/tls", server_dir + "/tls/etcd"]}


# -- running apiserver ---------------------------------------------------------------------------------------------

def read_running_apiserver_flags(proc, configured=None):
    """(flags, error) of the kube-apiserver process on this host (see read_running_flags)."""
    return read_running_flags(proc, "kube-apiserver", configured)


def read_running_flags(proc, component, configured=None):
    """(flags, error) of the ``component`` process on this host, from /proc/<pid>/cmdline.

    (None, None) when no such process runs. When several run (a host carrying several nodes), the one whose
    identity flags (address, port, etcd) match the configured flags is taken; an ambiguous match is an error.
    """
    identity = COMPONENTS[component][1] if component in COMPONENTS else IDENTITY_FLAGS
    comm = component[:15].encode()  # the kernel keeps 15 characters: "kube-controller"
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
                if handle.read().strip() != comm:
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
    scored = sorted(((sum(1 for name in identity
                          if configured.get(name) is not None and flags.get(name) == configured.get(name)), pid, flags)
                     for pid, flags in candidates), key=lambda item: (-item[0], item[1]))
    if scored[0][0] > 0 and scored[0][0] > scored[1][0]:
        return scored[0][2], None
    return None, "%d %s processes run on this host and none matches the configured %s alone" % (
        len(candidates), component, "/".join(identity))


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
