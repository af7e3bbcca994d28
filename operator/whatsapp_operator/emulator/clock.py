"""The lifecycle clock: wall time plus an offset that tests can move forward.

Lifecycle delays (creation, starting, settings application, QR rotation, code validity) read
this clock, so a test can skip minutes with one admin call instead of sleeping. Rate limiting
deliberately uses `time.monotonic()` instead: skipping time must not refill token buckets.
"""

from __future__ import annotations

import time


class LifecycleClock:
    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the lifecycle clock only moves forward")
        self._offset += seconds

    @property
    def offset(self) -> float:
        return self._offset
