"""When an instance is polled again after failures: never sooner than a healthy one, but once.

Pure: `decide.requeue` with seeded random sources; a poll is one getStateInstance call.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from whatsapp_operator.decide import requeue
from whatsapp_operator.wire.models import InstanceState

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def healthy(interval: float) -> requeue.Motion:
    return requeue.Motion(
        state_seconds=interval,
        state=InstanceState.AUTHORIZED,
        linking=False,
        settle_ends=None,
        now=T0,
    )


@pytest.mark.parametrize("interval", [10.0, 30.0, 120.0, 300.0, 3600.0])
def test_consecutive_failures_never_poll_sooner_than_the_interval_except_the_first(
    interval: float,
) -> None:
    for seed in range(200):
        rng = random.Random(seed)
        first = requeue.after_poll_failure(1, None, rng, interval)
        assert 1.0 <= first < interval
        for failures in range(2, 40):
            delay = requeue.after_poll_failure(failures, None, rng, interval)
            assert delay >= interval, (seed, failures, delay)
            assert delay <= max(2 * interval, interval * 1.1)


def test_the_waits_after_the_first_failure_grow_and_are_jittered() -> None:
    rng = random.Random(3)
    early = [requeue.after_poll_failure(2, None, rng, 10.0) for _ in range(50)]
    late = [requeue.after_poll_failure(12, None, rng, 10.0) for _ in range(50)]
    assert len(set(early)) > 40
    assert sum(late) / len(late) > sum(early) / len(early) * 1.2


@pytest.mark.parametrize("failures", [1, 2, 9])
def test_retry_after_is_honoured_above_everything(failures: int) -> None:
    rng = random.Random(1)
    assert requeue.after_poll_failure(failures, 45.0, rng, 10.0) >= 45.0
    assert requeue.after_poll_failure(failures, 3600.0, rng, 300.0) >= 3600.0


@pytest.mark.parametrize("failure_rate", [0.0, 0.1, 0.4, 0.7, 1.0])
@pytest.mark.parametrize("interval", [10.0, 30.0])
def test_a_failing_service_gets_no_more_polls_than_a_healthy_one(
    failure_rate: float, interval: float
) -> None:
    # Each poll fails with `failure_rate` (a storm of 5xx, 429 and lost answers). Over an
    # hour, an instance polls no more often than at its interval (the jitter of a healthy
    # poll allows 10 % sooner), the early retry of a blip included.
    horizon = 3600.0
    healthy_most = horizon / (interval * 0.9) + 1
    for seed in range(20):
        rng = random.Random(seed)
        weather = random.Random(1000 + seed)
        now, polls, failures, ahead = 0.0, 0, 0, 0.0
        while now < horizon:
            polls += 1
            if weather.random() < failure_rate:
                failures += 1
                delay = requeue.after_poll_failure(failures, None, rng, interval)
                if failures == 1:
                    ahead = requeue.ahead_of_schedule(delay, interval)
            else:
                failures = 0
                delay, ahead = requeue.repaying(healthy(interval), rng, ahead)
            now += delay
        assert polls <= healthy_most, (seed, polls, healthy_most)


def test_an_early_retry_is_paid_back_by_a_routine_poll_not_by_one_in_motion() -> None:
    rng = random.Random(5)
    settling = requeue.Motion(
        state_seconds=30.0,
        state=InstanceState.AUTHORIZED,
        linking=False,
        settle_ends=T0.replace(second=6),
        now=T0,
    )
    delay, left = requeue.repaying(settling, rng, 28.0)
    assert delay <= 7.0 * 1.1
    assert left == 28.0
    delay, left = requeue.repaying(healthy(30.0), rng, left)
    assert delay >= 27.0 + 28.0
    assert left == 0.0


@pytest.mark.parametrize("settled", [True, False])
def test_an_object_another_process_handled_waits_out_greenapis_rate_window(settled: bool) -> None:
    # Moved here from another shard: that shard's last call may have landed just before
    # the move, and GREEN-API counts one call a second per instance across all clients.
    rng = random.Random(3)
    delays = [
        requeue.first_delay(settled=settled, handled_before=True, state_seconds=30.0, rng=rng)
        for _ in range(200)
    ]
    assert min(delays) >= requeue.HANDOVER_SECONDS


def test_a_new_object_starts_at_once_and_a_settled_one_spreads_over_its_interval() -> None:
    rng = random.Random(3)
    new = [
        requeue.first_delay(settled=False, handled_before=False, state_seconds=30.0, rng=rng)
        for _ in range(200)
    ]
    assert max(new) <= requeue.FIRST_SPREAD_SECONDS
    settled = [
        requeue.first_delay(settled=True, handled_before=True, state_seconds=30.0, rng=rng)
        for _ in range(200)
    ]
    assert max(settled) > 20.0
    assert max(settled) <= 30.0
