"""Certificate facts of a node from certificates made here with ``cryptography`` (kubeadm's layout, a kubeconfig with
embedded client-certificate-data, kubelet-client-current.pem holding certificate and key), missing and garbage
files, and the served-versus-disk comparison against a real TLS server on the loopback."""

from __future__ import annotations

import base64
import datetime
import json
import socket
import ssl
import threading

import pytest
import yaml

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from ansible_collections.kubecompass.readiness.plugins.module_utils._node import certificates  # noqa: E402
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.gather import gather_node_facts  # noqa: E402
from tests.unit.plugins.module_utils._node.test_gather import fake_process, static_pod, write  # noqa: E402

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
REAL_FETCH = certificates.served_certificate  # before conftest's autouse fixture refuses connections


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(cn, days, issuer=None, ca=False, utc_time=True, not_before=None):
    """(certificate, key): valid from ``not_before`` (default an hour ago, or a year ago for an expired one) until
    ``days`` days from now."""
    key = ec.generate_private_key(ec.SECP256R1())
    signer_cert, signer_key = issuer if issuer else (None, key)
    builder = (x509.CertificateBuilder().subject_name(_name(cn))
               .issuer_name(signer_cert.subject if signer_cert else _name(cn))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before or NOW - datetime.timedelta(hours=1, days=365 if days < 0 else 0))
               .not_valid_after(NOW + datetime.timedelta(days=days)))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    return builder.sign(signer_key, hashes.SHA256()), key


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def kubeconfig(user, server="https://127.0.0.1:6443"):
    return {"apiVersion": "v1", "kind": "Config", "current-context": "ctx",
            "clusters": [{"name": "k", "cluster": {"server": server}}],
            "contexts": [{"name": "ctx", "context": {"cluster": "k", "user": "u"}}],
            "users": [{"name": "other", "user": {"token": "x"}}, {"name": "u", "user": user}]}


def rfc(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def pki():
    return make_pki()


def make_pki():
    """A kubeadm node's certificates and keys: CAs, leaves at chosen lifetimes, kubeconfig and kubelet ones."""
    ca = make_cert("kubernetes", 3650, ca=True)
    etcd_ca = make_cert("etcd-ca", 200, ca=True)
    leaves = {
        "apiserver": make_cert("kube-apiserver", 10, issuer=ca),
        "apiserver-kubelet-client": make_cert("kube-apiserver-kubelet-client", 60, issuer=ca),
        "etcd-server": make_cert("kc-cp1", -3, issuer=etcd_ca),
        "etcd-peer": make_cert("kc-cp1", 365, issuer=etcd_ca),
        "controller-manager.conf": make_cert("system:kube-controller-manager", 365, issuer=ca),
        "kubelet.conf": make_cert("system:node:kc-cp1", 300, issuer=ca),
    }
    return {"ca": ca, "etcd-ca": etcd_ca, **leaves}


def kubeadm_certificates(root, pki):
    write(root, "/etc/kubernetes/pki/ca.crt", pem(pki["ca"][0]), 0o644)
    write(root, "/etc/kubernetes/pki/ca.key", key_pem(pki["ca"][1]))
    write(root, "/etc/kubernetes/pki/etcd/ca.crt", pem(pki["etcd-ca"][0]), 0o644)
    write(root, "/etc/kubernetes/pki/apiserver.crt", pem(pki["apiserver"][0]), 0o644)
    write(root, "/etc/kubernetes/pki/apiserver-kubelet-client.crt", pem(pki["apiserver-kubelet-client"][0]), 0o644)
    write(root, "/etc/kubernetes/pki/etcd/server.crt", pem(pki["etcd-server"][0]), 0o644)
    write(root, "/etc/kubernetes/pki/etcd/peer.crt", pem(pki["etcd-peer"][0]), 0o644)
    write(root, "/etc/kubernetes/pki/front-proxy-client.crt", "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
          "-----END CERTIFICATE-----\n", 0o644)
    write(root, "/etc/kubernetes/pki/etcd/healthcheck-client.crt", "garbage, no PEM here\n", 0o644)
    cm_cert, cm_key = pki["controller-manager.conf"]
    write(root, "/etc/kubernetes/controller-manager.conf", kubeconfig({
        "client-certificate-data": base64.b64encode(pem(cm_cert).encode()).decode(),
        "client-key-data": base64.b64encode(key_pem(cm_key).encode()).decode()}))
    kubelet_cert, kubelet_key = pki["kubelet.conf"]
    write(root, "/var/lib/kubelet/pki/kubelet-client-current.pem", pem(kubelet_cert) + key_pem(kubelet_key))
    write(root, "/etc/kubernetes/kubelet.conf", kubeconfig({
        "client-certificate": "/var/lib/kubelet/pki/kubelet-client-current.pem",
        "client-key": "/var/lib/kubelet/pki/kubelet-client-current.pem"}))
    write(root, "/etc/kubernetes/scheduler.conf", "users: [unclosed\n")


def by_name(facts):
    return {e["name"]: e for e in facts["entries"]}


def test_parse_matches_cryptography(pki):
    for name, (cert, _key) in pki.items():
        der = cert.public_bytes(serialization.Encoding.DER)
        parsed = certificates.parse_certificate(der)
        assert parsed["not_after"] == rfc(cert.not_valid_after_utc), name
        assert parsed["not_before"] == rfc(cert.not_valid_before_utc), name
        assert parsed["is_ca"] is (name in ("ca", "etcd-ca")), name
        assert parsed["subject_cn"] == cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert parsed["issuer_cn"] == cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def test_generalized_time_and_certificate_without_basic_constraints():
    # Dates from 2050 on are GeneralizedTime in DER; a certificate without BasicConstraints is not a CA.
    cert, _key = make_cert("far", 365 * 40, ca=None)
    parsed = certificates.parse_certificate(cert.public_bytes(serialization.Encoding.DER))
    assert parsed["not_after"] == rfc(cert.not_valid_after_utc) and parsed["is_ca"] is False


@pytest.mark.parametrize("data", [b"", b"\x30\x03\x02\x01", b"\x30\x84\xff\xff\xff\xff", b"\x04\x02ab",
                                  b"\x30\x05\x30\x03\x02\x01\x01"])
def test_garbage_der_is_a_certificate_error(data):
    with pytest.raises(certificates.CertificateError):
        certificates.parse_certificate(data)


def test_kubeadm_node_certificates(tmp_path, pki):
    kubeadm_certificates(tmp_path, pki)
    facts = certificates.read_node_certificates(str(tmp_path), "kubeadm")
    entries = by_name(facts)
    assert [e["name"] for e in facts["entries"]] == [
        "ca", "etcd-ca", "front-proxy-ca", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client",
        "etcd-healthcheck-client", "etcd-peer", "etcd-server", "front-proxy-client", "admin.conf",
        "super-admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf"]
    assert entries["ca"]["is_ca"] and entries["ca"]["subject_cn"] == "kubernetes"
    assert entries["apiserver"]["not_after"] == rfc(pki["apiserver"][0].not_valid_after_utc)
    assert entries["apiserver"]["issuer_cn"] == "kubernetes" and entries["apiserver"]["is_ca"] is False
    assert entries["front-proxy-ca"]["missing"] and entries["admin.conf"]["missing"]
    assert entries["front-proxy-client"]["error"] == "the CERTIFICATE block is not base64"
    assert entries["etcd-healthcheck-client"]["error"] == "no PEM CERTIFICATE block"
    assert entries["scheduler.conf"]["error"].startswith("not valid YAML")
    manager = entries["controller-manager.conf"]
    assert manager["subject_cn"] == "system:kube-controller-manager" and manager["source"] == "kubeconfig"
    kubelet = entries["kubelet.conf"]
    assert kubelet["path"] == "/var/lib/kubelet/pki/kubelet-client-current.pem"
    assert kubelet["subject_cn"] == "system:node:kc-cp1"
    assert kubelet["not_after"] == rfc(pki["kubelet.conf"][0].not_valid_after_utc)


def test_private_keys_never_reach_the_facts(tmp_path, pki):
    kubeadm_certificates(tmp_path, pki)
    facts = gather_node_facts("kubeadm", root=str(tmp_path), proc=str(tmp_path / "proc"), etcd_sample_size=0)
    text = json.dumps(facts)
    for name in ("kubelet.conf", "controller-manager.conf", "ca"):
        key = key_pem(pki[name][1])
        body = "".join(key.splitlines()[1:-1])
        assert body[:40] not in text and "PRIVATE KEY" not in text
        assert base64.b64encode(key.encode()).decode()[:40] not in text
    # The facts name the files that could not be read, never their content.
    assert {"what": "certificate /etc/kubernetes/pki/etcd/healthcheck-client.crt",
            "cause": "no PEM CERTIFICATE block"} in facts["errors"]
    assert "garbage" not in text and "unclosed" not in text


def test_unreadable_certificate_is_an_error_naming_the_cause(tmp_path, pki, monkeypatch):
    kubeadm_certificates(tmp_path, pki)
    real = certificates.read_text

    def denied(root, path):
        if path.endswith("/apiserver.crt"):
            raise PermissionError(13, "Permission denied")
        return real(root, path)

    monkeypatch.setattr(certificates, "read_text", denied)
    entry = by_name(certificates.read_node_certificates(str(tmp_path), "kubeadm"))["apiserver"]
    assert entry["error"] == "Permission denied" and entry["path"] == "/etc/kubernetes/pki/apiserver.crt"


def test_rancher_tls_directories(tmp_path, pki):
    tls = "/var/lib/rancher/rke2/server/tls"
    write(tmp_path, tls + "/server-ca.crt", pem(pki["ca"][0]), 0o644)
    write(tmp_path, tls + "/serving-kube-apiserver.crt", pem(pki["apiserver"][0]), 0o644)
    write(tmp_path, tls + "/server-ca.key", key_pem(pki["ca"][1]))
    write(tmp_path, tls + "/etcd/server-client.crt", pem(pki["etcd-server"][0]), 0o644)
    facts = certificates.read_node_certificates(str(tmp_path), "rke2", [tls, tls + "/etcd"])
    entries = by_name(facts)
    assert sorted(entries) == ["etcd/server-client", "server-ca", "serving-kube-apiserver"]
    assert entries["server-ca"]["is_ca"] and entries["etcd/server-client"]["path"] == tls + "/etcd/server-client.crt"


# -- served certificates ---------------------------------------------------------------------------------------------

@pytest.fixture
def tls_server(tmp_path):
    """A TLS server on 127.0.0.1 that serves the certificate written to ``served.crt`` before ``start``."""
    servers = []

    def start(cert, key):
        cert_file = tmp_path / "served.crt"
        key_file = tmp_path / "served.key"
        cert_file.write_text(pem(cert))
        key_file.write_text(key_pem(key))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert_file), str(key_file))
        listener = socket.create_server(("127.0.0.1", 0))
        servers.append(listener)

        def serve():
            while True:
                try:
                    conn, _addr = listener.accept()
                except OSError:
                    return
                try:
                    with context.wrap_socket(conn, server_side=True):
                        pass
                except (OSError, ssl.SSLError):
                    pass

        threading.Thread(target=serve, daemon=True).start()
        return listener.getsockname()[1]

    yield start
    for listener in servers:
        listener.close()


def test_served_certificate_over_tls(tls_server, pki):
    cert, key = pki["etcd-peer"]
    port = tls_server(cert, key)
    der = REAL_FETCH("127.0.0.1", port)
    assert der == cert.public_bytes(serialization.Encoding.DER)


def _kubeadm_running(root, proc, port):
    pod = static_pod("kube-apiserver")
    write(root, "/etc/kubernetes/manifests/kube-apiserver.yaml", yaml.safe_dump(pod))
    argv = [a for a in pod["spec"]["containers"][0]["command"] if not a.startswith(("--secure-port", "--bind-"))]
    fake_process(proc, 4242, "kube-apiserver", argv + ["--secure-port=%d" % port, "--bind-address=127.0.0.1"])


def test_apiserver_serving_an_old_certificate(tmp_path, tls_server, pki):
    """The on-disk apiserver.crt was renewed; the process still serves the old one: both dates are recorded."""
    kubeadm_certificates(tmp_path, pki)
    old, old_key = make_cert("kube-apiserver", 5, issuer=pki["ca"])
    port = tls_server(old, old_key)
    _kubeadm_running(tmp_path, tmp_path / "proc", port)
    facts = gather_node_facts("kubeadm", root=str(tmp_path), proc=str(tmp_path / "proc"), etcd_sample_size=0,
                              tls_fetch=REAL_FETCH)
    apiserver = facts["serving_certificates"][0]
    assert apiserver["component"] == "kube-apiserver" and apiserver["endpoint"] == "127.0.0.1:%d" % port
    assert apiserver["matches"] is False and apiserver["path"] == "/etc/kubernetes/pki/apiserver.crt"
    assert apiserver["served"]["not_after"] == rfc(old.not_valid_after_utc)
    assert apiserver["on_disk"]["not_after"] == rfc(pki["apiserver"][0].not_valid_after_utc)


def test_apiserver_serving_the_disk_certificate(tmp_path, tls_server, pki):
    kubeadm_certificates(tmp_path, pki)
    port = tls_server(*pki["apiserver"])
    _kubeadm_running(tmp_path, tmp_path / "proc", port)
    facts = gather_node_facts("kubeadm", root=str(tmp_path), proc=str(tmp_path / "proc"), etcd_sample_size=0,
                              tls_fetch=REAL_FETCH)
    assert facts["serving_certificates"][0]["matches"] is True


def test_unreachable_apiserver_is_an_error_naming_the_endpoint(tmp_path, pki):
    kubeadm_certificates(tmp_path, pki)
    _kubeadm_running(tmp_path, tmp_path / "proc", 1)
    facts = gather_node_facts("kubeadm", root=str(tmp_path), proc=str(tmp_path / "proc"), etcd_sample_size=0)
    apiserver = facts["serving_certificates"][0]
    assert apiserver["matches"] is None
    assert apiserver["error"].startswith("cannot read the certificate served at 127.0.0.1:1: ")


def test_no_apiserver_process_and_k3s():
    results = certificates.read_serving_certificates("/nonexistent", "k3s", None, None, lambda p: p, None, None)
    assert results[0]["error"] == "no kube-apiserver process runs on this node (k3s serves it from its own process)"


def test_etcd_is_read_at_its_own_client_url_with_the_etcd_client_certificate(tmp_path, pki):
    """etcd's advertised client URL and --cert-file; the client certificate's paths go to the TLS library only."""
    kubeadm_certificates(tmp_path, pki)
    calls = []

    def fetch(host, port, client=None):
        calls.append((host, port, client))
        return pki["etcd-server"][0].public_bytes(serialization.Encoding.DER)

    etcd_flags = {"advertise-client-urls": "https://198.51.100.1:2379", "cert-file": "/etc/kubernetes/pki/etcd/server.crt",
                  "listen-client-urls": "https://127.0.0.1:2379,https://198.51.100.1:2379"}
    client = ("/etc/kubernetes/pki/apiserver-etcd-client.crt", "/etc/kubernetes/pki/apiserver-etcd-client.key",
              "/etc/kubernetes/pki/etcd/ca.crt")
    results = certificates.read_serving_certificates(str(tmp_path), "kubeadm", None, etcd_flags, lambda p: p,
                                                     "https://127.0.0.1:2379", client, fetch=fetch)
    etcd = results[1]
    assert etcd["component"] == "etcd" and etcd["endpoint"] == "198.51.100.1:2379" and etcd["matches"] is True
    assert calls == [("198.51.100.1", "2379", (str(tmp_path / "etc/kubernetes/pki/apiserver-etcd-client.crt"),
                                               str(tmp_path / "etc/kubernetes/pki/apiserver-etcd-client.key")))]
    # External etcd (no local etcd flags): nothing local to compare.
    assert len(certificates.read_serving_certificates(str(tmp_path), "kubeadm", None, None, lambda p: p,
                                                      "https://10.0.0.5:2379", client, fetch=fetch)) == 1
