"""The project's Markdown: every relative link resolves (file and heading), and nothing points
outside the repository (a reader of a clone has nothing else)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
# Directories every machine has: a checkout that sits in one (a CI clone under /tmp) must
# not turn each mention of it (`/tmp/waop-cp-logs-*`) into an offence.
_SYSTEM_DIRS = {"/", "/tmp", "/var/tmp", "/home", "/root", "/srv", "/opt", "/usr", "/var"}
# Places that exist only on a developer's machine, never in a clone: this checkout, the
# directory it sits in (unless a system one), and material kept beside it.
_MACHINE = [str(ROOT) + "/"]
if str(ROOT.parent) not in _SYSTEM_DIRS:
    _MACHINE.append(str(ROOT.parent) + "/")
OUTSIDE = re.compile(
    "|".join([*(re.escape(path) for path in _MACHINE), r"shared/reference", r"\.\./shared/"])
)


def tracked(pattern: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / line for line in out.splitlines() if line]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for line in text.splitlines():
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            # Repeated headings get -1, -2, ... suffixes.
            name, n = base, 0
            while name in found:
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


MARKDOWN = tracked("*.md")


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    text = CODE_SPAN.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # http(s), mailto: not checked offline
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor}")
        elif not resolved.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
    assert broken == [], f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_nothing_points_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in tracked("*")
        if path.is_file()
        and path.suffix in {".md", ".py", ".yaml", ".yml", ".json", ".toml", ".sh", ""}
        for number, line in enumerate(
            path.read_text(encoding="utf-8", errors="ignore").splitlines(), 1
        )
        if OUTSIDE.search(line) and path.name != "test_docs_links.py"
    ]
    assert offenders == []


def test_the_readme_stays_a_front_page() -> None:
    """The README is what a newcomer reads first: short, with the two commands; the rest
    lives in docs/."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    for command in ("scripts/demo", "scripts/test"):
        assert f"`{command}`" in text, f"the README's table lacks {command}"
    linked = set(LINK.findall(text))
    missing = [
        p.name for p in sorted((ROOT / "docs").glob("*.md")) if f"docs/{p.name}" not in linked
    ]
    assert missing == [], f"docs the README does not link: {missing}"
