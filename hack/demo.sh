#!/usr/bin/env bash
# Set everything up, start the local control plane (KUBECOMPASS_NODES=1|3, default 1) and run the main job
# against it through its generated inventory.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
.venv/bin/python tests/cluster/localcp.py up --nodes "${KUBECOMPASS_NODES:-1}"
inventory=$(.venv/bin/python tests/cluster/localcp.py env | sed -n 's/^export KUBECOMPASS_INVENTORY=//p')
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
.venv/bin/ansible-playbook -i "$inventory" kubecompass.readiness.cluster_info
echo "The local control plane keeps running: tests/cluster/localcp.py status | down"
