"""Calls per method and wall-clock second, kept for a bounded horizon.

Counters say how many calls a client made; the timeline says when. A fleet's polls
should spread over their interval rather than arrive together, and the benchmarks read
that spread from here (`GET /admin/timeline`). Wall time, not the lifecycle clock: a
client compares these seconds with its own clock, and the lifecycle clock may be moved.
"""

from __future__ import annotations

import math
from collections import Counter, deque

# An hour of seconds: enough for a benchmark's phases, bounded whatever the run's length.
DEFAULT_HORIZON_SECONDS = 3600


class CallTimeline:
    """Counts calls per (method, whole second); seconds older than the horizon are dropped."""

    def __init__(self, horizon_seconds: int = DEFAULT_HORIZON_SECONDS) -> None:
        self.horizon_seconds = horizon_seconds
        self._seconds: dict[int, Counter[str]] = {}
        self._order: deque[int] = deque()

    def count(self, method: str, at: float) -> None:
        """Count one call of `method` made at wall time `at` (Unix seconds)."""
        second = math.floor(at)
        bucket = self._seconds.get(second)
        if bucket is None:
            bucket = self._seconds[second] = Counter()
            self._order.append(second)
            self._forget_before(second - self.horizon_seconds)
        bucket[method] += 1

    def _forget_before(self, oldest: int) -> None:
        while self._order and self._order[0] < oldest:
            self._seconds.pop(self._order.popleft(), None)

    def window(self, method: str, since: float, until: float) -> dict[int, int]:
        """Calls of `method` per second `s` with floor(since) <= s < until (no empty seconds)."""
        first = math.floor(since)
        return {
            second: bucket[method]
            for second, bucket in sorted(self._seconds.items())
            if first <= second < until and bucket[method]
        }
