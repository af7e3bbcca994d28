"""Leader election on a coordination.k8s.io Lease: who holds it, when it has expired, what to do.

Pure: the caller reads the Lease, passes what it saw and a monotonic clock reading, and
carries out the answer. The rules follow client-go's leader election:

* A standby never compares the Lease's `renewTime` with its own clock (clocks differ
  between nodes). It notes *when it saw the record change* and counts the lease as
  expired once `leaseDurationSeconds` have passed on its own clock without a change.
* The leader renews every `renew_seconds`; a failed renewal is retried every
  `retry_seconds`; once `renew_deadline_seconds` have passed since the start of its last
  successful renewal it gives up. The deadline is shorter than the lease, so the old
  leader has stopped before any standby may count the lease as expired: never two leaders.
* Every write carries the resourceVersion read, so of two processes that both decide to
  take a lease, one gets a conflict.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from whatsapp_operator.ports.kubernetes import LeaseRecord


@dataclass(frozen=True)
class Timings:
    """Durations of the election, in seconds (client-go's defaults are 15 / 10 / 2)."""

    lease_seconds: int = 15
    renew_deadline_seconds: float = 10.0
    renew_seconds: float = 5.0
    retry_seconds: float = 2.0

    def problems(self) -> list[str]:
        """Why these timings cannot guarantee a single leader; empty when they can."""
        found = []
        if self.retry_seconds <= 0 or self.renew_seconds <= 0:
            found.append("the renew and retry periods must be positive")
        if self.renew_deadline_seconds >= self.lease_seconds:
            found.append("the renew deadline must be shorter than the lease duration")
        if self.renew_seconds >= self.renew_deadline_seconds:
            found.append("the renew period must be shorter than the renew deadline")
        if self.retry_seconds >= self.renew_deadline_seconds:
            found.append("the retry period must be shorter than the renew deadline")
        return found


@dataclass(frozen=True)
class Observation:
    """The last record a process saw and when (monotonic seconds) it last changed."""

    record: LeaseRecord
    changed_at: float


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """Fold a freshly read record into what was seen before.

    Only a new resourceVersion restarts the expiry count: a leader that renews changes
    it every time, a dead one never again.
    """
    if previous is not None and previous.record.version == record.version:
        return previous
    return Observation(record, now)


def expired(observation: Observation, now: float) -> bool:
    """Whether the lease may be taken: free, or unchanged for its whole duration."""
    record = observation.record
    return record.free or now >= observation.changed_at + record.lease_seconds


class StandbyMove(enum.Enum):
    """What a process that does not lead does next."""

    CREATE = "create"  # no Lease yet
    TAKE = "take"  # free or expired: write our identity with the version read
    WAIT = "wait"  # someone else holds it


def standby_move(identity: str, observation: Observation | None, now: float) -> StandbyMove:
    """The next step of a process waiting to lead; `observation` None: no Lease exists."""
    if observation is None:
        return StandbyMove.CREATE
    if observation.record.holder == identity or expired(observation, now):
        return StandbyMove.TAKE
    return StandbyMove.WAIT


class LeaderMove(enum.Enum):
    """What the leader does after reading its Lease."""

    RENEW = "renew"  # still ours: write a new renewTime with the version read
    LOST = "lost"  # someone else's now: stop at once


def leader_move(identity: str, record: LeaseRecord | None) -> LeaderMove:
    """Whether the Lease as read is still the leader's to renew."""
    if record is None or record.holder != identity:
        return LeaderMove.LOST
    return LeaderMove.RENEW


def renew_overdue(last_renewed_at: float, now: float, timings: Timings) -> bool:
    """Whether the leader has gone too long without a successful renewal and must stop.

    `last_renewed_at` is when the last successful renewal *started*: the write may have
    landed at any moment after that, so this is the conservative end.
    """
    return now - last_renewed_at >= timings.renew_deadline_seconds


def next_attempt_in(renewed: bool, timings: Timings) -> float:
    """Seconds until the leader's next renewal: the period after success, the retry after not."""
    return timings.renew_seconds if renewed else timings.retry_seconds
