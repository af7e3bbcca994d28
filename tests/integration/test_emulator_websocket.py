"""The scanqrcode WebSocket, read with aiohttp's client as GREEN-API's JS example does."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from support.emulator_admin import EmulatorAdmin
from support.greenapi_urls import ws_url
from whatsapp_operator.emulator import RunningEmulator

ID = 7105000401
TOKEN = "d" * 50


@pytest.fixture
async def session(emulator_admin: EmulatorAdmin) -> AsyncIterator[aiohttp.ClientSession]:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    async with aiohttp.ClientSession() as client:
        yield client


async def next_frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    frame: dict[str, Any] = await ws.receive_json(timeout=5)
    return frame


async def test_qr_rotation_then_account_data(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(ws_url(emulator.url, ID, TOKEN)) as ws:
        first = await next_frame(ws)
        assert first["type"] == "qrCode"
        assert base64.b64decode(first["message"]).startswith(b"\x89PNG")
        await emulator_admin.advance_clock(20)
        rotated = await next_frame(ws)
        assert rotated["type"] == "qrCode"
        assert rotated["message"] != first["message"]
        await emulator_admin.patch_config({"timings": {}})
        await emulator_admin.seed()  # unrelated changes must not produce frames
        await emulator_admin.scan(ID, phone="79005556677")
        account = await next_frame(ws)
        assert account["type"] == "accountData"
        assert account["wid"] == "79005556677@c.us"
        assert {"message", "pushname", "webhookUrl"} <= set(account)
        closing = await ws.receive(timeout=5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_timeout_expired(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(ws_url(emulator.url, ID, TOKEN)) as ws:
        assert (await next_frame(ws))["type"] == "qrCode"
        await emulator_admin.advance_clock(100)
        frames = [await next_frame(ws)]
        while frames[-1]["type"] == "qrCode":
            frames.append(await next_frame(ws))
        assert frames[-1] == {"type": "timeoutExpired", "message": "timeoutExpired"}


async def test_timeout_variant_and_single_session(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, session: aiohttp.ClientSession
) -> None:
    await emulator_admin.patch_config({"variants": {"wsTimeoutType": "timeout"}})
    async with session.ws_connect(ws_url(emulator.url, ID, TOKEN)) as ws:
        assert (await next_frame(ws))["type"] == "qrCode"
        async with session.ws_connect(ws_url(emulator.url, ID, TOKEN)) as second:
            assert (await next_frame(second))["type"] == "error"
        await emulator_admin.advance_clock(100.5)
        frame = await next_frame(ws)
        while frame["type"] == "qrCode":
            frame = await next_frame(ws)
        assert frame["type"] == "timeout"


async def test_already_logged(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, session: aiohttp.ClientSession
) -> None:
    await emulator_admin.scan(ID)
    async with session.ws_connect(ws_url(emulator.url, ID, TOKEN)) as ws:
        assert await next_frame(ws) == {
            "type": "alreadyLogged",
            "message": "instance account already authorized",
        }


async def test_wrong_token_refuses_upgrade(
    emulator: RunningEmulator, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await session.ws_connect(ws_url(emulator.url, ID, "x" * 50))
    assert caught.value.status == 401


async def test_client_close_frees_the_session(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(ws_url(emulator.url, ID, TOKEN)) as ws:
        assert (await next_frame(ws))["type"] == "qrCode"
    async with session.ws_connect(ws_url(emulator.url, ID, TOKEN)) as ws:
        # The first session may take a moment to notice the close; a retry is fine.
        frame = await next_frame(ws)
    if frame["type"] == "error":
        async with session.ws_connect(ws_url(emulator.url, ID, TOKEN)) as ws:
            frame = await next_frame(ws)
    assert frame["type"] == "qrCode"
