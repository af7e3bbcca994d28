"""Where the control-plane and helm binaries come from.

Order of precedence: one env var per binary, then `WAOP_K8S_BIN_DIR`, then the
cache that `tests/k8sbins/build.sh` fills, then running that script.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, fields
from pathlib import Path

BIN_DIR_ENV = "WAOP_K8S_BIN_DIR"
ENV_VARS = {
    "kube_apiserver": "WAOP_KUBE_APISERVER",
    "kube_controller_manager": "WAOP_KUBE_CONTROLLER_MANAGER",
    "etcd": "WAOP_ETCD",
    "helm": "WAOP_HELM",
}
_BUILD_SCRIPT = Path("tests") / "k8sbins" / "build.sh"
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class BinariesNotFoundError(RuntimeError):
    """The binaries are neither configured, cached, nor buildable here."""


@dataclass(frozen=True)
class Binaries:
    """The paths of the kube-apiserver, kube-controller-manager, etcd and helm binaries."""

    kube_apiserver: Path
    kube_controller_manager: Path
    etcd: Path
    helm: Path

    @classmethod
    def in_dir(cls, directory: Path) -> Binaries:
        """The binaries under their usual names in `directory` (whether or not they exist)."""
        return cls(**{f.name: directory / f.name.replace("_", "-") for f in fields(cls)})


def _how_to_configure() -> str:
    names = ", ".join([*ENV_VARS.values(), BIN_DIR_ENV])
    return f"set {names} (a directory holding all four), or run {_BUILD_SCRIPT} from a checkout"


def repo_root() -> Path | None:
    """The source checkout this package runs from, if any (not in an installed wheel)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / _BUILD_SCRIPT).is_file():
            return parent
    return None


def cache_root() -> Path:
    """The project's cache directory: WAOP_CACHE_DIR, else whatsapp-operator in the XDG cache."""
    explicit = os.environ.get("WAOP_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "whatsapp-operator"


def cached_bin_dir(script: Path) -> Path | None:
    """A completed build of the versions `script` pins, without needing Go installed.

    The versions are read from the script so that it stays their single source.
    Any Go version is accepted: the binaries are static, and a Go upgrade should
    not force a multi-minute rebuild.
    """
    text = script.read_text(encoding="utf-8")
    k8s = re.search(r"^K8S_VERSION=(\S+)$", text, re.MULTILINE)
    helm = re.search(r"^HELM_VERSION=(\S+)$", text, re.MULTILINE)
    if k8s is None or helm is None:
        return None
    arch = _GOARCH.get(platform.machine().lower(), platform.machine().lower())
    pattern = f"{k8s.group(1)}-helm{helm.group(1)}-go*-{sys.platform}-{arch}"
    done = [d for d in (cache_root() / "k8s").glob(pattern) if (d / ".complete").is_file()]
    return max(done, key=lambda d: d.stat().st_mtime) if done else None


def build(script: Path) -> Path:
    """Run the build script (minutes when cold) and return the directory it printed."""
    # stderr is inherited so a long cold build shows its progress.
    bash = shutil.which("bash")
    if bash is None:
        raise BinariesNotFoundError(f"bash is needed to run {script}; {_how_to_configure()}")
    result = subprocess.run(  # noqa: S603 - the script is part of this checkout
        [bash, str(script)], stdout=subprocess.PIPE, text=True, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        raise BinariesNotFoundError(
            f"{script} failed with exit code {result.returncode}; "
            f"fix the build (needs Go and the Go module proxy) or {_how_to_configure()}"
        )
    return Path(lines[-1].strip())


def _base_dir(*, allow_build: bool) -> Path:
    explicit = os.environ.get(BIN_DIR_ENV)
    if explicit:
        return Path(explicit)
    root = repo_root()
    if root is None:
        raise BinariesNotFoundError(f"no control-plane binaries configured: {_how_to_configure()}")
    script = root / _BUILD_SCRIPT
    cached = cached_bin_dir(script)
    if cached is not None:
        return cached
    if not allow_build:
        raise BinariesNotFoundError(f"no cached build of {script}: {_how_to_configure()}")
    return build(script)


def find_binaries(*, allow_build: bool = True) -> Binaries:
    """Resolve all four binaries, building them if nothing else provides them."""
    chosen = {name: Path(os.environ[var]) for name, var in ENV_VARS.items() if os.environ.get(var)}
    if len(chosen) < len(ENV_VARS):
        defaults = Binaries.in_dir(_base_dir(allow_build=allow_build))
        for name in ENV_VARS:
            chosen.setdefault(name, getattr(defaults, name))
    binaries = Binaries(**chosen)
    for name, var in ENV_VARS.items():
        path: Path = getattr(binaries, name)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BinariesNotFoundError(
                f"{path} is not an executable file (override it with {var}); {_how_to_configure()}"
            )
    return binaries
