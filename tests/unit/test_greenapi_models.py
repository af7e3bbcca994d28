"""Wire models: yes/no <-> bool, sparse settings, tolerant parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from whatsapp_operator.wire.models import (
    InstanceState,
    OddValue,
    PartnerInstance,
    QrFrame,
    QrKind,
    Settings,
    StateReport,
    WaSettings,
)

YES_NO_ALIASES = [
    field.alias
    for name, field in Settings.model_fields.items()
    if field.alias
    and name
    not in {
        "wid",
        "country_instance",
        "type_account",
        "webhook_url",
        "webhook_url_token",
        "delay_send_messages_milliseconds",
        "shared_session",
        "proxy_instance",
        "auto_typing",
        "link_preview",
        "enable_lid_mode",
    }
]


def test_documented_settings_body_parses_to_booleans() -> None:
    body = {
        "wid": "79001234567@c.us",
        "countryInstance": "",
        "typeAccount": "",
        "webhookUrl": "https://hooks.example/whatsapp",
        "webhookUrlToken": "hook-secret-value",
        "delaySendMessagesMilliseconds": 5000,
        "markIncomingMessagesReaded": "no",
        "markIncomingMessagesReadedOnReply": "yes",
        "sharedSession": "no",
        "proxyInstance": "system proxy",
        "outgoingWebhook": "yes",
        "outgoingMessageWebhook": "no",
        "outgoingAPIMessageWebhook": "yes",
        "incomingWebhook": "yes",
        "deviceWebhook": "no",
        "statusInstanceWebhook": "no",
        "stateWebhook": "yes",
        "enableMessagesHistory": "no",
        "keepOnlineStatus": "no",
        "pollMessageWebhook": "no",
        "incomingBlockWebhook": "yes",
        "incomingCallWebhook": "no",
        "editedMessageWebhook": "no",
        "deletedMessageWebhook": "no",
        "autoTyping": 2,
        "linkPreview": True,
        "enableLidMode": "no",
        "someFutureField": {"nested": 1},
    }
    settings = Settings.model_validate(body)
    assert settings.outgoing_api_message_webhook is True
    assert settings.mark_incoming_messages_readed is False
    assert settings.link_preview is True
    assert settings.enable_lid_mode is False
    assert settings.delay_send_messages_milliseconds == 5000
    assert isinstance(settings.webhook_url_token, SecretStr)
    assert "hook-secret-value" not in repr(settings)
    assert "hook-secret-value" not in str(settings)


def test_to_wire_sends_only_given_fields_and_never_wid() -> None:
    settings = Settings(wid="1@c.us", incoming_webhook=True, delay_send_messages_milliseconds=700)
    assert settings.to_wire() == {"incomingWebhook": "yes", "delaySendMessagesMilliseconds": 700}


def test_to_wire_reveals_webhook_token_only_in_body() -> None:
    settings = Settings(webhook_url_token=SecretStr("hook-secret-value"))
    assert settings.to_wire() == {"webhookUrlToken": "hook-secret-value"}
    assert "hook-secret-value" not in repr(settings)


@pytest.mark.parametrize(
    ("style", "expected"), [("yesno", "yes"), ("json", True)], ids=["yesno", "json"]
)
def test_lenient_booleans_follow_the_chosen_wire_style(style: Any, expected: object) -> None:
    body = Settings(link_preview=True).to_wire(lenient_bool_style=style)
    assert body == {"linkPreview": expected}


@pytest.mark.parametrize("odd", ["true", "YESS", "1", "", 1, 0.5, [], {}])
def test_yes_no_keeps_other_values_apart_from_booleans(odd: object) -> None:
    value = Settings.model_validate({"incomingWebhook": odd}).incoming_webhook
    assert isinstance(value, OddValue)
    assert value.raw == odd
    assert value not in (True, False)


def test_integer_fields_keep_booleans_apart_from_numbers() -> None:
    value = Settings.model_validate({"autoTyping": True}).auto_typing
    assert isinstance(value, OddValue)
    assert value != 1


@given(
    st.dictionaries(
        st.sampled_from(YES_NO_ALIASES), st.sampled_from(["yes", "no", "Yes", "NO"]), min_size=1
    )
)
def test_yes_no_round_trip(body: dict[str, str]) -> None:
    settings = Settings.model_validate(body)
    assert settings.to_wire() == {key: value.lower() for key, value in body.items()}


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.integers() | st.text(), max_size=5))
def test_unknown_fields_are_ignored(extra: dict[str, object]) -> None:
    known = {field.alias for field in Settings.model_fields.values()} | set(Settings.model_fields)
    body = {key: value for key, value in extra.items() if key not in known}
    assert Settings.model_validate(body).present() == {}


@pytest.mark.parametrize(
    ("body", "state", "raw"),
    [
        (None, InstanceState.CREATING, None),
        ({"stateInstance": "authorized"}, InstanceState.AUTHORIZED, "authorized"),
        ({"stateInstance": "notAuthorized"}, InstanceState.NOT_AUTHORIZED, "notAuthorized"),
        ({"stateInstance": "yellowCard"}, InstanceState.YELLOW_CARD, "yellowCard"),
        ({"stateInstance": "pendingPassword"}, InstanceState.UNKNOWN, "pendingPassword"),
        ({"stateInstance": "creating"}, InstanceState.UNKNOWN, "creating"),
        ({}, InstanceState.CREATING, None),
    ],
)
def test_state_report(body: object, state: InstanceState, raw: str | None) -> None:
    report = StateReport.from_wire(body)
    assert report.state is state
    assert report.raw == raw


@given(st.text())
def test_state_parser_never_crashes_on_strings(raw: str) -> None:
    report = StateReport.from_wire({"stateInstance": raw})
    assert report.raw == raw
    assert report.state in set(InstanceState)


@pytest.mark.parametrize("body", [[], "authorized", 5, {"stateInstance": 3}])
def test_state_parser_rejects_malformed_bodies(body: object) -> None:
    with pytest.raises(ValueError):
        StateReport.from_wire(body)


def test_qr_code_image_is_secret() -> None:
    frame = QrFrame.from_wire({"type": "qrCode", "message": "iVBORw0KGgoAAAANSUhEUgAA"})
    assert frame.kind is QrKind.QR_CODE
    assert frame.image_png_base64 is not None
    assert "iVBORw0KGgo" not in repr(frame)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("alreadyLogged", QrKind.ALREADY_LOGGED),
        ("timeoutExpired", QrKind.TIMEOUT_EXPIRED),
        ("timeout", QrKind.TIMEOUT_EXPIRED),
        ("error", QrKind.ERROR),
        ("accountData", QrKind.ACCOUNT_DATA),
        ("passkeyRequired", QrKind.UNKNOWN),
    ],
)
def test_qr_kinds(raw: str, kind: QrKind) -> None:
    frame = QrFrame.from_wire({"type": raw, "message": "text", "wid": "7@c.us"})
    assert frame.kind is kind
    assert frame.raw_type == raw


def test_wa_settings_empty_until_authorized() -> None:
    wa = WaSettings.model_validate(
        {"avatar": "", "phone": "", "stateInstance": "notAuthorized", "deviceId": ""}
    )
    assert wa.state is InstanceState.NOT_AUTHORIZED
    assert wa.phone == ""


def test_partner_instance_dates_and_never() -> None:
    item = PartnerInstance.model_validate(
        json.loads(
            '{"idInstance": 1101000001, "name": "x", "typeInstance": "whatsapp",'
            ' "typeAccount": "", "partnerUserUiid": "", "timeCreated": "2022-06-03T18:39:44",'
            ' "timeDeleted": "0001-01-01T00:00:00", "apiTokenInstance": "abc123abc123",'
            ' "deleted": false, "tariff": "PARTNER_23", "isFree": false, "isPartner": true,'
            ' "expirationDate": "2026-01-01T00:00:00", "isExpired": false}'
        )
    )
    assert item.time_created is not None
    assert item.time_created.year == 2022
    assert item.time_deleted is None
    assert "abc123abc123" not in repr(item)
