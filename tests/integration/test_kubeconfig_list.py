"""kubernetes.core's kubeconfig forms against the local control plane: a colon-separated list (option and
K8S_AUTH_KUBECONFIG) merged as kubectl merges it, and a list naming no existing file is bad input, not an
unreachable cluster."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from tests.helpers import ansible_env, ansible_module


def _split_kubeconfig(control_plane, tmp_path):
    """admin.conf as two files, as KUBECONFIG lists are often kept: clusters and contexts in the first, the
    credentials in the second. The second also redefines the cluster with a dead address and names a decoy
    context of a dead cluster as current: kubectl keeps the first file's definitions and current-context."""
    admin = yaml.safe_load(control_plane.kubeconfig.read_text())
    dead = {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}
    first, second = tmp_path / "clusters.conf", tmp_path / "users.conf"
    kept = ("apiVersion", "kind", "clusters", "contexts", "current-context")
    first.write_text(yaml.safe_dump({key: admin[key] for key in kept}))
    second.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "users": admin["users"],
        "clusters": [{"name": admin["clusters"][0]["name"], "cluster": dead}, {"name": "dead", "cluster": dead}],
        "contexts": [{"name": "decoy", "context": {"cluster": "dead", "user": admin["users"][0]["name"]}}],
        "current-context": "decoy"}))
    return "%s:%s" % (first, second)


@pytest.mark.nodes(1)
def test_kubeconfig_list_reaches_the_cluster_as_kubectl_does(control_plane, tmp_path):
    listed = _split_kubeconfig(control_plane, tmp_path)
    if shutil.which("kubectl"):
        kubectl = subprocess.run(["kubectl", "config", "view", "--minify", "-o",
                                  "jsonpath={.clusters[0].cluster.server}"],
                                 env=dict(os.environ, KUBECONFIG=listed), capture_output=True, text=True, check=True)
        assert kubectl.stdout == control_plane.server()
    rc, result, output = ansible_module("kubecompass.readiness.cluster_info", {"kubeconfig": listed})
    assert rc == 0, output[-2000:]
    assert result["server"]["host"] == control_plane.server()
    rc, result, output = ansible_module("kubecompass.readiness.cluster_info", {},
                                        env=ansible_env(K8S_AUTH_KUBECONFIG=listed,
                                                        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal"))
    assert rc == 0, output[-2000:]
    assert result["server"]["host"] == control_plane.server()


@pytest.mark.nodes(1)
def test_missing_kubeconfig_is_an_input_error_not_an_unreachable_cluster(control_plane, tmp_path):
    rc, result, output = ansible_module("kubecompass.readiness.cluster_info",
                                        {"kubeconfig": "%s:%s" % (tmp_path / "gone.conf", tmp_path / "old.conf")})
    assert rc != 0
    assert result["category"] == "input", output[-2000:]
    assert "gone.conf" in result["msg"] and "old.conf" in result["msg"]
