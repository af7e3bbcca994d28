"""Every documented error answer of the instance and partner APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from support.emulator_admin import PARTNER_TOKEN, EmulatorAdmin
from support.greenapi_urls import instance_url, partner_url
from whatsapp_operator.emulator import RunningEmulator

ID = 7105000201
TOKEN = "a" * 50


@pytest.fixture
async def client(emulator_admin: EmulatorAdmin) -> AsyncIterator[httpx.AsyncClient]:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    async with httpx.AsyncClient(timeout=10) as http:
        yield http


async def test_case_insensitive_method_names(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    for name in ("getSettings", "GetSettings", "GETSETTINGS"):
        response = await client.get(instance_url(emulator.url, ID, name, TOKEN))
        assert response.status_code == 200


async def test_auth_and_routing_errors(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    url = instance_url(emulator.url, ID, "getSettings", TOKEN)
    assert (await client.options(url)).status_code == 204
    wrong_verb = await client.post(url, json={})
    assert (wrong_verb.status_code, wrong_verb.text) == (404, "Not Found")
    unknown = await client.get(instance_url(emulator.url, ID, "noSuchMethod", TOKEN))
    assert unknown.status_code == 404
    forbidden = await client.get(instance_url(emulator.url, 7105999999, "getSettings", TOKEN))
    assert (forbidden.status_code, forbidden.text) == (403, "Forbidden")
    unauthorized = await client.get(instance_url(emulator.url, ID, "getSettings", "b" * 50))
    assert (unauthorized.status_code, unauthorized.text) == (401, "Unauthorized")


async def test_rate_limit_1_rps_and_qr_3_rps(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    await emulator_admin.patch_config({"rateLimits": {"enabled": True}})
    url = instance_url(emulator.url, ID, "getStateInstance", TOKEN)
    assert (await client.get(url)).status_code == 200
    limited = await client.get(url)
    assert (limited.status_code, limited.text) == (429, "Too Many Requests")
    # Limits are per method: another method still has its own budget.
    assert (await client.get(instance_url(emulator.url, ID, "getSettings", TOKEN))).is_success
    qr = instance_url(emulator.url, ID, "qr", TOKEN)
    statuses = [(await client.get(qr)).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429
    await emulator_admin.patch_config({"rateLimits": {"scale": 1000}})
    assert all([(await client.get(url)).status_code == 200 for _ in range(5)])


async def test_validation_and_bad_json(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    url = instance_url(emulator.url, ID, "setSettings", TOKEN)
    bad = await client.post(url, json={"incomingWebhook": True})
    assert bad.status_code == 400
    assert bad.text.startswith("Bad Request Validation failed")
    too_small = await client.post(url, json={"delaySendMessagesMilliseconds": 499})
    assert too_small.status_code == 400
    broken = await client.post(url, content=b'{"incomingWebhook": yes}')
    assert broken.status_code == 400
    assert broken.text.startswith("Unexpected token y in JSON at position")
    # wid is read-only and silently ignored by default.
    ignored = await client.post(url, json={"wid": "1@c.us"})
    assert ignored.json() == {"saveSettings": True}


async def test_starting_rejects_and_qr_error(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    assert (await client.get(instance_url(emulator.url, ID, "reboot", TOKEN))).is_success
    again = await client.post(
        instance_url(emulator.url, ID, "setSettings", TOKEN), json={"stateWebhook": "yes"}
    )
    assert (again.status_code, again.text) == (400, "instance in starting process try later")
    code = await client.post(
        instance_url(emulator.url, ID, "getAuthorizationCode", TOKEN),
        json={"phoneNumber": 79001234567},
    )
    assert code.status_code == 400
    qr = (await client.get(instance_url(emulator.url, ID, "qr", TOKEN))).json()
    assert qr["type"] == "error"


async def test_authorization_code_validation(
    emulator: RunningEmulator, client: httpx.AsyncClient
) -> None:
    url = instance_url(emulator.url, ID, "getAuthorizationCode", TOKEN)
    assert (await client.post(url, json={"phoneNumber": "79001234567"})).status_code == 400
    assert (await client.post(url, json={})).status_code == 400


async def test_quota_466(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    await emulator_admin.quota(ID, enabled=True, methods=["getSettings"], total=100)
    response = await client.get(instance_url(emulator.url, ID, "getSettings", TOKEN))
    assert response.status_code == 466
    body = response.json()
    assert body["invokeStatus"]["status"] == "QUOTE_EXCEEDED"
    assert body["invokeStatus"]["total"] == 100
    assert body["correspondentsStatus"]["status"] == "CORRESPONDENTS_QUOTE_EXCEEDED"
    assert (await client.get(instance_url(emulator.url, ID, "getStateInstance", TOKEN))).is_success
    await emulator_admin.quota(ID, enabled=False)
    assert (await client.get(instance_url(emulator.url, ID, "getSettings", TOKEN))).is_success


async def test_partner_errors(emulator: RunningEmulator, emulator_admin: EmulatorAdmin) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        wrong = await client.get(partner_url(emulator.url, "getInstances", "gac.wrong"))
        assert wrong.status_code == 200
        assert wrong.json() == {"code": 401, "description": "Unauthorized"}
        verb = await client.get(partner_url(emulator.url, "createInstance", PARTNER_TOKEN))
        assert verb.status_code == 404
        missing = await client.post(
            partner_url(emulator.url, "deleteInstanceAccount", PARTNER_TOKEN),
            json={"idInstance": 1},
        )
        assert missing.json() == {"code": 404, "description": "Not found"}
        await emulator_admin.patch_config({"variants": {"partnerErrorStyle": "http400"}})
        wrong = await client.get(partner_url(emulator.url, "getInstances", "gac.wrong"))
        assert (wrong.status_code, wrong.text) == (400, "Unauthorized")
        await emulator_admin.add_partner_token("gac.second")
        assert (
            await client.get(partner_url(emulator.url, "getInstances", "gac.second"))
        ).is_success


async def test_partner_rate_limit_is_configurable(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> None:
    await emulator_admin.patch_config({"rateLimits": {"partnerRps": 1}})
    async with httpx.AsyncClient(timeout=10) as client:
        url = partner_url(emulator.url, "getInstances", PARTNER_TOKEN)
        assert (await client.get(url)).status_code == 200
        assert (await client.get(url)).status_code == 429


async def test_creation_variants(emulator: RunningEmulator, emulator_admin: EmulatorAdmin) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for variant, status in (("unauthorized", 401), ("expired", 400)):
            await emulator_admin.patch_config({"variants": {"creationResponse": variant}})
            created = (
                await client.post(
                    partner_url(emulator.url, "createInstance", PARTNER_TOKEN), json={}
                )
            ).json()
            url = instance_url(
                emulator.url, created["idInstance"], "getStateInstance", created["apiTokenInstance"]
            )
            during = await client.get(url)
            assert during.status_code == status
            if variant == "expired":
                assert during.text.startswith("Instance account is expired")
            await emulator_admin.advance_clock(30)
            assert (await client.get(url)).json() == {"stateInstance": "notAuthorized"}


async def test_deleted_as_starting_variant(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    await emulator_admin.patch_config({"variants": {"deletedResponse": "starting"}})
    await client.post(
        partner_url(emulator.url, "deleteInstanceAccount", PARTNER_TOKEN), json={"idInstance": ID}
    )
    state = await client.get(instance_url(emulator.url, ID, "getStateInstance", TOKEN))
    assert state.json() == {"stateInstance": "starting"}
    reboot = await client.get(instance_url(emulator.url, ID, "reboot", TOKEN))
    assert reboot.status_code == 400


@pytest.mark.parametrize(("form", "expected"), [("bool", True), ("yesno", "yes")])
async def test_link_preview_forms(
    emulator: RunningEmulator,
    emulator_admin: EmulatorAdmin,
    client: httpx.AsyncClient,
    form: str,
    expected: object,
) -> None:
    await emulator_admin.patch_config(
        {
            "variants": {"linkPreviewForm": form, "lidModeForm": form},
            "timings": {"startingSeconds": 0},
        }
    )
    await client.post(
        instance_url(emulator.url, ID, "setSettings", TOKEN),
        json={"linkPreview": "yes", "enableLidMode": True},
    )
    await emulator_admin.advance_clock(10)
    settings = (await client.get(instance_url(emulator.url, ID, "getSettings", TOKEN))).json()
    assert settings["linkPreview"] == expected
    assert settings["enableLidMode"] == expected


async def test_wid_reject_and_long_delay_variants(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin, client: httpx.AsyncClient
) -> None:
    url = instance_url(emulator.url, ID, "setSettings", TOKEN)
    await emulator_admin.patch_config({"timings": {"startingSeconds": 0}})
    assert (
        await client.post(url, json={"delaySendMessagesMilliseconds": 86400000})
    ).status_code == 400
    await emulator_admin.patch_config(
        {"variants": {"delayMaxMs": 86400000, "widInSetSettings": "reject"}}
    )
    assert (await client.post(url, json={"delaySendMessagesMilliseconds": 86400000})).is_success
    assert (await client.post(url, json={"wid": "1@c.us"})).status_code == 400
