"""`kubeadm upgrade` rebuilds the API server's static Pod from kubeadm-config, so every volume the encryption role
mounts into the manifest (tasks/apply_node.yml) must also be in what it writes to kubeadm-config
(tasks/remediate.yml): a KMS v2 plugin's socket directory missing there leaves the upgraded API server unable to
reach its plugin, and every Secret unreadable. Both tasks' volume expressions are rendered with Ansible's templar."""

from __future__ import annotations

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from tests.helpers import REPO

ROLE = REPO / "roles" / "encryption_at_rest"
CONFIG_PATH = "/etc/kubernetes/kubecompass/encryption-config.yaml"


def _trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    return value


def _tasks(name):
    tasks = yaml.safe_load((ROLE / "tasks" / name).read_text())
    while tasks:
        task = tasks.pop(0)
        yield task
        tasks[:0] = task.get("block") or []


def _volumes(file_name, module, role_vars, **extra):
    task = next(t for t in _tasks(file_name) if f"kubecompass.readiness.{module}" in t)
    variables = {**role_vars, **_trusted(task.get("vars") or {}), **extra}
    volumes = Templar(loader=DataLoader(), variables=variables).template(
        _trusted(task[f"kubecompass.readiness.{module}"]["volumes"]))
    return {volume["name"]: volume for volume in volumes}


def _role_vars(kms_endpoint):
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    return {**_trusted(defaults), **_trusted(role_vars), "encryption_at_rest_kms_endpoint": kms_endpoint,
            "encryption_at_rest_config_path": CONFIG_PATH, "__encryption_at_rest_node": "cp1",
            "__encryption_at_rest_state": {"results": [
                {"__encryption_at_rest_node": "cp1", "path": CONFIG_PATH, "flag_path": None}]}}


def test_kubeadm_config_gets_every_volume_the_manifest_gets():
    for endpoint in ("unix:///var/run/kmsplugin/socket.sock", None):
        role_vars = _role_vars(endpoint)
        manifest = _volumes("apply_node.yml", "static_pod_manifest", role_vars)
        kubeadm_config = _volumes("remediate.yml", "kubeadm_config", role_vars)
        assert "kubecompass-encryption-config" in manifest
        assert ("kubecompass-kms-socket" in manifest) == bool(endpoint)
        assert kubeadm_config == manifest, endpoint
