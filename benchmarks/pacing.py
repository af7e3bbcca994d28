"""The inherent wait: how long one object needs to converge with nothing else running.

Converge time for N objects is this wait plus the time the work itself takes. The
benchmark reports the rate over the time beyond it, N / (converge - inherent), which
is what a faster operator could improve; the inherent wait itself only shorter timings
could. The figures below mirror the operator's pacing; keep them in step with
`run/instances.py` (the first-reconcile spread of an object not yet settled) and
`decide/requeue.py` (the jitter).

An adopted, authorized instance whose settings differ from the spec converges in two
reconciles (docs/performance.md, "Inherent wait"):

1. after the first-reconcile spread, uniform in [0, INITIAL_DELAY_MAX]: getStateInstance,
   getSettings, getWaSettings, then setSettings (GREEN-API reboots the instance: it is
   `starting` for `starting_seconds`, and applies the values after `apply_seconds`);
2. once the settle window is over, `requeue.after_success` waits
   min(stateSeconds, max(1, settle + 1)) times a jitter in [0.9, 1.1]; this reconcile reads
   the settings back, finds them applied and writes Ready=True, Synced=True.

That holds while the instance is back and the values applied by the earliest second
reconcile: max(starting, apply) <= 0.9 * min(stateSeconds, settle + 1). Otherwise the
formula does not apply (more polls follow) and `inherent_wait` raises.
"""

from __future__ import annotations

from dataclasses import dataclass

# run/instances.py: _FIRST_SPREAD_SECONDS (an object seen first and not settled starts within it)
INITIAL_DELAY_MAX = 2.0
# decide/requeue.py: after_success multiplies the delay by uniform(0.9, 1.1)
JITTER_LOW, JITTER_HIGH = 0.9, 1.1
# benchmarks/floor_operator.py: the floor's stand-in for an external call
FLOOR_CALL_SECONDS = 0.020


@dataclass(frozen=True)
class Timings:
    """The emulator's and the objects' configured timings, in seconds."""

    starting: float
    apply: float
    settle: float
    state_seconds: float


def inherent_wait(timings: Timings) -> float:
    """The longest one object needs (upper ends of the delay and the jitter), in seconds."""
    second = min(timings.state_seconds, max(1.0, timings.settle + 1.0))
    if max(timings.starting, timings.apply) > JITTER_LOW * second:
        raise ValueError(
            "the emulator's starting/apply seconds outlast the settle window: the "
            "two-reconcile formula does not apply to these timings"
        )
    return INITIAL_DELAY_MAX + JITTER_HIGH * second


def mean_wait(timings: Timings) -> float:
    """The same wait with the mean delay and jitter, for comparison."""
    inherent_wait(timings)  # the same validity check
    second = min(timings.state_seconds, max(1.0, timings.settle + 1.0))
    return INITIAL_DELAY_MAX / 2 + second
