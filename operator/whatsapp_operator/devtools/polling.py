"""Waiting on a cluster's eventual consistency without fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None],
    what: str,
    timeout: float = 30.0,
    interval: float = 0.1,
) -> T:
    """Call `condition` until it returns something truthy and return that.

    Raises TimeoutError naming `what` once `timeout` seconds have passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
