"""Every documented getSettings/setSettings field, its default and its validation.

Decisions where GREEN-API's behaviour is unknown (see the reference page, §2.1-§2.2, §7):

* `wid` is read-only. By default it is silently ignored in setSettings/createInstance because
  clients commonly round-trip a whole getSettings body; variant `wid_in_set_settings="reject"`
  answers 400 instead.
* Unknown keys are ignored (forward compatibility: GREEN-API adds settings over time, and a
  client written against a newer field list must not break against an older server).
* `linkPreview` and `enableLidMode` have an unsettled type (JSON bool vs "yes"/"no"). Input
  accepts either form; output uses the configured form.
* The deprecated `countryInstance`, `typeAccount` and `sharedSession` accept any string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

YES_NO_FIELDS: tuple[str, ...] = (
    "markIncomingMessagesReaded",
    "markIncomingMessagesReadedOnReply",
    "outgoingWebhook",
    "outgoingMessageWebhook",
    "outgoingAPIMessageWebhook",
    "incomingWebhook",
    "deviceWebhook",
    "statusInstanceWebhook",
    "stateWebhook",
    "enableMessagesHistory",
    "keepOnlineStatus",
    "pollMessageWebhook",
    "incomingBlockWebhook",
    "incomingCallWebhook",
    "editedMessageWebhook",
    "deletedMessageWebhook",
)
STRING_FIELDS: tuple[str, ...] = (
    "countryInstance",
    "typeAccount",
    "webhookUrl",
    "webhookUrlToken",
    "sharedSession",
    "proxyInstance",
)
BOOL_OR_YES_NO_FIELDS: tuple[str, ...] = ("linkPreview", "enableLidMode")
DELAY_FIELD = "delaySendMessagesMilliseconds"
PROXY_FIELD = "proxyInstance"
AUTO_TYPING_FIELD = "autoTyping"
READ_ONLY_FIELDS: tuple[str, ...] = ("wid",)

DELAY_MIN_MS = 500
# The current createInstance page: "default is 500 msec" (the emulator's variant
# `default_delay_ms` switches to the older 3000 or the 0 seen in captures).
DELAY_DEFAULT_MS = 500
# Real getSettings captures show this for an instance without its own proxy.
PROXY_DEFAULT = "system proxy"
AUTO_TYPING_MAX = 4

ALL_FIELDS: tuple[str, ...] = (
    "wid",
    "countryInstance",
    "typeAccount",
    "webhookUrl",
    "webhookUrlToken",
    DELAY_FIELD,
    "markIncomingMessagesReaded",
    "markIncomingMessagesReadedOnReply",
    "sharedSession",
    "proxyInstance",
    "outgoingWebhook",
    "outgoingMessageWebhook",
    "outgoingAPIMessageWebhook",
    "incomingWebhook",
    "deviceWebhook",
    "statusInstanceWebhook",
    "stateWebhook",
    "enableMessagesHistory",
    "keepOnlineStatus",
    "pollMessageWebhook",
    "incomingBlockWebhook",
    "incomingCallWebhook",
    "editedMessageWebhook",
    "deletedMessageWebhook",
    AUTO_TYPING_FIELD,
    "linkPreview",
    "enableLidMode",
)

BoolForm = Literal["bool", "yesno"]


class SettingsValidationError(ValueError):
    """A settings value GREEN-API would reject with `400 Bad Request Validation failed`."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def default_settings() -> dict[str, Any]:
    """The stored (canonical) settings of a fresh instance: every toggle off.

    Canonical storage keeps `linkPreview`/`enableLidMode` as bools; `render` converts them.
    """
    values: dict[str, Any] = dict.fromkeys(STRING_FIELDS, "")
    values["sharedSession"] = "no"
    values[PROXY_FIELD] = PROXY_DEFAULT
    values.update(dict.fromkeys(YES_NO_FIELDS, "no"))
    values[DELAY_FIELD] = DELAY_DEFAULT_MS
    values[AUTO_TYPING_FIELD] = 0
    values.update(dict.fromkeys(BOOL_OR_YES_NO_FIELDS, False))
    return values


def validate_settings(
    body: Mapping[str, Any],
    *,
    delay_max_ms: int,
    reject_wid: bool,
) -> dict[str, Any]:
    """Return the canonical subset of writable settings in `body`, or raise."""
    result: dict[str, Any] = {}
    for key, value in body.items():
        if key in READ_ONLY_FIELDS:
            if reject_wid:
                raise SettingsValidationError(key, "read-only")
            continue
        if key in YES_NO_FIELDS:
            if value not in ("yes", "no") or not isinstance(value, str):
                raise SettingsValidationError(key, 'must be "yes" or "no"')
            result[key] = value
        elif key in STRING_FIELDS:
            if not isinstance(value, str):
                raise SettingsValidationError(key, "must be a string")
            result[key] = value
        elif key in BOOL_OR_YES_NO_FIELDS:
            if isinstance(value, bool):
                result[key] = value
            elif isinstance(value, str) and value in ("yes", "no"):
                result[key] = value == "yes"
            else:
                raise SettingsValidationError(key, 'must be a boolean or "yes"/"no"')
        elif key == DELAY_FIELD:
            if isinstance(value, bool) or not isinstance(value, int):
                raise SettingsValidationError(key, "must be an integer")
            if not DELAY_MIN_MS <= value <= delay_max_ms:
                raise SettingsValidationError(key, f"must be {DELAY_MIN_MS}..{delay_max_ms}")
            result[key] = value
        elif key == AUTO_TYPING_FIELD:
            if isinstance(value, bool) or not isinstance(value, int):
                raise SettingsValidationError(key, "must be an integer")
            if not 0 <= value <= AUTO_TYPING_MAX:
                raise SettingsValidationError(key, f"must be 0..{AUTO_TYPING_MAX}")
            result[key] = value
    return result


def render_settings(
    stored: Mapping[str, Any], *, wid: str, forms: Mapping[str, BoolForm]
) -> dict[str, Any]:
    """The getSettings body: stored values in documented field order, in the configured forms."""
    body: dict[str, Any] = {}
    for key in ALL_FIELDS:
        if key == "wid":
            body[key] = wid
        elif key in BOOL_OR_YES_NO_FIELDS:
            flag = bool(stored[key])
            body[key] = flag if forms.get(key, "bool") == "bool" else ("yes" if flag else "no")
        else:
            body[key] = stored[key]
    return body
