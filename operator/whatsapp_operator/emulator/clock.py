"""The lifecycle clock: wall time plus an offset that tests can move forward.

Lifecycle delays (creation, starting, settings application, QR rotation, code validity) read
this clock, so a test can skip minutes with one admin call instead of sleeping. Rate limiting
deliberately uses `time.monotonic()` instead: skipping time must not refill token buckets.
"""

from __future__ import annotations

import time


class LifecycleClock:
    """Wall time plus an offset that only moves forward."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """The lifecycle time: Unix seconds plus the offset."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`; ValueError when negative."""
        if seconds < 0:
            raise ValueError("the lifecycle clock only moves forward")
        self._offset += seconds

    @property
    def offset(self) -> float:
        """How far the clock has been moved ahead of wall time, in seconds."""
        return self._offset
