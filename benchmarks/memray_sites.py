"""Where a memray capture's heap went: at its high-water mark, at the end, and in between.

    python benchmarks/memray_sites.py <logs>/operator-1-memory.bin [--top 25]

Reads a capture of `operator_scale.py --profile-memory memray` and prints, for the heap's
high-water mark and for what was still allocated when the process ended (its steady heap),
the MiB by package and by the operator's own line that caused it; then what the high-water
mark held that the end no longer did (the start's transient heap, which sets RSS when
CPython cannot give its arenas back). Allocations made while a module was being imported
count as "imports", named by the package imported.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

MiB = 2**20
_OWN = "whatsapp_operator/"


def _short(path: str) -> str:
    for marker in ("site-packages/", _OWN, "python3.11/", "python3.12/"):
        if marker in path:
            return path.split(marker, 1)[1] if marker != _OWN else _OWN + path.split(marker, 1)[1]
    return path


def _package(path: str) -> str:
    short = _short(path)
    if short.startswith(_OWN):
        return short.rsplit("/", 1)[0] if short.count("/") > 1 else short
    return short.split("/", 1)[0].removesuffix(".py")


def classify(frames: Sequence[tuple[str, str, int]]) -> tuple[str, str]:
    """(package, site) of one allocation's stack (memray's order: innermost frame first)."""
    if any("importlib._bootstrap" in path for _fn, path, _line in frames):
        modules = [path for fn, path, _line in frames if fn == "<module>"]
        name = _package(modules[0]) if modules else "?"
        return "imports", f"imports: {name}"
    first = frames[0] if frames else ("?", "?", 0)
    package = _package(first[1])
    # The innermost frame of a library or of the operator: who asked for the memory (the
    # standard library's frames, json or asyncio, are how it was asked).
    asker = next(
        ((fn, p, line) for fn, p, line in frames if "site-packages/" in p or _OWN in p), first
    )
    fn, path, line = asker
    return package, f"{_short(path)}:{line} {fn} ({package})"


def tally(records: Iterable[Any]) -> tuple[Counter[str], Counter[str]]:
    """MiB-able byte counts by package and by site of memray allocation records."""
    packages: Counter[str] = Counter()
    sites: Counter[str] = Counter()
    for record in records:
        package, site = classify(record.stack_trace(max_stacks=120))
        packages[package] += record.size
        sites[site] += record.size
    return packages, sites


def _show(title: str, counts: Counter[str], top: int) -> None:
    print(f"\n{title}: {sum(counts.values()) / MiB:.1f} MiB")
    for key, size in counts.most_common(top):
        if size >= MiB / 20:
            print(f"{size / MiB:8.2f}  {key}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    try:
        from memray import FileReader
    except ImportError:
        print("memray is not installed: .venv/bin/pip install -e '.[bench]'", file=sys.stderr)
        return 2
    reader = FileReader(args.capture)
    peak_packages, peak_sites = tally(reader.get_high_watermark_allocation_records())
    end_packages, end_sites = tally(reader.get_leaked_allocation_records())
    _show("high-water mark, by package", peak_packages, args.top)
    _show("end of the process (the steady heap), by package", end_packages, args.top)
    _show("end of the process, by site", end_sites, args.top)
    transient = Counter({k: v - end_sites.get(k, 0) for k, v in peak_sites.items()})
    _show("held at the high-water mark and gone by the end, by site", +transient, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
