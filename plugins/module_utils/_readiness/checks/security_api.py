# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubecompass.readiness collection: may change at any time.
"""Security decided from the Kubernetes API alone: RBAC, service account tokens, NetworkPolicy default-deny,
Pod Security Admission, Ingress TLS, and the admission, secrets and runtime-security add-ons a cluster runs."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type


from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.compliance import CIS, HIPAA, NIST
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.netpol import (
    CALICO_KEYS,
    DIRECTIONS,
    calico_effect,
    calico_excluded,
    cilium_effect,
    cilium_excluded_namespaces,
    cilium_rules,
    native_effect,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.objects import (
    object_meta,
    object_name,
    object_namespace,
    qualified_name,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.psa import (
    PSA_ENFORCE,
    PSA_ENFORCE_VERSION,
    PSA_LEVELS,
    psa_targets,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.rbac import (
    ANONYMOUS_SUBJECTS,
    DEFAULT_ADMIN_BINDINGS,
    SUBJECT_SETTING,
    admin_equivalent_roles,
    default_anonymous_binding,
    exempt_role,
    rule_problems,
    subject_key,
    system_subject,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.selectors import is_empty
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.versions import minor_version
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import MANAGED, NAMESPACE_TIER_LABEL, TIERS
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.workloads import (
    mounts_token,
    service_account_of,
)
from ansible_collections.kubecompass.readiness.plugins.module_utils._readiness.model import (
    Check,
    Result,
    from_objects,
    obj,
)

# Evidence and reasons name at most this many objects; counts carry the rest.
NAME_LIMIT = 10

ADDON_TIERS = ("critical", "important")


# -- shared helpers ----------------------------------------------------------------------------------------------------


def _first(names, limit=NAME_LIMIT):
    names = sorted(names)
    return names[:limit] + (["... %d more" % (len(names) - limit)] if len(names) > limit else [])


def _namespace_tier_rule(ctx):
    return "per namespace: label %s, else cluster tier %s" % (NAMESPACE_TIER_LABEL, ctx.tier)


def _out_of_scope(tier, rule, error, required_for):
    """(verdict, reason) when a namespace-scoped check must not judge a namespace of this tier, else None."""
    if error:
        return "unknown", error
    if tier not in required_for:
        return "not_applicable", "not required for tier %s (%s)" % (tier, rule)
    return None


def _crd_names(ctx):
    return {object_name(crd) for crd in ctx.items("customresourcedefinitions")}


def _webhook_names(ctx, kind):
    return sorted(object_name(config) for config in ctx.items(kind))


def _containers(pod_spec):
    return pod_spec.get("containers") or []


def _pod_spec(workload):
    return ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}


# -- RBAC --------------------------------------------------------------------------------------------------------------

# The plan is a report; bindings are removed only when listed (rbac_least_privilege_remove).
RBAC_REMEDIATION = {"role": "rbac_least_privilege", "tag": "rbac"}


def _allowed_subjects(ctx):
    """The rbac_allowed_subjects setting as a set, or (None, error) when an entry is malformed."""
    entries = ctx.settings.get("rbac_allowed_subjects") or []
    bad = [entry for entry in entries if not isinstance(entry, str) or not SUBJECT_SETTING.match(entry)]
    if bad:
        return None, "rbac_allowed_subjects entry %r is not User:name, Group:name or ServiceAccount:ns/name" % (
            bad[0],)
    return set(entries), None


def cluster_admin_subjects(ctx):
    allowed, error = _allowed_subjects(ctx)
    if error:
        return Result("unknown", error)
    admin_roles = admin_equivalent_roles(ctx.items("clusterroles"))
    objects = []
    examined = default_bindings = 0
    for kind, key in (("ClusterRoleBinding", "clusterrolebindings"), ("RoleBinding", "rolebindings")):
        for binding in ctx.items(key):
            ref = binding.get("roleRef") or {}
            if ref.get("kind") != "ClusterRole" or ref.get("name") not in admin_roles:
                continue
            examined += 1
            name = object_name(binding)
            # Name-based allowance only for cluster-wide defaults: a RoleBinding cannot borrow it by its name.
            if kind == "ClusterRoleBinding" and (name in DEFAULT_ADMIN_BINDINGS or name.startswith("system:")):
                default_bindings += 1
                continue
            namespace = object_meta(binding).get("namespace")
            holders = [subject for subject in (subject_key(s, namespace) for s in binding.get("subjects") or [])
                       if not system_subject(subject) and subject not in allowed]
            if holders:
                scope = "namespace %s" % namespace if namespace else "the cluster"
                objects.append(obj(kind, namespace, name, "fail", "grants %s over %s to %s"
                                   % (ref.get("name"), scope, ", ".join(_first(holders, 5)))))
    evidence = {"admin_roles": _first(admin_roles), "bindings_to_admin_roles": examined,
                "default_bindings": default_bindings, "flagged": len(objects)}
    return from_objects(objects, "cluster-admin is held only by system or allowlisted subjects (%d bindings)"
                        % examined, "%d binding(s) grant cluster-admin to non-system subjects", evidence)


def wildcard_rules(ctx):
    objects = []
    examined = 0
    for kind, key in (("ClusterRole", "clusterroles"), ("Role", "roles")):
        for role in ctx.items(key):
            if exempt_role(kind, role):
                continue
            examined += 1
            problems = rule_problems(role.get("rules") or [])
            if problems:
                objects.append(obj(kind, object_namespace(role), object_name(role), "fail", "; ".join(problems)))
    evidence = {"roles_examined": examined, "flagged": len(objects)}
    return from_objects(objects, "no wildcard or escalating rules in %d non-system roles" % examined,
                        "%d role(s) with wildcard or bind/escalate/impersonate rules", evidence)


def anonymous_bindings(ctx):
    objects = []
    defaults = []
    for kind, key in (("ClusterRoleBinding", "clusterrolebindings"), ("RoleBinding", "rolebindings")):
        for binding in ctx.items(key):
            anonymous = sorted({"%s %s" % (s.get("kind"), s.get("name")) for s in binding.get("subjects") or []
                                if (s.get("kind"), s.get("name")) in ANONYMOUS_SUBJECTS})
            if not anonymous:
                continue
            if default_anonymous_binding(kind, binding):
                defaults.append(qualified_name(binding))
                continue
            ref = binding.get("roleRef") or {}
            objects.append(obj(kind, object_namespace(binding), object_name(binding), "fail", "grants %s %s to %s"
                               % (ref.get("kind"), ref.get("name"), ", ".join(anonymous))))
    evidence = {"default_bindings": sorted(defaults), "flagged": len(objects)}
    return from_objects(objects, "only the default public-info bindings reach unauthenticated users",
                        "%d binding(s) grant access to system:anonymous or system:unauthenticated", evidence)


# -- default ServiceAccount token --------------------------------------------------------------------------------------


def default_service_account_automount(ctx):
    accounts = ctx.by_namespace("serviceaccounts")
    pods = ctx.by_namespace("pods")
    objects, mounting = [], []
    for ns, tier, rule, error in ctx.application_namespaces():
        namespace = ns["metadata"]["name"]
        skip = _out_of_scope(tier, rule, error, TIERS)
        if skip:
            objects.append(obj("ServiceAccount", namespace, "default", *skip))
            continue
        default = next((sa for sa in accounts.get(namespace, []) if object_name(sa) == "default"), None)
        if default is None:
            objects.append(obj("ServiceAccount", namespace, "default", "pass",
                               "no default ServiceAccount: no pod can mount its token"))
            continue
        account_mounts = default.get("automountServiceAccountToken") is not False
        here = [object_name(pod) for pod in pods.get(namespace, [])
                if service_account_of(pod) == "default" and mounts_token(pod, account_mounts)]
        mounting.extend("%s/%s" % (namespace, pod) for pod in here)
        if account_mounts:
            verdict, reason = "fail", "automountServiceAccountToken is not false; %d pod(s) mount its token" % len(here)
        else:
            verdict, reason = "pass", "automountServiceAccountToken is false; %d pod(s) opt back in" % len(here)
        if here:
            reason += ": %s" % ", ".join(_first(here, 5))
        objects.append(obj("ServiceAccount", namespace, "default", verdict, reason))
    evidence = {"namespaces": len(objects), "pods_mounting_default_token": len(mounting), "pods": _first(mounting)}
    return from_objects(objects, "default ServiceAccounts do not automount their token",
                        "%d namespace(s) automount the default ServiceAccount token", evidence,
                        _namespace_tier_rule(ctx), "no application namespaces")


# -- NetworkPolicy default-deny ----------------------------------------------------------------------------------------


def _cluster_wide_effects(ctx):
    """([(excluded namespaces, effect)], unrecognised policy labels, kinds not installed)."""
    effects, unrecognised, absent = [], [], []
    cilium = ctx.optional_items("ciliumclusterwidenetworkpolicies")
    if cilium is None:
        absent.append("ciliumclusterwidenetworkpolicies")
    for policy in cilium or []:
        label = "CiliumClusterwideNetworkPolicy/%s" % object_name(policy)
        for rule in cilium_rules(policy):
            if rule.get("nodeSelector") is not None:
                continue  # host policy, not pods
            excluded = cilium_excluded_namespaces(rule.get("endpointSelector"))
            if excluded is None:
                unrecognised.append(label)
            else:
                effects.append((excluded, cilium_effect(label, rule)))
    calico = ctx.optional_items("calicoglobalnetworkpolicies")
    if calico is None:
        absent.append("calicoglobalnetworkpolicies")
    for policy in calico or []:
        spec = policy.get("spec") or {}
        scopes = [calico_excluded(spec.get(field), key) for field, key in CALICO_KEYS.items()]
        if None in scopes or (spec.get("serviceAccountSelector") or "all()").strip() != "all()":
            unrecognised.append("GlobalNetworkPolicy/%s" % object_name(policy))
            continue
        effects.append((scopes[0] | scopes[1], calico_effect(policy)))
    return effects, sorted(set(unrecognised)), absent


def _namespaced_cilium_effects(policies):
    effects = []
    for policy in policies:
        label = "CiliumNetworkPolicy/%s" % object_name(policy)
        for rule in cilium_rules(policy):
            # Empty endpointSelector in a namespaced policy = every endpoint of that namespace.
            if rule.get("nodeSelector") is None and is_empty(rule.get("endpointSelector")):
                effects.append(cilium_effect(label, rule))
    return effects


def _default_deny_outcome(effects):
    denied = {d: sorted({e.label for e in effects if d in e.denied}) for d in DIRECTIONS}
    opened = sorted({"%s (%s)" % (e.label, d.lower()) for e in effects for d in DIRECTIONS if d in e.opened})
    caveats = sorted({caveat for e in effects for caveat in e.caveats})
    missing = [d.lower() for d in DIRECTIONS if not denied[d]]
    if opened:
        reason = "default-deny cancelled by allow-all %s" % ", ".join(opened)
        if missing:
            reason += "; %s not denied by default" % " and ".join(missing)
        return "fail", reason
    if len(missing) == 2:
        reason = "no default-deny policy"
    elif missing:
        present = "ingress" if missing == ["egress"] else "egress"
        reason = "%s only (%s): %s is not denied by default" % (
            present, ", ".join(denied[present.capitalize()]), missing[0])
    else:
        return "pass", "ingress and egress denied by default (%s)" % ", ".join(
            sorted(set(denied["Ingress"]) | set(denied["Egress"])))
    if caveats:
        reason += "; %s" % "; ".join(caveats)
    return "fail", reason


def default_deny_network_policies(ctx):
    native = ctx.by_namespace("networkpolicies")
    cilium = ctx.optional_items("ciliumnetworkpolicies")
    cilium_by_namespace = {}
    for policy in cilium or []:
        cilium_by_namespace.setdefault(object_meta(policy).get("namespace"), []).append(policy)
    cluster_wide, unrecognised, absent = _cluster_wide_effects(ctx)
    if cilium is None:
        absent.append("ciliumnetworkpolicies")
    objects = []
    for ns, tier, rule, error in ctx.application_namespaces():
        namespace = ns["metadata"]["name"]
        skip = _out_of_scope(tier, rule, error, TIERS)
        if skip:
            objects.append(obj("Namespace", namespace, namespace, *skip))
            continue
        effects = [native_effect(policy) for policy in native.get(namespace, [])]
        effects.extend(_namespaced_cilium_effects(cilium_by_namespace.get(namespace, [])))
        effects.extend(effect for excluded, effect in cluster_wide if namespace not in excluded)
        objects.append(obj("Namespace", namespace, namespace, *_default_deny_outcome(effects)))
    evidence = {"namespaces": len(objects), "network_policies": sum(len(v) for v in native.values()),
                "cluster_wide_policies": sorted({effect.label for excluded, effect in cluster_wide}),
                "unrecognised_cluster_wide": unrecognised, "not_installed": sorted(absent)}
    return from_objects(objects, "every application namespace denies ingress and egress by default",
                        "%d namespace(s) without a working default-deny NetworkPolicy", evidence,
                        _namespace_tier_rule(ctx), "no application namespaces")


# -- Pod Security Admission --------------------------------------------------------------------------------------------


def _version_note(labels, server):
    pinned = labels.get(PSA_ENFORCE_VERSION)
    if not pinned or pinned == "latest" or server is None:
        return ""
    version = minor_version(pinned)
    if version is None:
        return "; enforce-version %r is not a version" % pinned
    if version < server:
        return "; enforce-version %s is pinned older than the server (%d.%d)" % (pinned, server[0], server[1])
    return ""


def pod_security_admission(ctx):
    targets, error = psa_targets(ctx.settings.get("psa_levels"))
    if error:
        return Result("unknown", error, tier_rule=_namespace_tier_rule(ctx))
    server = minor_version((ctx.cluster.get("version") or {}).get("gitVersion"))
    objects = []
    levels = {}
    for ns, tier, rule, error in ctx.application_namespaces():
        namespace = ns["metadata"]["name"]
        labels = object_meta(ns).get("labels") or {}
        level = labels.get(PSA_ENFORCE)
        levels[level or "unlabelled"] = levels.get(level or "unlabelled", 0) + 1
        skip = _out_of_scope(tier, rule, error, TIERS)
        if skip:
            objects.append(obj("Namespace", namespace, namespace, *skip))
            continue
        required = targets[tier]
        if level is None:
            verdict, reason = "fail", "no enforce label: relies on the cluster default (not visible through the API)"
        elif level not in PSA_LEVELS:
            verdict, reason = "fail", "enforce label %r is not a Pod Security level" % level
        elif PSA_LEVELS.index(level) < PSA_LEVELS.index(required):
            verdict, reason = "fail", "enforce=%s is too weak" % level
        else:
            verdict, reason = "pass", "enforce=%s" % level
        reason += "; tier %s requires %s%s" % (tier, required, _version_note(labels, server))
        objects.append(obj("Namespace", namespace, namespace, verdict, reason))
    evidence = {"namespaces": len(objects), "enforce_levels": levels, "required": targets}
    return from_objects(objects, "every application namespace enforces its tier's Pod Security level",
                        "%d namespace(s) below their tier's Pod Security level", evidence,
                        _namespace_tier_rule(ctx), "no application namespaces")


# -- Ingress TLS -------------------------------------------------------------------------------------------------------

def _host_covered(host, tls_hosts):
    if host in tls_hosts:
        return True
    parts = host.split(".", 1)
    return len(parts) == 2 and "*.%s" % parts[1] in tls_hosts


def _hosts_without_tls(spec):
    tls_hosts, hostless_covered = set(), False
    for entry in spec.get("tls") or []:
        hosts = entry.get("hosts") or []
        hostless_covered = hostless_covered or not hosts
        tls_hosts.update(hosts)
    missing = []
    for rule in spec.get("rules") or []:
        host = rule.get("host")
        if not host:
            if not hostless_covered:
                missing.append("(rules without host)")
        elif not _host_covered(host, tls_hosts):
            missing.append(host)
    return sorted(set(missing))


def ingress_tls(ctx):
    objects = []
    for ingress in ctx.items("ingresses"):
        namespace = object_meta(ingress).get("namespace")
        if not ctx.is_application_namespace(namespace):
            continue
        skip = _out_of_scope(*ctx.tier_of(namespace), required_for=TIERS)
        spec = ingress.get("spec") or {}
        if skip:
            verdict, reason = skip
        elif not spec.get("tls"):
            verdict, reason = "fail", "no tls section: served over plain HTTP"
        else:
            missing = _hosts_without_tls(spec)
            verdict, reason = ("fail", "hosts without TLS: %s" % ", ".join(_first(missing, 5))) if missing else (
                "pass", "TLS covers every host")
        objects.append(obj("Ingress", namespace, object_name(ingress), verdict, reason))
    evidence = {"ingresses": len(objects), "without_full_tls": sum(1 for o in objects if o["verdict"] == "fail")}
    return from_objects(objects, "every Ingress in application namespaces serves all its hosts over TLS",
                        "%d Ingress(es) serve hosts without TLS", evidence, _namespace_tier_rule(ctx),
                        "no Ingress in application namespaces")


# -- Admission and security add-ons ------------------------------------------------------------------------------------

KYVERNO_CRD = "clusterpolicies.kyverno.io"
GATEKEEPER_CRD = "constrainttemplates.templates.gatekeeper.sh"
GATEKEEPER_WEBHOOK = "gatekeeper-validating-webhook-configuration"
# Labels that mark objects the platform (bootstrap or a provider's addon manager) owns, not the cluster's users.
SYSTEM_OWNER_LABELS = ("kubernetes.io/bootstrapping", "addonmanager.kubernetes.io/mode")


def _system_owned(item):
    labels = object_meta(item).get("labels") or {}
    return (object_name(item) or "").startswith("system:") or any(label in labels for label in SYSTEM_OWNER_LABELS)


def _denying_policy_bindings(ctx):
    bindings = ctx.optional_items("validatingadmissionpolicybindings")
    if not bindings:
        return []
    policies = {object_name(policy): policy for policy in ctx.optional_items("validatingadmissionpolicies") or []}
    return sorted(object_name(binding) for binding in bindings
                  if "Deny" in ((binding.get("spec") or {}).get("validationActions") or [])
                  and (binding.get("spec") or {}).get("policyName") in policies
                  and not _system_owned(binding)
                  and not _system_owned(policies[binding["spec"]["policyName"]]))


def policy_engine(ctx):
    crds = _crd_names(ctx)
    webhooks = _webhook_names(ctx, "validatingwebhookconfigurations")
    found, partial = [], []
    kyverno_webhooks = [name for name in webhooks if "kyverno" in name]
    if KYVERNO_CRD in crds:
        if kyverno_webhooks:
            found.append("Kyverno (%s)" % ", ".join(_first(kyverno_webhooks, 3)))
        else:
            partial.append("Kyverno CRDs without a kyverno validating webhook")
    if GATEKEEPER_CRD in crds:
        if GATEKEEPER_WEBHOOK in webhooks:
            found.append("OPA Gatekeeper")
        else:
            partial.append("Gatekeeper CRDs without %s" % GATEKEEPER_WEBHOOK)
    denying = _denying_policy_bindings(ctx)
    if denying:
        found.append("ValidatingAdmissionPolicyBinding(s) with Deny: %s" % ", ".join(_first(denying, 3)))
    evidence = {"found": found, "incomplete": partial}
    if found:
        return Result("pass", "policy engine enforcing: %s" % "; ".join(found), evidence)
    return Result("fail", "no enforcing policy engine (Kyverno, Gatekeeper or a Deny ValidatingAdmissionPolicy)%s"
                  % ("; %s" % "; ".join(partial) if partial else ""), evidence)


# (product, CRDs, webhook name fragments): any one CRD or webhook shows the product installed.
IMAGE_ADMISSION = (
    ("Sigstore policy-controller", ("clusterimagepolicies.policy.sigstore.dev",), ("policy.sigstore.dev",)),
    ("Kyverno ImageValidatingPolicy", ("imagevalidatingpolicies.policies.kyverno.io",), ()),
    ("Ratify", ("verifiers.config.ratify.deislabs.io",), ()),
    ("Connaisseur", (), ("connaisseur",)),
    ("Trivy operator (scanning)", ("vulnerabilityreports.aquasecurity.github.io",), ()),
)
EXTERNAL_SECRETS = (
    ("External Secrets Operator", ("externalsecrets.external-secrets.io",), ()),
    ("Secrets Store CSI driver", ("secretproviderclasses.secrets-store.csi.x-k8s.io",), ()),
    ("Vault agent injector", (), ("vault-agent-injector",)),
)


def _products_present(products, crds, webhooks):
    return [product for product, product_crds, fragments in products
            if crds.intersection(product_crds) or any(f in name for f in fragments for name in webhooks)]


def image_admission(ctx):
    crds = _crd_names(ctx)
    webhooks = (_webhook_names(ctx, "validatingwebhookconfigurations")
                + _webhook_names(ctx, "mutatingwebhookconfigurations"))
    found = _products_present(IMAGE_ADMISSION, crds, webhooks)
    evidence = {"found": found}
    if found:
        return Result("pass", "image verification or scanning present: %s" % ", ".join(found), evidence)
    if KYVERNO_CRD in crds:
        evidence["possible"] = ["Kyverno"]
        return Result("unknown", "Kyverno is installed and can verify images (verifyImages rules), but its policies "
                      "are not gathered: possible, not verified", evidence)
    return Result("fail", "no image verification or scanning admission (Sigstore policy-controller, Kyverno, "
                  "Ratify, Connaisseur, Trivy operator)", evidence)


def external_secrets(ctx):
    crds = _crd_names(ctx)
    found = _products_present(EXTERNAL_SECRETS, crds, _webhook_names(ctx, "mutatingwebhookconfigurations"))
    evidence = {"found": found}
    if found:
        return Result("pass", "external secrets store integration present: %s" % ", ".join(found), evidence)
    return Result("fail", "no external secrets store integration (External Secrets Operator, Secrets Store CSI "
                  "driver, Vault agent injector)", evidence)


# -- DaemonSet fingerprints --------------------------------------------------------------------------------------------

# (product, DaemonSet or pod name fragments, image fragments)
RUNTIME_DETECTION = (
    ("Falco", ("falco",), ("falcosecurity/falco",)),
    ("Tetragon", ("tetragon",), ("cilium/tetragon",)),
    ("Sysdig", ("sysdig",), ("sysdig/agent",)),
    ("NeuVector", ("neuvector-enforcer",), ("neuvector/enforcer",)),
    ("Aqua enforcer", ("aqua-enforcer", "aqua-agent"), ("aquasec/enforcer",)),
    ("Prisma Cloud defender", ("twistlock-defender",), ("twistlock/defender",)),
    ("Microsoft Defender", ("microsoft-defender",), ("azuredefender",)),
    ("GuardDuty agent", ("aws-guardduty-agent",), ("aws-guardduty-agent",)),
)
DATADOG_RUNTIME_SECURITY = "DD_RUNTIME_SECURITY_CONFIG_ENABLED"

# (CNI, enforces NetworkPolicy: True/False/None = depends, name fragments, image fragments)
CNI_FINGERPRINTS = (
    ("Calico", True, ("calico-node",), ("calico/node", "hardened-calico")),
    ("Canal", True, ("canal",), ()),
    ("Cilium", True, ("cilium", "anetd"), ("cilium/cilium",)),
    ("Antrea", True, ("antrea-agent",), ("antrea/antrea",)),
    ("Weave Net", True, ("weave-net",), ("weaveworks/weave-kube",)),
    ("kube-router", True, ("kube-router",), ("kube-router",)),
    ("Azure NPM", True, ("azure-npm",), ("azure-npm",)),
    # By image only: the name aws-node is also a prefix of aws-node-termination-handler.
    ("AWS VPC CNI", None, (), ("amazon-k8s-cni",)),
    ("kindnet", None, ("kindnet",), ("kindnetd",)),
    ("Flannel", False, ("flannel",), ("flannel",)),
)
CNI_CRD_SUFFIXES = (("Cilium", ".cilium.io"), ("Calico", ".crd.projectcalico.org"), ("Antrea", ".crd.antrea.io"))


def _identify(products, name, images):
    """The entries of a fingerprint table (last two fields: name fragments, image fragments) that match."""
    name = (name or "").lower()
    return [entry for entry in products
            if any(fragment in name for fragment in entry[-2])
            or any(fragment in image for fragment in entry[-1] for image in images)]


def _images(pod_spec):
    return [(container.get("image") or "").lower() for container in _containers(pod_spec)]


def _datadog_runtime_security(pod_spec):
    return any(str(env.get("value")).lower() == "true"
               for container in _containers(pod_spec) for env in container.get("env") or []
               if env.get("name") == DATADOG_RUNTIME_SECURITY)


def runtime_threat_detection(ctx):
    found, notes = set(), []
    daemonsets = ctx.items("daemonsets")
    for daemonset in daemonsets:
        spec = _pod_spec(daemonset)
        images = _images(spec)
        identified = _identify(RUNTIME_DETECTION, object_name(daemonset), images)
        found.update(product for product, _names, _fragments in identified)
        if "datadog" in (object_name(daemonset) or "") or any("datadog/agent" in image for image in images):
            if _datadog_runtime_security(spec):
                found.add("Datadog Cloud Workload Security")
            else:
                notes.append("%s is a Datadog agent without %s=true" % (qualified_name(daemonset),
                                                                        DATADOG_RUNTIME_SECURITY))
    evidence = {"found": sorted(found), "daemonsets_seen": len(daemonsets), "notes": notes[:NAME_LIMIT]}
    if found:
        return Result("pass", "runtime threat detection present: %s" % ", ".join(sorted(found)), evidence)
    if ctx.distribution in MANAGED:
        ctx.provider()  # provider-side detection (GuardDuty, Defender, GKE threat detection) needs its API
        return Result("unknown", "no runtime detection DaemonSet; provider-side detection is not evaluated yet",
                      evidence)
    return Result("fail", "no runtime threat detection DaemonSet (Falco, Tetragon, Sysdig, NeuVector, Aqua, "
                  "Prisma Cloud, Microsoft Defender, GuardDuty)%s" % ("; %s" % notes[0] if notes else ""), evidence)


def _aws_network_policy_enabled(ctx):
    for config_map in ctx.items("kube_system_configmaps"):
        if object_name(config_map) == "amazon-vpc-cni":
            return str((config_map.get("data") or {}).get("enable-network-policy-controller")).lower() == "true"
    return False


def cni_enforces_network_policy(ctx):
    daemonsets = ctx.items("daemonsets")
    agents = [(ds, _pod_spec(ds)) for ds in daemonsets]
    agents += [(pod, pod.get("spec") or {}) for pod in ctx.by_namespace("pods").get("kube-system", [])]
    seen = {}
    for item, spec in agents:
        for cni, enforces, _names, _fragments in _identify(CNI_FINGERPRINTS, object_name(item), _images(spec)):
            seen[cni] = enforces
    if "AWS VPC CNI" in seen:
        seen["AWS VPC CNI"] = _aws_network_policy_enabled(ctx)
    enforcing = sorted(cni for cni, enforces in seen.items() if enforces)
    daemonsets = sorted(qualified_name(ds) for ds in daemonsets)
    evidence = {"cni": sorted(seen), "enforcing": enforcing, "daemonsets_seen": len(daemonsets)}
    if enforcing:
        return Result("pass", "NetworkPolicy enforced by %s" % ", ".join(enforcing), evidence)
    if not seen and ctx.distribution == "k3s":
        return Result("pass", "no CNI DaemonSet: k3s runs its embedded network policy controller", evidence)
    if "kindnet" in seen:
        return Result("unknown", "kindnet enforces NetworkPolicy only from kind v0.24.0; its version is not "
                      "known from the API", evidence)
    if seen:
        reasons = []
        if "AWS VPC CNI" in seen:
            reasons.append("AWS VPC CNI without enable-network-policy-controller=true in kube-system/amazon-vpc-cni")
        if "Flannel" in seen:
            reasons.append("Flannel does not enforce NetworkPolicy")
        return Result("fail", "NetworkPolicies are not enforced: %s" % "; ".join(reasons), evidence)
    crds = _crd_names(ctx)
    leftovers = sorted({cni for cni, suffix in CNI_CRD_SUFFIXES if any(name.endswith(suffix) for name in crds)})
    evidence["daemonsets"] = _first(daemonsets)
    evidence["cni_crds_without_agent"] = leftovers
    return Result("unknown", "no recognised CNI agent%s; DaemonSets seen: %s" % (
        " (CRDs of %s installed, no agent running)" % ", ".join(leftovers) if leftovers else "",
        ", ".join(_first(daemonsets, 5)) or "none"), evidence)


# -- catalog -----------------------------------------------------------------------------------------------------------

CHECKS = [
    Check(
        "KC-SEC-011", "cluster-admin bound only to system subjects", "security", "critical",
        controls={CIS: ("5.1.1",), NIST: ("AC-3", "AC-6", "AC-6(10)")}, item="rbac-least-privilege", evaluate=cluster_admin_subjects,
        needs=("clusterrolebindings", "rolebindings", "clusterroles"), remediation=RBAC_REMEDIATION,
        runbook="A ClusterRoleBinding, or a RoleBinding to the ClusterRole cluster-admin (or to a ClusterRole "
                "granting '*' on everything), gives a person, group or service account full control. Standing "
                "admin rights are the largest blast radius a stolen credential can have. Bind a narrower role "
                "(kubectl create rolebinding ... --clusterrole=edit), use break-glass access for admin, or list "
                "the subject in rbac_allowed_subjects when it is a deliberate exception.",
    ),
    Check(
        "KC-SEC-012", "No wildcard or escalating rules in non-system roles", "security", "high",
        controls={CIS: ("5.1.3", "5.1.8"), NIST: ("AC-3", "AC-6", "AC-6(10)")},
        item="rbac-least-privilege", evaluate=wildcard_rules, needs=("clusterroles", "roles"),
        remediation=RBAC_REMEDIATION,
        runbook="Roles with '*' in verbs, resources or apiGroups grant every current and future permission, and "
                "the bind, escalate and impersonate verbs let a holder grant itself more. Replace wildcards with the "
                "exact resources and verbs the workload uses (kubectl auth can-i --list helps), and keep "
                "bind/escalate/impersonate to platform roles covered by a waiver.",
    ),
    Check(
        "KC-SEC-013", "No bindings to system:anonymous or system:unauthenticated", "security", "critical",
        controls={CIS: (), NIST: ("AC-3", "AC-14")},
        item="anonymous-auth-disabled", evaluate=anonymous_bindings, needs=("clusterrolebindings", "rolebindings"),
        remediation=RBAC_REMEDIATION,
        runbook="A binding whose subjects include the user system:anonymous or the group system:unauthenticated "
                "gives its role to anyone who can reach the API server without credentials. Only "
                "system:public-info-viewer and kubeadm's kube-public/kubeadm:bootstrap-signer-clusterinfo are "
                "expected. Remove the subject from the binding (kubectl edit) or delete the binding.",
    ),
    Check(
        "KC-SEC-014", "Default ServiceAccount does not automount its token", "security", "medium",
        controls={CIS: ("5.1.6",), NIST: ("AC-6",), HIPAA: ("164.312(a)(1)",)}, item="rbac-least-privilege",
        evaluate=default_service_account_automount,
        needs=("namespaces", "serviceaccounts", "pods"), scope="namespace",
        remediation={"role": "namespace_guardrails", "tag": "guardrails"},
        runbook="Every pod that does not name a ServiceAccount runs as 'default' and, unless told otherwise, gets "
                "an API token mounted, so any compromised container can talk to the API server. Set "
                "automountServiceAccountToken: false on the default ServiceAccount of each application namespace "
                "(the namespace_guardrails role, tag guardrails) and give pods that need the API their own "
                "ServiceAccount.",
    ),
    Check(
        "KC-SEC-016", "Default-deny NetworkPolicy in every application namespace", "security", "high",
        item="network-policies-default-deny", evaluate=default_deny_network_policies,
        needs=("namespaces", "networkpolicies", "ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies",
               "calicoglobalnetworkpolicies"), scope="namespace",
        remediation={"role": "network_policies", "tag": "netpol"},
        runbook="Without a policy that selects every pod (podSelector: {}) with both Ingress and Egress in "
                "policyTypes and no rules, pods accept traffic from anywhere and can reach anything, so one "
                "compromised pod can move laterally. Apply a default-deny policy plus explicit allows (DNS first) "
                "with the network_policies role (tag netpol), and remove allow-all policies (ingress: [{}]) that "
                "cancel it. Cilium and Calico cluster-wide default-deny policies are accepted instead.",
    ),
    Check(
        "KC-SEC-017", "Pod Security Admission enforces the tier's level", "security", "high",
        item="pod-security-standards", evaluate=pod_security_admission, needs=("namespaces", "version"),
        scope="namespace", remediation={"role": "pod_security", "tag": "psa"},
        runbook="The pod-security.kubernetes.io/enforce label decides which Pod Security Standard the API server "
                "enforces in a namespace; without it the namespace relies on a cluster default the API does not "
                "show. Label each application namespace at its tier's level (restricted for critical, baseline "
                "otherwise, configurable with psa_levels) with the pod_security role (tag psa), which dry-runs the "
                "label first and reports pods that would violate it.",
    ),
    Check(
        "KC-SEC-018", "TLS on every Ingress host", "security", "high",
        controls={CIS: (), NIST: ("SC-8", "SC-8(1)")},
        item="tls-apiserver-etcd", evaluate=ingress_tls, needs=("namespaces", "ingresses"), scope="namespace",
        runbook="An Ingress host not listed under spec.tls[].hosts is served over plain HTTP, exposing credentials "
                "and session data in transit. Add a tls entry with a certificate Secret for every host (cert-manager "
                "can issue it from an annotation); a tls entry without hosts covers rules without a host.",
    ),
    Check(
        "KC-SEC-019", "Policy engine present and enforcing", "security", "medium",
        item="policy-engine", evaluate=policy_engine, required_for=ADDON_TIERS,
        needs=("customresourcedefinitions", "validatingwebhookconfigurations", "validatingadmissionpolicies",
               "validatingadmissionpolicybindings"),
        runbook="Without an admission policy engine nothing stops a non-compliant workload at the door; checks only "
                "find it afterwards. Install Kyverno or OPA Gatekeeper with its validating webhook, or bind a "
                "ValidatingAdmissionPolicy with validationActions [Deny].",
    ),
    Check(
        "KC-SEC-020", "Image verification or scanning admission present", "security", "medium",
        controls={CIS: ("5.5.1",)}, item="image-scanning-signing", evaluate=image_admission, required_for=ADDON_TIERS,
        needs=("customresourcedefinitions", "validatingwebhookconfigurations", "mutatingwebhookconfigurations"),
        runbook="Nothing verifies image signatures or scans images, so a tampered or vulnerable image runs "
                "unchallenged. Install the Sigstore policy-controller, Kyverno image verification, Ratify or "
                "Connaisseur for signatures, or the Trivy operator for scanning.",
    ),
    Check(
        "KC-SEC-021", "External secrets store integration present", "security", "medium",
        item="external-secrets-store", evaluate=external_secrets, required_for=ADDON_TIERS,
        needs=("customresourcedefinitions", "mutatingwebhookconfigurations"),
        runbook="Secrets created by hand in Kubernetes have no central rotation, audit or revocation. Integrate an "
                "external store with the External Secrets Operator, the Secrets Store CSI driver or the Vault agent "
                "injector.",
    ),
    Check(
        "KC-SEC-022", "Runtime threat detection present", "security", "medium",
        item="runtime-threat-detection", evaluate=runtime_threat_detection, required_for=ADDON_TIERS,
        needs=("daemonsets",),
        runbook="No agent watches process, file and network activity on the nodes, so an intrusion in a running "
                "container goes unnoticed. Deploy a runtime detection DaemonSet (Falco, Tetragon or a commercial "
                "agent) or enable the provider's detection (GuardDuty runtime monitoring, Defender for Containers).",
    ),
    Check(
        "KC-SEC-023", "The CNI enforces NetworkPolicy", "security", "high",
        item="network-policies-default-deny", evaluate=cni_enforces_network_policy, controls={NIST: ("AC-4", "SC-7")},
        needs=("daemonsets", "pods", "customresourcedefinitions", "kube_system_configmaps"),
        runbook="The API accepts NetworkPolicies whatever the CNI, but only some CNIs enforce them: with Flannel "
                "alone, or the AWS VPC CNI without its network policy controller, every policy is silently "
                "ignored. Use Calico, Cilium, Antrea or another enforcing CNI (Canal on Flannel clusters), or set "
                "enable-network-policy-controller: \"true\" in kube-system/amazon-vpc-cni.",
    ),
]
