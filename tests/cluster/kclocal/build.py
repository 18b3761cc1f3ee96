"""Build kube-apiserver, kube-controller-manager, kube-scheduler, etcd, etcdctl and etcdutl from the Go module proxy, cached.

The versions are pinned by ``tests/cluster/go.mod`` (tool directives) and ``go.sum``. The binaries are cached
outside git under ``KUBECOMPASS_CACHE_DIR`` (default ``~/.cache/kubecompass``) in a directory keyed by the
hash of go.mod, go.sum and ``go version``, so they are rebuilt only when one of those changes.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

MODULE_DIR = Path(__file__).resolve().parent.parent
BINARIES = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "etcd": "go.etcd.io/etcd/server/v3",
    # The etcd snapshot role and its restore test use the operator tools of the same etcd release.
    "etcdctl": "go.etcd.io/etcd/etcdctl/v3",
    "etcdutl": "go.etcd.io/etcd/etcdutl/v3",
}


# Bump when the build command changes, so cached binaries built the old way are not reused.
RECIPE = "2"


class BuildError(Exception):
    """The Go build of the control-plane binaries failed."""


def pinned_version(module: str) -> str:
    """The version go.mod requires for a module (k8s.io/kubernetes, go.etcd.io/etcd/server/v3)."""
    text = (MODULE_DIR / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if not match:
        raise BuildError(f"{module} is not required by {MODULE_DIR / 'go.mod'}")
    return match.group(1)


def _ldflags() -> str:
    # What the upstream release build stamps, so /version reports the real release instead of v0.0.0-master.
    version = pinned_version("k8s.io/kubernetes")
    major, minor = version.lstrip("v").split(".")[:2]
    stamp = "k8s.io/component-base/version"
    return " ".join([
        "-s", "-w",
        f"-X {stamp}.gitVersion={version}",
        f"-X {stamp}.gitMajor={major}",
        f"-X {stamp}.gitMinor={minor}",
        f"-X {stamp}.gitTreeState=clean",
    ])


def cache_root() -> Path:
    return Path(os.environ.get("KUBECOMPASS_CACHE_DIR", Path.home() / ".cache" / "kubecompass"))


def _go() -> str:
    go = shutil.which("go")
    if not go:
        raise BuildError("the Go toolchain is not on PATH; it is needed to build the control-plane binaries "
                         "(see tests/cluster/go.mod for the required version)")
    return go


def _env() -> dict[str, str]:
    # go.sum is committed, so the build never needs to rewrite module files; keep the local toolchain.
    return {**os.environ, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}


def build_key() -> str:
    version = subprocess.run([_go(), "version"], capture_output=True, text=True, check=True, env=_env()).stdout
    digest = hashlib.sha256(RECIPE.encode())
    for name in ("go.mod", "go.sum"):
        digest.update((MODULE_DIR / name).read_bytes())
    digest.update(version.encode())
    return digest.hexdigest()[:16]


def binary_dir() -> Path:
    return cache_root() / "cluster-bin" / build_key()


def ensure_binaries() -> Path:
    """Return the directory holding the binaries, building them first if the cache has none."""
    target = binary_dir()
    if all((target / name).is_file() for name in BINARIES):
        return target
    staging = target.with_name(target.name + ".tmp")
    staging.mkdir(parents=True, exist_ok=True)
    print(f"building control-plane binaries into {target} (cold build: several minutes)", file=sys.stderr)
    started = time.monotonic()
    flags = ["-trimpath", f"-ldflags={_ldflags()}"]
    for name, package in BINARIES.items():
        if (staging / name).is_file():
            continue
        t0 = time.monotonic()
        result = subprocess.run([_go(), "build", *flags, "-o", str(staging / f".{name}.partial"), package],
                                cwd=MODULE_DIR, env=_env(), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BuildError(f"go build {package} failed:\n{result.stderr.strip()[-2000:]}")
        (staging / f".{name}.partial").rename(staging / name)
        print(f"  built {name} in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    staging.rename(target)
    print(f"built in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return target


def main() -> int:
    try:
        path = ensure_binaries()
    except (BuildError, subprocess.CalledProcessError) as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    for name in BINARIES:
        print(f"{path / name}\t{(path / name).stat().st_size / 1e6:.1f} MB")
    return 0
