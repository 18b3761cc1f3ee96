"""One control-plane node: its own mount namespace, an sshd on its own loopback address, and a static-pod runner.

Run as ``unshare --mount --propagation private python -m kclocal.node supervise NODE_DIR``. Inside that mount
namespace the node's private directories (``NODE_ROOTS``) are bind-mounted from ``NODE_DIR/root``, so every
process of the node -- sshd and the sessions Ansible opens through it, and the static pods -- sees its own
``/etc/kubernetes``.

The runner does what kubelet does with ``/etc/kubernetes/manifests``: every regular file whose name does not
start with a dot is a Pod; a new, changed or removed file starts, restarts or stops it; a crashing container is
restarted with back-off; startup, liveness and readiness probes run as kubelet runs them; and a mirror pod
``<name>-<node>`` in the API reflects the manifest, with the node registered and its lease renewed.

Each container runs in a mount namespace of its own in which the node's private directories are replaced by
empty tmpfs and only the Pod's hostPath volumes are bound in, so a flag pointing at a file the manifest does
not mount fails exactly as it would under kubelet.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kclocal.kube import ApiError, Client

NODE_ROOTS = ("/etc/kubernetes", "/var/lib/etcd", "/var/log/kubernetes")
MANIFESTS = Path("/etc/kubernetes/manifests")
SCAN_INTERVAL = 1.0
API_SYNC_INTERVAL = 2.0
MIRROR_RESYNC = 10.0
LEASE_DURATION = 40
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 20.0
BACKOFF_RESET_AFTER = 60.0
STOP_GRACE = 10.0
PROBE_TIMEOUT_MAX = 3.0


def log(node: str, message: str) -> None:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    print(f"{stamp} {node} {message}", flush=True)


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------------------------------------------
# Container start: runs inside a fresh mount namespace, arranges the Pod's volumes, then execs the binary.
# --------------------------------------------------------------------------------------------------------------

_MS_RDONLY = 1
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                    data.encode() if data else None)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def exec_container(spec_json: str) -> None:
    spec = json.loads(spec_json)
    for root in spec["roots"]:
        _mount("tmpfs", root, "tmpfs", 0, "mode=0755,size=16m")
    for mount in spec["mounts"]:
        target = Path(mount["target"])
        if mount["is_file"]:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch(exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
        _mount(mount["source"], str(target), None, _MS_BIND | _MS_REC)
        if mount["read_only"]:
            _mount("none", str(target), None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)
    os.execv(spec["binary"], spec["argv"])


# --------------------------------------------------------------------------------------------------------------
# Pod workers
# --------------------------------------------------------------------------------------------------------------


class PodStartError(Exception):
    """The container cannot be created (kubelet: CreateContainerConfigError / hostPath type check failed)."""


@dataclass
class PodStatus:
    phase: str = "Pending"
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    pid: int | None = None
    running_since: str | None = None
    last_exit_code: int | None = None
    last_reason: str | None = None
    waiting_reason: str | None = "ContainerCreating"
    message: str | None = None


@dataclass
class PodFile:
    filename: str
    content_hash: str
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest.get("metadata", {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.manifest.get("metadata", {}).get("namespace") or "default")


class PodWorker(threading.Thread):
    """Runs one Pod (its first container) for as long as its manifest file exists unchanged."""

    def __init__(self, node: Node, pod: PodFile):
        super().__init__(name=f"pod-{pod.filename}", daemon=True)
        self.node = node
        self.pod = pod
        self.status = PodStatus()
        self.stop_event = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def run(self) -> None:
        backoff = BACKOFF_INITIAL
        while not self.stop_event.is_set():
            started_at = time.monotonic()
            try:
                self._start()
            except PodStartError as exc:
                self._set(waiting_reason="CreateContainerError", message=str(exc), phase="Pending", ready=False)
                log(self.node.name, f"{self.pod.filename}: cannot start: {exc}")
            else:
                reason = self._supervise()
                if self.stop_event.is_set():
                    break
                code = self.process.returncode if self.process else None
                self._set(last_exit_code=code, last_reason=reason, ready=False, started=False, pid=None,
                          waiting_reason="CrashLoopBackOff", running_since=None,
                          restart_count=self.status.restart_count + 1)
                log(self.node.name, f"{self.pod.filename}: container exited ({reason}, code {code}); "
                                    f"restart in {backoff:.0f}s")
            if time.monotonic() - started_at > BACKOFF_RESET_AFTER:
                backoff = BACKOFF_INITIAL
            if self.stop_event.wait(backoff):
                break
            backoff = min(backoff * 2, BACKOFF_MAX)
        self._terminate()

    def stop(self) -> None:
        self.stop_event.set()
        self._terminate()

    def _set(self, **changes: Any) -> None:
        with self.lock:
            for key, value in changes.items():
                setattr(self.status, key, value)
        self.node.status_changed.set()

    # -- start -------------------------------------------------------------------------------------------------

    def _container(self) -> dict[str, Any]:
        containers = self.pod.manifest.get("spec", {}).get("containers") or []
        if not containers:
            raise PodStartError("pod has no containers")
        return containers[0]

    def _mounts(self, container: dict[str, Any]) -> list[dict[str, Any]]:
        volumes = {v.get("name"): v for v in self.pod.manifest.get("spec", {}).get("volumes") or []}
        mounts = []
        for vm in container.get("volumeMounts") or []:
            volume = volumes.get(vm.get("name"))
            if volume is None or "hostPath" not in volume:
                raise PodStartError(f"volumeMount {vm.get('name')!r} has no hostPath volume")
            host_path = volume["hostPath"]["path"]
            vtype = volume["hostPath"].get("type") or ""
            node_path = Path(host_path)
            private = any(host_path == r or host_path.startswith(r + "/") for r in NODE_ROOTS)
            exists = node_path.exists()
            if not exists:
                if vtype in ("Directory", "File", "Socket", "CharDevice", "BlockDevice"):
                    raise PodStartError(f"hostPath type check failed: {host_path} is not a {vtype}")
                if not private:
                    # Creating host directories outside the node's own tree would leak past `down`.
                    log(self.node.name, f"{self.pod.filename}: skipping missing host path {host_path}")
                    continue
                if vtype == "FileOrCreate":
                    node_path.parent.mkdir(parents=True, exist_ok=True)
                    node_path.touch()
                else:
                    node_path.mkdir(parents=True, exist_ok=True)
            elif vtype == "Directory" and not node_path.is_dir() or vtype == "File" and not node_path.is_file():
                raise PodStartError(f"hostPath type check failed: {host_path} is not a {vtype}")
            source = str(self.node.root / host_path.lstrip("/")) if private else host_path
            mount_path = vm["mountPath"]
            if not private and mount_path == host_path and not vm.get("readOnly"):
                continue
            mounts.append({"source": source, "target": mount_path, "is_file": node_path.is_file(),
                           "read_only": bool(vm.get("readOnly"))})
        return mounts

    def _start(self) -> None:
        container = self._container()
        argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        if not argv:
            raise PodStartError("container has no command")
        binary = argv[0] if argv[0].startswith("/") else str(self.node.bin_dir / argv[0])
        if not os.access(binary, os.X_OK):
            raise PodStartError(f"executable not found: {argv[0]}")
        spec = {"roots": list(NODE_ROOTS), "mounts": self._mounts(container), "binary": binary, "argv": argv}
        log_path = self.node.logs / f"{self.pod.filename}.log"
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--",
                 sys.executable, "-m", "kclocal.node", "exec", json.dumps(spec)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                cwd="/", env=self.node.container_env(container),
            )
        self._set(pid=self.process.pid, phase="Running", started=False, ready=False, waiting_reason=None,
                  message=None, running_since=now_rfc3339())
        log(self.node.name, f"{self.pod.filename}: started pid {self.process.pid}")

    # -- probes ------------------------------------------------------------------------------------------------

    def _probe_ok(self, probe: dict[str, Any]) -> bool:
        http = probe.get("httpGet")
        if not http:
            return True  # exec/tcp probes are not used by kubeadm's manifests
        scheme = str(http.get("scheme", "HTTP")).lower()
        host = http.get("host") or self.node.ip
        url = f"{scheme}://{host}:{http.get('port')}{http.get('path', '/')}"
        context = ssl._create_unverified_context()  # kubelet does not verify probe certificates either
        timeout = min(float(probe.get("timeoutSeconds", 1)), PROBE_TIMEOUT_MAX)
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
                return 200 <= response.status < 400
        except urllib.error.HTTPError as exc:
            return 200 <= exc.code < 400
        except (OSError, ValueError):
            return False

    def _supervise(self) -> str:
        """Watch the running container; return why it ended (Error, or a probe kill)."""
        container = self._container()
        startup = container.get("startupProbe")
        liveness = container.get("livenessProbe")
        readiness = container.get("readinessProbe")
        t0 = time.monotonic()
        next_due: dict[str, float] = {}
        failures: dict[str, int] = {"startup": 0, "liveness": 0, "readiness": 0}
        started = startup is None
        self._set(started=started)
        assert self.process is not None
        while not self.stop_event.is_set():
            if self.process.poll() is not None:
                return "Error" if self.process.returncode else "Completed"
            elapsed = time.monotonic() - t0
            for kind, probe in (("startup", startup), ("liveness", liveness), ("readiness", readiness)):
                if probe is None or (kind == "startup" and started) or (kind != "startup" and not started):
                    continue
                due = next_due.get(kind, float(probe.get("initialDelaySeconds", 0)))
                if elapsed < due:
                    continue
                next_due[kind] = elapsed + float(probe.get("periodSeconds", 10))
                ok = self._probe_ok(probe)
                failures[kind] = 0 if ok else failures[kind] + 1
                if kind == "startup" and ok:
                    started = True
                    self._set(started=True, ready=readiness is None)
                    next_due.pop("liveness", None)
                    next_due.pop("readiness", None)
                elif kind == "readiness":
                    self._set(ready=ok)
                elif not ok and failures[kind] >= int(probe.get("failureThreshold", 3)):
                    log(self.node.name, f"{self.pod.filename}: {kind} probe failed {failures[kind]} times; killing")
                    self._terminate()
                    return f"{kind.capitalize()}ProbeFailed"
            if started and readiness is None and liveness is None:
                self._set(ready=True)
            self.stop_event.wait(0.5)
        return "Stopped"

    def _terminate(self) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def snapshot(self) -> PodStatus:
        with self.lock:
            return PodStatus(**self.status.__dict__)


# --------------------------------------------------------------------------------------------------------------
# The API side of kubelet: node registration, lease, mirror pods
# --------------------------------------------------------------------------------------------------------------


class MirrorSync(threading.Thread):
    def __init__(self, node: Node):
        super().__init__(name="mirror-sync", daemon=True)
        self.node = node
        self.client = node.kubelet_client()
        self.node_uid: str | None = None
        self.last_lease = 0.0
        self.last_node_status = 0.0
        self.warned: set[str] = set()

    def run(self) -> None:
        last_pods_sync = 0.0
        while not self.node.stopping.is_set():
            changed = self.node.status_changed.is_set()
            self.node.status_changed.clear()
            try:
                self.register_node()
                self.renew_lease()
                # Like kubelet: react to local changes at once, and resync (recreate deleted mirror pods) periodically.
                if changed or time.monotonic() - last_pods_sync > MIRROR_RESYNC:
                    self.sync_mirror_pods()
                    last_pods_sync = time.monotonic()
            except (ApiError, OSError, ValueError) as exc:
                self.node.status_changed.set()  # retry soon
                key = str(exc)[:80]
                if key not in self.warned:
                    self.warned.add(key)
                    log(self.node.name, f"api sync: {exc}")
            self.node.status_changed.wait(API_SYNC_INTERVAL)

    def register_node(self) -> None:
        name = self.node.name
        if self.node_uid is None:
            try:
                self.node_uid = self.client.request("GET", f"/api/v1/nodes/{name}")["metadata"]["uid"]
            except ApiError as exc:
                if exc.status != 404:
                    raise
                body = {
                    "apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": name, "labels": {
                        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                        "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"},
                        "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
                    "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]},
                }
                self.node_uid = self.client.request("POST", "/api/v1/nodes", body)["metadata"]["uid"]
                self.last_node_status = 0.0
        if time.monotonic() - self.last_node_status > 60:
            self.post_node_status()
            self.last_node_status = time.monotonic()

    def post_node_status(self) -> None:
        stamp = now_rfc3339()
        conditions = [
            {"type": t, "status": "False", "reason": r, "message": m, "lastHeartbeatTime": stamp,
             "lastTransitionTime": stamp}
            for t, r, m in (("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory"),
                            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))
        ]
        conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                           "message": "kubelet is posting ready status", "lastHeartbeatTime": stamp,
                           "lastTransitionTime": stamp})
        status = {
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": self.node.ip}, {"type": "Hostname", "address": self.node.name}],
            "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"},
            "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"},
            "nodeInfo": {"kubeletVersion": self.node.kubelet_version, "kubeProxyVersion": "", "operatingSystem": "linux",
                         "architecture": "amd64", "containerRuntimeVersion": "kubecompass-static-pod-runner://0.1.0",
                         "osImage": "KubeCompass local control plane", "kernelVersion": os.uname().release,
                         "machineID": "", "systemUUID": "", "bootID": ""},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        }
        self.client.request("PATCH", f"/api/v1/nodes/{self.node.name}/status", {"status": status},
                            "application/strategic-merge-patch+json")

    def renew_lease(self) -> None:
        if time.monotonic() - self.last_lease < 10:
            return
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node.name}"
        spec = {"holderIdentity": self.node.name, "leaseDurationSeconds": LEASE_DURATION, "renewTime": now_micro()}
        try:
            lease = self.client.request("GET", path)
            lease["spec"].update(spec)
            self.client.request("PUT", path, lease)
        except ApiError as exc:
            if exc.status != 404:
                raise
            owner = [{"apiVersion": "v1", "kind": "Node", "name": self.node.name, "uid": self.node_uid}]
            self.client.request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.node.name, "namespace": "kube-node-lease", "ownerReferences": owner},
                "spec": spec})
        self.last_lease = time.monotonic()

    def desired_mirrors(self) -> dict[tuple[str, str], tuple[PodFile, PodWorker]]:
        desired: dict[tuple[str, str], tuple[PodFile, PodWorker]] = {}
        for filename in sorted(self.node.workers):
            worker = self.node.workers[filename]
            pod = worker.pod
            key = (pod.namespace, f"{pod.name}-{self.node.name}")
            if key in desired:
                # kubelet keeps the first of two static pods with one full name; the process still runs here.
                log_key = f"duplicate:{filename}"
                if log_key not in self.warned:
                    self.warned.add(log_key)
                    log(self.node.name, f"{filename}: duplicate pod full name {key[1]}; no mirror pod")
                continue
            desired[key] = (pod, worker)
        return desired

    def sync_mirror_pods(self) -> None:
        desired = self.desired_mirrors()
        selector = urllib.parse.quote(f"spec.nodeName={self.node.name}")
        existing = self.client.request("GET", f"/api/v1/pods?fieldSelector={selector}")["items"]
        for pod in existing:
            meta = pod["metadata"]
            annotations = meta.get("annotations") or {}
            if "kubernetes.io/config.mirror" not in annotations:
                continue
            key = (meta["namespace"], meta["name"])
            wanted = desired.get(key)
            if wanted and annotations.get("kubernetes.io/config.hash") == wanted[0].content_hash:
                self.update_status(pod, wanted[1])
                desired.pop(key)
                continue
            self.client.request("DELETE", f"/api/v1/namespaces/{key[0]}/pods/{key[1]}",
                                {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                                 "preconditions": {"uid": meta["uid"]}})
        for (namespace, name), (podfile, worker) in desired.items():
            created = self.client.request("POST", f"/api/v1/namespaces/{namespace}/pods",
                                          self.mirror_body(podfile, name, namespace))
            self.update_status(created, worker)

    def mirror_body(self, podfile: PodFile, name: str, namespace: str) -> dict[str, Any]:
        manifest = json.loads(json.dumps(podfile.manifest))
        meta = manifest.get("metadata") or {}
        annotations = dict(meta.get("annotations") or {})
        annotations.update({
            "kubernetes.io/config.hash": podfile.content_hash,
            "kubernetes.io/config.mirror": podfile.content_hash,
            "kubernetes.io/config.seen": now_micro(),
            "kubernetes.io/config.source": "file",
        })
        spec = manifest.get("spec") or {}
        spec["nodeName"] = self.node.name
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": meta.get("labels") or {},
                         "annotations": annotations,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.node.name,
                                              "uid": self.node_uid, "controller": True}]},
            "spec": spec,
        }

    def update_status(self, pod: dict[str, Any], worker: PodWorker) -> None:
        st = worker.snapshot()
        container = (pod["spec"].get("containers") or [{}])[0]
        if st.phase == "Running" and st.pid is not None:
            state: dict[str, Any] = {"running": {"startedAt": st.running_since}}
        else:
            state = {"waiting": {"reason": st.waiting_reason or "ContainerCreating",
                                 **({"message": st.message} if st.message else {})}}
        cstatus: dict[str, Any] = {
            "name": container.get("name", "container"), "image": container.get("image", ""), "imageID": "",
            "ready": st.ready, "started": st.started, "restartCount": st.restart_count, "state": state,
            "containerID": f"process://{st.pid}" if st.pid else "",
        }
        if st.last_exit_code is not None:
            cstatus["lastState"] = {"terminated": {"exitCode": st.last_exit_code, "reason": st.last_reason or "Error",
                                                   "startedAt": None, "finishedAt": None}}
        ready = "True" if st.ready else "False"
        current = pod.get("status") or {}
        old_conditions = {c["type"]: c for c in current.get("conditions") or []}
        conditions = []
        for ctype, value in (("Initialized", "True"), ("PodScheduled", "True"), ("Ready", ready),
                             ("ContainersReady", ready)):
            previous = old_conditions.get(ctype)
            since = previous["lastTransitionTime"] if previous and previous.get("status") == value else now_rfc3339()
            conditions.append({"type": ctype, "status": value, "lastTransitionTime": since, "lastProbeTime": None})
        status = {
            "phase": "Running" if st.phase == "Running" else "Pending",
            "conditions": conditions,
            "hostIP": self.node.ip, "hostIPs": [{"ip": self.node.ip}],
            "podIP": self.node.ip, "podIPs": [{"ip": self.node.ip}],
            "startTime": current.get("startTime") or now_rfc3339(),
            "qosClass": "Burstable",
            "containerStatuses": [cstatus],
        }
        comparable = {k: v for k, v in status.items() if k not in ("conditions", "startTime")}
        if all(current.get(k) == v for k, v in comparable.items()) and \
                [(c["type"], c["status"]) for c in current.get("conditions") or []] == \
                [(c["type"], c["status"]) for c in conditions]:
            return
        meta = pod["metadata"]
        self.client.request("PATCH", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                            {"status": status}, "application/merge-patch+json")


# --------------------------------------------------------------------------------------------------------------
# The node supervisor
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Node:
    node_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    workers: dict[str, PodWorker] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    status_changed: threading.Event = field(default_factory=threading.Event)
    scan_cache: dict[str, tuple[tuple[int, int, int, int], PodFile]] = field(default_factory=dict)
    last_status_text: str = ""

    def __post_init__(self) -> None:
        self.config = json.loads((self.node_dir / "node.json").read_text())
        self.name: str = self.config["name"]
        self.ip: str = self.config["ip"]
        self.bin_dir = Path(self.config["bin_dir"])
        self.root = self.node_dir / "root"
        self.run_dir = self.node_dir / "run"
        self.logs = self.run_dir / "logs"
        self.kubelet_version: str = self.config["kubelet_version"]
        self.logs.mkdir(parents=True, exist_ok=True)

    def container_env(self, container: dict[str, Any]) -> dict[str, str]:
        env = {"PATH": f"{self.bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "HOME": "/root"}
        marker = "KUBECOMPASS_LOCALCP"  # set by `up` on the supervisor; lets `down` find every container
        if marker in os.environ:
            env[marker] = os.environ[marker]
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
        return env

    def kubelet_client(self) -> Client:
        return Client(self.config["kubelet_server"], self.run_dir / "kubelet-ca.crt",
                      self.run_dir / "kubelet-client.crt", self.run_dir / "kubelet-client.key")

    # -- setup -------------------------------------------------------------------------------------------------

    def bind_roots(self) -> None:
        for root in NODE_ROOTS:
            source = self.root / root.lstrip("/")
            source.mkdir(parents=True, exist_ok=True)
            _mount(str(source), root, None, _MS_BIND | _MS_REC)

    def start_sshd(self) -> subprocess.Popen[bytes]:
        out = open(self.run_dir / "sshd.log", "ab")  # noqa: SIM115 - lives as long as sshd
        return subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(self.node_dir / "ssh" / "sshd_config")],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

    # -- the manifests loop ------------------------------------------------------------------------------------

    def scan(self) -> dict[str, PodFile]:
        """Pods from the manifests directory; a file is re-read only when its inode, size or times change."""
        pods: dict[str, PodFile] = {}
        try:
            entries = sorted(os.scandir(MANIFESTS), key=lambda e: e.name)
        except FileNotFoundError:
            return pods
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=True):
                continue
            try:
                st = entry.stat(follow_symlinks=True)
                signature = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                cached = self.scan_cache.get(entry.name)
                if cached and cached[0] == signature:
                    pods[entry.name] = cached[1]
                    continue
                data = Path(entry.path).read_bytes()
                manifest = yaml.safe_load(data)
            except (OSError, yaml.YAMLError) as exc:
                log(self.name, f"{entry.name}: unreadable manifest: {exc}")
                continue
            if not isinstance(manifest, dict) or manifest.get("kind") != "Pod":
                log(self.name, f"{entry.name}: not a Pod manifest; ignored")
                continue
            pods[entry.name] = PodFile(entry.name, hashlib.sha256(data).hexdigest()[:32], manifest)
            self.scan_cache[entry.name] = (signature, pods[entry.name])
        return pods

    def reconcile(self) -> None:
        desired = self.scan()
        for filename in list(self.workers):
            worker = self.workers[filename]
            wanted = desired.get(filename)
            if wanted is None or wanted.content_hash != worker.pod.content_hash:
                log(self.name, f"{filename}: {'removed' if wanted is None else 'changed'}; stopping pod")
                worker.stop()
                worker.join(STOP_GRACE + 5)
                del self.workers[filename]
                self.status_changed.set()
        for filename, pod in desired.items():
            if filename not in self.workers:
                worker = PodWorker(self, pod)
                self.workers[filename] = worker
                worker.start()
                self.status_changed.set()
        self.write_status()

    def write_status(self) -> None:
        pods = {}
        for filename, worker in self.workers.items():
            st = worker.snapshot()
            pods[filename] = {"name": worker.pod.name, "hash": worker.pod.content_hash, **st.__dict__}
        text = json.dumps(pods, indent=1, sort_keys=True)
        if text == self.last_status_text:
            return
        tmp = self.run_dir / ".pods.json.tmp"
        tmp.write_text(text)
        tmp.replace(self.run_dir / "pods.json")
        self.last_status_text = text

    def supervise(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        (self.run_dir / "supervisor.pid").write_text(str(os.getpid()))
        socket.sethostname(self.name)  # its own UTS namespace: the node answers to its own name, like a real host
        self.bind_roots()
        sshd = self.start_sshd()
        MirrorSync(self).start()
        log(self.name, f"node up at {self.ip}")
        while not self.stopping.is_set():
            if sshd.poll() is not None:
                log(self.name, f"sshd exited with {sshd.returncode}; restarting")
                sshd = self.start_sshd()
            self.reconcile()
            self.stopping.wait(SCAN_INTERVAL)
        log(self.name, "stopping")
        for worker in self.workers.values():
            worker.stop_event.set()
        for worker in self.workers.values():
            worker.stop()
        sshd.terminate()
        sshd.wait(5)
        self.workers.clear()
        self.write_status()


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "exec":
        exec_container(argv[2])
        return 127
    if len(argv) == 3 and argv[1] == "supervise":
        Node(Path(argv[2])).supervise()
        return 0
    print("usage: python -m kclocal.node supervise NODE_DIR | exec SPEC_JSON", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
