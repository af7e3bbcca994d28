"""`GET /admin/clients`: the emulator's callers by User-Agent, so a test can tell whether two
operator processes ever called GREEN-API at the same time."""

from __future__ import annotations

import os
import time

import httpx

from support.emulator_admin import EmulatorAdmin
from support.greenapi_urls import instance_url
from whatsapp_operator.adapters.greenapi.agent import user_agent
from whatsapp_operator.emulator import RunningEmulator
from whatsapp_operator.emulator.clients import MAX_CLIENTS, ClientLog

ID = 7105000402
TOKEN = "e" * 50


async def test_calls_are_counted_per_user_agent_with_their_span(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> None:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    url = instance_url(emulator.url, ID, "getStateInstance", TOKEN)
    before = time.time()
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(2):
            assert (await client.get(url, headers={"User-Agent": "old (pid 1)"})).is_success
        middle = time.time()
        for _ in range(3):
            assert (await client.get(url, headers={"User-Agent": "new (pid 2)"})).is_success
        settings = instance_url(emulator.url, ID, "getSettings", TOKEN)
        assert (await client.get(settings, headers={"User-Agent": "new (pid 2)"})).is_success
        seen = (await client.get(f"{emulator.url}/admin/clients")).json()["clients"]
        after = time.time()
        assert (await client.delete(f"{emulator.url}/admin/clients")).is_success
        cleared = (await client.get(f"{emulator.url}/admin/clients")).json()["clients"]

    old, new = seen["old (pid 1)"], seen["new (pid 2)"]
    assert old["calls"] == 2
    assert old["methods"] == {"getstateinstance": 2}
    assert new["calls"] == 4
    assert new["methods"] == {"getstateinstance": 3, "getsettings": 1}
    assert before <= old["first"] <= old["last"] <= middle <= new["first"] <= new["last"] <= after
    # Admin calls are not API calls: nobody else was counted.
    assert set(seen) == {"old (pid 1)", "new (pid 2)"}
    assert cleared == {}


def test_the_log_is_bounded_and_spans_from_arrival_to_answer() -> None:
    log = ClientLog()
    log.count("a", "setsettings", began=10.0, ended=12.0)
    log.count("a", "getsettings", began=11.0, ended=11.5)
    assert log.snapshot()["a"] == {
        "calls": 2,
        "first": 10.0,
        "last": 12.0,
        "methods": {"setsettings": 1, "getsettings": 1},
    }
    for number in range(MAX_CLIENTS + 5):
        log.count(f"agent {number}", "x", 0.0, 0.0)
    assert len(log.snapshot()) == MAX_CLIENTS


def test_the_operator_names_its_process_in_its_user_agent() -> None:
    assert user_agent().endswith(f"(pid {os.getpid()})")
    assert user_agent().startswith("whatsapp-operator/")
