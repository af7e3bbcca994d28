"""What an image holds, read inside it: its Python distributions and its Debian packages.

Runs in the released image (`podman run -i IMAGE python3 - < this file`), which has neither
this package's developer tools nor anything but the standard library, so this module imports
the standard library alone and prints one JSON object. `sbom.py` turns it into CycloneDX.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any

DPKG_STATUS = Path("/var/lib/dpkg/status")


def _field(meta: importlib.metadata.PackageMetadata, name: str) -> str | None:
    values = meta.get_all(name)
    return str(values[0]) if values else None


def python_distributions() -> list[dict[str, Any]]:
    """Every distribution Python can import from, with its declared license."""
    found = []
    for dist in importlib.metadata.distributions():
        meta = dist.metadata
        found.append(
            {
                "name": meta["Name"],
                "version": dist.version,
                # Core metadata 2.4's SPDX expression; older wheels only have free text.
                "license_expression": _field(meta, "License-Expression"),
                "license": _field(meta, "License"),
                "summary": _field(meta, "Summary"),
            }
        )
    return sorted(found, key=lambda d: str(d["name"]).lower())


def debian_packages(status: Path = DPKG_STATUS) -> list[dict[str, str]]:
    """The installed packages dpkg knows of (none on a base without dpkg)."""
    if not status.exists():
        return []
    packages = []
    for stanza in status.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
            packages.append(
                {
                    "name": fields["Package"],
                    "version": fields.get("Version", ""),
                    "arch": fields.get("Architecture", ""),
                }
            )
    return sorted(packages, key=lambda p: p["name"])


def inventory() -> dict[str, Any]:
    """The interpreter's version, the Python distributions and the Debian packages."""
    return {
        "python": platform.python_version(),
        "distributions": python_distributions(),
        "debian": debian_packages(),
    }


if __name__ == "__main__":
    print(json.dumps(inventory()))
