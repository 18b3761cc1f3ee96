#!/usr/bin/env bash
# Set everything up and run the whole test suite: unit, integration (on the real local control plane),
# lint, ansible-test sanity, and the built collection artifact. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
exec .venv/bin/python -m pytest "$@"
