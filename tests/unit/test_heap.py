"""The heap trim runs on its timer, and finds glibc's malloc_trim where there is one."""

from __future__ import annotations

import asyncio
import platform

import pytest

from whatsapp_operator.run.heap import malloc_trim, trim_forever


async def test_trims_on_every_tick_until_cancelled() -> None:
    calls: list[int] = []
    enough = asyncio.Event()

    def trim() -> int:
        calls.append(1)
        if len(calls) == 3:
            enough.set()
        return 1

    task = asyncio.create_task(trim_forever(0.01, trim))
    await asyncio.wait_for(enough.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 3


async def test_disabled_interval_never_trims() -> None:
    calls: list[int] = []
    await asyncio.wait_for(trim_forever(0, lambda: calls.append(1) or 0), timeout=1)
    assert calls == []


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_malloc_trim_is_found_and_callable() -> None:
    trim = malloc_trim()
    assert trim is not None
    assert trim() in (0, 1)
