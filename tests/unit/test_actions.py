"""The decision whether an action requested by annotation is performed (`decide/actions`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from whatsapp_operator.decide.actions import STAMP_PATTERN, Verdict, decide_action, parse_stamp

CREATED = datetime(2026, 5, 1, 9, 0, 0, tzinfo=UTC)
T1 = "2026-05-01T10:00:00Z"
T2 = "2026-05-01T11:30:00+02:00"  # 09:30 UTC: earlier than T1 although its text is larger
T3 = "2026-05-02T08:00:00.250Z"


def replay(values: list[str], *, created: datetime = CREATED) -> list[str]:
    """Apply `values` one after another as an object's annotation; the ones performed."""
    performed: list[str] = []
    record: str | None = None
    for value in values:
        if decide_action(value, created=created, performed=[record]) is Verdict.PERFORM:
            performed.append(value)
            record = value
    return performed


def test_a_restored_older_request_is_not_performed_again() -> None:
    # T1 from Git, T3 from `kubectl whatsapp logout`, then self-heal puts T1 back.
    assert replay([T1, T3, T1]) == [T1, T3]


def test_the_same_value_again_is_not_performed_again() -> None:
    assert replay([T1, T1, T1]) == [T1]


def test_order_is_by_time_not_by_text() -> None:
    assert replay([T1, T2]) == [T1]
    assert decide_action(T2, created=CREATED, performed=[T1]) is Verdict.PERFORMED


def test_a_request_from_before_the_object_existed_is_not_performed() -> None:
    assert decide_action(T1, created=datetime(2026, 6, 1, tzinfo=UTC), performed=[]) is (
        Verdict.BEFORE_CREATION
    )
    assert decide_action(T1, created=CREATED, performed=[]) is Verdict.PERFORM


def test_the_latest_of_several_records_counts() -> None:
    # Status lost (None) but the operator's own annotation record survives.
    assert decide_action(T1, created=CREATED, performed=[None, T3]) is Verdict.PERFORMED
    assert decide_action(T3, created=CREATED, performed=[T1, None]) is Verdict.PERFORM


def test_records_that_are_not_timestamps_do_not_block_a_new_request() -> None:
    # Written by an earlier version of the operator, which took any value.
    assert decide_action(T1, created=CREATED, performed=["manual-1", "1767355000"]) is (
        Verdict.PERFORM
    )


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T10:00:00",  # no time zone
        "2024-05-01",  # a date
        "manual-1",  # free text
        "1767355000",  # unix seconds
        "2024-05-01 10:00:00Z",  # a space for the T
        "2024-13-01T10:00:00Z",  # no such month
        "2024-02-30T10:00:00Z",  # no such day
        " 2024-05-01T10:00:00Z",
    ],
)
def test_values_that_are_not_rfc3339_timestamps_with_a_zone_are_refused(value: str) -> None:
    assert parse_stamp(value) is None
    assert decide_action(value, created=CREATED, performed=[]) is Verdict.INVALID
    assert replay([value, value, value]) == []


def test_no_annotation_is_no_request() -> None:
    assert decide_action(None, created=CREATED, performed=[]) is Verdict.ABSENT
    assert decide_action("", created=CREATED, performed=[]) is Verdict.ABSENT


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-05-01T10:00:00Z", datetime(2026, 5, 1, 10, tzinfo=UTC)),
        ("2026-05-01T12:00:00+02:00", datetime(2026, 5, 1, 10, tzinfo=UTC)),
        ("2026-05-01T10:00:00.5-00:30", datetime(2026, 5, 1, 10, 30, 0, 500000, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps_with_a_zone_are_read(value: str, utc: datetime) -> None:
    assert parse_stamp(value) == utc
    assert re.fullmatch(STAMP_PATTERN, value)
