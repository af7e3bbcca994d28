"""Odd values in a getSettings answer never break parsing (issue 13, defect 9).

GREEN-API has answered `""`, `"true"`, `null` and numbers where its documentation
promises "yes"/"no". A value of a setting the resource does not manage must simply be
kept; one of a managed setting must read as drift (and be corrected), never as an
exception that makes every reconcile fail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_operator.api.resource import ManagementPolicy
from whatsapp_operator.decide.plan import (
    DesiredSettings,
    SettingsOutcome,
    differing_fields,
    display,
    plan_settings,
)
from whatsapp_operator.wire.models import InstanceState, Settings, is_odd

T0 = datetime(2025, 6, 1, 8, 0, 0, tzinfo=UTC)

# A whole getSettings answer: documented values, plus odd ones in many fields.
ODD_ANSWER: dict[str, Any] = {
    "wid": 79001234567,
    "countryInstance": None,
    "typeAccount": "trial",
    "webhookUrl": "https://hooks.example.com/wa",
    "webhookUrlToken": "",
    "delaySendMessagesMilliseconds": "5000",
    "markIncomingMessagesReaded": "",
    "markIncomingMessagesReadedOnReply": "true",
    "sharedSession": False,
    "proxyInstance": "system proxy",
    "outgoingWebhook": "yes",
    "outgoingMessageWebhook": 1,
    "outgoingAPIMessageWebhook": None,
    "incomingWebhook": "yes",
    "deviceWebhook": {"enabled": True},
    "statusInstanceWebhook": "no",
    "stateWebhook": "Yes",
    "enableMessagesHistory": 0,
    "keepOnlineStatus": "maybe",
    "pollMessageWebhook": [],
    "incomingBlockWebhook": "no",
    "incomingCallWebhook": True,
    "editedMessageWebhook": "no",
    "deletedMessageWebhook": "no",
    "autoTyping": True,
    "linkPreview": "true",
    "enableLidMode": "",
    "catalogWebhook": 1.5,
    "someFutureField": {"nested": 1},
}

# Python name -> how status shows the odd value: the wire value as JSON, so a string
# "true" does not read like the boolean true.
ODD_TOGGLES = {
    "mark_incoming_messages_readed": '""',
    "mark_incoming_messages_readed_on_reply": '"true"',
    "outgoing_message_webhook": "1",
    "device_webhook": '{"enabled": true}',
    "enable_messages_history": "0",
    "keep_online_status": '"maybe"',
    "poll_message_webhook": "[]",
    "link_preview": '"true"',
    "enable_lid_mode": '""',
    "catalog_webhook": "1.5",
}
ODD_INTEGERS = {
    "delay_send_messages_milliseconds": '"5000"',
    "auto_typing": "true",
}


def parsed() -> Settings:
    return Settings.model_validate(ODD_ANSWER)


def test_a_whole_answer_with_odd_values_parses() -> None:
    settings = parsed()
    # Documented values still become booleans.
    assert settings.outgoing_webhook is True
    assert settings.state_webhook is True
    assert settings.status_instance_webhook is False
    assert settings.incoming_call_webhook is True
    assert settings.webhook_url == "https://hooks.example.com/wa"
    assert settings.type_account == "trial"
    # `null` stays "no value".
    assert settings.outgoing_api_message_webhook is None
    assert settings.country_instance is None


@pytest.mark.parametrize(("name", "shown"), sorted({**ODD_TOGGLES, **ODD_INTEGERS}.items()))
def test_odd_values_are_kept_and_shown_as_sent(name: str, shown: str) -> None:
    value = getattr(parsed(), name)
    assert display(name, value) == shown


@pytest.mark.parametrize("name", sorted(ODD_TOGGLES))
def test_an_odd_toggle_equals_no_boolean(name: str) -> None:
    settings = parsed()
    assert differing_fields({name: True}, settings) == (name,)
    assert differing_fields({name: False}, settings) == (name,)


@pytest.mark.parametrize(("name", "number"), [("delay_send_messages_milliseconds", 5000)])
def test_an_odd_integer_equals_no_integer(name: str, number: int) -> None:
    assert differing_fields({name: number}, parsed()) == (name,)


def test_odd_strings_of_unmanaged_fields_are_kept_as_text() -> None:
    settings = parsed()
    assert display("wid", settings.wid) == "79001234567"
    assert display("shared_session", settings.shared_session) == "false"


def test_odd_values_are_never_sent_back() -> None:
    body = parsed().to_wire()
    odd_aliases = {
        Settings.model_fields[name].alias for name in {**ODD_TOGGLES, **ODD_INTEGERS}
    } | {"wid", "sharedSession"}
    assert not odd_aliases & set(body)
    assert body["outgoingWebhook"] == "yes"
    assert body["stateWebhook"] == "yes"
    assert body["incomingCallWebhook"] == "yes"


def test_yes_no_and_booleans_still_round_trip() -> None:
    settings = Settings.model_validate({"incomingWebhook": "YES", "linkPreview": False})
    assert settings.to_wire() == {"incomingWebhook": "yes", "linkPreview": "no"}
    assert settings.to_wire(lenient_bool_style="json") == {
        "incomingWebhook": "yes",
        "linkPreview": False,
    }


def plan(values: dict[str, Any], policy: ManagementPolicy = ManagementPolicy.MANAGE) -> Any:
    return plan_settings(
        desired=DesiredSettings(values=values),
        observed=parsed(),
        state=InstanceState.AUTHORIZED,
        last_applied=None,
        previous_drift=(),
        policy=policy,
        paused=False,
        settle=timedelta(minutes=5),
        now=T0,
    )


def test_odd_unmanaged_values_do_not_disturb_managed_ones() -> None:
    result = plan({"state_webhook": True, "incoming_webhook": True, "outgoing_webhook": True})
    assert result.outcome is SettingsOutcome.IN_SYNC
    assert result.write is None


@pytest.mark.parametrize("desired", [True, False])
def test_an_odd_managed_toggle_is_drift_corrected_with_the_desired_boolean(
    desired: bool,
) -> None:
    result = plan({"keep_online_status": desired, "state_webhook": True})
    assert result.outcome is SettingsOutcome.APPLY
    assert result.differing == ("keep_online_status",)
    assert result.write is not None
    assert result.write.to_wire() == {"keepOnlineStatus": "yes" if desired else "no"}
    (drift,) = result.drift
    assert (drift.field, drift.observed) == ("keepOnlineStatus", '"maybe"')
    assert drift.desired == ("true" if desired else "false")


def test_an_odd_managed_value_is_reported_when_only_observing() -> None:
    result = plan({"mark_incoming_messages_readed_on_reply": True}, ManagementPolicy.OBSERVE)
    assert result.outcome is SettingsOutcome.OBSERVED_DRIFT
    assert result.write is None
    (drift,) = result.drift
    assert (drift.desired, drift.observed) == ("true", '"true"')


def test_an_odd_managed_integer_is_corrected() -> None:
    result = plan({"delay_send_messages_milliseconds": 5000})
    assert result.outcome is SettingsOutcome.APPLY
    assert result.write is not None
    assert result.write.to_wire() == {"delaySendMessagesMilliseconds": 5000}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
ALIASES = sorted(field.alias or name for name, field in Settings.model_fields.items())


@given(st.dictionaries(st.sampled_from(ALIASES), JSON_VALUES))
def test_no_json_value_breaks_parsing_or_is_sent_back(body: dict[str, Any]) -> None:
    settings = Settings.model_validate(body)
    wire = settings.to_wire()
    for name, value in settings.present().items():
        alias = Settings.model_fields[name].alias or name
        if is_odd(value):
            assert alias not in wire
        display(name, value)  # never raises either
