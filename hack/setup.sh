#!/usr/bin/env bash
# Install everything the demo and the test suite need on a fresh Debian machine. Idempotent; caches the
# Python environments (.venv, keyed on requirements-dev.txt; .venv/core-latest with the newest ansible-core) and
# the Go build of the control plane (~/.cache/kubecompass, keyed on tests/cluster/go.mod, go.sum and the Go version).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# 1. Debian packages: sshd for the control-plane nodes, HAProxy for the 3-node load balancer, ssh client
#    for Ansible, libfaketime for a skewed controller clock. Their services are kept from starting on the host:
#    the nodes run their own sshd.
missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
[ -x /usr/bin/ssh ] || missing+=(openssh-client)
[ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v unshare >/dev/null || missing+=(util-linux)
command -v git >/dev/null || missing+=(git)
# libfaketime: an integration test runs the controller under a skewed clock (the nodes keep the real one).
compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null || missing+=(libfaketime)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && created_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# 2. Toolchains the machine must already have: Python 3.11 and Go (the version tests/cluster/go.mod names).
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$PYTHON" -c 'import sys; assert sys.version_info[:2] >= (3, 11), sys.version' 2>/dev/null || {
  echo "Python 3.11 or newer is required (found: $("$PYTHON" --version 2>&1))" >&2; exit 1; }
command -v go >/dev/null || { echo "Go is required to build the local control plane (tests/cluster/go.mod)" >&2; exit 1; }

# 3. Python environment, reinstalled only when the pinned requirements change.
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating .venv with the pinned development requirements"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# 4. The checkout, importable as the collection kubecompass.readiness.
mkdir -p .venv/collections/ansible_collections/kubecompass
ln -sfn "$REPO" .venv/collections/ansible_collections/kubecompass/readiness

# 4b. A second environment with the newest ansible-core, which needs Python 3.12+ (the machine's python3.13 or
#     python3.12, or a pyenv build of them; CORE_LATEST_PYTHON overrides). tests/integration/test_core_versions.py
#     runs the playbooks with it. Reinstalled only when its pins, requirements.txt or that Python change (30 s to
#     2 min then, mostly downloads; 0.4 s otherwise). Inside .venv, which every linter, git and the collection build
#     already leave out.
latest_python=""
for candidate in ${CORE_LATEST_PYTHON:-} python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python3 \
    "$HOME"/.pyenv/versions/3.12*/bin/python3; do
  if "$candidate" -c 'import sys; assert sys.version_info[:2] >= (3, 12)' >/dev/null 2>&1; then
    latest_python=$candidate
    break
  fi
done
if [ -z "$latest_python" ]; then
  echo "no Python 3.12+ found (set CORE_LATEST_PYTHON): .venv/core-latest is not made and its test fails" >&2
else
  stamp=.venv/core-latest/.requirements.sha256
  want=$({ cat requirements.txt tests/requirements-core-latest.txt; "$latest_python" --version; } | sha256sum | cut -d' ' -f1)
  if [ ! -x .venv/core-latest/bin/ansible-playbook ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "creating .venv/core-latest with the newest ansible-core ($("$latest_python" --version))"
    rm -rf .venv/core-latest
    "$latest_python" -m venv .venv/core-latest
    .venv/core-latest/bin/python -m pip install -q --disable-pip-version-check \
      -r requirements.txt -r tests/requirements-core-latest.txt
    echo "$want" > "$stamp"
  fi
fi

# 5. The control-plane binaries (cold: several minutes; cached afterwards).
log "control-plane binaries"
.venv/bin/python tests/cluster/localcp.py build
