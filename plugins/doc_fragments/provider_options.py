# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The managed cluster a provider module works on; the same keys as the inventory's kubecompass_provider.
    DOCUMENTATION = r"""
options:
  cluster_name:
    description: Name of the cluster in messages (normally C(inventory_hostname)).
    type: str
    required: true
  distribution:
    description: The managed distribution; it must match the C(type) key of O(provider) when both are given.
    type: str
    choices: [eks, gke, aks]
  provider:
    description:
      - Where the cluster lives in the provider's API, normally C(kubecompass_provider) from the inventory (the
        inventory plugin P(kubecompass.readiness.clusters#inventory) sets it).
      - "EKS: C(name), C(region), optional C(profile). GKE: C(project), C(location), C(name). AKS:
        C(subscription_id), C(resource_group), C(name)."
      - All accept C(endpoint_url) (AKS also C(monitor_endpoint_url)), C(timeout_seconds) for each long-running
        update (default 1800) and C(poll_seconds) between polls (default 15).
      - "An endpoint override is checked before any client exists: http only on a loopback address (local fakes,
        which get no credentials); https under the provider's own domains (EKS C(amazonaws.com),
        C(amazonaws.com.cn), C(api.aws); GKE C(googleapis.com); AKS C(management.azure.com),
        C(management.chinacloudapi.cn), C(management.usgovcloudapi.net)); any other https host only with
        C(allow_custom_endpoint: true), since it receives the provider credentials."
      - Credentials come from each provider's standard chain, which is what AWX credential types inject. EKS -
        C(AWS_ACCESS_KEY_ID), C(AWS_SECRET_ACCESS_KEY), C(AWS_SESSION_TOKEN) or C(AWS_SECURITY_TOKEN), profiles,
        instance roles. GKE - C(GOOGLE_APPLICATION_CREDENTIALS) or AWX's C(GCE_CREDENTIALS_FILE_PATH), else
        application default credentials. AKS - C(AZURE_CLIENT_ID), C(AZURE_SECRET) and C(AZURE_TENANT) (AWX), else
        C(DefaultAzureCredential) (C(AZURE_CLIENT_SECRET), C(AZURE_TENANT_ID), managed identity, C(az login)).
    type: dict
    required: true
requirements:
  - "EKS: boto3"
  - "GKE: google-cloud-container"
  - "AKS: azure-identity, azure-mgmt-containerservice>=41,<42, azure-mgmt-monitor==6.0.2 (7.x has no diagnostic settings)"
notes:
  - Each provider's SDK is imported only for clusters of that provider; a missing one fails with the package name.
"""
