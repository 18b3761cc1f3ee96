# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
name: clusters
short_description: Kubernetes clusters from kubeconfig contexts and EKS, GKE and AKS accounts
version_added: 0.1.0
description:
  - Makes one inventory host per Kubernetes cluster, ready for the collection's playbooks. Every host joins
    O(group) (C(k8s_clusters)) and a group named by its distribution (C(eks), C(gke), C(aks), C(kubeadm),
    C(rke2), C(k3s)), runs on the controller (C(ansible_connection=local)) and carries the C(kubecompass_*)
    variables the playbooks read.
  - Clusters come from the contexts of O(kubeconfigs) and from the accounts listed under O(aws), O(gcp) and
    O(azure). A context and a provider cluster that are the same cluster (same EKS region and name, same GKE
    project, location and name, or the same API server host and port) make one host carrying both the context
    and the provider target. A second context for the same cluster is skipped with a warning.
  - "The distribution of a context is told from the kubeconfig: an C(arn:aws:eks:...) context or cluster name or
    a server under C(eks.amazonaws.com) is EKS, a C(gke_PROJECT_LOCATION_NAME) name or a server under
    C(gke.goog) is GKE, a server under C(azmk8s.io) is AKS. Other contexts join the group
    C(unknown_distribution) without C(kubecompass_distribution) (the assessment then guesses it from the API),
    unless O(distributions) declares it."
  - "Host names: a provider cluster, or a context whose cluster is fully known from its name (EKS ARN, C(gke_)),
    is named C(DISTRIBUTION-LOCATION-NAME); any other context by its name. Names are lower case with other
    characters than letters, digits, C(.), C(_) and C(-) replaced by C(-); a name already taken gets C(-2),
    C(-3), ... in a fixed order (provider clusters sorted, then contexts in file order)."
  - "Host variables: C(ansible_connection), C(kubecompass_distribution), C(kubecompass_tier) (when known),
    C(kubecompass_region) (EKS region, GKE or AKS location), C(kubecompass_provider) (the provider target the
    collection's provider modules take), C(kubecompass_kubeconfig) and C(kubecompass_context) (for contexts),
    C(kubecompass_labels) (the provider's tags or labels) and C(kubecompass_server). Values read from the
    kubeconfig or the provider are never templated."
  - A provider cluster no context names gets C(kubecompass_kubernetes_api=false) - the playbooks then never fall
    back to the controller's default kubeconfig (another cluster); they judge it from the provider's API alone
    and report the checks that need its Kubernetes API as unknown. Add its context to O(kubeconfigs) to assess it
    fully.
  - Each EKS region, GKE project and AKS subscription is listed on its own. One whose SDK is missing or whose
    listing fails adds no host and one warning naming it and the cause; the others and the kubeconfig contexts
    are still added. An unreadable
    kubeconfig is a warning too.
  - With O(cache), only the provider listings are cached (the calls that cost time and API quota); kubeconfig
    files are read on every run, so new contexts appear at once. The cache is written only when every account
    answered, and is not used when the O(aws), O(gcp) or O(azure) options changed since it was written.
author:
  - KubeCompass contributors (@kubecompass)
requirements:
  - C(boto3) for O(aws), C(google-cloud-container) for O(gcp), C(azure-identity) and
    C(azure-mgmt-containerservice) for O(azure) (only for the providers configured).
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks the file as a source for this plugin.
    required: true
    type: str
    choices: [kubecompass.readiness.clusters]
  kubeconfigs:
    description:
      - Kubeconfig files whose contexts become clusters. C(~) is expanded; a relative path is taken from the
        directory of the inventory file.
      - Only the clusters and contexts sections are read; credentials stay in the file and are used by the
        playbooks' modules through C(kubecompass_kubeconfig) and C(kubecompass_context).
    type: list
    elements: path
    default: []
  contexts:
    description:
      - Shell-style globs on context names; when given, only matching contexts of O(kubeconfigs) are added.
    type: list
    elements: str
    default: []
  distributions:
    description:
      - Declares the distribution of kubeconfig contexts the kubeconfig cannot tell, as a mapping of a context
        name glob to one of C(kubeadm), C(rke2), C(k3s), C(eks), C(gke), C(aks). The first matching glob wins.
    type: dict
    default: {}
  aws:
    description:
      - EKS clusters to discover, through the standard AWS credential chain (C(AWS_*) variables, profiles).
    type: dict
    suboptions:
      regions:
        description: Regions to list clusters in (EKS lists per region).
        type: list
        elements: str
        required: true
      endpoint_url:
        description:
          - EKS API endpoint override - https under C(amazonaws.com), C(amazonaws.com.cn) or C(api.aws) (any other
            https host needs O(aws.allow_custom_endpoint)), or http on a loopback address for test fakes, which get
            no credentials.
        type: str
      allow_custom_endpoint:
        description:
          - Send the AWS credentials to an O(aws.endpoint_url) that is not under the AWS domains (a private or proxy endpoint).
            Without it such an endpoint fails the source before any client exists. http stays refused off loopback.
        type: bool
        default: false
      profile:
        description: AWS profile to use; it is also put into each cluster's C(kubecompass_provider).
        type: str
  gcp:
    description:
      - GKE clusters to discover, through Application Default Credentials (C(GOOGLE_APPLICATION_CREDENTIALS)).
    type: dict
    suboptions:
      projects:
        description: Project IDs to list clusters in.
        type: list
        elements: str
        required: true
      locations:
        description: Locations to list (C(-) is every location of the project).
        type: list
        elements: str
        default: ["-"]
      endpoint_url:
        description:
          - GKE API endpoint override - https under C(googleapis.com) (any other https host needs
            O(gcp.allow_custom_endpoint)), or http on a loopback address for test fakes, which get no credentials.
        type: str
      allow_custom_endpoint:
        description:
          - Send the Google credentials to an O(gcp.endpoint_url) that is not under C(googleapis.com) (a private or proxy endpoint).
            Without it such an endpoint fails the source before any client exists. http stays refused off loopback.
        type: bool
        default: false
  azure:
    description:
      - AKS clusters to discover, through the Azure credential chain (C(AZURE_CLIENT_ID), C(AZURE_TENANT_ID),
        C(AZURE_CLIENT_SECRET), managed identity, Azure CLI).
    type: dict
    suboptions:
      subscriptions:
        description: Subscription IDs to list clusters in.
        type: list
        elements: str
        required: true
      endpoint_url:
        description:
          - Azure Resource Manager endpoint override - https under C(management.azure.com),
            C(management.chinacloudapi.cn) or C(management.usgovcloudapi.net) (any other https host needs
            O(azure.allow_custom_endpoint)), or http on a loopback address for test fakes, which get no credentials.
        type: str
      monitor_endpoint_url:
        description: Azure Monitor endpoint override (diagnostic settings), same rules as O(azure.endpoint_url).
        type: str
      allow_custom_endpoint:
        description:
          - Send the Azure credentials to an O(azure.endpoint_url) that is not under the Azure Resource Manager domains (a private or proxy endpoint).
            Without it such an endpoint fails the source before any client exists. http stays refused off loopback.
        type: bool
        default: false
  tier_label:
    description:
      - The tag or label whose value is the cluster's tier (C(critical), C(important), C(best_effort); also
        C(best-effort), any case).
      - A value that is not a tier is a warning naming the cluster, and C(kubecompass_tier) keeps the raw value,
        so the playbooks stop on it as bad input (O(default_tier) does not hide it).
    type: str
    default: kubecompass.io/tier
  tier_label_gcp:
    description:
      - The label read for the tier when O(tier_label) is absent; GKE label keys cannot contain C(/) or C(.).
    type: str
    default: kubecompass-tier
  default_tier:
    description: The tier of clusters without a tier label (kubeconfig contexts have none).
    type: str
    choices: [critical, important, best_effort]
  group:
    description: The group every cluster joins; the collection's playbooks target C(k8s_clusters).
    type: str
    default: k8s_clusters
notes:
  - The file name must end in C(clusters.yml) or C(clusters.yaml).
  - 'Cluster hosts run on the controller. Point C(ansible_python_interpreter) at a Python with the collection''s
    requirements, for example C(ansible_python_interpreter: "{{ ansible_playbook_python }}") in
    C(group_vars/k8s_clusters.yml) next to the inventory file.'
"""

EXAMPLES = r"""
# inventory/kubeconfig.clusters.yml: every context of two kubeconfigs, production contexts critical
plugin: kubecompass.readiness.clusters
kubeconfigs:
  - ~/.kube/config
  - /etc/kubecompass/edge.kubeconfig
contexts: ["prod-*", "edge-*", "arn:aws:eks:*"]
distributions:
  "edge-*": rke2
default_tier: important
compose:
  kubecompass_tier: "'critical' if (kubecompass_context | default('')).startswith('prod-') else kubecompass_tier"

---
# inventory/cloud.clusters.yml: every EKS, GKE and AKS cluster of the accounts, grouped by tier too;
# the tier comes from the tag kubecompass.io/tier (GKE label kubecompass-tier)
plugin: kubecompass.readiness.clusters
aws:
  regions: [eu-west-1, us-east-1]
  profile: audit
gcp:
  projects: [example-analytics]
azure:
  subscriptions: [00000000-0000-0000-0000-000000000000]
kubeconfigs: [~/.kube/config]   # contexts of the same clusters are merged into their hosts
default_tier: best_effort
keyed_groups:
  - key: kubecompass_tier
    prefix: tier
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/kubecompass-inventory
cache_timeout: 3600

# Then: ansible-playbook kubecompass.readiness.assess -i inventory/cloud.clusters.yml --check
"""

import os

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._providers import discovery


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """One host per Kubernetes cluster, from kubeconfig contexts and provider accounts."""

    NAME = "kubecompass.readiness.clusters"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(("clusters.yml", "clusters.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            accounts = discovery.accounts_from_options(self.get_option("aws"), self.get_option("gcp"),
                                                       self.get_option("azure"))
            settings = {"group": self.get_option("group"), "default_tier": self.get_option("default_tier"),
                        "tier_labels": [self.get_option("tier_label"), self.get_option("tier_label_gcp")],
                        "distributions": discovery.validate_distributions(self.get_option("distributions"))}
        except KubeCompassError as exc:
            raise AnsibleParserError("%s: %s" % (path, exc)) from None
        contexts = self._contexts(os.path.dirname(os.path.abspath(path)))
        discovered = self._discovered(accounts, self.get_cache_key(path), cache) if accounts else []
        hosts, warnings = discovery.assemble(contexts, discovered, settings)
        for warning in warnings:
            self.display.warning(warning)
        for host in hosts:
            self._add(host)

    def _contexts(self, base_dir):
        contexts = []
        for configured in self.get_option("kubeconfigs") or []:
            kubeconfig = discovery.resolve_path(configured, base_dir)
            try:
                contexts += discovery.contexts_of(discovery.read_kubeconfig(kubeconfig), kubeconfig,
                                                  self.get_option("contexts") or [])
            except KubeCompassError as exc:
                self.display.warning("%s; no cluster added from it" % exc)
        return contexts

    def _discovered(self, accounts, cache_key, cache):
        """Provider listings, from the cache when it is on, valid and written for the same accounts."""
        use_cache = bool(self.get_option("cache"))
        accounts_key = discovery.accounts_cache_key(accounts)
        if use_cache and cache:
            try:
                cached = self._cache[cache_key]
            except KeyError:
                cached = None
            if isinstance(cached, dict) and cached.get("accounts") == accounts_key:
                return cached["clusters"]
        entries, warnings, complete = discovery.discover(accounts)
        for warning in warnings:
            self.display.warning(warning)
        if use_cache and complete:
            self._cache[cache_key] = {"accounts": accounts_key, "clusters": entries}
        return entries

    def _add(self, host):
        name = host["name"]
        self.inventory.add_host(name)
        for group in host["groups"]:
            self.inventory.add_child(self.inventory.add_group(group), name)
        # Kubeconfig and provider values (tags especially) are data, never templates.
        for key, value in host["vars"].items():
            self.inventory.set_variable(name, key, wrap_var(value))
        strict = self.get_option("strict")
        self._set_composite_vars(self.get_option("compose"), self.inventory.get_host(name).get_vars(), name, strict)
        host_vars = self.inventory.get_host(name).get_vars()
        self._add_host_to_composed_groups(self.get_option("groups"), host_vars, name, strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, name, strict)
