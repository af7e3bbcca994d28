"""When each object's next reconcile runs, and how many run at once.

One dispatcher and a bounded number of running steps serve every object, instead
of a task per object waiting on its own timer: memory stays bounded by the
concurrency limit, not by the fleet, and the order of work is chosen in one place:

* an object that was changed (edited, annotated, its Secret rotated) goes first: a
  person is waiting for it;
* then objects whose own wait is over (a settle window ending, a state poll due);
* objects seen for the first time come last, so that a startup burst does not push
  every re-check that finishes an object behind every first reconcile.

These are head starts, not absolute classes: work that has waited long enough goes
ahead of newer work of a better class, so nothing waits forever.

An object runs at most once at a time; a wake-up during its step runs it again right
after. One namespace holds at most `namespace_limit` of the running steps, so a
tenant with many slow objects cannot take every slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


class Priority(enum.IntEnum):
    """Which ready work goes first (lower first)."""

    CHANGED = 0
    DUE = 1
    NEW = 2


# How many seconds ahead of new work each kind of ready work is ranked. A head start,
# not an absolute order: work of a lower class that has waited longer than the
# difference goes first, so a steady stream of due re-checks (a failing object's
# retries, say) cannot starve objects never reconciled yet, and vice versa.
_HEAD_START = {Priority.CHANGED: 3600.0, Priority.DUE: 30.0, Priority.NEW: 0.0}

# A step returns its next delay in seconds, or None when the object needs no timer
# (it waits for a change, or it is gone).
Step = Callable[[str], Awaitable[float | None]]


@dataclass
class _Job:
    namespace: str
    due: float
    priority: Priority
    # Bumped whenever the job is rescheduled, so stale heap entries are skipped.
    version: int = 0
    running: bool = False
    # Woken while running: run again as soon as the step ends.
    again: bool = False
    queued: bool = False
    # The step of this object's kind; None: the scheduler's own (WhatsAppInstances).
    step: Step | None = None


class Scheduler:
    """Runs `step(key)` per object at its due time or when woken, at most `limit` at once."""

    def __init__(
        self,
        step: Step,
        limit: int,
        namespace_limit: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._step = step
        self._limit = max(1, limit)
        self._namespace_limit = max(1, min(namespace_limit or self._limit, self._limit))
        self._clock = clock
        self._jobs: dict[str, _Job] = {}
        self._timers: list[tuple[float, int, str, int]] = []
        self._ready: list[tuple[float, float, int, str, int]] = []
        # Ready work of a namespace at its limit waits here, in order, for a free slot.
        self._parked: dict[str, list[tuple[float, float, int, str, int]]] = {}
        self._running_in: dict[str, int] = {}
        self._running = 0
        self._seq = itertools.count()
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ what callers use

    def add(
        self, key: str, namespace: str, delay: float, priority: Priority, step: Step | None = None
    ) -> None:
        """Know `key`, and run it after `delay` (if it is known already: no earlier than asked).

        `step` runs it instead of the scheduler's own: every kind shares one scheduler, so
        one concurrency limit and one order of work cover them all.
        """
        job = self._jobs.get(key)
        if job is None:
            job = self._jobs[key] = _Job(namespace, self._clock() + delay, priority, step=step)
            self._arm(key, job)
        else:
            self.schedule(key, delay, priority)

    def schedule(self, key: str, delay: float, priority: Priority = Priority.DUE) -> None:
        """Run a known object after `delay` seconds, or sooner if it is already due sooner."""
        job = self._jobs.get(key)
        if job is None:
            return
        due = self._clock() + max(0.0, delay)
        if job.running:
            if delay <= 0:
                job.again = True
                job.priority = min(job.priority, priority)
            return
        if job.queued and job.due <= due and job.priority <= priority:
            return
        job.due, job.priority = min(job.due, due) if job.queued else due, priority
        self._arm(key, job)

    def wake(self, key: str) -> None:
        """Run `key` now, ahead of routine work (it changed and someone waits for it)."""
        self.schedule(key, 0.0, Priority.CHANGED)

    def remove(self, key: str) -> None:
        """Forget `key`: no more runs (one in progress ends on its own)."""
        self._jobs.pop(key, None)

    def due(self, key: str) -> float | None:
        """When `key` runs next, on the scheduler's clock; None when it waits for a wake-up."""
        job = self._jobs.get(key)
        return job.due if job is not None and job.queued else None

    def __contains__(self, key: str) -> bool:
        return key in self._jobs

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def running(self) -> int:
        """How many steps run right now."""
        return self._running

    # ------------------------------------------------------------------ the dispatcher

    async def run(self) -> None:
        """Dispatch forever (until cancelled); cancelling also cancels the running steps."""
        try:
            while True:
                self._changed.clear()
                self._promote_due()
                self._start_ready()
                timeout = self._until_next_timer()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._changed.wait()
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _arm(self, key: str, job: _Job) -> None:
        job.version += 1
        job.queued = True
        heapq.heappush(self._timers, (job.due, next(self._seq), key, job.version))
        self._changed.set()

    def _promote_due(self) -> None:
        now = self._clock()
        while self._timers and self._timers[0][0] <= now:
            due, seq, key, version = heapq.heappop(self._timers)
            job = self._jobs.get(key)
            if job is None or job.version != version or job.running:
                continue
            rank = due - _HEAD_START[job.priority]
            heapq.heappush(self._ready, (rank, due, seq, key, version))

    def _start_ready(self) -> None:
        while self._running < self._limit and self._ready:
            item = heapq.heappop(self._ready)
            key, version = item[3], item[4]
            job = self._jobs.get(key)
            if job is None or job.version != version or job.running:
                continue
            if self._running_in.get(job.namespace, 0) >= self._namespace_limit:
                heapq.heappush(self._parked.setdefault(job.namespace, []), item)
                continue
            self._start(key, job)

    def _start(self, key: str, job: _Job) -> None:
        job.running, job.queued, job.again = True, False, False
        self._running += 1
        self._running_in[job.namespace] = self._running_in.get(job.namespace, 0) + 1
        task = asyncio.create_task(self._run_one(key, job), name=f"reconcile {key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_one(self, key: str, job: _Job) -> None:
        delay: float | None = None
        try:
            delay = await (job.step or self._step)(key)
        except asyncio.CancelledError:
            raise
        except Exception:  # the step owns its errors; this only keeps the dispatcher alive
            log.exception("Step for %s failed unexpectedly", key)
            delay = 30.0
        finally:
            self._finish(key, job, delay)

    def _finish(self, key: str, job: _Job, delay: float | None) -> None:
        job.running = False
        self._running -= 1
        left = self._running_in.get(job.namespace, 1) - 1
        if left:
            self._running_in[job.namespace] = left
        else:
            self._running_in.pop(job.namespace, None)
        self._unpark_one(job.namespace)
        if self._jobs.get(key) is job:
            if job.again:
                job.due = self._clock()
                self._arm(key, job)
            elif delay is not None:
                job.due, job.priority = self._clock() + max(0.0, delay), Priority.DUE
                self._arm(key, job)
        self._changed.set()

    def _unpark_one(self, namespace: str) -> None:
        """A slot of `namespace` came free: its best parked item (if still current) may go.

        One at a time, from the namespace's own heap (so a change still goes before
        routine work): returning every parked item on every finish would sort a big
        namespace's whole backlog again for each of its steps.
        """
        parked = self._parked.get(namespace)
        while parked:
            item = heapq.heappop(parked)
            job = self._jobs.get(item[3])
            if job is not None and job.version == item[4] and not job.running:
                heapq.heappush(self._ready, item)
                break
        if not parked:
            self._parked.pop(namespace, None)

    def _until_next_timer(self) -> float | None:
        while self._timers:
            due, _seq, key, version = self._timers[0]
            job = self._jobs.get(key)
            if job is None or job.version != version or job.running:
                heapq.heappop(self._timers)
                continue
            return max(0.0, due - self._clock())
        return None
