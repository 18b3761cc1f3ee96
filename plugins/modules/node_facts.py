#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) KubeCompass contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: node_facts
short_description: Read the control-plane facts of one self-managed Kubernetes node (kubeadm, RKE2, k3s)
version_added: 0.1.0
description:
  - Runs on a control-plane node (over SSH, as root) and reports what the assessment needs from the node itself,
    in the node facts schema the readiness engine consumes.
  - The configured kube-apiserver flags, from the static pod manifest C(/etc/kubernetes/manifests/kube-apiserver.yaml)
    (kubeadm) or from C(/etc/rancher/rke2/config.yaml) / C(/etc/rancher/k3s/config.yaml) and their C(config.yaml.d)
    drop-ins merged in lexical order (a key ending in C(+) appends to the list), plus the distribution's built-in
    defaults.
  - The flags of the running C(kube-apiserver) process, from C(/proc/<pid>/cmdline) (kubeadm and RKE2; k3s runs
    the apiserver inside its own process and has none).
  - The audit policy, audit log, and encryption configuration the apiserver points at, with the owner, group and
    mode of those files and of the manifests, config files and PKI directories. Static pod paths are translated
    to host paths through the manifest's volume mounts.
  - A sample of raw Secret values read from etcd's JSON gateway with the node's etcd client certificate, reduced
    to the prefix that tells whether and how each value is encrypted; and the etcd snapshot files on the node.
  - The flags of kube-controller-manager and kube-scheduler, from their running processes and static pod
    manifests.
  - The kubelet's audited flags and KubeletConfiguration keys (see RV(facts.kubelet)).
  - The validity of the node's control-plane certificates (kubeadm's PKI and kubeconfig client certificates,
    RKE2/k3s TLS directories) and the certificates its apiserver and etcd serve over TLS.
  - Read-only. Key material never leaves the node; encryption keys are reported by name only, raw etcd values
    by their prefix class only, config files by the flags derived from them.
  - A missing file is reported as a fact (C(exists=false)). A file that cannot be read or parsed, an etcd that
    cannot be reached, and similar problems are listed in RV(facts.errors); the module itself does not fail on
    them.
author:
  - KubeCompass contributors (@kubecompass)
requirements:
  - PyYAML on the node (to read YAML manifests and config files).
options:
  distribution:
    description: The node's Kubernetes distribution, which decides where its configuration lives.
    type: str
    required: true
    choices: [kubeadm, rke2, k3s]
  etcd_sample_size:
    description:
      - How many Secret values to read from etcd and classify. C(0) skips the etcd sample (RV(facts.etcd_sample)
        is then null).
      - The total number of Secret keys is always counted with a separate count-only request.
    type: int
    default: 20
  etcd_endpoint:
    description:
      - etcd client URL to read from, for example C(https://127.0.0.1:2379).
      - By default the first URL of the apiserver's C(--etcd-servers) flag.
    type: str
  snapshot_dirs:
    description:
      - Directories holding etcd snapshot files.
      - By default C(/var/backups/kubecompass/etcd) on kubeadm, and the C(etcd-snapshot-dir) option or
        C(<data-dir>/server/db/snapshots) on RKE2 and k3s.
    type: list
    elements: path
  audit_log_tail_bytes:
    description: How many bytes at the end of the audit log are read to find the time of the last event.
    type: int
    default: 65536
extends_documentation_fragment:
  - kubecompass.readiness.attributes
  - kubecompass.readiness.attributes.INFO_MODULE
notes:
  - Needs root on the node to read the PKI, the encryption configuration and C(/proc) of the apiserver.
  - etcd is only read (C(/v3/kv/range)); the etcd revision does not change.
  - On k3s with its default SQLite datastore (kine) there is no etcd to sample; C(facts.etcd_sample.error) says so.
"""

EXAMPLES = r"""
- name: Gather control-plane facts from every kubeadm control-plane node
  kubecompass.readiness.node_facts:
    distribution: kubeadm
  become: true
  register: node

- name: Show where the apiserver's flags came from and whether audit events are being written
  ansible.builtin.debug:
    msg: >-
      {{ node.facts.apiserver.source }}: last audit event
      {{ (node.facts.audit_log or {}).last_event_time | default('none', true) }}

- name: RKE2 with a larger etcd sample and snapshots kept on a separate disk
  kubecompass.readiness.node_facts:
    distribution: rke2
    etcd_sample_size: 100
    snapshot_dirs:
      - /srv/etcd-snapshots
  become: true

- name: k3s with embedded etcd listening on a specific address
  kubecompass.readiness.node_facts:
    distribution: k3s
    etcd_endpoint: https://10.0.0.11:2379
  become: true
"""

RETURN = r"""
facts:
  description: Facts of this control-plane node, in the node facts schema.
  returned: success
  type: dict
  contains:
    distribution:
      description: The distribution the facts were read for.
      type: str
      sample: kubeadm
    apiserver:
      description: kube-apiserver flags, C(--name=value) as C(name) -> C(value) and bare flags as C(true).
      type: dict
      contains:
        source:
          description: The file or files the configured flags came from (and the built-in defaults on RKE2/k3s).
          type: str
          sample: /etc/kubernetes/manifests/kube-apiserver.yaml
        flags:
          description:
            - Configured flags. The last occurrence of a flag wins, except list flags
              (C(enable-admission-plugins), C(authorization-mode), ...) whose repeats are joined with commas.
          type: dict
          sample: {"authorization-mode": "Node,RBAC", "audit-log-maxage": "30"}
        running_flags:
          description: Flags of the running C(kube-apiserver) process, or null when none runs on the node.
          type: dict
          sample: {"authorization-mode": "Node,RBAC"}
    etcd_flags:
      description:
        - Configured etcd flags (kubeadm C(etcd.yaml) manifest; C(etcd-arg) on RKE2/k3s), or null without
          a local etcd.
      type: dict
      sample: {"data-dir": "/var/lib/etcd", "client-cert-auth": "true"}
    controller_manager:
      description:
        - C(kube-controller-manager) flags, read like C(apiserver)'s. C(source) is the static pod manifest
          (kubeadm C(/etc/kubernetes/manifests), RKE2 C(<data-dir>/agent/pod-manifests)); C(flags) its flags, or
          null when it is missing or unreadable; C(running_flags) those of the running process (null when none
          runs); C(missing) says why there are no configured flags (k3s runs the component inside its own
          process, whose flags are not read).
      type: dict
      sample: {"source": "/etc/kubernetes/manifests/kube-controller-manager.yaml", "missing": null,
               "flags": {"bind-address": "127.0.0.1"}, "running_flags": {"bind-address": "127.0.0.1"}}
    scheduler:
      description: C(kube-scheduler) flags, in the shape of C(controller_manager).
      type: dict
      sample: {"source": "/etc/kubernetes/manifests/kube-scheduler.yaml", "missing": null,
               "flags": {"profiling": "false"}, "running_flags": {"profiling": "false"}}
    files:
      description: Per host path, C(exists), C(mode) (for example C(0600)), C(owner), C(group), C(size), C(mtime).
      type: dict
      sample: {"/etc/kubernetes/manifests/kube-apiserver.yaml": {"exists": true, "mode": "0600", "owner": "root",
               "group": "root", "size": 4211, "mtime": "2026-11-22T02:10:06Z"}}
    audit_policy:
      description:
        - Summary of the file C(--audit-policy-file) points at, or null when the flag is not set.
        - C(catch_all_level) is the level of the first rule that matches every request (the effective one).
        - C(secrets_level) is the most detailed level any request on core Secrets gets under first-match
          semantics (C(None) when some Secrets requests match no rule and nothing more detailed applies).
      type: dict
      sample: {"path": "/etc/kubernetes/audit/policy.yaml", "exists": true, "valid": true, "error": null,
               "rule_count": 4, "levels": ["None", "Metadata", "RequestResponse"],
               "catch_all_level": "RequestResponse", "omit_stages": ["RequestReceived"],
               "secrets_level": "Metadata"}
    audit_log:
      description:
        - The log file C(--audit-log-path) points at (host path), or null when the flag is not set.
        - C(last_event_time) comes from the last complete JSON event in the file's tail.
      type: dict
      sample: {"path": "/var/log/kubernetes/audit/audit.log", "exists": true, "size": 1048576,
               "mtime": "2026-11-22T03:00:00Z", "last_event_time": "2026-11-22T02:59:59.123456Z", "error": null}
    encryption_config:
      description:
        - Summary of the file C(--encryption-provider-config) points at, or null when the flag is not set.
        - Providers are in the configured order (the first encrypts writes); keys appear by name only.
      type: dict
      sample: {"path": "/etc/kubernetes/pki/encryption.yaml", "exists": true, "valid": true, "error": null,
               "resources": [{"resources": ["secrets"], "providers": [
                 {"type": "aescbc", "key_names": ["key1"], "kms_api_version": null},
                 {"type": "identity", "key_names": [], "kms_api_version": null}]}]}
    authentication_config:
      description:
        - Summary of the file C(--authentication-config) points at, or null when the flag is not set.
        - C(anonymous) says whether the file configures anonymous access, whether it is enabled, and the paths it
          is limited to (null means every path).
      type: dict
      sample: {"path": "/etc/kubernetes/authentication.yaml", "exists": true, "valid": true, "error": null,
               "anonymous": {"configured": true, "enabled": true, "paths": ["/healthz", "/livez", "/readyz"]}}
    etcd_sample:
      description:
        - Raw Secret values read from etcd, classified by prefix as C(plaintext),
          C(k8s:enc:<provider>:v1:<key name>), C(k8s:enc:kms:v2:<name>) or C(unknown). Null when
          O(etcd_sample_size=0).
      type: dict
      sample: {"endpoint": "https://127.0.0.1:2379", "error": null, "total_keys": 42, "sampled": 2,
               "prefixes": [{"key": "/registry/secrets/default/app", "encoding": "k8s:enc:aescbc:v1:key1"},
                            {"key": "/registry/secrets/default/old", "encoding": "plaintext"}]}
    etcd_snapshots:
      description: Snapshot files found in the snapshot directories and the newest of them.
      type: dict
      sample: {"dirs": ["/var/lib/rancher/rke2/server/db/snapshots"], "count": 5,
               "newest": {"path": "/var/lib/rancher/rke2/server/db/snapshots/etcd-snapshot-cp1-1763780400",
                          "mtime": "2026-11-22T03:00:00Z", "size": 20971552}}
    certificates:
      description:
        - The node's certificates, public facts only (private keys are never read into the facts; from a PEM
          bundle such as C(kubelet-client-current.pem) only the CERTIFICATE block is decoded).
        - On kubeadm every certificate C(kubeadm certs check-expiration) lists, under its names (C(ca), C(etcd-ca),
          C(front-proxy-ca), C(apiserver), ..., C(admin.conf), C(super-admin.conf), C(controller-manager.conf),
          C(scheduler.conf)), plus the client certificate of C(kubelet.conf); on RKE2/k3s every C(*.crt) in
          C(<data-dir>/server/tls) and C(tls/etcd), named by their path below C(tls) without C(.crt).
        - C(missing) is true for a file that does not exist (C(super-admin.conf) on joined nodes); C(error) names
          why a file could not be read or parsed.
      type: dict
      sample: {"dirs": ["/etc/kubernetes/pki", "/etc/kubernetes/pki/etcd", "/etc/kubernetes"], "entries": [
               {"name": "apiserver", "path": "/etc/kubernetes/pki/apiserver.crt", "source": "file", "missing": false,
                "error": null, "not_before": "2026-11-22T02:05:00Z", "not_after": "2027-11-22T02:10:00Z",
                "is_ca": false, "subject_cn": "kube-apiserver", "issuer_cn": "kubernetes",
                "sha256": "9f2c..."}]}
    serving_certificates:
      description:
        - The certificate the node's kube-apiserver (its C(--tls-cert-file), at its bind or advertise address and
          C(--secure-port)) and its local etcd (C(--cert-file), at its client URL, with the etcd client certificate
          the sample uses) serve over TLS, compared with the file on disk by SHA-256 fingerprint.
        - C(matches) is null and C(error) says why when either side could not be read (no apiserver process, k3s,
          connection refused).
      type: list
      elements: dict
      sample: [{"component": "kube-apiserver", "endpoint": "198.51.100.1:6443",
                "path": "/etc/kubernetes/pki/apiserver.crt", "matches": false, "error": null,
                "served": {"not_after": "2026-12-01T00:00:00Z", "sha256": "1a0b..."},
                "on_disk": {"not_after": "2027-12-01T00:00:00Z", "sha256": "9f2c..."}}]
    file_modes:
      description:
        - Mode and ownership of the files the CIS benchmark audits (cis-1.11 1.1.1-1.1.21, 4.1.5-4.1.10), per target
          (C(apiserver_manifest), C(etcd_data_dir), C(pki_keys), C(kubelet_config), ...). C(entries) lists each
          path (the PKI trees expanded on the node, as C(find) lists them) with C(exists), C(mode), C(owner),
          C(group), C(uid), C(gid); C(error) when it could not be read (also in C(errors)); C(optional) for a file
          only some nodes have (super-admin.conf). C(not_applicable) gives the reason a target does not exist on
          this distribution (k3s has no pod specification files).
      type: dict
      sample: {"apiserver_manifest": {"entries": [{"path": "/etc/kubernetes/manifests/kube-apiserver.yaml",
               "exists": true, "mode": "0600", "owner": "root", "group": "root", "uid": 0, "gid": 0}]},
               "kubelet_config": {"not_applicable": "rke2 configures the kubelet with flags ..."}}
    kubelet:
      description:
        - How the node's kubelet is configured, for the CIS 4.2 items. C(flags) are the audited flags of the running
          kubelet process (C(/proc/<pid>/cmdline)), else of the command line systemd would start from
          kubelet.service, its drop-ins and their environment files (kubeadm's C(kubeadm-flags.env),
          C(/etc/default/kubelet)); C(source) says which.
        - C(config) holds the audited keys of the KubeletConfiguration named by C(--config), with the C(--config-dir)
          drop-ins merged over it (C(config_files)); other keys are not reported. C(missing) says why the settings
          cannot be judged (no kubelet, a config file that cannot be read).
      type: dict
      sample: {"source": "running kubelet process", "flags": {"config": "/var/lib/kubelet/config.yaml"},
               "config_files": ["/var/lib/kubelet/config.yaml"],
               "config": {"authentication.anonymous.enabled": false, "authorization.mode": "Webhook"},
               "missing": null}
    errors:
      description: What could not be read, each with the cause; empty when everything was read.
      type: list
      elements: dict
      sample: [{"what": "etcd sample from https://127.0.0.1:2379", "cause": "cannot reach ...: timed out"}]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubecompass.readiness.plugins.module_utils._node.files import HAS_YAML, YAML_IMPORT_ERROR
from ansible_collections.kubecompass.readiness.plugins.module_utils._node.gather import gather_node_facts
from ansible_collections.kubecompass.readiness.plugins.module_utils._k8s.vocabulary import SELF_MANAGED


def argument_spec():
    return {
        "distribution": {"type": "str", "required": True, "choices": list(SELF_MANAGED)},
        "etcd_sample_size": {"type": "int", "default": 20},
        "etcd_endpoint": {"type": "str"},
        "snapshot_dirs": {"type": "list", "elements": "path"},
        "audit_log_tail_bytes": {"type": "int", "default": 65536},
    }


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=str(YAML_IMPORT_ERROR))
    params = module.params
    if params["etcd_sample_size"] < 0:
        module.fail_json(msg="etcd_sample_size must be 0 (no sample) or more, got %d" % params["etcd_sample_size"])
    if params["audit_log_tail_bytes"] < 1:
        module.fail_json(msg="audit_log_tail_bytes must be at least 1, got %d" % params["audit_log_tail_bytes"])
    facts = gather_node_facts(
        params["distribution"],
        etcd_sample_size=params["etcd_sample_size"],
        etcd_endpoint=params["etcd_endpoint"],
        snapshot_dirs=params["snapshot_dirs"],
        audit_log_tail_bytes=params["audit_log_tail_bytes"],
    )
    module.exit_json(changed=False, facts=facts)


if __name__ == "__main__":
    main()
