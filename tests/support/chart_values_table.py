"""The chart README's values table, written from values.yaml's comments.

A key's description is the comment block right above it (no blank line between); comment
lines indented further than `# ` are examples and stay in values.yaml only. A row is a leaf
(a key whose schema lists no `properties`: a scalar, a list, a free-form map such as
`podSecurityContext`) or a group whose own line is commented. Defaults come from the parsed
values.yaml, so the table cannot disagree with what Helm reads.

    scripts/chart-values-table          rewrite the table in helm/whatsapp-operator/README.md
    scripts/chart-values-table --check  exit 1 when it differs from what values.yaml says
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "whatsapp-operator"
BEGIN = "<!-- values-table:begin (scripts/chart-values-table writes this table) -->"
END = "<!-- values-table:end -->"
COMMAND = "scripts/chart-values-table"

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_.-]*):(?:\s|$)")


@dataclass(frozen=True)
class Row:
    key: str
    default: str
    description: str


@dataclass(frozen=True)
class _Line:
    path: tuple[str, ...]
    description: str


def _commented_keys(text: str) -> list[_Line]:
    """Every key line of the file, in order, with its path and the comment above it."""
    found: list[_Line] = []
    stack: list[tuple[int, str]] = []
    comment: list[str] = []
    comment_indent = -1
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped:
            comment, comment_indent = [], -1
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if stripped.startswith("#"):
            if not comment:
                comment_indent = indent
            comment.append(stripped[1:])
            continue
        match = _KEY.match(raw)
        if match is None:  # a block list's item or a continuation: part of a leaf
            comment, comment_indent = [], -1
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = (*(key for _, key in stack), match["key"])
        stack.append((indent, match["key"]))
        prose = [line.strip() for line in comment if not line.startswith("  ")]
        described = " ".join(prose) if comment_indent == indent else ""
        found.append(_Line(path, described))
        comment, comment_indent = [], -1
    return found


def _schema_at(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The schema of the value at `path`, or None inside a free-form value."""
    node = schema
    for key in path:
        while "$ref" in node:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
        properties = node.get("properties")
        if properties is None or key not in properties:
            return None
        node = properties[key]
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _value_at(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        node = node[key]
    return node


def _cell(text: str) -> str:
    """Markdown for a table cell: `|` escaped, and outside code spans `<` (read as HTML)
    and `*` (read as emphasis)."""
    spans = text.replace("|", "\\|").split("`")
    for index in range(0, len(spans), 2):
        spans[index] = spans[index].replace("<", "&lt;").replace("*", "\\*")
    return "`".join(spans)


def rows(values_text: str, schema: dict[str, Any]) -> list[Row]:
    values = yaml.safe_load(values_text)
    table = []
    for line in _commented_keys(values_text):
        node = _schema_at(schema, line.path)
        if node is None:
            continue
        leaf = "properties" not in node
        if not leaf and not line.description:
            continue
        default = json.dumps(_value_at(values, line.path), separators=(", ", ": "))
        default = default.replace("|", "\\|")
        table.append(Row(".".join(line.path), f"`{default}`" if leaf else "", line.description))
    return table


def leaf_paths(values: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """Every leaf of the parsed values, walked independently of the comment parser."""
    found: set[str] = set()

    def walk(node: Any, path: tuple[str, ...]) -> None:
        described = _schema_at(schema, path)
        if path and (described is None or "properties" not in described):
            found.add(".".join(path))
            return
        for key, child in node.items():
            walk(child, (*path, key))

    walk(values, ())
    return found


def render_table(chart: Path = CHART) -> str:
    values_text = (chart / "values.yaml").read_text(encoding="utf-8")
    schema = json.loads((chart / "values.schema.json").read_text(encoding="utf-8"))
    lines = ["| key | default | description |", "|---|---|---|"]
    lines += [
        f"| `{row.key}` | {row.default} | {_cell(row.description)} |"
        for row in rows(values_text, schema)
    ]
    return "\n".join(lines)


def with_table(readme: str, table: str) -> str:
    """The README with `table` between the markers."""
    try:
        head, rest = readme.split(BEGIN + "\n", 1)
        _old, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"the README needs the lines {BEGIN!r} and {END!r}") from None
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the table is stale")
    args = parser.parse_args(argv)
    readme_path = CHART / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    wanted = with_table(readme, render_table())
    if wanted == readme:
        return 0
    if args.check:
        print(f"{readme_path.relative_to(ROOT)}: the values table is stale; run {COMMAND}")
        return 1
    readme_path.write_text(wanted, encoding="utf-8")
    print(f"wrote the values table of {readme_path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
