"""The scale benchmark's table: one row per figure, a column per operator and size."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from scale_phases import Figures


@dataclass(frozen=True)
class Column:
    """One run: which operator, how many objects, what it measured."""

    kind: str  # "operator" or "floor"
    n: int
    figures: Figures


def _number(digits: int) -> Callable[[Any], str]:
    def render(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "—"
        return f"{value:,.{digits}f}"

    return render


def _pair(first: str, second: str, digits: int = 2) -> Callable[[dict[str, Any]], str]:
    render = _number(digits)

    def both(values: dict[str, Any]) -> str:
        if first not in values:
            return "—"
        return f"{render(values.get(first))} / {render(values.get(second))}"

    return both


def _one(key: str, digits: int) -> Callable[[dict[str, Any]], str]:
    render = _number(digits)
    return lambda values: render(values.get(key))


ROWS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("converge: start → all Ready + Synced (s)", _one("converge_s", 1)),
    ("converge rate (objects/s)", _one("converge_rate", 1)),
    ("inherent wait of one object (s)", _one("inherent_s", 2)),
    ("rate beyond the inherent wait: N / (converge - inherent)", _one("rate_beyond", 1)),
    ("API requests per object, converge", _one("api_converge", 2)),
    ("API requests per object, idle window", _one("api_idle", 2)),
    ("API requests per object, restart window", _one("api_restart", 2)),
    ("RSS after the burst (MiB)", _one("rss_burst_mib", 0)),
    ("peak RSS during the burst, VmHWM (MiB)", _one("hwm_burst_mib", 0)),
    ("RSS steady after a restart (MiB)", _one("rss_restart_mib", 0)),
    ("KiB per instance (restart RSS, from the previous size)", _one("kib_per_instance", 1)),
    ("idle: WhatsAppInstance writes (watch MODIFIED)", _one("idle_writes", 0)),
    ("idle: Events posted", _one("idle_events", 0)),
    ("idle: GREEN-API calls", _one("idle_calls", 0)),
    ("idle: operator CPU (% of one core)", _one("idle_cpu_pct", 2)),
    ("idle: CPU ms per state poll", _one("idle_cpu_ms_per_poll", 2)),
    ("idle: poll spread, max / mean polls per 1 s", _one("idle_spread", 2)),
    ("restart: writes caused (objects not edited)", _one("restart_writes", 0)),
    ("restart: every object polled once after (s)", _one("restart_all_polled_s", 0)),
    (
        "restart: sample edit → setSettings p50 / max (s)",
        _pair("restart_setsettings_p50", "restart_setsettings_max"),
    ),
    (
        "restart: sample edit → status generation p50 / max (s)",
        _pair("restart_status_p50", "restart_status_max"),
    ),
    ("edit → setSettings p50 / p99 (s)", _pair("edit_setsettings_p50", "edit_setsettings_p99")),
    (
        "edit → status generation p50 / p99 (s)",
        _pair("edit_status_p50", "edit_status_p99"),
    ),
    ("GREEN-API 429 answers (whole run)", _one("greenapi_429", 0)),
]


def add_memory_slopes(columns: Sequence[Column]) -> None:
    """KiB per instance from the restart RSS of the same operator at the next smaller size."""
    for kind in {c.kind for c in columns}:
        runs = sorted((c for c in columns if c.kind == kind), key=lambda c: c.n)
        for smaller, larger in itertools.pairwise(runs):
            low = smaller.figures.values.get("rss_restart_mib")
            high = larger.figures.values.get("rss_restart_mib")
            if low is not None and high is not None and larger.n > smaller.n:
                larger.figures.values["kib_per_instance"] = (
                    (high - low) * 1024 / (larger.n - smaller.n)
                )


def render(columns: Sequence[Column], preamble: str) -> str:
    """The markdown report: the table, then the per-run details."""
    header = "| figure | " + " | ".join(f"{c.kind} N={c.n:,}" for c in columns) + " |"
    lines = [preamble, "", header, "|---" * (len(columns) + 1) + "|"]
    for label, cell in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(c.figures.values) for c in columns) + " |")
    for c in columns:
        if c.figures.details:
            lines += ["", f"### {c.kind}, N={c.n:,}", ""]
            lines += [f"* {what}: {text}" for what, text in c.figures.details.items()]
    return "\n".join(lines) + "\n"
