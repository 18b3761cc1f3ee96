# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Attestations: evidence, as inventory data, for the readiness items no program can observe (an incident response
plan, an on-call rotation, a failover test). Validated strictly like waivers; an attestation counts until its review
interval runs out, and a missing or expired one fails: there is no implicit pass."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.context import parse_date
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import Result

VARIABLE = "kubecompass_attestations"
REQUIRED = ("item", "evidence", "owner", "attested")
OPTIONAL = ("review_interval", "cluster")

# Review intervals an attestation may name instead of a number of days.
NAMED_INTERVALS = {"monthly": 31, "quarterly": 92, "twice_a_year": 183, "yearly": 366}
MAX_INTERVAL_DAYS = 3660

# item -> (default review interval in days, what is attested, what the evidence is). Failover tests twice a year is
# the readiness definition's (issue 18); the other defaults are the collection's choice, overridable per attestation.
ITEMS = {
    "compliance-frameworks": (366, "the compliance frameworks this cluster is held to (kubecompass_settings.frameworks)",
                              "the scoping document or audit plan that names them"),
    "incident-response-plan": (366, "an incident response plan", "the plan's document"),
    "on-call-escalation": (92, "an on-call rotation and escalation policy", "the paging schedule or policy"),
    "incident-runbooks": (366, "runbooks for the common incidents", "the runbook index"),
    "dr-runbooks": (366, "disaster recovery runbooks", "the DR runbook"),
    "failover-test": (183, "failover capability and its last test", "the failover test record"),
    "access-review": (92, "an access review of who can reach the cluster", "the review's ticket or record"),
}


def _interval_days(value, where):
    if isinstance(value, str) and value in NAMED_INTERVALS:
        return NAMED_INTERVALS[value]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INTERVAL_DAYS:
        raise KubeCompassError("%s: review_interval %r must be a number of days from 1 to %d or one of %s"
                               % (where, value, MAX_INTERVAL_DAYS, ", ".join(NAMED_INTERVALS)), "input")
    return value


def validate(attestations, today):
    """Return normalised attestations; raise on the first malformed one, naming it and the problem."""
    if attestations is None:
        return []
    if not isinstance(attestations, list):
        raise KubeCompassError("%s must be a list of attestations, not %r" % (VARIABLE, attestations), "input")
    normalised = []
    for index, attestation in enumerate(attestations):
        where = "%s[%d]" % (VARIABLE, index)
        if not isinstance(attestation, dict):
            raise KubeCompassError("%s must be a mapping, not %r" % (where, attestation), "input")
        unknown = sorted(str(key) for key in set(attestation) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            raise KubeCompassError("%s: unknown key(s) %s" % (where, ", ".join(unknown)), "input")
        missing = [key for key in REQUIRED if attestation.get(key) in (None, "")]
        if missing:
            raise KubeCompassError("%s: missing %s" % (where, ", ".join(missing)), "input")
        item = attestation["item"]
        if item not in ITEMS:
            raise KubeCompassError("%s: unknown item %r (expected one of %s)" % (where, item, ", ".join(ITEMS)),
                                   "input")
        attested = parse_date(attestation["attested"], where, "attested")
        if attested > today:
            raise KubeCompassError("%s: attested %s is in the future" % (where, attested.isoformat()), "input")
        interval = attestation.get("review_interval")
        normalised.append({
            "item": item, "evidence": str(attestation["evidence"]), "owner": str(attestation["owner"]),
            "attested": attested, "cluster": attestation.get("cluster"), "index": index,
            "review_interval_days": ITEMS[item][0] if interval is None else _interval_days(interval, where),
        })
    return normalised


def for_cluster(attestations, cluster):
    return [a for a in attestations if a.get("cluster") in (None, "", "*", cluster)]


def describe(attestation):
    return {"item": attestation["item"], "evidence": attestation["evidence"], "owner": attestation["owner"],
            "attested": attestation["attested"].isoformat(),
            "review_interval_days": attestation["review_interval_days"],
            "review_due": due(attestation).isoformat()}


def due(attestation):
    return attestation["attested"] + datetime.timedelta(days=attestation["review_interval_days"])


def how_to_attest(item, today):
    """An inventory snippet for the item, so the message says exactly what to add."""
    days, _what, evidence = ITEMS[item]
    return ("add to %s: {item: %s, evidence: <%s: URL, document or ticket>, owner: <team>, attested: %s, "
            "review_interval: %d}" % (VARIABLE, item, evidence, today.isoformat(), days))


def judge(attestations, item, today):
    """A Result for one item from the newest of its attestations: pass while it is under review, else fail."""
    _days, what, _evidence = ITEMS[item]
    mine = sorted((a for a in attestations or [] if a["item"] == item), key=lambda a: a["attested"])
    if not mine:
        return Result("fail", "no attestation of %s; %s" % (what, how_to_attest(item, today)),
                      {"attestation": None})
    newest = mine[-1]
    evidence = {"attestation": describe(newest)}
    if due(newest) < today:
        return Result("fail", "the attestation of %s by %s on %s (%s) expired on %s (review every %d days); review "
                      "it and set attested to the review's date (%s[%d])"
                      % (what, newest["owner"], newest["attested"].isoformat(), newest["evidence"],
                         due(newest).isoformat(), newest["review_interval_days"], VARIABLE, newest["index"]),
                      evidence)
    return Result("pass", "%s attested by %s on %s (%s), next review by %s"
                  % (what, newest["owner"], newest["attested"].isoformat(), newest["evidence"],
                     due(newest).isoformat()), evidence)
