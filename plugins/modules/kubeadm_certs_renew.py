#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: kubeadm_certs_renew
short_description: Renew the kubeadm certificates of one control-plane node that expire soon
version_added: 0.1.0
description:
  - Runs on one kubeadm control-plane node (over SSH, as root). Reads the node's certificates (kubeadm's PKI and
    the client certificates of admin.conf, super-admin.conf, controller-manager.conf and scheduler.conf) and runs
    C(kubeadm certs renew <name>) for each one with fewer than O(within_days) days left. CAs are never renewed
    (kubeadm cannot); kubelet.conf is the kubelet's to rotate.
  - Before renewing it copies the files it replaces into O(backup_dir) (a 0700 directory, keys 0600); when that
    fails nothing is renewed. After renewing it reads the certificates again and fails naming any still due.
  - Returns in RV(restart) the static pods that must restart to load renewed certificates (kube-apiserver,
    kube-controller-manager, kube-scheduler), each with the digest of its certificates' fingerprints, for the pod
    annotation C(checksum.kubecompass.io/certificates) (see M(kubecompass.readiness.static_pod_manifest)); a
    component whose annotation differs from its certificates on disk (renewed by hand, or an earlier restart
    rolled back) is named too. etcd reads its certificate files on every connection and is not restarted.
  - Before kubeadm runs, the components the renewal owes a restart are recorded in
    C(pending-certificate-restarts.json) under O(backup_dir); a run killed before the restarts names them again
    until each pod's annotation matches its certificates on disk.
  - In check mode it changes nothing and returns what it would renew and restart. A second run after a renewal
    and the restarts changes nothing.
  - Returns names, dates and digests only; no file content, no key, no kubeadm output.
author:
  - KubeCompass contributors (@kubecompass)
requirements:
  - kubeadm and PyYAML on the node.
options:
  within_days:
    description: Renew certificates with fewer days left than this.
    type: int
    default: 30
  kubeadm:
    description: The kubeadm binary (same minor version as the cluster).
    type: path
    default: kubeadm
  config:
    description:
      - A kubeadm configuration file for C(--config); without it kubeadm reads kube-system/kubeadm-config
        through /etc/kubernetes/admin.conf.
    type: path
  backup_dir:
    description: Where the replaced files are copied first.
    type: path
    default: /var/lib/kubecompass/backups
  node_name:
    description: Name of this node in messages (normally C(inventory_hostname)); defaults to the host name.
    type: str
"""

EXAMPLES = r"""
- name: Renew the certificates with less than 30 days left
  kubecompass.readiness.kubeadm_certs_renew:
    within_days: 30
  register: renewal
"""

RETURN = r"""
due:
  description: The certificates due for renewal, with the days they had left.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "apiserver", "days_left": 9.9}]
renewed:
  description: The certificates renewed (empty in check mode).
  returned: always
  type: list
  elements: str
  sample: ["apiserver"]
restart:
  description: The components to restart, each with the annotation value of its certificates.
  returned: always
  type: dict
  sample: {"kube-apiserver": "0f3c3f1ec0c1ad2c"}
problems:
  description: Certificates that could not be read (not renewed), naming the path and the cause.
  returned: always
  type: list
  elements: str
backup:
  description: The backup directory of this renewal.
  returned: when a certificate was renewed
  type: str
"""

import datetime
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._control_plane import certificate_renewal
from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.certificates import read_node_certificates


def main():
    module = AnsibleModule(
        argument_spec={
            "within_days": {"type": "int", "default": 30},
            "kubeadm": {"type": "path", "default": "kubeadm"},
            "config": {"type": "path"},
            "backup_dir": {"type": "path", "default": "/var/lib/kubecompass/backups"},
            "node_name": {"type": "str"},
        },
        supports_check_mode=True,
    )
    if certificate_renewal.yaml is None:
        module.fail_json(msg="PyYAML is required on the node")
    params = module.params
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        result = certificate_renewal.renew_node(
            lambda: read_node_certificates("/", "kubeadm")["entries"],
            lambda argv: module.run_command(argv, check_rc=False),
            now, params["within_days"], params["kubeadm"], params["config"], params["backup_dir"],
            now.strftime("%Y%m%dT%H%M%S.%fZ"), module.check_mode)
    except KubeCompassError as exc:
        module.fail_json(msg="%s: %s" % (params["node_name"] or os.uname()[1], exc), category=exc.category)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
