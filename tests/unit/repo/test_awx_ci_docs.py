"""The machine-readable parts of the AWX and CI guides: survey specs AWX accepts, a credential type whose injector
feeds a variable the collection reads, schedules AWX accepts, the weekly workflow's plan - approve - apply order, and
CI commands whose variables the assess playbook reads."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from dateutil import rrule

from tests.helpers import REPO

AWX = REPO / "docs" / "awx"
SURVEY_TYPES = {"text", "textarea", "password", "multiplechoice", "multiselect", "integer", "float"}
# AWX rejects injected variables starting with ANSIBLE_ and these (awx/main/constants.py ENV_BLOCKLIST, in part).
ENV_BLOCKLIST = {"PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "MAX_EVENT_RES", "AWX_HOST", "PROJECT_REVISION",
                 "SUPERVISOR_CONFIG_PATH", "RUNNER_OMIT_EVENTS", "RUNNER_ONLY_FAILED_EVENTS"}


def _load(name):
    return json.loads((AWX / name).read_text())


def _lines(value):
    """AWX takes choices and multiselect defaults as a list or a newline-separated string."""
    if isinstance(value, str):
        return [line for line in value.split("\n") if line]
    return list(value or [])


def survey_errors(survey) -> list[str]:
    """The rules AWX applies to a survey spec (awx/api/views/__init__.py _validate_spec_data)."""
    errors = [f"'{key}' missing" for key in ("name", "description", "spec") if key not in survey]
    spec = survey.get("spec")
    if not isinstance(spec, list) or not spec:
        return errors + ["'spec' must be a non-empty list"]
    seen = set()
    for index, question in enumerate(spec):
        where = f"question {index} ({question.get('variable')})"
        errors += [f"{where}: '{key}' missing" for key in ("type", "question_name", "variable", "required")
                   if key not in question]
        kind = question.get("type")
        if kind not in SURVEY_TYPES:
            errors.append(f"{where}: type {kind!r} is not one of {sorted(SURVEY_TYPES)}")
        if not isinstance(question.get("required", False), bool):
            errors.append(f"{where}: 'required' must be a boolean")
        if question.get("variable") in seen:
            errors.append(f"{where}: variable used twice")
        seen.add(question.get("variable"))
        errors += [f"{where}: '{key}' must be an integer" for key in ("min", "max")
                   if key in question and not isinstance(question[key], int)]
        if kind in ("multiplechoice", "multiselect"):
            choices = _lines(question.get("choices"))
            if not choices:
                errors.append(f"{where}: 'choices' required")
            defaults = _lines(question.get("default", ""))
            if kind == "multiplechoice" and len(defaults) > 1:
                errors.append(f"{where}: multiplechoice takes one default")
            errors += [f"{where}: default {d!r} is not a choice" for d in defaults if d not in choices]
    return errors


SURVEYS = sorted(p.name for p in AWX.glob("survey-*.json"))


def test_surveys_are_shipped():
    assert SURVEYS == ["survey-assess.json", "survey-remediate.json"]


@pytest.mark.parametrize("name", SURVEYS)
def test_survey_is_a_spec_awx_accepts(name):
    assert survey_errors(_load(name)) == []


@pytest.mark.parametrize("broken, error", [
    ({"name": "x", "description": "", "spec": []}, "'spec' must be a non-empty list"),
    ({"name": "x", "spec": [{"type": "text", "question_name": "q", "variable": "v", "required": True}]},
     "'description' missing"),
    ({"name": "x", "description": "", "spec": [{"type": "choice", "question_name": "q", "variable": "v",
                                                "required": True}]}, "type 'choice' is not one of"),
    ({"name": "x", "description": "", "spec": [{"type": "multiplechoice", "question_name": "q", "variable": "v",
                                                "required": True, "choices": ["a"], "default": "b"}]},
     "default 'b' is not a choice"),
    ({"name": "x", "description": "", "spec": [{"type": "text", "question_name": "q", "variable": "v",
                                                "required": "yes"}]}, "'required' must be a boolean"),
    ({"name": "x", "description": "", "spec": [{"type": "text", "question_name": "q", "variable": "v",
                                                "required": True}] * 2}, "variable used twice"),
])
def test_survey_rules_reject_what_awx_rejects(broken, error):
    assert any(error in e for e in survey_errors(broken)), survey_errors(broken)


def _argument_spec_options():
    options = {}
    for path in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        for entry in yaml.safe_load(path.read_text())["argument_specs"].values():
            options.update(entry.get("options") or {})
    return options


def test_assess_survey_sets_variables_the_assess_playbook_reads():
    playbook = (REPO / "playbooks" / "assess.yml").read_text()
    for question in _load("survey-assess.json")["spec"]:
        assert re.search(r"\b%s\b" % question["variable"], playbook), question["variable"]


def test_remediate_survey_sets_role_options_with_the_same_choices():
    options = _argument_spec_options()
    for question in _load("survey-remediate.json")["spec"]:
        option = options[question["variable"]]
        assert question["type"] == "multiselect" and option["type"] == "list", question["variable"]
        assert set(_lines(question["choices"])) <= set(option["choices"]), question["variable"]


def _collection_env_names():
    """The K8S_AUTH_* variables the collection's connection options fall back to."""
    source = (REPO / "plugins" / "module_utils" / "_auth.py").read_text()
    return set(re.findall(r"\bK8S_AUTH_[A-Z_]+\b", source))


def test_kubeconfig_credential_type_injects_what_the_collection_reads():
    credential_type = _load("credential-type-kubeconfig.json")
    assert credential_type["kind"] in ("cloud", "net")  # the kinds AWX allows for a custom type
    fields = {f["id"]: f for f in credential_type["inputs"]["fields"]}
    assert set(credential_type["inputs"]["required"]) <= set(fields)
    assert fields["kubeconfig"]["secret"] is True
    injectors = credential_type["injectors"]
    env = injectors["env"]
    assert set(env) <= _collection_env_names(), set(env) - _collection_env_names()
    assert "K8S_AUTH_KUBECONFIG" in env
    assert not [n for n in env if n.startswith("ANSIBLE_") or n in ENV_BLOCKLIST]
    # Several files use template.<name> only (mixing both styles is rejected), each from an input, each used.
    files = injectors["file"]
    assert all(key.startswith("template.") for key in files)
    file_names = {key.split(".", 1)[1] for key in files}
    for template in files.values():
        assert set(re.findall(r"\{\{\s*(\w+)\s*\}\}", template)) <= set(fields)
    used = set(re.findall(r"tower\.filename\.(\w+)", json.dumps(env)))
    assert used == file_names


def rrule_errors(text: str) -> list[str]:
    """The rules AWX applies to a schedule's rrule (docs/schedules.md), then dateutil must parse it."""
    parts = text.split()
    errors = []
    starts = [p for p in parts if p.startswith("DTSTART")]
    if len(starts) != 1 or not parts[0].startswith("DTSTART"):
        errors.append("exactly one DTSTART, first")
    elif not (starts[0].startswith("DTSTART;TZID=") or starts[0].endswith("Z")):
        errors.append("DTSTART needs a time zone")
    rules = [p for p in parts if p.startswith("RRULE:")]
    if not rules:
        errors.append("an RRULE is required")
    for rule in rules:
        fields = dict(f.split("=", 1) for f in rule[len("RRULE:"):].split(";"))
        if "INTERVAL" not in fields:
            errors.append("INTERVAL is required")
        if fields.get("FREQ") == "SECONDLY":
            errors.append("SECONDLY is not allowed")
        if "COUNT" in fields and ("UNTIL" in fields or int(fields["COUNT"]) > 999):
            errors.append("COUNT with UNTIL, or COUNT over 999")
        if re.search(r"[+-]?\d", fields.get("BYDAY", "")):
            errors.append("numbered BYDAY is not allowed")
    if any(p.startswith(("RDATE", "EXDATE")) for p in parts):
        errors.append("RDATE/EXDATE are not allowed")
    if not errors:
        rrule.rrulestr(text.replace(" ", "\n"), forceset=True)
    return errors


def test_schedules_are_rrules_awx_accepts():
    nightly = _load("schedule-nightly-assess.json")
    weekly = _load("workflow-weekly-remediation.json")["schedule"]
    for schedule in (nightly, weekly):
        assert rrule_errors(schedule["rrule"]) == [], schedule["name"]
    assert "FREQ=DAILY" in nightly["rrule"] and "FREQ=WEEKLY" in weekly["rrule"]
    # A schedule may set extra_data only for what the job template prompts for: here the assess survey.
    asked = {q["variable"] for q in _load("survey-assess.json")["spec"]}
    assert set(nightly["extra_data"]) <= asked


@pytest.mark.parametrize("text", ["RRULE:FREQ=DAILY;INTERVAL=1", "DTSTART:20260101T020000 RRULE:FREQ=DAILY;INTERVAL=1",
                                  "DTSTART;TZID=UTC:20260101T020000 RRULE:FREQ=DAILY",
                                  "DTSTART;TZID=UTC:20260101T020000 RRULE:FREQ=SECONDLY;INTERVAL=1",
                                  "DTSTART;TZID=UTC:20260101T020000 RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=1MO"])
def test_rrule_rules_reject_what_awx_rejects(text):
    assert rrule_errors(text)


def test_weekly_workflow_runs_the_plan_then_an_approval_then_the_change():
    nodes = {n["identifier"]: n for n in _load("workflow-weekly-remediation.json")["workflow_nodes"]}
    edges = [(source, kind, target["identifier"]) for source, node in nodes.items()
             for kind, targets in node.get("related", {}).items() for target in targets]
    assert {target for _s, _k, target in edges} <= set(nodes)
    into = {target: [(s, k) for s, k, t in edges if t == target] for target in nodes}
    change = [i for i, n in nodes.items() if n["unified_job_template"]["name"] == "kubecompass remediate"
              and n.get("job_type") == "run"]
    assert len(change) == 1
    (approval, kind), = into[change[0]]
    assert kind == "success_nodes" and nodes[approval]["unified_job_template"]["type"] == "workflow_approval"
    assert nodes[approval]["unified_job_template"]["timeout"] > 0  # an unanswered approval times out and stops
    (plan, kind), = into[approval]
    assert kind == "success_nodes" and into[plan] == []
    assert nodes[plan]["unified_job_template"]["name"] == "kubecompass remediate"
    assert nodes[plan]["job_type"] == "check" and nodes[plan]["diff_mode"] is True
    guide = (REPO / "docs" / "awx.md").read_text()
    for node in nodes.values():
        if node["unified_job_template"]["type"] == "job_template":
            assert "`%s`" % node["unified_job_template"]["name"] in guide


def _ci_commands():
    github = yaml.safe_load((REPO / "docs" / "ci" / "github-actions.yml").read_text())
    gitlab = yaml.safe_load((REPO / "docs" / "ci" / "gitlab-ci.yml").read_text())
    steps = [s.get("run", "") for job in github["jobs"].values() for s in job["steps"]]
    scripts = [line for job in gitlab.values() if isinstance(job, dict)
               for key in ("script", "after_script") for line in job.get(key, [])]
    return steps + scripts


def test_ci_examples_set_only_variables_the_assess_playbook_reads():
    playbook = (REPO / "playbooks" / "assess.yml").read_text()
    named = set(re.findall(r"\bkubecompass_[a-z_]+", "\n".join(_ci_commands())))
    assert named, "the CI examples pass the gate's variables"
    assert {n for n in named if not re.search(r"\b%s\b" % n, playbook)} == set()
