"""How far a local-control-plane node is from a kubeadm node: kc-cp1 of the 3-node rig as the rig writes it,
against the same node rendered by kubeadm's own phases (certs, kubeconfig, control-plane, etcd local) from the
rig's ClusterConfiguration and the node's name and advertise address. Every difference is pinned below with its
cause (README, "The local control plane"): a new one, or one that went away, fails."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from kclocal import cluster, kubeadm_render, manifests, pki

NODES = cluster.node_list(3)
NODE = NODES[0]
KUBEADM_PHASES = (("certs", "all"), ("kubeconfig", "all"), ("control-plane", "all"), ("etcd", "local"))

OWN_ADDRESS = ("three nodes share one machine's loopback and network namespace: each binds, listens and is dialled "
               "on its own 127.0.10.N (kubeadm: all interfaces or 127.0.0.1, and the advertise address, here the "
               "RFC 5737 198.51.100.N nothing listens on)")
ALL_MEMBERS = "the rig starts the three etcd members at once; kubeadm init writes the first alone, join adds the rest"
OLDER_KUBEADM = ("the rig's admin identity predates kubeadm 1.29: admin.conf in system:masters, no super-admin.conf; "
                 "kubeadm: admin.conf in kubeadm:cluster-admins, super-admin.conf in system:masters")
CA_SAN = "kubeadm names each CA in a DNS SAN as well as its CN; the rig's CAs carry no SAN (nothing checks it)"
MODE = "rig omission: kubeadm writes this 0600/0700"

own, advertised = NODE.ip, NODE.advertise_ip
# what differs -> (the rig's, kubeadm's, why)
DEVIATIONS = {
    "etcd flag advertise-client-urls": (f"https://{own}:2379", f"https://{advertised}:2379", OWN_ADDRESS),
    "etcd flag initial-advertise-peer-urls": (f"https://{own}:2380", f"https://{advertised}:2380", OWN_ADDRESS),
    "etcd flag listen-client-urls": (f"https://{own}:2379", f"https://127.0.0.1:2379,https://{advertised}:2379", OWN_ADDRESS),
    "etcd flag listen-metrics-urls": (f"http://{own}:2381", "http://127.0.0.1:2381", OWN_ADDRESS),
    "etcd flag listen-peer-urls": (f"https://{own}:2380", f"https://{advertised}:2380", OWN_ADDRESS),
    "etcd flag initial-cluster": (",".join(f"{n.name}=https://{n.ip}:2380" for n in NODES),
                                  f"{NODE.name}=https://{advertised}:2380", ALL_MEMBERS),
    "etcd flag initial-cluster-state": ("new", None, ALL_MEMBERS),
    "kube-apiserver flag bind-address": (own, None, OWN_ADDRESS),
    "kube-apiserver flag etcd-servers": (f"https://{own}:2379", "https://127.0.0.1:2379", OWN_ADDRESS),
    "kube-controller-manager flag bind-address": (own, "127.0.0.1", OWN_ADDRESS),
    "kube-scheduler flag bind-address": (own, "127.0.0.1", OWN_ADDRESS),
    "pki/apiserver.crt ip": (sorted(["10.96.0.1", own, cluster.LB_IP, advertised]),
                             sorted(["10.96.0.1", cluster.LB_IP, advertised]), OWN_ADDRESS),
    "pki/etcd/server.crt ip": (sorted(["127.0.0.1", own, "::1"]), sorted(["127.0.0.1", advertised, "::1"]), OWN_ADDRESS),
    "pki/etcd/peer.crt ip": (sorted(["127.0.0.1", own, "::1"]), sorted(["127.0.0.1", advertised, "::1"]), OWN_ADDRESS),
    "pki/ca.crt dns": ([], ["kubernetes"], CA_SAN),
    "pki/etcd/ca.crt dns": ([], ["etcd-ca"], CA_SAN),
    "pki/front-proxy-ca.crt dns": ([], ["front-proxy-ca"], CA_SAN),
    "pki/apiserver-kubelet-client.crt subject": ("CN=kube-apiserver-kubelet-client,O=kubeadm:cluster-admins",
                                                 "CN=kube-apiserver-kubelet-client",
                                                 "rig: an extra organisation kubeadm 1.36 does not put there"),
    "admin.conf subject": ("CN=kubernetes-admin,O=system:masters", "CN=kubernetes-admin,O=kubeadm:cluster-admins",
                           OLDER_KUBEADM),
    "super-admin.conf": (None, "present", OLDER_KUBEADM),
    "controller-manager.conf server": (f"https://{own}:6443", f"https://{advertised}:6443", OWN_ADDRESS),
    "scheduler.conf server": (f"https://{own}:6443", f"https://{advertised}:6443", OWN_ADDRESS),
    "kubelet.conf server": (f"https://{own}:6443", f"https://{advertised}:6443", OWN_ADDRESS),
    "pki/sa.pub mode": ("0o644", "0o600", MODE),
    "manifests mode": ("0o755", "0o700", MODE),
}


# Placed among the 3-node tests (it starts no cluster) so that the background kubeadm build is done by then.
pytestmark = pytest.mark.nodes(3)


@pytest.fixture(scope="module")
def node_roots(tmp_path_factory, kubeadm) -> tuple[Path, Path]:
    """(the rig's node root, kubeadm's node root) for kc-cp1."""
    if os.geteuid() != 0:
        pytest.skip("kubeadm --rootfs chroots into the scratch node: it needs root, as the local control plane does")
    if not shutil.which("ssh-keygen"):
        pytest.skip("the rig's node writer needs ssh-keygen (openssh-client)")
    scratch = tmp_path_factory.mktemp("node")
    paths = cluster.Paths(scratch / "rig")
    cluster.write_node(paths, NODE, NODES, pki.ClusterCAs.generate(), scratch / "bin")
    configuration = manifests.cluster_configuration(cluster._endpoint(NODES))
    kubeadm_root = kubeadm_render.render(kubeadm, configuration, NODE, scratch / "kubeadm", KUBEADM_PHASES)
    return paths.node(NODE.name) / "root", kubeadm_root


def _certificate(path: Path) -> dict:
    cert = x509.load_pem_x509_certificate(path.read_bytes())

    def extension(kind):
        try:
            return cert.extensions.get_extension_for_class(kind).value
        except x509.ExtensionNotFound:
            return None

    san, usage = extension(x509.SubjectAlternativeName), extension(x509.KeyUsage)
    return {
        "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
        "dns": sorted(san.get_values_for_type(x509.DNSName)) if san else [],
        "ip": sorted(str(a) for a in san.get_values_for_type(x509.IPAddress)) if san else [],
        "key usage": sorted(n for n in ("digital_signature", "key_encipherment", "key_cert_sign", "crl_sign")
                            if usage and getattr(usage, n)),
        "extended key usage": sorted(o.dotted_string for o in extension(x509.ExtendedKeyUsage) or []),
        "ca": (extension(x509.BasicConstraints) or x509.BasicConstraints(False, None)).ca,
        "validity days": (cert.not_valid_after_utc - cert.not_valid_before_utc).days,
    }


def _kubeconfig(path: Path) -> dict:
    config = yaml.safe_load(path.read_text())
    user = config["users"][0]["user"]
    client = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    return {"server": config["clusters"][0]["cluster"]["server"], "cluster": config["clusters"][0]["name"],
            "user": config["users"][0]["name"], "context": config["current-context"],
            "subject": client.subject.rfc4514_string()}


def _differences(rig: dict, kubeadm: dict, prefix: str) -> dict:
    return {f"{prefix}{name}".strip(): (rig.get(name), kubeadm.get(name)) for name in rig.keys() | kubeadm.keys()
            if rig.get(name) != kubeadm.get(name)}


def _node_differences(rig_root: Path, kubeadm_root: Path) -> dict:
    found = {}
    for component in manifests.node_manifests(NODE, NODES):
        rig, kubeadm = kubeadm_render.manifest(rig_root, component), kubeadm_render.manifest(kubeadm_root, component)
        for kind, read in (("flag", kubeadm_render.flags), ("volume", kubeadm_render.host_volumes),
                           ("volumeMount", kubeadm_render.mounts)):
            found.update(_differences(read(rig), read(kubeadm), f"{component} {kind} "))
    rig_etc, kubeadm_etc = rig_root / "etc/kubernetes", kubeadm_root / "etc/kubernetes"
    modes = [{str(p.relative_to(etc)): oct(p.stat().st_mode & 0o777) for p in etc.rglob("*")}
             for etc in (rig_etc, kubeadm_etc)]
    for name in modes[0].keys() | modes[1].keys():
        if name in modes[0] and name in modes[1]:
            found.update(_differences({"mode": modes[0][name]}, {"mode": modes[1][name]}, f"{name} "))
        else:
            found[name] = ("present" if name in modes[0] else None, "present" if name in modes[1] else None)
    for path in sorted(kubeadm_etc.glob("pki/**/*.crt")):
        name = str(path.relative_to(kubeadm_etc))
        found.update(_differences(_certificate(rig_etc / name), _certificate(path), f"{name} "))
    for path in sorted(kubeadm_etc.glob("*.conf")):
        if (rig_etc / path.name).exists():
            found.update(_differences(_kubeconfig(rig_etc / path.name), _kubeconfig(path), f"{path.name} "))
    return found


def test_the_rig_node_differs_from_kubeadm_only_by_the_pinned_deviations(node_roots):
    found = _node_differences(*node_roots)
    assert found == {what: (rig, kubeadm) for what, (rig, kubeadm, _why) in DEVIATIONS.items()}


def test_the_comparison_sees_a_flag_a_volume_a_mode_and_a_certificate_change(node_roots, tmp_path):
    """A rig that drifted one step further from kubeadm is caught on each axis the comparison claims."""
    rig_root, kubeadm_root = node_roots
    drifted = tmp_path / "root"
    shutil.copytree(rig_root, drifted, symlinks=True)
    manifest_path = drifted / kubeadm_render.MANIFESTS / "kube-scheduler.yaml"
    pod = yaml.safe_load(manifest_path.read_text())
    pod["spec"]["containers"][0]["command"].append("--profiling=false")
    pod["spec"]["volumes"][0]["hostPath"]["type"] = "File"
    manifest_path.write_text(yaml.safe_dump(pod))
    (drifted / "etc/kubernetes/pki/ca.key").chmod(0o644)
    cas = pki.ClusterCAs.generate()
    renamed = pki.issue(cas.front_proxy_ca, "front-proxy", client=True)
    pki.write_pair(drifted / "etc/kubernetes/pki", "front-proxy-client", renamed)
    found = _node_differences(drifted, kubeadm_root)
    assert found["kube-scheduler flag profiling"] == ("false", None)
    assert found["kube-scheduler volume kubeconfig"] == (("/etc/kubernetes/scheduler.conf", "File"),
                                                         ("/etc/kubernetes/scheduler.conf", "FileOrCreate"))
    assert found["pki/ca.key mode"] == ("0o644", "0o600")
    assert found["pki/front-proxy-client.crt subject"] == ("CN=front-proxy", "CN=front-proxy-client")
