# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""The certificates a control-plane node holds (kubeadm's PKI and kubeconfig client certificates, the RKE2/k3s
TLS directories) and the certificates its apiserver and etcd serve, reduced to public facts: name, path,
validity, CA flag, subject and issuer common names, SHA-256 fingerprint.

X.509 is read with the few DER rules a validity check needs, in the standard library: ``cryptography`` is not a
runtime dependency of the collection and node_facts runs on the node's own Python. Only CERTIFICATE blocks of a
PEM file are decoded; a private key in the same file (kubelet-client-current.pem) is never parsed or returned.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import base64
import binascii
import datetime
import hashlib
import os
import re
import socket
import ssl

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.config import KUBEADM_PKI
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import (
    DocumentError,
    cause_of,
    is_missing,
    on_host,
    read_document,
    read_text,
)

KUBEADM_KUBECONFIG_DIR = "/etc/kubernetes"
# kubeadm certs check-expiration names (K8S cmd/kubeadm/app/phases/certs/renewal/manager.go), CAs first.
KUBEADM_CERTIFICATES = (
    ("ca", KUBEADM_PKI + "/ca.crt"),
    ("etcd-ca", KUBEADM_PKI + "/etcd/ca.crt"),
    ("front-proxy-ca", KUBEADM_PKI + "/front-proxy-ca.crt"),
    ("apiserver", KUBEADM_PKI + "/apiserver.crt"),
    ("apiserver-etcd-client", KUBEADM_PKI + "/apiserver-etcd-client.crt"),
    ("apiserver-kubelet-client", KUBEADM_PKI + "/apiserver-kubelet-client.crt"),
    ("etcd-healthcheck-client", KUBEADM_PKI + "/etcd/healthcheck-client.crt"),
    ("etcd-peer", KUBEADM_PKI + "/etcd/peer.crt"),
    ("etcd-server", KUBEADM_PKI + "/etcd/server.crt"),
    ("front-proxy-client", KUBEADM_PKI + "/front-proxy-client.crt"),
)
# kubelet.conf is not in check-expiration (the kubelet rotates its own client certificate) but is read all the same:
# a kubelet certificate close to expiry means its rotation is broken.
KUBEADM_KUBECONFIGS = ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf")
DEFAULT_SECURE_PORT = "6443"
TLS_TIMEOUT = 5

_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----", re.S)
_OID_COMMON_NAME = bytes.fromhex("550403")
_OID_BASIC_CONSTRAINTS = bytes.fromhex("551d13")


class CertificateError(ValueError):
    """Data that is not an X.509 certificate (the message never quotes it)."""


# -- DER -----------------------------------------------------------------------------------------------------------

def _tlv(data, offset):
    """(tag, value start, value end) of the DER element at ``offset``."""
    if offset + 2 > len(data):
        raise CertificateError("truncated DER")
    tag, length = data[offset], data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise CertificateError("bad DER length")
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    if start + length > len(data):
        raise CertificateError("truncated DER")
    return tag, start, start + length


def _children(data, start, end):
    children = []
    while start < end:
        tag, value_start, value_end = _tlv(data, start)
        children.append((tag, value_start, value_end))
        start = value_end
    return children


def _der_time(tag, raw):
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ; RFC 5280: YY >= 50 is 19YY
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise CertificateError("validity is not a time")
    if not text.endswith("Z") or len(text) != 15:
        raise CertificateError("validity time is not in UTC")
    moment = datetime.datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _common_name(data, start, end):
    for _set_tag, set_start, set_end in _children(data, start, end):
        for _seq_tag, seq_start, seq_end in _children(data, set_start, set_end):
            parts = _children(data, seq_start, seq_end)
            if len(parts) == 2 and data[parts[0][1]:parts[0][2]] == _OID_COMMON_NAME:
                return data[parts[1][1]:parts[1][2]].decode("utf-8", errors="replace")
    return None


def _is_ca(data, extensions):
    if extensions is None:
        return False
    _tag, start, end = _tlv(data, extensions[1])  # [3] EXPLICIT wraps the SEQUENCE of extensions
    for _ext_tag, ext_start, ext_end in _children(data, start, end):
        parts = _children(data, ext_start, ext_end)
        if data[parts[0][1]:parts[0][2]] != _OID_BASIC_CONSTRAINTS:
            continue
        _seq, seq_start, seq_end = _tlv(data, parts[-1][1])  # OCTET STRING holds BasicConstraints
        inner = _children(data, seq_start, seq_end)
        return bool(inner) and inner[0][0] == 0x01 and data[inner[0][1]] != 0
    return False


def parse_certificate(der):
    """Public facts of one DER certificate: not_before, not_after (RFC 3339 UTC), is_ca, subject_cn, issuer_cn,
    sha256 (fingerprint of the DER). Raises CertificateError for anything else."""
    try:
        _tag, start, end = _tlv(der, 0)
        tbs_tag, tbs_start, tbs_end = _children(der, start, end)[0]
        fields = _children(der, tbs_start, tbs_end)
        if tbs_tag != 0x30 or not fields:
            raise CertificateError("not an X.509 certificate")
        if fields[0][0] == 0xA0:  # explicit version
            fields = fields[1:]
        # serial, signature, issuer, validity, subject, subjectPublicKeyInfo, then optional [1] [2] [3]
        issuer, validity, subject = fields[2], fields[3], fields[4]
        extensions = next((f for f in fields[6:] if f[0] == 0xA3), None)
        times = _children(der, validity[1], validity[2])
        return {
            "not_before": _der_time(times[0][0], der[times[0][1]:times[0][2]]),
            "not_after": _der_time(times[1][0], der[times[1][1]:times[1][2]]),
            "is_ca": _is_ca(der, extensions),
            "subject_cn": _common_name(der, subject[1], subject[2]),
            "issuer_cn": _common_name(der, issuer[1], issuer[2]),
            "sha256": hashlib.sha256(der).hexdigest(),
        }
    except CertificateError:
        raise
    except (IndexError, ValueError, UnicodeDecodeError):
        raise CertificateError("not an X.509 certificate") from None


def first_certificate(pem_text):
    """DER of the first CERTIFICATE block of a PEM text; other blocks (a private key) are never decoded."""
    match = _PEM_CERTIFICATE.search(pem_text or "")
    if not match:
        raise CertificateError("no PEM CERTIFICATE block")
    try:
        return base64.b64decode("".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateError("the CERTIFICATE block is not base64") from None


# -- files ---------------------------------------------------------------------------------------------------------

def _entry(name, path, source):
    return {"name": name, "path": path, "source": source, "missing": False, "error": None, "not_before": None,
            "not_after": None, "is_ca": None, "subject_cn": None, "issuer_cn": None, "sha256": None}


def read_certificate_file(root, name, path, source="file"):
    """The facts of the first certificate in a PEM file; a missing file is ``missing``, an unreadable or
    unparsable one carries ``error``."""
    entry = _entry(name, path, source)
    try:
        text = read_text(root, path)
        if text is None:
            entry["missing"] = True
            return entry
        entry.update(parse_certificate(first_certificate(text)))
    except OSError as exc:
        entry["error"] = cause_of(exc)
    except CertificateError as exc:
        entry["error"] = str(exc)
    return entry


def _kubeconfig_user(document):
    """The user entry of the kubeconfig's current context (the first user without one)."""
    users = {u.get("name"): u.get("user") or {} for u in document.get("users") or [] if isinstance(u, dict)}
    contexts = {c.get("name"): c.get("context") or {} for c in document.get("contexts") or [] if isinstance(c, dict)}
    current = contexts.get(document.get("current-context")) or {}
    if current.get("user") in users:
        return users[current["user"]]
    return next(iter(users.values()), None)


def read_kubeconfig_certificate(root, name, path):
    """The client certificate of a kubeconfig: embedded (client-certificate-data) or the file client-certificate
    names (relative to the kubeconfig, as kubectl resolves it). The key fields are never looked at."""
    entry = _entry(name, path, "kubeconfig")
    try:
        exists, document = read_document(root, path)
        if not exists:
            entry["missing"] = True
            return entry
        user = _kubeconfig_user(document) if isinstance(document, dict) else None
        if not isinstance(user, dict):
            raise CertificateError("no user in the kubeconfig")
        if user.get("client-certificate-data"):
            try:
                text = base64.b64decode(str(user["client-certificate-data"])).decode("ascii")
            except (binascii.Error, ValueError):
                raise CertificateError("client-certificate-data is not base64 PEM") from None
        elif user.get("client-certificate"):
            cert_path = os.path.join(os.path.dirname(path), str(user["client-certificate"]))
            entry["path"], entry["source"] = cert_path, "kubeconfig %s" % path
            text = read_text(root, cert_path)
            if text is None:
                entry["missing"] = True
                return entry
        else:
            raise CertificateError("the kubeconfig user has no client certificate")
        entry.update(parse_certificate(first_certificate(text)))
    except OSError as exc:
        entry["error"] = cause_of(exc)
    except (CertificateError, DocumentError) as exc:
        entry["error"] = str(exc)
    return entry


def _crt_files(root, directory):
    try:
        names = sorted(os.listdir(on_host(root, directory)))
    except OSError as exc:
        if is_missing(exc):
            return [], None
        return [], cause_of(exc)
    return [n for n in names if n.endswith(".crt") and os.path.isfile(on_host(root, directory + "/" + n))], None


def read_node_certificates(root, distribution, cert_dirs=()):
    """``{"dirs", "entries"}``: every certificate of a kubeadm node under check-expiration's names (plus
    kubelet.conf), or every ``*.crt`` in the RKE2/k3s TLS directories named by their path below the first."""
    entries = []
    if distribution == "kubeadm":
        dirs = [KUBEADM_PKI, KUBEADM_PKI + "/etcd", KUBEADM_KUBECONFIG_DIR]
        for name, path in KUBEADM_CERTIFICATES:
            entries.append(read_certificate_file(root, name, path))
        for name in KUBEADM_KUBECONFIGS:
            entries.append(read_kubeconfig_certificate(root, name, KUBEADM_KUBECONFIG_DIR + "/" + name))
        return {"dirs": dirs, "entries": entries}
    dirs = list(cert_dirs)
    base = dirs[0] if dirs else ""
    for directory in dirs:
        names, problem = _crt_files(root, directory)
        if problem:
            entry = _entry(directory, directory, "directory")
            entry["error"] = problem
            entries.append(entry)
        for file_name in names:
            path = directory + "/" + file_name
            name = path[len(base):].lstrip("/")[:-len(".crt")] if base else file_name[:-len(".crt")]
            entries.append(read_certificate_file(root, name, path))
    return {"dirs": dirs, "entries": entries}


# -- what the processes serve ------------------------------------------------------------------------------------

def served_certificate(host, port, client=None, timeout=TLS_TIMEOUT):
    """DER of the certificate a TLS server presents. Not verified on purpose: an expired or replaced
    certificate must still be read. ``client`` (cert, key) paths are handed to the TLS library only (etcd
    requires a client certificate)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if client:
        context.load_cert_chain(*client)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock, context.wrap_socket(sock) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise CertificateError("the server presented no certificate")
    return der


def _address(flags):
    for flag in ("bind-address", "advertise-address"):
        value = (flags or {}).get(flag)
        if value and value not in ("0.0.0.0", "::"):
            return value
    return "127.0.0.1"


def _host_port(url):
    rest = url.split("://", 1)[-1].split("/", 1)[0]
    if rest.startswith("["):
        host, _sep, port = rest[1:].partition("]:")
    else:
        host, _sep, port = rest.rpartition(":")
    return host, port or "2379"


def compare_served(root, component, endpoint, disk_path, fetch, client=None):
    """What ``component`` serves at ``endpoint`` (host, port) against the certificate file it is configured
    with: ``{"component", "endpoint", "path", "served", "on_disk", "matches", "error"}``."""
    host, port = endpoint
    result = {"component": component, "endpoint": "%s:%s" % (host, port), "path": disk_path, "served": None,
              "on_disk": None, "matches": None, "error": None}
    disk = read_certificate_file(root, component, disk_path)
    if disk["missing"] or disk["error"]:
        result["error"] = "%s: %s" % (disk_path, "does not exist" if disk["missing"] else disk["error"])
        return result
    result["on_disk"] = {k: disk[k] for k in ("not_after", "sha256")}
    try:
        served = parse_certificate(fetch(host, port, client))
    except (OSError, ssl.SSLError, CertificateError) as exc:
        result["error"] = "cannot read the certificate served at %s: %s" % (result["endpoint"], cause_of(exc))
        return result
    result["served"] = {k: served[k] for k in ("not_after", "sha256")}
    result["matches"] = served["sha256"] == disk["sha256"]
    return result


def read_serving_certificates(root, distribution, running_flags, etcd_flags, to_host, etcd_endpoint, etcd_client,
                              cert_dirs=(), fetch=served_certificate):
    """The apiserver's (kubeadm, RKE2: the running process's --tls-cert-file and port) and the local etcd's (its
    client URL and --cert-file, with the etcd client certificate node facts read etcd with) serving certificates
    read over TLS and compared with their files. k3s serves its apiserver port through its
    own supervisor, so only what is known is compared; anything else is an entry with an error saying why."""
    results = []
    if running_flags is not None:
        cert = running_flags.get("tls-cert-file")
        if not cert and distribution == "kubeadm":
            cert = KUBEADM_PKI + "/apiserver.crt"
        endpoint = (_address(running_flags), running_flags.get("secure-port") or DEFAULT_SECURE_PORT)
        if cert:
            results.append(compare_served(root, "kube-apiserver", endpoint, to_host(cert), fetch))
        else:
            results.append({"component": "kube-apiserver", "endpoint": "%s:%s" % endpoint, "path": None,
                            "served": None, "on_disk": None, "matches": None,
                            "error": "the running kube-apiserver has no --tls-cert-file"})
    else:
        results.append({"component": "kube-apiserver", "endpoint": None, "path": None, "served": None,
                        "on_disk": None, "matches": None,
                        "error": "no kube-apiserver process runs on this node (k3s serves it from its own process)"
                        if distribution == "k3s" else "no kube-apiserver process runs on this node"})
    if etcd_flags is not None:  # a local etcd: its own client URL, else the apiserver's (RKE2/k3s embedded)
        urls = [u.strip() for flag in ("advertise-client-urls", "listen-client-urls")
                for u in str(etcd_flags.get(flag) or "").split(",") if u.strip()]
        url = urls[0] if urls else etcd_endpoint
        cert = etcd_flags.get("cert-file")
        if not cert and distribution != "kubeadm" and len(cert_dirs) > 1:
            cert = cert_dirs[1] + "/server-client.crt"  # k3s pkg/daemons/control/deps: ServerETCDCert
        if url and url.startswith("https://") and cert:
            client = tuple(on_host(root, p) for p in etcd_client[:2]) if etcd_client else None
            results.append(compare_served(root, "etcd", _host_port(url), cert, fetch, client))
    return results
