"""The scheduler: one run per object at a time, bounded concurrency, fair namespaces, priorities."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from whatsapp_operator.run.scheduler import Priority, Scheduler


class Recorder:
    """A step that records runs and can be held until released."""

    def __init__(self, delay: float | None = None) -> None:
        self.runs: list[str] = []
        self.running: set[str] = set()
        self.peak = 0
        self.peak_by_namespace: dict[str, int] = {}
        self.release = asyncio.Event()
        self.release.set()
        self.delay = delay
        self.changed = asyncio.Event()

    async def step(self, key: str) -> float | None:
        assert key not in self.running, f"{key} ran twice at once"
        self.running.add(key)
        self.changed.set()
        self.peak = max(self.peak, len(self.running))
        namespace = key.split("/", maxsplit=1)[0]
        in_namespace = sum(1 for k in self.running if k.startswith(namespace + "/"))
        self.peak_by_namespace[namespace] = max(
            self.peak_by_namespace.get(namespace, 0), in_namespace
        )
        try:
            await self.release.wait()
            self.runs.append(key)
        finally:
            self.running.discard(key)
            self.changed.set()
        return self.delay

    async def until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


@asynccontextmanager
async def dispatching(scheduler: Scheduler) -> AsyncIterator[Scheduler]:
    task = asyncio.create_task(scheduler.run())
    try:
        yield scheduler
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_every_added_object_runs_once_and_is_not_rescheduled_without_a_delay() -> None:
    recorder = Recorder(delay=None)
    async with dispatching(Scheduler(recorder.step, limit=4)) as scheduler:
        for i in range(10):
            scheduler.add(f"ns/o{i}", "ns", 0.0, Priority.NEW)
        await recorder.until(lambda: len(recorder.runs) == 10)
        assert sorted(recorder.runs) == sorted(f"ns/o{i}" for i in range(10))
        assert recorder.peak <= 4


async def test_the_returned_delay_runs_the_object_again() -> None:
    recorder = Recorder(delay=0.01)
    async with dispatching(Scheduler(recorder.step, limit=2)) as scheduler:
        scheduler.add("ns/a", "ns", 0.0, Priority.NEW)
        await recorder.until(lambda: recorder.runs.count("ns/a") >= 3)
        scheduler.remove("ns/a")
        count = len(recorder.runs)
        # A removed object is not run again: wait for another object's run to be sure.
        scheduler.add("ns/b", "ns", 0.05, Priority.NEW)
        await recorder.until(lambda: "ns/b" in recorder.runs)
        assert recorder.runs[count:].count("ns/a") <= 1  # one may have been due already


async def test_a_wake_during_a_run_runs_the_object_once_more_after_it() -> None:
    recorder = Recorder(delay=None)
    recorder.release.clear()
    async with dispatching(Scheduler(recorder.step, limit=2)) as scheduler:
        scheduler.add("ns/a", "ns", 0.0, Priority.NEW)
        await recorder.until(lambda: "ns/a" in recorder.running)
        scheduler.wake("ns/a")
        scheduler.wake("ns/a")
        recorder.release.set()
        await recorder.until(lambda: recorder.runs.count("ns/a") == 2)
        assert not scheduler.running or recorder.runs.count("ns/a") == 2


async def test_a_wake_brings_a_far_timer_forward() -> None:
    recorder = Recorder(delay=None)
    async with dispatching(Scheduler(recorder.step, limit=2)) as scheduler:
        scheduler.add("ns/a", "ns", 3600.0, Priority.NEW)
        scheduler.wake("ns/a")
        await recorder.until(lambda: recorder.runs == ["ns/a"])


async def test_changed_objects_go_before_due_ones_and_new_ones_last() -> None:
    recorder = Recorder(delay=None)
    recorder.release.clear()
    async with dispatching(Scheduler(recorder.step, limit=1)) as scheduler:
        scheduler.add("ns/blocker", "ns", 0.0, Priority.NEW)
        await recorder.until(lambda: "ns/blocker" in recorder.running)
        scheduler.add("ns/new", "ns", 0.0, Priority.NEW)
        scheduler.add("ns/due", "ns", 0.0, Priority.DUE)
        scheduler.add("ns/changed", "ns", 3600.0, Priority.NEW)
        scheduler.wake("ns/changed")
        recorder.release.set()
        await recorder.until(lambda: len(recorder.runs) == 4)
        assert recorder.runs == ["ns/blocker", "ns/changed", "ns/due", "ns/new"]


async def test_one_namespace_cannot_take_every_slot() -> None:
    recorder = Recorder(delay=None)
    recorder.release.clear()
    async with dispatching(Scheduler(recorder.step, limit=4, namespace_limit=2)) as scheduler:
        for i in range(20):
            scheduler.add(f"greedy/o{i}", "greedy", 0.0, Priority.NEW)
        for i in range(2):
            scheduler.add(f"quiet/o{i}", "quiet", 0.01, Priority.NEW)
        # Both quiet objects start while the greedy namespace still holds its two slots.
        await recorder.until(lambda: {"quiet/o0", "quiet/o1"} <= recorder.running)
        assert sum(1 for k in recorder.running if k.startswith("greedy/")) == 2
        recorder.release.set()
        await recorder.until(lambda: len(recorder.runs) == 22)
    assert recorder.peak_by_namespace["greedy"] == 2
    assert recorder.peak <= 4


async def test_a_failing_step_is_retried_and_does_not_stop_the_dispatcher() -> None:
    calls: list[str] = []
    done = asyncio.Event()

    async def step(key: str) -> float | None:
        calls.append(key)
        if len(calls) == 1:
            raise RuntimeError("boom")
        done.set()
        return None

    scheduler = Scheduler(step, limit=1)
    async with dispatching(scheduler):
        scheduler.add("ns/a", "ns", 0.0, Priority.NEW)
        scheduler.add("ns/b", "ns", 0.0, Priority.NEW)
        async with asyncio.timeout(5):
            await done.wait()
    assert calls[:2] == ["ns/a", "ns/b"]


async def test_a_change_in_a_namespace_at_its_limit_goes_before_its_backlog() -> None:
    recorder = Recorder(delay=None)
    recorder.release.clear()
    async with dispatching(Scheduler(recorder.step, limit=4, namespace_limit=1)) as scheduler:
        scheduler.add("busy/first", "busy", 0.0, Priority.NEW)
        await recorder.until(lambda: "busy/first" in recorder.running)
        for i in range(20):
            scheduler.add(f"busy/o{i}", "busy", 0.0, Priority.NEW)
        scheduler.add("busy/edited", "busy", 3600.0, Priority.NEW)
        # Let the backlog be parked behind the namespace's limit, then change one object.
        scheduler.add("other/x", "other", 0.0, Priority.NEW)
        await recorder.until(lambda: "other/x" in recorder.running)
        scheduler.wake("busy/edited")
        recorder.release.set()
        await recorder.until(lambda: len(recorder.runs) == 23)
    busy = [key for key in recorder.runs if key.startswith("busy/")]
    assert busy[:2] == ["busy/first", "busy/edited"]


async def test_retries_of_failing_objects_do_not_starve_new_ones() -> None:
    """Due work has a head start over new work, not a permanent lead."""
    clock = [1000.0]
    started: list[str] = []
    done = asyncio.Event()

    async def step(key: str) -> float | None:
        started.append(key)
        clock[0] += 20.0  # each step takes 20 s of the scheduler's time
        if key == "ns/new":
            done.set()
            return None
        return 0.0  # a failing object retries at once, forever

    scheduler = Scheduler(step, limit=1, clock=lambda: clock[0])
    async with dispatching(scheduler):
        scheduler.add("ns/failing", "ns", 0.0, Priority.DUE)
        scheduler.add("ns/new", "ns", 0.0, Priority.NEW)
        async with asyncio.timeout(5):
            await done.wait()
    assert started.index("ns/new") <= 3
