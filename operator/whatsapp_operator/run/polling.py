"""Quiet polls: after a reconcile that left nothing in motion, routine polls are the
state call alone (`decide/polling` says when), until something changes.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from whatsapp_operator.decide import requeue
from whatsapp_operator.decide.polling import quiet_after
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.run.cycle import Cycle, Memory, Outcome
from whatsapp_operator.run.queues import note_schedule, quiet_queue_read
from whatsapp_operator.wire import errors as gerr


def remember_quiet(
    cycle: Cycle,
    memory: Memory,
    outcome: Outcome,
    api: InstanceApi | None,
    *,
    linking_active: bool,
    lifecycle_due: datetime | None = None,
) -> None:
    """Note whether the next routine poll may be a quiet one, and the client it would use.

    `lifecycle_due`: when a token rotation or a plan check needs a whole reconcile.
    """
    intervals = cycle.obj.spec.intervals
    memory.poll_api = api
    settings_due = (
        memory.settings_read_at + timedelta(seconds=intervals.settings_seconds)
        if memory.settings_read_at is not None
        else None
    )
    note_schedule(cycle, memory)
    if settings_due is not None and cycle.wake_after is not None:
        # A queue clear put off for its leftTime is retried by a whole reconcile.
        settings_due = min(settings_due, cycle.now + timedelta(seconds=cycle.wake_after))
    memory.quiet = quiet_after(
        settings=outcome.settings,
        failed=cycle.failure is not None,
        state=cycle.state.state if cycle.state is not None else None,
        linking_active=linking_active,
        settle_ends=outcome.settle_ends,
        settings_due=settings_due,
        state_seconds=float(intervals.state_seconds),
        lifecycle_due=lifecycle_due,
    )


async def quiet_poll(memory: Memory, now: datetime, rng: random.Random) -> float | None:
    """getStateInstance alone: the delay to the next poll when the state is as it was.

    None when the object needs a whole reconcile: not quiet, settings due, the state
    changed, or the call failed (the reconcile reports failures).
    """
    quiet, api = memory.quiet, memory.poll_api
    if quiet is None or api is None or now >= quiet.until:
        return None
    try:
        report = await api.get_state()
    except gerr.GreenApiError:
        # The whole reconcile that follows at once is this failure's early retry: if it
        # fails too, it waits a poll interval; if not, the next poll comes one later.
        memory.failures = max(memory.failures, 1)
        memory.ahead = quiet.state_seconds
        return None
    if report.state is not quiet.state:
        return None
    if not await quiet_queue_read(memory, api, now):
        return None
    motion = requeue.Motion(
        state_seconds=quiet.state_seconds,
        state=quiet.state,
        linking=False,
        settle_ends=None,
        now=now,
    )
    delay, memory.ahead = requeue.repaying(motion, rng, memory.ahead)
    return delay
