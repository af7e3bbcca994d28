"""Reading the hash-locked requirement files that `scripts/lock` writes with uv."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "requirements" / "runtime.txt"
BUILD = ROOT / "requirements" / "build.txt"


@dataclass
class Pin:
    name: str  # canonical (PEP 503) name
    version: Version
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def parse_lock(path: Path) -> dict[str, Pin]:
    """uv's requirements.txt: `name==version \\`, hash lines, then `# via` comments."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        if not line.startswith((" ", "#")):
            match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+?)(?: \\)?", line)
            assert match, f"{path.name}: not an exact pin: {line!r}"
            current = Pin(canonicalize_name(match[1]), Version(match[2]))
            assert current.name not in pins, f"{path.name}: {current.name} pinned twice"
            pins[current.name] = current
            in_via = False
            continue
        text = line.strip()
        if current is None:
            continue  # the header
        if text.startswith("--hash="):
            current.hashes.append(text.removeprefix("--hash=").removesuffix(" \\"))
        elif text == "# via":
            in_via = True
        elif text.startswith("# via "):
            current.via.append(text.removeprefix("# via "))
            in_via = False
        elif in_via and text.startswith("#   "):
            current.via.append(text.removeprefix("#   "))
    return pins
