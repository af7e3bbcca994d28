"""The kubectl plugin's pure parts: arguments, the status summary, patch bodies."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest

from whatsapp_operator import constants
from whatsapp_operator.kubectl import plugin as kubectl_plugin
from whatsapp_operator.kubectl.link import render_page
from whatsapp_operator.kubectl.plugin import (
    Output,
    PluginError,
    action_patch,
    build_parser,
    format_status,
    normalize_phone,
    pair_patch,
    relink_patch,
)
from whatsapp_operator.kubectl.view import action_value, now_value

NOW = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)

SAMPLE: dict[str, Any] = {
    "apiVersion": "whatsapp-operator.io/v1alpha1",
    "kind": "WhatsAppInstance",
    "metadata": {
        "name": "sales",
        "namespace": "team-a",
        "generation": 2,
        "annotations": {constants.ANNOTATION_REBOOT: "1767355000"},
    },
    "spec": {"instance": {"id": 7105000001}, "authorization": {"method": "QRCode"}},
    "status": {
        "state": "notAuthorized",
        "stateSince": "2026-01-02T11:55:00Z",
        "instanceId": 7105000001,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "InSync",
                "message": "Settings in sync",
                "lastTransitionTime": "2026-01-02T11:50:00Z",
            },
            {
                "type": "Authorized",
                "status": "False",
                "reason": "NotAuthorized",
                "message": "scan the QR code in Secret sales-linking",
                "lastTransitionTime": "2026-01-02T11:50:00Z",
            },
        ],
        "drift": [
            {
                "field": "incomingWebhook",
                "desired": "true",
                "observed": "false",
                "since": "2026-01-02T11:00:00Z",
            }
        ],
        "lastApplied": {
            "time": "2026-01-02T11:40:00Z",
            "fields": ["incomingWebhook", "stateWebhook"],
            "hash": "abc",
            "attempts": 2,
            "confirmed": False,
        },
        "linking": {
            "phase": "CodeReady",
            "method": "QRCode",
            "secretName": "sales-linking",
            "refreshedAt": "2026-01-02T11:59:40Z",
            "windowEndsAt": "2026-01-02T12:05:00Z",
            "message": "scan the QR code in Secret sales-linking",
        },
        "handledActions": {"reboot": "1767355000"},
    },
}

EVENTS = [
    {
        "type": "Warning",
        "reason": "SettingsReapplied",
        "message": "GREEN-API dropped incomingWebhook",
        "lastTimestamp": "2026-01-02T11:45:00Z",
        "count": 2,
        "involvedObject": {"kind": "WhatsAppInstance", "name": "sales"},
    },
    {
        "type": "Normal",
        "reason": "SettingsApplied",
        "message": "Applied 2 settings",
        "lastTimestamp": "2026-01-02T11:40:00Z",
        "involvedObject": {"kind": "WhatsAppInstance", "name": "sales"},
    },
]


# ---------------------------------------------------------------- arguments


def test_global_options_before_the_subcommand() -> None:
    args = build_parser().parse_args(
        ["--kubeconfig", "/k", "--context", "ctx", "-n", "ns", "status", "sales"]
    )
    assert (args.command, args.name) == ("status", "sales")
    assert (args.kubeconfig, args.context, args.namespace) == ("/k", "ctx", "ns")


def test_global_options_after_the_subcommand_as_kubectl_passes_them() -> None:
    args = build_parser().parse_args(["qr", "sales", "-n", "ns", "--context", "c", "--no-follow"])
    assert (args.command, args.name, args.namespace, args.context) == ("qr", "sales", "ns", "c")
    assert args.no_follow is True
    assert args.kubeconfig is None


def test_defaults() -> None:
    args = build_parser().parse_args(["qr", "sales"])
    assert args.namespace is None  # then the context's namespace is used
    assert args.no_follow is False
    assert args.timeout == 120.0
    link = build_parser().parse_args(["link", "sales", "--port", "8765"])
    assert link.port == 8765
    assert build_parser().parse_args(["link", "sales"]).port == 0


@pytest.mark.parametrize("action", kubectl_plugin.ACTIONS)
def test_action_subcommands(action: str) -> None:
    args = build_parser().parse_args([action, "sales", "--timeout", "5"])
    assert (args.command, args.name, args.timeout) == (action, "sales", 5.0)
    assert kubectl_plugin.HANDLERS[action] is kubectl_plugin.cmd_action


def test_pair_needs_a_phone() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["pair", "sales"])
    args = build_parser().parse_args(["pair", "sales", "--phone", "+7 900 123-45-67"])
    assert normalize_phone(args.phone) == "79001234567"


def test_a_subcommand_is_required() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("79001234567", "79001234567"),
        ("+79001234567", "79001234567"),
        ("0049301234567", "49301234567"),
    ],
)
def test_normalize_phone(text: str, expected: str) -> None:
    assert normalize_phone(text) == expected


@pytest.mark.parametrize("text", ["0123456", "12345", "phone", "+7900abc4567"])
def test_normalize_phone_rejects(text: str) -> None:
    with pytest.raises(PluginError):
        normalize_phone(text)


# ---------------------------------------------------------------- patch bodies


def test_action_patch_bodies() -> None:
    assert action_patch("reboot", "1700000000") == {
        "metadata": {"annotations": {"whatsapp-operator.io/reboot-requested-at": "1700000000"}}
    }
    assert action_patch("logout", "1") == {
        "metadata": {"annotations": {"whatsapp-operator.io/logout-requested-at": "1"}}
    }
    assert action_patch("reconcile", "2") == {
        "metadata": {"annotations": {"whatsapp-operator.io/reconcile-requested-at": "2"}}
    }
    assert relink_patch("3") == {
        "metadata": {"annotations": {"whatsapp-operator.io/relink-requested-at": "3"}}
    }


def test_now_value_is_an_rfc3339_utc_timestamp_and_always_later() -> None:
    # 1700000000 is 2023-11-14T22:13:20Z.
    assert now_value(None, clock=lambda: 1700000000.7) == "2023-11-14T22:13:20Z"
    assert now_value("2023-11-14T22:13:19Z", clock=lambda: 1700000000.0) == ("2023-11-14T22:13:20Z")
    # The same second twice, or a clock behind the last request or the last performed one
    # (the operator performs only later requests), must still be a later value.
    assert now_value("2023-11-14T22:13:20Z", clock=lambda: 1700000000.0) == ("2023-11-14T22:13:21Z")
    assert now_value(
        None, "2023-11-14T23:13:20+01:00", "2023-11-14T22:10:00Z", clock=lambda: 1.0
    ) == ("2023-11-14T22:13:21Z")
    assert now_value("not-a-time", "1700000000", clock=lambda: 5.0) == "1970-01-01T00:00:05Z"


def test_action_value_is_later_than_every_record_on_the_object() -> None:
    obj: dict[str, Any] = {
        "metadata": {
            "creationTimestamp": "2030-01-01T00:00:00Z",
            "annotations": {
                constants.ANNOTATION_LOGOUT: "2030-01-01T00:00:05Z",
                constants.ANNOTATION_LOGOUT_PERFORMED: "2030-01-01T00:00:09Z",
            },
        },
        "status": {"handledActions": {"logout": "2030-01-01T00:00:07Z"}},
    }
    assert action_value(obj, constants.Action.LOGOUT) == "2030-01-01T00:00:10Z"
    # A resource created this very second: the request must still be later than that.
    del obj["metadata"]["annotations"], obj["status"]
    assert action_value(obj, constants.Action.LOGOUT) == "2030-01-01T00:00:01Z"


def test_pair_patch_only_when_different() -> None:
    assert pair_patch(SAMPLE, "79001234567") == {
        "spec": {"authorization": {"method": "PhoneNumber", "phoneNumber": "79001234567"}}
    }
    already = {"spec": {"authorization": {"method": "PhoneNumber", "phoneNumber": "79001234567"}}}
    assert pair_patch(already, "79001234567") is None
    assert pair_patch(already, "79007654321") is not None
    assert pair_patch({}, "79001234567") is not None


# ---------------------------------------------------------------- status summary


def test_format_status() -> None:
    text = format_status(SAMPLE, EVENTS, now=NOW)
    lines = text.splitlines()
    assert "sales" in lines[0]
    assert "team-a" in lines[0]
    assert "State:      notAuthorized since 2026-01-02T11:55:00Z (5m ago)" in text
    assert "Phone:      -" in text
    assert "Instance:   7105000001" in text
    # Conditions as a table: type, status, reason, message.
    ready = next(line for line in lines if line.strip().startswith("Ready "))
    assert ready.split()[:3] == ["Ready", "True", "InSync"]
    assert "Settings in sync" in ready
    authorized = next(line for line in lines if line.strip().startswith("Authorized "))
    assert authorized.split()[:3] == ["Authorized", "False", "NotAuthorized"]
    # Drift per field.
    drift = next(line for line in lines if "incomingWebhook" in line and "false" in line)
    assert drift.split()[:3] == ["incomingWebhook", "true", "false"]
    assert "Last applied: 2026-01-02T11:40:00Z" in text
    assert "incomingWebhook, stateWebhook; not yet confirmed, attempts 2" in text
    assert "Linking:    CodeReady, method QRCode, Secret sales-linking" in text
    assert "refreshed 20s ago" in text
    assert "window ends in 5m" in text
    assert "Handled actions: reboot=1767355000" in text
    # Events, oldest first, with repeat counts.
    events = text[text.index("Events:") :]
    assert events.index("SettingsApplied") < events.index("SettingsReapplied")
    assert "(x2)" in events


def test_format_status_of_a_new_object() -> None:
    obj = {"metadata": {"name": "new", "namespace": "ns"}, "spec": {}}
    text = format_status(obj, [], now=NOW)
    assert "State:      unknown" in text
    assert "(none yet: the operator has not reported)" in text
    assert "Drift:      none" in text
    assert "Last applied: never" in text
    assert "Handled actions: none" in text
    assert text.endswith("Events:\n  (none)")


def test_format_status_linked_and_paused() -> None:
    obj = {
        "metadata": {
            "name": "s",
            "namespace": "n",
            "annotations": {constants.ANNOTATION_PAUSED: "true"},
        },
        "status": {"state": "authorized", "account": {"phone": "79001112233"}},
    }
    text = format_status(obj, [], now=NOW)
    assert "Phone:      +79001112233" in text
    assert "Paused:     yes" in text


# ---------------------------------------------------------------- output and the page


def test_clear_screen_only_on_a_tty() -> None:
    plain = io.StringIO()
    Output(plain).clear()
    assert plain.getvalue() == ""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    Output(tty).clear()
    assert tty.getvalue() == "\x1b[2J\x1b[H"


def test_link_page() -> None:
    waiting = {
        "name": "sales",
        "state": "notAuthorized",
        "linked": False,
        "phone": "",
        "phase": "CodeReady",
        "refreshedAt": "2026-01-02T11:59:40Z",
        "windowEndsAt": "",
        "message": "scan <it>",
    }
    page = render_page(waiting)
    assert '<img id="qr" src="/qr.png?v=2026-01-02T11:59:40Z"' in page
    assert "scan &lt;it&gt;" in page
    assert 'fetch("/state"' in page
    assert "Linked as" not in page.split("<script>")[0]
    linked = render_page({**waiting, "linked": True, "phone": "+79001112233"})
    assert "Linked as +79001112233" in linked


def test_status_shows_the_profiles_in_use() -> None:
    obj = {
        "metadata": {"name": "x", "namespace": "ns"},
        "spec": {"settingsProfile": "Recommended", "settingsProfileRef": {"name": "fleet"}},
        "status": {"settingsProfile": {"name": "fleet", "revision": "sha256:ab"}},
    }
    text = format_status(obj, [], now=NOW)
    assert "Profile:    Recommended (built-in), then WhatsAppSettingsProfile fleet" in text
    assert "has sha256:ab" in text
