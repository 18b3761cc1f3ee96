"""Static Pod manifests, kubeconfigs and kubeadm's ClusterConfiguration, shaped as kubeadm writes them.

Deviations from a stock kubeadm node, all forced by several nodes sharing one machine's loopback:
components bind to the node's own 127.0.10.N address instead of 0.0.0.0/127.0.0.1, and the apiserver
talks to its own node's etcd member on that address (stacked etcd, as kubeadm does).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import yaml

from kclocal.build import pinned_version

K8S_VERSION = pinned_version("k8s.io/kubernetes")
ETCD_VERSION = pinned_version("go.etcd.io/etcd/server/v3")
SERVICE_CIDR = "10.96.0.0/12"
POD_CIDR = "10.244.0.0/16"
PKI = "/etc/kubernetes/pki"
APISERVER_PORT = 6443
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380


@dataclass(frozen=True)
class Node:
    """A control-plane node: ``ip`` (127.0.10.N) carries all traffic; ``advertise_ip`` is only published.

    The API rejects loopback addresses in Endpoints and EndpointSlices, so each apiserver advertises an
    RFC 5737 documentation address (198.51.100.N) in the ``kubernetes`` EndpointSlice. Nothing connects to it.
    """

    name: str
    ip: str
    advertise_ip: str

    def etcd_peer_url(self) -> str:
        return f"https://{self.ip}:{ETCD_PEER_PORT}"

    def etcd_client_url(self) -> str:
        return f"https://{self.ip}:{ETCD_CLIENT_PORT}"


def _probe(host: str, path: str, port: int, scheme: str, *, failure: int, initial: int = 10, period: int = 10,
           timeout: int = 15) -> dict[str, Any]:
    return {
        "failureThreshold": failure,
        "httpGet": {"host": host, "path": path, "port": port, "scheme": scheme},
        "initialDelaySeconds": initial,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
    }


def _host_volume(name: str, path: str, vtype: str) -> dict[str, Any]:
    return {"hostPath": {"path": path, "type": vtype}, "name": name}


def _mount(name: str, path: str, read_only: bool) -> dict[str, Any]:
    mount: dict[str, Any] = {"mountPath": path, "name": name}
    if read_only:
        mount["readOnly"] = True
    return mount


# kubeadm mounts the host's CA bundles into every control-plane container.
_CA_VOLUMES = (
    ("ca-certs", "/etc/ssl/certs", "DirectoryOrCreate"),
    ("etc-ca-certificates", "/etc/ca-certificates", "DirectoryOrCreate"),
    ("usr-local-share-ca-certificates", "/usr/local/share/ca-certificates", "DirectoryOrCreate"),
    ("usr-share-ca-certificates", "/usr/share/ca-certificates", "DirectoryOrCreate"),
)


def _pod(component: str, command: list[str], probes: dict[str, Any], volumes: list[tuple[str, str, str, bool]],
         annotations: dict[str, str] | None = None, requests_cpu: str = "250m") -> dict[str, Any]:
    container: dict[str, Any] = {
        "command": command,
        "image": f"registry.k8s.io/{component}:{K8S_VERSION}" if component != "etcd" else f"registry.k8s.io/etcd:{ETCD_VERSION.lstrip('v')}-0",
        "imagePullPolicy": "IfNotPresent",
        "name": component,
        "resources": {"requests": {"cpu": requests_cpu}},
        "volumeMounts": [_mount(name, path, ro) for name, path, _vtype, ro in volumes],
    }
    container.update(probes)
    metadata: dict[str, Any] = {
        "creationTimestamp": None,
        "labels": {"component": component, "tier": "control-plane"},
        "name": component,
        "namespace": "kube-system",
    }
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": [container],
            "hostNetwork": True,
            "priority": 2000001000,
            "priorityClassName": "system-node-critical",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [_host_volume(name, path, vtype) for name, path, vtype, _ro in volumes],
        },
        "status": {},
    }


def etcd_manifest(node: Node, members: list[Node]) -> dict[str, Any]:
    cluster = ",".join(f"{m.name}={m.etcd_peer_url()}" for m in members)
    command = [
        "etcd",
        f"--advertise-client-urls={node.etcd_client_url()}",
        f"--cert-file={PKI}/etcd/server.crt",
        "--client-cert-auth=true",
        "--data-dir=/var/lib/etcd",
        "--feature-gates=InitialCorruptCheck=true",
        f"--initial-advertise-peer-urls={node.etcd_peer_url()}",
        f"--initial-cluster={cluster}",
        "--initial-cluster-state=new",
        f"--key-file={PKI}/etcd/server.key",
        f"--listen-client-urls={node.etcd_client_url()}",
        f"--listen-metrics-urls=http://{node.ip}:2381",
        f"--listen-peer-urls={node.etcd_peer_url()}",
        f"--name={node.name}",
        f"--peer-cert-file={PKI}/etcd/peer.crt",
        "--peer-client-cert-auth=true",
        f"--peer-key-file={PKI}/etcd/peer.key",
        f"--peer-trusted-ca-file={PKI}/etcd/ca.crt",
        "--snapshot-count=10000",
        f"--trusted-ca-file={PKI}/etcd/ca.crt",
        "--watch-progress-notify-interval=5s",
    ]
    probes = {
        "livenessProbe": _probe(node.ip, "/livez", 2381, "HTTP", failure=8),
        "startupProbe": _probe(node.ip, "/readyz", 2381, "HTTP", failure=24),
    }
    volumes = [
        ("etcd-certs", f"{PKI}/etcd", "DirectoryOrCreate", False),
        ("etcd-data", "/var/lib/etcd", "DirectoryOrCreate", False),
    ]
    return _pod("etcd", command, probes, volumes,
                {"kubeadm.kubernetes.io/etcd.advertise-client-urls": node.etcd_client_url()}, requests_cpu="100m")


def apiserver_manifest(node: Node) -> dict[str, Any]:
    command = [
        "kube-apiserver",
        f"--advertise-address={node.advertise_ip}",
        "--allow-privileged=true",
        "--authorization-mode=Node,RBAC",
        f"--bind-address={node.ip}",
        f"--client-ca-file={PKI}/ca.crt",
        "--enable-admission-plugins=NodeRestriction",
        "--enable-bootstrap-token-auth=true",
        f"--etcd-cafile={PKI}/etcd/ca.crt",
        f"--etcd-certfile={PKI}/apiserver-etcd-client.crt",
        f"--etcd-keyfile={PKI}/apiserver-etcd-client.key",
        f"--etcd-servers={node.etcd_client_url()}",
        f"--kubelet-client-certificate={PKI}/apiserver-kubelet-client.crt",
        f"--kubelet-client-key={PKI}/apiserver-kubelet-client.key",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        f"--proxy-client-cert-file={PKI}/front-proxy-client.crt",
        f"--proxy-client-key-file={PKI}/front-proxy-client.key",
        "--requestheader-allowed-names=front-proxy-client",
        f"--requestheader-client-ca-file={PKI}/front-proxy-ca.crt",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--secure-port={APISERVER_PORT}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={PKI}/sa.pub",
        f"--service-account-signing-key-file={PKI}/sa.key",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--tls-cert-file={PKI}/apiserver.crt",
        f"--tls-private-key-file={PKI}/apiserver.key",
    ]
    probes = {
        "livenessProbe": _probe(node.ip, "/livez", APISERVER_PORT, "HTTPS", failure=8),
        "readinessProbe": _probe(node.ip, "/readyz", APISERVER_PORT, "HTTPS", failure=3, initial=0, period=1),
        "startupProbe": _probe(node.ip, "/livez", APISERVER_PORT, "HTTPS", failure=24),
    }
    volumes = [
        *[(n, p, t, True) for n, p, t in _CA_VOLUMES],
        ("k8s-certs", PKI, "DirectoryOrCreate", True),
    ]
    return _pod("kube-apiserver", command, probes, volumes,
                {"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": f"{node.advertise_ip}:{APISERVER_PORT}"})


def controller_manager_manifest(node: Node) -> dict[str, Any]:
    conf = "/etc/kubernetes/controller-manager.conf"
    command = [
        "kube-controller-manager",
        "--allocate-node-cidrs=true",
        f"--authentication-kubeconfig={conf}",
        f"--authorization-kubeconfig={conf}",
        f"--bind-address={node.ip}",
        f"--client-ca-file={PKI}/ca.crt",
        f"--cluster-cidr={POD_CIDR}",
        "--cluster-name=kubecompass-local",
        f"--cluster-signing-cert-file={PKI}/ca.crt",
        f"--cluster-signing-key-file={PKI}/ca.key",
        "--controllers=*,bootstrapsigner,tokencleaner",
        f"--kubeconfig={conf}",
        "--leader-elect=true",
        f"--requestheader-client-ca-file={PKI}/front-proxy-ca.crt",
        f"--root-ca-file={PKI}/ca.crt",
        f"--service-account-private-key-file={PKI}/sa.key",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--use-service-account-credentials=true",
    ]
    probes = {
        "livenessProbe": _probe(node.ip, "/healthz", 10257, "HTTPS", failure=8),
        "startupProbe": _probe(node.ip, "/healthz", 10257, "HTTPS", failure=24),
    }
    volumes = [
        *[(n, p, t, True) for n, p, t in _CA_VOLUMES],
        ("k8s-certs", PKI, "DirectoryOrCreate", True),
        ("kubeconfig", conf, "FileOrCreate", True),
    ]
    return _pod("kube-controller-manager", command, probes, volumes, requests_cpu="200m")


def scheduler_manifest(node: Node) -> dict[str, Any]:
    conf = "/etc/kubernetes/scheduler.conf"
    command = [
        "kube-scheduler",
        f"--authentication-kubeconfig={conf}",
        f"--authorization-kubeconfig={conf}",
        f"--bind-address={node.ip}",
        f"--kubeconfig={conf}",
        "--leader-elect=true",
    ]
    probes = {
        "livenessProbe": _probe(node.ip, "/livez", 10259, "HTTPS", failure=8),
        "readinessProbe": _probe(node.ip, "/readyz", 10259, "HTTPS", failure=3, initial=0, period=1),
        "startupProbe": _probe(node.ip, "/livez", 10259, "HTTPS", failure=24),
    }
    volumes = [("kubeconfig", conf, "FileOrCreate", True)]
    return _pod("kube-scheduler", command, probes, volumes, requests_cpu="100m")


def node_manifests(node: Node, members: list[Node]) -> dict[str, dict[str, Any]]:
    """component -> the static Pod manifest a fresh node starts with."""
    return {"etcd": etcd_manifest(node, members), "kube-apiserver": apiserver_manifest(node),
            "kube-controller-manager": controller_manager_manifest(node), "kube-scheduler": scheduler_manifest(node)}


def kubeconfig(server: str, ca_pem: bytes, user: str, cert_pem: bytes, key_pem: bytes,
               cluster: str = "kubecompass-local") -> str:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    context = f"{user}@{cluster}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def cluster_configuration(endpoint: str) -> str:
    """kubeadm's ClusterConfiguration as uploaded to kube-system/kubeadm-config (v1beta4)."""
    doc = {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "ClusterConfiguration",
        "apiServer": {},
        "caCertificateValidityPeriod": "87600h0m0s",
        "certificateValidityPeriod": "8760h0m0s",
        "certificatesDir": PKI,
        "clusterName": "kubecompass-local",
        "controlPlaneEndpoint": endpoint,
        "controllerManager": {},
        "dns": {},
        "encryptionAlgorithm": "RSA-2048",
        "etcd": {"local": {"dataDir": "/var/lib/etcd"}},
        "imageRepository": "registry.k8s.io",
        "kubernetesVersion": K8S_VERSION,
        "networking": {"dnsDomain": "cluster.local", "podSubnet": POD_CIDR, "serviceSubnet": SERVICE_CIDR},
        "proxy": {},
        "scheduler": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def dump(manifest: dict[str, Any]) -> str:
    return yaml.safe_dump(manifest, sort_keys=False)
