"""The project's GREEN-API client against the emulator over real loopback HTTP.

Every test also proves that no token, QR image or pairing code reaches a log
line, an exception message, a repr or a formatted traceback.
"""

from __future__ import annotations

import base64
import logging
import socket
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from support.emulator_admin import PARTNER_TOKEN, EmulatorAdmin
from whatsapp_operator import redaction
from whatsapp_operator.adapters.greenapi import (
    ClientOptions,
    GreenApi,
    InstanceState,
    QrKind,
    Settings,
)
from whatsapp_operator.adapters.greenapi.client import PAIRING_CODE_SECRET_TTL
from whatsapp_operator.emulator import RunningEmulator
from whatsapp_operator.endpoints import AllowList
from whatsapp_operator.wire import errors as gerr

ID = 7105000901
# The emulators and stub servers of these tests listen on loopback at random ports.
LOOPBACK = AllowList(["http://127.0.0.1:*"])
TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef01"


@pytest.fixture
async def api(caplog: pytest.LogCaptureFixture) -> AsyncIterator[GreenApi]:
    caplog.set_level(logging.DEBUG)
    options = ClientOptions(read_timeout=2.0, connect_timeout=1.0)
    async with GreenApi(options, allowed=LOOPBACK) as client:
        yield client


@pytest.fixture
async def seeded(emulator_admin: EmulatorAdmin) -> EmulatorAdmin:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    return emulator_admin


def assert_no_secret(
    caplog: pytest.LogCaptureFixture, *secrets: str, error: BaseException | None = None
) -> None:
    texts = [caplog.text]
    if error is not None:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    for secret in (TOKEN, PARTNER_TOKEN, *secrets):
        for text in texts:
            assert secret not in text


async def test_full_story_through_the_client(
    api: GreenApi,
    emulator: RunningEmulator,
    emulator_admin: EmulatorAdmin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    partner = api.partner(api_url=emulator.url, token=PARTNER_TOKEN)
    created = await partner.create_instance(
        name="story", settings=Settings(incoming_webhook=True, delay_send_messages_milliseconds=900)
    )
    token = created.api_token_instance.get_secret_value()
    assert len(token) == 50
    instance = api.instance(api_url=emulator.url, id_instance=created.id_instance, token=token)

    assert (await instance.get_state()).state is InstanceState.CREATING
    await emulator_admin.advance_clock(31)
    assert (await instance.get_state()).state is InstanceState.NOT_AUTHORIZED
    settings = await instance.get_settings()
    assert settings.incoming_webhook is True
    assert settings.delay_send_messages_milliseconds == 900

    assert await instance.set_settings(Settings(outgoing_webhook=True, link_preview=True))
    assert (await instance.get_state()).state is InstanceState.STARTING
    assert (await instance.get_settings()).outgoing_webhook is False  # not applied yet
    await emulator_admin.advance_clock(11)
    applied = await instance.get_settings()
    assert applied.outgoing_webhook is True
    assert applied.link_preview is True
    assert applied.incoming_webhook is True  # untouched key kept

    qr = await instance.qr()
    assert qr.kind is QrKind.QR_CODE
    assert qr.image_png_base64 is not None
    png = qr.image_png_base64.get_secret_value()
    assert base64.b64decode(png).startswith(b"\x89PNG")
    wa = await instance.get_wa_settings()
    assert (wa.phone, wa.device_id) == ("", "")

    await emulator_admin.scan(created.id_instance, phone="79001234567")
    assert (await instance.get_state()).state is InstanceState.AUTHORIZED
    assert (await instance.qr()).kind is QrKind.ALREADY_LOGGED
    wa = await instance.get_wa_settings()
    assert wa.phone == "79001234567"
    assert wa.state is InstanceState.AUTHORIZED

    history = await instance.get_state_history(count=10)
    assert {entry.state_instance for entry in history} >= {"notAuthorized", "authorized"}

    assert await instance.reboot()
    assert (await instance.get_state()).state is InstanceState.STARTING
    await emulator_admin.advance_clock(6)
    assert (await instance.get_state()).state is InstanceState.AUTHORIZED
    assert await instance.logout()
    assert (await instance.get_state()).state is InstanceState.NOT_AUTHORIZED

    assert await partner.delete_instance(created.id_instance)
    with pytest.raises(gerr.PartnerInstanceNotFound):
        await partner.delete_instance(created.id_instance)
    listed = {item.id_instance: item for item in await partner.get_instances()}
    assert listed[created.id_instance].deleted
    assert listed[created.id_instance].time_deleted is not None
    with pytest.raises(gerr.InstanceDeleted) as deleted:
        await instance.get_settings()
    assert not deleted.value.retryable
    assert_no_secret(caplog, token, png, error=deleted.value)


async def test_pairing_code_is_secret(
    api: GreenApi,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instance = api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)
    code = await instance.get_authorization_code(79001234567)
    assert code.status
    value = code.code.get_secret_value()
    assert value not in repr(code)
    response = await seeded.pair(ID, value)
    assert response.status_code == 200
    assert (await instance.get_state()).state is InstanceState.AUTHORIZED
    assert_no_secret(caplog, value)


@pytest.mark.parametrize(
    ("token", "instance_id", "error_type"),
    [
        ("f" * 50, ID, gerr.TokenRejected),
        (TOKEN, 7105999999, gerr.InstanceRejected),
    ],
    ids=["401-token", "403-id"],
)
async def test_rejected_credentials_are_permanent(
    api: GreenApi,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    caplog: pytest.LogCaptureFixture,
    token: str,
    instance_id: int,
    error_type: type,
) -> None:
    instance = api.instance(api_url=emulator.url, id_instance=instance_id, token=token)
    with pytest.raises(error_type) as caught:
        await instance.get_settings()
    assert not caught.value.retryable
    counters = await seeded.counters()
    totals = [
        outcomes.get(str(caught.value.status), 0)
        for scope in counters.values()
        for method, outcomes in scope.items()
        if method.lower() == "getsettings"
    ]
    assert totals == [1]  # permanent errors are not retried
    assert_no_secret(caplog, token, error=caught.value)


async def test_invalid_settings_are_rejected_permanently(
    api: GreenApi,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instance = api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)
    with pytest.raises(gerr.RequestRejected) as caught:
        await instance.set_settings(Settings(delay_send_messages_milliseconds=100))
    assert caught.value.status == 400
    assert not caught.value.retryable
    assert_no_secret(caplog, error=caught.value)


async def test_starting_and_quota_answers(
    api: GreenApi,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instance = api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)
    await instance.reboot()
    with pytest.raises(gerr.InstanceStarting) as starting:
        await instance.get_authorization_code(79001234567)
    assert starting.value.retryable
    await seeded.quota(ID, enabled=True)
    with pytest.raises(gerr.QuotaExceeded) as quota:
        await instance.get_state()
    assert quota.value.retry_after == 3600.0
    assert_no_secret(caplog, error=quota.value)


async def test_client_paces_itself_below_the_rate_limit(
    api: GreenApi,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
) -> None:
    await seeded.patch_config({"rateLimits": {"enabled": True}})
    instance = api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)
    started = time.monotonic()
    for _ in range(3):
        await instance.get_state()
    for _ in range(4):
        await instance.qr()
    elapsed = time.monotonic() - started
    # Three 1-rps calls need two gaps of 1 s (+10 % margin); qr's 3 rps runs in parallel budget.
    assert elapsed >= 2.0
    per_method = calls(await seeded.counters(), ID)
    assert per_method["getstateinstance"] == {"total": 3, "200": 3}
    assert per_method["qr"] == {"total": 4, "200": 4}


async def test_server_429_is_retried_then_reported(
    api: GreenApi,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seeded.set_faults([{"method": "getSettings", "errorRate": 1.0, "status": 429}])
    instance = api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)
    with pytest.raises(gerr.RateLimited) as caught:
        await instance.get_settings()
    assert caught.value.retryable
    assert caught.value.retry_after == pytest.approx(1.0)
    assert calls(await seeded.counters(), ID)["getsettings"] == {"total": 3, "429": 3}
    assert_no_secret(caplog, error=caught.value)


async def test_5xx_retried_for_reads_never_for_writes(
    api: GreenApi,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seeded.set_faults(
        [
            {"method": "getSettings", "errorRate": 1.0, "status": 502},
            {"method": "getStateInstance", "errorRate": 1.0, "status": 502},
            {"method": "setSettings", "errorRate": 1.0, "status": 500},
        ]
    )
    await seeded.reset_counters()
    instance = api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)
    with pytest.raises(gerr.ServiceUnavailable) as read_error:
        await instance.get_settings()
    with pytest.raises(gerr.ServiceUnavailable) as poll_error:
        await instance.get_state()
    with pytest.raises(gerr.ServiceUnavailable) as write_error:
        await instance.set_settings(Settings(incoming_webhook=True))
    assert read_error.value.retryable
    assert poll_error.value.retryable
    counters = await seeded.counters()
    per_method = calls(counters, ID)
    assert per_method["getsettings"] == {"total": 3, "502": 3}  # ClientOptions.max_attempts
    # The state poll is retried by the poll schedule (decide/requeue.py), never here, so
    # a failing GREEN-API gets no more polls than a healthy one.
    assert per_method["getstateinstance"] == {"total": 1, "502": 1}
    # Every setSettings reboots the instance: never repeated blindly.
    assert per_method["setsettings"] == {"total": 1, "500": 1}
    assert_no_secret(caplog, error=write_error.value)


def calls(counters: dict[str, Any], instance_id: int) -> dict[str, dict[str, int]]:
    """Outcomes per lower-cased method for one instance, from `GET /admin/counters`."""
    return {
        method.lower(): outcomes for method, outcomes in counters.get(str(instance_id), {}).items()
    }


async def test_dropped_connection_and_timeout_are_transport_failures(
    api: GreenApi,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instance = api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)
    await seeded.set_faults([{"method": "getSettings", "dropRate": 1.0}])
    with pytest.raises(gerr.TransportFailure) as dropped:
        await instance.get_settings()
    await seeded.set_faults([{"method": "getWaSettings", "latencyMs": 3000}])
    with pytest.raises(gerr.TransportFailure) as slow:
        await instance.get_wa_settings()
    assert dropped.value.retryable
    assert slow.value.retryable
    assert_no_secret(caplog, error=dropped.value)
    assert_no_secret(caplog, error=slow.value)


async def test_unreachable_host(api: GreenApi, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    instance = api.instance(api_url=f"http://127.0.0.1:{port}", id_instance=ID, token=TOKEN)
    with pytest.raises(gerr.TransportFailure) as caught:
        await instance.get_state()
    assert caught.value.request_not_sent
    assert_no_secret(caplog, error=caught.value)


async def test_partner_token_rejected_inside_http_200(
    api: GreenApi,
    emulator: RunningEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "gac.wrongpartnertoken00000000000000000000000000"
    partner = api.partner(api_url=emulator.url, token=wrong)
    with pytest.raises(gerr.PartnerTokenRejected) as caught:
        await partner.get_instances()
    assert not caught.value.retryable
    assert_no_secret(caplog, wrong, error=caught.value)


async def test_creation_401_variant_is_reported_as_token_rejected(
    api: GreenApi,
    emulator: RunningEmulator,
    emulator_admin: EmulatorAdmin,
) -> None:
    await emulator_admin.patch_config({"variants": {"creationResponse": "unauthorized"}})
    created = await api.partner(api_url=emulator.url, token=PARTNER_TOKEN).create_instance()
    instance = api.instance(
        api_url=emulator.url, id_instance=created.id_instance, token=created.api_token_instance
    )
    with pytest.raises(gerr.TokenRejected):
        await instance.get_state()
    await emulator_admin.advance_clock(31)
    assert (await instance.get_state()).state is InstanceState.NOT_AUTHORIZED


async def test_lenient_booleans_in_yes_no_form(
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
) -> None:
    await seeded.patch_config({"variants": {"linkPreviewForm": "yesno"}})
    async with GreenApi(ClientOptions(lenient_bool_style="yesno"), allowed=LOOPBACK) as api:
        instance = api.instance(api_url=emulator.url, id_instance=ID, token=SecretStr(TOKEN))
        await instance.set_settings(Settings(link_preview=True))
        await seeded.advance_clock(11)
        assert (await instance.get_settings()).link_preview is True


async def test_websocket_stream_until_account_data(
    api: GreenApi,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instance = api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)
    frames = []
    images: list[str] = []
    async for frame in instance.scan_qr_code():
        frames.append(frame.kind)
        if frame.kind is QrKind.QR_CODE:
            assert frame.image_png_base64 is not None
            images.append(frame.image_png_base64.get_secret_value())
            if len(images) == 1:
                await seeded.advance_clock(20)
            else:
                await seeded.scan(ID, phone="79007654321")
    assert frames == [QrKind.QR_CODE, QrKind.QR_CODE, QrKind.ACCOUNT_DATA]
    assert images[0] != images[1]
    assert_no_secret(caplog, *images)


async def test_websocket_timeout_and_refusal(
    api: GreenApi,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instance = api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)
    kinds = []
    async for frame in instance.scan_qr_code():
        kinds.append(frame.kind)
        if len(kinds) == 1:
            await seeded.advance_clock(100.5)
    assert kinds[0] is QrKind.QR_CODE
    assert kinds[-1] is QrKind.TIMEOUT_EXPIRED

    wrong = api.instance(api_url=emulator.url, id_instance=ID, token="e" * 50)
    with pytest.raises(gerr.TokenRejected) as caught:
        async for _ in wrong.scan_qr_code():
            pass
    assert_no_secret(caplog, "e" * 50, error=caught.value)


async def test_pairing_code_is_scrubbed_only_while_it_can_be_used(
    api: GreenApi,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(redaction, "_registry", redaction.SecretRegistry(clock=lambda: now[0]))
    instance = api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)
    value = (await instance.get_authorization_code(79001234567)).code.get_secret_value()
    assert redaction.redact(value) == redaction.MASK
    now[0] += PAIRING_CODE_SECRET_TTL + 1
    assert redaction.redact(value) == value
    assert redaction.redact(TOKEN) == redaction.MASK  # the token stays
