"""A kubeadm-shaped PKI: cluster CA, etcd CA, front-proxy CA, service-account keys and the leaf certificates.

CAs and the service-account key pair are shared by every control-plane node (kubeadm copies them on join);
leaf certificates are issued per node, so each node's files differ by its address.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)
CA_VALIDITY = datetime.timedelta(days=3650)
SERVICE_IP = "10.96.0.1"
CLUSTER_DOMAIN = "cluster.local"


@dataclass
class KeyPair:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def new_ca(common_name: str) -> KeyPair:
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_encipherment=True, key_cert_sign=True, content_commitment=False,
                data_encipherment=False, key_agreement=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(key, cert)


def issue(
    ca: KeyPair,
    common_name: str,
    *,
    organizations: tuple[str, ...] = (),
    server: bool = False,
    client: bool = False,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    expired: bool = False,
) -> KeyPair:
    """A leaf certificate; ``expired`` issues one whose validity ended yesterday (for credential tests)."""
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    if expired:
        now -= VALIDITY + datetime.timedelta(days=1)
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_encipherment=True, key_cert_sign=False, content_commitment=False,
                data_encipherment=False, key_agreement=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return KeyPair(key, builder.sign(ca.key, hashes.SHA256()))


def load(cert_path: Path, key_path: Path) -> KeyPair:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    return KeyPair(key, cert)  # type: ignore[arg-type]


def write_private(path: Path, data: bytes) -> None:
    """Write key material 0600 from the first byte (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_pair(pki_dir: Path, base: str, pair: KeyPair) -> None:
    (pki_dir / f"{base}.crt").parent.mkdir(parents=True, exist_ok=True)
    (pki_dir / f"{base}.crt").write_bytes(pair.cert_pem())
    write_private(pki_dir / f"{base}.key", pair.key_pem())


@dataclass
class ClusterCAs:
    """What kubeadm shares between control-plane nodes."""

    ca: KeyPair
    etcd_ca: KeyPair
    front_proxy_ca: KeyPair
    sa_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> ClusterCAs:
        return cls(new_ca("kubernetes"), new_ca("etcd-ca"), new_ca("front-proxy-ca"), _new_key())


def write_node_pki(pki_dir: Path, cas: ClusterCAs, node_name: str, node_ip: str, extra_ips: tuple[str, ...]) -> None:
    """Lay out /etc/kubernetes/pki for one control-plane node the way kubeadm does."""
    write_pair(pki_dir, "ca", cas.ca)
    write_pair(pki_dir, "etcd/ca", cas.etcd_ca)
    write_pair(pki_dir, "front-proxy-ca", cas.front_proxy_ca)
    write_private(
        pki_dir / "sa.key",
        cas.sa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ),
    )
    (pki_dir / "sa.pub").write_bytes(
        cas.sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    apiserver_dns = (
        node_name, "kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
    )
    write_pair(
        pki_dir, "apiserver",
        issue(cas.ca, "kube-apiserver", server=True, dns_names=apiserver_dns,
              ip_addresses=(SERVICE_IP, node_ip, *extra_ips)),
    )
    write_pair(
        pki_dir, "apiserver-kubelet-client",
        issue(cas.ca, "kube-apiserver-kubelet-client", organizations=("kubeadm:cluster-admins",), client=True),
    )
    write_pair(pki_dir, "apiserver-etcd-client", issue(cas.etcd_ca, "kube-apiserver-etcd-client", client=True))
    write_pair(pki_dir, "front-proxy-client", issue(cas.front_proxy_ca, "front-proxy-client", client=True))
    etcd_names = (node_name, "localhost")
    etcd_ips = (node_ip, "127.0.0.1", "::1")
    write_pair(
        pki_dir, "etcd/server",
        issue(cas.etcd_ca, node_name, server=True, client=True, dns_names=etcd_names, ip_addresses=etcd_ips),
    )
    write_pair(
        pki_dir, "etcd/peer",
        issue(cas.etcd_ca, node_name, server=True, client=True, dns_names=etcd_names, ip_addresses=etcd_ips),
    )
    write_pair(pki_dir, "etcd/healthcheck-client", issue(cas.etcd_ca, "kube-etcd-healthcheck-client", client=True))


def client_pair(cas: ClusterCAs, common_name: str, organizations: tuple[str, ...] = ()) -> KeyPair:
    return issue(cas.ca, common_name, organizations=organizations, client=True)
