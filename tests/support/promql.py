"""PromQL as the project's tests read it: which metric names an expression selects, and
which names the operator's registry exports (with the suffixes Prometheus sees)."""

from __future__ import annotations

import re

from whatsapp_operator.metrics import Metrics

SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}
# PromQL words that look like identifiers but are not metric names.
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^{}]*\}")
RANGE = re.compile(r"\[[^\[\]]*\]")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")


def registered_metrics() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    text = VARIABLE.sub(" ", expr)
    text = STRING.sub(" ", text)
    text = MATCHERS.sub(" ", text)
    text = RANGE.sub(" ", text)
    text = GROUPING.sub(" ", text)
    return {
        match.group(1)
        for match in IDENTIFIER.finditer(text)
        if match.group(2) is None and match.group(1).lower() not in KEYWORDS
    }
