"""The admin call timeline: calls per method and wall-clock second, for load-spread checks."""

from __future__ import annotations

import time

import httpx
import pytest

from support.emulator_admin import EmulatorAdmin
from support.greenapi_urls import instance_url
from whatsapp_operator.emulator import RunningEmulator
from whatsapp_operator.emulator.timeline import CallTimeline

ID = 7105000401
TOKEN = "d" * 50


async def test_calls_are_bucketed_per_method_and_second(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> None:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    before = time.time()
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(3):
            response = await client.get(instance_url(emulator.url, ID, "getStateInstance", TOKEN))
            assert response.is_success
        assert (await client.get(instance_url(emulator.url, ID, "getSettings", TOKEN))).is_success
    after = time.time() + 1

    states = await emulator_admin.timeline("getStateInstance", before, after)
    assert states["method"] == "getstateinstance"
    assert sum(states["seconds"].values()) == 3
    assert all(int(before) <= int(second) < after for second in states["seconds"])
    settings = await emulator_admin.timeline("getSettings", before, after)
    assert sum(settings["seconds"].values()) == 1
    # A window that ends before the calls sees none of them.
    assert (await emulator_admin.timeline("getStateInstance", 0, before - 5))["seconds"] == {}


async def test_timeline_needs_a_method_and_numbers(emulator: RunningEmulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as client:
        assert (await client.get("/admin/timeline")).status_code == 400
        missing_bounds = await client.get("/admin/timeline", params={"method": "x", "since": "a"})
        assert missing_bounds.status_code == 400


def test_old_seconds_are_forgotten_beyond_the_horizon() -> None:
    timeline = CallTimeline(horizon_seconds=10)
    timeline.count("getstateinstance", 1000.2)
    timeline.count("getstateinstance", 1000.7)
    timeline.count("getsettings", 1005.0)
    assert timeline.window("getstateinstance", 0, 2000) == {1000: 2}
    timeline.count("getstateinstance", 1020.0)
    assert timeline.window("getstateinstance", 0, 2000) == {1020: 1}
    assert timeline.window("getsettings", 0, 2000) == {}


@pytest.mark.parametrize(("since", "until"), [(1000.0, 1001.0), (1000.5, 1000.9)])
def test_window_bounds_are_whole_seconds(since: float, until: float) -> None:
    timeline = CallTimeline()
    timeline.count("qr", 1000.5)
    timeline.count("qr", 1001.0)
    assert timeline.window("qr", since, until) == {1000: 1}
