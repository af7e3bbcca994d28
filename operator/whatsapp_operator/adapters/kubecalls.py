"""Kubernetes calls in flight, with their start times on the monotonic clock.

Every call has a timeout, but a timeout is a promise of the client library: liveness
(`run/liveness.py`) reads the oldest call here to notice Kubernetes I/O that is stuck
anyway, and ends a process whose reconcile loop could no longer make progress.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class KubeCalls:
    """The calls under way; thread-safe (calls run in worker threads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started: dict[int, tuple[float, str]] = {}
        self._numbers = itertools.count()

    @contextmanager
    def track(self, what: str) -> Iterator[None]:
        """Count the call `what` (e.g. "GET /api/v1/...") as in flight while the block runs."""
        number = next(self._numbers)
        with self._lock:
            self._started[number] = (self._clock(), what)
        try:
            yield
        finally:
            with self._lock:
                del self._started[number]

    def oldest(self) -> tuple[float, str] | None:
        """(seconds in flight, what) of the longest-running call; None when none runs."""
        with self._lock:
            if not self._started:
                return None
            started, what = min(self._started.values())
        return self._clock() - started, what

    def in_flight(self) -> int:
        """How many calls are under way."""
        with self._lock:
            return len(self._started)
