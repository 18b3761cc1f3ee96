"""Helpers shared by the integration and quality tests: paths, and running Ansible the way a user does."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = REPO / "tests" / "data"
CLUSTER_DIR = REPO / "tests" / "cluster"
VENV_BIN = Path(sys.executable).parent
DEV_COLLECTIONS = REPO / ".venv" / "collections"

if str(CLUSTER_DIR) not in sys.path:
    sys.path.insert(0, str(CLUSTER_DIR))


def ansible_env(collections_path: Path | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path or DEV_COLLECTIONS),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    })
    # Never let a developer's own cluster credentials leak into a test.
    for key in list(env):
        if key.startswith("K8S_AUTH_") or key == "KUBECONFIG":
            del env[key]
    env.update(extra)
    return env


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 600,
        check: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, env=env or ansible_env(), cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {result.returncode}\n{result.stdout[-4000:]}\n"
                             f"{result.stderr[-4000:]}")
    return result


def ansible_module(module: str, args: dict[str, Any], host: str = "localhost", inventory: Path | None = None,
                   env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    """Run one module ad hoc; return (exit code, the module's result, full output)."""
    cmd = [str(VENV_BIN / "ansible"), host, "-m", module]
    if args:
        cmd += ["-a", json.dumps(args)]
    if inventory:
        cmd += ["-i", str(inventory)]
    else:
        cmd += ["-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"]
    result = run(cmd, env=env or ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal"))
    output = result.stdout + result.stderr
    match = re.search(r"=> (\{.*\})\s*$", result.stdout, re.DOTALL)
    parsed = json.loads(match.group(1)) if match else {}
    return result.returncode, parsed, output
