"""Build Go binaries from the Go module proxy, cached: the control plane, and Velero with the tests' object-store plugin.

The control plane (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, etcdctl, etcdutl) is pinned by
``tests/cluster/go.mod`` (tool directives) and ``go.sum``; Velero and the plugin by ``tests/velero/go.mod``. The
binaries are cached outside git under ``KUBECOMPASS_CACHE_DIR`` (default ``~/.cache/kubecompass``) in a directory
keyed by the hash of the build recipe, go.mod, go.sum, the module's own Go sources and ``go version``, so they are
rebuilt only when one of those changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MODULE_DIR = Path(__file__).resolve().parent.parent
VELERO_MODULE_DIR = MODULE_DIR.parent / "velero"
KUBE_BENCH_MODULE_DIR = MODULE_DIR.parent / "kubebench"
KUBEADM_MODULE_DIR = MODULE_DIR.parent / "kubeadm"
BINARIES = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "etcd": "go.etcd.io/etcd/server/v3",
    # The etcd snapshot role and its restore test use the operator tools of the same etcd release.
    "etcdctl": "go.etcd.io/etcd/etcdctl/v3",
    "etcdutl": "go.etcd.io/etcd/etcdutl/v3",
}
# `velero server --plugin-dir` runs every executable under that directory, so the plugin has one of its own.
VELERO_PLUGIN = "plugins/velero-plugin-kubecompass-directory"
VELERO_BINARIES = {
    "velero": "github.com/vmware-tanzu/velero/cmd/velero",
    VELERO_PLUGIN: "./objectstore",
    # Fault injection for the tests only (objects labelled kubecompass.test/fault); see tests/velero/README.md.
    "plugins/velero-plugin-kubecompass-faults": "./faults",
}
# The release tag's commit, stamped as `velero version` reports it for the official build.
VELERO_GIT_SHA = "26ef8fa7df68dfa9ab8aa4669b8ac47340b0c510"


# kubeadm from the same pinned k8s.io/kubernetes: the judge of the certificate-expiry verdicts and the tool the
# renewal remediation runs. tests/kubeadm/go.mod is tests/cluster/go.mod plus the modules only kubeadm imports (same
# versions of all the rest), so the control-plane cache key is unchanged and its Go build cache is reused: only
# kubeadm's own packages compile.
KUBEADM_BINARIES = {"kubeadm": "k8s.io/kubernetes/cmd/kubeadm"}
KUBE_BENCH_BINARIES = {"kube-bench": "github.com/aquasecurity/kube-bench"}
# kube-bench embeds none of its benchmark definitions: cfg/ is copied from the module next to the binary.
KUBE_BENCH_DATA = (("cfg", "github.com/aquasecurity/kube-bench", "cfg"),)


# Bump when the build command changes, so cached binaries built the old way are not reused.
RECIPE = "2"
VELERO_RECIPE = "1"
KUBE_BENCH_RECIPE = "1"
KUBEADM_RECIPE = "1"


class BuildError(Exception):
    """The Go build of the control-plane binaries failed."""


def pinned_version(module: str, module_dir: Path = MODULE_DIR) -> str:
    """The version go.mod requires for a module (k8s.io/kubernetes, go.etcd.io/etcd/server/v3)."""
    text = (module_dir / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if not match:
        raise BuildError(f"{module} is not required by {module_dir / 'go.mod'}")
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


def _kube_bench_ldflags() -> str:
    version = pinned_version("github.com/aquasecurity/kube-bench", KUBE_BENCH_MODULE_DIR)
    return f"-s -w -X github.com/aquasecurity/kube-bench/cmd.KubeBenchVersion={version}"


def _velero_ldflags() -> str:
    # As velero's hack/build.sh stamps a release. Its controller-runtime manager is created without a metrics
    # address, so it would also listen on :8080 on every interface: "0" turns that server off, leaving only
    # velero's own --metrics-address.
    stamp = "github.com/vmware-tanzu/velero/pkg/buildinfo"
    return " ".join([
        "-s", "-w",
        f"-X {stamp}.Version={pinned_version('github.com/vmware-tanzu/velero', VELERO_MODULE_DIR)}",
        f"-X {stamp}.GitSHA={VELERO_GIT_SHA}",
        f"-X {stamp}.GitTreeState=clean",
        "-X sigs.k8s.io/controller-runtime/pkg/metrics/server.DefaultBindAddress=0",
    ])


@dataclass(frozen=True)
class GoModule:
    """A Go module under tests/ whose binaries are built from the module proxy into a keyed cache directory."""

    cache_name: str
    directory: Path
    binaries: dict[str, str]
    ldflags: Callable[[], str]
    recipe: str
    what: str
    # (directory in the cache, module, directory in that module) copied after the build: files a binary reads.
    data: tuple[tuple[str, str, str], ...] = ()

    def key(self) -> str:
        version = subprocess.run([_go(), "version"], capture_output=True, text=True, check=True, env=_env()).stdout
        digest = hashlib.sha256(self.recipe.encode())
        for name in ("go.mod", "go.sum"):
            digest.update((self.directory / name).read_bytes())
        # Our own Go sources (the Velero plugin); the control-plane module has none, so its key is unchanged.
        for source in sorted(self.directory.rglob("*.go")):
            digest.update(str(source.relative_to(self.directory)).encode() + b"\0" + source.read_bytes())
        digest.update(version.encode())
        return digest.hexdigest()[:16]

    def binary_dir(self) -> Path:
        return cache_root() / self.cache_name / self.key()

    def is_cached(self) -> bool:
        return self._complete(self.binary_dir())

    def _complete(self, target: Path) -> bool:
        return (all((target / name).is_file() for name in self.binaries)
                and all((target / name).is_dir() for name, _module, _source in self.data))

    def ensure(self) -> Path:
        """Return the directory holding the binaries, building them first if the cache has none. One build at a
        time per module: a second caller (the tests' background prebuild and a fixture) waits, then finds them."""
        target = self.binary_dir()
        if self._complete(target):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.parent / ".build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self._complete(target):
                return target
            return self._build(target)

    def _build(self, target: Path) -> Path:
        staging = target.with_name(target.name + ".tmp")
        staging.mkdir(parents=True, exist_ok=True)
        print(f"building {self.what} into {target} (cold build: several minutes)", file=sys.stderr)
        started = time.monotonic()
        flags = ["-trimpath", f"-ldflags={self.ldflags()}"]
        for name, package in self.binaries.items():
            output = staging / name
            if output.is_file():
                continue
            output.parent.mkdir(parents=True, exist_ok=True)
            partial = output.with_name(f".{output.name}.partial")
            t0 = time.monotonic()
            # Lowest CPU priority: the machines that build this are shared.
            result = subprocess.run(["nice", "-n", "19", _go(), "build", *flags, "-o", str(partial), package],
                                    cwd=self.directory, env=_env(), capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise BuildError(f"go build {package} failed:\n{result.stderr.strip()[-2000:]}")
            partial.rename(output)
            print(f"  built {name} in {time.monotonic() - t0:.0f}s", file=sys.stderr)
        for name, module, source in self.data:
            if not (staging / name).is_dir():
                module_dir = subprocess.run([_go(), "list", "-m", "-f", "{{.Dir}}", module], cwd=self.directory,
                                            env=_env(), capture_output=True, text=True, check=True).stdout.strip()
                shutil.copytree(Path(module_dir) / source, staging / name)
                # The module cache is read-only; the copy need not be.
                for path in (staging / name).rglob("*"):
                    path.chmod(0o755 if path.is_dir() else 0o644)
        staging.rename(target)
        print(f"built in {time.monotonic() - started:.0f}s", file=sys.stderr)
        return target


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


CONTROL_PLANE = GoModule("cluster-bin", MODULE_DIR, BINARIES, _ldflags, RECIPE, "control-plane binaries")
VELERO = GoModule("velero-bin", VELERO_MODULE_DIR, VELERO_BINARIES, _velero_ldflags, VELERO_RECIPE,
                  "velero and its test plugins")
KUBE_BENCH = GoModule("kube-bench-bin", KUBE_BENCH_MODULE_DIR, KUBE_BENCH_BINARIES, _kube_bench_ldflags,
                      KUBE_BENCH_RECIPE, "kube-bench, the CIS benchmark's judge", KUBE_BENCH_DATA)
KUBEADM = GoModule("kubeadm-bin", KUBEADM_MODULE_DIR, KUBEADM_BINARIES, _ldflags, KUBEADM_RECIPE,
                   "kubeadm, the certificate-expiry judge and renewer")


def build_key() -> str:
    return CONTROL_PLANE.key()


def binary_dir() -> Path:
    return CONTROL_PLANE.binary_dir()


def ensure_binaries() -> Path:
    """Return the directory holding the control-plane binaries, building them first if the cache has none."""
    return CONTROL_PLANE.ensure()


def main(modules: tuple[GoModule, ...] = (CONTROL_PLANE,)) -> int:
    for module in modules:
        try:
            path = module.ensure()
        except (BuildError, subprocess.CalledProcessError) as exc:
            print(f"build failed: {exc}", file=sys.stderr)
            return 1
        for name in module.binaries:
            print(f"{path / name}\t{(path / name).stat().st_size / 1e6:.1f} MB")
    return 0
