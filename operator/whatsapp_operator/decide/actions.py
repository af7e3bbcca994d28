"""Whether an action requested by annotation is performed: once, in time order.

An action annotation's value is the moment the action was requested, an RFC 3339
timestamp with a time zone. A request is performed only when it is later than the
latest one of its kind already performed and than the object's creation, so that
re-applying an older manifest (a GitOps self-heal, a rollback, a restore) never
performs anything again. Any other value is refused: a person is told, nothing runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum

from whatsapp_operator import constants

# RFC 3339's date-time, with an upper-case T and Z: the admission policy shipped in the
# chart and in manifests/ checks the same expression (tests/integration/test_packaging.py).
STAMP_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_STAMP = re.compile(STAMP_PATTERN)
EXAMPLE = "2026-05-01T10:00:00Z"


class Verdict(StrEnum):
    """What becomes of an action annotation's value."""

    ABSENT = "Absent"  # no request
    PERFORM = "Perform"
    # Not later than the latest performed request of its kind: re-applied, not new.
    PERFORMED = "Performed"
    # Requested before the object existed: a manifest re-created or restored with it.
    BEFORE_CREATION = "BeforeCreation"
    # Not an RFC 3339 timestamp with a zone: its order cannot be known.
    INVALID = "Invalid"


def parse_stamp(value: str) -> datetime | None:
    """The moment an action value stands for, or None when it is not such a timestamp."""
    if not _STAMP.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # a day the month does not have
        return None


def latest(records: Iterable[str | None]) -> datetime | None:
    """The latest of the performed requests on record (records that are not timestamps,
    written by earlier versions, order nothing)."""
    moments = [m for m in (parse_stamp(r) for r in records if r) if m is not None]
    return max(moments, default=None)


def decide_action(
    value: str | None, *, created: datetime | None, performed: Iterable[str | None]
) -> Verdict:
    """The verdict on request `value` for an object created at `created`, given the
    records of what was performed of the same kind (status, the operator's annotation)."""
    if not value:
        return Verdict.ABSENT
    moment = parse_stamp(value)
    if moment is None:
        return Verdict.INVALID
    last = latest(performed)
    if last is not None and moment <= last:
        return Verdict.PERFORMED
    if created is not None and moment <= created:
        return Verdict.BEFORE_CREATION
    return Verdict.PERFORM


def requested(
    action: constants.Action,
    metadata: Mapping[str, object],
    handled: Mapping[str, str],
) -> tuple[str, Verdict]:
    """An object's request for `action` and its verdict, from its metadata (annotations,
    creationTimestamp) and `status.handledActions`."""
    annotations = metadata.get("annotations") or {}
    assert isinstance(annotations, Mapping)
    value = str(annotations.get(constants.ACTION_ANNOTATIONS[action]) or "")
    record = constants.PERFORMED_ANNOTATIONS.get(action)
    performed = [handled.get(action), annotations.get(record) if record else None]
    created = parse_stamp(str(metadata.get("creationTimestamp") or ""))
    return value, decide_action(value, created=created, performed=performed)


def refusal(action: constants.Action, value: str) -> str:
    """The message of the Warning for an action value that is not a timestamp."""
    shown = value if len(value) <= 40 else value[:40] + "..."
    return (
        f"{constants.ACTION_ANNOTATIONS[action]}={shown!r} is not an RFC 3339 timestamp with "
        f"a time zone, so the {action} was not performed. Set it to the time of the request, "
        f"e.g. {EXAMPLE} (`date -u +%Y-%m-%dT%H:%M:%SZ`), or use the kubectl plugin."
    )


def performed_records(handled: Mapping[str, str], annotations: Mapping[str, str]) -> dict[str, str]:
    """`status.handledActions` brought up to the operator's annotation records: after a
    restore that lost status, status shows again what was performed."""
    merged = dict(handled)
    for action, annotation in constants.PERFORMED_ANNOTATIONS.items():
        record = annotations.get(annotation) or ""
        moment = parse_stamp(record)
        current = latest([merged.get(action)])
        if moment is not None and (current is None or current < moment):
            merged[action] = record
    return merged
