"""The provider-neutral remediation driver: plan, apply, read back, and which key Secrets must be rewritten under."""

from __future__ import annotations

import types

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils import _providers
from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import plan_step, remediate

TARGET = {"type": "eks", "name": "prod", "region": "eu-west-1", "timeout_seconds": 60, "poll_seconds": 0}


def fake_provider(rewrites_itself, states):
    """A provider whose encryption state moves through ``states`` on each describe, planning one update."""
    reads = iter(states)

    def describe(target, clients):
        return {"state": next(reads)}

    def facts(target, raw):
        key = "arn:aws:kms:eu-west-1:1:key/a" if raw["state"] == "on" else None
        return {"sections": {"secrets_encryption": {"state": raw["state"], "key": key}}, "errors": {}}

    def plan(target, raw, desired):
        if raw["state"] == "on":
            return [plan_step("secrets_encryption", "none", "already on", "x:Associate")]
        return [plan_step("secrets_encryption", "update", "turn on", "x:Associate", {}, {"state": "off"},
                          {"state": "on"}, follow_up="rewrite_secrets")]

    def apply(target, steps, clients, timeout, poll_seconds):
        return [_providers.outcome(steps[0], "succeeded", "u1", None, 0.1)]

    return types.SimpleNamespace(REWRITES_SECRETS_ITSELF=rewrites_itself, describe=describe, facts=facts, plan=plan,
                                 apply=apply)


@pytest.mark.parametrize("rewrites_itself,expected", [(False, "arn:aws:kms:eu-west-1:1:key/a"), (True, None)])
def test_the_rewrite_key_is_the_new_key_unless_the_provider_re_encrypts_itself(monkeypatch, rewrites_itself,
                                                                               expected):
    monkeypatch.setattr(_providers, "provider_module", lambda name: fake_provider(rewrites_itself, ["off", "on"]))
    result = remediate(TARGET, {"items": ["secrets_encryption"]}, check_mode=False, clients={})
    assert result["changed"] and result["rewrite_secrets"] is True
    assert result["rewrite_key"] == expected


def test_check_mode_and_an_already_encrypted_cluster_still_name_the_key_to_rewrite_under(monkeypatch):
    monkeypatch.setattr(_providers, "provider_module", lambda name: fake_provider(False, ["off"]))
    planned = remediate(TARGET, {"items": ["secrets_encryption"]}, check_mode=True, clients={})
    assert planned["changed"] and planned["outcomes"] == [] and planned["rewrite_key"] is None
    monkeypatch.setattr(_providers, "provider_module", lambda name: fake_provider(False, ["on"]))
    done = remediate(TARGET, {"items": ["secrets_encryption"]}, check_mode=False, clients={})
    assert not done["changed"] and not done["rewrite_secrets"]
    assert done["rewrite_key"] == "arn:aws:kms:eu-west-1:1:key/a"  # a rewrite a failed run left owed
