"""Giving freed heap back to the system after bursts.

A startup burst (a whole fleet's first reconciles, watch pages, API answers) allocates
and frees tens of MiB. CPython returns its own small-object arenas only when they are
entirely empty, and glibc keeps freed memory of larger objects in its heap instead of
returning it, so the pod's RSS stays at the burst's height for the rest of its life,
which is what the memory limit is compared with. `malloc_trim(0)` releases the free
pages of glibc's heaps. It walks the heap (milliseconds for a heap of 100 MiB), so it
runs on a timer, not after every reconcile.
"""

from __future__ import annotations

import asyncio
import ctypes
from collections.abc import Callable


def malloc_trim() -> Callable[[], int] | None:
    """glibc's `malloc_trim(0)`, or None where the C library has none (musl, macOS)."""
    try:
        # The process's own symbols: the C library it runs on, found without a search.
        function = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int

    def trim() -> int:
        return int(function(0))

    return trim


async def trim_forever(interval: float, trim: Callable[[], int] | None = None) -> None:
    """Trim the C heap every `interval` seconds until cancelled; nothing without glibc."""
    trim = trim or malloc_trim()
    if trim is None or interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        trim()
