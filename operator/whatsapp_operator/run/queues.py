"""Queues: GREEN-API's incoming and outgoing queues, read when due and cleared through the gate.

The counts are read (two calls) only while webhookUrl is set and only when due
(`decide.queues.read_due`), riding on a state poll; what they mean is decided in
`decide/queues.py`. Clears are writes: each goes through the gate with its intent
recorded first. GREEN-API clears a queue at most once a minute and answers an earlier
call `isCleared: false` with `leftTime`: that is no failure, the clear is tried again
after `leftTime` (`cycle.wake_after`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from whatsapp_operator import constants
from whatsapp_operator.api.queues import QueuesStatus
from whatsapp_operator.decide import queues as decide
from whatsapp_operator.decide.events import Event
from whatsapp_operator.ports import Effect, IntentNotRecorded
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.cycle import (
    Cycle,
    Memory,
    held_back_if_unrecorded,
    object_log,
    pending_action,
    record_intent,
    record_performed,
)
from whatsapp_operator.run.effects import Performed, Result
from whatsapp_operator.timestamps import parse_time
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import QueueClearResult

_INCOMING = "the incoming queue (undelivered notifications)"
_OUTGOING = "the outgoing queue (messages waiting to be sent)"


def webhooks_on(memory: Memory) -> bool:
    """Whether GREEN-API has a webhookUrl to deliver to (as last read)."""
    return bool(memory.settings is not None and memory.settings.webhook_url)


def _check(cycle: Cycle) -> tuple[float, float]:
    intervals = cycle.obj.spec.intervals
    state = float(intervals.state_seconds)
    return decide.check_seconds(cycle.obj.spec.queues.check_seconds, intervals.state_seconds), state


def note_schedule(cycle: Cycle, memory: Memory) -> None:
    """Remember when the counts are next due, for the quiet polls (None: not watched)."""
    check, state = _check(cycle)
    memory.queues_check_seconds = check - state / 2
    memory.queues_due = None
    if webhooks_on(memory) and memory.queues_tried_at is not None:
        memory.queues_due = memory.queues_tried_at + timedelta(seconds=memory.queues_check_seconds)
    written = cycle.queues.read_at if cycle.queues is not None else ""
    memory.queues_refresh_at = parse_time(written) + decide.REFRESH if written else None


async def quiet_queue_read(memory: Memory, api: InstanceApi, now: datetime) -> bool:
    """A quiet poll's share of the queue reads: False when a whole reconcile must follow.

    Counts that are as they were, with nothing waiting to be delivered, change nothing in
    status, so the quiet poll reads them itself; any other reading is handed to the
    whole reconcile (`memory.queue_reading`) instead of being read twice.
    """
    if memory.queues_due is None or now < memory.queues_due:
        return True
    memory.queues_tried_at = now
    memory.queues_due = now + timedelta(seconds=memory.queues_check_seconds)
    try:
        counts = await api.get_webhooks_count(), await api.get_messages_count()
    except gerr.GreenApiError:
        return True  # tried: the next check is the next chance, as in a whole reconcile
    stale = memory.queues_refresh_at is not None and now >= memory.queues_refresh_at
    if counts == memory.queue_counts and counts[0] == 0 and not stale:
        return True
    memory.queue_reading = (counts[0], counts[1], now)
    return False


def _read_due(cycle: Cycle, memory: Memory) -> bool:
    if memory.queues_tried_at is None and cycle.queues is not None and cycle.queues.read_at:
        # After a restart: the schedule goes on from the last read on record.
        memory.queues_tried_at = parse_time(cycle.queues.read_at)
    check, state = _check(cycle)
    due = decide.read_due(memory.queues_tried_at, check_seconds=check, state_seconds=state)
    return due is None or cycle.now >= due


async def _counts(cycle: Cycle, api: InstanceApi) -> tuple[int, int] | None:
    """Both counts, or None when GREEN-API did not give them (logged; tried at the next check)."""
    try:
        return await api.get_webhooks_count(), await api.get_messages_count()
    except gerr.GreenApiError as exc:
        object_log(cycle.namespace, cycle.name).info("queue counts not read: %s", exc.message)
        return None


async def watch_queues(
    cycle: Cycle, api: InstanceApi, memory: Memory, writes_allowed: bool
) -> None:
    """Clear on an account change when asked to, read the counts when due, and judge delivery."""
    spec = cycle.obj.spec.queues
    if cycle.queues is None:  # a requested clear may have set it already
        cycle.queues = cycle.previous.queues
    cycle.queues = _without_unsent_intent(cycle.queues, memory)
    state = cycle.state.state if cycle.state is not None else None
    hooks = webhooks_on(memory)
    if state in decide.READABLE_STATES:
        if spec.clear_on_account_change:
            wid = memory.account.wid if memory.account is not None else ""
            change = decide.account_change(cycle.queues, wid=wid, state=state)
            if change is None or not writes_allowed:
                cycle.queues = decide.note_account(cycle.queues, wid=wid, state=state)
            else:
                await _clear_on_account_change(cycle, api, memory, change)
        taken, memory.queue_reading = memory.queue_reading, None
        if hooks and taken is not None:
            _take(cycle, memory, decide.Reading(incoming=taken[0], outgoing=taken[1], at=taken[2]))
        elif hooks and _read_due(cycle, memory):
            memory.queues_tried_at = cycle.now
            counts = await _counts(cycle, api)
            if counts is not None:
                _take(cycle, memory, decide.Reading(counts[0], counts[1], at=cycle.now))
    judge(cycle, memory)
    _warn_on_failing(cycle)


def judge(cycle: Cycle, memory: Memory) -> None:
    """WebhookDelivery from the queues as this cycle knows them (also for a write's preview)."""
    cycle.delivery = decide.delivery(
        cycle.queues if cycle.queues is not None else cycle.previous.queues,
        webhooks_on=webhooks_on(memory),
        window=timedelta(seconds=cycle.obj.spec.queues.growth_window_seconds),
        now=cycle.now,
    )


def _take(cycle: Cycle, memory: Memory, reading: decide.Reading) -> None:
    memory.queue_counts = (reading.incoming, reading.outgoing)
    cycle.queues = decide.track(cycle.queues, reading)


def _warn_on_failing(cycle: Cycle) -> None:
    assert cycle.delivery is not None
    if cycle.delivery is decide.OFF:
        return
    status, _, message = cycle.delivery
    before = next(
        (
            c
            for c in cycle.previous.conditions
            if c.type == constants.ConditionType.WEBHOOK_DELIVERY
        ),
        None,
    )
    if status == decide.FALSE and (before is None or before.status != decide.FALSE):
        cycle.events.append(Event("Warning", Reason.WEBHOOK_DELIVERY_FAILING, message))


async def _clear(
    cycle: Cycle,
    effect: Effect,
    call: Callable[[], Awaitable[QueueClearResult]],
    record: Callable[[], Awaitable[None]] | None,
    detail: str,
) -> Performed[QueueClearResult]:
    """One clear through the gate; an answer that proves nothing was done is raised."""
    performed = await cycle.effects.perform(
        effect, call, record=record, detail=f"instance {cycle.instance_id}, {detail}"
    )
    if performed.result is Result.NOT_SENT and performed.error is not None:
        raise performed.error  # not done: the next cycle tries again, after backoff
    return performed


def _deferred(performed: Performed[QueueClearResult]) -> int | None:
    """GREEN-API's leftTime when it refused the clear for its once-a-minute limit."""
    value = performed.value
    if performed.result is not Result.DONE or value is None or value.cleared:
        return None
    return max(1, value.left_time or 60)


def _defer(cycle: Cycle, what: str, left: int) -> None:
    cycle.wake_after = min(cycle.wake_after or float(left), float(left))
    cycle.events.append(
        Event(
            "Normal",
            Reason.QUEUE_CLEAR_DEFERRED,
            f"GREEN-API clears {what} at most once a minute; trying again in {left} s",
        )
    )


def _unconfirmed(cycle: Cycle, what: str, performed: Performed[QueueClearResult]) -> None:
    error = performed.error.message if performed.error is not None else "no usable answer"
    cycle.events.append(
        Event(
            "Warning",
            Reason.QUEUE_CLEAR_UNCONFIRMED,
            f"Clearing {what} got no usable answer ({error}); it is not sent again",
        )
    )


def _dropped(count: int | None, noun: str) -> str:
    return f"{count} {noun}" if count is not None else f"an unknown number of {noun}"


async def perform_clear_actions(cycle: Cycle, api: InstanceApi) -> None:
    """The clear-*-queue-requested-at annotations, each performed once through the gate."""
    actions = (
        (
            constants.Action.CLEAR_WEBHOOKS_QUEUE,
            Effect.CLEAR_WEBHOOKS_QUEUE,
            api.get_webhooks_count,
            api.clear_webhooks_queue,
            _INCOMING,
            "notifications",
            "incoming",
        ),
        (
            constants.Action.CLEAR_MESSAGES_QUEUE,
            Effect.CLEAR_MESSAGES_QUEUE,
            api.get_messages_count,
            api.clear_messages_queue,
            _OUTGOING,
            "messages",
            "outgoing",
        ),
    )
    for action, effect, count, call, what, noun, field in actions:
        value = pending_action(cycle, action)
        if value is None:
            continue
        try:
            before: int | None = await count()
        except gerr.GreenApiError:
            before = None

        async def record(action: str = action, value: str = value) -> None:
            await record_intent(cycle, {"handledActions": {action: value}})

        with held_back_if_unrecorded(cycle, action, value):
            performed = await _clear(cycle, effect, call, record, f"requested {value}")
        left = _deferred(performed)
        if left is not None:
            # Not done: the report takes the intent back, and the clear comes after leftTime.
            _defer(cycle, what, left)
            continue
        await record_performed(cycle, action, value)
        if performed.result is Result.DONE:
            cycle.events.append(
                Event(
                    "Normal",
                    Reason.QUEUE_CLEARED,
                    f"Cleared {what} on request: dropped {_dropped(before, noun)}",
                )
            )
            if cycle.previous.queues is not None and cycle.previous.queues.read_at:
                queues = cycle.queues or cycle.previous.queues
                cycle.queues = queues.model_copy(update={field: 0})
        else:
            _unconfirmed(cycle, what, performed)


def _without_unsent_intent(queues: QueuesStatus | None, memory: Memory) -> QueuesStatus | None:
    """status.queues as if an intent stored without an answer had not landed: the account
    change it stands for is then seen again, and its clears made once."""
    if memory.queues_unsent is None or queues is None:
        return queues
    intent, before = memory.queues_unsent
    if (queues.account_wid, queues.cleared_for_block) != (
        intent.account_wid,
        intent.cleared_for_block,
    ):
        return queues
    return queues.model_copy(
        update={"account_wid": before.account_wid, "cleared_for_block": before.cleared_for_block}
    )


async def _clear_on_account_change(
    cycle: Cycle, api: InstanceApi, memory: Memory, change: decide.AccountChange
) -> None:
    """Both queues, once per change: the intent (status.queues) is recorded first."""
    counts = await _counts(cycle, api)
    intent = change.after.model_dump(mode="json", by_alias=True, exclude_none=True)
    before = cycle.queues or QueuesStatus()

    async def record() -> None:
        await record_intent(cycle, {"queues": intent})

    try:
        webhooks = await _clear(
            cycle, Effect.CLEAR_WEBHOOKS_QUEUE, api.clear_webhooks_queue, record, change.why
        )
    except IntentNotRecorded:
        memory.queues_unsent = (change.after, before)
        raise
    memory.queues_unsent = None
    messages = await _clear(
        cycle, Effect.CLEAR_MESSAGES_QUEUE, api.clear_messages_queue, None, change.why
    )
    left = [t for t in (_deferred(webhooks), _deferred(messages)) if t is not None]
    if left:
        # Not done: status.queues goes back to what it was, and the clear is retried.
        _defer(cycle, "a queue", max(left))
        return
    cycle.queues = change.after
    for performed, what in ((webhooks, _INCOMING), (messages, _OUTGOING)):
        if performed.result is not Result.DONE:
            _unconfirmed(cycle, what, performed)
    if webhooks.done and messages.done:
        incoming, outgoing = counts if counts is not None else (None, None)
        cycle.events.append(
            Event(
                "Normal",
                Reason.QUEUES_CLEARED,
                f"Cleared both queues because {change.why}: dropped "
                f"{_dropped(incoming, 'undelivered notifications')} and "
                f"{_dropped(outgoing, 'queued messages')}",
            )
        )
        memory.queues_tried_at = cycle.now
        cycle.queues = decide.track(
            change.after, decide.Reading(incoming=0, outgoing=0, at=cycle.now)
        )
