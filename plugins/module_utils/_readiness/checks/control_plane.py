# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Control-plane configuration: audit logging, encryption at rest, API server hardening, etcd TLS, audit retention.

Flags are judged from every control-plane node: the running process's flags from node facts when the nodes were
reached, else the mirror pods in kube-system (kubeadm, RKE2). Anything only a node can show (policy content,
the audit log, raw etcd values) needs node facts; without them the verdict is unknown, never pass. Managed
control planes are judged from the provider's API.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance import CIS, HIPAA, NIST
from ansible_collections.kubecompass.readiness.plugins.module_utils._cluster_facts import control_plane_components
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.encryption import STRONG_PROVIDERS, secrets_entry
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.checks import managed
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance import (
    FRAMEWORK_AUDIT_RETENTION_DAYS,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import parse_time
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import MANAGED, SELF_MANAGED
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import (
    Check,
    Result,
    Unreadable,
    from_objects,
    obj,
)

AUDIT_ROLE = {"role": "audit_logging", "tag": "audit"}
ENCRYPTION_ROLE = {"role": "encryption_at_rest", "tag": "encryption"}
HARDENING_ROLE = {"role": "apiserver_hardening", "tag": "hardening"}

AUDIT_ROTATION_MINIMUMS = (("audit-log-maxage", 30), ("audit-log-maxbackup", 10), ("audit-log-maxsize", 100))
TLS_VERSIONS = ("VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13")


# -- where flags come from --------------------------------------------------------------------------------------------


def _node_facts_or_none(ctx):
    try:
        return ctx.node_facts()
    except Unreadable:
        return None


# Node facts section of each component whose running process and configured flags are read.
FLAG_SECTIONS = {"kube-apiserver": "apiserver", "kube-controller-manager": "controller_manager",
                 "kube-scheduler": "scheduler"}


def flag_sets(ctx, component="kube-apiserver"):
    """[(node, flags, source)] for every control-plane node; raises Unreadable when no source exists.

    From node facts the running process's flags win over the configured ones (manifest, RKE2/k3s config); both
    were parsed as the component parses them (last occurrence of a scalar flag wins, list flags accumulate)."""
    facts = _node_facts_or_none(ctx)
    if facts:
        result = []
        for host in sorted(facts):
            node = facts[host] or {}
            if component in FLAG_SECTIONS:
                section = node.get(FLAG_SECTIONS[component]) or {}
                flags = section.get("running_flags") or section.get("flags")
                source = ("running process" if section.get("running_flags")
                          else section.get("source") or "config")
                missing = section.get("missing")
            else:
                flags = node.get("etcd_flags")
                source = "etcd configuration"
                missing = None
            # No component runs without flags: empty ones were never read (an unparsable manifest), and judging
            # them would pass every "flag not set" item.
            if flags is None or (component in FLAG_SECTIONS and not flags):
                raise Unreadable("%s flags on %s" % (component, host), "; ".join(filter(None, (
                    "no running %s process" % component if missing else "", missing, _node_errors(node))))
                    or "not found on the node")
            result.append((host, flags, source))
        return result
    components = [c for c in control_plane_components(ctx.items("pods")) if c["component"] == component]
    if components:
        return [(c["node"], c["flags"], "mirror pod %s" % c["pod"]) for c in components]
    raise Unreadable("%s flags" % component, "no mirror pods in kube-system and no control-plane node facts "
                     "(set kubecompass_control_plane_group so the nodes are read over SSH)")


def _node_errors(node):
    return "; ".join("%s: %s" % (e.get("what"), e.get("cause")) for e in node.get("errors") or [])


def _node_section(ctx, section):
    """[(host, section dict or None, node dict)] from node facts; Unreadable without them."""
    facts = ctx.node_facts()
    if not facts:
        raise Unreadable("control-plane node facts", "the control-plane group has no hosts")
    return [(host, (facts[host] or {}).get(section), facts[host] or {}) for host in sorted(facts)]


def _per_node(ctx, component, judge, pass_message, fail_message, evidence_keys=()):
    """Roll a per-node flag judgement (flags -> (verdict, reason)) into a Result."""
    objects = []
    evidence = {}
    for node, flags, source in flag_sets(ctx, component):
        verdict, reason = judge(flags)
        objects.append(obj("Node", None, node, verdict, "%s (%s)" % (reason, source)))
        for key in evidence_keys:
            evidence.setdefault(key, {})[node] = flags.get(key)
    return from_objects(objects, pass_message, fail_message, evidence)


# -- audit logging ------------------------------------------------------------------------------------------------


def audit_configured(ctx):
    if ctx.distribution in MANAGED:
        return managed.audit_logging(ctx)

    def judge(flags):
        if flags.get("audit-webhook-config-file") and not flags.get("audit-policy-file"):
            return "fail", "audit webhook configured without --audit-policy-file (no events are produced)"
        missing = [f for f in ("audit-policy-file", "audit-log-path") if not flags.get(f)]
        if missing and not flags.get("audit-webhook-config-file"):
            return "fail", "--%s not set" % " and --".join(missing)
        log = flags.get("audit-log-path") or "webhook"
        return "pass", "policy %s, log %s" % (flags.get("audit-policy-file"), log)

    flag_result = _per_node(ctx, "kube-apiserver", judge, "audit flags set on every control-plane node",
                            "audit logging not configured on %d control-plane node(s)",
                            ("audit-policy-file", "audit-log-path"))
    if flag_result.verdict == "fail":
        return flag_result
    objects = []
    logs_bodies_of_secrets = []
    for host, policy, node in _node_section(ctx, "audit_policy"):
        if policy is None:
            objects.append(obj("Node", None, host, "unknown", _node_errors(node) or "audit policy not read"))
        elif not policy.get("exists"):
            objects.append(obj("Node", None, host, "fail", "policy file %s does not exist" % policy.get("path")))
        elif not policy.get("valid"):
            objects.append(obj("Node", None, host, "fail", "policy %s is invalid: %s"
                               % (policy.get("path"), policy.get("error"))))
        elif set(policy.get("levels") or []) <= {"None"}:
            objects.append(obj("Node", None, host, "fail", "every rule of %s is level None" % policy["path"]))
        else:
            objects.append(obj("Node", None, host, "pass", "%d rule(s), levels %s, secrets at %s" % (
                policy.get("rule_count", 0), ", ".join(policy.get("levels") or []), policy.get("secrets_level"))))
            if policy.get("secrets_level") in ("Request", "RequestResponse"):
                logs_bodies_of_secrets.append(host)
    result = from_objects(objects, "audit logging configured with a policy that records events on every node",
                          "audit policy missing or records nothing on %d node(s)", flag_result.evidence)
    if logs_bodies_of_secrets:
        # Not a failure of this check, but the log then holds Secret values: worth a look.
        result.evidence["secret_bodies_logged_on"] = logs_bodies_of_secrets
    return result


def audit_rotation(ctx):
    def judge(flags):
        if not flags.get("audit-log-path"):
            return "fail", "--audit-log-path not set"
        if flags.get("audit-log-path") == "-":
            return "fail", "audit log goes to stdout: retention depends on the log pipeline, not the flags"
        short = []
        for flag, minimum in AUDIT_ROTATION_MINIMUMS:
            try:
                value = int(flags.get(flag, 0))
            except ValueError:
                value = 0
            if value < minimum:
                short.append("--%s=%s (< %d)" % (flag, flags.get(flag, "unset"), minimum))
        if short:
            return "fail", ", ".join(short)
        return "pass", ", ".join("--%s=%s" % (f, flags.get(f)) for f, _min in AUDIT_ROTATION_MINIMUMS)

    return _per_node(ctx, "kube-apiserver", judge, "audit log rotation meets CIS 1.2.17-1.2.19 on every node",
                     "audit log rotation below CIS minimums on %d node(s)",
                     tuple(f for f, _min in AUDIT_ROTATION_MINIMUMS))


def audit_events_written(ctx):
    max_silence = float(ctx.settings.get("audit_log_max_silence_minutes", 60))
    objects = []
    for host, log, node in _node_section(ctx, "audit_log"):
        apiserver = node.get("apiserver") or {}
        flags = apiserver.get("running_flags") or apiserver.get("flags") or {}
        if not flags.get("audit-log-path"):
            objects.append(obj("Node", None, host, "fail", "no --audit-log-path: nothing is written"))
            continue
        if log is None:
            objects.append(obj("Node", None, host, "unknown", _node_errors(node) or "audit log not read"))
            continue
        if not log.get("exists"):
            objects.append(obj("Node", None, host, "fail", "audit log %s does not exist" % log.get("path")))
            continue
        last = parse_time(log.get("last_event_time"))
        if last is None:
            objects.append(obj("Node", None, host, "fail", "no event in %s" % log.get("path")))
            continue
        age = (ctx.now - last).total_seconds() / 60.0
        verdict = "pass" if age <= max_silence else "fail"
        objects.append(obj("Node", None, host, verdict, "last event %s (%.0f min ago) in %s"
                           % (log.get("last_event_time"), age, log.get("path"))))
    return from_objects(objects, "audit events are being written on every control-plane node",
                        "no recent audit event on %d node(s)", {"max_silence_minutes": max_silence})


# -- encryption at rest ---------------------------------------------------------------------------------------


def _secrets_providers(config):
    entry = secrets_entry(config.get("resources") or [])
    return None if entry is None else entry.get("providers") or []


def encryption_configured(ctx):
    if ctx.distribution in MANAGED:
        return managed.secrets_encryption(ctx)

    def judge(flags):
        if not flags.get("encryption-provider-config"):
            return "fail", "--encryption-provider-config not set"
        return "pass", "--encryption-provider-config=%s" % flags["encryption-provider-config"]

    flag_result = _per_node(ctx, "kube-apiserver", judge, "encryption provider configured on every node",
                            "Secrets are not encrypted at rest on %d node(s)", ("encryption-provider-config",))
    if flag_result.verdict == "fail":
        return flag_result
    objects = []
    first_providers = {}
    for host, config, node in _node_section(ctx, "encryption_config"):
        if config is None:
            objects.append(obj("Node", None, host, "unknown", _node_errors(node) or "encryption config not read"))
            continue
        if not config.get("exists") or not config.get("valid"):
            objects.append(obj("Node", None, host, "fail", "encryption config %s %s" % (
                config.get("path"), "is invalid: %s" % config.get("error") if config.get("exists") else "is missing")))
            continue
        providers = _secrets_providers(config)
        if not providers:
            objects.append(obj("Node", None, host, "fail", "no provider list covers secrets"))
            continue
        first = providers[0].get("type")
        first_providers[host] = (first, tuple(providers[0].get("key_names") or ()))
        if first == "identity":
            reason, verdict = "first provider for secrets is identity (new writes are plaintext)", "fail"
        elif first == "aesgcm":
            reason, verdict = "first provider is aesgcm, which needs key rotation every 200k writes", "fail"
        elif first in STRONG_PROVIDERS:
            kms = providers[0].get("kms_api_version")
            reason, verdict = "first provider %s%s, keys %s" % (first, " %s" % kms if kms else "", ", ".join(
                providers[0].get("key_names") or [])), "pass"
        else:
            reason, verdict = "first provider %s is not one of %s" % (first, ", ".join(STRONG_PROVIDERS)), "fail"
        objects.append(obj("Node", None, host, verdict, reason))
    result = from_objects(objects, "Secrets encrypted with a strong first provider on every node",
                          "weak or missing encryption provider on %d node(s)", flag_result.evidence)
    if result.verdict == "pass" and len(set(first_providers.values())) > 1:
        # An HA control plane whose nodes write with different keys cannot read its own Secrets everywhere.
        result = Result("fail", "control-plane nodes disagree on the first encryption provider or key: %s" % (
            ", ".join("%s=%s/%s" % (h, p[0], ",".join(p[1])) for h, p in sorted(first_providers.items()))),
            result.evidence, objects)
    return result


def secrets_ciphertext(ctx):
    objects = []
    evidence = {}
    for host, sample, node in _node_section(ctx, "etcd_sample"):
        if sample is None or sample.get("error"):
            objects.append(obj("Node", None, host, "unknown", (sample or {}).get("error") or _node_errors(node)
                               or "etcd not sampled"))
            continue
        prefixes = sample.get("prefixes") or []
        plaintext = [p["key"] for p in prefixes if not str(p.get("encoding", "")).startswith("k8s:enc:")]
        encodings = sorted({p.get("encoding") for p in prefixes})
        evidence[host] = {"total_keys": sample.get("total_keys"), "sampled": len(prefixes), "encodings": encodings}
        if not prefixes:
            objects.append(obj("Node", None, host, "unknown", "etcd holds no Secret to sample"))
        elif plaintext:
            objects.append(obj("Node", None, host, "fail", "%d of %d sampled Secrets stored without encryption, "
                               "e.g. %s" % (len(plaintext), len(prefixes), plaintext[0])))
        else:
            objects.append(obj("Node", None, host, "pass", "%d sampled Secrets all carry %s"
                               % (len(prefixes), ", ".join(encodings))))
        if objects and objects[-1]["verdict"] == "pass":
            break  # every member holds the same keys: one clean sample is evidence enough
    return from_objects(objects, "sampled Secrets in etcd are ciphertext (k8s:enc: prefix)",
                        "plaintext Secrets found in etcd (%d node sample(s))", evidence)


# -- API server hardening -----------------------------------------------------------------------------------------


def _flag_equals(flag, wanted, default_note):
    def judge(flags):
        value = flags.get(flag)
        if value is None:
            return "fail", "--%s not set (%s)" % (flag, default_note)
        if value.lower() == wanted:
            return "pass", "--%s=%s" % (flag, value)
        return "fail", "--%s=%s" % (flag, value)
    return judge


# Paths anonymous requests may reach when an AuthenticationConfiguration restricts them (what kubeadm's probes use).
HEALTH_PATHS = ("/healthz", "/livez", "/readyz")


def _anonymous_from_config(config):
    """(verdict, reason) from node facts' authentication_config summary."""
    if config is None:
        return "unknown", "the authentication configuration was not read"
    if not config.get("exists") or not config.get("valid"):
        return "fail", "authentication configuration %s %s" % (
            config.get("path"), "is missing" if not config.get("exists") else "is invalid: %s" % config.get("error"))
    anonymous = config.get("anonymous") or {}
    if not anonymous.get("configured"):
        return "fail", "%s has no anonymous section: anonymous requests are allowed" % config["path"]
    if not anonymous.get("enabled"):
        return "pass", "anonymous disabled in %s" % config["path"]
    paths = anonymous.get("paths")
    if paths and set(paths) <= set(HEALTH_PATHS):
        return "pass", "anonymous restricted to %s by %s" % (", ".join(paths), config["path"])
    return "fail", "anonymous allowed on %s by %s" % (", ".join(paths) if paths else "every path", config["path"])


def anonymous_auth(ctx):
    facts = _node_facts_or_none(ctx) or {}

    def judge_node(node):
        def judge(flags):
            if "anonymous-auth" not in flags and flags.get("authentication-config"):
                if node not in facts:
                    return "unknown", ("--authentication-config %s decides anonymous access; it is read only from "
                                       "node facts" % flags["authentication-config"])
                return _anonymous_from_config(facts[node].get("authentication_config"))
            return _flag_equals("anonymous-auth", "false", "defaults to true")(flags)
        return judge

    objects = []
    evidence = {}
    for node, flags, source in flag_sets(ctx, "kube-apiserver"):
        verdict, reason = judge_node(node)(flags)
        objects.append(obj("Node", None, node, verdict, "%s (%s)" % (reason, source)))
        evidence.setdefault("anonymous-auth", {})[node] = flags.get("anonymous-auth")
    return from_objects(objects, "anonymous access disabled or restricted to health checks on every node",
                        "anonymous authentication enabled on %d node(s)", evidence)


def authorization_mode(ctx):
    def judge(flags):
        if flags.get("authorization-config") and not flags.get("authorization-mode"):
            return "unknown", "--authorization-config %s is not read" % flags["authorization-config"]
        modes = [m.strip() for m in (flags.get("authorization-mode") or "AlwaysAllow").split(",")]
        if "AlwaysAllow" in modes:
            return "fail", "authorization mode %s includes AlwaysAllow" % ",".join(modes)
        missing = [m for m in ("Node", "RBAC") if m not in modes]
        if missing:
            return "fail", "authorization mode %s lacks %s" % (",".join(modes), " and ".join(missing))
        return "pass", "--authorization-mode=%s" % ",".join(modes)

    return _per_node(ctx, "kube-apiserver", judge, "authorization mode includes Node and RBAC on every node",
                     "authorization mode wrong on %d node(s)", ("authorization-mode",))


def profiling(ctx):
    return _per_node(ctx, "kube-apiserver", _flag_equals("profiling", "false", "defaults to true"),
                     "profiling disabled on every node", "profiling enabled on %d node(s)", ("profiling",))


def node_restriction(ctx):
    def judge(flags):
        plugins = [p.strip() for p in (flags.get("enable-admission-plugins") or "").split(",") if p.strip()]
        disabled = [p.strip() for p in (flags.get("disable-admission-plugins") or "").split(",")]
        if "NodeRestriction" in plugins and "NodeRestriction" not in disabled:
            return "pass", "NodeRestriction enabled"
        return "fail", "NodeRestriction not in --enable-admission-plugins (%s)" % (",".join(plugins) or "unset")

    return _per_node(ctx, "kube-apiserver", judge, "NodeRestriction admission enabled on every node",
                     "NodeRestriction missing on %d node(s)", ("enable-admission-plugins",))


def tls_min_version(ctx):
    def judge(flags):
        value = flags.get("tls-min-version")
        if value is None:
            return "fail", "--tls-min-version not set (the minimum is left to the Go runtime)"
        if value not in TLS_VERSIONS:
            return "fail", "--tls-min-version=%s is not a TLS version" % value
        if TLS_VERSIONS.index(value) < TLS_VERSIONS.index("VersionTLS12"):
            return "fail", "--tls-min-version=%s allows TLS below 1.2" % value
        suites = flags.get("tls-cipher-suites")
        return "pass", "--tls-min-version=%s%s" % (value, ", cipher suites set" if suites else "")

    return _per_node(ctx, "kube-apiserver", judge, "API servers accept TLS 1.2 or newer only",
                     "TLS minimum version not enforced on %d node(s)", ("tls-min-version",))


def oidc_sso(ctx):
    if ctx.distribution in MANAGED:
        return managed.people_auth(ctx)

    def judge(flags):
        if flags.get("oidc-issuer-url"):
            return "pass", "--oidc-issuer-url=%s" % flags["oidc-issuer-url"]
        if flags.get("authentication-config"):
            return "pass", "structured authentication config %s" % flags["authentication-config"]
        return "fail", "neither --oidc-issuer-url nor --authentication-config is set"

    return _per_node(ctx, "kube-apiserver", judge, "OIDC/SSO authentication configured for people",
                     "no OIDC/SSO authenticator on %d node(s)", ("oidc-issuer-url", "authentication-config"))


# -- etcd TLS ---------------------------------------------------------------------------------------------------


def etcd_tls(ctx):
    objects = []
    for node, flags, source in flag_sets(ctx, "kube-apiserver"):
        servers = [s.strip() for s in (flags.get("etcd-servers") or "").split(",") if s.strip()]
        problems = [s for s in servers if not s.startswith("https://")]
        missing = [f for f in ("etcd-cafile", "etcd-certfile", "etcd-keyfile") if not flags.get(f)]
        if problems or missing or not servers:
            reason = "; ".join(filter(None, [
                "plain-text etcd URL(s) %s" % ", ".join(problems) if problems else "",
                "--%s not set" % ", --".join(missing) if missing else "",
                "--etcd-servers not set" if not servers else ""]))
            objects.append(obj("Node", None, node, "fail", "kube-apiserver: %s (%s)" % (reason, source)))
        else:
            objects.append(obj("Node", None, node, "pass", "kube-apiserver talks TLS with a client cert to etcd (%s)"
                               % source))
    try:
        etcd_sets = flag_sets(ctx, "etcd")
    except Unreadable as exc:
        if ctx.distribution == "k3s":
            etcd_sets = []  # k3s with kine/sqlite has no etcd; embedded etcd flags are k3s-managed
        else:
            raise exc
    for node, flags, source in etcd_sets:
        wrong = [f for f, want in (("client-cert-auth", "true"), ("peer-client-cert-auth", "true"))
                 if str(flags.get(f, "false")).lower() != want]
        wrong += [f for f in ("cert-file", "key-file", "trusted-ca-file") if not flags.get(f)]
        if str(flags.get("auto-tls", "false")).lower() == "true" or str(
                flags.get("peer-auto-tls", "false")).lower() == "true":
            wrong.append("auto-tls (self-signed)")
        if wrong:
            objects.append(obj("Node", None, node, "fail", "etcd: %s (%s)" % (", ".join(wrong), source)))
        else:
            objects.append(obj("Node", None, node, "pass", "etcd requires client and peer certificates (%s)" % source))
    return from_objects(objects, "API server to etcd and etcd peer traffic use TLS with client certificates",
                        "etcd TLS incomplete (%d finding(s))")


# -- compliance: audit retention against declared frameworks -----------------------------------------------------


def audit_retention_frameworks(ctx):
    frameworks = ctx.settings.get("frameworks") or ["cis_kubernetes"]
    unknown = [f for f in frameworks if f not in FRAMEWORK_AUDIT_RETENTION_DAYS]
    if unknown:
        return Result("unknown", "no audit retention requirement known for framework(s) %s" % ", ".join(unknown))
    required = max(FRAMEWORK_AUDIT_RETENTION_DAYS[f] for f in frameworks)
    driver = [f for f in frameworks if FRAMEWORK_AUDIT_RETENTION_DAYS[f] == required]
    declared = ctx.settings.get("audit_offcluster_retention_days")
    if ctx.distribution in MANAGED:
        return managed.audit_retention(ctx, required, driver, declared)
    evidence = {"frameworks": frameworks, "required_days": required, "offcluster_retention_days": declared}
    objects = []
    for node, flags, source in flag_sets(ctx, "kube-apiserver"):
        try:
            on_node = int(flags.get("audit-log-maxage", 0))
        except ValueError:
            on_node = 0
        verdict, reason = _retention_verdict(on_node, required, declared, driver)
        objects.append(obj("Node", None, node, verdict, "%s (%s)" % (reason, source)))
    return from_objects(objects, "audit log retention satisfies %s" % ", ".join(frameworks),
                        "audit log retention short of the declared frameworks on %d node(s)", evidence)


def _retention_verdict(on_node, required, declared, driver):
    if on_node >= required:
        return "pass", "--audit-log-maxage=%d >= %d days" % (on_node, required)
    if declared is not None and int(declared) >= required:
        return "pass", ("on-node %d days; off-cluster retention of %s days declared by the inventory (not verified "
                        "by the collection)" % (on_node, declared))
    return "fail", ("%d days on the node do not satisfy %d days required by %s; missing evidence: off-cluster "
                    "retention of the audit log (declare kubecompass_audit_offcluster_retention_days once your "
                    "log store keeps it)" % (on_node, required, ", ".join(driver)))


CHECKS = [
    Check("KC-SEC-001", "API server audit logging configured with a policy", "security", "critical",
          item="audit-logging", evaluate=audit_configured, needs=("pods", "node_facts"),
          remediation=AUDIT_ROLE,
          runbook="Without an audit policy and log path the API server records nothing, so no access to "
                  "Secrets or RBAC change can be traced. Set --audit-policy-file and --audit-log-path with a policy "
                  "that logs Secrets at Metadata and security-relevant writes at RequestResponse (the audit_logging "
                  "role does this one node at a time)."),
    Check("KC-SEC-002", "Audit log rotation meets CIS (maxage 30, maxbackup 10, maxsize 100)", "security", "medium",
          item="audit-log-retention", distributions=SELF_MANAGED, evaluate=audit_rotation, needs=("pods", "node_facts"), remediation=AUDIT_ROLE,
          runbook="Short rotation settings delete audit history before anyone reads it. Set --audit-log-maxage>=30, "
                  "--audit-log-maxbackup>=10 and --audit-log-maxsize>=100 (CIS 1.2.17-1.2.19)."),
    Check("KC-SEC-003", "Audit events are actually being written", "security", "high",
          controls={CIS: ("1.2.16",), NIST: ("AU-12",)},
          item="audit-logging", distributions=SELF_MANAGED, evaluate=audit_events_written, needs=("node_facts",), remediation=AUDIT_ROLE,
          runbook="A configured audit log that stays empty is as good as none: check that the log path is mounted "
                  "into the API server container and writable, and that the policy does not drop everything."),
    Check("KC-SEC-004", "Secrets encrypted at rest with a strong provider", "security", "critical",
          item="secrets-encryption-at-rest", evaluate=encryption_configured, needs=("pods", "node_facts"),
          controls={NIST: ("SC-28", "SC-28(1)", "SC-12")},
          remediation=ENCRYPTION_ROLE,
          runbook="Without --encryption-provider-config, or with identity first, Secrets are stored in etcd as "
                  "plaintext. Configure aescbc, secretbox or KMS v2 first (aesgcm needs rotation every 200k "
                  "writes), identical on every node, then rewrite all Secrets."),
    Check("KC-SEC-005", "Secrets in etcd are ciphertext", "security", "critical",
          item="secrets-encryption-at-rest", distributions=SELF_MANAGED, evaluate=secrets_ciphertext, needs=("node_facts",),
          controls={NIST: ("SC-28", "SC-28(1)")},
          remediation=ENCRYPTION_ROLE,
          runbook="Encryption applies to writes: Secrets written before it was enabled stay plaintext until "
                  "rewritten. Rewrite every Secret (kubectl get secrets -A -o json | kubectl replace -f -) and "
                  "sample etcd again."),
    Check("KC-SEC-006", "Anonymous authentication disabled on the API server", "security", "high",
          controls={CIS: ("1.2.1",)},
          item="anonymous-auth-disabled", distributions=SELF_MANAGED, evaluate=anonymous_auth, needs=("pods", "node_facts"),
          remediation=HARDENING_ROLE,
          runbook="With anonymous auth on, unauthenticated requests reach authorization as system:anonymous. Set "
                  "--anonymous-auth=false and give kubeadm's probes an authenticated path (the apiserver_hardening "
                  "role handles the probes)."),
    Check("KC-SEC-007", "Authorization mode includes Node and RBAC, never AlwaysAllow", "security", "critical",
          controls={CIS: ("1.2.6", "1.2.7", "1.2.8"), NIST: ("AC-3",), HIPAA: ("164.312(a)(1)",)},
          item="rbac-least-privilege", distributions=SELF_MANAGED, evaluate=authorization_mode, needs=("pods", "node_facts"),
          remediation=HARDENING_ROLE,
          runbook="AlwaysAllow lets every authenticated request do anything; without Node, kubelets are not "
                  "confined to their own objects. Set --authorization-mode=Node,RBAC."),
    Check("KC-SEC-008", "API server profiling disabled", "security", "low",
          item="apiserver-profiling-disabled", distributions=SELF_MANAGED, evaluate=profiling, needs=("pods", "node_facts"), remediation=HARDENING_ROLE,
          runbook="Profiling endpoints expose internals and cost CPU. Set --profiling=false (CIS 1.2.15). The "
                  "collection judges the value the API server uses: with --profiling repeated the last occurrence "
                  "wins, while kube-bench reads the first, so remove the duplicates."),
    Check("KC-SEC-009", "NodeRestriction admission plugin enabled", "security", "high",
          controls={CIS: ("1.2.14",), NIST: ("AC-3", "AC-6"), HIPAA: ("164.312(a)(1)",)},
          item="rbac-least-privilege", distributions=SELF_MANAGED, evaluate=node_restriction, needs=("pods", "node_facts"),
          remediation=HARDENING_ROLE,
          runbook="Without NodeRestriction a compromised kubelet can modify other nodes and their pods. Add "
                  "NodeRestriction to --enable-admission-plugins (CIS 1.2.14)."),
    Check("KC-SEC-010", "API server TLS minimum version 1.2 or newer", "security", "medium",
          controls={CIS: (), NIST: ("SC-8", "SC-8(1)", "SC-13")},
          item="tls-apiserver-etcd", distributions=SELF_MANAGED, evaluate=tls_min_version, needs=("pods", "node_facts"),
          remediation=HARDENING_ROLE,
          runbook="Set --tls-min-version=VersionTLS12 (or 13) and a strong --tls-cipher-suites list so clients "
                  "cannot negotiate legacy TLS."),
    Check("KC-SEC-015", "OIDC/SSO authentication for people", "security", "medium",
          controls={CIS: ("3.1.1", "3.1.2", "3.1.3")},
          item="oidc-sso", evaluate=oidc_sso, needs=("pods", "node_facts"), required_for=("critical", "important"),
          runbook="Client certificates and static tokens for people cannot be revoked individually. Configure an "
                  "OIDC issuer (--oidc-issuer-url or a structured --authentication-config) and give people "
                  "short-lived tokens from your identity provider."),
    Check("KC-SEC-024", "TLS with client certificates between API server and etcd, and between etcd peers",
          "security", "critical", item="tls-apiserver-etcd", evaluate=etcd_tls, needs=("pods", "node_facts"),
          controls={CIS: ("1.2.23", "1.2.26", "2.1", "2.2", "2.3", "2.5", "2.6"), NIST: ("SC-8", "SC-8(1)", "SC-23")},
          distributions=SELF_MANAGED,
          runbook="etcd holds every Secret; plain-text or unauthenticated access to it bypasses all Kubernetes "
                  "authorization. Use https etcd URLs with --etcd-certfile/--etcd-keyfile/--etcd-cafile, and "
                  "--client-cert-auth/--peer-client-cert-auth=true on etcd (CIS 2.1-2.7)."),
    Check("KC-CMP-001", "Audit log retention satisfies the declared frameworks", "compliance", "high",
          item="audit-log-retention", evaluate=audit_retention_frameworks, needs=("pods", "node_facts"),
          controls={NIST: ("AU-11", "AU-4")},
          thresholds=(), remediation=AUDIT_ROLE,
          runbook="Frameworks differ: CIS asks 30 days, PCI DSS 10.5.1 and NIST AU-11 a year. On-node rotation "
                  "rarely keeps a year: ship the audit log to a store that does, verify its retention, and declare "
                  "it with kubecompass_audit_offcluster_retention_days."),
]
