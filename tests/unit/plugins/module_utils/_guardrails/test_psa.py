"""Pod Security Admission planning: labels, Warning headers of a server-side dry run (recorded in the exact format
kube-apiserver writes: RFC 7234 warn-text with backslash escapes) and the per-namespace plan."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._guardrails import psa

P = "pod-security.kubernetes.io/"

# Warning header values of `PATCH /api/v1/namespaces/shop?dryRun=All` setting enforce=restricted (v1.36), as
# kube-apiserver sends them: one header per warning, text quoted with \" and \\ escaped.
EXISTING = r'299 - "existing pods in namespace \"shop\" violate the new PodSecurity enforce level \"restricted:v1.36\""'
WEB = r'299 - "web-7c9d5b6f4-2xkqp (and 2 other pods): allowPrivilegeEscalation != false, unrestricted capabilities"'
REDIS = r'299 - "redis-0 (and 1 other pod): runAsNonRoot != true, seccompProfile"'
DEBUG = r'299 - "debug-shell: host namespaces, privileged, restricted volume types, runAsUser=0"'
TRUNCATED = r'299 - "new PodSecurity enforce level only checked against the first 3000 of 5000 existing pods"'
LIST_FAILED = r'299 - "failed to list pods while checking new PodSecurity enforce level"'
RECORDED = [EXISTING, WEB, REDIS, DEBUG]


def namespace(name="shop", labels=None, **extra):
    meta = {"name": name, "labels": dict({"kubernetes.io/metadata.name": name}, **(labels or {}))}
    meta.update(extra)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta, "status": {"phase": "Active"}}


def psa_labels(level, version="v1.36", modes=psa.MODES):
    labels = {}
    for mode in modes:
        labels[P + mode] = level
        labels[P + mode + "-version"] = version
    return labels


def plan(ns=None, tier="critical", warnings=(), levels=None, version="v1.36", **kwargs):
    return psa.plan_pod_security(ns or namespace(), tier, levels, version,
                                 list(warnings) if warnings is not None else None, **kwargs)


# -- labels and versions -----------------------------------------------------------------------------------------------

def test_desired_labels_are_the_three_modes_with_pinned_versions():
    assert psa.desired_labels("restricted", "v1.36") == {
        P + "enforce": "restricted", P + "enforce-version": "v1.36",
        P + "audit": "restricted", P + "audit-version": "v1.36",
        P + "warn": "restricted", P + "warn-version": "v1.36",
    }
    assert psa.desired_labels("baseline", "latest")[P + "warn-version"] == "latest"
    assert psa.LEVELS == ("privileged", "baseline", "restricted")


@pytest.mark.parametrize("level, version, message", [
    ("strict", "v1.36", "not a Pod Security level"),
    ("restricted", "1.36", "not 'latest' or v1.<minor>"),
    ("restricted", "v1.36.3", "not 'latest' or v1.<minor>"),
    ("restricted", "v2.0", "not 'latest' or v1.<minor>"),
    ("restricted", None, "not 'latest' or v1.<minor>"),
])
def test_desired_labels_reject_invalid_values(level, version, message):
    with pytest.raises(ValueError, match=message):
        psa.desired_labels(level, version)


@pytest.mark.parametrize("git_version, pinned", [
    ("v1.36.3", "v1.36"), ("v1.36.0-rc.1", "v1.36"), ("v1.33.5+k3s1", "v1.33"), ("v1.32.9-eks-113cf36", "v1.32"),
    ("v1.34.1-gke.1829001", "v1.34"), ("1.35.2", "v1.35"),
])
def test_version_for_pins_the_server_minor(git_version, pinned):
    assert psa.version_for(git_version) == pinned


@pytest.mark.parametrize("git_version", [None, "", "unknown"])
def test_version_for_rejects_what_is_not_a_version(git_version):
    with pytest.raises(ValueError, match="cannot pin"):
        psa.version_for(git_version)


def test_label_patch_sets_missing_weaker_and_invalid_modes_and_keeps_stricter_ones():
    assert psa.label_patch({}, "baseline", "v1.36") == (psa_labels("baseline"), [])
    labels = {P + "enforce": "restricted", P + "enforce-version": "v1.30", P + "audit": "privileged",
              P + "warn": "strict"}
    patch, kept = psa.label_patch(labels, "baseline", "v1.36")
    assert patch == psa_labels("baseline", modes=("audit", "warn"))
    assert kept == ["enforce=restricted is stricter than baseline: kept"]
    assert psa.label_patch(psa_labels("baseline"), "baseline", "v1.36") == ({}, [])
    # Pinning latest is a change; a newer pin at the same level is not lowered.
    patch, kept = psa.label_patch(psa_labels("baseline", "latest"), "baseline", "v1.36")
    assert patch == psa_labels("baseline")
    patch, kept = psa.label_patch(dict(psa_labels("baseline"), **{P + "warn-version": "v1.37"}), "baseline", "v1.36")
    assert patch == {} and kept == ["warn-version=v1.37 is newer than v1.36: kept"]
    # An older pin at the same level is brought up.
    patch, kept = psa.label_patch(psa_labels("baseline", "v1.30"), "baseline", "latest")
    assert patch == psa_labels("baseline", "latest")


# -- Warning headers ---------------------------------------------------------------------------------------------------

def test_split_unescapes_quoted_text_and_keeps_commas_inside_it():
    warnings, rest = psa.split_warning_header(EXISTING)
    assert rest is None
    assert warnings == [(299, "-", 'existing pods in namespace "shop" violate the new PodSecurity enforce level '
                                   '"restricted:v1.36"')]
    warnings, rest = psa.split_warning_header(r'299 - "path C:\\temp, \"quoted\", done"')
    assert warnings == [(299, "-", 'path C:\\temp, "quoted", done')] and rest is None


def test_split_several_warnings_in_one_header_value_with_dates_and_agents():
    value = ", ".join([EXISTING, WEB + ' "Sat, 14 Mar 2026 10:00:00 GMT"', '199 kc-api:6443 "misc, warning"', REDIS])
    warnings, rest = psa.split_warning_header(value)
    assert rest is None
    assert [code for code, agent, text in warnings] == [299, 299, 199, 299]
    assert warnings[1][2] == ("web-7c9d5b6f4-2xkqp (and 2 other pods): allowPrivilegeEscalation != false, "
                              "unrestricted capabilities")
    assert warnings[2][1:] == ("kc-api:6443", "misc, warning")


@pytest.mark.parametrize("value, parsed, rest", [
    ('299 - "unterminated', 0, '299 - "unterminated'),
    ('299 -', 0, "299 -"),
    ('abc - "x"', 0, 'abc - "x"'),
    (EXISTING + ' garbage', 0, EXISTING + " garbage"),
    (EXISTING + ', 299 - "ok", nonsense', 2, "nonsense"),
    (EXISTING + ' "Sat, 14 Mar', 0, EXISTING + ' "Sat, 14 Mar'),
    ('  ,, ' + EXISTING + ' ,', 1, None),
    ("", 0, None),
])
def test_split_stops_at_what_is_not_a_warning(value, parsed, rest):
    warnings, remainder = psa.split_warning_header(value)
    assert len(warnings) == parsed
    assert remainder == rest


def test_parse_recorded_dry_run_warnings():
    result = psa.parse_warnings(RECORDED)
    assert result["violations"] is True
    assert result["truncated"] is False
    assert result["namespace"] == "shop" and result["level"] == "restricted:v1.36"
    assert result["pods"] == [
        {"pod": "web-7c9d5b6f4-2xkqp", "others": 2,
         "reasons": ["allowPrivilegeEscalation != false", "unrestricted capabilities"]},
        {"pod": "redis-0", "others": 1, "reasons": ["runAsNonRoot != true", "seccompProfile"]},
        {"pod": "debug-shell", "others": 0,
         "reasons": ["host namespaces", "privileged", "restricted volume types", "runAsUser=0"]},
    ]
    assert result["messages"][0] == ('existing pods in namespace "shop" violate the new PodSecurity enforce level '
                                     '"restricted:v1.36"')
    assert len(result["messages"]) == 4 and result["unparsed"] == []


def test_parse_the_same_warnings_joined_in_one_header_value():
    # What an HTTP library gives when it folds repeated Warning headers into one comma-separated value.
    assert psa.parse_warnings(", ".join(RECORDED)) == psa.parse_warnings(RECORDED)


def test_parse_truncated_check():
    result = psa.parse_warnings([TRUNCATED, EXISTING, WEB])
    assert result["truncated"] is True and result["checked"] == 3000 and result["total"] == 5000
    assert result["violations"] is True and [p["pod"] for p in result["pods"]] == ["web-7c9d5b6f4-2xkqp"]
    result = psa.parse_warnings([TRUNCATED])
    assert result["truncated"] is True and result["violations"] is False and result["pods"] == []


def test_parse_pod_listing_failure_is_incomplete():
    result = psa.parse_warnings([LIST_FAILED])
    assert result["truncated"] is True and result["checked"] is None and result["violations"] is False


def test_parse_no_warnings():
    for headers in (None, [], [""]):
        assert psa.parse_warnings(headers) == {"violations": False, "pods": [], "truncated": False, "messages": [],
                                               "namespace": None, "level": None, "checked": None, "total": None,
                                               "unparsed": []}


def test_parse_ignores_other_codes_and_does_not_read_other_warnings_as_pods():
    result = psa.parse_warnings(['199 - "web-1: privileged"', r'299 - "metadata.labels: deprecated, use x"'])
    assert result["violations"] is False and result["pods"] == []
    assert result["messages"] == ["metadata.labels: deprecated, use x"]


def test_parse_keeps_unparsable_header_text():
    result = psa.parse_warnings(["this is not a warning"])
    assert result["unparsed"] == ["this is not a warning"] and result["messages"] == []


def test_parse_decodes_rfc2047_text():
    result = psa.parse_warnings(['299 - "=?utf-8?q?caf=C3=A9-0:_privileged?="'])
    assert result["messages"] == ["caf\u00e9-0: privileged"]
    assert psa.parse_warnings(['299 - "=?bogus?q?x?="'])["messages"] == ["=?bogus?q?x?="]


# -- plan_pod_security -------------------------------------------------------------------------------------------------

def test_clean_dry_run_enforces_the_tier_level():
    result = plan(tier="critical", warnings=[])
    assert result == {"namespace": "shop", "tier": "critical", "level": "restricted",
                      "labels": psa_labels("restricted"), "mode": "enforce", "violators": [],
                      "reason": "enforce=restricted:v1.36: the dry run found no violating pods"}
    assert plan(tier="important", warnings=[])["labels"] == psa_labels("baseline")
    assert plan(tier="best_effort", warnings=[])["level"] == "baseline"


def test_violating_pods_get_audit_and_warn_only_and_enforce_is_unchanged():
    ns = namespace(labels={P + "enforce": "baseline", P + "enforce-version": "v1.35"})
    before = copy.deepcopy(ns)
    result = plan(ns, warnings=RECORDED)
    assert result["mode"] == "audit_warn_only"
    assert result["labels"] == psa_labels("restricted", modes=("audit", "warn"))
    assert P + "enforce" not in result["labels"] and P + "enforce-version" not in result["labels"]
    assert [v["pod"] for v in result["violators"]] == ["web-7c9d5b6f4-2xkqp", "redis-0", "debug-shell"]
    assert result["reason"].startswith("enforce=restricted:v1.36 not applied: 6 existing pod(s) would violate "
                                       "restricted:v1.36 (web-7c9d5b6f4-2xkqp and 2 other(s): allowPrivilegeEscalation"
                                       " != false, unrestricted capabilities; redis-0 and 1 other(s)")
    assert result["reason"].endswith("; sets audit and warn only (enforce label unchanged: baseline)")
    assert ns == before


def test_forced_enforcement_applies_enforce_and_reports_violators():
    result = plan(warnings=RECORDED, force=True)
    assert result["mode"] == "enforce"
    assert result["labels"] == psa_labels("restricted")
    assert len(result["violators"]) == 3
    assert result["reason"].startswith("enforce=restricted:v1.36 forced: 6 existing pod(s) would violate")
    assert "running pods keep running" in result["reason"]


def test_incomplete_or_missing_dry_run_does_not_enforce():
    result = plan(warnings=[TRUNCATED])
    assert result["mode"] == "audit_warn_only"
    assert "the dry run checked only 3000 of 5000 existing pods" in result["reason"]
    assert "could not list the existing pods" in plan(warnings=[LIST_FAILED])["reason"]
    result = plan(warnings=None)
    assert result["mode"] == "audit_warn_only" and "no server-side dry run result" in result["reason"]
    result = plan(warnings=["garbled"])
    assert result["mode"] == "audit_warn_only" and "Warning header not understood: 'garbled'" in result["reason"]
    assert plan(warnings=None, force=True)["mode"] == "enforce"


def test_more_than_five_violating_groups_are_counted_not_listed():
    pods = [r'299 - "pod-%d: privileged"' % index for index in range(7)]
    result = plan(warnings=[EXISTING] + pods)
    assert len(result["violators"]) == 7
    assert "; ... 2 more group(s))" in result["reason"]


def test_parsed_warnings_are_accepted_as_well_as_header_values():
    assert plan(warnings=None, force=False) != plan(warnings=[])
    parsed = psa.parse_warnings(RECORDED)
    assert psa.plan_pod_security(namespace(), "critical", None, "v1.36", parsed) == plan(warnings=RECORDED)


def test_audit_and_warn_already_set_and_pods_violate():
    ns = namespace(labels=psa_labels("restricted", modes=("audit", "warn")))
    result = plan(ns, warnings=RECORDED)
    assert result["mode"] == "audit_warn_only" and result["labels"] == {}
    assert "audit and warn already in place (enforce label unchanged: absent)" in result["reason"]


def test_stricter_enforce_is_never_loosened():
    ns = namespace(labels=psa_labels("restricted"))
    result = plan(ns, tier="important", warnings=[])
    assert result["mode"] == "already" and result["labels"] == {}
    assert result["reason"] == ("enforce, audit and warn at baseline or stricter (tier important); enforce=restricted "
                                "is stricter than baseline: kept; audit=restricted is stricter than baseline: kept; "
                                "warn=restricted is stricter than baseline: kept")
    ns = namespace(labels={P + "enforce": "restricted"})
    result = plan(ns, tier="important", warnings=RECORDED)  # warnings are irrelevant: enforce is not changed
    assert result["mode"] == "enforce"
    assert result["labels"] == psa_labels("baseline", modes=("audit", "warn"))
    assert result["violators"] == []
    assert result["reason"] == ("enforce already at baseline or stricter; sets audit, warn; enforce=restricted is "
                                "stricter than baseline: kept")


def test_namespace_already_at_the_level():
    result = plan(namespace(labels=psa_labels("restricted")), warnings=None)
    assert result["mode"] == "already" and result["labels"] == {} and result["level"] == "restricted"


def test_pinning_an_enforce_label_at_latest_goes_through_the_dry_run():
    ns = namespace(labels=psa_labels("restricted", "latest"))
    assert plan(ns, warnings=[])["labels"] == psa_labels("restricted")
    assert plan(ns, warnings=RECORDED)["mode"] == "audit_warn_only"


def test_levels_by_tier_override_and_validation():
    assert plan(tier="important", levels={"important": "restricted"}, warnings=[])["level"] == "restricted"
    assert plan(tier="critical", levels={"important": "restricted"}, warnings=[])["level"] == "restricted"
    with pytest.raises(ValueError, match="psa_levels.critical='strict'"):
        plan(levels={"critical": "strict"})
    with pytest.raises(ValueError, match="psa_levels must map tiers to levels"):
        plan(levels=["restricted"])
    with pytest.raises(ValueError, match="not 'latest' or v1.<minor>"):
        plan(version="v1.36.3")
    assert psa.target_levels() == {"critical": "restricted", "important": "baseline", "best_effort": "baseline"}


@pytest.mark.parametrize("ns, kwargs, reason", [
    (namespace("kube-system"), {}, "system namespace"),
    (namespace("kube-node-lease"), {}, "system namespace"),
    (namespace("istio-system"), {"excluded": ["*-system"]}, "excluded by pattern '*-system'"),
    (namespace("legacy"), {"excluded": ["legacy"]}, "excluded"),
    (namespace("legacy", {"kubecompass.io/pod-security": "skip"}), {},
     "opted out: namespace labelled kubecompass.io/pod-security=skip"),
    (namespace("legacy", {"example.com/psa": "skip"}), {"opt_out_label": "example.com/psa"},
     "opted out: namespace labelled example.com/psa=skip"),
    (namespace("leaving", deletionTimestamp="2026-03-02T08:00:00Z"), {}, "namespace is terminating"),
    (namespace("shop"), {"tier": None}, "tier None is not a tier"),
    (namespace("shop"), {"tier": "gold"}, "tier 'gold' is not a tier"),
    (namespace("shop"), {"tiers": ["important"]}, "tier critical is not staged (staged: important)"),
    (namespace("shop"), {"tiers": []}, "tier critical is not staged (staged: none)"),
])
def test_out_of_scope_namespaces_are_skipped(ns, kwargs, reason):
    result = plan(ns, warnings=[], **kwargs)
    assert result["mode"] == "skip"
    assert result["labels"] == {} and result["violators"] == []
    assert result["reason"].startswith(reason)


def test_network_policy_opt_out_does_not_opt_out_of_pod_security():
    assert plan(namespace(labels={"kubecompass.io/network-policy": "skip"}), warnings=[])["mode"] == "enforce"


def test_staged_tiers_and_exclusions_are_validated():
    with pytest.raises(ValueError, match="tiers: 'gold' is not a tier"):
        plan(tiers=["gold"])
    with pytest.raises(ValueError, match="must be a list"):
        plan(excluded="kube-*")
