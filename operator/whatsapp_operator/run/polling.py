"""Quiet polls: after a reconcile that left nothing in motion, routine polls are the
state call alone (`decide/polling` says when), until something changes.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

from whatsapp_operator.api.queues import QueuesStatus
from whatsapp_operator.decide import requeue
from whatsapp_operator.decide.plan import SettingsOutcome
from whatsapp_operator.decide.polling import quiet_after
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.run.cycle import Inputs, Polled
from whatsapp_operator.run.memory import Memory
from whatsapp_operator.run.queues import note_schedule, quiet_queue_read
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import InstanceState


def remember_quiet(
    inputs: Inputs,
    memory: Memory,
    *,
    settings: SettingsOutcome,
    settle_ends: datetime | None,
    failed: bool,
    state: InstanceState | None,
    queues: QueuesStatus | None,
    wake_after: float | None,
    linking_active: bool,
    lifecycle_due: datetime | None = None,
) -> Memory:
    """The memory with whether the next routine poll may be a quiet one.

    `lifecycle_due`: when a token rotation or a plan check needs a whole reconcile.
    """
    intervals = inputs.obj.spec.intervals
    read_at = memory.cache.read_at
    settings_due = (
        read_at + timedelta(seconds=intervals.settings_seconds) if read_at is not None else None
    )
    memory = note_schedule(inputs, memory, queues)
    if settings_due is not None and wake_after is not None:
        # A queue clear put off for its leftTime is retried by a whole reconcile.
        settings_due = min(settings_due, inputs.now + timedelta(seconds=wake_after))
    quiet = quiet_after(
        settings=settings,
        failed=failed,
        state=state,
        linking_active=linking_active,
        settle_ends=settle_ends,
        settings_due=settings_due,
        state_seconds=float(intervals.state_seconds),
        lifecycle_due=lifecycle_due,
    )
    return replace(memory, quiet=quiet)


async def quiet_poll(
    memory: Memory, api: InstanceApi | None, now: datetime, rng: random.Random
) -> Polled:
    """getStateInstance alone: the delay to the next poll when the state is as it was.

    None when the object needs a whole reconcile: not quiet, settings due, the state
    changed, or the call failed (the reconcile reports failures).
    """
    quiet = memory.quiet
    if quiet is None or api is None or now >= quiet.until:
        return Polled(None, memory)
    try:
        report = await api.get_state()
    except gerr.GreenApiError:
        # The whole reconcile that follows at once is this failure's early retry: if it
        # fails too, it waits a poll interval; if not, the next poll comes one later.
        failures = max(memory.failures, 1)
        return Polled(None, replace(memory, failures=failures, ahead=quiet.state_seconds))
    if report.state is not quiet.state:
        return Polled(None, memory)
    calm, memory = await quiet_queue_read(memory, api, now)
    if not calm:
        return Polled(None, memory)
    motion = requeue.Motion(
        state_seconds=quiet.state_seconds,
        state=quiet.state,
        linking=False,
        settle_ends=None,
        now=now,
    )
    delay, ahead = requeue.repaying(motion, rng, memory.ahead)
    return Polled(delay, replace(memory, ahead=ahead))
