#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: encryption_key_escrow
short_description: Escrow the encryption keys of Secrets at rest on the controller before their first use
version_added: 0.1.0
description:
  - An action that runs on the controller. Adds keys to the cluster's escrow record and never removes or replaces
    one, so every etcd snapshot taken under any key the collection ever wrote stays readable.
  - C(vault_file) keeps the record in an Ansible-Vault-encrypted file (the play's vault secret, 0600, written
    atomically); C(command) runs a user-named program (no shell) with the record as JSON on stdin, and a non-zero
    exit fails the task.
  - Keys are recorded by storage label (provider and name, for example C(k8s:enc:secretbox:v1:key1)), as one name may
    be a key of two providers. Records written by earlier versions (keys by name) are read.
  - The record also holds the rotation target in progress (name and fingerprint) and, per retired key, the
    snapshots that existed when it was retired.
  - Fails closed. Run it before any node receives a key and stop when it fails.
author:
  - KubeCompass contributors (@kubecompass)
options:
  cluster:
    description: The cluster the record belongs to (a record of another cluster is refused).
    type: str
    required: true
  mode:
    description: Where the record goes.
    type: str
    choices: [vault_file, command]
    default: vault_file
  path:
    description: The vault-encrypted record file (with O(mode=vault_file)).
    type: path
  command:
    description: Program and arguments receiving the record on stdin (with O(mode=command)).
    type: list
    elements: str
  command_timeout:
    description: Seconds the command may take.
    type: int
    default: 60
  keys:
    description: Keys to escrow, as RV(kubecompass.readiness.encryption_plan#module:escrow_keys).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The key's name in the EncryptionConfiguration.
        type: str
        required: true
      provider:
        description: The keyed provider the key belongs to.
        type: str
        required: true
        choices: [secretbox, aescbc, aesgcm]
      fingerprint:
        description: The key's fingerprint (tells keys apart without their material).
        type: str
        required: true
      secret:
        description: The key material (base64).
        type: str
        required: true
  rotation_target:
    description: The rotation target to record, as RV(kubecompass.readiness.encryption_plan#module:target_key).
    type: dict
    suboptions:
      name:
        description: The target key's name.
        type: str
        required: true
      fingerprint:
        description: The target key's fingerprint.
        type: str
        required: true
      provider:
        description: The target key's provider (not recorded).
        type: str
      label:
        description: The target key's storage label (not recorded).
        type: str
  retired_keys:
    description: Per retired key, the snapshots that may need it (RV(kubecompass.readiness.encryption_plan#module:retired_keys)).
    type: dict
  read_only:
    description: Only read the record back (C(command) mode returns O(escrowed), or an empty record).
    type: bool
    default: false
  escrowed:
    description:
      - What is already escrowed, without key material (RV(escrow) of an earlier run, as the role keeps it on every
        node). In C(command) mode, which cannot read its escrow back, the command runs only when a key (same name
        and fingerprint), the rotation target or the retired keys differ from it, and RV(escrow) adds its keys.
    type: dict
  node_records:
    description:
      - With O(read_only), per node the record it keeps (RV(escrow) of an earlier run) as M(ansible.builtin.slurp)
        returns it (C(content) base64, C(source) the path). A damaged one fails naming the node and the path.
      - Their retired keys are united with the escrow's; the rotation target is the vault file's in C(vault_file)
        mode, and the nodes' in C(command) mode, where nodes that record different targets fail naming them.
    type: dict
    default: {}
extends_documentation_fragment:
  - kubecompass.readiness.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Escrow the keys before the step is applied
  kubecompass.readiness.encryption_key_escrow:
    cluster: "{{ inventory_hostname }}"
    path: "{{ playbook_dir }}/escrow/{{ inventory_hostname }}.vault.json"
    keys: "{{ encryption_step.escrow_keys }}"
    rotation_target: "{{ encryption_step.target_key }}"
  no_log: true
"""

RETURN = r"""
added:
  description: Storage labels of the keys this run added.
  returned: unless read_only
  type: list
  elements: str
escrow:
  description: The record without key material - per storage label the key's name, provider and fingerprint, the
    rotation target, the retired keys' snapshots. In C(command) mode also the keys O(escrowed) lists; with
    O(node_records) also what the nodes record.
  returned: success
  type: dict
path:
  description: The record file.
  returned: with mode vault_file
  type: str
"""
