"""When to look at an object again: pure, given the cycle's outcome and a random source.

Failures back off per object, exponentially with full jitter, from a couple of
seconds up to a cap, and reset on success; a wait the other side asked for
(Retry-After, a rate, GREEN-API's quota window) is honoured as a floor even
above the cap. For an instance the cap is its own state poll interval (at most
five minutes): a failing service then never gets more calls from an object than
a healthy one would, and an object notices the service is back within one poll
interval. A healthy object is polled at its interval, sooner while
something is in motion (linking, starting, creating, settling), with a little
jitter so a fleet's polls spread out.
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


def backoff(failures: int, rng: random.Random, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Full jitter: uniform in (0, min(cap, base * 2**(failures-1))], at least a second."""
    ceiling = min(cap, BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, failures - 1))
    return max(1.0, rng.uniform(0.0, ceiling))


def failure_cap(state_seconds: float) -> float:
    """An instance's backoff cap: its poll interval, within [10 s, 5 min]."""
    return min(BACKOFF_CAP_SECONDS, max(10.0, state_seconds))


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
