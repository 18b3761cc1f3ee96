"""Kubelet facts read from a node root (_node.kubelet): the running process's command line, else the one systemd
would start from kubelet.service, its drop-ins and environment files as kubeadm writes them; the KubeletConfiguration
--config names with the --config-dir drop-ins merged over it; only the audited keys leave the node. Also the
pure effective-value and remediation-planning functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._node import kubelet
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.file_modes import read_file_modes

# kubeadm's drop-in as pkgs.k8s.io packages install it (kubernetes/release cmd/krel/templates/latest/kubeadm).
KUBEADM_DROPIN = """# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \\
 --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""
UNIT = "[Unit]\nDescription=kubelet\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n"
CONFIG = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
rotateCertificates: true
staticPodURLHeader:
  Authorization: ["Bearer s3cr3t"]
"""


def write(root, path, content):
    target = Path(root) / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    target.chmod(0o644)


def fake_process(proc, pid, comm, argv):
    directory = Path(proc) / str(pid)
    directory.mkdir(parents=True)
    (directory / "comm").write_bytes(comm.encode() + b"\n")
    (directory / "cmdline").write_bytes(b"\0".join(arg.encode() for arg in argv) + b"\0")


@pytest.fixture
def node(tmp_path):
    root, proc = tmp_path / "node", tmp_path / "proc"
    proc.mkdir()
    write(root, "/usr/lib/systemd/system/kubelet.service", UNIT)
    write(root, "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", KUBEADM_DROPIN)
    write(root, "/var/lib/kubelet/kubeadm-flags.env",
          'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock"\n')
    write(root, "/var/lib/kubelet/config.yaml", CONFIG)
    return str(root), str(proc)


def test_without_a_process_the_command_line_is_the_systemd_one_with_kubeadm_env_files(node):
    root, proc = node
    write(root, "/etc/default/kubelet", "KUBELET_EXTRA_ARGS=--anonymous-auth=true --rotate-certificates=false\n")
    facts = kubelet.read_kubelet(root, proc, "kubeadm")
    assert facts["errors"] == [] and facts["missing"] is None
    assert facts["source"].startswith("kubelet.service as systemd starts it (/usr/lib/systemd/system/kubelet.service, "
                                      "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf")
    assert facts["flags"] == {"kubeconfig": "/etc/kubernetes/kubelet.conf", "config": "/var/lib/kubelet/config.yaml",
                              "anonymous-auth": "true", "rotate-certificates": "false"}
    assert facts["config_files"] == ["/var/lib/kubelet/config.yaml"]
    assert facts["config"] == {"authentication.anonymous.enabled": False, "authorization.mode": "Webhook",
                               "authentication.x509.clientCAFile": "/etc/kubernetes/pki/ca.crt",
                               "rotateCertificates": True}
    assert "s3cr3t" not in repr(facts)


def test_the_running_process_decides_over_the_unit(node):
    root, proc = node
    fake_process(proc, 77, "kubelet", ["/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml",
                                       "--make-iptables-util-chains=false"])
    facts = kubelet.read_kubelet(root, proc, "kubeadm")
    assert facts["source"] == "running kubelet process"
    assert facts["flags"] == {"config": "/var/lib/kubelet/config.yaml", "make-iptables-util-chains": "false"}


def test_config_dir_drop_ins_merge_over_the_config_file_in_lexical_order(node):
    root, proc = node
    write(root, "/etc/kubernetes/kubelet.conf.d/20-b.conf", "authorization:\n  mode: AlwaysAllow\n")
    write(root, "/etc/kubernetes/kubelet.conf.d/10-a.conf", "authorization:\n  mode: Webhook\nrotateCertificates: false\n")
    write(root, "/etc/kubernetes/kubelet.conf.d/ignored.yaml", "rotateCertificates: true\n")
    fake_process(proc, 77, "kubelet", ["/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml",
                                       "--config-dir=/etc/kubernetes/kubelet.conf.d"])
    facts = kubelet.read_kubelet(root, proc, "kubeadm")
    assert facts["config_files"][1:] == ["/etc/kubernetes/kubelet.conf.d/10-a.conf",
                                         "/etc/kubernetes/kubelet.conf.d/20-b.conf"]
    assert facts["config"]["authorization.mode"] == "AlwaysAllow"
    assert facts["config"]["rotateCertificates"] is False
    assert facts["config"]["authentication.anonymous.enabled"] is False


@pytest.mark.parametrize("distribution, setup, fragment", [
    ("kubeadm", "nothing", "no kubelet process runs and no kubelet.service unit with an ExecStart was found"),
    ("kubeadm", "missing config", "/var/lib/kubelet/config.yaml does not exist (the kubelet cannot start)"),
    ("kubeadm", "broken config", "kubelet config file /var/lib/kubelet/config.yaml"),
    ("k3s", "nothing", "k3s runs the kubelet inside the k3s process"),
    ("rke2", "nothing", "no kubelet process runs on this node"),
])
def test_what_is_missing_is_named(tmp_path, distribution, setup, fragment):
    root, proc = tmp_path / "node", tmp_path / "proc"
    proc.mkdir()
    root.mkdir()
    if setup != "nothing":
        write(root, "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", KUBEADM_DROPIN)
    if setup == "broken config":
        write(root, "/var/lib/kubelet/config.yaml", "authentication: [unclosed\n")
    facts = kubelet.read_kubelet(str(root), str(proc), distribution)
    assert fragment in facts["missing"]
    assert facts["config"] is None


def test_service_files_for_4_1_1_are_the_unit_and_every_drop_in_a_higher_directory_masking_a_lower(node):
    root, _proc = node
    write(root, "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", KUBEADM_DROPIN)
    write(root, "/etc/systemd/system/kubelet.service.d/20-extra.conf", "[Service]\n")
    modes = read_file_modes(root, "kubeadm", {"etcd_flags": None})
    assert [e["path"] for e in modes["kubelet_service"]["entries"]] == [
        "/usr/lib/systemd/system/kubelet.service", "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        "/etc/systemd/system/kubelet.service.d/20-extra.conf"]
    assert {e["mode"] for e in modes["kubelet_service"]["entries"]} == {"0644"}
    assert "no kubelet service file" in read_file_modes(root, "rke2", {})["kubelet_service"]["not_applicable"]


def test_systemd_expansion_splits_a_bare_variable_and_substitutes_a_braced_one():
    env = {"A": "--x=1  --y=2", "B": "v"}
    assert kubelet.expand_exec("/bin/k $A --z=${B}w $UNSET", env) == ["/bin/k", "--x=1", "--y=2", "--z=vw"]


# setting, flags, config, expected (value, origin fragment)
EFFECTIVE = [
    ("anonymous_auth", {"config": "/c"}, {"authentication.anonymous.enabled": False}, (False, "in /c")),
    ("anonymous_auth", {"config": "/c", "anonymous-auth": "true"}, {"authentication.anonymous.enabled": False},
     (True, "--anonymous-auth=true on the command line")),
    ("anonymous_auth", {"config": "/c"}, {}, (False, "defaults it to false with a config file")),
    ("anonymous_auth", {}, {}, (True, "no --config and no --anonymous-auth: the kubelet's flag default is true")),
    ("authorization_mode", {}, {}, ("AlwaysAllow", "flag default")),
    ("authorization_mode", {"config": "/c"}, {}, ("Webhook", "with a config file")),
    ("rotate_certificates", {"config": "/c"}, {}, (False, "rotateCertificates not set")),
    ("rotate_certificates", {"config": "/c", "rotate-certificates": "maybe"}, {}, (None, "--rotate-certificates")),
    ("make_iptables_util_chains", {"config": "/c"}, {}, (True, "defaults it to true")),
]


@pytest.mark.parametrize("setting, flags, config, expected", EFFECTIVE)
def test_effective_value_flag_over_config_over_default(setting, flags, config, expected):
    value, origin = kubelet.effective({"flags": flags, "config": config, "config_files": ["/c"]}, setting)
    assert value == expected[0]
    assert expected[1] in origin


def test_plan_changes_only_keys_off_their_value_and_reports_flags_the_file_cannot_fix():
    document = {"kind": "KubeletConfiguration",
                "authentication": {"anonymous": {"enabled": True}, "x509": {"clientCAFile": "/ca.crt"}}}
    wanted = {"anonymous_auth": False, "authorization_mode": "Webhook", "rotate_certificates": True,
              "make_iptables_util_chains": True}
    plan = kubelet.plan_config_changes(document, {"rotate-certificates": "false"}, wanted)
    # authorization.mode and makeIPTablesUtilChains are absent, and the kubelet's defaults are the wanted values.
    assert plan["changes"] == [("authentication.anonymous.enabled", True, False)]
    assert plan["overridden"] == [("rotateCertificates", "false")]
    assert plan["document"]["authentication"]["x509"] == {"clientCAFile": "/ca.crt"}
    assert document["authentication"]["anonymous"]["enabled"] is True  # the input is not changed
    again = kubelet.plan_config_changes(plan["document"], {}, {k: v for k, v in wanted.items()
                                                               if k != "rotate_certificates"})
    assert again["changes"] == []


def test_plan_sets_an_absent_key_whose_default_is_not_the_wanted_value():
    plan = kubelet.plan_config_changes({"kind": "KubeletConfiguration"}, {}, {
        "rotate_certificates": True, "client_ca_file": "/etc/kubernetes/pki/ca.crt", "authorization_mode": "Webhook"})
    assert plan["changes"] == [("authentication.x509.clientCAFile", None, "/etc/kubernetes/pki/ca.crt"),
                               ("rotateCertificates", None, True)]
    assert plan["document"] == {"kind": "KubeletConfiguration", "rotateCertificates": True,
                                "authentication": {"x509": {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}}}
