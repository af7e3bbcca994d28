"""decide/queues.py: the growth streak, WebhookDelivery, account changes, the read schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from whatsapp_operator.api.queues import QueuesStatus
from whatsapp_operator.decide import queues
from whatsapp_operator.decide.queues import OFF, Reading, account_change, delivery, track
from whatsapp_operator.wire.models import InstanceState

T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=600)


def reads(*counts: int, every: float = 120.0) -> QueuesStatus | None:
    status: QueuesStatus | None = None
    for index, count in enumerate(counts):
        status = track(status, Reading(count, 0, T0 + timedelta(seconds=index * every)))
    return status


def verdict(status: QueuesStatus | None, at_seconds: float) -> tuple[str, str]:
    seen = delivery(status, webhooks_on=True, window=WINDOW, now=T0 + timedelta(seconds=at_seconds))
    return seen[0], seen[1]


def test_an_empty_queue_is_delivering() -> None:
    assert verdict(reads(0, 0, 0), 240) == ("True", "Delivering")


def test_a_queue_that_keeps_growing_turns_false_only_after_the_window() -> None:
    # Reads every 2 minutes: 0 -> 5 starts the streak at 120 s.
    assert verdict(reads(0, 5, 9), 240) == ("True", "QueueRising")
    assert verdict(reads(0, 5, 9, 14, 20, 26), 600) == ("True", "QueueRising")
    status = reads(0, 5, 9, 14, 20, 26, 31)
    assert verdict(status, 720) == ("False", "QueueGrowing")
    assert status is not None
    assert (status.growth_base, status.incoming) == (0, 31)


def test_a_queue_going_down_ends_the_streak() -> None:
    status = reads(0, 5, 9, 14, 20, 26, 25)
    assert status is not None
    assert status.growing_since == ""
    assert verdict(status, 720) == ("True", "QueueDraining")


def test_a_backlog_that_stays_put_is_not_growing() -> None:
    # Queued before the first read, and the same count ever since: nothing rose.
    assert verdict(reads(7, 7, 7, 7, 7, 7, 7), 720) == ("True", "QueueDraining")


def test_recovery_turns_it_true_again() -> None:
    status = reads(0, 5, 9, 14, 20, 26, 31, 0)
    assert verdict(status, 840) == ("True", "Delivering")


def test_without_a_webhook_url_the_condition_is_left_out() -> None:
    assert delivery(reads(3, 9), webhooks_on=False, window=WINDOW, now=T0) == OFF


def test_not_read_yet_is_unknown() -> None:
    assert delivery(None, webhooks_on=True, window=WINDOW, now=T0)[:2] == (
        "Unknown",
        "QueueNotRead",
    )


def test_unchanged_counts_are_not_written_again_within_an_hour() -> None:
    first = reads(0)
    assert first is not None
    same = track(first, Reading(0, 0, T0 + timedelta(minutes=30)))
    assert same is first
    refreshed = track(first, Reading(0, 0, T0 + timedelta(minutes=61)))
    assert refreshed.read_at == "2026-05-01T11:01:00Z"
    changed = track(first, Reading(0, 2, T0 + timedelta(minutes=2)))
    assert (changed.outgoing, changed.read_at) == (2, "2026-05-01T10:02:00Z")


def test_the_first_number_is_remembered_and_a_new_one_asks_for_a_clear() -> None:
    assert account_change(None, wid="7900@c.us", state=InstanceState.AUTHORIZED) is None
    kept = queues.note_account(None, wid="7900@c.us", state=InstanceState.AUTHORIZED)
    assert kept is not None
    assert account_change(kept, wid="7900@c.us", state=InstanceState.AUTHORIZED) is None
    change = account_change(kept, wid="7911@c.us", state=InstanceState.AUTHORIZED)
    assert change is not None
    assert "7900@c.us to 7911@c.us" in change.why
    assert change.after.account_wid == "7911@c.us"
    # Unlinked in between (no wid): the last number is kept, not forgotten.
    unlinked = queues.note_account(kept, wid="", state=InstanceState.NOT_AUTHORIZED)
    assert unlinked is not None
    assert unlinked.account_wid == "7900@c.us"


def test_a_block_asks_for_one_clear() -> None:
    kept = queues.note_account(None, wid="7900@c.us", state=InstanceState.AUTHORIZED)
    change = account_change(kept, wid="7900@c.us", state=InstanceState.BLOCKED)
    assert change is not None
    assert change.why == "the number was blocked"
    assert account_change(change.after, wid="7900@c.us", state=InstanceState.BLOCKED) is None
    # Unblocked, then blocked again: a new block, a new clear.
    after = queues.note_account(change.after, wid="7900@c.us", state=InstanceState.AUTHORIZED)
    assert account_change(after, wid="7900@c.us", state=InstanceState.BLOCKED) is not None


def test_reads_come_every_other_poll_by_default() -> None:
    check = queues.check_seconds(None, 60)
    assert check == 120.0
    due = queues.read_due(T0, check_seconds=check, state_seconds=60.0)
    assert due is not None
    # Polls come every 60 s +-10 %: the first after a read (at most 66 s) is not due, the
    # second (at least 108 s) is: two reads every two polls, one extra call per poll.
    assert T0 + timedelta(seconds=66) < due <= T0 + timedelta(seconds=108)
    assert queues.read_due(None, check_seconds=check, state_seconds=60.0) is None
