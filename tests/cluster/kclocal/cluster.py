"""Bring the local control plane up, down, and report its status.

Layout of the state directory (``KUBECOMPASS_LOCALCP_DIR``, default ``~/.local/state/kubecompass/localcp``)::

    state.json            what is running: nodes, pids, mount namespaces, host paths created for mount points
    admin.conf            admin kubeconfig (system:masters), pointing at the node (1 node) or at HAProxy (3 nodes)
    inventory.yml         Ansible inventory: the cluster host and its control-plane group reached over SSH
    ssh/                  client key, authorized_keys, known_hosts
    haproxy/              load balancer config and log (3 nodes)
    nodes/<name>/root/    the node's /etc/kubernetes, /var/lib/etcd, /var/log/kubernetes
    nodes/<name>/run/     runner status (pods.json), container logs, kubelet credentials
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kclocal import build, manifests, pki
from kclocal.kube import ApiError, Client
from kclocal.manifests import Node
from kclocal.node import NODE_ROOTS

CLUSTER_DIR = Path(__file__).resolve().parent.parent
SSH_PORT = 2222
LB_IP = "127.0.10.254"
CLUSTER_HOST = "localcp"
CONTROL_PLANE_GROUP = "localcp_control_plane"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
HOST_MOUNTPOINTS = (*NODE_ROOTS, "/run/sshd")
# Every process of the control plane carries this variable, so `down` finds containers whose command lines
# do not mention the state directory.
PROCESS_MARKER = "KUBECOMPASS_LOCALCP"


class ClusterError(Exception):
    """A failure to bring the local control plane up or down, with its cause in one line."""


def state_dir() -> Path:
    default = Path.home() / ".local" / "state" / "kubecompass" / "localcp"
    return Path(os.environ.get("KUBECOMPASS_LOCALCP_DIR", default))


def node_list(count: int) -> list[Node]:
    return [Node(f"kc-cp{i}", f"127.0.10.{i}", f"198.51.100.{i}") for i in range(1, count + 1)]


@dataclass
class Paths:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def admin_conf(self) -> Path:
        return self.root / "admin.conf"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.yml"

    @property
    def ssh(self) -> Path:
        return self.root / "ssh"

    @property
    def admin_pki(self) -> Path:
        return self.root / "admin-pki"

    def node(self, name: str) -> Path:
        return self.root / "nodes" / name


# ----------------------------------------------------------------------------------------------------------------
# Host prerequisites
# ----------------------------------------------------------------------------------------------------------------

DEBIAN_PACKAGES = {"/usr/sbin/sshd": "openssh-server", "/usr/bin/ssh-keygen": "openssh-client",
                   "/usr/sbin/haproxy": "haproxy", "/usr/bin/unshare": "util-linux"}


def ensure_host_packages(need_haproxy: bool) -> None:
    missing = sorted({pkg for path, pkg in DEBIAN_PACKAGES.items()
                      if not Path(path).exists() and (need_haproxy or pkg != "haproxy")})
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ClusterError(f"missing Debian packages {', '.join(missing)}: install them as root "
                           f"(apt-get install {' '.join(missing)})")
    print(f"installing Debian packages: {' '.join(missing)}", file=sys.stderr)
    # Keep the packages' own services from starting on the host: the nodes run their own sshd.
    policy = Path("/usr/sbin/policy-rc.d")
    created_policy = not policy.exists()
    if created_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
            result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise ClusterError(f"{' '.join(cmd)} failed: {result.stderr.strip().splitlines()[-1:]}")
    finally:
        if created_policy:
            policy.unlink()


# ----------------------------------------------------------------------------------------------------------------
# Up
# ----------------------------------------------------------------------------------------------------------------


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _endpoint(nodes: list[Node]) -> str:
    ip = LB_IP if len(nodes) > 1 else nodes[0].ip
    return f"{ip}:{manifests.APISERVER_PORT}"


def write_node(paths: Paths, node: Node, nodes: list[Node], cas: pki.ClusterCAs, bin_dir: Path) -> None:
    node_dir = paths.node(node.name)
    etc = node_dir / "root" / "etc" / "kubernetes"
    extra_ips = (LB_IP,) if len(nodes) > 1 else ()
    pki.write_node_pki(etc / "pki", cas, node.name, node.ip, (node.advertise_ip, *extra_ips))
    for sub in ("var/lib/etcd", "var/log/kubernetes"):
        (node_dir / "root" / sub).mkdir(parents=True, exist_ok=True)
    (node_dir / "root" / "var" / "lib" / "etcd").chmod(0o700)
    ca_pem = cas.ca.cert_pem()
    endpoint = f"https://{_endpoint(nodes)}"
    local = f"https://{node.ip}:{manifests.APISERVER_PORT}"
    for filename, server, user, orgs in (
        ("admin.conf", endpoint, "kubernetes-admin", ("system:masters",)),
        ("controller-manager.conf", local, "system:kube-controller-manager", ()),
        ("scheduler.conf", local, "system:kube-scheduler", ()),
        ("kubelet.conf", local, f"system:node:{node.name}", ("system:nodes",)),
    ):
        pair = pki.client_pair(cas, user, orgs)
        _write(etc / filename, manifests.kubeconfig(server, ca_pem, user, pair.cert_pem(), pair.key_pem()), 0o600)
        if filename == "kubelet.conf":
            run = node_dir / "run"
            run.mkdir(parents=True, exist_ok=True)
            (run / "kubelet-ca.crt").write_bytes(ca_pem)
            (run / "kubelet-client.crt").write_bytes(pair.cert_pem())
            pki.write_private(run / "kubelet-client.key", pair.key_pem())
    manifest_dir = etc / "manifests"
    manifest_dir.mkdir(parents=True, exist_ok=True)
    for component, manifest in manifests.node_manifests(node, nodes).items():
        _write(manifest_dir / f"{component}.yaml", manifests.dump(manifest), 0o600)
    ssh_dir = node_dir / "ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", node.name, "-f", str(ssh_dir / "ssh_host_ed25519_key")])
    _write(ssh_dir / "sshd_config", "\n".join([
        f"Port {SSH_PORT}",
        f"ListenAddress {node.ip}",
        f"HostKey {ssh_dir / 'ssh_host_ed25519_key'}",
        f"PidFile {node_dir / 'run' / 'sshd.pid'}",
        f"AuthorizedKeysFile {paths.ssh / 'authorized_keys'}",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PrintMotd no",
        "Subsystem sftp internal-sftp",
        "",
    ]))
    (node_dir / "node.json").write_text(json.dumps({
        "name": node.name, "ip": node.ip, "bin_dir": str(bin_dir), "kubelet_version": manifests.K8S_VERSION,
        "kubelet_server": local,
    }, indent=1))


def _run(cmd: list[str]) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ClusterError(f"{cmd[0]} failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def write_ssh_client(paths: Paths, nodes: list[Node]) -> None:
    paths.ssh.mkdir(parents=True, exist_ok=True)
    key = paths.ssh / "id_ed25519"
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kubecompass-localcp", "-f", str(key)])
    shutil.copy(key.with_suffix(".pub"), paths.ssh / "authorized_keys")
    lines = []
    for node in nodes:
        host_pub = (paths.node(node.name) / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()
        lines.append(f"[{node.ip}]:{SSH_PORT},{node.name} {host_pub[0]} {host_pub[1]}")
    (paths.ssh / "known_hosts").write_text("\n".join(lines) + "\n")


# Per node (inside its private /etc/kubernetes): where the etcd_snapshots role keeps the snapshots.
ETCD_SNAPSHOT_DIR = "/etc/kubernetes/kubecompass-etcd-snapshots"


def write_inventory(paths: Paths, nodes: list[Node], bin_dir: Path | None = None) -> None:
    ssh_args = (f"-o UserKnownHostsFile={paths.ssh / 'known_hosts'} -o StrictHostKeyChecking=yes "
                "-o ControlMaster=auto -o ControlPersist=60s")
    inventory = {"all": {"children": {
        "k8s_clusters": {"hosts": {CLUSTER_HOST: {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "kubecompass_distribution": "kubeadm",
            "kubecompass_tier": "critical",
            "kubecompass_kubeconfig": str(paths.admin_conf),
            "kubecompass_control_plane_group": CONTROL_PLANE_GROUP,
            # etcd snapshots: the nodes run the etcd release tools from the build cache, and keep the script, its
            # cron file and the snapshots under their own /etc/kubernetes (the rest of / is the host's, shared).
            **({"etcd_snapshots_etcdctl": str(bin_dir / "etcdctl"), "etcd_snapshots_etcdutl": str(bin_dir / "etcdutl")}
               if bin_dir else {}),
            "etcd_snapshots_dir": ETCD_SNAPSHOT_DIR,
            "kubecompass_etcd_snapshot_dirs": [ETCD_SNAPSHOT_DIR],
            "etcd_snapshots_script_path": "/etc/kubernetes/kubecompass-etcd-snapshot",
            "etcd_snapshots_cron_file": "/etc/kubernetes/kubecompass-etcd-snapshot.cron",
            "etcd_snapshots_service_manager": "cron",
            # Keys escrowed through a command (no vault password in the tests): every record appended, 0600.
            "encryption_at_rest_escrow": {"mode": "command", "command": [
                "/bin/sh", "-c", f"umask 077 && cat >> {paths.root / 'escrow.jsonl'}"]},
            # Rig limit: the nodes share one loopback, so --bind-address=127.0.0.1 would give every node's controller
            # manager and scheduler the same socket and the second node's could not bind (rolled back). Several
            # nodes keep their 127.0.10.N bind address; one node takes 127.0.0.1 as a real kubeadm node does.
            **({"apiserver_hardening_component_bind_address": ""} if len(nodes) > 1 else {}),
            # Rig limit: no kubelet runs on the nodes (a runner starts the static pods), so there is no
            # /var/lib/kubelet/config.yaml for control_plane_files to fix (KC-SEC-068/069 stay unknown naming it).
            "control_plane_files_kubelet": False,
        }}},
        CONTROL_PLANE_GROUP: {"hosts": {n.name: {
            "ansible_host": n.ip,
            "ansible_port": SSH_PORT,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(paths.ssh / "id_ed25519"),
            "ansible_ssh_common_args": ssh_args,
            # The nodes share this machine, so the controller's interpreter exists on each of them.
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "kubecompass_node_ip": n.ip,
        } for n in nodes}},
    }}}
    header = "# Generated by tests/cluster/localcp.py up; rewritten on every start.\n"
    _write(paths.inventory, header + yaml.safe_dump(inventory, sort_keys=False))


def write_haproxy(paths: Paths, nodes: list[Node]) -> Path:
    cfg = paths.root / "haproxy" / "haproxy.cfg"
    servers = "\n".join(
        f"    server {n.name} {n.ip}:{manifests.APISERVER_PORT} check check-ssl verify none inter 1s fall 2 rise 2"
        for n in nodes)
    _write(cfg, f"""# As in the kubeadm HA guide (load balancer for the API servers), on loopback.
global
    log stdout format raw local0 warning
    maxconn 2000

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    retries 1

frontend apiserver
    bind {LB_IP}:{manifests.APISERVER_PORT}
    default_backend apiserver

backend apiserver
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    balance roundrobin
{servers}
""")
    return cfg


def _spawn(cmd: list[str], log_path: Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=cwd, env=env)
    return proc.pid


def _ns_inode(pid: int, kind: str = "mnt") -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def admin_client(paths: Paths, timeout: float = 10) -> Client:
    conf = yaml.safe_load(paths.admin_conf.read_text())
    server = conf["clusters"][0]["cluster"]["server"]
    return Client(server, paths.admin_pki / "ca.crt", paths.admin_pki / "admin.crt", paths.admin_pki / "admin.key",
                  timeout=timeout)


def wait_for(what: str, predicate: Any, timeout: float, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except (ApiError, OSError, ValueError, KeyError) as exc:
            last_error = exc
        time.sleep(interval)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}" +
                       (f" (last error: {last_error})" if last_error else ""))


def bootstrap(paths: Paths, nodes: list[Node]) -> None:
    """What kubeadm's post-init phases do with admin credentials: config upload, control-plane marks, RBAC."""
    client = admin_client(paths)
    endpoint = _endpoint(nodes)
    client.create_or_get("/api/v1/namespaces/kube-system/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": {"ClusterConfiguration": manifests.cluster_configuration(endpoint)},
    })
    kubeconfig_public = yaml.safe_load(paths.admin_conf.read_text())
    kubeconfig_public["users"], kubeconfig_public["contexts"] = [], []
    kubeconfig_public["current-context"] = ""
    client.create_or_get("/api/v1/namespaces/kube-public/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info", "namespace": "kube-public"},
        "data": {"kubeconfig": yaml.safe_dump(kubeconfig_public)},
    })
    client.create_or_get("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "kubeadm:cluster-admins"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "kubeadm:cluster-admins"}],
    })
    for node in nodes:
        wait_for(f"node {node.name} to register", lambda n=node: client.request("GET", f"/api/v1/nodes/{n.name}"), 120)
        client.request("PATCH", f"/api/v1/nodes/{node.name}", {"metadata": {"labels": {
            "node-role.kubernetes.io/control-plane": "",
            "node.kubernetes.io/exclude-from-external-load-balancers": ""}}}, "application/merge-patch+json")


def mirror_pods_running(client: Client, nodes: list[Node]) -> bool:
    pods = client.request("GET", "/api/v1/namespaces/kube-system/pods")["items"]
    running = {p["metadata"]["name"] for p in pods if (p.get("status") or {}).get("phase") == "Running"}
    return all(f"{c}-{n.name}" in running for c in COMPONENTS for n in nodes)


def endpoints_complete(client: Client, nodes: list[Node]) -> bool:
    slices = client.request("GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
                                   "?labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes")["items"]
    addresses = {a for s in slices for e in s.get("endpoints") or [] for a in e.get("addresses") or []}
    return addresses == {n.advertise_ip for n in nodes}


def read_state(paths: Paths) -> dict[str, Any] | None:
    try:
        return json.loads(paths.state.read_text())
    except (OSError, ValueError):
        return None


def _reap(pid: int) -> None:
    """Collect the exit status of a process `up` started from this same process (the test fixture does)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    _reap(pid)
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def is_running(paths: Paths) -> bool:
    state = read_state(paths)
    return bool(state) and all(_alive(n.get("supervisor_pid")) for n in state["nodes"])


def up(node_count: int, timeout: float = 300) -> dict[str, Any]:
    if node_count not in (1, 3):
        raise ClusterError(f"--nodes must be 1 or 3, not {node_count}")
    paths = Paths(state_dir())
    state = read_state(paths)
    if state and is_running(paths):
        if len(state["nodes"]) == node_count:
            return state
        raise ClusterError(f"the local control plane is already running with {len(state['nodes'])} node(s); "
                           "run `down` first")
    if state:
        down()
    nodes = node_list(node_count)
    ensure_host_packages(need_haproxy=node_count > 1)
    bin_dir = build.ensure_binaries()
    if paths.root.exists():
        shutil.rmtree(paths.root)
    paths.root.mkdir(parents=True)
    paths.root.chmod(0o700)

    cas = pki.ClusterCAs.generate()
    for node in nodes:
        write_node(paths, node, nodes, cas, bin_dir)
    admin = pki.client_pair(cas, "kubernetes-admin", ("system:masters",))
    pki.write_pair(paths.admin_pki, "admin", admin)
    (paths.admin_pki / "ca.crt").write_bytes(cas.ca.cert_pem())
    (paths.admin_pki / "etcd-ca.crt").write_bytes(cas.etcd_ca.cert_pem())
    admin_conf = manifests.kubeconfig(f"https://{_endpoint(nodes)}", cas.ca.cert_pem(), "kubernetes-admin",
                                      admin.cert_pem(), admin.key_pem())
    _write(paths.admin_conf, admin_conf, 0o600)
    write_ssh_client(paths, nodes)

    created = []
    for mountpoint in HOST_MOUNTPOINTS:
        if not Path(mountpoint).exists():
            Path(mountpoint).mkdir(parents=True)
            created.append(mountpoint)
    state = {"nodes": [], "created_mountpoints": created, "haproxy_pid": None, "bin_dir": str(bin_dir),
             "started": time.time()}
    env = {**os.environ, "PYTHONPATH": str(CLUSTER_DIR), PROCESS_MARKER: str(paths.root)}
    for node in nodes:
        node_dir = paths.node(node.name)
        pid = _spawn(["unshare", "--mount", "--uts", "--propagation", "private", "--",
                      sys.executable, "-m", "kclocal.node", "supervise", str(node_dir)],
                     node_dir / "supervisor.log", cwd=CLUSTER_DIR, env=env)
        state["nodes"].append({"name": node.name, "ip": node.ip, "supervisor_pid": pid})
    paths.state.write_text(json.dumps(state, indent=1))
    if node_count > 1:
        cfg = write_haproxy(paths, nodes)
        state["haproxy_pid"] = _spawn(["/usr/sbin/haproxy", "-db", "-f", str(cfg)], cfg.parent / "haproxy.log",
                                      env=env)
    time.sleep(0.5)
    for entry in state["nodes"]:
        entry["mnt_ns"] = _ns_inode(entry["supervisor_pid"])
    paths.state.write_text(json.dumps(state, indent=1))

    try:
        client = admin_client(paths, timeout=5)
        deadline = time.monotonic() + timeout
        wait_for("/readyz through the admin kubeconfig", lambda: client.text("/readyz") == "ok", timeout)
        bootstrap(paths, nodes)
        wait_for("control-plane mirror pods to run", lambda: mirror_pods_running(client, nodes),
                 max(deadline - time.monotonic(), 30))
        wait_for("every apiserver in the kubernetes EndpointSlice", lambda: endpoints_complete(client, nodes),
                 max(deadline - time.monotonic(), 30))
    except ClusterError as exc:
        down()  # never leave a half-started control plane running
        raise ClusterError(f"{exc}; node logs under {paths.root / 'nodes'}") from None
    write_inventory(paths, nodes, bin_dir)
    state["ready"] = time.time()
    paths.state.write_text(json.dumps(state, indent=1))
    return state


# ----------------------------------------------------------------------------------------------------------------
# Down and status
# ----------------------------------------------------------------------------------------------------------------


def _pids_in(predicate: Any) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if predicate(int(entry)):
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def leftover_pids(paths: Paths, state: dict[str, Any] | None) -> list[int]:
    """Every process that belongs to the local control plane: in a node's mount namespace or started from it."""
    namespaces = {n.get("mnt_ns") for n in (state or {}).get("nodes", []) if n.get("mnt_ns")}
    root = str(paths.root)
    marker = f"{PROCESS_MARKER}={root}".encode()

    def ours(pid: int) -> bool:
        if namespaces and _ns_inode(pid) in namespaces:
            return True
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if root in handle.read().decode(errors="replace"):
                return True
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return marker in handle.read().split(b"\0")

    return _pids_in(ours)


def down(timeout: float = 40) -> list[str]:
    """Stop everything; return what could not be cleaned (empty when clean)."""
    paths = Paths(state_dir())
    state = read_state(paths)
    if state:
        for entry in state["nodes"]:
            if _alive(entry.get("supervisor_pid")):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(entry["supervisor_pid"], signal.SIGTERM)
        if state.get("haproxy_pid") and _alive(state["haproxy_pid"]):
            os.kill(state["haproxy_pid"], signal.SIGTERM)
        # Velero (`up --velero`, kclocal.velero) and its plugins: one process group.
        velero_pid = (state.get("velero") or {}).get("pid")
        if _alive(velero_pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(velero_pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(n.get("supervisor_pid")) for n in state["nodes"]):
            time.sleep(0.2)
    for pid in leftover_pids(paths, state):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    problems = [f"process {pid} still running" for pid in leftover_pids(paths, state)]
    for mountpoint in (state or {}).get("created_mountpoints", []):
        path = Path(mountpoint)
        try:
            path.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            problems.append(f"could not remove {mountpoint}: {exc.strerror}")
    with open("/proc/self/mountinfo") as handle:
        problems += [f"mount left: {line.split()[4]}" for line in handle if str(paths.root) in line]
    if paths.state.exists():
        paths.state.unlink()
    return problems


def status() -> dict[str, Any]:
    paths = Paths(state_dir())
    state = read_state(paths)
    if not state:
        return {"running": False, "state_dir": str(paths.root)}
    result: dict[str, Any] = {"running": is_running(paths), "state_dir": str(paths.root),
                              "admin_kubeconfig": str(paths.admin_conf), "inventory": str(paths.inventory),
                              "nodes": []}
    for entry in state["nodes"]:
        pods_file = paths.node(entry["name"]) / "run" / "pods.json"
        try:
            pods = json.loads(pods_file.read_text())
        except (OSError, ValueError):
            pods = {}
        result["nodes"].append({
            "name": entry["name"], "ip": entry["ip"], "supervisor": _alive(entry.get("supervisor_pid")),
            "pods": {f: {"phase": p["phase"], "ready": p["ready"], "restarts": p["restart_count"], "pid": p["pid"]}
                     for f, p in pods.items()},
        })
    if state.get("velero"):
        result["velero"] = {**state["velero"], "running": _alive(state["velero"].get("pid"))}
    try:
        result["readyz"] = admin_client(paths, timeout=5).text("/readyz")
    except (ApiError, OSError) as exc:
        result["readyz"] = f"unreachable: {exc}"
    return result
