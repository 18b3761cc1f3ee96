#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: encryption_plan
short_description: Plan the next step of enabling or rotating encryption of Secrets at rest on every control-plane node
version_added: 0.1.0
description:
  - An action that runs on the controller and changes nothing. From the encryption configuration of every
    control-plane node (read by M(kubecompass.readiness.encryption_state)) and a complete etcd scan, it derives
    where the rotation stands and the next step of the upstream two-phase procedure - add the target key second on
    every node, promote it first on every node, rewrite every Secret, drop what no stored object uses any more.
  - State comes only from the node files and etcd, so a rerun after an interruption continues where the last run
    stopped. A key already on some node is read back, never generated twice. A new key is generated on the
    controller with the operating system's CSPRNG.
  - No step yields a configuration that lacks a key some stored object may be written with. Nodes that disagree
    are aligned on the most advanced safe configuration first; where no step is safe (same key name with different
    material, Secrets no node can decrypt), the plan is C(BLOCKED) with the reason.
  - RV(node_files) holds key material. Run the task with C(no_log=true) and print only RV(reason) and RV(state).
author:
  - KubeCompass contributors (@kubecompass)
options:
  nodes:
    description: Node name to the full text of its encryption configuration (null when it has none).
    type: dict
    required: true
  etcd_scan:
    description: RV(kubecompass.readiness.encryption_state#module:etcd_scan) of one node; needed before a key can be dropped.
    type: dict
  provider:
    description:
      - The provider new Secrets are written with.
      - Omitted, what writes on every node now is kept when it is strong (secretbox, aescbc, KMS v2), so a
        compliant cluster is never moved to another provider by default; secretbox when nothing encrypts.
        Naming another provider than the current one migrates every Secret to it.
      - C(kms) without O(kms_name) and O(kms_endpoint) keeps the KMS v2 provider in use.
    type: str
    choices: [secretbox, aescbc, kms]
  kms_name:
    description: Name of the KMS v2 provider (with O(provider=kms)).
    type: str
  kms_endpoint:
    description: The KMS v2 plugin's socket, for example C(unix:///var/run/kmsplugin/socket.sock).
    type: str
  kms_timeout:
    description: Timeout of KMS calls.
    type: str
    default: 3s
  rotate:
    description: Replace the key that writes now by a new one (otherwise a key of the wanted provider is kept).
    type: bool
    default: false
  drop_identity:
    description: Remove the trailing C(identity) provider once etcd holds no plaintext Secret.
    type: bool
    default: true
  resume_target:
    description:
      - The rotation target recorded when its key was escrowed (RV(target_key) of an earlier plan, C(name) and
        C(fingerprint)). While some node holds a key of that name it is resumed exactly, whatever the key names'
        order; the same name with other material is refused.
    type: dict
  snapshots:
    description:
      - Ids (for example C(node:/path/file)) of the etcd snapshots retained now. A retired key stays as a
        decrypt-only entry after the writer while a snapshot that existed when it was retired remains.
    type: list
    elements: str
    default: []
  snapshot_dirs_missing:
    description:
      - Configured snapshot directories that do not exist on a node, as C([node, directory]) pairs. Such a directory
        holds no snapshots, unless the escrow record lists snapshots in it that are found on no node (an unmounted
        volume may still hold them); then a step that drops their retired key fails naming the directory and the
        nodes (O(drop_keys_snapshots_need) drops it anyway).
    type: list
    elements: list
    default: []
  retired_keys:
    description: RV(retired_keys) as escrowed by the last run - per retired key's storage prefix, the snapshots that
      existed when it was retired.
    type: dict
    default: {}
  drop_keys_snapshots_need:
    description:
      - Drop retired keys even though retained snapshots need them; RV(unusable_snapshots) names the snapshots
        this makes unusable.
    type: bool
    default: false
extends_documentation_fragment:
  - kubecompass.readiness.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Plan the next encryption step (holds keys, never print it)
  kubecompass.readiness.encryption_plan:
    nodes: "{{ dict(encryption_nodes.results | map(attribute='item') | zip(encryption_nodes.results
               | map(attribute='config_text'))) }}"
    etcd_scan: "{{ encryption_nodes.results[0].etcd_scan }}"
    provider: secretbox
  register: encryption_step
  no_log: true
"""

RETURN = r"""
name:
  description: The step to take (C(add_new_key_second), C(promote_new_key), C(rewrite_secrets), C(drop_old_keys),
    C(align_nodes), C(none)).
  returned: success
  type: str
state:
  description: Where the rotation stands (C(NOT_ENCRYPTED), C(ADD_NEW_KEY_SECOND), C(PROMOTE), C(REWRITE),
    C(DROP_OLD_KEY), C(DONE), C(MIXED), C(BLOCKED)).
  returned: success
  type: str
reason:
  description: Why, in words, naming key names and counts but never key material.
  returned: success
  type: str
changed_nodes:
  description: Nodes whose configuration changes in this step.
  returned: success
  type: list
  elements: str
needs_rewrite:
  description: Whether every Secret must be rewritten through the API now.
  returned: success
  type: bool
expected_prefix:
  description: The storage prefix every Secret carries at the end (C(k8s:enc:secretbox:v1:<key name>)).
  returned: success
  type: str
target:
  description: Same as RV(expected_prefix).
  returned: success
  type: str
done:
  description: Every node has the final configuration and every Secret is under the target key.
  returned: success
  type: bool
blocked:
  description: No safe automatic step exists; RV(reason) says what an operator must do.
  returned: success
  type: bool
desired:
  description: Per node, the fingerprint and storage prefixes of the configuration it should have.
  returned: success
  type: dict
node_files:
  description: Per node, the full configuration text it should have. Holds key material.
  returned: success
  type: dict
target_key:
  description: Name, fingerprint, provider and storage prefix of the key the rotation ends with (null for KMS); record
    it and pass it as O(resume_target).
  returned: success
  type: dict
escrow_keys:
  description: Every key the nodes or the target hold (name, provider, fingerprint, secret), to escrow before the step
    is applied. Holds key material.
  returned: success
  type: list
  elements: dict
kept_for_snapshots:
  description: Storage prefixes of retired keys kept decrypt-only because a retained snapshot needs them.
  returned: success
  type: list
  elements: str
retired_keys:
  description: Per retired key kept, the snapshots that existed when it was retired; escrow it for the next run.
  returned: success
  type: dict
unusable_snapshots:
  description: With O(drop_keys_snapshots_need), per dropped key the retained snapshots that can no longer be read.
  returned: success
  type: dict
"""
