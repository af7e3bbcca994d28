"""RFC 3339 timestamps in the form Kubernetes writes them (UTC, whole seconds)."""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_time(moment: datetime) -> str:
    """`moment` in UTC as Kubernetes writes it (e.g. 2024-01-02T03:04:05Z)."""
    return moment.astimezone(UTC).strftime(_FORMAT)


def parse_time(text: str) -> datetime:
    """The UTC moment in a timestamp written by `format_time`; ValueError for another form."""
    return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)


def utcnow() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)
