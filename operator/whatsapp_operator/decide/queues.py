"""Pure: GREEN-API's queues. Is the incoming queue growing, for how long, what does
WebhookDelivery say, and is a clear due because the account changed?

GREEN-API keeps a notification it could not deliver and retries it every 60 s for 24 h,
so a receiver that is down or rejecting shows as an incoming queue that does not go
down. What the decision needs between reads (since when the queue has not gone down,
and from which count) lives in `status.queues`, so a restart does not reset it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from whatsapp_operator.api.queues import QueuesStatus
from whatsapp_operator.reasons import Reason
from whatsapp_operator.timestamps import format_time, parse_time
from whatsapp_operator.wire.models import InstanceState

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"

# WebhookDelivery's reasons: (status, message template).
DELIVERY_CONDITIONS: dict[Reason, tuple[str, str]] = {
    Reason.DELIVERING: (TRUE, "The incoming queue is empty: notifications reach webhookUrl"),
    Reason.QUEUE_DRAINING: (
        TRUE,
        "{incoming} notifications wait in the incoming queue; it is not growing",
    ),
    Reason.QUEUE_RISING: (
        TRUE,
        "The incoming queue grew from {base} to {incoming} since {since}; WebhookDelivery turns "
        "False if it keeps growing for {window}",
    ),
    Reason.QUEUE_GROWING: (
        FALSE,
        "The incoming queue grew from {base} to {incoming} since {since}: the receiver at "
        "webhookUrl is not taking notifications (GREEN-API retries each every 60 s and keeps it "
        "24 h)",
    ),
    Reason.QUEUE_NOT_READ: (UNKNOWN, "The queue counts have not been read yet"),
}

Verdict = tuple[str, Reason, str]  # (status, reason, message)


# Webhooks off (no webhookUrl): the condition is left out of status altogether.
class Off(Enum):
    """No webhookUrl: WebhookDelivery is not judged and is left out of status."""

    OFF = "off"


OFF = Off.OFF
# Counts that did not change are not written again before this: no status write per read.
REFRESH = timedelta(hours=1)
# States in which GREEN-API answers the queue methods (not creating, not starting).
READABLE_STATES = frozenset(
    {
        InstanceState.AUTHORIZED,
        InstanceState.NOT_AUTHORIZED,
        InstanceState.BLOCKED,
        InstanceState.YELLOW_CARD,
        InstanceState.SLEEP_MODE,
    }
)


@dataclass(frozen=True)
class Reading:
    """Both counts, and when they were read."""

    incoming: int
    outgoing: int
    at: datetime


def track(previous: QueuesStatus | None, reading: Reading) -> QueuesStatus:
    """The queues' status after `reading`: the counts, and the growth streak carried on.

    A streak starts at the first read that finds the incoming queue non-empty and not
    lower than at the read before; any read that finds it lower or empty ends it. What did
    not change is not written again within `REFRESH` (`readAt` stays).
    """
    before = previous if previous is not None and previous.read_at else None
    since, base = "", reading.incoming
    going_down = before is not None and reading.incoming < before.incoming
    if reading.incoming > 0 and not going_down:
        if before is not None and before.growing_since:
            since, base = before.growing_since, before.growth_base
        else:
            since = format_time(reading.at)
            base = before.incoming if before is not None else reading.incoming
    unchanged = (
        before is not None
        and (before.incoming, before.outgoing) == (reading.incoming, reading.outgoing)
        and (before.growing_since, before.growth_base) == (since, base)
        and reading.at - parse_time(before.read_at) < REFRESH
    )
    if unchanged:
        assert before is not None
        return before
    kept = previous or QueuesStatus()
    return kept.model_copy(
        update={
            "incoming": reading.incoming,
            "outgoing": reading.outgoing,
            "read_at": format_time(reading.at),
            "growing_since": since,
            "growth_base": base,
        }
    )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def delivery(
    queues: QueuesStatus | None, *, webhooks_on: bool, window: timedelta, now: datetime
) -> Verdict | Off:
    """WebhookDelivery: False once the incoming queue has grown for longer than `window`;
    `OFF` without a webhookUrl."""
    if not webhooks_on:
        return OFF
    if queues is None or not queues.read_at:
        reason = Reason.QUEUE_NOT_READ
    elif queues.incoming == 0:
        reason = Reason.DELIVERING
    elif not queues.growing_since or queues.incoming <= queues.growth_base:
        reason = Reason.QUEUE_DRAINING
    elif now - parse_time(queues.growing_since) >= window:
        reason = Reason.QUEUE_GROWING
    else:
        reason = Reason.QUEUE_RISING
    status, template = DELIVERY_CONDITIONS[reason]
    values = queues or QueuesStatus()
    message = template.format(
        incoming=values.incoming,
        base=values.growth_base,
        since=values.growing_since,
        window=_duration(window.total_seconds()),
    )
    return status, reason, message


@dataclass(frozen=True)
class AccountChange:
    """A clear of both queues that clearOnAccountChange asks for, and why."""

    why: str
    # What status.queues records once the clear is under way (the intent).
    after: QueuesStatus


def account_change(
    queues: QueuesStatus | None, *, wid: str, state: InstanceState | None
) -> AccountChange | None:
    """Whether the linked number changed, or a block began, since the queues were last kept.

    The first number seen is only remembered: there is nothing to compare it with.
    """
    kept = queues or QueuesStatus()
    blocked = state is InstanceState.BLOCKED
    after = kept.model_copy(
        update={"account_wid": wid or kept.account_wid, "cleared_for_block": blocked}
    )
    if blocked and not kept.cleared_for_block:
        return AccountChange("the number was blocked", after)
    if wid and kept.account_wid and wid != kept.account_wid:
        return AccountChange(f"the linked account changed from {kept.account_wid} to {wid}", after)
    return None


def note_account(
    queues: QueuesStatus | None, *, wid: str, state: InstanceState | None
) -> QueuesStatus | None:
    """status.queues with the account as it is now (when no clear is due)."""
    if queues is None and not wid:
        return None
    kept = queues or QueuesStatus()
    blocked = state is InstanceState.BLOCKED
    return kept.model_copy(
        update={
            "account_wid": wid or kept.account_wid,
            "cleared_for_block": kept.cleared_for_block and blocked,
        }
    )


def read_due(
    last: datetime | None, *, check_seconds: float, state_seconds: float
) -> datetime | None:
    """When the counts are next read (None: now).

    Reads ride on state polls; half a poll early counts as due, so that a poll's jitter
    never puts a read off by a whole poll.
    """
    if last is None:
        return None
    return last + timedelta(seconds=check_seconds - state_seconds / 2)


def check_seconds(configured: int | None, state_seconds: int) -> float:
    """The check interval: as configured, else twice the state poll (two reads per check)."""
    return float(configured if configured is not None else 2 * state_seconds)
