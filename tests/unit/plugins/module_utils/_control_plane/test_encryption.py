"""Encryption at rest: key generation, EncryptionConfiguration rendering/parsing with hidden keys, the rotation
planner driven to DONE from every intermediate state (1 and 3 nodes, secretbox, aescbc, KMS v2, first-time
enablement) with the no-unreadable-data invariant checked at every step, and the etcd prefix verification."""

from __future__ import annotations

import base64
import datetime
import json
import pickle
import traceback

import pytest
import yaml

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import encryption as enc

UTC = datetime.UTC
NOW = datetime.datetime(2026, 11, 22, 3, 15, 0, tzinfo=UTC)
LATER = datetime.datetime(2027, 2, 1, 8, 0, 0, tzinfo=UTC)
NEW_NAME = "kubecompass-20261122T031500Z"
NODES_3 = ("cp1", "cp2", "cp3")


def material(tag):
    """A recognisable 32-byte key, base64 encoded: any leak of it shows up in a substring search."""
    return base64.b64encode(("%s-material-%s" % (tag, "x" * 32))[:32].encode()).decode()


OLD_SECRET = material("old")
NEW_SECRET = material("new")
SECRETS = (OLD_SECRET, NEW_SECRET)


def label(kind, name):
    return "k8s:enc:%s:v1:%s" % (kind, name)


def keyed(kind, *pairs):
    return enc.Provider.keyed(kind, [enc.Key(name, secret) for name, secret in pairs])


def secrets_config(*providers):
    return enc.EncryptionConfig.for_secrets(providers)


def new_target(kind, drop_identity=False, name=NEW_NAME):
    return enc.Target(keyed(kind, (name, NEW_SECRET)), drop_identity=drop_identity)


def scan(**counts):
    return {"by_prefix": dict(counts)}


def by_prefix(mapping):
    return {"by_prefix": {key: value for key, value in mapping.items() if value}}


# -- the invariant and a small cluster simulator -------------------------------------------------------------------

def assert_safe(configs, etcd_scan, step):
    """No step may leave data some apiserver cannot read: every desired config reads every object in etcd and
    every key any node writes with (before or after the step); and while the changed nodes roll one at a time, a
    node not yet changed must read whatever a changed node starts writing (unless that writer already writes
    somewhere, which only MIXED repairs)."""
    desired = step.desired_config_per_node
    assert set(desired) == set(configs)
    if step.state in (enc.BLOCKED, enc.DONE, enc.REWRITE):
        assert step.changed_nodes == () and desired == configs and not step.needs_restart
        return
    present = {name for name, count in (etcd_scan or {"by_prefix": {}})["by_prefix"].items() if count}
    current_writers = {enc.labels(config)[0] for config in configs.values()}
    desired_writers = {enc.labels(config)[0] for config in desired.values()}
    must_read = present | current_writers | desired_writers
    for node, config in desired.items():
        missing = must_read - set(enc.labels(config))
        assert not missing, "%s: desired config cannot read %s (%s)" % (node, sorted(missing), step)
    for writer in desired_writers - current_writers:
        for node, config in configs.items():
            assert writer in enc.labels(config), "%s cannot read %s while the others roll (%s)" % (node, writer, step)
    assert step.changed_nodes and step.needs_restart and not step.needs_rewrite


def apply(configs, step, nodes=None):
    result = dict(configs)
    for node in step.changed_nodes if nodes is None else nodes:
        result[node] = step.desired_config_per_node[node]
    return result


def written(configs, etcd_scan):
    """Each apiserver writes one new Secret with its first provider."""
    counts = dict((etcd_scan or {"by_prefix": {}})["by_prefix"])
    for config in configs.values():
        writer = enc.labels(config)[0]
        counts[writer] = counts.get(writer, 0) + 1
    return by_prefix(counts)


def rewritten(etcd_scan, goal, fraction=1.0):
    """`kubectl replace` of every Secret (or of a fraction of them when interrupted) through an apiserver writing
    ``goal``."""
    counts = dict(etcd_scan["by_prefix"])
    for name in sorted(counts):
        if name != goal:
            moved = int(counts[name] * fraction)
            counts[name] -= moved
            counts[goal] = counts.get(goal, 0) + moved
    return by_prefix(counts)


def drive(configs, etcd_scan, target, limit=8):
    """Run next_step and carry out each step until DONE; returns (states, configs, scan, trajectory)."""
    states, trajectory = [], []
    for _attempt in range(limit):
        step = enc.next_step(configs, etcd_scan, target)
        assert_safe(configs, etcd_scan, step)
        states.append(step.state)
        trajectory.append((configs, etcd_scan, step))
        if step.state in (enc.DONE, enc.BLOCKED):
            return states, configs, etcd_scan, trajectory
        configs = apply(configs, step)
        etcd_scan = written(configs, etcd_scan)
        if step.needs_rewrite:
            etcd_scan = rewritten(etcd_scan, target.label)
    raise AssertionError("no DONE after %d steps: %s" % (limit, states))


def intermediate_states(trajectory, target):
    """Every place a run can stop: before each step, after part of a step's nodes rolled, and after part of a
    rewrite."""
    found = []
    for configs, etcd_scan, step in trajectory:
        if step.state == enc.DONE:
            continue
        found.append(("before %s" % step.state, configs, etcd_scan))
        for count in range(1, len(step.changed_nodes)):
            partial = apply(configs, step, step.changed_nodes[:count])
            found.append(("%s on %d node(s)" % (step.state, count), partial, written(partial, etcd_scan)))
        if step.needs_rewrite:
            found.append(("half of %s" % step.state, configs, rewritten(etcd_scan, target.label, 0.5)))
    return found


def assert_finished(configs, etcd_scan, target, final_labels):
    rendered = {config.render() for config in configs.values()}
    assert len(rendered) == 1, "nodes end with different files"
    assert all(enc.labels(config) == final_labels for config in configs.values())
    ok, message = enc.verify_prefixes(etcd_scan, target.label)
    assert ok, message


# -- scenarios -----------------------------------------------------------------------------------------------------

def rotation_start(kind, nodes, old_name="old"):
    config = secrets_config(keyed(kind, (old_name, OLD_SECRET)), enc.Provider.identity())
    return {node: config for node in nodes}, scan(**{label(kind, old_name): 20})


def enablement_start(nodes):
    return {node: None for node in nodes}, scan(plaintext=20)


SCENARIOS = [
    pytest.param(scenario, kind, nodes, drop,
                 id="%s-%s-%dnodes%s" % (scenario, kind, len(nodes), "-drop-identity" if drop else ""))
    for scenario in ("rotation", "enable") for kind in ("secretbox", "aescbc") for nodes in (("cp1",), NODES_3)
    for drop in (False, True)
]


def start_of(scenario, kind, nodes):
    return rotation_start(kind, nodes) if scenario == "rotation" else enablement_start(nodes)


@pytest.mark.parametrize(("scenario", "kind", "nodes", "drop"), SCENARIOS)
def test_full_run_goes_through_the_expected_states(scenario, kind, nodes, drop):
    configs, etcd_scan = start_of(scenario, kind, nodes)
    target = new_target(kind, drop_identity=drop)
    states, configs, etcd_scan, trajectory = drive(configs, etcd_scan, target)
    first = enc.ADD_NEW_KEY_SECOND if scenario == "rotation" else enc.NOT_ENCRYPTED
    expected = [first, enc.PROMOTE, enc.REWRITE]
    # Rotation always drops the old key; enablement drops identity only when asked.
    if scenario == "rotation" or drop:
        expected.append(enc.DROP_OLD_KEY)
    assert states == expected + [enc.DONE]
    final = [target.label] if drop else [target.label, "plaintext"]
    assert_finished(configs, etcd_scan, target, final)
    for _configs, _scan, step in trajectory:
        if step.needs_restart:
            assert step.changed_nodes == tuple(nodes)
            assert len({step.desired_config_per_node[node].fingerprint() for node in nodes}) == 1


def test_rotation_configs_at_each_step_follow_the_upstream_procedure():
    configs, etcd_scan = rotation_start("secretbox", NODES_3)
    target = new_target("secretbox")
    old, new = label("secretbox", "old"), target.label
    trajectory = drive(configs, etcd_scan, target)[3]
    desired = [(step.name, [enc.labels(step.desired_config_per_node[node]) for node in NODES_3])
               for _configs, _scan, step in trajectory]
    assert desired == [
        ("add_new_key_second", [[old, new, "plaintext"]] * 3),
        ("promote_new_key", [[new, old, "plaintext"]] * 3),
        ("rewrite_secrets", [[new, old, "plaintext"]] * 3),
        ("drop_old_keys", [[new, "plaintext"]] * 3),
        ("none", [[new, "plaintext"]] * 3),
    ]
    add = trajectory[0][2]
    assert add.desired_config_per_node["cp1"].render() == (
        "apiVersion: apiserver.config.k8s.io/v1\n"
        "kind: EncryptionConfiguration\n"
        "resources:\n"
        "  - resources:\n"
        "      - secrets\n"
        "    providers:\n"
        "      - secretbox:\n"
        "          keys:\n"
        "            - name: old\n"
        "              secret: \"%s\"\n"
        "            - name: %s\n"
        "              secret: \"%s\"\n"
        "      - identity: {}\n" % (OLD_SECRET, NEW_NAME, NEW_SECRET))
    rewrite = trajectory[2][2]
    assert rewrite.reason == ("%s writes on every node; rewrite every Secret, etcd still holds 23 %s" % (new, old))


def test_enablement_starts_with_identity_first_and_the_new_key_second():
    configs, etcd_scan = enablement_start(NODES_3)
    target = new_target("aescbc")
    step = enc.next_step(configs, etcd_scan, target)
    assert (step.state, step.name, step.needs_restart, step.needs_rewrite) == (
        enc.NOT_ENCRYPTED, "add_new_key_second", True, False)
    assert step.desired_config_per_node["cp2"].to_document() == {
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [
            {"identity": {}}, {"aescbc": {"keys": [{"name": NEW_NAME, "secret": NEW_SECRET}]}}]}]}


def test_switching_provider_type_adds_the_new_provider_after_the_writer():
    configs, etcd_scan = rotation_start("aescbc", NODES_3)
    target = new_target("secretbox")
    states, configs, etcd_scan, trajectory = drive(configs, etcd_scan, target)
    assert states == [enc.ADD_NEW_KEY_SECOND, enc.PROMOTE, enc.REWRITE, enc.DROP_OLD_KEY, enc.DONE]
    add = trajectory[0][2].desired_config_per_node["cp1"]
    assert [next(iter(provider)) for provider in add.to_document()["resources"][0]["providers"]] == [
        "aescbc", "secretbox", "identity"]
    assert_finished(configs, etcd_scan, target, [target.label, "plaintext"])


def test_kms_v2_enablement_from_aescbc():
    configs, etcd_scan = rotation_start("aescbc", NODES_3)
    target = enc.choose_target(configs, etcd_scan, "kms", NOW,
                               kms=enc.Provider.kms("vault", "unix:///var/run/kms/vault.sock", "5s"))
    assert target.label == "k8s:enc:kms:v2:vault"
    states, configs, etcd_scan, _trajectory = drive(configs, etcd_scan, target)
    assert states == [enc.ADD_NEW_KEY_SECOND, enc.PROMOTE, enc.REWRITE, enc.DROP_OLD_KEY, enc.DONE]
    assert_finished(configs, etcd_scan, target, ["k8s:enc:kms:v2:vault", "plaintext"])
    assert yaml.safe_load(configs["cp1"].render())["resources"][0]["providers"][0] == {
        "kms": {"apiVersion": "v2", "name": "vault", "endpoint": "unix:///var/run/kms/vault.sock", "timeout": "5s"}}


@pytest.mark.parametrize(("scenario", "kind", "nodes", "drop"), SCENARIOS)
def test_a_rerun_from_every_intermediate_state_finishes(scenario, kind, nodes, drop):
    configs, etcd_scan = start_of(scenario, kind, nodes)
    original = new_target(kind, drop_identity=drop)
    trajectory = drive(configs, etcd_scan, original)[3]
    stops = intermediate_states(trajectory, original)
    steps = len(trajectory) - 1
    # Before each step, one rewrite half done, and for 3 nodes 1 or 2 nodes rolled in every restarting step.
    assert len(stops) == steps + 1 + (len(nodes) - 1) * (steps - 1)
    for where, stopped_configs, stopped_scan in stops:
        # The rerun reads the key back from the nodes; it generates one only when no node got it yet.
        target = enc.choose_target(stopped_configs, stopped_scan, kind, LATER, rotate=True, drop_identity=drop)
        on_some_node = any(original.label in enc.labels(config) for config in stopped_configs.values())
        if on_some_node:
            assert target.label == original.label, where
            assert target.provider.keys[0].secret() == NEW_SECRET, where
        else:
            assert target.label == label(kind, "kubecompass-20270201T080000Z"), where
        states, final_configs, final_scan, _trajectory = drive(stopped_configs, stopped_scan, target)
        assert states[-1] == enc.DONE, (where, states)
        final = [target.label] if drop else [target.label, "plaintext"]
        assert_finished(final_configs, final_scan, target, final)


def test_rotation_from_an_earlier_kubecompass_key_resumes_the_newest():
    configs, etcd_scan = rotation_start("secretbox", NODES_3, old_name="kubecompass-20250101T000000Z")
    original = new_target("secretbox")
    trajectory = drive(configs, etcd_scan, original)[3]
    promoted = apply(trajectory[1][0], trajectory[1][2], ["cp1"])
    target = enc.choose_target(promoted, trajectory[1][1], "secretbox", LATER, rotate=True)
    assert target.label == original.label
    assert enc.next_step(promoted, trajectory[1][1], target).state == enc.MIXED


def test_the_invariant_check_catches_an_unsafe_step():
    configs, etcd_scan = rotation_start("secretbox", NODES_3)
    target = new_target("secretbox")
    premature = secrets_config(target.provider, enc.Provider.identity())
    unsafe = enc.Step(enc.DROP_OLD_KEY, {node: premature for node in NODES_3}, NODES_3, True, False, "", target.label)
    with pytest.raises(AssertionError, match="cannot read"):
        assert_safe(configs, etcd_scan, unsafe)


# -- MIXED -----------------------------------------------------------------------------------------------------------

def test_mixed_after_a_partial_promote_promotes_the_rest():
    target = new_target("secretbox")
    old, new = label("secretbox", "old"), target.label
    second = secrets_config(keyed("secretbox", ("old", OLD_SECRET), (NEW_NAME, NEW_SECRET)), enc.Provider.identity())
    first = secrets_config(keyed("secretbox", (NEW_NAME, NEW_SECRET), ("old", OLD_SECRET)), enc.Provider.identity())
    configs = {"cp1": first, "cp2": second, "cp3": second}
    step = enc.next_step(configs, scan(**{old: 10, new: 1}), target)
    assert (step.state, step.name, step.changed_nodes) == (enc.MIXED, "align_nodes", ("cp2", "cp3"))
    assert all(step.desired_config_per_node[node] == first for node in NODES_3)
    assert step.reason == ("nodes disagree (cp1 [%s, %s, plaintext]; cp2 [%s, %s, plaintext]; cp3 [%s, %s, "
                           "plaintext]); bring every node to cp1's config: [%s, %s, plaintext]"
                           % (new, old, old, new, old, new, new, old))


def test_mixed_never_drops_a_key_a_node_writes_with():
    target = new_target("secretbox")
    old, new = label("secretbox", "old"), target.label
    dropped = secrets_config(keyed("secretbox", (NEW_NAME, NEW_SECRET)), enc.Provider.identity())
    behind = secrets_config(keyed("secretbox", ("old", OLD_SECRET), (NEW_NAME, NEW_SECRET)), enc.Provider.identity())
    configs = {"cp1": dropped, "cp2": behind, "cp3": dropped}
    step = enc.next_step(configs, scan(**{new: 4}), target)
    assert step.state == enc.MIXED
    assert {node: enc.labels(config) for node, config in step.desired_config_per_node.items()} == {
        node: [new, "plaintext", old] for node in NODES_3}
    assert step.reason.endswith("bring every node to cp1's config plus %s, still in use: [%s, plaintext, %s]"
                                % (old, new, old))
    assert_safe(configs, scan(**{new: 4}), step)
    assert drive(configs, scan(**{new: 4}), target)[0] == [enc.MIXED, enc.DROP_OLD_KEY, enc.DONE]
    # Objects cp2 wrote with the old key must be rewritten before it can go.
    assert drive(configs, scan(**{new: 4, old: 2}), target)[0] == [
        enc.MIXED, enc.REWRITE, enc.DROP_OLD_KEY, enc.DONE]


def test_mixed_keeps_every_key_when_the_scan_cannot_prove_which_are_unused():
    target = new_target("secretbox")
    old, new = label("secretbox", "old"), target.label
    dropped = secrets_config(keyed("secretbox", (NEW_NAME, NEW_SECRET)), enc.Provider.identity())
    before = secrets_config(keyed("secretbox", (NEW_NAME, NEW_SECRET), ("old", OLD_SECRET)), enc.Provider.identity())
    configs = {"cp1": dropped, "cp2": before}
    step = enc.next_step(configs, None, target)
    assert step.state == enc.MIXED
    assert enc.labels(step.desired_config_per_node["cp1"]) == [new, "plaintext", old]


def test_mixed_first_enablement_with_a_node_without_config():
    target = new_target("aescbc")
    started = secrets_config(enc.Provider.identity(), target.provider)
    configs = {"cp1": started, "cp2": None, "cp3": None}
    step = enc.next_step(configs, scan(plaintext=3), target)
    assert (step.state, step.changed_nodes) == (enc.MIXED, ("cp2", "cp3"))
    assert all(enc.labels(config) == ["plaintext", target.label] for config in step.desired_config_per_node.values())


# -- BLOCKED ---------------------------------------------------------------------------------------------------------

def test_blocked_when_nodes_hold_different_material_under_one_key_name():
    other = secrets_config(keyed("secretbox", ("old", material("drifted"))), enc.Provider.identity())
    configs, etcd_scan = rotation_start("secretbox", NODES_3)
    configs["cp3"] = other
    step = enc.next_step(configs, etcd_scan, new_target("secretbox"))
    assert (step.state, step.changed_nodes, step.needs_restart) == (enc.BLOCKED, (), False)
    assert step.reason == ("k8s:enc:secretbox:v1:old differs between nodes cp1 and cp3 (same name, different key "
                           "material or settings): restore one key source on every node")
    assert material("drifted") not in repr(step) + json.dumps(step.to_dict())


def test_blocked_when_the_target_reuses_a_name_with_other_material():
    target = new_target("secretbox")
    configs = {"cp1": secrets_config(keyed("secretbox", ("old", OLD_SECRET), (NEW_NAME, material("lost"))))}
    step = enc.next_step(configs, scan(**{label("secretbox", "old"): 1}), target)
    assert step.state == enc.BLOCKED
    assert step.reason.startswith("the nodes already hold %s with other key material" % target.label)


def test_blocked_when_etcd_holds_objects_no_config_can_read():
    configs, _scan = rotation_start("secretbox", NODES_3)
    step = enc.next_step(configs, scan(**{label("secretbox", "old"): 3, label("aescbc", "gone"): 2}),
                         new_target("secretbox"))
    assert step.state == enc.BLOCKED
    assert "(2 k8s:enc:aescbc:v1:gone)" in step.reason


def test_blocked_when_plaintext_remains_but_no_node_reads_it():
    configs = {"cp1": secrets_config(keyed("secretbox", ("old", OLD_SECRET)))}
    step = enc.next_step(configs, scan(plaintext=1), new_target("secretbox"))
    assert step.state == enc.BLOCKED
    assert "(1 plaintext)" in step.reason


def test_unknown_values_block_removal_but_not_adding_a_key():
    target = new_target("secretbox")
    configs, _scan = rotation_start("secretbox", NODES_3)
    assert enc.next_step(configs, scan(unknown=1), target).state == enc.ADD_NEW_KEY_SECOND
    promoted = {node: secrets_config(target.provider, keyed("secretbox", ("old", OLD_SECRET)),
                                     enc.Provider.identity()) for node in NODES_3}
    step = enc.next_step(promoted, scan(**{target.label: 5, "unknown": 1}), target)
    assert step.state == enc.BLOCKED
    assert step.reason.startswith("etcd holds 1 Secrets of unknown format")


def test_removal_needs_a_complete_scan_but_adding_and_promoting_need_none():
    target = new_target("secretbox")
    configs, _scan = rotation_start("secretbox", NODES_3)
    assert enc.next_step(configs, None, target).state == enc.ADD_NEW_KEY_SECOND
    promoted = {node: secrets_config(target.provider, keyed("secretbox", ("old", OLD_SECRET)),
                                     enc.Provider.identity()) for node in NODES_3}
    assert enc.next_step(promoted, None, target).state == enc.BLOCKED
    partial = {"by_prefix": {target.label: 5}, "complete": False}
    assert enc.next_step(promoted, partial, target).reason.endswith("(scan incomplete)")
    stale = {"by_prefix": {target.label: 5, label("secretbox", "old"): 1}, "complete": False}
    assert enc.next_step(promoted, stale, target).state == enc.REWRITE
    counted = {"by_prefix": {target.label: 5}, "total": 9}
    assert enc.next_step(promoted, counted, target).state == enc.BLOCKED
    assert enc.next_step(promoted, {"by_prefix": {target.label: 5}, "total": 5}, target).state == enc.DROP_OLD_KEY


def test_blocked_when_the_scan_failed():
    configs, _scan = rotation_start("secretbox", ("cp1",))
    step = enc.next_step(configs, {"by_prefix": {}, "error": "HTTP 403 from etcd"}, new_target("secretbox"))
    assert (step.state, step.reason) == (enc.BLOCKED, "the etcd scan failed: HTTP 403 from etcd")


def test_blocked_when_rules_for_other_resources_differ():
    base = secrets_config(keyed("secretbox", ("old", OLD_SECRET)), enc.Provider.identity())
    with_configmaps = enc.EncryptionConfig(base.rules + (
        enc.Rule(["configmaps"], [keyed("aescbc", ("cm", OLD_SECRET))]),))
    step = enc.next_step({"cp1": base, "cp2": with_configmaps}, scan(), new_target("secretbox"))
    assert step.state == enc.BLOCKED
    assert step.reason.startswith("the nodes' rules for resources other than secrets differ")


# -- rules for other resources are kept exactly --------------------------------------------------------------------

def test_a_combined_rule_is_split_so_configmaps_keep_their_providers():
    text = json.dumps({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
                       "resources": [{"resources": ["configmaps", "secrets"], "providers": [
                           {"aescbc": {"keys": [{"name": "old", "secret": OLD_SECRET}]}}, {"identity": {}}]}]})
    target = new_target("secretbox")
    step = enc.next_step({"cp1": text}, scan(**{label("aescbc", "old"): 2}), target)
    assert step.state == enc.ADD_NEW_KEY_SECOND
    old_aescbc = {"aescbc": {"keys": [{"name": "old", "secret": OLD_SECRET}]}}
    assert step.desired_config_per_node["cp1"].to_document()["resources"] == [
        {"resources": ["secrets"], "providers": [
            old_aescbc, {"secretbox": {"keys": [{"name": NEW_NAME, "secret": NEW_SECRET}]}}, {"identity": {}}]},
        {"resources": ["configmaps"], "providers": [old_aescbc, {"identity": {}}]},
    ]


def test_secrets_under_a_wildcard_get_their_own_rule_before_it():
    wildcard = enc.EncryptionConfig([enc.Rule(["*.*"], [keyed("aescbc", ("old", OLD_SECRET)),
                                                        enc.Provider.identity()])])
    assert enc.labels(wildcard) == [label("aescbc", "old"), "plaintext"]
    step = enc.next_step({"cp1": wildcard}, scan(), new_target("secretbox"))
    rules = step.desired_config_per_node["cp1"].rules
    assert [rule.resources for rule in rules] == [("secrets",), ("*.*",)]
    assert rules[1] == wildcard.rules[0]
    assert step.desired_config_per_node["cp1"].summary()["valid"] is True


def test_a_config_without_a_secrets_rule_reads_secrets_as_plaintext():
    only_configmaps = enc.EncryptionConfig([enc.Rule(["configmaps"], [keyed("aescbc", ("cm", OLD_SECRET))])])
    assert enc.labels(only_configmaps) == ["plaintext"]
    step = enc.next_step({"cp1": only_configmaps}, scan(plaintext=1), new_target("secretbox"))
    assert step.state == enc.NOT_ENCRYPTED
    assert [rule.resources for rule in step.desired_config_per_node["cp1"].rules] == [("secrets",), ("configmaps",)]


# -- choose_target ---------------------------------------------------------------------------------------------------

def test_choose_target_generates_a_named_key_when_the_nodes_have_none():
    configs, etcd_scan = enablement_start(NODES_3)
    target = enc.choose_target(configs, etcd_scan, "secretbox", NOW)
    assert target.label == label("secretbox", NEW_NAME)
    assert len(base64.b64decode(target.provider.keys[0].secret())) == 32


def test_choose_target_keeps_an_existing_writer_of_the_wanted_type_unless_rotating():
    configs, _scan = rotation_start("secretbox", NODES_3, old_name="key")
    done_scan = scan(**{label("secretbox", "key"): 7})
    kept = enc.choose_target(configs, done_scan, "secretbox", NOW)
    assert kept.label == label("secretbox", "key")
    assert kept.provider.keys[0].secret() == OLD_SECRET
    assert enc.next_step(configs, done_scan, kept).state == enc.DONE
    assert enc.choose_target(configs, done_scan, "aescbc", NOW).label == label("aescbc", NEW_NAME)
    assert enc.choose_target(configs, done_scan, "secretbox", NOW, rotate=True).label == label("secretbox", NEW_NAME)


def test_choose_target_rotates_again_only_after_the_last_rotation_is_done():
    done = {node: secrets_config(keyed("secretbox", (NEW_NAME, NEW_SECRET)), enc.Provider.identity())
            for node in NODES_3}
    done_scan = scan(**{label("secretbox", NEW_NAME): 4})
    assert enc.choose_target(done, done_scan, "secretbox", LATER).label == label("secretbox", NEW_NAME)
    rotated = enc.choose_target(done, done_scan, "secretbox", LATER, rotate=True)
    assert rotated.label == label("secretbox", "kubecompass-20270201T080000Z")
    assert rotated.provider.keys[0].secret() != NEW_SECRET


def test_choose_target_rejects_unsupported_kinds():
    with pytest.raises(ValueError, match="kind must be one of secretbox, aescbc or kms"):
        enc.choose_target({"cp1": None}, None, "aesgcm", NOW)
    with pytest.raises(ValueError, match="kind kms needs"):
        enc.choose_target({"cp1": None}, None, "kms", NOW)
    with pytest.raises(ValueError, match="only KMS v2"):
        enc.Target(enc.Provider("kms", name="old", endpoint="unix:///k.sock", api_version="v1"))
    with pytest.raises(ValueError, match="exactly the one key"):
        enc.Target(keyed("secretbox", ("a", OLD_SECRET), ("b", NEW_SECRET)))


# -- keys ----------------------------------------------------------------------------------------------------------

def test_new_key_is_32_bytes_from_the_os_csprng(monkeypatch):
    asked = []

    def fake_urandom(size):
        asked.append(size)
        return b"\x07" * size

    monkeypatch.setattr(enc.os, "urandom", fake_urandom)
    assert enc.new_key() == base64.b64encode(b"\x07" * 32).decode()
    assert asked == [32]


def test_new_keys_differ_and_decode_to_32_bytes():
    first, second = enc.new_key(), enc.new_key()
    assert first != second
    assert len(base64.b64decode(first, validate=True)) == len(base64.b64decode(second, validate=True)) == 32


def test_key_name_is_utc_and_sorts_by_time():
    assert enc.key_name(NOW) == NEW_NAME
    paris = datetime.timezone(datetime.timedelta(hours=1))
    assert enc.key_name(datetime.datetime(2026, 11, 22, 4, 15, tzinfo=paris)) == NEW_NAME
    assert sorted([enc.key_name(LATER), enc.key_name(NOW)]) == [NEW_NAME, "kubecompass-20270201T080000Z"]
    with pytest.raises(ValueError, match="timezone-aware"):
        enc.key_name(datetime.datetime(2026, 11, 22, 3, 15))


def test_key_material_never_shows_in_reprs_summaries_or_step_output():
    configs, etcd_scan = rotation_start("secretbox", NODES_3)
    target = new_target("secretbox")
    step = enc.next_step(configs, etcd_scan, target)
    config = step.desired_config_per_node["cp1"]
    key = target.provider.keys[0]
    assert repr(key) == str(key) == "Key(name='%s', secret=<hidden>)" % NEW_NAME
    shown = " ".join([repr(key), str(key), repr(target), repr(config), str(config), repr(step),
                      json.dumps(step.to_dict()), json.dumps(config.summary()), config.fingerprint()])
    for secret in SECRETS:
        assert secret not in shown
    assert NEW_NAME in shown
    assert key.secret() == NEW_SECRET
    assert step.to_dict()["desired"]["cp1"] == {
        "fingerprint": config.fingerprint(),
        "providers": [label("secretbox", "old"), target.label, "plaintext"]}
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)


def test_keys_compare_by_name_and_material():
    assert enc.Key("a", OLD_SECRET) == enc.Key("a", OLD_SECRET)
    assert enc.Key("a", OLD_SECRET) != enc.Key("a", NEW_SECRET)
    assert enc.Key("a", OLD_SECRET) != enc.Key("b", OLD_SECRET)


# -- rendering and parsing -------------------------------------------------------------------------------------------

def test_render_config_with_every_provider_kind():
    providers = [keyed("secretbox", ("k1", NEW_SECRET)), keyed("aescbc", ("k0", OLD_SECRET)),
                 enc.Provider.kms("vault", "unix:///var/run/kms.sock"), enc.Provider.identity()]
    text = enc.render_config(providers)
    assert yaml.safe_load(text) == {
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [
            {"secretbox": {"keys": [{"name": "k1", "secret": NEW_SECRET}]}},
            {"aescbc": {"keys": [{"name": "k0", "secret": OLD_SECRET}]}},
            {"kms": {"apiVersion": "v2", "name": "vault", "endpoint": "unix:///var/run/kms.sock", "timeout": "3s"}},
            {"identity": {}}]}]}
    assert enc.parse_config(text) == enc.EncryptionConfig.for_secrets(providers)
    assert enc.render_config(enc.parse_config(text)) == text


def test_parse_rke2_json_with_colons_in_key_names():
    name = "aescbckey-2024-05-01T10:00:00Z"
    text = json.dumps({"kind": "EncryptionConfiguration", "apiVersion": "apiserver.config.k8s.io/v1",
                       "resources": [{"resources": ["secrets"], "providers": [
                           {"aescbc": {"keys": [{"name": name, "secret": OLD_SECRET}]}}, {"identity": {}}]}]})
    config = enc.parse_config(text)
    assert enc.labels(config) == [label("aescbc", name), "plaintext"]
    assert config.secrets_providers()[0].keys[0].secret() == OLD_SECRET
    assert yaml.safe_load(config.render()) == json.loads(text)


def test_parse_kms_v1_keeps_cachesize_and_labels_v1():
    config = enc.parse_config(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        "- resources: [secrets]\n  providers:\n  - kms: {name: legacy, endpoint: 'unix:///k.sock', cachesize: 100}\n")
    assert enc.labels(config) == ["k8s:enc:kms:v1:legacy"]
    assert yaml.safe_load(config.render())["resources"][0]["providers"] == [
        {"kms": {"apiVersion": "v1", "name": "legacy", "endpoint": "unix:///k.sock", "cachesize": 100}}]


def config_text(provider_body):
    return json.dumps({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
                       "resources": [{"resources": ["secrets"], "providers": [provider_body]}]})


@pytest.mark.parametrize(("text", "message"), [
    ("kind: EncryptionConfiguration\nresources: [\n  secret: %s\n" % NEW_SECRET, "not valid YAML"),
    (config_text({"secretbox": {"keys": [{"name": "k", "secret": base64.b64encode(b"short").decode()}]}}),
     "resources[0].providers[0]: secretbox key k is not base64 of 32 bytes"),
    (config_text({"aescbc": {"keys": [{"name": "k", "secret": NEW_SECRET[:-4] + "!!!!"}]}}),
     "resources[0].providers[0]: aescbc key k is not base64 of 16 or 24 or 32 bytes"),
    (config_text({"secretbox": {"keys": [{"name": "k"}]}}), "secretbox key k has no secret"),
    (config_text({"kms": {"apiVersion": "v2", "name": "vault"}}), "kms vault needs an endpoint"),
    (config_text({"aescbx": {"keys": [{"name": "k", "secret": NEW_SECRET}]}}), "unknown provider type aescbx"),
    ("[]", "not an EncryptionConfiguration object"),
])
def test_parse_errors_name_the_problem_without_key_material(text, message):
    with pytest.raises(enc.ConfigError) as caught:
        enc.parse_config(text)
    assert message in str(caught.value)
    assert NEW_SECRET not in str(caught.value) and NEW_SECRET[:-4] not in str(caught.value)
    # What a module's traceback output would show, chained exceptions included.
    shown = "".join(traceback.format_exception(type(caught.value), caught.value, caught.value.__traceback__))
    assert NEW_SECRET not in shown and NEW_SECRET[:-4] not in shown
    assert caught.value.category == "encryption_config"


def test_node_configs_may_be_given_as_file_text():
    text = secrets_config(keyed("secretbox", ("old", OLD_SECRET)), enc.Provider.identity()).render()
    step = enc.next_step({"cp1": text}, scan(**{label("secretbox", "old"): 1}), new_target("secretbox"))
    assert step.state == enc.ADD_NEW_KEY_SECOND


# -- etcd scan and verification -------------------------------------------------------------------------------------

def test_scan_summary_from_a_node_facts_sample():
    sample = {"endpoint": "https://10.0.0.1:2379", "error": None, "total_keys": 3, "sampled": 3, "prefixes": [
        {"key": "/registry/secrets/a/x", "encoding": "plaintext"},
        {"key": "/registry/secrets/a/y", "encoding": "k8s:enc:secretbox:v1:k1"},
        {"key": "/registry/secrets/b/z", "encoding": "k8s:enc:secretbox:v1:k1"}]}
    assert enc.scan_summary(sample) == {"by_prefix": {"plaintext": 1, "k8s:enc:secretbox:v1:k1": 2}, "total": 3,
                                        "complete": True, "error": None}
    partial = dict(sample, total_keys=40)
    assert enc.scan_summary(partial)["complete"] is False
    assert enc.verify_prefixes(enc.scan_summary(partial), "k8s:enc:secretbox:v1:k1") == (
        False, "the etcd scan read 3 of 40 keys under /registry/secrets: only a complete scan proves every key")


@pytest.mark.parametrize(("etcd_scan", "expected", "result"), [
    (scan(**{"k8s:enc:secretbox:v1:k2": 7}), "k8s:enc:secretbox:v1:k2:",
     (True, "all 7 keys under /registry/secrets carry k8s:enc:secretbox:v1:k2:")),
    (scan(**{"k8s:enc:secretbox:v1:k2:": 7}), "k8s:enc:secretbox:v1:k2",
     (True, "all 7 keys under /registry/secrets carry k8s:enc:secretbox:v1:k2:")),
    (scan(**{"k8s:enc:secretbox:v1:k2": 7, "k8s:enc:secretbox:v1:k1": 2, "plaintext": 1}), "k8s:enc:secretbox:v1:k2",
     (False, "3 of 10 keys under /registry/secrets do not carry k8s:enc:secretbox:v1:k2: "
             "(2 k8s:enc:secretbox:v1:k1, 1 plaintext)")),
    (scan(**{"k8s:enc:aescbc:v1:k2": 1}), "k8s:enc:secretbox:v1:k2",
     (False, "1 of 1 keys under /registry/secrets do not carry k8s:enc:secretbox:v1:k2: (1 k8s:enc:aescbc:v1:k2)")),
    (dict(scan(**{"k8s:enc:kms:v2:vault": 2}), prefix="/custom/"), "k8s:enc:kms:v2:vault",
     (True, "all 2 keys under /custom/secrets carry k8s:enc:kms:v2:vault:")),
    (scan(), "k8s:enc:secretbox:v1:k2", (True, "there are no keys under /registry/secrets")),
    ({"by_prefix": {}, "error": "cannot reach https://127.0.0.1:2379"}, "k8s:enc:secretbox:v1:k2",
     (False, "the etcd scan of /registry/secrets failed: cannot reach https://127.0.0.1:2379")),
    (None, "k8s:enc:secretbox:v1:k2", (False, "no etcd scan of /registry/secrets was made")),
])
def test_verify_prefixes(etcd_scan, expected, result):
    assert enc.verify_prefixes(etcd_scan, expected) == result


@pytest.mark.parametrize("expected", [
    "plaintext", "k8s:enc:secretbox:v2:k", "k8s:enc:rot13:v1:k", "k8s:enc:aescbc:v1:"])
def test_verify_prefixes_rejects_a_malformed_expected_prefix(expected):
    with pytest.raises(ValueError, match="expected prefix must look like"):
        enc.verify_prefixes(scan(), expected)


def test_scan_counts_must_be_counts():
    with pytest.raises(ValueError, match="non-negative integer"):
        enc.next_step({"cp1": None}, scan(plaintext=-1), new_target("secretbox"))


@pytest.mark.parametrize(("build", "message"), [
    (lambda: keyed("secretbox", ("k", OLD_SECRET), ("k", NEW_SECRET)), "secretbox lists a key name twice"),
    (lambda: enc.Provider.keyed("secretbox", []), "secretbox needs at least one key"),
    (lambda: enc.Provider.kms("vault", "/run/kms.sock"), "kms vault needs an endpoint unix:///path/to/socket"),
    (lambda: enc.Provider.kms("vault", "unix:///run/kms.sock", "soon"), "kms vault: timeout must be a duration"),
    (lambda: enc.Provider.kms("a:b", "unix:///run/kms.sock"), "kms needs a name without ':'"),
    (lambda: enc.Key("k", ""), "key k has no secret"),
    (lambda: enc.render_config([]), "resources entry secrets needs at least one provider"),
])
def test_providers_are_validated_when_built(build, message):
    with pytest.raises(enc.ConfigError, match=message):
        build()
