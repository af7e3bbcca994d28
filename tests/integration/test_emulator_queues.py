"""GREEN-API's queues as the emulator serves them, read and cleared through the real client.

Documented behaviour (docs/emulator.md, docs/greenapi.md): the incoming queue grows while the
webhook receiver fails and drains once it works, notifications older than 24 h are dropped,
and each queue is cleared at most once a minute (an earlier call: `isCleared: false` and the
seconds left in `leftTime`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from support.emulator_admin import EmulatorAdmin
from support.greenapi_urls import instance_url
from whatsapp_operator.adapters.greenapi.client import ClientOptions, GreenApi, InstanceClient
from whatsapp_operator.emulator import RunningEmulator
from whatsapp_operator.endpoints import AllowList

ID = 7105000951
TOKEN = "5" * 50
LOOPBACK = AllowList(["http://127.0.0.1:*"])


@pytest.fixture
async def account(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> AsyncIterator[InstanceClient]:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN, state="authorized")
    async with GreenApi(ClientOptions(read_timeout=2.0), allowed=LOOPBACK) as api:
        yield api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)


async def test_the_incoming_queue_grows_while_the_receiver_fails_and_drains_after(
    account: InstanceClient, emulator_admin: EmulatorAdmin
) -> None:
    assert await account.get_webhooks_count() == 0
    await emulator_admin.webhook_receiver(ID, failing=True, ratePerSecond=2)
    # The lifecycle clock also runs in real time: a test's own seconds add a few more.
    await emulator_admin.advance_clock(30)
    assert 60 <= await account.get_webhooks_count() <= 66
    await emulator_admin.advance_clock(30)
    grown = await account.get_webhooks_count()
    assert 120 <= grown <= 130

    await emulator_admin.webhook_receiver(ID, failing=False, drainPerSecond=10)
    await emulator_admin.advance_clock(5)
    assert 0 < await account.get_webhooks_count() <= grown - 50
    await emulator_admin.advance_clock(60)
    assert await account.get_webhooks_count() == 0


async def test_notifications_are_kept_24_hours(
    account: InstanceClient, emulator_admin: EmulatorAdmin
) -> None:
    await emulator_admin.webhook_receiver(ID, failing=True, ratePerSecond=1)
    await emulator_admin.advance_clock(10)
    await emulator_admin.webhook_receiver(ID, failing=True, ratePerSecond=0)
    await emulator_admin.advance_clock(24 * 3600 - 20)
    assert await account.get_webhooks_count() == 10
    await emulator_admin.advance_clock(30)
    assert await account.get_webhooks_count() == 0


async def test_a_queue_is_cleared_at_most_once_a_minute(
    account: InstanceClient, emulator_admin: EmulatorAdmin
) -> None:
    await emulator_admin.webhook_receiver(ID, failing=True, ratePerSecond=1)
    await emulator_admin.advance_clock(20)
    first = await account.clear_webhooks_queue()
    assert (first.cleared, first.left_time) == (True, None)
    assert await account.get_webhooks_count() == 0

    await emulator_admin.advance_clock(15)
    refused = await account.clear_webhooks_queue()
    assert (refused.cleared, refused.reason) == (False, "Too many requests")
    assert refused.left_time is not None
    assert 40 <= refused.left_time <= 45
    assert await account.get_webhooks_count() >= 15  # nothing was cleared

    await emulator_admin.advance_clock(45)
    assert (await account.clear_webhooks_queue()).cleared


async def test_outgoing_messages_wait_while_not_authorized_and_can_be_cleared(
    account: InstanceClient, emulator_admin: EmulatorAdmin, emulator: RunningEmulator
) -> None:
    await emulator_admin.set_state(ID, "notAuthorized")
    await emulator_admin.queue_messages(ID, count=3)
    assert await account.get_messages_count() == 3
    shown = await account.show_messages_queue()
    assert [m.chat_id for m in shown] == ["79001234567@c.us"] * 3
    assert {m.type_message for m in shown} == {"textMessage"}

    cleared = await account.clear_messages_queue()
    assert cleared.cleared
    assert await account.get_messages_count() == 0
    again = await account.clear_messages_queue()
    assert not again.cleared
    assert again.left_time is not None
    assert 55 <= again.left_time <= 60


async def test_queued_messages_go_out_once_authorized(
    account: InstanceClient, emulator_admin: EmulatorAdmin
) -> None:
    await emulator_admin.set_state(ID, "notAuthorized")
    await emulator_admin.queue_messages(ID, count=2)
    await emulator_admin.set_state(ID, "authorized", phone="79001234567")
    assert await account.get_messages_count() == 0


async def test_clear_webhooks_queue_is_a_delete(emulator: RunningEmulator) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        url = instance_url(emulator.url, ID, "clearWebhooksQueue", TOKEN)
        # The verb is checked before the instance: GET is GREEN-API's 404.
        assert (await http.get(url)).status_code == 404
