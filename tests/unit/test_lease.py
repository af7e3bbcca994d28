"""Leader election: the pure decisions (decide/lease.py) and the elector's steps against a
Lease kept in memory (run/leadership.py), with a hand-driven clock."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from whatsapp_operator.adapters.lease import LeaseConflict, LeaseUnavailable
from whatsapp_operator.config import OperatorConfig
from whatsapp_operator.decide.lease import (
    LeaderMove,
    LeaseRecord,
    Observation,
    StandbyMove,
    Timings,
    expired,
    leader_move,
    next_attempt_in,
    observe,
    renew_overdue,
    standby_move,
)
from whatsapp_operator.run.leadership import Elector, run_as_leader

NOW = datetime(2025, 1, 1, tzinfo=UTC)
TIMINGS = Timings()


def record(holder: str | None, version: str = "1", seconds: int = 15) -> LeaseRecord:
    return LeaseRecord(holder, seconds, NOW, 0, version)


# --- decide/lease.py -------------------------------------------------------------------


def test_expiry_counts_from_when_the_record_last_changed_on_our_clock() -> None:
    seen = observe(None, record("other", "1"), now=100.0)
    assert not expired(seen, 114.9)
    # The same version again does not restart the count: the holder stopped renewing.
    seen = observe(seen, record("other", "1"), now=110.0)
    assert seen.changed_at == 100.0
    assert expired(seen, 115.0)
    # A new version (a renewal) does.
    seen = observe(seen, record("other", "2"), now=112.0)
    assert not expired(seen, 126.9)
    assert expired(seen, 127.0)


def test_a_free_lease_is_expired_at_once() -> None:
    assert expired(Observation(record(None), changed_at=100.0), 100.0)


def test_standby_moves() -> None:
    assert standby_move("me", None, 0.0) is StandbyMove.CREATE
    held = Observation(record("other"), changed_at=0.0)
    assert standby_move("me", held, 14.0) is StandbyMove.WAIT
    assert standby_move("me", held, 15.0) is StandbyMove.TAKE
    assert standby_move("me", Observation(record(None), 0.0), 0.0) is StandbyMove.TAKE
    assert standby_move("me", Observation(record("me"), 0.0), 0.0) is StandbyMove.TAKE


def test_leader_moves() -> None:
    assert leader_move("me", record("me")) is LeaderMove.RENEW
    assert leader_move("me", record("thief")) is LeaderMove.LOST
    assert leader_move("me", record(None)) is LeaderMove.LOST
    assert leader_move("me", None) is LeaderMove.LOST


def test_renew_deadline_and_cadence() -> None:
    assert not renew_overdue(100.0, 109.9, TIMINGS)
    assert renew_overdue(100.0, 110.0, TIMINGS)
    assert next_attempt_in(True, TIMINGS) == 5.0
    assert next_attempt_in(False, TIMINGS) == 2.0


def test_timings_that_could_allow_two_leaders_are_refused() -> None:
    assert TIMINGS.problems() == []
    assert replace(TIMINGS, renew_deadline_seconds=15).problems()
    assert replace(TIMINGS, renew_seconds=10).problems()
    assert replace(TIMINGS, retry_seconds=0).problems()


# --- run/leadership.py, against a Lease in memory -------------------------------------


class MemoryLease:
    """A Lease with the API server's optimistic concurrency; `fail` makes calls fail."""

    namespace = "ops"
    name = "lease"

    def __init__(self) -> None:
        self.stored: LeaseRecord | None = None
        self.fail = False
        self.writes = 0

    def _bump(self, holder: str | None, seconds: int, transitions: int) -> LeaseRecord:
        version = str(int(self.stored.version) + 1) if self.stored else "1"
        self.stored = LeaseRecord(holder, seconds, NOW, transitions, version)
        self.writes += 1
        return self.stored

    def read(self) -> LeaseRecord | None:
        if self.fail:
            raise LeaseUnavailable("down")
        return self.stored

    def create(self, identity: str, lease_seconds: int, now: datetime) -> LeaseRecord:
        if self.fail:
            raise LeaseUnavailable("down")
        if self.stored is not None:
            raise LeaseConflict("exists")
        return self._bump(identity, lease_seconds, 0)

    def write(
        self,
        read: LeaseRecord,
        holder: str | None,
        lease_seconds: int,
        now: datetime,
        *,
        acquired: bool,
    ) -> LeaseRecord:
        if self.fail:
            raise LeaseUnavailable("down")
        assert self.stored is not None
        if read.version != self.stored.version:
            raise LeaseConflict("changed")
        return self._bump(holder, lease_seconds, read.transitions + int(acquired))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SteppingStop(threading.Event):
    """A stop flag whose wait advances the fake clock instead of sleeping."""

    def __init__(self, clock: Clock, lease: MemoryLease, limit: int = 100) -> None:
        super().__init__()
        self.clock = clock
        self.lease = lease
        self.waits: list[float] = []
        self.limit = limit
        self.on_wait: list[object] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        self.clock.now += timeout
        if len(self.waits) >= self.limit:
            self.set()
        return self.is_set()


def elector(lease: MemoryLease, clock: Clock, identity: str = "me") -> Elector:
    return Elector(lease, identity, TIMINGS, clock=clock, wall=lambda: NOW)


def test_first_candidate_creates_the_lease() -> None:
    lease, clock = MemoryLease(), Clock()
    assert elector(lease, clock).acquire(SteppingStop(clock, lease))
    assert lease.stored is not None
    assert lease.stored.holder == "me"


def test_standby_takes_over_only_after_the_lease_went_unrenewed_for_its_duration() -> None:
    lease, clock = MemoryLease(), Clock()
    lease.stored = record("old", "7")
    stop = SteppingStop(clock, lease)
    assert elector(lease, clock).acquire(stop)
    # Seen at 0, every 2 s since: taken on the first look at or after 15 s.
    assert clock.now == 16.0
    assert lease.stored is not None
    assert lease.stored.holder == "me"
    assert lease.stored.transitions == 1
    assert lease.writes == 1


def test_standby_waits_while_the_holder_renews() -> None:
    lease, clock = MemoryLease(), Clock()
    lease.stored = record("leader", "1")
    stop = SteppingStop(clock, lease, limit=30)
    original_wait = stop.wait

    def renewing_wait(timeout: float | None = None) -> bool:
        assert lease.stored is not None
        lease.stored = replace(lease.stored, version=str(int(lease.stored.version) + 1))
        return original_wait(timeout)

    stop.wait = renewing_wait  # type: ignore[method-assign]
    assert not elector(lease, clock).acquire(stop)
    assert lease.stored is not None
    assert lease.stored.holder == "leader"
    assert lease.writes == 0


def test_a_released_lease_is_taken_at_once() -> None:
    lease, clock = MemoryLease(), Clock()
    lease.stored = record(None, "3")
    assert elector(lease, clock).acquire(SteppingStop(clock, lease))
    assert clock.now == 0.0


def test_a_leader_whose_lease_was_taken_stops_without_writing() -> None:
    lease, clock = MemoryLease(), Clock()
    leader = elector(lease, clock)
    assert leader.acquire(SteppingStop(clock, lease))
    lease.stored = record("thief", "99")
    lost: list[str] = []
    leader.keep(SteppingStop(clock, lease), lost.append)
    assert len(lost) == 1
    assert "thief" in lost[0]
    assert lease.stored.holder == "thief"
    assert lease.stored.version == "99"


def test_a_leader_that_cannot_renew_gives_up_before_the_lease_expires() -> None:
    lease, clock = MemoryLease(), Clock()
    leader = elector(lease, clock)
    assert leader.acquire(SteppingStop(clock, lease))
    lease.fail = True
    lost: list[str] = []
    leader.keep(SteppingStop(clock, lease), lost.append)
    assert len(lost) == 1
    assert "not renewed" in lost[0]
    # Renewed last at 0: first attempt at 5, retries every 2 s, gives up at 11 (>= 10).
    assert clock.now == 11.0
    assert clock.now < TIMINGS.lease_seconds


def test_leader_renews_and_a_clean_stop_releases() -> None:
    lease, clock = MemoryLease(), Clock()
    leader = elector(lease, clock)
    assert leader.acquire(SteppingStop(clock, lease))
    lost: list[str] = []
    leader.keep(SteppingStop(clock, lease, limit=4), lost.append)
    assert lost == []
    assert lease.writes == 1 + 3  # created, then one renewal per period until stopped
    leader.release()
    assert lease.stored is not None
    assert lease.stored.holder is None


def test_release_leaves_a_lease_someone_else_holds() -> None:
    lease, clock = MemoryLease(), Clock()
    lease.stored = record("other", "5")
    elector(lease, clock).release()
    assert lease.stored.holder == "other"
    assert lease.writes == 0


@pytest.mark.parametrize("failure", [True, False])
def test_standby_survives_api_trouble(failure: bool) -> None:
    lease, clock = MemoryLease(), Clock()
    lease.fail = failure
    stop = SteppingStop(clock, lease, limit=3)
    assert elector(lease, clock).acquire(stop) is not failure


def test_a_sigterm_between_winning_the_lease_and_kopf_listening_is_a_clean_stop() -> None:
    """The default SIGTERM handler would kill the process there, leaving the Lease held."""
    lease, clock = MemoryLease(), Clock()
    config = OperatorConfig(lease_namespace="ops", liveness=None)
    seen: list[bool] = []

    def operate(stop: threading.Event) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        seen.append(stop.wait(5))

    before = signal.getsignal(signal.SIGTERM)
    assert run_as_leader(config, operate, elector=elector(lease, clock)) == 0
    assert seen == [True]
    assert lease.stored is not None
    assert lease.stored.holder is None  # released for a standby
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_stop_requested_before_kopf_started_stops_kopf(monkeypatch: pytest.MonkeyPatch) -> None:
    import kopf

    from whatsapp_operator import commands

    flags: list[bool] = []

    async def operator(*, stop_flag: asyncio.Event, **_: object) -> None:
        await asyncio.wait_for(stop_flag.wait(), 5)
        flags.append(stop_flag.is_set())

    monkeypatch.setattr(kopf, "operator", operator)
    stop = threading.Event()
    stop.set()
    commands._operate(OperatorConfig(), kopf.Memo(), kopf.OperatorSettings(), stop)
    assert flags == [True]
