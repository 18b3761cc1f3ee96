#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: etcd_snapshot_status
short_description: Check the newest etcd snapshot on a node - its age against the schedule and its integrity
version_added: 0.1.0
description:
  - Runs on an etcd node (over SSH, as root). Finds the newest snapshot in the snapshot directory (the regular files
    not starting with a dot, newest by modification time, as the assessment's node facts count them), checks the
    sha256 checksum etcd appends to every snapshot, and runs C(etcdutl snapshot status) on it for the revision,
    key count and hash.
  - With a cron O(schedule) (or O(max_age_minutes)) it also says whether the snapshot is fresh - younger than the
    longest gap of the schedule plus O(margin_minutes) - and returns the schedule's systemd C(OnCalendar=)
    equivalent.
  - On RKE2 and k3s it reads the distribution's own snapshot settings (C(etcd-snapshot-schedule-cron),
    C(etcd-snapshot-retention), C(etcd-snapshot-dir), C(etcd-disable-snapshots)) from C(config.yaml) and its
    drop-ins and checks the snapshots they produce; k3s on SQLite (kine) has no etcd and is reported as such.
  - Read-only. What it finds - no snapshot, a missing C(etcdutl), a failed check, a stale snapshot - is returned
    in RV(problems) with RV(healthy=false); the module fails only on bad input or a file it cannot read.
author:
  - KubeCompass contributors (@kubecompass)
options:
  dir:
    description:
      - The snapshot directory on the node.
      - Defaults to C(/var/backups/kubecompass/etcd) on kubeadm (where the etcd_snapshots role writes and the
        assessment looks) and to the distribution's C(etcd-snapshot-dir) on RKE2 and k3s.
      - On kubeadm it must be a normalised absolute path outside the directories kubelet reads
        (C(/etc/kubernetes/manifests), C(/var/lib/kubelet)) and outside etcd's data directory.
    type: path
  distribution:
    description: kubeadm, or rke2/k3s to read the distribution's own snapshot settings.
    type: str
    default: kubeadm
    choices: [kubeadm, rke2, k3s]
  etcdutl:
    description:
      - The C(etcdutl) binary on the node. etcd 3.4 and 3.5 without it - the path of C(etcdctl), whose
        C(snapshot status) takes the same arguments there (etcd 3.6 removed it from etcdctl).
    type: path
    default: /usr/local/bin/etcdutl
  require_status:
    description:
      - Whether a missing O(etcdutl) is a problem. RKE2 and k3s do not install it on the host; the checksum then
        verifies the snapshot alone.
    type: bool
    default: true
  checksum:
    description: Whether to check the sha256 checksum at the end of the snapshot (reads the whole file).
    type: bool
    default: true
  schedule:
    description:
      - The cron schedule (5 fields or a descriptor such as C(@daily)) snapshots are taken on. Defaults to the
        distribution's own schedule on RKE2 and k3s.
    type: str
  margin_minutes:
    description: Minutes a snapshot may be late beyond the longest gap of O(schedule) before it is stale.
    type: int
    default: 30
  max_age_minutes:
    description: How old the newest snapshot may be, instead of the schedule's gap plus margin.
    type: int
extends_documentation_fragment:
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.INFO_MODULE
notes:
  - Run it as root - snapshots are written 0600 root.
  - The checksum and C(snapshot status) read the whole snapshot; on a multi-gigabyte etcd this takes seconds.
"""

EXAMPLES = r"""
- name: Check the newest snapshot on every control-plane node
  kubecompass.readiness.etcd_snapshot_status:
    dir: /var/backups/kubecompass/etcd
    schedule: "0 */6 * * *"
  delegate_to: "{{ item }}"
  loop: "{{ groups['prod_eu_1_control_plane'] }}"
  register: snapshots

- name: Every node has a fresh, verified snapshot
  ansible.builtin.assert:
    that: snapshots.results | rejectattr('healthy') | list | length == 0
    fail_msg: "{{ snapshots.results | rejectattr('healthy') | map(attribute='message') | join(' | ') }}"

- name: What RKE2 takes on its own
  kubecompass.readiness.etcd_snapshot_status:
    distribution: rke2
    require_status: false
"""

RETURN = r"""
healthy:
  description: No problem found - a snapshot exists, it verified, and it is fresh when a schedule or maximum age
    was given. True for k3s on SQLite, which has no etcd.
  returned: always
  type: bool
problems:
  description: What is wrong, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["no etcd snapshot in /var/backups/kubecompass/etcd (the directory does not exist)"]
message:
  description: The problems joined, or a one-line summary of the newest snapshot.
  returned: always
  type: str
  sample: "newest snapshot /var/backups/kubecompass/etcd/etcd-snapshot-cp1-20261122T060000Z.db (12m ago, within
    6h30m, revision 48213, 1372 keys, hash 574507497, checksum ok); 4 in /var/backups/kubecompass/etcd"
dir:
  description: The snapshot directory looked at.
  returned: always
  type: str
dir_exists:
  description: Whether the directory exists.
  returned: always
  type: bool
count:
  description: Snapshot files in the directory.
  returned: always
  type: int
path:
  description:
    - The newest snapshot, or null when there is none.
    - Ansible adds that file's C(owner), C(group), C(mode), C(uid), C(gid) and C(state) to the result.
  returned: always
  type: str
mtime:
  description: When the newest snapshot was written (UTC, RFC 3339).
  returned: always
  type: str
  sample: "2026-11-22T06:00:04Z"
age:
  description: Seconds since the newest snapshot was written.
  returned: always
  type: int
size:
  description: Size of the snapshot file in bytes.
  returned: always
  type: int
revision:
  description: The etcd revision in the snapshot (from C(snapshot status)).
  returned: always
  type: int
total_keys:
  description: Keys in the snapshot (from C(snapshot status)).
  returned: always
  type: int
hash:
  description: The snapshot's hash as C(snapshot status) computes it (crc32 of its contents).
  returned: always
  type: int
db_size:
  description: Size of the database inside the snapshot (from C(snapshot status)).
  returned: always
  type: int
version:
  description: The etcd storage version of the snapshot (from C(snapshot status)).
  returned: always
  type: str
checksum:
  description: C(ok), C(mismatch), C(absent) (a copied C(member/snap/db) has none) or null when not checked.
  returned: always
  type: str
status_checked:
  description: Whether C(snapshot status) read the snapshot successfully.
  returned: always
  type: bool
verified:
  description: No integrity check failed and at least one (checksum, C(snapshot status)) passed.
  returned: always
  type: bool
schedule:
  description: The cron schedule the freshness was judged by (given, or the distribution's own).
  returned: always
  type: str
interval:
  description: The longest gap in seconds between two runs of the schedule.
  returned: always
  type: int
max_age:
  description: The age in seconds beyond which the newest snapshot is stale.
  returned: always
  type: int
fresh:
  description: Whether the newest snapshot is younger than RV(max_age); null without a schedule or maximum age.
  returned: always
  type: bool
on_calendar:
  description: The systemd C(OnCalendar=) expressions equivalent to O(schedule) (two when cron's day-of-month OR
    day-of-week rule applies).
  returned: always
  type: list
  elements: str
  sample: ["*-*-* 00,06,12,18:00:00"]
on_calendar_error:
  description: Why O(schedule) has no systemd equivalent, or null.
  returned: always
  type: str
etcdutl:
  description: The status tool used, or null when it is missing.
  returned: always
  type: str
builtin:
  description: RKE2/k3s only - the distribution's own snapshot settings, its datastore and the config files read.
  returned: always
  type: dict
  sample: {"datastore": "etcd", "schedule": "0 */12 * * *", "retention": 5, "disabled": false, "compress": false,
           "dir": "/var/lib/rancher/rke2/server/db/snapshots", "config_files": ["/etc/rancher/rke2/config.yaml"],
           "errors": []}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubecompass.readiness.plugins.module_utils._errors import KubeCompassError
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.snapshots import status
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SELF_MANAGED


def argument_spec():
    return {
        "dir": {"type": "path"},
        "distribution": {"type": "str", "default": "kubeadm", "choices": list(SELF_MANAGED)},
        "etcdutl": {"type": "path", "default": "/usr/local/bin/etcdutl"},
        "require_status": {"type": "bool", "default": True},
        "checksum": {"type": "bool", "default": True},
        "schedule": {"type": "str"},
        "margin_minutes": {"type": "int", "default": 30},
        "max_age_minutes": {"type": "int"},
    }


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = status(module.params, module.run_command)
    except KubeCompassError as exc:
        module.fail_json(msg=str(exc), category=exc.category)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
