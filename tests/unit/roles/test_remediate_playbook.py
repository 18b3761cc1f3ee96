"""remediate.yml without a cluster: cluster-wide waivers leave the control-plane roles' cluster alone and say why
(issue 13 item 7), and a role that fails mid-way stops only the roles that depend on it, the play failing once at
the end for that cluster with every cause (item 8)."""

from __future__ import annotations

import json
import re
import sys

from tests.helpers import VENV_BIN, ansible_env, run

WAIVER = {"reason": "platform team owns the control plane flags", "owner": "team-platform", "ticket": "OPS-2001",
          "expires": "2099-06-30"}


def remediate(tmp_path, tags, **variables):
    inventory = tmp_path / "inventory.yml"
    # A self-managed cluster with no control-plane node in the inventory: any role that reaches the nodes fails.
    inventory.write_text(json.dumps({"all": {"children": {"k8s_clusters": {"hosts": {"c1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "kubecompass_distribution": "kubeadm",
        "kubecompass_control_plane_group": "c1_control_plane"}}}}}}))
    result = run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/remediate.yml",
                  "--tags", tags, "-e", json.dumps(variables)], env=ansible_env(), timeout=600)
    return result, result.stdout + result.stderr


def test_cluster_wide_waivers_leave_the_control_plane_alone_and_say_why(tmp_path):
    waivers = [dict(WAIVER, check=check) for check in ("KC-SEC-002", "KC-SEC-006", "KC-SEC-005")]
    result, output = remediate(tmp_path, "audit,hardening,encryption", kubecompass_waivers=waivers)
    assert result.returncode == 0, output[-4000:]
    assert "c1: audit logging left alone, KC-SEC-002 waived by OPS-2001 until 2099-06-30" in output
    assert "c1: API server hardening left alone, KC-SEC-006 waived by OPS-2001 until 2099-06-30" in output
    assert "c1: encryption at rest left alone, KC-SEC-005 waived by OPS-2001 until 2099-06-30" in output
    assert re.search(r"c1\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", result.stdout), output[-2000:]


def test_expired_or_namespace_waivers_do_not_protect_the_control_plane(tmp_path):
    waivers = [dict(WAIVER, check="KC-SEC-002", expires="2020-01-01"),
               dict(WAIVER, check="KC-SEC-001", namespace="shop")]
    result, output = remediate(tmp_path, "audit", kubecompass_waivers=waivers)
    assert "audit logging left alone" not in output
    # The role ran and failed on the missing nodes: reported once, at the end.
    assert result.returncode != 0 and "c1: remediation incomplete - " in output, output[-4000:]
    assert "audit_logging failed mid-way: " in output


def test_a_failed_role_stops_its_dependants_only_and_the_play_fails_once_with_every_cause(tmp_path):
    result, output = remediate(tmp_path, "audit,hardening,encryption,netpol")
    assert result.returncode != 0
    final = [line for line in output.splitlines() if line.startswith("fatal: [c1]")]
    assert len(final) == 1, output[-4000:]
    message = final[0]
    assert "c1: remediation incomplete - audit_logging failed mid-way: " in message
    assert "apiserver_hardening not run: audit_logging failed mid-way and it depends on it" in message
    assert "encryption_at_rest not run: audit_logging failed mid-way and it depends on it" in message
    # The cluster objects do not depend on the control plane: network_policies ran (it says how to opt in).
    assert "network_policies_tiers is empty" in output, output[-4000:]
    assert re.search(r"c1\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=1", result.stdout), output[-2000:]
