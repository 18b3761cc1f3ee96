"""RKE2/k3s secrets-encrypt semantics: the status output as the tools print it, and the next step toward a goal."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import rancher_secrets as rs

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "rancher"
NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
V_RKE2 = rs.parse_version((FIXTURES / "rke2_version.txt").read_text())
V_K3S = rs.parse_version((FIXTURES / "k3s_version.txt").read_text())


def status(name):
    return rs.parse_status((FIXTURES / name).read_text())


# -- parsing -----------------------------------------------------------------------------------------------------

def test_single_server_status_from_the_docs_of_both_distributions():
    for name in ("rke2_status_enabled_start.txt", "k3s_status_enabled_start.txt"):
        assert status(name) == {
            "enabled": True, "config_found": True, "stage": "start", "hashes_match": True, "hash_error": None,
            "active_key_type": "AES-CBC", "active_key_name": "aescbckey",
            "keys": [{"type": "AES-CBC", "name": "aescbckey", "active": True}]}


def test_ha_status_with_differing_hashes():
    parsed = status("k3s_status_rotate_hash_mismatch.txt")
    assert parsed["stage"] == "rotate"
    assert parsed["hashes_match"] is False
    assert parsed["hash_error"] == "hash does not match between node-1 and node-2"
    assert parsed["active_key_name"] == "aescbckey-2021-12-10T22:54:38Z"
    assert parsed["keys"][1] == {"type": "AES-CBC", "name": "aescbckey", "active": False}


def test_no_configuration_identity_only_and_disabled_with_a_key():
    none = status("k3s_status_no_config.txt")
    assert (none["enabled"], none["config_found"], none["stage"], none["keys"]) == (False, False, None, [])
    identity = status("k3s_status_identity_only.txt")
    assert (identity["enabled"], identity["config_found"], identity["stage"], identity["keys"]) == (
        False, True, "start", [])
    disabled = status("k3s_status_disabled_with_key.txt")
    assert disabled["enabled"] is False and disabled["active_key_name"] is None
    assert disabled["keys"] == [{"type": "AES-CBC", "name": "aescbckey", "active": False}]


def test_secretbox_key_type_has_a_two_word_column_width():
    parsed = status("k3s_status_secretbox_finished.txt")
    assert parsed["active_key_type"] == "XSalsa20-POLY1305"
    assert parsed["active_key_name"] == "secretboxkey-2025-06-02T08:15:00Z"
    assert parsed["stage"] == "reencrypt_finished"


def test_reencrypt_stages():
    assert status("rke2_status_reencrypt_active.txt")["stage"] == "reencrypt_active"
    finished = status("rke2_status_reencrypt_finished.txt")
    assert finished["stage"] == "reencrypt_finished" and finished["hashes_match"] is True


def test_every_fixture_parses_and_unknown_lines_are_never_kept():
    for path in FIXTURES.glob("*_status_*.txt"):
        assert rs.parse_status(path.read_text())["enabled"] in (True, False)
    # A build printing key material in an extra column or line must not leak it into the result.
    text = ("Encryption Status: Enabled\nCurrent Rotation Stage: start\nServer Encryption Hashes: All hashes match\n"
            "Secret: c2VjcmV0LWtleS1tYXRlcmlhbA==\n\nActive  Key Type  Name\n------  --------  ----\n"
            " *      AES-CBC   aescbckey\n")
    assert "c2VjcmV0" not in repr(rs.parse_status(text))
    with pytest.raises(ValueError, match="Encryption Status"):
        rs.parse_status("FATA[0000] see server log for details\n")


def test_versions():
    assert V_RKE2 == (1, 31, 1, 1)
    assert V_K3S == (1, 33, 4, 1)
    assert rs.parse_version("v1.30.5-rc1+k3s1") == (1, 30, 5, 1)
    assert rs.parse_version("v1.29.0") == (1, 29, 0, 0)
    assert rs.parse_version("nothing here") is None
    assert rs.format_version(V_K3S) == "v1.33.4"


def test_key_creation_time_comes_from_the_key_name():
    assert rs.key_created("aescbckey") is None
    assert rs.key_created("aescbckey-2021-12-10T22:54:38Z") == datetime.datetime(
        2021, 12, 10, 22, 54, 38, tzinfo=datetime.UTC)
    assert rs.key_created("secretboxkey-2025-06-02T10:15:00+02:00").utcoffset() == datetime.timedelta(hours=2)


# -- version gates -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("distribution,version,expected", [
    ("rke2", (1, 27, 16, 1), "no"),
    ("rke2", (1, 28, 0, 1), "no"),
    ("rke2", (1, 28, 1, 1), "experimental"),
    ("rke2", (1, 29, 3, 1), "ga"),
    ("k3s", (1, 28, 1, 1), "experimental"),
    ("k3s", (1, 30, 4, 1), "experimental"),
    ("k3s", (1, 30, 5, 1), "ga"),
    ("k3s", (1, 31, 0, 1), "experimental"),
    ("k3s", (1, 31, 1, 1), "ga"),
    ("k3s", (1, 34, 0, 1), "ga"),
    ("k3s", None, None),
])
def test_rotate_keys_support(distribution, version, expected):
    assert rs.rotate_keys_support(distribution, version) == expected


def test_k3s_enable_on_a_running_cluster_gate():
    assert rs.k3s_enable_existing_support((1, 31, 9, 1)) is False
    assert rs.k3s_enable_existing_support((1, 33, 4, 1)) is None
    assert rs.k3s_enable_existing_support((1, 36, 0, 1)) is True
    assert rs.k3s_enable_existing_support(None) is None


# -- planning ----------------------------------------------------------------------------------------------------

def plan(name, goal="enabled", distribution="rke2", version=V_RKE2, **options):
    return rs.plan_next(status(name), goal, distribution, version, now=NOW, **options)


def test_enabled_cluster_is_at_the_goal_enabled_but_not_rotated():
    assert plan("rke2_status_enabled_start.txt")["state"] == "done"
    rotated = plan("rke2_status_enabled_start.txt", goal="rotated")
    assert rotated["state"] == "run" and rotated["command"] == ["secrets-encrypt", "rotate-keys"]
    assert "generated at install" in rotated["reason"]
    assert rotated["restart_after"] is False


def test_a_rotated_key_satisfies_rotated_until_it_is_too_old():
    assert plan("rke2_status_reencrypt_finished.txt", goal="rotated")["state"] == "done"
    assert plan("rke2_status_reencrypt_finished.txt", goal="rotated", max_key_age_days=365)["state"] == "done"
    old = plan("rke2_status_reencrypt_finished.txt", goal="rotated", max_key_age_days=90)
    assert old["state"] == "run" and "more than 90" in old["reason"]


def test_reencryption_in_progress_means_wait():
    for goal in ("enabled", "rotated"):
        waiting = plan("rke2_status_reencrypt_active.txt", goal=goal)
        assert waiting["state"] == "wait" and waiting["command"] is None


def test_differing_hashes_need_sequential_restarts():
    restart = plan("k3s_status_rotate_hash_mismatch.txt", distribution="k3s", version=V_K3S)
    assert restart["state"] == "restart" and restart["command"] is None
    assert "node-1 and node-2" in restart["reason"]
    assert restart["next_actions"][0].startswith("restart k3s on this server")
    assert "one at a time" in restart["next_actions"][1]


def test_classic_rotation_on_an_old_release_stops_for_restarts_after_each_step():
    old = (1, 27, 16, 1)
    prepare = plan("rke2_status_enabled_start.txt", goal="rotated", version=old)
    assert prepare["command"] == ["secrets-encrypt", "prepare"] and prepare["restart_after"] is True
    assert any("rke2-server" in action for action in prepare["next_actions"])
    rotate = plan("rke2_status_prepare.txt", goal="rotated", version=old)
    assert rotate["command"] == ["secrets-encrypt", "rotate"] and rotate["restart_after"] is True
    # A half-done rotation is rolled forward whatever the goal.
    assert plan("rke2_status_prepare.txt", goal="enabled", version=V_RKE2)["command"] == ["secrets-encrypt",
                                                                                          "rotate"]


def test_classic_reencrypt_after_rotate_is_waited_for_not_restarted():
    text = (FIXTURES / "k3s_status_rotate_hash_mismatch.txt").read_text().replace(
        "hash does not match between node-1 and node-2", "All hashes match")
    step = rs.plan_next(rs.parse_status(text), "enabled", "k3s", (1, 27, 3, 1), now=NOW)
    assert step["command"] == ["secrets-encrypt", "reencrypt"] and step["restart_after"] is False


def test_secretbox_keys_cannot_use_the_classic_steps():
    step = plan("k3s_status_secretbox_finished.txt", goal="rotated", distribution="k3s", version=(1, 27, 3, 1),
                max_key_age_days=1)
    assert step["state"] == "blocked" and "secretbox" in step["reason"]


def test_experimental_rotate_keys_carries_a_note():
    step = plan("rke2_status_enabled_start.txt", goal="rotated", version=(1, 28, 4, 1))
    assert step["command"] == ["secrets-encrypt", "rotate-keys"]
    assert any("experimental" in note for note in step["notes"])
    v129 = plan("rke2_status_enabled_start.txt", goal="rotated", version=(1, 29, 2, 1))
    assert any("v1.29" in note for note in v129["notes"])


def test_k3s_never_encrypted_follows_the_version_gate():
    blocked = plan("k3s_status_no_config.txt", distribution="k3s", version=(1, 31, 9, 1))
    assert blocked["state"] == "blocked" and "13370" in blocked["reason"]
    unknown = plan("k3s_status_no_config.txt", distribution="k3s", version=V_K3S)
    assert unknown["state"] == "blocked" and "k3s_enable_existing=true" in unknown["reason"]
    forbidden = plan("k3s_status_no_config.txt", distribution="k3s", version=(1, 36, 1, 1), enable_existing=False)
    assert forbidden["state"] == "blocked"
    for options in ({"version": (1, 36, 1, 1)}, {"version": V_K3S, "enable_existing": True}):
        enable = plan("k3s_status_no_config.txt", distribution="k3s", **options)
        assert enable["state"] == "run" and enable["command"] == ["secrets-encrypt", "enable"]
        assert enable["restart_after"] is True
        assert any("secrets-encryption: true" in action for action in enable["next_actions"])
        assert any("k3s#14596" in note for note in enable["notes"])


def test_rke2_without_configuration_is_never_touched():
    text = (FIXTURES / "k3s_status_no_config.txt").read_text()
    assert rs.plan_next(rs.parse_status(text), "enabled", "rke2", V_RKE2, now=NOW)["state"] == "blocked"


def test_identity_only_after_enable_continues_with_rotate_keys():
    step = plan("k3s_status_identity_only.txt", distribution="k3s", version=V_K3S)
    assert step["command"] == ["secrets-encrypt", "rotate-keys"]
    missing = plan("k3s_status_identity_only.txt", distribution="k3s", version=V_K3S, config_enabled=False)
    assert missing["state"] == "restart" and "secrets-encryption: true" in missing["next_actions"][0]
    assert plan("k3s_status_identity_only.txt", distribution="k3s", version=(1, 27, 3, 1))["state"] == "blocked"


def test_disabled_with_a_key_is_enabled_again():
    step = plan("k3s_status_disabled_with_key.txt", distribution="k3s", version=V_K3S)
    assert step["command"] == ["secrets-encrypt", "enable"] and step["restart_after"] is True
    legacy = plan("k3s_status_disabled_with_key.txt", distribution="k3s", version=(1, 27, 3, 1))
    assert "goal=rotated" in legacy["next_actions"][-1]


def test_unknown_stage_and_bad_input():
    text = (FIXTURES / "rke2_status_enabled_start.txt").read_text().replace("Stage: start", "Stage: migrate")
    assert rs.plan_next(rs.parse_status(text), "enabled", "rke2", V_RKE2)["state"] == "blocked"
    with pytest.raises(ValueError, match="goal"):
        plan("rke2_status_enabled_start.txt", goal="disabled")
    with pytest.raises(ValueError, match="distribution"):
        plan("rke2_status_enabled_start.txt", distribution="kubeadm")
    assert rs.plan_next(status("rke2_status_enabled_start.txt"), "rotated", "rke2", None)["state"] == "blocked"


def test_every_plan_has_the_same_shape_and_a_command_only_when_it_runs():
    for path in FIXTURES.glob("*_status_*.txt"):
        for goal in rs.GOALS:
            step = rs.plan_next(rs.parse_status(path.read_text()), goal, "k3s", V_K3S, now=NOW,
                                enable_existing=True)
            assert set(step) == {"state", "command", "reason", "restart_after", "next_actions", "notes"}
            assert step["state"] in ("done", "run", "wait", "restart", "blocked")
            assert (step["command"] is not None) == (step["state"] == "run"), path.name
            assert step["command"] is None or step["command"][0] == "secrets-encrypt"
