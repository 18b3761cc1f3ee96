"""SARIF that GitHub code scanning ingests: its documented ingestion rules, encoded once, and the renderer held to them.

The rules (read when this was written, never at test time):
- docs.github.com "SARIF support for code scanning": only SARIF 2.1.0; required, non-empty: $schema, version, runs,
  tool.driver.name, driver.rules, rule id, shortDescription.text and fullDescription.text (at most 1024 characters
  each), help.text (help.markdown recommended), rule name at most 255 characters, defaultConfiguration.level one of
  note/warning/error, security-severity a number above 0.0 up to 10.0 as a string, result message.text, at least one
  location whose physicalLocation has artifactLocation.uri (relative, or the checkout's scheme) and a region with
  startLine/startColumn/endLine/endColumn, partialFingerprints (only primaryLocationLineHash is used).
- "SARIF results exceed limit": at most 20 runs per file, 25,000 results per run (5,000 shown, by severity), 25,000
  rules, 100 tool extensions, 1,000 locations per result, 20 tags per rule (10 shown), 10,000 thread-flow locations.
- "SARIF file is too large": at most 10 MB gzip-compressed.
- github/codeql-action#2459: one result without a location rejects the upload; forcedotcom/code-analyzer#1970: a
  location with only logicalLocations is rejected ("expected artifact location").
- microsoft/PSRule#955 and projects dropping suppressed results before upload: code scanning opens an alert for every
  result, whatever its kind, and does not honour suppressions - so pass/notApplicable/suppressed results are noise.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
from pathlib import Path

import jsonschema
import pytest

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness import report
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.formats import sarif
from tests.unit.plugins.module_utils._readiness import report_fixtures as fx

REPO = Path(__file__).resolve().parents[5]
SARIF_SCHEMA = json.loads((REPO / "tests" / "unit" / "fixtures" / "sarif-schema-2.1.0.json").read_text())

MAX_RUNS = 20
MAX_RESULTS = 25000
SHOWN_RESULTS = 5000
MAX_RULES = 25000
MAX_EXTENSIONS = 100
MAX_LOCATIONS = 1000
MAX_TAGS = 20
SHOWN_TAGS = 10
MAX_THREAD_FLOW_LOCATIONS = 10000
MAX_DESCRIPTION = 1024
MAX_RULE_NAME = 255
MAX_GZIP_BYTES = 10 * 1000 * 1000
RULE_LEVELS = {"note", "warning", "error"}
RESULT_LEVELS = {"none", "note", "warning", "error"}
PRECISIONS = {"very-high", "high", "medium", "low"}
PROBLEM_SEVERITIES = {"error", "warning", "recommendation"}
NOT_ALERTS = {"pass", "notApplicable", "informational"}
REGION_KEYS = ("startLine", "startColumn", "endLine", "endColumn")


def _text(holder, key):
    value = (holder or {}).get(key)
    return value.get("text") if isinstance(value, dict) else None


def _rule_violations(where, rule):
    found = []
    if not rule.get("id"):
        found.append("%s: no id" % where)
    for key in ("shortDescription", "fullDescription"):
        text = _text(rule, key)
        if not text:
            found.append("%s: %s.text missing or empty" % (where, key))
        elif len(text) > MAX_DESCRIPTION:
            found.append("%s: %s.text has %d characters (max %d)" % (where, key, len(text), MAX_DESCRIPTION))
    if not _text(rule, "help"):
        found.append("%s: help.text missing or empty" % where)
    if not (rule.get("help") or {}).get("markdown"):
        found.append("%s: help.markdown missing or empty" % where)
    if len(rule.get("name") or "") > MAX_RULE_NAME:
        found.append("%s: name longer than %d" % (where, MAX_RULE_NAME))
    level = (rule.get("defaultConfiguration") or {}).get("level")
    if level is not None and level not in RULE_LEVELS:
        found.append("%s: defaultConfiguration.level %r" % (where, level))
    properties = rule.get("properties") or {}
    tags = properties.get("tags") or []
    if len(tags) > SHOWN_TAGS:
        found.append("%s: %d tags (max %d, %d shown)" % (where, len(tags), MAX_TAGS, SHOWN_TAGS))
    if "security-severity" in properties:
        value = properties["security-severity"]
        if not isinstance(value, str) or not re.match(r"^\d+(\.\d+)?$", value) or not 0.0 < float(value) <= 10.0:
            found.append("%s: security-severity %r is not a string above 0.0 up to 10.0" % (where, value))
    if properties.get("precision") is not None and properties["precision"] not in PRECISIONS:
        found.append("%s: precision %r" % (where, properties["precision"]))
    if properties.get("problem.severity") is not None and properties["problem.severity"] not in PROBLEM_SEVERITIES:
        found.append("%s: problem.severity %r" % (where, properties["problem.severity"]))
    return found


def _location_violations(where, location, base_ids):
    physical = (location or {}).get("physicalLocation")
    if not physical:
        return ["%s: no physicalLocation (a logical location alone is rejected)" % where]
    found = []
    artifact = physical.get("artifactLocation") or {}
    uri = artifact.get("uri")
    if not uri:
        found.append("%s: no artifactLocation.uri" % where)
    elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri) and not uri.startswith("file:"):
        found.append("%s: uri %r has a scheme other than the checkout's" % (where, uri))
    if artifact.get("uriBaseId") is not None and artifact["uriBaseId"] not in base_ids:
        found.append("%s: uriBaseId %r not in originalUriBaseIds" % (where, artifact["uriBaseId"]))
    region = physical.get("region") or {}
    for key in REGION_KEYS:
        if not isinstance(region.get(key), int) or region[key] < 1:
            found.append("%s: region.%s missing or below 1" % (where, key))
    return found


def _result_violations(where, result, rule_ids, base_ids):
    found = []
    if not _text(result, "message"):
        found.append("%s: message.text missing or empty" % where)
    if not result.get("ruleId") or result["ruleId"] not in rule_ids:
        found.append("%s: ruleId %r is not a rule of the run" % (where, result.get("ruleId")))
    elif "ruleIndex" in result and rule_ids[result["ruleIndex"]:result["ruleIndex"] + 1] != [result["ruleId"]]:
        found.append("%s: ruleIndex %r does not point at %s" % (where, result["ruleIndex"], result["ruleId"]))
    if result.get("level") is not None and result["level"] not in RESULT_LEVELS:
        found.append("%s: level %r" % (where, result["level"]))
    if result.get("kind") in NOT_ALERTS:
        found.append("%s: kind %r would still open an alert" % (where, result["kind"]))
    if result.get("suppressions"):
        found.append("%s: suppressed result would still open an alert" % where)
    locations = result.get("locations") or []
    if not locations:
        found.append("%s: no location (rejects the whole upload)" % where)
    elif len(locations) > MAX_LOCATIONS:
        found.append("%s: %d locations (max %d)" % (where, len(locations), MAX_LOCATIONS))
    else:
        found += _location_violations("%s.locations[0]" % where, locations[0], base_ids)
    if len(result.get("relatedLocations") or []) > MAX_LOCATIONS:
        found.append("%s: more than %d related locations" % (where, MAX_LOCATIONS))
    flow_locations = sum(len(thread.get("locations") or []) for flow in result.get("codeFlows") or []
                         for thread in flow.get("threadFlows") or [])
    if flow_locations > MAX_THREAD_FLOW_LOCATIONS:
        found.append("%s: %d thread-flow locations" % (where, flow_locations))
    if not (result.get("partialFingerprints") or {}).get("primaryLocationLineHash"):
        found.append("%s: no partialFingerprints.primaryLocationLineHash" % where)
    return found


def github_violations(text, max_gzip_bytes=MAX_GZIP_BYTES):
    """Every way text breaks GitHub code scanning's documented ingestion rules (empty when it is accepted)."""
    found = []
    compressed = len(gzip.compress(text.encode("utf-8")))
    if compressed > max_gzip_bytes:
        found.append("file is %d bytes gzip-compressed (max %d)" % (compressed, max_gzip_bytes))
    document = json.loads(text)
    if not document.get("$schema"):
        found.append("no $schema")
    if document.get("version") != "2.1.0":
        found.append("version %r is not 2.1.0" % document.get("version"))
    runs = document.get("runs") or []
    if not runs or len(runs) > MAX_RUNS:
        found.append("%d runs (1 to %d)" % (len(runs), MAX_RUNS))
    for r, run in enumerate(runs):
        tool = run.get("tool") or {}
        driver = tool.get("driver") or {}
        if not driver.get("name"):
            found.append("runs[%d]: no tool.driver.name" % r)
        rules = driver.get("rules")
        if not isinstance(rules, list):
            found.append("runs[%d]: no tool.driver.rules" % r)
            rules = []
        if len(rules) > MAX_RULES:
            found.append("runs[%d]: %d rules (max %d)" % (r, len(rules), MAX_RULES))
        if len(tool.get("extensions") or []) > MAX_EXTENSIONS:
            found.append("runs[%d]: more than %d tool extensions" % (r, MAX_EXTENSIONS))
        rule_ids = [rule.get("id") for rule in rules]
        if len(set(rule_ids)) != len(rule_ids):
            found.append("runs[%d]: duplicate rule ids" % r)
        for i, rule in enumerate(rules):
            found += _rule_violations("runs[%d].rules[%d]" % (r, i), rule)
        results = run.get("results")
        if not isinstance(results, list):
            found.append("runs[%d]: no results array" % r)
            results = []
        if len(results) > SHOWN_RESULTS:
            found.append("runs[%d]: %d results (max %d, %d shown)" % (r, len(results), MAX_RESULTS, SHOWN_RESULTS))
        base_ids = set(run.get("originalUriBaseIds") or {})
        for i, result in enumerate(results):
            found += _result_violations("runs[%d].results[%d]" % (r, i), result, rule_ids, base_ids)
        hashes = [(res.get("partialFingerprints") or {}).get("primaryLocationLineHash") for res in results]
        if len(set(hashes)) != len(hashes):
            found.append("runs[%d]: two results share a fingerprint (one alert hides the other)" % r)
    return found


def schema_errors(document):
    validator = jsonschema.Draft4Validator(SARIF_SCHEMA)
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)), e.message) for e in validator.iter_errors(document)]


def results_of(text):
    return json.loads(text)["runs"][0]["results"]


@pytest.fixture(scope="module")
def run():
    return fx.run()


@pytest.fixture(scope="module")
def text(run):
    return report.render_sarif(run)


# -- the rules themselves ------------------------------------------------------------------------------------------


def test_the_fixture_sarif_meets_every_ingestion_rule_and_the_schema(text):
    assert github_violations(text) == []
    assert schema_errors(json.loads(text)) == []


def _first_result(document):
    return document["runs"][0]["results"][0]


BREAKAGES = {
    "no locations": lambda d: _first_result(d).update(locations=[]),
    "logical location only": lambda d: _first_result(d)["locations"][0].pop("physicalLocation"),
    "empty message": lambda d: _first_result(d).update(message={"text": ""}),
    "no fingerprint": lambda d: _first_result(d).pop("partialFingerprints"),
    "duplicate fingerprint": lambda d: d["runs"][0]["results"].append(copy.deepcopy(_first_result(d))),
    "kind pass": lambda d: _first_result(d).update(kind="pass"),
    "suppressed": lambda d: _first_result(d).update(suppressions=[{"kind": "external"}]),
    "https uri": lambda d: _first_result(d)["locations"][0]["physicalLocation"]["artifactLocation"].update(
        uri="https://example.com/x"),
    "undefined uriBaseId": lambda d: d["runs"][0].pop("originalUriBaseIds"),
    "no region": lambda d: _first_result(d)["locations"][0]["physicalLocation"].pop("region"),
    "unknown rule": lambda d: _first_result(d).update(ruleId="KC-NOPE-1"),
    "wrong ruleIndex": lambda d: _first_result(d).update(ruleIndex=_first_result(d)["ruleIndex"] + 1),
    "21 runs": lambda d: d.update(runs=d["runs"] * 21),
    "5001 results": lambda d: d["runs"][0].update(results=[
        dict(_first_result(d), partialFingerprints={"primaryLocationLineHash": "%d:1" % i}) for i in range(5001)]),
    "1001 locations": lambda d: _first_result(d).update(locations=_first_result(d)["locations"] * 1001),
    "no help": lambda d: d["runs"][0]["tool"]["driver"]["rules"][0].pop("help"),
    "no fullDescription": lambda d: d["runs"][0]["tool"]["driver"]["rules"][0].pop("fullDescription"),
    "long description": lambda d: d["runs"][0]["tool"]["driver"]["rules"][0].update(
        shortDescription={"text": "x" * 1025}),
    "long name": lambda d: d["runs"][0]["tool"]["driver"]["rules"][0].update(name="N" * 256),
    "11 tags": lambda d: d["runs"][0]["tool"]["driver"]["rules"][0]["properties"].update(
        tags=["t%d" % i for i in range(11)]),
    "security-severity 11": lambda d: d["runs"][0]["tool"]["driver"]["rules"][0]["properties"].update(
        **{"security-severity": "11.0"}),
    "security-severity number": lambda d: d["runs"][0]["tool"]["driver"]["rules"][0]["properties"].update(
        **{"security-severity": 8.0}),
    "version 2.0": lambda d: d.update(version="2.0.0"),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_the_ingestion_rules_catch_each_documented_violation(text, breakage):
    document = json.loads(text)
    BREAKAGES[breakage](document)
    assert github_violations(json.dumps(document)) != []


def test_a_file_over_the_compressed_size_limit_is_caught(text):
    size = len(gzip.compress(text.encode("utf-8")))
    assert github_violations(text, max_gzip_bytes=size) == []
    assert github_violations(text, max_gzip_bytes=size - 1) == [
        "file is %d bytes gzip-compressed (max %d)" % (size, size - 1)]


# -- the renderer held to them -------------------------------------------------------------------------------------


def test_only_failing_and_undecided_outcomes_become_results(run, text):
    results = results_of(text)
    by_key = {}
    for result in results:
        by_key.setdefault((result["properties"]["cluster"], result["ruleId"]), []).append(result)
    # prod-eu-1: KC-AVL-901 one failing Deployment (ledger is waived), KC-SEC-902 unknown, KC-DR-901 fails
    # cluster-wide, KC-CMP-901 one namespace without quota; KC-SEC-901 is waived, KC-OPS-* pass.
    assert {key: [r["kind"] for r in found] for key, found in by_key.items()} == {
        ("prod-eu-1", "KC-AVL-901"): ["fail"], ("prod-eu-1", "KC-SEC-902"): ["review"],
        ("prod-eu-1", "KC-DR-901"): ["fail"], ("prod-eu-1", "KC-CMP-901"): ["fail"],
        ("staging", "KC-SEC-901"): ["fail"]}
    left_out = json.loads(text)["runs"][0]["properties"]["left_out"]
    by_verdict = run["summary"]["by_verdict"]
    assert left_out == {"pass": by_verdict["pass"], "not_applicable": by_verdict["not_applicable"],
                        "waived": by_verdict["waived"], "folded": 0, "dropped": 0}


def test_results_are_located_on_the_object_or_the_cluster_under_the_base_id(text):
    results = {(r["properties"]["cluster"], r["ruleId"]): r for r in results_of(text)}

    def where(key):
        location = results[key]["locations"][0]
        artifact = location["physicalLocation"]["artifactLocation"]
        return artifact["uriBaseId"], artifact["uri"], location["logicalLocations"][0]["fullyQualifiedName"]

    assert where(("prod-eu-1", "KC-AVL-901")) == (
        sarif.URI_BASE_ID, "prod-eu-1/namespaces/shop/Deployment/web", "prod-eu-1/shop/Deployment/web")
    assert where(("prod-eu-1", "KC-CMP-901")) == (
        sarif.URI_BASE_ID, "prod-eu-1/Namespace/payments-api", "prod-eu-1/Namespace/payments-api")
    assert where(("prod-eu-1", "KC-DR-901")) == (sarif.URI_BASE_ID, "prod-eu-1", "prod-eu-1")
    message = results[("prod-eu-1", "KC-AVL-901")]["message"]["text"]
    assert message.startswith("Deployment shop/web in cluster prod-eu-1: 3 replicas and no PodDisruptionBudget. ")


def test_uris_escape_what_is_not_a_plain_path_segment():
    entry = {"kind": "Deployment", "namespace": "team a", "name": "web/../x%"}
    assert sarif.object_uri("prod:eu", entry) == "prod%3Aeu/namespaces/team%20a/Deployment/web%2F..%2Fx%25"


def test_fingerprints_are_stable_across_runs_and_differ_per_object():
    def fingerprints(clusters, started):
        run = report.build_run(clusters, fx.catalog_entries(), "high", started, started)
        return {(r["properties"]["cluster"], r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"][
            "uri"]): r["partialFingerprints"]["primaryLocationLineHash"] for r in results_of(report.render_sarif(run))}

    first = fingerprints(fx.results(), "2026-11-22T11:58:30Z")
    later = fx.results()
    for finding in later[0]["findings"]:
        finding["message"] += " (worded differently next week)"
        for entry in finding.get("objects") or []:
            entry["reason"] = "%s, again" % entry["reason"]
    assert fingerprints(later, "2026-11-29T11:58:30Z") == first
    assert len(set(first.values())) == len(first)
    assert all(re.match(r"^[0-9a-f]{16}:1$", value) for value in first.values())


def test_rules_carry_help_in_text_and_markdown_and_a_security_severity(text):
    rules = {r["id"]: r for r in json.loads(text)["runs"][0]["tool"]["driver"]["rules"]}
    pdb = rules["KC-AVL-901"]
    assert pdb["help"]["text"].startswith(fx.CHECKS[0].runbook)
    assert "Remediation: role `kubecompass.readiness.availability`, tag `pdb`." in pdb["help"]["markdown"]
    assert pdb["properties"]["security-severity"] == "8.0"
    assert rules["KC-SEC-901"]["properties"]["security-severity"] == "9.5"
    assert rules["KC-SEC-901"]["properties"]["tags"][0] == "security"
    # info carries none: 0.0 would mean "no security severity" to GitHub anyway.
    assert "security-severity" not in rules["KC-OPS-901"]["properties"]


def _crowded_run(objects):
    """prod-eu-1 with `objects` namespaces failing the low ResourceQuota check and 3 failing Deployments (high)."""
    clusters = fx.results()[:1]
    findings = {f["check_id"]: f for f in clusters[0]["findings"]}
    findings["KC-CMP-901"]["objects"] = [
        {"kind": "Namespace", "namespace": None, "name": "team-%05d" % i, "verdict": "fail", "reason": "no quota"}
        for i in range(objects)]
    findings["KC-AVL-901"]["objects"] = [
        {"kind": "Deployment", "namespace": "shop", "name": "app-%d" % i, "verdict": "fail", "reason": "no PDB"}
        for i in range(3)]
    return fx.run(clusters)


def test_beyond_the_shown_results_the_largest_findings_fold_into_one_summary_each():
    text = report.render_sarif(_crowded_run(12000))
    assert github_violations(text) == [] and schema_errors(json.loads(text)) == []
    results = results_of(text)
    quota = [r for r in results if r["ruleId"] == "KC-CMP-901"]
    assert len(quota) == 1 and quota[0]["properties"]["objects"] == 12000
    assert quota[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "prod-eu-1"
    assert "12000 objects (prod-eu-1/Namespace/team-00000" in quota[0]["message"]["text"]
    assert len([r for r in results if r["ruleId"] == "KC-AVL-901"]) == 3  # the small, severe one stays per object
    document = json.loads(text)["runs"][0]
    assert document["properties"]["left_out"]["folded"] == 1 and document["properties"]["left_out"]["dropped"] == 0
    notes = [n for n in document["invocations"][0]["toolExecutionNotifications"]
             if n["descriptor"]["id"] == "results-capped"]
    assert len(notes) == 1 and "1 finding(s) folded" in notes[0]["message"]["text"]


def test_within_the_limit_nothing_is_folded():
    results = results_of(report.render_sarif(_crowded_run(4000)))
    assert len([r for r in results if r["ruleId"] == "KC-CMP-901"]) == 4000


def test_when_folding_is_not_enough_the_least_severe_results_go_first():
    text = sarif.render_sarif(_crowded_run(20), limit=4)
    results = results_of(text)
    assert github_violations(text) == []
    # Worst first: the high failing Deployments' summary, the high unknown, then the medium Velero check.
    assert [(r["ruleId"], r["kind"]) for r in results] == [
        ("KC-AVL-901", "fail"), ("KC-SEC-902", "review"), ("KC-DR-901", "fail"), ("KC-CMP-901", "fail")]
    assert json.loads(text)["runs"][0]["properties"]["left_out"]["dropped"] == 0
    text = sarif.render_sarif(_crowded_run(20), limit=2)
    assert [r["ruleId"] for r in results_of(text)] == ["KC-AVL-901", "KC-SEC-902"]
    assert json.loads(text)["runs"][0]["properties"]["left_out"]["dropped"] == 2


def test_a_compressed_size_over_budget_halves_the_results_until_it_fits():
    run = _crowded_run(4000)
    full = sarif.render_sarif(run)
    budget = len(gzip.compress(full.encode("utf-8"))) // 3
    text = sarif.render_sarif(run, gzip_budget=budget)
    assert len(gzip.compress(text.encode("utf-8"))) <= budget
    assert 0 < len(results_of(text)) < len(results_of(full)) and github_violations(text) == []


def test_long_texts_are_cut_to_the_documented_lengths():
    clusters = fx.results()[:1]
    for finding in clusters[0]["findings"]:
        finding["message"] = "word " * 600
    entries = fx.catalog_entries()
    entries[0]["title"] = "T" * 2000
    entries[0]["runbook"] = "R" * 5000
    text = report.render_sarif(report.build_run(clusters, entries, "high", fx.STARTED, fx.FINISHED))
    assert github_violations(text) == []
    assert all(len(r["message"]["text"]) <= sarif.TEXT_LIMIT for r in results_of(text))
