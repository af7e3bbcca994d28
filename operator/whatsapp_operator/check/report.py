"""Pure: the check's steps, its verdict and exit code, and how they are printed.

A step is one line a person reads (OK, WARN, FAIL, or SKIP when an earlier failure or a
missing input left nothing to check). Every printed text passes `scrub` with the
secrets the check handled, so a token cannot reach the terminal even if a message
from below quoted one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from whatsapp_operator.redaction import MASK, redact

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class Status(StrEnum):
    """How a step came out."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Change:
    """One managed setting the operator would write: GREEN-API's name, now, wanted."""

    field: str
    current: str
    desired: str


@dataclass(frozen=True)
class Step:
    """One checked thing and what was found."""

    name: str
    status: Status
    detail: str
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class Target:
    """What was checked, as printed in the heading (never a credential)."""

    source: str
    api_url: str
    id_instance: int | None


@dataclass
class CheckReport:
    """The steps in the order they ran."""

    target: Target
    steps: list[Step] = field(default_factory=list)

    def add(self, step: Step) -> Step:
        """Append `step` and return it."""
        self.steps.append(step)
        return step

    def skip(self, names: Iterable[str], why: str) -> None:
        """Record steps that were not run, and why."""
        for name in names:
            self.add(Step(name, Status.SKIP, why))

    @property
    def verdict(self) -> Status:
        """FAIL if any step failed, WARN if any warned, else OK."""
        found = {step.status for step in self.steps}
        for status in (Status.FAIL, Status.WARN):
            if status in found:
                return status
        return Status.OK

    @property
    def exit_code(self) -> int:
        """0 when nothing failed (warnings included), 1 when a step failed."""
        return EXIT_FAILED if self.verdict is Status.FAIL else EXIT_OK


def scrub(text: str, secrets: Sequence[str]) -> str:
    """`text` without the given secrets (any length) and without credential-bearing URLs."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return redact(text)


_NAME_WIDTH = 12


def format_text(report: CheckReport) -> str:
    """The report for a terminal: a heading, one line per step, the changes, the verdict."""
    target = report.target
    where = f"instance {target.id_instance}" if target.id_instance else "an unknown instance"
    lines = [f"Checking {where} at {target.api_url or '?'} ({target.source}); read-only."]
    for step in report.steps:
        lines.append(f"{step.status.value:<5} {step.name:<{_NAME_WIDTH}} {step.detail}")
        for change in step.changes:
            lines.append(
                f"{'':<5} {'':<{_NAME_WIDTH}}   {change.field}: {change.current} -> "
                f"{change.desired}"
            )
    counts = {status: sum(s.status is status for s in report.steps) for status in Status}
    lines.append(
        f"Result: {report.verdict.value} ({counts[Status.FAIL]} failed, "
        f"{counts[Status.WARN]} warned, {counts[Status.SKIP]} skipped). "
        "Nothing was changed on GREEN-API."
    )
    return "\n".join(lines)


def as_document(report: CheckReport) -> dict[str, Any]:
    """The report for machines (`-o json`)."""
    target = report.target
    return {
        "target": {
            "source": target.source,
            "apiUrl": target.api_url,
            "idInstance": target.id_instance,
        },
        "result": report.verdict.value,
        "exitCode": report.exit_code,
        "steps": [
            {
                "name": step.name,
                "status": step.status.value,
                "detail": step.detail,
                "changes": [
                    {"field": c.field, "from": c.current, "to": c.desired} for c in step.changes
                ],
            }
            for step in report.steps
        ],
    }


def render(report: CheckReport, output: str, secrets: Sequence[str]) -> str:
    """The report as `output` ("text" or "json"), scrubbed of `secrets`."""
    text = json.dumps(as_document(report), indent=2) if output == "json" else format_text(report)
    return scrub(text, secrets)
