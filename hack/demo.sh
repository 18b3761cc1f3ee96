#!/usr/bin/env bash
# Set everything up, start the local control plane (KUBECOMPASS_NODES=1|3, default 3) and run the main job
# against it through its generated inventory: identify the cluster, assess it in check mode and print the
# Markdown summary, remediate its control plane (audit logging, hardening, encryption at rest; one node at a
# time) and its cluster objects (Pod Security labels, namespace guardrails, the RBAC report; network policies,
# disruption budgets, etcd snapshots and Velero schedules are opt-in), then assess again. The gates failing (the
# local control plane starts with kubeadm defaults and has no Velero) is the expected outcome, not an error of
# this script; a failing remediation is.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
.venv/bin/python tests/cluster/localcp.py up --nodes "${KUBECOMPASS_NODES:-3}"
inventory=$(.venv/bin/python tests/cluster/localcp.py env | sed -n 's/^export KUBECOMPASS_INVENTORY=//p')
reports=${KUBECOMPASS_REPORT_DIR:-$PWD/kubecompass-reports}
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
.venv/bin/ansible-playbook -i "$inventory" kubecompass.readiness.cluster_info
assess() {
  set +e
  .venv/bin/ansible-playbook -i "$inventory" kubecompass.readiness.assess --check -e "kubecompass_report_dir=$1"
  gate=$?
  set -e
  [ -f "$1/kubecompass-report.md" ] || { echo "the assessment wrote no report (exit $gate)" >&2; exit "$gate"; }
  echo
  cat "$1/kubecompass-report.md"
  echo
  echo "Reports: $1 (JSON, JUnit, SARIF, Markdown). Gate exit status: $gate."
}
assess "$reports/before"
.venv/bin/ansible-playbook -i "$inventory" kubecompass.readiness.remediate
assess "$reports/after"
echo "The local control plane keeps running: .venv/bin/python tests/cluster/localcp.py status | down"
