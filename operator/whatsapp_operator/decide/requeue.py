"""When to look at an object again: pure, given the cycle's outcome and a random source.

Failures back off per object, exponentially with full jitter, and reset on
success; a wait the other side asked for (Retry-After, a rate, GREEN-API's
quota window) is honoured as a floor even above any cap. An instance's polls
are its GREEN-API calls, so while GREEN-API fails they stay at or below the
rate of a healthy instance: only the first failure after a success is retried
soon (a blip), and that early retry is paid back by the next poll after the
streak ends; every later failure waits at least the poll interval, growing to
two intervals, so an object notices the service is back within two intervals.
A healthy object is polled at its interval, sooner while something is in
motion (linking, starting, creating, settling), with a little jitter so a
fleet's polls spread out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from whatsapp_operator.wire.models import InstanceState

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0
# While a phone is being linked, the state is checked this often, so that the
# scan shows up in status promptly (GREEN-API suggests 5 s after creation).
LINKING_STATE_SECONDS = 10.0
WHILE_STARTING_SECONDS = 15.0
# GREEN-API's partner guide: poll getStateInstance every 5 s until the instance exists.
WHILE_CREATING_SECONDS = 5.0
# A stalled object with no instance to poll: only a change can help, and every change
# that can (its spec, its partner's status, a referenced Secret) wakes it at once.
STALLED_RECHECK_SECONDS = 300.0
# A healthy poll comes within +-10 % of its interval; a retry after failures never sooner.
POLL_JITTER = 1.1


# An object seen for the first time that is not settled starts within this spread.
FIRST_SPREAD_SECONDS = 2.0
# GREEN-API limits each instance to one state, settings or reboot call a second, counted
# across every client. An object another process handled until now (moved here from
# another shard) may have had that process's last call land just before the move: the
# first call here waits out the window, with a margin for that process's watch lag.
HANDOVER_SECONDS = 2.0


def first_delay(
    *, settled: bool, handled_before: bool, state_seconds: float, rng: random.Random
) -> float:
    """When an object this process has just started to watch is first reconciled.

    Settled objects (a restart) spread their first poll over one state interval; others
    start soon, after the handover window when another process may still be calling.
    """
    if settled:
        return rng.uniform(HANDOVER_SECONDS, max(state_seconds, HANDOVER_SECONDS))
    if handled_before:
        return HANDOVER_SECONDS + rng.uniform(0.0, FIRST_SPREAD_SECONDS)
    return rng.uniform(0.0, FIRST_SPREAD_SECONDS)


def backoff(failures: int, rng: random.Random, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Full jitter: uniform in (0, min(cap, base * 2**(failures-1))], at least a second."""
    ceiling = min(cap, BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, failures - 1))
    return max(1.0, rng.uniform(0.0, ceiling))


def after_poll_failure(
    failures: int, retry_after: float | None, rng: random.Random, interval: float
) -> float:
    """An instance's wait after its `failures`-th failed poll in a row (`interval`: its
    state poll interval).

    The first is retried soon (1-2 s): most failures are blips. Every later one waits at
    least `interval`, growing exponentially (with jitter) to twice it, so a failing
    GREEN-API never gets more calls from an instance than a healthy one would make.
    """
    if failures <= 1:
        delay = backoff(1, rng, cap=interval)
    else:
        grown = BACKOFF_BASE_SECONDS * 2 ** min(failures - 1, 30)
        ceiling = min(2 * interval, max(interval * POLL_JITTER, grown))
        delay = rng.uniform(interval, max(interval * POLL_JITTER, ceiling))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def ahead_of_schedule(first_retry: float, interval: float) -> float:
    """How much sooner than a normal poll the first retry of a streak came: the poll after
    the streak ends comes that much later, so over time the retry costs no extra call."""
    return max(0.0, interval - first_retry)


def after_failure(
    failures: int,
    retry_after: float | None,
    rng: random.Random,
    cap: float = BACKOFF_CAP_SECONDS,
) -> float:
    """The wait after the `failures`-th failure in a row."""
    delay = backoff(failures, rng, cap)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def after_stall(rng: random.Random) -> float:
    """The safety-net recheck of a stalled object that has no instance to poll, jittered."""
    return STALLED_RECHECK_SECONDS * rng.uniform(0.9, 1.1)


@dataclass(frozen=True)
class Motion:
    """What is going on with a healthy object, as far as the poll interval cares."""

    state_seconds: float
    state: InstanceState | None
    linking: bool
    settle_ends: datetime | None
    now: datetime


def in_motion(motion: Motion) -> bool:
    """Whether something makes a healthy object poll sooner than its interval."""
    return (
        motion.linking
        or motion.state in (InstanceState.STARTING, InstanceState.CREATING)
        or motion.settle_ends is not None
    )


def repaying(motion: Motion, rng: random.Random, ahead: float) -> tuple[float, float]:
    """The next poll after a success, and what is left of `ahead` (`ahead_of_schedule`).

    A routine poll comes `ahead` later, paying back a failure's early retry; a poll that
    something in motion wants sooner (a settle window, linking) is not delayed, and the
    next routine one pays instead.
    """
    delay = after_success(motion, rng)
    if in_motion(motion):
        return delay, ahead
    return delay + ahead, 0.0


def after_success(motion: Motion, rng: random.Random) -> float:
    """A healthy object's next poll: after its interval, sooner while in motion, jittered."""
    delay = motion.state_seconds
    if motion.linking:
        delay = min(delay, LINKING_STATE_SECONDS)
    if motion.state is InstanceState.STARTING:
        delay = min(delay, WHILE_STARTING_SECONDS)
    if motion.state is InstanceState.CREATING:
        delay = min(delay, WHILE_CREATING_SECONDS)
    if motion.settle_ends is not None:
        until_settled = (motion.settle_ends - motion.now).total_seconds() + 1.0
        delay = min(delay, max(1.0, until_settled))
    # Jitter spreads a fleet's polls so they do not arrive at GREEN-API together.
    return delay * rng.uniform(0.9, 1.1)
