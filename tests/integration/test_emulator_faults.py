"""Fault injection, counters and the admin API's own error answers."""

from __future__ import annotations

import httpx
import pytest

from support.emulator_admin import EmulatorAdmin
from support.greenapi_urls import instance_url
from whatsapp_operator.emulator import RunningEmulator

ID = 7105000301
TOKEN = "c" * 50


@pytest.fixture
async def seeded(emulator_admin: EmulatorAdmin) -> None:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)


@pytest.mark.usefixtures("seeded")
async def test_error_rate_and_counters(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> None:
    await emulator_admin.set_faults(
        [{"method": "getSettings", "instanceId": ID, "errorRate": 1.0, "status": 502}]
    )
    assert (await emulator_admin.faults())[0]["status"] == 502
    async with httpx.AsyncClient(timeout=10) as client:
        failed = await client.get(instance_url(emulator.url, ID, "getSettings", TOKEN))
        assert (failed.status_code, failed.text) == (502, "Bad Gateway")
        assert (
            await client.get(instance_url(emulator.url, ID, "getStateInstance", TOKEN))
        ).is_success
        await emulator_admin.clear_faults()
        assert (await client.get(instance_url(emulator.url, ID, "getSettings", TOKEN))).is_success
    counters = (await emulator_admin.counters())[str(ID)]
    assert counters["getsettings"] == {"total": 2, "502": 1, "200": 1}
    assert counters["getstateinstance"]["200"] == 1
    assert (await emulator_admin.instance(ID))["counters"]["getsettings"]["total"] == 2
    await emulator_admin.reset_counters()
    assert await emulator_admin.counters() == {}


@pytest.mark.usefixtures("seeded")
async def test_dropped_connection(emulator: RunningEmulator, emulator_admin: EmulatorAdmin) -> None:
    await emulator_admin.set_faults([{"method": "getStateInstance", "dropRate": 1.0}])
    async with httpx.AsyncClient(timeout=10) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(instance_url(emulator.url, ID, "getStateInstance", TOKEN))
    assert (await emulator_admin.counters())[str(ID)]["getstateinstance"]["dropped"] == 1


@pytest.mark.usefixtures("seeded")
async def test_latency(emulator: RunningEmulator, emulator_admin: EmulatorAdmin) -> None:
    await emulator_admin.set_faults([{"method": "*", "latencyMs": 300}])
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(instance_url(emulator.url, ID, "getSettings", TOKEN))
    assert response.is_success
    assert response.elapsed.total_seconds() >= 0.3


async def test_faults_from_config_at_start() -> None:
    from whatsapp_operator.emulator import EmulatorConfig, start_emulator

    config = EmulatorConfig.model_validate(
        {
            "faults": [{"method": "getStateInstance", "errorRate": 1, "status": 500}],
            "instances": [{"idInstance": ID, "apiTokenInstance": TOKEN}],
            "rateLimits": {"enabled": False},
        }
    )
    async with await start_emulator(config) as running, httpx.AsyncClient(timeout=10) as client:
        response = await client.get(instance_url(running.url, ID, "getStateInstance", TOKEN))
        assert response.status_code == 500


async def test_admin_errors(emulator: RunningEmulator, emulator_admin: EmulatorAdmin) -> None:
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as client:
        assert (await client.get("/admin/instances/1")).status_code == 404
        seeded = await emulator_admin.seed(state="authorized")
        scan = await client.post(f"/admin/instances/{seeded['idInstance']}/scan")
        assert scan.status_code == 409
        bad_state = await client.post(
            f"/admin/instances/{seeded['idInstance']}/state", json={"state": "nope"}
        )
        assert bad_state.status_code == 400
        assert (
            await client.patch("/admin/config", json={"timings": {"qrRotateSeconds": 0}})
        ).status_code == 400
        assert (await client.post("/admin/clock", json={"advanceSeconds": -1})).status_code == 400
        assert (await client.put("/admin/faults", json=[{"errorRate": 2}])).status_code == 400
    health = await emulator_admin.health()
    assert health["status"] == "ok"
    config = await emulator_admin.config()
    assert config["timings"]["qrRotateSeconds"] == 20
    assert len(await emulator_admin.instances()) == 1
