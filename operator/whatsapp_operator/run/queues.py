"""Queues: GREEN-API's incoming and outgoing queues, read when due and cleared through the gate.

The counts are read (two calls) only while webhookUrl is set and only when due
(`decide.queues.read_due`), riding on a state poll; what they mean is decided in
`decide/queues.py`. Clears are writes: each goes through the gate with its intent
recorded first. GREEN-API clears a queue at most once a minute and answers an earlier
call `isCleared: false` with `leftTime`: that is no failure, the clear is tried again
after `leftTime` (`Queues.wake_after`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from whatsapp_operator import constants
from whatsapp_operator.api.queues import QueuesStatus
from whatsapp_operator.decide import queues as decide
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.queues import Off
from whatsapp_operator.decide.queues import Verdict as Delivery
from whatsapp_operator.ports import Effect, IntentNotRecorded
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.cycle import Inputs, Settled
from whatsapp_operator.run.effects import Performed, Result
from whatsapp_operator.run.journal import Intent, Journal, action_key
from whatsapp_operator.run.memory import Memory, QueueWatch
from whatsapp_operator.timestamps import parse_time
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import InstanceState, QueueClearResult


@dataclass(frozen=True)
class Queues:
    """status.queues as this reconcile leaves it, and how soon to look again (seconds)
    although healthy: a clear GREEN-API put off for its leftTime."""

    status: QueuesStatus | None
    wake_after: float | None = None

    def deferred(self, left: int) -> Queues:
        """Look again after `left` seconds at the latest."""
        wake = min(self.wake_after or float(left), float(left))
        return replace(self, wake_after=wake)


@dataclass(frozen=True)
class Watched:
    """What the queue step leaves: the queues, the WebhookDelivery verdict, the memory."""

    queues: Queues
    delivery: Delivery | Off | None
    memory: Memory
    error: Exception | None = None


_INCOMING = "the incoming queue (undelivered notifications)"
_OUTGOING = "the outgoing queue (messages waiting to be sent)"


def webhooks_on(memory: Memory) -> bool:
    """Whether GREEN-API has a webhookUrl to deliver to (as last read)."""
    settings = memory.cache.settings
    return bool(settings is not None and settings.webhook_url)


def _check(inputs: Inputs) -> tuple[float, float]:
    intervals = inputs.obj.spec.intervals
    state = float(intervals.state_seconds)
    check = decide.check_seconds(inputs.obj.spec.queues.check_seconds, intervals.state_seconds)
    return check, state


def note_schedule(inputs: Inputs, memory: Memory, queues: QueuesStatus | None) -> Memory:
    """The memory with when the counts are next due, for the quiet polls (None: not watched)."""
    check, state = _check(inputs)
    watch = memory.queues
    check_seconds = check - state / 2
    due = None
    if webhooks_on(memory) and watch.tried_at is not None:
        due = watch.tried_at + timedelta(seconds=check_seconds)
    written = queues.read_at if queues is not None else ""
    refresh_at = parse_time(written) + decide.REFRESH if written else None
    return replace(
        memory,
        queues=replace(watch, check_seconds=check_seconds, due=due, refresh_at=refresh_at),
    )


async def quiet_queue_read(memory: Memory, api: InstanceApi, now: datetime) -> tuple[bool, Memory]:
    """A quiet poll's share of the queue reads: False when a whole reconcile must follow.

    Counts that are as they were, with nothing waiting to be delivered, change nothing in
    status, so the quiet poll reads them itself; any other reading is handed to the
    whole reconcile (`QueueWatch.reading`) instead of being read twice.
    """
    watch = memory.queues
    if watch.due is None or now < watch.due:
        return True, memory
    watch = replace(watch, tried_at=now, due=now + timedelta(seconds=watch.check_seconds))
    memory = replace(memory, queues=watch)
    try:
        counts = await api.get_webhooks_count(), await api.get_messages_count()
    except gerr.GreenApiError:
        return True, memory  # tried: the next check is the next chance, as in a whole reconcile
    stale = watch.refresh_at is not None and now >= watch.refresh_at
    if counts == watch.counts and counts[0] == 0 and not stale:
        return True, memory
    return False, replace(memory, queues=replace(watch, reading=(counts[0], counts[1], now)))


def _read_due(inputs: Inputs, watch: QueueWatch) -> bool:
    check, state = _check(inputs)
    due = decide.read_due(watch.tried_at, check_seconds=check, state_seconds=state)
    return due is None or inputs.now >= due


async def _counts(inputs: Inputs, api: InstanceApi) -> tuple[int, int] | None:
    """Both counts, or None when GREEN-API did not give them (logged; tried at the next check)."""
    try:
        return await api.get_webhooks_count(), await api.get_messages_count()
    except gerr.GreenApiError as exc:
        inputs.log.info("queue counts not read: %s", exc.message)
        return None


async def watch_queues(
    inputs: Inputs,
    journal: Journal,
    settled: Settled,
    api: InstanceApi,
    memory: Memory,
    *,
    state: InstanceState | None,
    queues: Queues,
    writes_allowed: bool,
) -> Watched:
    """Clear on an account change when asked to, read the counts when due, and judge delivery."""
    spec = inputs.obj.spec.queues
    hooks = webhooks_on(memory)
    if state in decide.READABLE_STATES:
        if spec.clear_on_account_change:
            wid = memory.account.wid if memory.account is not None else ""
            change = decide.account_change(queues.status, wid=wid, state=state)
            if change is None or not writes_allowed:
                queues = replace(
                    queues, status=decide.note_account(queues.status, wid=wid, state=state)
                )
            else:
                try:
                    queues, memory = await _clear_on_account_change(
                        inputs, journal, settled, api, memory, queues, change
                    )
                except (gerr.GreenApiError, IntentNotRecorded) as exc:
                    return Watched(queues, None, memory, exc)
        watch = replace(memory.queues, reading=None)
        taken = memory.queues.reading
        read_at = queues.status.read_at if queues.status is not None else ""
        if watch.tried_at is None and read_at:
            # After a restart: the schedule goes on from the last read on record.
            watch = replace(watch, tried_at=parse_time(read_at))
        if hooks and taken is not None:
            reading = decide.Reading(incoming=taken[0], outgoing=taken[1], at=taken[2])
            queues, watch = _take(queues, watch, reading)
        elif hooks and _read_due(inputs, watch):
            watch = replace(watch, tried_at=inputs.now)
            counts = await _counts(inputs, api)
            if counts is not None:
                reading = decide.Reading(counts[0], counts[1], at=inputs.now)
                queues, watch = _take(queues, watch, reading)
        memory = replace(memory, queues=watch)
    delivery = judge(inputs, queues.status, memory)
    _warn_on_failing(inputs, journal, delivery)
    return Watched(queues, delivery, memory)


def judge(inputs: Inputs, queues: QueuesStatus | None, memory: Memory) -> Delivery | Off:
    """WebhookDelivery from the queues as this cycle knows them (also for a write's preview)."""
    return decide.delivery(
        queues,
        webhooks_on=webhooks_on(memory),
        window=timedelta(seconds=inputs.obj.spec.queues.growth_window_seconds),
        now=inputs.now,
    )


def _take(queues: Queues, watch: QueueWatch, reading: decide.Reading) -> tuple[Queues, QueueWatch]:
    return (
        replace(queues, status=decide.track(queues.status, reading)),
        replace(watch, counts=(reading.incoming, reading.outgoing)),
    )


def _warn_on_failing(inputs: Inputs, journal: Journal, delivery: Delivery | Off) -> None:
    if delivery is decide.OFF:
        return
    status, _, message = delivery
    before = next(
        (
            c
            for c in inputs.previous.conditions
            if c.type == constants.ConditionType.WEBHOOK_DELIVERY
        ),
        None,
    )
    if status == decide.FALSE and (before is None or before.status != decide.FALSE):
        journal.note(Event("Warning", Reason.WEBHOOK_DELIVERY_FAILING, message))


async def _clear(
    journal: Journal,
    settled: Settled,
    effect: Effect,
    call: Callable[[], Awaitable[QueueClearResult]],
    intent: Intent | None,
    detail: str,
) -> Performed[QueueClearResult]:
    """One clear through the gate; an answer that proves nothing was done is raised."""
    performed = await journal.perform(
        effect, call, intent=intent, detail=f"instance {settled.instance_id}, {detail}"
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


def _defer(journal: Journal, queues: Queues, what: str, left: int) -> Queues:
    journal.note(
        Event(
            "Normal",
            Reason.QUEUE_CLEAR_DEFERRED,
            f"GREEN-API clears {what} at most once a minute; trying again in {left} s",
        )
    )
    return queues.deferred(left)


def _unconfirmed(journal: Journal, what: str, performed: Performed[QueueClearResult]) -> None:
    error = performed.error.message if performed.error is not None else "no usable answer"
    journal.note(
        Event(
            "Warning",
            Reason.QUEUE_CLEAR_UNCONFIRMED,
            f"Clearing {what} got no usable answer ({error}); it is not sent again",
        )
    )


def _dropped(count: int | None, noun: str) -> str:
    return f"{count} {noun}" if count is not None else f"an unknown number of {noun}"


@dataclass(frozen=True)
class Cleared:
    """The requested clears: the queues they leave, and what kept one from being made."""

    queues: Queues
    error: Exception | None = None


async def perform_clear_actions(
    inputs: Inputs, journal: Journal, settled: Settled, api: InstanceApi, queues: Queues
) -> Cleared:
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
        value = journal.pending(action)
        if value is None:
            continue
        try:
            before: int | None = await count()
        except gerr.GreenApiError:
            before = None
        intent = Intent({"handledActions": {action: value}}, action_key(action))
        try:
            performed = await _clear(journal, settled, effect, call, intent, f"requested {value}")
        except (gerr.GreenApiError, IntentNotRecorded) as exc:
            return Cleared(queues, exc)
        left = _deferred(performed)
        if left is not None:
            # Not done: the report takes the intent back, and the clear comes after leftTime.
            queues = _defer(journal, queues, what, left)
            continue
        await journal.performed_action(action, value)
        if performed.result is Result.DONE:
            journal.note(
                Event(
                    "Normal",
                    Reason.QUEUE_CLEARED,
                    f"Cleared {what} on request: dropped {_dropped(before, noun)}",
                )
            )
            if queues.status is not None and queues.status.read_at:
                queues = replace(queues, status=queues.status.model_copy(update={field: 0}))
        else:
            _unconfirmed(journal, what, performed)
    return Cleared(queues)


async def _clear_on_account_change(
    inputs: Inputs,
    journal: Journal,
    settled: Settled,
    api: InstanceApi,
    memory: Memory,
    queues: Queues,
    change: decide.AccountChange,
) -> tuple[Queues, Memory]:
    """Both queues, once per change: the intent (the account in status.queues) is recorded
    first, and remembered when its record fails: the clears it stands for were not made."""
    counts = await _counts(inputs, api)
    after = change.after
    intent = Intent(
        {"queues": {"accountWid": after.account_wid, "clearedForBlock": after.cleared_for_block}},
        "queues",
    )
    webhooks = await _clear(
        journal, settled, Effect.CLEAR_WEBHOOKS_QUEUE, api.clear_webhooks_queue, intent, change.why
    )
    messages = await _clear(
        journal, settled, Effect.CLEAR_MESSAGES_QUEUE, api.clear_messages_queue, None, change.why
    )
    left = [t for t in (_deferred(webhooks), _deferred(messages)) if t is not None]
    if left:
        # Not done: status.queues goes back to what it was, and the clear is retried.
        return _defer(journal, queues, "a queue", max(left)), memory
    queues = replace(queues, status=after)
    for performed, what in ((webhooks, _INCOMING), (messages, _OUTGOING)):
        if performed.result is not Result.DONE:
            _unconfirmed(journal, what, performed)
    if webhooks.done and messages.done:
        incoming, outgoing = counts if counts is not None else (None, None)
        journal.note(
            Event(
                "Normal",
                Reason.QUEUES_CLEARED,
                f"Cleared both queues because {change.why}: dropped "
                f"{_dropped(incoming, 'undelivered notifications')} and "
                f"{_dropped(outgoing, 'queued messages')}",
            )
        )
        memory = replace(memory, queues=replace(memory.queues, tried_at=inputs.now))
        tracked = decide.track(after, decide.Reading(incoming=0, outgoing=0, at=inputs.now))
        queues = replace(queues, status=tracked)
    return queues, memory
