"""The rancher_apiserver_config module run for real on a node tree under tmp_path: config files on disk, a restart
command that is a small script recording its calls, and the health gate probing a local HTTPS server that
requires the client certificate (the module's defaults under <data-dir>/server/tls)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import rancher_change, rollout
from ansible_collections.kubecompass.readiness.plugins.modules import rancher_apiserver_config as module

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

AUDIT_POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"
SECRET = "admission-webhook-token-s3cr3t-value-never-shown"
USER_CONFIG = "token: not-read-here\nkube-apiserver-arg:\n  - event-ttl=2h\n"


# -- TLS and the health server -----------------------------------------------------------------------------------

def _cert(subject, key, issuer, issuer_key, ca=False, server=False):
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert=None, key=None):
    if cert is not None:
        return cert.public_bytes(serialization.Encoding.PEM)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, the API server's serving pair for 127.0.0.1, and an admin client pair: PEM bytes by name."""
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _i in range(3))
    ca = _cert("server-ca", ca_key, "server-ca", ca_key, ca=True)
    return {"ca": _pem(ca), "server.crt": _pem(_cert("kube-apiserver", server_key, "server-ca", ca_key, server=True)),
            "server.key": _pem(key=server_key),
            "client.crt": _pem(_cert("system:admin", client_key, "server-ca", ca_key)),
            "client.key": _pem(key=client_key)}


class HealthServer:
    """/livez and /readyz answer 200 while the file ``health`` says "up", 500 otherwise; TLS with client certs."""

    def __init__(self, directory, pki):
        self.health = directory / "health"
        self.health.write_text("up")
        for name in ("server.crt", "server.key", "ca"):
            (directory / name).write_bytes(pki[name])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / "server.crt", directory / "server.key")
        context.load_verify_locations(directory / "ca")
        context.verify_mode = ssl.CERT_REQUIRED
        health = self.health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                up = health.read_text().strip() == "up" and self.path in ("/livez", "/readyz")
                self.send_response(200 if up else 500)
                self.end_headers()
                self.wfile.write(b"ok" if up else b"not ready")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.endpoint = "https://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# -- the node ----------------------------------------------------------------------------------------------------

RESTART_SCRIPT = r'''#!{python}
"""Fake `systemctl restart`: records the call, then sets the health and the running processes for this call."""
import json, os, sys
directory, root = sys.argv[1], sys.argv[2]
with open(os.path.join(directory, "restarts"), "a") as handle:
    handle.write("restart\n")
with open(os.path.join(directory, "restarts")) as handle:
    index = len(handle.read().splitlines()) - 1
with open(os.path.join(directory, "script.json")) as handle:
    script = json.load(handle)
def pick(name, default):
    values = script.get(name) or [default]
    return values[min(index, len(values) - 1)]
with open(os.path.join(directory, "health"), "w") as handle:
    handle.write(pick("health", "up"))
process = pick("proc", None)
for process in (process if isinstance(process, list) else [process] if process else []):
    entry = os.path.join(root, "proc", str(process["pid"]))
    os.makedirs(entry, exist_ok=True)
    with open(os.path.join(entry, "comm"), "w") as handle:
        handle.write(process["argv"][0][:15] + "\n")
    with open(os.path.join(entry, "cmdline"), "wb") as handle:
        handle.write("\0".join(process["argv"]).encode() + b"\0")
sys.exit(pick("rc", 0))
'''


class Node:
    def __init__(self, tmp_path, pki, distribution="k3s", config=USER_CONFIG, **script):
        self.distribution = distribution
        self.root = tmp_path / "node"
        self.state = tmp_path / "state"
        self.state.mkdir(parents=True)
        self.config_dir = self.root / ("etc/rancher/%s" % distribution)
        self.dropins = self.config_dir / "config.yaml.d"
        self.config_dir.mkdir(parents=True)
        (self.config_dir / "config.yaml").write_text(config)
        tls = self.root / ("var/lib/rancher/%s/server/tls" % distribution)
        tls.mkdir(parents=True)
        (tls / "server-ca.crt").write_bytes(pki["ca"])
        (tls / "client-admin.crt").write_bytes(pki["client.crt"])
        (tls / "client-admin.key").write_bytes(pki["client.key"])
        self.server = HealthServer(self.state, pki)
        self.script = self.state / "restart"
        self.script.write_text(RESTART_SCRIPT.format(python=sys.executable))
        self.script.chmod(0o755)
        (self.state / "script.json").write_text(json.dumps(script))

    def dropin(self, topic="audit"):
        return self.dropins / ("50-kubecompass-%s.yaml" % topic)

    def restarts(self):
        path = self.state / "restarts"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def snapshot(self):
        """Every file below the node root with its bytes and mode, except the module's backups."""
        files = {}
        backups = self.root / "var/lib/kubecompass"
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and backups not in path.parents:
                files[str(path.relative_to(self.root))] = (path.read_bytes(), path.stat().st_mode)
        return files

    def run(self, capsys, check=False, diff=True, **args):
        args = dict(args, distribution=self.distribution, endpoint=self.server.endpoint, root=str(self.root),
                    node_name="server-1", restart_command=[str(self.script), str(self.state), str(self.root)],
                    _ansible_check_mode=check, _ansible_diff=diff)
        args.setdefault("timeout", 3)
        with patch_module_args(args), pytest.raises(SystemExit) as exited:
            module.main()
        out = capsys.readouterr().out
        return exited.value.code, json.loads(out), out


@pytest.fixture
def nodes(tmp_path, pki):
    made = []

    def make(**options):
        node = Node(tmp_path / str(len(made)), pki, **options)
        made.append(node)
        return node

    yield make
    for node in made:
        node.server.close()


def audit_args(distribution="k3s", secret=False):
    base = "/var/lib/rancher/%s/server" % distribution
    files = [{"path": base + "/audit.yaml", "content": AUDIT_POLICY, "mode": "0600"}]
    if secret:
        files.append({"path": "/etc/rancher/%s/webhook-token" % distribution, "content": SECRET, "mode": "0600",
                      "secret": True})
    return {"topic": "audit", "files": files,
            "set_flags": {"audit-policy-file": base + "/audit.yaml", "audit-log-path": base + "/logs/audit.log",
                          "audit-log-maxage": "30", "audit-log-maxbackup": "10", "audit-log-maxsize": "100"}}


# -- the health probe itself -------------------------------------------------------------------------------------

def test_health_probe_uses_the_ca_and_the_client_certificate(nodes):
    node = nodes()
    tls = node.root / "var/lib/rancher/k3s/server/tls"
    ca, cert, key = (str(tls / name) for name in ("server-ca.crt", "client-admin.crt", "client-admin.key"))
    assert rollout.endpoint_healthy(node.server.endpoint, ca, cert, key) is True
    assert rollout.endpoint_healthy(node.server.endpoint, ca) is False  # the server requires a client certificate
    node.server.health.write_text("down")
    assert rollout.endpoint_healthy(node.server.endpoint, ca, cert, key) is False


# -- check mode, apply, idempotence ------------------------------------------------------------------------------

def test_check_mode_changes_nothing_and_shows_the_exact_diff(nodes, capsys):
    node = nodes()
    before = node.snapshot()
    rc, result, _out = node.run(capsys, check=True, **audit_args())
    assert rc == 0, result
    assert result["changed"] is True
    assert node.snapshot() == before
    assert node.restarts() == 0
    dropin, policy = result["diff"]
    assert dropin["before_header"] == "/etc/rancher/k3s/config.yaml.d/50-kubecompass-audit.yaml"
    assert dropin["before"] == ""
    assert yaml.safe_load(dropin["after"]) == {"kube-apiserver-arg+": [
        "audit-log-maxage=30", "audit-log-maxbackup=10", "audit-log-maxsize=100",
        "audit-log-path=/var/lib/rancher/k3s/server/logs/audit.log",
        "audit-policy-file=/var/lib/rancher/k3s/server/audit.yaml"]}
    assert (policy["before"], policy["after"]) == ("", AUDIT_POLICY)
    assert result["changes"][0] == "add kube-apiserver-arg+ audit-log-maxage=30"
    assert result["changes"][-1] == "write /var/lib/rancher/k3s/server/audit.yaml"


def test_apply_writes_atomically_restarts_once_and_a_second_run_changes_nothing(nodes, capsys):
    node = nodes()
    rc, result, _out = node.run(capsys, **audit_args())
    assert rc == 0, result
    assert result["changed"] is True and node.restarts() == 1
    assert sorted(p.name for p in node.dropins.iterdir()) == ["50-kubecompass-audit.yaml"]
    assert node.dropin().read_text() == result["diff"][0]["after"]
    assert oct(node.dropin().stat().st_mode & 0o777) == "0o600"
    assert (node.root / "var/lib/rancher/k3s/server/audit.yaml").read_text() == AUDIT_POLICY
    # The user's own config is untouched; the backup lives outside config.yaml.d.
    assert (node.config_dir / "config.yaml").read_text() == USER_CONFIG
    assert result["backup"].startswith("/var/lib/kubecompass/backups/")
    assert (node.root / result["backup"].lstrip("/")).is_dir()
    assert isinstance(result["restart_seconds"], float)
    before = node.snapshot()
    rc, again, _out = node.run(capsys, **audit_args())
    assert rc == 0 and again["changed"] is False and again["changes"] == []
    assert node.restarts() == 1
    assert node.snapshot() == before


def test_failed_health_restores_the_files_restarts_twice_and_names_the_node(nodes, capsys):
    node = nodes(health=["down", "up"])
    (node.dropins).mkdir()
    existing = node.dropin()
    existing.write_text("kube-apiserver-arg+:\n- audit-log-maxage=7\n")
    before = node.snapshot()
    rc, result, _out = node.run(capsys, timeout=2, **audit_args())
    assert rc == 1
    assert result["category"] == "rolled_back"
    assert result["msg"].startswith("server-1: the API server did not come back healthy within 2s")
    assert "healthy again" in result["msg"]
    assert node.restarts() == 2
    assert node.snapshot() == before  # old drop-in back, the new policy file deleted
    assert not (node.root / "var/lib/rancher/k3s/server/audit.yaml").exists()
    copies = list((node.root / "var/lib/kubecompass/backups").rglob("*50-kubecompass-audit.yaml"))
    assert [copy.read_text() for copy in copies] == ["kube-apiserver-arg+:\n- audit-log-maxage=7\n"]


def test_a_failing_restart_command_rolls_back(nodes, capsys):
    node = nodes(rc=[1, 0])
    before = node.snapshot()
    rc, result, _out = node.run(capsys, **audit_args())
    assert rc == 1 and result["category"] == "rolled_back"
    assert " exited 1 " in result["msg"] and result["msg"].startswith("server-1: ")
    assert node.restarts() == 2
    assert node.snapshot() == before


def test_an_unhealthy_api_server_is_not_touched(nodes, capsys):
    node = nodes()
    node.server.health.write_text("down")
    before = node.snapshot()
    rc, result, _out = node.run(capsys, **audit_args())
    assert rc == 1 and "not healthy before the change" in result["msg"]
    assert node.restarts() == 0 and node.snapshot() == before


def test_secret_file_contents_never_appear(nodes, capsys):
    node = nodes()
    for check in (True, False):
        rc, result, out = node.run(capsys, check=check, **audit_args(secret=True))
        assert rc == 0, result
        assert SECRET not in out
        entry = next(d for d in result["diff"] if d["before_header"] == "/etc/rancher/k3s/webhook-token")
        assert entry["before"] == "(absent)\n" and entry["after"].startswith("(secret: %d bytes, sha256 " % len(SECRET))
        assert "write /etc/rancher/k3s/webhook-token (secret)" in result["changes"]
    assert (node.config_dir / "webhook-token").read_text() == SECRET


# -- RKE2: the old static pod survives the service restart -------------------------------------------------------

def rke2_argv():
    base = "/var/lib/rancher/rke2/server"
    return ["kube-apiserver", "--audit-policy-file=%s/audit.yaml" % base, "--audit-log-path=%s/logs/audit.log" % base,
            "--audit-log-maxage=30", "--audit-log-maxbackup=10", "--audit-log-maxsize=100", "--profiling=false"]


def test_rke2_waits_for_a_new_api_server_with_the_new_flags(nodes, capsys):
    node = nodes(distribution="rke2", proc=[{"pid": 4242, "argv": rke2_argv()}])
    old = node.root / "proc/100"
    old.mkdir(parents=True)
    (old / "comm").write_text("kube-apiserver\n")
    (old / "cmdline").write_bytes(b"kube-apiserver\0--profiling=false\0")
    rc, result, _out = node.run(capsys, **audit_args("rke2"))
    assert rc == 0, result
    assert node.restarts() == 1
    assert yaml.safe_load(node.dropin().read_text())["kube-apiserver-arg+"][0] == "audit-log-maxage=30"


def test_rke2_healthy_but_still_the_old_pod_is_rolled_back(nodes, capsys):
    node = nodes(distribution="rke2")
    before = node.snapshot()
    rc, result, _out = node.run(capsys, timeout=2, **audit_args("rke2"))
    assert rc == 1 and result["category"] == "rolled_back"
    assert "did not come back healthy with the new flags within 2s" in result["msg"]
    assert node.restarts() == 2 and node.snapshot() == before


# -- what a drop-in cannot do ------------------------------------------------------------------------------------

def test_problems_from_plan_dropin_fail_with_their_message(nodes, capsys):
    node = nodes()
    rc, result, _out = node.run(capsys, check=True, topic="hardening", remove_flags=["profiling"])
    assert rc == 1 and result["category"] == "conflict"
    assert result["msg"] == ("server-1: --profiling=false must go, which a drop-in cannot do: edit the config")
    node.dropins.mkdir()
    (node.dropins / "90-user.yaml").write_text("kube-apiserver-arg:\n  - audit-log-maxage=5\n")
    rc, result, _out = node.run(capsys, check=True, **audit_args())
    assert rc == 1 and "a later config file replaces or overrides it" in result["msg"]
    assert node.restarts() == 0


def test_a_dropin_no_longer_needed_is_removed(nodes, capsys):
    node = nodes()
    assert node.run(capsys, topic="tls", set_flags={"tls-min-version": "VersionTLS12"})[0] == 0
    (node.config_dir / "config.yaml").write_text(USER_CONFIG + "  - tls-min-version=VersionTLS12\n")
    rc, result, _out = node.run(capsys, topic="tls", set_flags={"tls-min-version": "VersionTLS12"})
    assert rc == 0, result
    assert result["changes"] == ["remove /etc/rancher/k3s/config.yaml.d/50-kubecompass-tls.yaml: the flags and "
                                 "settings are effective without it"]
    assert list(node.dropins.iterdir()) == [] and node.restarts() == 2


def test_a_broken_dropin_of_ours_is_rewritten(nodes, capsys):
    node = nodes()
    node.dropins.mkdir()
    node.dropin().write_text("kube-apiserver-arg+: [unclosed\n")
    rc, result, _out = node.run(capsys, check=True, **audit_args())
    assert rc == 0, result
    path = "/etc/rancher/k3s/config.yaml.d/50-kubecompass-audit.yaml"
    assert result["changes"][0] == "rewrite %s (it does not parse)" % path


# -- settings ----------------------------------------------------------------------------------------------------

def test_k3s_secrets_encryption_setting_needs_the_encryption_config_first(nodes, capsys):
    node = nodes()
    args = {"topic": "encryption", "settings": {"secrets-encryption": True}}
    rc, result, _out = node.run(capsys, check=True, **args)
    assert rc == 1 and "rancher_secrets_encrypt" in result["msg"]
    cred = node.root / "var/lib/rancher/k3s/server/cred"
    cred.mkdir(parents=True)
    (cred / "encryption-config.json").write_text("{}")
    rc, result, _out = node.run(capsys, **args)
    assert rc == 0, result
    assert result["changes"] == ["set secrets-encryption: true"]
    content = node.dropin("encryption").read_text()
    assert yaml.safe_load(content) == {"secrets-encryption": True}  # a settings-only drop-in
    assert content.startswith("# Managed by kubecompass.readiness (encryption). Sets secrets-encryption;")
    rc, again, _out = node.run(capsys, **args)
    assert rc == 0 and again["changed"] is False and node.restarts() == 1


def test_settings_already_effective_or_overridden_later(nodes, capsys):
    node = nodes(config=USER_CONFIG + "secrets-encryption-provider: secretbox\n")
    rc, result, _out = node.run(capsys, check=True, topic="enc",
                                settings={"secrets-encryption-provider": "secretbox"})
    assert rc == 0 and result["changed"] is False and result["settings"] == {}
    node.dropins.mkdir()
    (node.dropins / "99-user.yaml").write_text("secrets-encryption-provider: aescbc\n")
    rc, result, _out = node.run(capsys, check=True, topic="enc", set_flags={"tls-min-version": "VersionTLS12"},
                                settings={"secrets-encryption-provider": "secretbox"})
    assert rc == 1
    assert ("with the drop-in secrets-encryption-provider would be aescbc, not secretbox: "
            "/etc/rancher/k3s/config.yaml.d/99-user.yaml sets it later") in result["msg"]


@pytest.mark.parametrize("distribution,settings,message", [
    ("k3s", {"token": "x"}, "settings key token is refused: credentials"),
    ("k3s", {"etcd-s3-secret-key": "x"}, "credentials are never written"),
    ("k3s", {"datastore-endpoint": "mysql://"}, "moves the datastore"),
    ("rke2", {"profile": "cis"}, "etcd user is missing"),
    ("k3s", {"node-label+": "a=b"}, "keys ending in '+' are refused"),
    ("k3s", {"kube-apiserver-arg+": "profiling=false"}, "keys ending in '+' are refused"),
    ("k3s", {"kube-apiserver-arg": "profiling=false"}, "go in set_flags"),
    ("k3s", {"tls-san": "a.example"}, "replaces the user's whole list"),
    ("rke2", {"kubelet-arg": "max-pods=200"}, "replaces the user's whole list"),
    ("k3s", {"write-kubeconfig-mode": ["0600"]}, "only scalar values"),
    ("k3s", {"secrets-encryption": False}, "may only be turned on"),
    ("rke2", {"secrets-encryption": True}, "RKE2 always encrypts"),
])
def test_refused_settings(nodes, capsys, distribution, settings, message):
    node = nodes(distribution=distribution)
    rc, result, _out = node.run(capsys, check=True, settings=settings)
    assert rc == 1 and result["category"] == "input"
    assert message in result["msg"]


# -- where files and backups may go ------------------------------------------------------------------------------

def test_backups_and_files_stay_out_of_the_directories_the_server_reads(nodes, capsys):
    node = nodes(distribution="rke2")
    rc, result, _out = node.run(capsys, check=True, backup_dir="/etc/rancher/rke2/config.yaml.d/backup",
                                **audit_args("rke2"))
    assert rc == 1 and "which RKE2/k3s read as config" in result["msg"]
    rc, result, _out = node.run(capsys, check=True, backup_dir="/var/lib/rancher/rke2/agent/pod-manifests",
                                **audit_args("rke2"))
    assert rc == 1 and "kubelet runs as static pods" in result["msg"]
    args = audit_args("rke2")
    args["files"] = [{"path": "/etc/rancher/rke2/config.yaml.d/policy.yaml", "content": AUDIT_POLICY}]
    rc, result, _out = node.run(capsys, check=True, **args)
    assert rc == 1 and result["msg"].startswith("server-1: files[0]: /etc/rancher/rke2/config.yaml.d/policy.yaml")
    args["files"] = [{"path": "/etc/rancher/rke2/config.yaml", "content": "x"}]
    assert "user's own config file" in node.run(capsys, check=True, **args)[1]["msg"]
    assert node.restarts() == 0
    assert not os.path.exists(node.root / "var/lib/kubecompass")


def test_default_restart_commands_and_input_errors():
    assert rancher_change.RESTART_COMMANDS == {"rke2": ["systemctl", "restart", "rke2-server"],
                                               "k3s": ["systemctl", "restart", "k3s"]}
    assert rancher_change.render_content([], {}, "x") is None
    assert Path(module.__file__).read_text().count("KubeCompassError as exc") == 1


def test_force_restart_restarts_an_unchanged_server_once_health_gated(nodes, capsys):
    """secrets-encrypt stages need every server restarted even though its config does not change."""
    node = nodes()
    rc, result, _out = node.run(capsys, **audit_args())
    assert rc == 0 and node.restarts() == 1
    rc, result, _out = node.run(capsys, **audit_args())
    assert rc == 0 and result["changed"] is False and node.restarts() == 1
    before = node.snapshot()
    rc, result, _out = node.run(capsys, force_restart=True, **audit_args())
    assert rc == 0 and result["changed"] is True and result["changes"][0].startswith("restart ")
    assert node.restarts() == 2 and node.snapshot() == before


# -- interrupted runs and full disks (issue 13 items 3 and 4) ---------------------------------------------------------

OLD_TOKEN = "old-webhook-token-that-must-not-outlive-the-change"


def backups_of(node):
    directory = node.root / "var/lib/kubecompass/backups"
    return {str(p): p.read_bytes() for p in directory.rglob("*") if p.is_file()} if directory.exists() else {}


def killed_before_the_restart(node, monkeypatch, **args):
    """Run the module in a child process SIGKILLed when it starts the restart: every file is written, the server
    still runs the old configuration."""
    import signal

    monkeypatch.setattr(rancher_change, "_restart", lambda *a: os.kill(os.getpid(), signal.SIGKILL))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child is killed
        try:
            with patch_module_args(dict(args, distribution=node.distribution, endpoint=node.server.endpoint,
                                        root=str(node.root), node_name="server-1", timeout=3,
                                        restart_command=[str(node.script), str(node.state), str(node.root)])):
                module.main()
        finally:
            os._exit(3)
    _pid, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    monkeypatch.undo()


@pytest.mark.parametrize("distribution", ["k3s", "rke2"])
def test_a_dropin_killed_before_the_restart_makes_the_rerun_restart_the_server(nodes, capsys, monkeypatch,
                                                                               distribution):
    proc = [{"pid": 4242, "argv": rke2_argv()}] if distribution == "rke2" else None
    node = nodes(distribution=distribution, **({"proc": proc} if proc else {}))
    killed_before_the_restart(node, monkeypatch, **audit_args(distribution))
    assert node.dropin().exists() and node.restarts() == 0
    rc, checked, _out = node.run(capsys, check=True, **audit_args(distribution))
    assert rc == 0 and checked["changed"] is True and node.restarts() == 0
    assert any("interrupted run" in line for line in checked["changes"]), checked
    rc, result, _out = node.run(capsys, **audit_args(distribution))
    assert rc == 0, result
    assert node.restarts() == 1, "the server never ran the drop-in the killed run wrote"
    assert any("interrupted run" in note for note in result["notes"]), result
    assert result["changed"] is True and "interrupted run" in result["changes"][0]
    assert not [name for name in backups_of(node) if "pending-" in name]
    rc, again, _out = node.run(capsys, **audit_args(distribution))
    assert rc == 0 and again["changed"] is False and node.restarts() == 1


@pytest.mark.parametrize("health", [["up"], ["down", "up"]], ids=["proven", "rolled back"])
def test_backups_of_secret_files_live_only_until_the_change_is_proven_or_rolled_back(nodes, capsys, health):
    node = nodes(health=health)
    (node.config_dir / "webhook-token").write_text(OLD_TOKEN)
    (node.root / "var/lib/rancher/k3s/server/audit.yaml").write_text("old policy\n")
    rc, result, out = node.run(capsys, timeout=2, **audit_args(secret=True))
    assert rc == (0 if health == ["up"] else 1), result
    assert OLD_TOKEN not in out
    assert b"old policy\n" in backups_of(node).values(), "backups of other files stay"
    assert not any(OLD_TOKEN.encode() in data for data in backups_of(node).values())


def test_a_full_backup_disk_changes_nothing_and_leaves_no_secret_copy(nodes, capsys, monkeypatch):
    from tests.fakes.full_disk import FullDisk

    node = nodes()
    (node.config_dir / "webhook-token").write_text(OLD_TOKEN)
    before = node.snapshot()
    disk = FullDisk(node.root / "var/lib/kubecompass", len(OLD_TOKEN)).install(monkeypatch)
    rc, result, _out = node.run(capsys, **audit_args(secret=True))
    assert rc == 1 and "\n" not in result["msg"], result
    assert result["msg"].startswith("server-1: cannot back up the change in backup_dir /var/lib/kubecompass/backups: "
                                    "errno 28 ENOSPC"), result["msg"]
    assert node.snapshot() == before and node.restarts() == 0
    assert not any(OLD_TOKEN.encode() in data for data in backups_of(node).values())
    assert not [name for name in backups_of(node) if "pending-" in name or ".tmp" in name]
    disk.budget = 1 << 30
    rc, result, _out = node.run(capsys, **audit_args(secret=True))
    assert rc == 0 and result["changed"] is True and node.restarts() == 1, result


@pytest.mark.parametrize("check", [True, False])
def test_an_unreadable_marker_stops_the_run(nodes, capsys, check):
    node = nodes()
    backups = node.root / "var/lib/kubecompass/backups"
    backups.mkdir(parents=True)
    (backups / "pending-k3s-audit.json").write_text("")
    before = node.snapshot()
    rc, result, _out = node.run(capsys, check=check, **audit_args())
    assert rc == 1 and "interrupted change of unknown content: inspect /var/lib/kubecompass/backups" in result["msg"]
    assert node.snapshot() == before and node.restarts() == 0


def test_a_run_killed_between_two_writes_is_restored_restarted_and_made_again(nodes, capsys, monkeypatch):
    import signal

    node = nodes()
    real_write = rollout.atomic_write

    def killed_at_the_dropin(path, data, mode=None):
        if path.endswith("50-kubecompass-audit.yaml"):
            os.kill(os.getpid(), signal.SIGKILL)
        real_write(path, data, mode)

    monkeypatch.setattr(rollout, "atomic_write", killed_at_the_dropin)
    before = node.snapshot()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child is killed
        try:
            with patch_module_args(dict(audit_args(), distribution="k3s", endpoint=node.server.endpoint,
                                        root=str(node.root), restart_command=[str(node.script)])):
                module.main()
        finally:
            os._exit(3)
    assert os.WTERMSIG(os.waitpid(pid, 0)[1]) == signal.SIGKILL
    monkeypatch.undo()
    assert (node.root / "var/lib/rancher/k3s/server/audit.yaml").exists() and not node.dropin().exists()
    assert node.snapshot() != before
    rc, result, _out = node.run(capsys, **audit_args())
    assert rc == 0, result
    assert "half-written change" in result["notes"][0] and node.restarts() == 2  # the restore, then the change
    assert node.dropin().exists() and not [name for name in backups_of(node) if "pending-" in name]


# -- kube-controller-manager and kube-scheduler in the same drop-in ------------------------------------------------

CIS_COMPONENTS = {"kube-controller-manager": {"profiling": "false", "bind-address": "127.0.0.1"},
                  "kube-scheduler": {"profiling": "false", "bind-address": "127.0.0.1"}}
METRICS_CONFIG = USER_CONFIG + "kube-controller-manager-arg: [bind-address=0.0.0.0]\nkube-scheduler-arg:\n" \
                               "  - bind-address=0.0.0.0\n  - profiling=true\n"
HEALTHZ = {"kube-controller-manager": "https://127.0.0.1:10257", "kube-scheduler": "https://127.0.0.1:10259"}


@pytest.fixture
def healthz(monkeypatch):
    """The components' /healthz: every probed URL is recorded; those listed in ``down`` answer 500."""
    probed, down = [], set()

    def fake(url, timeout=3):
        probed.append(url)
        return url not in down

    monkeypatch.setattr(rollout, "healthz_ok", fake)
    return probed, down


@pytest.mark.parametrize("distribution", ["k3s", "rke2"])
def test_component_flags_join_the_dropin_one_restart_and_a_second_run_changes_nothing(nodes, capsys, healthz,
                                                                                      distribution):
    scheduler_argv = ["kube-scheduler", "--bind-address=127.0.0.1", "--profiling=false"]
    manager_argv = ["kube-controller-manager", "--bind-address=127.0.0.1"]
    node = nodes(distribution=distribution, config=METRICS_CONFIG,
                 proc=[[{"pid": 4301, "argv": scheduler_argv}, {"pid": 4302, "argv": manager_argv}]])
    args = {"topic": "hardening", "set_flags": {"profiling": "false"}, "component_flags": CIS_COMPONENTS}
    before = node.snapshot()
    rc, checked, _out = node.run(capsys, check=True, **args)
    assert rc == 0 and checked["changed"] is True, checked
    assert node.snapshot() == before and node.restarts() == 0 and healthz[0] == []
    assert checked["changes"] == ["add kube-controller-manager-arg+ bind-address=127.0.0.1",
                                  "add kube-scheduler-arg+ bind-address=127.0.0.1",
                                  "add kube-scheduler-arg+ profiling=false"]
    rc, result, _out = node.run(capsys, **args)
    assert rc == 0, result
    assert node.restarts() == 1  # one restart covers the API server and both components
    assert yaml.safe_load(node.dropin("hardening").read_text()) == {
        "kube-controller-manager-arg+": ["bind-address=127.0.0.1"],
        "kube-scheduler-arg+": ["bind-address=127.0.0.1", "profiling=false"]}
    assert node.dropin("hardening").read_text() == checked["diff"][0]["after"]
    assert result["component_args"] == {"kube-controller-manager": ["bind-address=127.0.0.1"],
                                        "kube-scheduler": ["bind-address=127.0.0.1", "profiling=false"]}
    assert (node.config_dir / "config.yaml").read_text() == METRICS_CONFIG  # the user's file is left alone
    assert any("kube-scheduler --profiling=true from /etc/rancher/%s/config.yaml is overridden" % distribution in note
               for note in result["notes"])
    assert set(healthz[0]) == set(HEALTHZ.values())
    after = node.snapshot()
    rc, again, _out = node.run(capsys, **args)
    assert rc == 0 and again["changed"] is False and again["changes"] == []
    assert node.restarts() == 1 and node.snapshot() == after


def test_a_component_not_healthy_after_the_restart_is_rolled_back(nodes, capsys, healthz):
    node = nodes(config=METRICS_CONFIG)
    healthz[1].add(HEALTHZ["kube-scheduler"])
    before = node.snapshot()
    rc, result, _out = node.run(capsys, timeout=2, topic="hardening", component_flags=CIS_COMPONENTS)
    assert rc == 1 and result["category"] == "rolled_back", result
    assert "the API server, kube-controller-manager, kube-scheduler did not come back healthy within 2s" in result["msg"]
    assert node.restarts() == 2 and node.snapshot() == before


def test_rke2_waits_for_a_new_scheduler_with_the_new_flags(nodes, capsys, healthz):
    node = nodes(distribution="rke2", config=METRICS_CONFIG)  # the restart starts no new component process
    old = node.root / "proc/200"
    old.mkdir(parents=True)
    (old / "comm").write_text("kube-scheduler\n")
    (old / "cmdline").write_bytes(b"kube-scheduler\0--bind-address=127.0.0.1\0--profiling=false\0")
    before = node.snapshot()
    rc, result, _out = node.run(capsys, timeout=2, topic="hardening",
                                component_flags={"kube-scheduler": CIS_COMPONENTS["kube-scheduler"]})
    assert rc == 1 and result["category"] == "rolled_back", result
    assert "did not come back healthy with the new flags within 2s" in result["msg"]
    assert node.restarts() == 2 and node.snapshot() == before


def test_a_later_user_file_overriding_a_component_flag_fails_before_any_change(nodes, capsys, healthz):
    node = nodes()
    node.dropins.mkdir()
    (node.dropins / "90-metrics.yaml").write_text("kube-controller-manager-arg:\n  - bind-address=0.0.0.0\n")
    before = node.snapshot()
    rc, result, _out = node.run(capsys, topic="hardening", component_flags=CIS_COMPONENTS)
    assert rc == 1 and result["category"] == "conflict"
    assert result["msg"] == ("server-1: with the drop-in kube-controller-manager --bind-address would be 0.0.0.0, "
                             "not 127.0.0.1: a later config file replaces or overrides it")
    assert node.restarts() == 0 and node.snapshot() == before
