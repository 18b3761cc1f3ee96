# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Evidence a run leaves behind: where the reports go, the change record of a remediation, and where the reports
are published. Pure functions; the plugins that write or upload call them.

CHANGE RECORD (``change_record``): ``{"schema_version", "kind": "plan" | "change", "cluster", "distribution",
"check_mode", "started", "finished", "seconds", "timing", "actor", "changed", "changes": [CHANGE], "counts":
{role: n}, "problems": [str]}``. CHANGE: ``{"role", "target" (node, object or provider item), "what", "action",
"before", "after"}`` with ``before``/``after`` digests (``sha256:<hex>``, null when the thing did not exist before
or does not exist after, or the role returned none). The record names objects, flags and key names only; it never
carries file contents, Secret data or credentials.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime
import hashlib
import importlib
import json
import os
import re

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import check_endpoints

SCHEMA_VERSION = 1
REPORT_SUBDIR = "kubecompass-reports"
# The CI workspace variables, checked in this order: GitHub Actions, GitLab CI.
WORKSPACE_VARIABLES = ("GITHUB_WORKSPACE", "CI_PROJECT_DIR")
# AWX / Automation Controller job metadata (extra vars AWX injects, each also with a tower_ prefix).
AWX_FIELDS = ("job_id", "job_template_name", "user_name", "schedule_id", "workflow_job_id", "project_revision",
              "execution_node")
# The roles remediate.yml runs, in its order; the record lists changes in this order.
ROLES = ("etcd_snapshots", "audit_logging", "apiserver_hardening", "encryption_at_rest", "managed_control_plane",
         "network_policies", "pod_security", "namespace_guardrails", "disruption_budgets", "rbac_least_privilege",
         "backups")
MARKDOWN_MAX_ROWS = 200
STATS_MAX_CHANGES = 50
PUBLISH_VARIABLE = "kubecompass_report_publish"
PUBLISH_KEYS = ("bucket", "prefix", "endpoint_url", "region", "allow_custom_endpoint")
# S3 bucket names (general purpose buckets): 3-63 lowercase letters, digits, dots and hyphens, starting and ending
# with a letter or digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z0-9-]{1,32}$")
_FILE_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_KEY_SAFE = re.compile(r"[^A-Za-z0-9._=-]+")


# --- where the reports go -------------------------------------------------------------------------------------------

def default_report_dir(environ, cwd):
    """The reports' directory when kubecompass_report_dir is not set: ``kubecompass-reports`` in the CI workspace
    (GITHUB_WORKSPACE, CI_PROJECT_DIR: the directory CI keeps artifacts from), else in the current directory of the
    playbook run. Never the file system root: a relative or empty workspace variable is ignored."""
    for name in WORKSPACE_VARIABLES:
        value = (environ.get(name) or "").strip()
        if value and os.path.isabs(value) and value != os.sep:
            return os.path.join(value, REPORT_SUBDIR)
    if not cwd or not os.path.isabs(cwd) or cwd == os.sep:
        raise KubeCompassError("kubecompass_report_dir: no CI workspace (%s) and the current directory %r cannot hold "
                               "the reports; set kubecompass_report_dir" % (", ".join(WORKSPACE_VARIABLES), cwd),
                               "input")
    return os.path.join(cwd, REPORT_SUBDIR)


# --- the change record --------------------------------------------------------------------------------------------

def digest(value):
    """``sha256:<hex>`` of a JSON-able value in canonical form (sorted keys), None for None."""
    if value is None:
        return None
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def file_digest(text):
    """``sha256:<hex>`` of a file's content (what ``sha256sum`` prints), None for a file that does not exist."""
    if text is None:
        return None
    data = text.encode("utf-8") if isinstance(text, str) else text
    return "sha256:" + hashlib.sha256(data).hexdigest()


def actor(task_vars, controller_user):
    """Who ran it: the controller's user and, under AWX / Automation Controller, the job's metadata."""
    awx = {}
    for field in AWX_FIELDS:
        value = task_vars.get("awx_" + field, task_vars.get("tower_" + field))
        if value not in (None, ""):
            awx[field] = value if isinstance(value, (int, float)) else str(value)
    return {"controller_user": controller_user, "awx": awx or None}


def _ran(result):
    """A registered result of a task that ran (not skipped, not missing)."""
    return isinstance(result, dict) and not result.get("skipped")


def _object_changes(role, result):
    """The changed objects a cluster-object module returned (``changed_objects``)."""
    if not _ran(result):
        return []
    return [{"role": role, "target": entry.get("object"), "what": "%s %s" % (entry.get("action"), entry.get("object")),
             "action": entry.get("action"), "before": entry.get("before"), "after": entry.get("after")}
            for entry in result.get("changed_objects") or []]


def _rollout_changes(role, records):
    """The per-node records of a control-plane rollout (static pod manifest or RKE2/k3s drop-in)."""
    changes = []
    for record in records or []:
        lines = record.get("changes") or []
        if not lines:
            continue
        what = "; ".join(str(line) for line in lines)
        if record.get("round") is not None:
            what = "round %s: %s" % (record["round"], what)
        changes.append({"role": role, "target": "node %s" % record.get("node"), "what": what, "action": "updated",
                        "before": record.get("digest_before"), "after": record.get("digest_after"),
                        "restart_seconds": record.get("restart_seconds")})
    return changes


def _rewrite_changes(role, results):
    """Secrets rewrites through the API (one result or a list, one per key): counts and the digests over every
    Secret's content hash."""
    changes = []
    for result in results if isinstance(results, list) else [results]:
        if not _ran(result) or not (result.get("rewritten") or result.get("would_rewrite")):
            continue
        count = result.get("rewritten") or result.get("would_rewrite")
        changes.append({"role": role, "target": "Secrets (all namespaces)",
                        "what": "rewrite %d Secret(s) through the API" % count,
                        "action": "rewritten", "before": result.get("digest_before"),
                        "after": result.get("digest_after")})
    return changes


def _provider_changes(role, result):
    """The provider calls of the managed control plane: one per ``update`` step, with its outcome."""
    if not _ran(result):
        return []
    outcomes = {outcome.get("item"): outcome for outcome in result.get("outcomes") or []}
    changes = []
    for step in result.get("steps") or []:
        if step.get("action") != "update":
            continue
        outcome = outcomes.get(step.get("item")) or {}
        what = "%s (%s)" % (step.get("reason") or step.get("item"), step.get("call"))
        if outcome.get("status") and outcome["status"] != "succeeded":
            what += " - %s: %s" % (outcome["status"], outcome.get("error"))
        changes.append({"role": role, "target": step.get("item"), "what": what, "action": "updated",
                        "before": digest(step.get("before")), "after": digest(step.get("after"))})
    return changes


def role_changes(role, returns):
    """What one role changed (in check mode, would change), from what its tasks returned: ``returns`` maps
    ``objects`` (a cluster-object module's result), ``rollout`` (per-node records), ``rewrite`` (a Secrets rewrite)
    and ``provider`` (provider_config's result) to the values remediate.yml collected."""
    returns = returns or {}
    return (_rollout_changes(role, returns.get("rollout"))
            + _provider_changes(role, returns.get("provider"))
            + _object_changes(role, returns.get("objects"))
            + _rewrite_changes(role, returns.get("rewrite")))


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def change_record(cluster, returns, check_mode, started, finished, who, distribution=None, problems=None,
                  timing=None):
    """The change record of one cluster's remediation run (CHANGE RECORD above). ``returns``: {role: returns}
    (``role_changes``); ``started``/``finished``: epoch seconds."""
    unknown = sorted(set(returns or {}) - set(ROLES))
    if unknown:
        raise KubeCompassError("change record: unknown role(s) %s" % ", ".join(unknown), "input")
    changes = []
    for role in ROLES:
        changes.extend(role_changes(role, (returns or {}).get(role)))
    counts = {}
    for change in changes:
        counts[change["role"]] = counts.get(change["role"], 0) + 1
    return {"schema_version": SCHEMA_VERSION, "kind": "plan" if check_mode else "change", "cluster": cluster,
            "distribution": distribution, "check_mode": bool(check_mode), "started": _iso(started),
            "finished": _iso(finished), "seconds": round(max(finished - started, 0.0), 1), "timing": timing or {},
            "actor": who, "changed": bool(changes), "changes": changes, "counts": counts,
            "problems": list(problems or [])}


def record_basename(record):
    """``kubecompass-remediation-<cluster>-<started>-<plan|change>``, safe as a file name."""
    stamp = record["started"].replace("-", "").replace(":", "")
    return "kubecompass-remediation-%s-%s-%s" % (_FILE_SAFE.sub("_", record["cluster"]) or "cluster", stamp,
                                                 record["kind"])


def _short(value):
    return value.split(":", 1)[-1][:12] if value else "-"


def _cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(record, max_rows=MARKDOWN_MAX_ROWS):
    """The record as Markdown: what changed (or would change), in role order, capped at ``max_rows`` rows."""
    title = "Remediation plan" if record["kind"] == "plan" else "Remediation record"
    who = record["actor"] or {}
    awx = who.get("awx") or {}
    ran_by = who.get("controller_user") or "unknown user"
    if awx:
        launched = ", launched by %s" % awx["user_name"] if awx.get("user_name") else ""
        ran_by += " (AWX job %s%s)" % (awx.get("job_id", "?"), launched)
    lines = ["# %s: %s" % (title, record["cluster"]), "",
             "- Mode: %s" % ("check mode - nothing was changed; this is what a real run would change"
                             if record["check_mode"] else "changes applied"),
             "- Started %s, finished %s (%s s)" % (record["started"], record["finished"], record["seconds"]),
             "- Run by: %s" % ran_by,
             "- %s: %d" % ("Planned changes" if record["check_mode"] else "Changes", len(record["changes"])), ""]
    if record["changes"]:
        lines += ["| Role | Target | What | Before | After |", "| --- | --- | --- | --- | --- |"]
        for change in record["changes"][:max_rows]:
            lines.append("| %s | %s | %s | %s | %s |" % (
                change["role"], _cell(change["target"]), _cell(change["what"]), _short(change["before"]),
                _short(change["after"])))
        if len(record["changes"]) > max_rows:
            lines.append("")
            lines.append("%d more in the JSON record." % (len(record["changes"]) - max_rows))
    else:
        lines.append("Nothing %s." % ("would change" if record["check_mode"] else "changed"))
    if record["problems"]:
        lines += ["", "## Not fixed", ""] + ["- %s" % _cell(problem) for problem in record["problems"]]
    return "\n".join(lines) + "\n"


def stats_summary(record, paths, max_changes=STATS_MAX_CHANGES):
    """What goes to set_stats: the record without its full change list (AWX keeps artifacts in its database)."""
    return {"kind": record["kind"], "changed": record["changed"], "counts": record["counts"],
            "changes": ["%s: %s" % (c["role"], c["what"]) for c in record["changes"][:max_changes]],
            "more_changes": max(len(record["changes"]) - max_changes, 0), "problems": record["problems"],
            "started": record["started"], "seconds": record["seconds"], "actor": record["actor"], "paths": paths}


# --- publishing ---------------------------------------------------------------------------------------------------

def validate_publish(value):
    """kubecompass_report_publish checked and normalised: ``{"bucket", "prefix", "endpoint_url", "region",
    "allow_custom_endpoint"}``. Every problem is one line naming the variable (KubeCompassError, input).
    Credentials come from boto3's standard chain (environment, profile, instance role), never from here; an
    endpoint follows the provider endpoint rule: http only on a loopback address (test servers), https under
    amazonaws.com, any other https host only with allow_custom_endpoint: true (it receives the credentials)."""
    where = PUBLISH_VARIABLE
    if not isinstance(value, dict):
        raise KubeCompassError("%s must be a mapping with bucket (and optionally prefix, endpoint_url, region), "
                               "not %s" % (where, type(value).__name__), "input")
    unknown = sorted(str(key) for key in value if key not in PUBLISH_KEYS)
    if unknown:
        raise KubeCompassError("%s: unknown key(s) %s (expected %s)" % (where, ", ".join(unknown),
                                                                        ", ".join(PUBLISH_KEYS)), "input")
    bucket = value.get("bucket")
    if not isinstance(bucket, str) or not _BUCKET.match(bucket) or ".." in bucket:
        raise KubeCompassError("%s.bucket %r is not an S3 bucket name (3-63 lowercase letters, digits, dots and "
                               "hyphens)" % (where, bucket), "input")
    prefix = value.get("prefix")
    if prefix is None:
        prefix = "kubecompass"
    if not isinstance(prefix, str) or any(part in ("..", ".") for part in prefix.split("/")) or "\\" in prefix:
        raise KubeCompassError("%s.prefix %r must be a key prefix such as reports/kubecompass" % (where, prefix),
                               "input")
    region = value.get("region")
    if region is not None and (not isinstance(region, str) or not _REGION.match(region)):
        raise KubeCompassError("%s.region %r is not a region name such as eu-west-1" % (where, region), "input")
    allow_custom = value.get("allow_custom_endpoint", False)
    if not isinstance(allow_custom, bool):
        raise KubeCompassError("%s.allow_custom_endpoint must be true or false, not %r" % (where, allow_custom),
                               "input")
    endpoint = value.get("endpoint_url")
    if endpoint is not None:
        if not isinstance(endpoint, str) or not endpoint.strip():
            raise KubeCompassError("%s.endpoint_url must be a URL, not %r" % (where, endpoint), "input")
        endpoint = endpoint.strip()
        check_endpoints("s3", {"endpoint_url": endpoint, "allow_custom_endpoint": allow_custom}, where)
    return {"bucket": bucket, "prefix": prefix.strip("/"), "endpoint_url": endpoint, "region": region,
            "allow_custom_endpoint": allow_custom}


def object_key(prefix, run_started, cluster, filename):
    """``<prefix>/<YYYY-MM-DD>/<cluster>/<HHMMSSZ>/<file>``: by date, then cluster, then run. ``cluster`` is
    ``fleet`` for a report that covers every cluster of the run. ``run_started``: a UTC datetime."""
    parts = [prefix] if prefix else []
    parts += [run_started.strftime("%Y-%m-%d"), _KEY_SAFE.sub("_", cluster) or "cluster",
              run_started.strftime("%H%M%SZ"), os.path.basename(filename)]
    return "/".join(parts)


def parse_started(value):
    """A run's start (RFC 3339 / ISO 8601, ``Z`` or an offset, or epoch seconds) as an aware UTC datetime."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    text = str(value).strip()
    try:
        return datetime.datetime.fromtimestamp(float(text), datetime.timezone.utc)
    except ValueError:
        pass
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise KubeCompassError("started %r is not a time (RFC 3339, for example 2026-11-22T08:00:00Z)" % (value,),
                               "input") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


def scrub(message, secrets):
    """``message`` with every credential value in ``secrets`` replaced, for errors that might echo one."""
    text = str(message)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "********")
    return text


def publish_plan(config, files, run_started, cluster=None):
    """The uploads of one run: [{"path", "key", "url"}]. ``files``: paths, [path, cluster] pairs or {"path",
    "cluster"}; a file without a cluster belongs to ``cluster``, and without either to the whole run (keyed
    ``fleet``). A file that does not exist raises naming it."""
    started = parse_started(run_started)
    plan = []
    for entry in files:
        if isinstance(entry, str):
            entry = {"path": entry}
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            entry = {"path": entry[0], "cluster": entry[1]}
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not path:
            raise KubeCompassError("%s: files entry %r has no path" % (PUBLISH_VARIABLE, entry), "input")
        if not os.path.isfile(path):
            raise KubeCompassError("%s: %s is not a file (nothing to publish)" % (PUBLISH_VARIABLE, path), "input")
        key = object_key(config["prefix"], started, entry.get("cluster") or cluster or "fleet", path)
        plan.append({"path": path, "key": key, "url": "s3://%s/%s" % (config["bucket"], key)})
    return plan


def s3_client(config):
    """A boto3 S3 client for ``config`` (validate_publish): credentials from boto3's chain, except on a loopback
    test endpoint, which gets fixed fake ones. boto3 is imported only here: only a run that publishes needs it."""
    from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import eks, is_loopback_http

    try:
        boto3_session = importlib.import_module("boto3.session")
        botocore_config = importlib.import_module("botocore.config")
    except ImportError as exc:
        raise KubeCompassError("%s needs the Python package boto3 on the controller (pip install boto3; it is in "
                               "requirements-providers.txt and the execution environment): %s"
                               % (PUBLISH_VARIABLE, exc), "missing_sdk") from None
    options = {"config": botocore_config.Config(**dict(eks.CLIENT_CONFIG, s3={"addressing_style": "path"}
                                                       if config["endpoint_url"] else {}))}
    if config["endpoint_url"]:
        options["endpoint_url"] = config["endpoint_url"]
        if is_loopback_http(config["endpoint_url"]):
            options.update(eks.FAKE_CREDENTIALS)
    try:
        session = boto3_session.Session(region_name=config["region"])
        client = session.client("s3", **options)
        credentials = session.get_credentials()
    except Exception as exc:  # botocore's exception classes are only known at run time
        raise publish_error(config, "creating the S3 client", exc, ()) from None
    frozen = credentials.get_frozen_credentials() if credentials is not None else None
    secrets = [value for value in (getattr(frozen, "access_key", None), getattr(frozen, "secret_key", None),
                                   getattr(frozen, "token", None)) if value]
    return client, secrets


def publish_error(config, call, exc, secrets, key=None):
    """One line naming the bucket (and key) and the cause, with any credential value the cause might echo removed."""
    from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import eks

    category, message = eks.classify(call, exc)
    where = "bucket %s%s" % (config["bucket"], " key %s" % key if key else "")
    return KubeCompassError(scrub("%s: publishing to %s failed: %s" % (PUBLISH_VARIABLE, where, message), secrets),
                            category)


CONTENT_TYPES = {".json": "application/json", ".sarif": "application/sarif+json", ".md": "text/markdown",
                 ".xml": "application/xml"}


def upload(client, config, plan, secrets=()):
    """Upload each file of ``plan`` (publish_plan); stops at the first failure, naming the bucket, key and cause."""
    done = []
    for item in plan:
        content_type = CONTENT_TYPES.get(os.path.splitext(item["path"])[1], "application/octet-stream")
        try:
            with open(item["path"], "rb") as body:
                client.put_object(Bucket=config["bucket"], Key=item["key"], Body=body, ContentType=content_type)
        except OSError as exc:
            raise KubeCompassError("%s: cannot read %s: %s" % (PUBLISH_VARIABLE, item["path"], exc.strerror or exc),
                                   "io") from None
        except Exception as exc:  # botocore exceptions, classified by name
            raise publish_error(config, "s3:PutObject", exc, secrets, item["key"]) from None
        done.append(item)
    return done
