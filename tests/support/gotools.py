"""Tools only the tests need, built from their Go modules on first use and cached beside the
control plane's binaries (never on the demo's path). `WAOP_<TOOL>` names a binary to use
instead (e.g. WAOP_PROMTOOL=/usr/bin/promtool)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

from whatsapp_operator.devtools.binaries import cache_root

# The module and version of each tool (its go install path), and its build tags.
TOOLS = {
    # Rule checks and rule unit tests need no service discovery: leaving it out roughly halves
    # what is downloaded and compiled.
    "promtool": ("github.com/prometheus/prometheus/cmd/promtool", "v0.316.0", "remove_all_sd"),
    # CNCF Distribution's OCI registry, on loopback for the release round trip.
    "registry": ("github.com/distribution/distribution/v3/cmd/registry", "v3.1.2", ""),
    # Attaches the SBOM to the pushed image as an OCI referrer (scripts/release uses it
    # when it is on PATH or in WAOP_ORAS).
    "oras": ("oras.land/oras/cmd/oras", "v1.3.6", ""),
    # Signs the pushed image with a local key (scripts/release --sign-key).
    "cosign": ("github.com/sigstore/cosign/v2/cmd/cosign", "v2.6.5", ""),
    # The GitHub Actions workflow linter, for .github/workflows/.
    "actionlint": ("github.com/rhysd/actionlint/cmd/actionlint", "v1.7.12", ""),
}


class ToolUnavailable(RuntimeError):
    """The tool is neither configured nor buildable here (no Go, or the build failed)."""


def go_tool(name: str) -> Path:
    """The tool's binary: from `WAOP_<NAME>`, the cache, or a build into the cache."""
    configured = os.environ.get(f"WAOP_{name.upper()}")
    if configured:
        return Path(configured)
    module, version, tags = TOOLS[name]
    go = shutil.which("go")
    if go is None:
        raise ToolUnavailable(f"{name}: Go is needed to build it (or set WAOP_{name.upper()})")
    go_version = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()
    root = cache_root()
    out = root / "tools" / f"{name}-{version}-{tags or 'default'}-{go_version}"
    binary = out / name
    if (out / ".complete").exists():
        return binary
    out.mkdir(parents=True, exist_ok=True)
    with (out / ".lock").open("w") as lock:
        # Parallel test processes build once.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / ".complete").exists():
            env = {
                **os.environ,
                "GOBIN": str(out),
                "GOCACHE": str(root / "go" / "build"),
                "GOMODCACHE": str(root / "go" / "mod"),
                "CGO_ENABLED": "0",
                "GOFLAGS": "-trimpath -buildvcs=false",
            }
            built = subprocess.run(
                [go, "install", "-tags", tags, "-ldflags", "-s -w", f"{module}@{version}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            if built.returncode != 0:
                raise ToolUnavailable(f"building {name} failed:\n{built.stderr[-3000:]}")
            (out / ".complete").touch()
    return binary
