"""Issue 17 item 4 (certificate expiry) on the 1-node local control plane, judged by kubeadm itself.

The test replaces the node's apiserver.crt with a certificate it issues from the node's CA (same subject, SANs and
usages, new key) that expires in 10 days, writing the certificate only and restarting nothing: the state of a
renewal done halfway by hand. Then:
- KC-OPS-005 fails naming kc-cp1/apiserver and its 10 days left;
- `kubeadm certs check-expiration` (built from the pinned k8s.io/kubernetes, run on the node over SSH) reads every
  certificate with the expiry date the collection read, CAs included (the agreement table is printed);
- KC-OPS-007 fails: the running apiserver cannot load the new certificate (its key file is still the old one) and
  still serves the old certificate, which the test reads over TLS itself; once the matching key is written too, the
  apiserver serves the new pair without a restart (it watches the files), so KC-OPS-007 passing then is right;
- control_plane_certificates (opt-in renewal) in check mode changes nothing and says it would renew apiserver and
  restart kube-apiserver; run for real it renews with `kubeadm certs renew apiserver`, restarts the apiserver
  health-gated, and KC-OPS-005 and KC-OPS-007 pass; a second run changes nothing.

The tests run in file order and build on each other (one cluster, one story)."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import socket
import ssl
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kclocal import cluster, pki
from tests.helpers import REPO, VENV_BIN, ansible_env, run
from tests.integration.conftest import LocalControlPlane

pytestmark = pytest.mark.nodes(1)

PLAYBOOK = """---
- name: Control-plane certificates
  hosts: k8s_clusters
  gather_facts: false
  tasks:
    - name: Renew the certificates that expire soon
      ansible.builtin.include_role:
        name: kubecompass.readiness.control_plane_certificates
"""
CHECKS = ["KC-OPS-005", "KC-OPS-006", "KC-OPS-007"]
STORY: dict = {}


@pytest.fixture(scope="module")
def cp(control_planes, kubeadm, tmp_path_factory):
    control_plane: LocalControlPlane = control_planes.get(1)
    node = control_plane.nodes[0]
    root = control_plane.node_root(node["name"])
    work = tmp_path_factory.mktemp("certificate-expiry")
    (work / "play.yml").write_text(PLAYBOOK)
    crt, key = root / "etc/kubernetes/pki/apiserver.crt", root / "etc/kubernetes/pki/apiserver.key"
    original = (crt.read_bytes(), key.read_bytes())
    STORY.update(node=node, root=root, work=work, crt=crt, key=key, kubeadm=kubeadm)
    yield control_plane
    # A story stopped before the renewal leaves the 10-day certificate: put the rig's back (the apiserver still
    # serves it).
    if _days_left(x509.load_pem_x509_certificate(crt.read_bytes())) < 30:
        crt.write_bytes(original[0])
        pki.write_private(key, original[1])


def _days_left(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)).total_seconds() / 86400


def reissue(cert: x509.Certificate, ca: pki.KeyPair, days: int) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The same subject, SANs and usages, a new key, signed by the CA, valid for ``days`` days from now."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(ca.cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days)))
    for extension in cert.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(ca.key, hashes.SHA256()), key


def served_sha256() -> str:
    """The fingerprint of the certificate the node's apiserver serves now (not verified: it may be stale)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((STORY["node"]["ip"], 6443), timeout=5) as sock, context.wrap_socket(sock) as tls:
        return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def disk_sha256() -> str:
    return hashlib.sha256(x509.load_pem_x509_certificate(STORY["crt"].read_bytes()).public_bytes(
        serialization.Encoding.DER)).hexdigest()


def findings(cp, tmp_path):
    report_dir = tmp_path / "reports"
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(cp.inventory), "playbooks/assess.yml", "--check",
                  "-e", f"kubecompass_report_dir={report_dir}", "-e", json.dumps(
                      {"kubecompass_include_checks": CHECKS})], env=ansible_env(), cwd=REPO, timeout=600)
    assert (report_dir / "kubecompass-report.json").is_file(), result.stdout[-3000:] + result.stderr[-2000:]
    report = json.loads((report_dir / "kubecompass-report.json").read_text())
    return {f["check_id"]: f for f in report["clusters"][0]["findings"]}


def objects(finding) -> dict[str, dict]:
    return {o["name"]: o for o in finding["objects"]}


def on_node(*argv: str) -> subprocess.CompletedProcess[str]:
    paths = cluster.Paths(cluster.state_dir())
    return subprocess.run(["ssh", "-i", str(paths.ssh / "id_ed25519"), "-p", str(cluster.SSH_PORT),
                           "-o", f"UserKnownHostsFile={paths.ssh / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
                           "-o", "BatchMode=yes", f"root@{STORY['node']['ip']}", *argv],
                          capture_output=True, text=True, timeout=120, check=False)


def playbook(cp, *args):
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(cp.inventory), str(STORY["work"] / "play.yml"),
           "-e", "control_plane_certificates_renew=true",
           "-e", f"control_plane_certificates_kubeadm={STORY['kubeadm']}", *args]
    result = run(cmd, env=ansible_env(), timeout=600)
    return result, result.stdout + result.stderr


def recap_changed(output):
    return int(re.search(r"localcp\s+: ok=\d+\s+changed=(\d+)", output).group(1))


def files_digest():
    names = ("etc/kubernetes/pki/apiserver.crt", "etc/kubernetes/pki/apiserver.key",
             "etc/kubernetes/manifests/kube-apiserver.yaml")
    return {name: hashlib.sha256((STORY["root"] / name).read_bytes()).hexdigest() for name in names}


def test_a_10_day_certificate_on_disk_fails_kc_ops_005_and_the_stale_served_one_kc_ops_007(cp, tmp_path):
    pki_dir = STORY["root"] / "etc/kubernetes/pki"
    ca = pki.load(pki_dir / "ca.crt", pki_dir / "ca.key")
    old = x509.load_pem_x509_certificate(STORY["crt"].read_bytes())
    new, key = reissue(old, ca, 10)
    STORY["new_key"] = key
    assert new.subject == old.subject and list(new.extensions) == list(old.extensions)
    # The certificate only (its key stays in memory): a renewal done halfway, nothing restarted.
    STORY["crt"].write_bytes(new.public_bytes(serialization.Encoding.PEM))
    served = served_sha256()
    # Ground truth: the apiserver cannot load a certificate its key file does not match, so it serves the old one.
    assert served != disk_sha256() and served == hashlib.sha256(old.public_bytes(serialization.Encoding.DER)).hexdigest()
    found = findings(cp, tmp_path)
    STORY["findings"] = found
    apiserver = objects(found["KC-OPS-005"])["kc-cp1/apiserver"]
    assert found["KC-OPS-005"]["verdict"] == "fail" and apiserver["verdict"] == "fail", apiserver
    assert re.search(r"/etc/kubernetes/pki/apiserver.crt \(kube-apiserver\) expires on \S+, 10 days left "
                     r"\(under 30 days\)", apiserver["reason"]), apiserver
    assert found["KC-OPS-006"]["verdict"] == "pass", found["KC-OPS-006"]
    served_object = objects(found["KC-OPS-007"])["kc-cp1/kube-apiserver"]
    assert found["KC-OPS-007"]["verdict"] == "fail" and "still serves the old certificate" in served_object["reason"], (
        found["KC-OPS-007"])


def test_kubeadm_check_expiration_reads_every_certificate_as_the_collection_does(cp):
    result = on_node(str(STORY["kubeadm"]), "certs", "check-expiration", "-o", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    kubeadm = {c["name"]: c for c in report["certificates"] + report["certificateAuthorities"] if not c.get("missing")}
    collection = {}
    for check in ("KC-OPS-005", "KC-OPS-006"):
        for name, item in objects(STORY["findings"][check]).items():
            match = re.search(r"expires on (\S+), (\d+) days left", item["reason"])
            if match:
                collection[name.split("/", 1)[1]] = (match.group(1), int(match.group(2)))
    rows = []
    for name in sorted(kubeadm):
        expiry = kubeadm[name]["expirationDate"]
        days = round(int(kubeadm[name]["residualTime"]) / 86400)
        rows.append((name, collection.get(name, ("-", "-"))[1], days, collection.get(name, ("-",))[0], expiry))
    print("\ncertificate                 collection days  kubeadm days  collection expiry      kubeadm expiry")
    for row in rows:
        print("%-27s %15s  %12s  %-21s  %s" % row)
    # kubeadm's certificates are exactly those the collection judged (kubelet.conf is the collection's only extra).
    assert set(kubeadm) == set(collection) - {"kubelet.conf"}, (sorted(kubeadm), sorted(collection))
    assert all(collection[name][0] == kubeadm[name]["expirationDate"] for name in kubeadm), rows
    assert all(abs(row[1] - row[2]) <= 1 for row in rows), rows
    assert collection["apiserver"][1] == 10 and kubeadm["apiserver"]["residualTime"] < 10 * 86400


def test_the_apiserver_loads_a_matching_pair_without_a_restart(cp):
    """Why KC-OPS-007 passes once key and certificate are both replaced: kube-apiserver watches its serving pair
    (--tls-cert-file, --tls-private-key-file) and serves a new matching pair without a restart."""
    pid = cp.pods(STORY["node"]["name"])["kube-apiserver.yaml"]["pid"]
    pki.write_private(STORY["key"], STORY.pop("new_key").private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    cluster.wait_for("the apiserver to serve the certificate on disk", lambda: served_sha256() == disk_sha256(), 90)
    assert cp.pods(STORY["node"]["name"])["kube-apiserver.yaml"]["pid"] == pid


def test_check_mode_renews_nothing_and_says_what_it_would_do(cp):
    before = files_digest()
    result, output = playbook(cp, "--check")
    assert result.returncode == 0, output[-5000:]
    assert "kc-cp1: would renew apiserver (fewer than 30 days left); would restart kube-apiserver" in output, (
        output[-5000:])
    assert recap_changed(output) > 0
    assert files_digest() == before


def test_renewal_renews_restarts_the_apiserver_and_the_checks_pass(cp):
    pid_before = cp.pods(STORY["node"]["name"])["kube-apiserver.yaml"]["pid"]
    result, output = playbook(cp)
    assert result.returncode == 0, output[-6000:]
    assert "kc-cp1: renewed apiserver (fewer than 30 days left); restarts kube-apiserver" in output, output[-5000:]
    assert "PRIVATE KEY" not in output
    assert _days_left(x509.load_pem_x509_certificate(STORY["crt"].read_bytes())) > 360
    assert cp.pods(STORY["node"]["name"])["kube-apiserver.yaml"]["pid"] != pid_before
    assert served_sha256() == disk_sha256()
    # The role's verification assessed both with the assessment's own checks.
    assert '"msg": "KC-OPS-005, KC-OPS-007 pass"' in output, output[-5000:]


def test_a_second_run_changes_nothing(cp):
    result, output = playbook(cp)
    assert result.returncode == 0, output[-5000:]
    assert recap_changed(output) == 0, output[-5000:]
