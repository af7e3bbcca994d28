"""The switchable faults and documented defaults a client must survive (see docs/emulator.md).

Each test talks real HTTP (or WebSocket) to an in-process emulator on loopback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest

from support.emulator_admin import PARTNER_TOKEN, EmulatorAdmin
from support.greenapi_urls import instance_url, partner_url, ws_url
from whatsapp_operator.emulator import EmulatorConfig, RunningEmulator, start_emulator

ID = 7105000601
TOKEN = "9" * 50
HAS_AUTH = {"type": "error", "message": "Instance has auth. You need to make log out"}
STARTING = {"type": "error", "message": "instance in starting process try later"}
# Short enough for a test, far shorter than the default 300 s hold of a lost answer.
GIVE_UP = httpx.Timeout(0.5, connect=5.0)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


async def listed_ids(client: httpx.AsyncClient, base: str) -> set[int]:
    rows = (await client.get(partner_url(base, "getInstances", PARTNER_TOKEN))).json()
    return {row["idInstance"] for row in rows}


async def create(client: httpx.AsyncClient, base: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(partner_url(base, "createInstance", PARTNER_TOKEN), json=body)
    result: dict[str, Any] = response.json()
    return result


async def eventually(check: Any, seconds: float = 10.0) -> None:
    """Poll an async predicate; the emulator finishes some work after the client gave up."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def expect_scan_refused(admin: EmulatorAdmin) -> None:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await admin.scan(ID)
    assert caught.value.response.status_code == 409


# --- 1. listing lag ---------------------------------------------------------------------------


async def test_listing_lag_hides_new_instances_from_get_instances(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    before = await create(client, emulator.url, {"name": "before"})
    await emulator_admin.patch_config({"timings": {"listingLagSeconds": 120}})
    created = await create(client, emulator.url, {"name": "lagging"})
    seeded = await emulator_admin.seed()
    ids = await listed_ids(client, emulator.url)
    assert created["idInstance"] not in ids
    # Only partner-created instances lag, and only those created while the lag was set.
    assert {before["idInstance"], seeded["idInstance"]} <= ids
    # It exists meanwhile: its own API answers (still being created: `null`).
    state = await client.get(
        instance_url(
            emulator.url, created["idInstance"], "getStateInstance", created["apiTokenInstance"]
        )
    )
    assert (state.status_code, state.json()) == (200, None)
    assert (await emulator_admin.instance(created["idInstance"]))["listedAt"] is not None
    await emulator_admin.advance_clock(119)
    assert created["idInstance"] not in await listed_ids(client, emulator.url)
    await emulator_admin.advance_clock(1)
    assert created["idInstance"] in await listed_ids(client, emulator.url)


# --- 2. lost answers that still take effect --------------------------------------------------


async def test_lost_create_answer_still_creates(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> None:
    await emulator_admin.set_faults([{"method": "createInstance", "loseAnswerRate": 1.0}])
    assert (await emulator_admin.faults())[0]["loseAnswerMs"] == 300_000
    async with httpx.AsyncClient(timeout=GIVE_UP) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await impatient.post(
                partner_url(emulator.url, "createInstance", PARTNER_TOKEN),
                json={"name": "ghost", "stateWebhook": "yes"},
            )
    names = [i["name"] for i in await emulator_admin.instances()]
    assert names == ["ghost"]
    ghost = (await emulator_admin.instances())[0]
    assert ghost["settings"]["stateWebhook"] == "yes"

    async def counted() -> bool:
        counters = (await emulator_admin.counters()).get("partner", {})
        return bool(counters.get("createinstance", {}).get("lost") == 1)

    # The hold ends once the client has hung up, so the call is counted soon after.
    await eventually(counted)


async def test_lost_answer_ends_after_lose_answer_ms(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    await emulator_admin.set_faults(
        [{"method": "createInstance", "loseAnswerRate": 1, "loseAnswerMs": 300}]
    )
    started = time.monotonic()
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(partner_url(emulator.url, "createInstance", PARTNER_TOKEN), json={})
    assert time.monotonic() - started >= 0.3
    assert len(await emulator_admin.instances()) == 1


async def test_lost_set_settings_answer_still_applies(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    other = await emulator_admin.seed()
    await emulator_admin.set_faults(
        [{"method": "setSettings", "instanceId": ID, "loseAnswerRate": 1}]
    )
    async with httpx.AsyncClient(timeout=GIVE_UP) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await impatient.post(
                instance_url(emulator.url, ID, "setSettings", TOKEN),
                json={"incomingWebhook": "yes"},
            )
    view = await emulator_admin.instance(ID)
    assert view["setSettingsLog"][0]["body"] == {"incomingWebhook": "yes"}
    assert view["state"] == "starting"
    await emulator_admin.advance_clock(10)
    settings = (await client.get(instance_url(emulator.url, ID, "getSettings", TOKEN))).json()
    assert settings["incomingWebhook"] == "yes"
    # The rule names one instance: another instance's answer arrives.
    answered = await client.post(
        instance_url(emulator.url, other["idInstance"], "setSettings", other["apiTokenInstance"]),
        json={"incomingWebhook": "yes"},
    )
    assert answered.json() == {"saveSettings": True}


async def test_latency_runs_after_the_body_is_read(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> None:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    await emulator_admin.set_faults([{"method": "setSettings", "latencyMs": 1500}])
    async with httpx.AsyncClient(timeout=GIVE_UP) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await impatient.post(
                instance_url(emulator.url, ID, "setSettings", TOKEN),
                json={"stateWebhook": "yes"},
            )

    async def journaled() -> bool:
        return bool((await emulator_admin.instance(ID))["setSettingsLog"])

    # A slow server still acts on a request the client stopped waiting for.
    await eventually(journaled)
    assert (await emulator_admin.instance(ID))["setSettingsLog"][0]["body"] == {
        "stateWebhook": "yes"
    }


# --- 3. qr: "Instance has auth. You need to make log out" ------------------------------------


async def test_qr_has_auth_variant_for_linked_instances(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN, state="authorized")
    url = instance_url(emulator.url, ID, "qr", TOKEN)
    assert (await client.get(url)).json()["type"] == "alreadyLogged"
    await emulator_admin.patch_config({"variants": {"qrWhenAuthorized": "hasAuth"}})
    answer = await client.get(url)
    assert (answer.status_code, answer.json()) == (200, HAS_AUTH)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(emulator.url, ID, TOKEN)) as ws,
    ):
        assert await ws.receive_json(timeout=5) == HAS_AUTH


async def test_stale_auth_until_logout(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    assert (await emulator_admin.stale_auth(ID))["staleAuth"] is True
    url = instance_url(emulator.url, ID, "qr", TOKEN)
    assert (await client.get(url)).json() == HAS_AUTH
    await expect_scan_refused(emulator_admin)
    assert (await client.get(instance_url(emulator.url, ID, "logout", TOKEN))).json() == {
        "isLogout": True
    }
    assert (await client.get(url)).json()["type"] == "qrCode"
    assert (await emulator_admin.instance(ID))["staleAuth"] is False


async def test_stale_auth_seeded_from_config() -> None:
    config = EmulatorConfig.model_validate(
        {
            "instances": [{"idInstance": ID, "apiTokenInstance": TOKEN, "staleAuth": True}],
            "rateLimits": {"enabled": False},
        }
    )
    async with await start_emulator(config) as running, httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(instance_url(running.url, ID, "qr", TOKEN))
        assert answer.json() == HAS_AUTH


# --- 4. getAuthorizationCode answering status: false -----------------------------------------


async def test_auth_code_refusals(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    url = instance_url(emulator.url, ID, "getAuthorizationCode", TOKEN)
    body = {"phoneNumber": 79001234567}
    assert (await emulator_admin.refuse_auth_codes(ID, 1))["refuseNextAuthCodes"] == 1
    refused = await client.post(url, json=body)
    assert (refused.status_code, refused.json()) == (200, {"status": False, "code": ""})
    assert (await emulator_admin.instance(ID))["pairingCode"] is None
    assert (await client.post(url, json=body)).json()["status"] is True

    await emulator_admin.patch_config(
        {"authCodeRefusedProbability": 1, "variants": {"authCodeRefusedBody": "statusOnly"}}
    )
    assert (await client.post(url, json=body)).json() == {"status": False}
    await emulator_admin.patch_config({"authCodeRefusedProbability": 0})
    assert (await client.post(url, json=body)).json()["status"] is True


# --- 5. long-deleted instances answer 401 ----------------------------------------------------


async def test_long_deleted_instances_answer_401(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    await client.post(
        partner_url(emulator.url, "deleteInstanceAccount", PARTNER_TOKEN), json={"idInstance": ID}
    )
    url = instance_url(emulator.url, ID, "getStateInstance", TOKEN)
    await emulator_admin.advance_clock(31 * 86400)
    # Off by default: the documented 400 however old the deletion.
    old = await client.get(url)
    assert (old.status_code, old.text) == (400, "Instance is deleted")
    await emulator_admin.patch_config({"variants": {"deletedLongAgoResponse": "unauthorized"}})
    long_ago = await client.get(url)
    assert (long_ago.status_code, long_ago.text) == (401, "Unauthorized")
    await emulator_admin.patch_config({"timings": {"deletedLongAgoDays": 40}})
    assert (await client.get(url)).status_code == 400
    await emulator_admin.advance_clock(9 * 86400)
    assert (await client.get(url)).status_code == 401
    # Still listed (for 90 days) as deleted.
    assert ID in await listed_ids(client, emulator.url)


# --- 6. QR codes while settings apply --------------------------------------------------------


async def test_qr_while_settings_apply_by_default(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    await emulator_admin.patch_config({"timings": {"startingSeconds": 60}})
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    saved = await client.post(
        instance_url(emulator.url, ID, "setSettings", TOKEN), json={"stateWebhook": "yes"}
    )
    assert saved.json() == {"saveSettings": True}
    state = await client.get(instance_url(emulator.url, ID, "getStateInstance", TOKEN))
    assert state.json() == {"stateInstance": "starting"}
    qr = (await client.get(instance_url(emulator.url, ID, "qr", TOKEN))).json()
    assert qr["type"] == "qrCode"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(emulator.url, ID, TOKEN)) as ws,
    ):
        first = await ws.receive_json(timeout=5)
        assert first["type"] == "qrCode"
        await emulator_admin.advance_clock(20)
        rotated = await ws.receive_json(timeout=5)
        assert rotated["type"] == "qrCode"
        assert rotated["message"] != first["message"]
        assert (await emulator_admin.instance(ID))["state"] == "starting"
        # The code on offer can be scanned.
        await emulator_admin.scan(ID, phone="79001230000")
        linked = await ws.receive_json(timeout=5)
        assert linked["type"] == "accountData"
    # A plain reboot is not covered by the scenario page: no QR then.
    await client.get(instance_url(emulator.url, ID, "logout", TOKEN))
    await client.get(instance_url(emulator.url, ID, "reboot", TOKEN))
    assert (await client.get(instance_url(emulator.url, ID, "qr", TOKEN))).json() == STARTING


async def test_qr_while_starting_refused_variant(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    await emulator_admin.patch_config(
        {"timings": {"startingSeconds": 60}, "variants": {"qrWhileStarting": "refused"}}
    )
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    await client.post(
        instance_url(emulator.url, ID, "setSettings", TOKEN), json={"stateWebhook": "yes"}
    )
    assert (await client.get(instance_url(emulator.url, ID, "qr", TOKEN))).json() == STARTING
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(emulator.url, ID, TOKEN)) as ws,
    ):
        assert await ws.receive_json(timeout=5) == STARTING
    await expect_scan_refused(emulator_admin)


async def test_ws_session_survives_set_settings(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    """A scanqrcode session open before setSettings keeps sending codes through the restart."""
    await emulator_admin.patch_config({"timings": {"startingSeconds": 60}})
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(emulator.url, ID, TOKEN)) as ws,
    ):
        assert (await ws.receive_json(timeout=5))["type"] == "qrCode"
        await client.post(
            instance_url(emulator.url, ID, "setSettings", TOKEN), json={"stateWebhook": "yes"}
        )
        await emulator_admin.advance_clock(20)
        assert (await ws.receive_json(timeout=5))["type"] == "qrCode"


# --- 7. documented defaults ------------------------------------------------------------------


async def test_new_instance_defaults(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    created = await create(client, emulator.url, {"name": "defaults"})
    await emulator_admin.advance_clock(30)
    settings = (
        await client.get(
            instance_url(
                emulator.url, created["idInstance"], "getSettings", created["apiTokenInstance"]
            )
        )
    ).json()
    assert settings["delaySendMessagesMilliseconds"] == 500
    assert settings["proxyInstance"] == "system proxy"
    await emulator_admin.patch_config(
        {"variants": {"defaultDelayMs": 3000, "defaultProxyInstance": ""}}
    )
    seeded = await emulator_admin.seed()
    assert seeded["settings"]["delaySendMessagesMilliseconds"] == 3000
    assert seeded["settings"]["proxyInstance"] == ""
