"""node_facts module: the facts returned unchanged, no key material, a bad sample size refused."""

from __future__ import annotations

import json

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.gather import gather_node_facts
from tests.unit.plugins.module_utils._node.test_gather import (
    ETCD_KEYS,
    KEY_MATERIAL,
    NODE_SCHEMA_KEYS,
    SECRET,
    FakeEtcd,
    kubeadm_node,
)


# -- the module -------------------------------------------------------------------------------------------------------
def test_module_returns_facts_unchanged_and_no_key_material(tmp_path, monkeypatch, capsys):
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.kubecompass.readiness.plugins.modules import node_facts

    root, proc = tmp_path / "node", tmp_path / "proc"
    kubeadm_node(root, proc)
    seen = {}

    def gather(distribution, **options):
        seen.update(options, distribution=distribution)
        return gather_node_facts(distribution, root=str(root), proc=str(proc),
                                 etcd_post=FakeEtcd(dict(ETCD_KEYS)), **options)

    monkeypatch.setattr(node_facts, "gather_node_facts", gather)
    args = {"distribution": "kubeadm", "etcd_sample_size": 3, "_ansible_check_mode": True}
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        node_facts.main()
    assert exited.value.code == 0
    output = capsys.readouterr().out
    result = json.loads(output)
    assert result["changed"] is False
    assert set(result["facts"]) == NODE_SCHEMA_KEYS
    assert result["facts"]["etcd_sample"]["sampled"] == 3
    assert seen == {"distribution": "kubeadm", "etcd_sample_size": 3, "etcd_endpoint": None, "snapshot_dirs": None,
                    "audit_log_tail_bytes": 65536}
    for material in (SECRET, KEY_MATERIAL.decode(), "s3cr3t-password-in-etcd"):
        assert material not in output


def test_module_refuses_a_negative_sample_size(capsys):
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.kubecompass.readiness.plugins.modules import node_facts

    with patch_module_args({"distribution": "rke2", "etcd_sample_size": -1}), pytest.raises(SystemExit) as exited:
        node_facts.main()
    assert exited.value.code == 1
    assert json.loads(capsys.readouterr().out)["msg"] == "etcd_sample_size must be 0 (no sample) or more, got -1"
