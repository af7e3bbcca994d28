"""The full story of one instance, driven as GREEN-API's documentation describes it."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from support.emulator_admin import PARTNER_TOKEN, EmulatorAdmin
from support.greenapi_urls import instance_url, partner_url
from whatsapp_operator.emulator import RunningEmulator

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Account:
    def __init__(self, client: httpx.AsyncClient, base: str, id_instance: int, token: str):
        self.client = client
        self.base = base
        self.id = id_instance
        self.token = token

    async def get(self, method: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(instance_url(self.base, self.id, method, self.token), **kwargs)

    async def post(self, method: str, body: Any) -> httpx.Response:
        return await self.client.post(
            instance_url(self.base, self.id, method, self.token), json=body
        )

    async def state(self) -> Any:
        response = await self.get("getStateInstance")
        assert response.status_code == 200
        return response.json()


async def create(client: httpx.AsyncClient, base: str, body: dict[str, Any]) -> Account:
    response = await client.post(partner_url(base, "createInstance", PARTNER_TOKEN), json=body)
    assert response.status_code == 200
    created = response.json()
    assert created["typeInstance"] == "whatsapp"
    assert 10**9 <= created["idInstance"] < 10**10
    token = created["apiTokenInstance"]
    assert len(token) == 50
    assert token == token.lower()
    int(token, 16)
    return Account(client, base, created["idInstance"], token)


async def test_full_story(emulator: RunningEmulator, emulator_admin: EmulatorAdmin) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        account = await create(
            client, emulator.url, {"name": "shop", "stateWebhook": "yes", "autoTyping": 2}
        )

        # Being created: HTTP 200 with a `null` body until creation_seconds pass.
        assert await account.state() is None
        await emulator_admin.advance_clock(30)
        assert await account.state() == {"stateInstance": "notAuthorized"}

        settings = (await account.get("getSettings")).json()
        assert settings["wid"] == ""
        assert settings["stateWebhook"] == "yes"
        assert settings["autoTyping"] == 2
        assert settings["incomingWebhook"] == "no"
        assert settings["delaySendMessagesMilliseconds"] == 500
        assert settings["proxyInstance"] == "system proxy"

        # setSettings reboots and applies later.
        response = await account.post(
            "setSettings", {"webhookUrl": "http://hook.example/x", "incomingWebhook": "yes"}
        )
        assert response.json() == {"saveSettings": True}
        assert await account.state() == {"stateInstance": "starting"}
        assert (await account.get("getSettings")).json()["incomingWebhook"] == "no"
        view = await emulator_admin.instance(account.id)
        assert view["pendingSettings"][0]["values"]["incomingWebhook"] == "yes"
        await emulator_admin.advance_clock(5)
        assert await account.state() == {"stateInstance": "notAuthorized"}
        assert (await account.get("getSettings")).json()["incomingWebhook"] == "no"
        await emulator_admin.advance_clock(5)
        applied = (await account.get("getSettings")).json()
        assert applied["incomingWebhook"] == "yes"
        assert applied["webhookUrl"] == "http://hook.example/x"

        # QR: a real PNG that rotates.
        first = (await account.get("qr")).json()
        assert first["type"] == "qrCode"
        png = base64.b64decode(first["message"])
        assert png.startswith(PNG_SIGNATURE)
        assert (await account.get("qr")).json() == first
        await emulator_admin.advance_clock(20)
        second = (await account.get("qr")).json()
        assert second["type"] == "qrCode"
        assert second["message"] != first["message"]

        # Status before authorization.
        wa = (await account.get("getWaSettings")).json()
        assert wa == {"avatar": "", "phone": "", "stateInstance": "notAuthorized", "deviceId": ""}
        assert (await account.get("getStatusInstance")).json() == {"statusInstance": "offline"}

        await emulator_admin.scan(account.id, phone="79001234567")
        assert await account.state() == {"stateInstance": "authorized"}
        assert (await account.get("getSettings")).json()["wid"] == "79001234567@c.us"
        assert (await account.get("qr")).json() == {
            "type": "alreadyLogged",
            "message": "instance account already authorized",
        }
        wa = (await account.get("getWaSettings")).json()
        assert wa["phone"] == "79001234567"
        assert wa["stateInstance"] == "authorized"
        assert wa["deviceId"].startswith("79001234567")
        assert wa["avatar"].startswith("https://")
        assert (await account.get("getStatusInstance")).json() == {"statusInstance": "online"}

        # Reboot goes through starting back to authorized.
        assert (await account.get("reboot")).json() == {"isReboot": True}
        assert await account.state() == {"stateInstance": "starting"}
        await emulator_admin.advance_clock(5)
        assert await account.state() == {"stateInstance": "authorized"}

        # Logout clears the link.
        assert (await account.get("logout")).json() == {"isLogout": True}
        assert await account.state() == {"stateInstance": "notAuthorized"}
        assert (await account.get("getSettings")).json()["wid"] == ""

        history = (await account.get("GetStateInstanceHistory", params={"count": 3})).json()
        assert [h["stateInstance"] for h in history] == ["notAuthorized", "authorized", "starting"]
        assert history[1]["phoneNumber"] == "79001234567"
        everything = (
            await client.request(
                "GET",
                instance_url(emulator.url, account.id, "getStateInstanceHistory", account.token),
                json={"count": 100},
            )
        ).json()
        assert len(everything) > 3
        assert {"stateInstance", "timestamp", "phoneNumber"} <= set(everything[0])

        # Delete, then again: the second answers the documented 200 + code 404.
        delete = partner_url(emulator.url, "deleteInstanceAccount", PARTNER_TOKEN)
        first_delete = await client.post(delete, json={"idInstance": account.id})
        assert first_delete.json() == {"deleteInstanceAccount": True}
        second_delete = await client.post(delete, json={"idInstance": account.id})
        assert second_delete.status_code == 200
        assert second_delete.json() == {"code": 404, "description": "Not found"}

        deleted = await account.get("getStateInstance")
        assert (deleted.status_code, deleted.text) == (400, "Instance is deleted")

        listing = (
            await client.get(partner_url(emulator.url, "getInstances", PARTNER_TOKEN))
        ).json()
        row = next(r for r in listing if r["idInstance"] == account.id)
        assert row["deleted"] is True
        assert row["timeDeleted"] != "0001-01-01T00:00:00"
        assert row["name"] == "shop"
        assert row["apiTokenInstance"] == account.token
        for key in (
            "typeInstance",
            "typeAccount",
            "partnerUserUiid",
            "timeCreated",
            "tariff",
            "isFree",
            "isPartner",
            "expirationDate",
            "isExpired",
        ):
            assert key in row
        assert len(row["timeCreated"]) == len("2022-06-03T18:39:44")


async def test_pairing_code_authorizes(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> None:
    seeded = await emulator_admin.seed(idInstance=7105000101, apiTokenInstance="t" * 50)
    async with httpx.AsyncClient(timeout=10) as client:
        account = Account(client, emulator.url, seeded["idInstance"], seeded["apiTokenInstance"])
        answer = (await account.post("getAuthorizationCode", {"phoneNumber": 79001112233})).json()
        assert answer["status"] is True
        assert len(answer["code"]) == 8
        wrong = await emulator_admin.pair(account.id, "WRONG000")
        assert wrong.status_code == 400
        ok = await emulator_admin.pair(account.id, answer["code"])
        assert ok.status_code == 200
        assert await account.state() == {"stateInstance": "authorized"}
        assert (await account.get("getWaSettings")).json()["phone"] == "79001112233"
        again = await account.post("getAuthorizationCode", {"phoneNumber": 79001112233})
        assert again.status_code == 400


async def test_pairing_code_expires(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> None:
    seeded = await emulator_admin.seed()
    async with httpx.AsyncClient(timeout=10) as client:
        account = Account(client, emulator.url, seeded["idInstance"], seeded["apiTokenInstance"])
        code = (await account.post("getAuthorizationCode", {"phoneNumber": 79001112233})).json()
        await emulator_admin.advance_clock(151)
        assert (await emulator_admin.pair(account.id, code["code"])).status_code == 400
        assert await account.state() == {"stateInstance": "notAuthorized"}


async def test_wrong_code_bug_variant(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> None:
    await emulator_admin.patch_config({"variants": {"wrongCodeBug": True}})
    seeded = await emulator_admin.seed()
    async with httpx.AsyncClient(timeout=10) as client:
        account = Account(client, emulator.url, seeded["idInstance"], seeded["apiTokenInstance"])
        await account.post("getAuthorizationCode", {"phoneNumber": 79001112233})
        await emulator_admin.pair(account.id, "BADCODE1")
        await account.post("getAuthorizationCode", {"phoneNumber": 79001112233})
        await emulator_admin.advance_clock(3600)
        assert await account.state() == {"stateInstance": "starting"}
        await account.get("logout")
        assert await account.state() == {"stateInstance": "notAuthorized"}


async def test_update_api_token(emulator: RunningEmulator, emulator_admin: EmulatorAdmin) -> None:
    seeded = await emulator_admin.seed()
    async with httpx.AsyncClient(timeout=10) as client:
        account = Account(client, emulator.url, seeded["idInstance"], seeded["apiTokenInstance"])
        new_token = (await account.get("updateApiToken")).json()["apiTokenInstance"]
        assert new_token != account.token
        assert len(new_token) == 50
        assert (await account.get("getStateInstance")).status_code == 401
        account.token = new_token
        assert await account.state() == {"stateInstance": "notAuthorized"}


async def test_injected_states_and_yellow_card_reboot(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> None:
    seeded = await emulator_admin.seed(state="authorized")
    async with httpx.AsyncClient(timeout=10) as client:
        account = Account(client, emulator.url, seeded["idInstance"], seeded["apiTokenInstance"])
        for state in ("blocked", "sleepMode", "yellowCard"):
            await emulator_admin.set_state(account.id, state)
            assert await account.state() == {"stateInstance": state}
        await account.get("reboot")
        await emulator_admin.advance_clock(5)
        assert await account.state() == {"stateInstance": "authorized"}
        # A forced `starting` without seconds stays until something else happens.
        await emulator_admin.set_state(account.id, "starting")
        await emulator_admin.advance_clock(3600)
        assert await account.state() == {"stateInstance": "starting"}
        await account.get("reboot")
        await emulator_admin.advance_clock(5)
        assert await account.state() == {"stateInstance": "authorized"}


async def test_dropped_settings_never_apply(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> None:
    seeded = await emulator_admin.seed()
    await emulator_admin.drop_settings(seeded["idInstance"], 1)
    async with httpx.AsyncClient(timeout=10) as client:
        account = Account(client, emulator.url, seeded["idInstance"], seeded["apiTokenInstance"])
        assert (await account.post("setSettings", {"stateWebhook": "yes"})).json() == {
            "saveSettings": True
        }
        await emulator_admin.advance_clock(600)
        assert (await account.get("getSettings")).json()["stateWebhook"] == "no"
        await account.post("setSettings", {"stateWebhook": "yes"})
        await emulator_admin.advance_clock(600)
        assert (await account.get("getSettings")).json()["stateWebhook"] == "yes"


async def test_set_settings_log_records_accepted_bodies(
    emulator: RunningEmulator, emulator_admin: EmulatorAdmin
) -> None:
    seeded = await emulator_admin.seed()
    id_instance = seeded["idInstance"]
    assert seeded["setSettingsLog"] == []
    await emulator_admin.drop_settings(id_instance, 1)
    async with httpx.AsyncClient(timeout=10) as client:
        account = Account(client, emulator.url, id_instance, seeded["apiTokenInstance"])
        await account.post("setSettings", {"stateWebhook": "yes"})
        # Rejected bodies are not journaled: only what GREEN-API accepted.
        rejected = await account.post("setSettings", {"autoTyping": 9})
        assert rejected.status_code == 400
        await emulator_admin.advance_clock(60)
        await account.post("setSettings", {"incomingWebhook": "yes", "wid": "1@c.us"})
    log = (await emulator_admin.instance(id_instance))["setSettingsLog"]
    assert [(entry["body"], entry["dropped"]) for entry in log] == [
        ({"stateWebhook": "yes"}, True),
        ({"incomingWebhook": "yes", "wid": "1@c.us"}, False),
    ]
    assert log[0]["at"] < log[1]["at"]


async def test_partner_create_validates_settings(emulator: RunningEmulator) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        url = partner_url(emulator.url, "createInstance", PARTNER_TOKEN)
        response = await client.post(url, json={"delaySendMessagesMilliseconds": 10})
        assert response.status_code == 200
        assert response.json()["code"] == 400
        assert "Validation failed" in response.json()["description"]
