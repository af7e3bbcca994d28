"""Typed mirrors of GREEN-API's wire formats.

Field names are GREEN-API's own camelCase (as aliases), so its documentation
applies. The "yes"/"no" strings become booleans here and nowhere else. Unknown
fields are ignored, and unknown state values and undocumented settings values
(`OddValue`) are kept, not rejected: the API grows without notice and differs
between editions.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
)


class OddValue(str):
    """A settings value in a form GREEN-API does not document, kept as it was sent.

    The text is the value's JSON (`"true"`, `""`, `1`, `{"a": 1}`), which is what status
    shows. It equals nothing but the same odd value: never a boolean, an integer or a
    plain string, so a managed setting that holds one reads as drift and is corrected.
    `Settings.to_wire` leaves it out, so it is never sent back.
    """

    __slots__ = ()

    @classmethod
    def of(cls, value: object) -> OddValue:
        """Keep `value`, as decoded from the wire, as an odd value (its JSON text)."""
        return cls(json.dumps(value, ensure_ascii=False, default=str))

    @property
    def raw(self) -> Any:
        """The value as it was on the wire."""
        return json.loads(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OddValue) and str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return f"OddValue({str.__str__(self)})"


def _toggle(value: object) -> bool | OddValue:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered == "yes":
            return True
        if lowered == "no":
            return False
    return value if isinstance(value, OddValue) else OddValue.of(value)


def _integer(value: object) -> int | OddValue:
    # bool is an int in Python, but `true` is not a number of milliseconds.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return value if isinstance(value, OddValue) else OddValue.of(value)


def _text(value: object) -> str:
    return value if isinstance(value, str) else OddValue.of(value)


def _secret_text(value: object) -> SecretStr:
    if isinstance(value, SecretStr):
        return value
    return SecretStr(_text(value))


def _yes_no_wire(value: bool | OddValue) -> object:
    if isinstance(value, OddValue):
        return value.raw
    return "yes" if value else "no"


def is_odd(value: object) -> bool:
    """True for a settings value kept in an undocumented form (see `OddValue`)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return isinstance(value, OddValue)


# Parsing a getSettings answer never fails on a value: one odd toggle must not stop the
# whole reconcile, least of all over a setting the resource does not manage. `null`
# stays None. A toggle is "yes"/"no" on the wire and a bool in Python.
YesNo = Annotated[
    bool | OddValue,
    PlainValidator(_toggle),
    PlainSerializer(_yes_no_wire, when_used="json"),
]
# linkPreview and enableLidMode: the Java SDK types them Boolean, other clients
# send "yes"/"no"; either form is read, and `Settings.to_wire` chooses the form sent.
LenientBool = Annotated[bool | OddValue, PlainValidator(_toggle)]
Integer = Annotated[int | OddValue, PlainValidator(_integer)]
Text = Annotated[str, PlainValidator(_text)]
# model_dump masks the secret like pydantic does; to_wire alone reveals it.
SecretText = Annotated[
    SecretStr,
    PlainValidator(_secret_text),
    PlainSerializer(str, when_used="json"),
]

WireBoolStyle = Literal["yesno", "json"]


class WireModel(BaseModel):
    """A GREEN-API body as a frozen model; unknown fields are ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class InstanceState(StrEnum):
    """An instance's stateInstance, plus the operator's own `creating` and `unknown`."""

    AUTHORIZED = "authorized"
    NOT_AUTHORIZED = "notAuthorized"
    BLOCKED = "blocked"
    SLEEP_MODE = "sleepMode"
    STARTING = "starting"
    YELLOW_CARD = "yellowCard"
    # Not a GREEN-API value: getStateInstance answered `null`, the instance is being created.
    CREATING = "creating"
    # Not a GREEN-API value: a state this client does not know (the raw value is kept).
    UNKNOWN = "unknown"


def parse_state(raw: object) -> InstanceState:
    """The state for a raw stateInstance: `creating` for null, `unknown` for an undocumented one."""
    if raw is None:
        return InstanceState.CREATING
    if isinstance(raw, str):
        for state in InstanceState:
            if state.value == raw and state not in (InstanceState.CREATING, InstanceState.UNKNOWN):
                return state
    return InstanceState.UNKNOWN


class StateReport(WireModel):
    """getStateInstance. `raw` keeps what the service said, even if unknown."""

    state: InstanceState
    raw: str | None = None

    @classmethod
    def from_wire(cls, body: object) -> StateReport:
        """Parse getStateInstance's body (null: creating).

        ValueError for a body that is neither null nor an object, or a state that is not text.
        """
        if body is None:
            return cls(state=InstanceState.CREATING, raw=None)
        if not isinstance(body, dict):
            raise ValueError("getStateInstance body is neither null nor an object")
        raw = body.get("stateInstance")
        if raw is not None and not isinstance(raw, str):
            raise ValueError("stateInstance is not a string")
        return cls(state=parse_state(raw), raw=raw)


# Settings fields, in GREEN-API's documented order. Python names are snake_case;
# aliases are the wire names (given explicitly: `outgoingAPIMessageWebhook` is not
# what a camel-case generator would produce).
class Settings(WireModel):
    """getSettings/setSettings. Every field is optional: setSettings is sparse."""

    wid: Text | None = Field(default=None, alias="wid")
    country_instance: Text | None = Field(default=None, alias="countryInstance")
    type_account: Text | None = Field(default=None, alias="typeAccount")
    webhook_url: Text | None = Field(default=None, alias="webhookUrl")
    webhook_url_token: SecretText | None = Field(default=None, alias="webhookUrlToken")
    delay_send_messages_milliseconds: Integer | None = Field(
        default=None, alias="delaySendMessagesMilliseconds"
    )
    mark_incoming_messages_readed: YesNo | None = Field(
        default=None, alias="markIncomingMessagesReaded"
    )
    mark_incoming_messages_readed_on_reply: YesNo | None = Field(
        default=None, alias="markIncomingMessagesReadedOnReply"
    )
    shared_session: Text | None = Field(default=None, alias="sharedSession")
    proxy_instance: Text | None = Field(default=None, alias="proxyInstance")
    outgoing_webhook: YesNo | None = Field(default=None, alias="outgoingWebhook")
    outgoing_message_webhook: YesNo | None = Field(default=None, alias="outgoingMessageWebhook")
    outgoing_api_message_webhook: YesNo | None = Field(
        default=None, alias="outgoingAPIMessageWebhook"
    )
    incoming_webhook: YesNo | None = Field(default=None, alias="incomingWebhook")
    device_webhook: YesNo | None = Field(default=None, alias="deviceWebhook")
    status_instance_webhook: YesNo | None = Field(default=None, alias="statusInstanceWebhook")
    state_webhook: YesNo | None = Field(default=None, alias="stateWebhook")
    enable_messages_history: YesNo | None = Field(default=None, alias="enableMessagesHistory")
    keep_online_status: YesNo | None = Field(default=None, alias="keepOnlineStatus")
    poll_message_webhook: YesNo | None = Field(default=None, alias="pollMessageWebhook")
    incoming_block_webhook: YesNo | None = Field(default=None, alias="incomingBlockWebhook")
    incoming_call_webhook: YesNo | None = Field(default=None, alias="incomingCallWebhook")
    edited_message_webhook: YesNo | None = Field(default=None, alias="editedMessageWebhook")
    deleted_message_webhook: YesNo | None = Field(default=None, alias="deletedMessageWebhook")
    auto_typing: Integer | None = Field(default=None, alias="autoTyping")
    link_preview: LenientBool | None = Field(default=None, alias="linkPreview")
    enable_lid_mode: LenientBool | None = Field(default=None, alias="enableLidMode")
    catalog_webhook: YesNo | None = Field(default=None, alias="catalogWebhook")

    def present(self) -> dict[str, Any]:
        """The fields that were given (Python names), secrets still wrapped."""
        return {name: getattr(self, name) for name in self.model_fields_set}

    def to_wire(self, *, lenient_bool_style: WireBoolStyle = "yesno") -> dict[str, Any]:
        """The JSON body of setSettings: only the fields that were set, secrets revealed.

        Odd values (`OddValue`) are left out: what was not understood is never sent back.
        """
        body: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        fields = type(self).model_fields
        for name in self.model_fields_set:
            if is_odd(getattr(self, name)):
                body.pop(fields[name].alias or name, None)
        if self.webhook_url_token is not None and "webhookUrlToken" in body:
            body["webhookUrlToken"] = self.webhook_url_token.get_secret_value()
        for name in ("link_preview", "enable_lid_mode"):
            value = getattr(self, name)
            alias = fields[name].alias
            if alias in body and isinstance(value, bool):
                body[alias] = value if lenient_bool_style == "json" else ("yes" if value else "no")
        body.pop("wid", None)  # read-only: GREEN-API derives it from the linked phone
        return body


READ_ONLY_SETTINGS = frozenset({"wid", "country_instance", "type_account"})


class SaveSettingsResult(WireModel):
    """setSettings: whether the settings were saved."""

    save_settings: bool = Field(alias="saveSettings")


class NewToken(WireModel):
    """updateApiToken: the instance's new token (the old one no longer works)."""

    api_token_instance: SecretStr = Field(alias="apiTokenInstance")


class RebootResult(WireModel):
    """reboot: whether the reboot was accepted."""

    is_reboot: bool = Field(alias="isReboot")


class LogoutResult(WireModel):
    """logout: whether the logout was accepted."""

    is_logout: bool = Field(alias="isLogout")


class QrKind(StrEnum):
    """The `type` of a QR answer; `unknown` for one this client does not know."""

    QR_CODE = "qrCode"
    ALREADY_LOGGED = "alreadyLogged"
    ERROR = "error"
    TIMEOUT_EXPIRED = "timeoutExpired"
    ACCOUNT_DATA = "accountData"
    UNKNOWN = "unknown"


def parse_qr_kind(raw: str) -> QrKind:
    """The kind for a raw QR `type` (the old `timeout` included); `unknown` when not recognised."""
    # The WebSocket page once documented `timeout` for what is now `timeoutExpired`.
    if raw == "timeout":
        return QrKind.TIMEOUT_EXPIRED
    try:
        return QrKind(raw)
    except ValueError:
        return QrKind.UNKNOWN


class QrFrame(WireModel):
    """One answer of `qr`, or one frame of the scanqrcode WebSocket.

    The image is a secret: whoever holds it can link their phone to the account.
    """

    kind: QrKind
    raw_type: str
    image_png_base64: SecretStr | None = None
    message: str | None = None
    wid: str | None = None
    pushname: str | None = None

    @classmethod
    def from_wire(cls, body: object) -> QrFrame:
        """Parse a QR answer or frame; ValueError without a string `type` or a qrCode's image."""
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            raise ValueError("QR answer is not an object with a string `type`")
        raw_type: str = body["type"]
        kind = parse_qr_kind(raw_type)
        message = body.get("message")
        message_text = message if isinstance(message, str) else None
        if kind is QrKind.QR_CODE:
            if not message_text:
                raise ValueError("qrCode answer without an image")
            return cls(kind=kind, raw_type=raw_type, image_png_base64=SecretStr(message_text))
        return cls(
            kind=kind,
            raw_type=raw_type,
            message=message_text,
            wid=body.get("wid") if isinstance(body.get("wid"), str) else None,
            pushname=body.get("pushname") if isinstance(body.get("pushname"), str) else None,
        )


class AuthorizationCode(WireModel):
    """getAuthorizationCode: whether a pairing code was issued, and the code (a secret)."""

    status: bool
    code: SecretStr


class WaSettings(WireModel):
    """getWaSettings; avatar, phone and deviceId are "" unless authorized."""

    avatar: str = ""
    phone: str = ""
    state_instance: str | None = Field(default=None, alias="stateInstance")
    device_id: str = Field(default="", alias="deviceId")

    @property
    def state(self) -> InstanceState:
        """The instance's state, parsed from `stateInstance`."""
        return parse_state(self.state_instance)


class StateHistoryEntry(WireModel):
    """One entry of getStateInstanceHistory: a state, its time and the phone number."""

    state_instance: str | None = Field(default=None, alias="stateInstance")
    timestamp: int | None = None
    phone_number: str | None = Field(default=None, alias="phoneNumber")


class CreatedInstance(WireModel):
    """createInstance: the new instance's id and token (a secret)."""

    id_instance: int = Field(alias="idInstance")
    api_token_instance: SecretStr = Field(alias="apiTokenInstance")
    type_instance: str = Field(default="whatsapp", alias="typeInstance")


# getInstances dates are zone-less, and "0001-01-01T00:00:00" means "never".
_NEVER = "0001-01-01T00:00:00"


def _parse_partner_time(value: object) -> object:
    if value in (None, "", _NEVER):
        return None
    return value


PartnerTime = Annotated[datetime | None, BeforeValidator(_parse_partner_time)]


class PartnerInstance(WireModel):
    """One instance in the partner's getInstances list; unset dates mean "never"."""

    id_instance: int = Field(alias="idInstance")
    name: str = ""
    type_instance: str = Field(default="whatsapp", alias="typeInstance")
    api_token_instance: SecretStr | None = Field(default=None, alias="apiTokenInstance")
    time_created: PartnerTime = Field(default=None, alias="timeCreated")
    time_deleted: PartnerTime = Field(default=None, alias="timeDeleted")
    deleted: bool = False
    tariff: str = ""
    is_free: bool = Field(default=False, alias="isFree")
    is_partner: bool = Field(default=False, alias="isPartner")
    expiration_date: str = Field(default="", alias="expirationDate")
    is_expired: bool = Field(default=False, alias="isExpired")


class DeleteInstanceResult(WireModel):
    """deleteInstanceAccount: whether the instance was deleted."""

    delete_instance_account: bool = Field(alias="deleteInstanceAccount")


class QueueCount(WireModel):
    """getWebhooksCount and getMessagesCount: how many items wait in the queue.

    GREEN-API refreshes the figure every 10 s. One edition of its docs spells the key
    with a Cyrillic first letter (U+0441); both spellings are read.
    """

    count: int = Field(ge=0, validation_alias=AliasChoices("count", "\u0441ount"))


class QueueClearResult(WireModel):
    """clearWebhooksQueue and clearMessagesQueue: whether the queue was cleared.

    At most once a minute per instance: an earlier call answers 200 with `isCleared: false`,
    `reason: "Too many requests"` and the seconds left in `leftTime`. clearMessagesQueue's
    key is `isCleared` in GREEN-API's examples and `isCleaned` in some of its docs.
    """

    cleared: bool = Field(validation_alias=AliasChoices("isCleared", "isCleaned"))
    reason: str = ""
    left_time: int | None = Field(default=None, alias="leftTime")


class QueuedMessage(WireModel):
    """One message of showMessagesQueue (the chat and the kind; the text is not kept)."""

    message_id: str = Field(default="", alias="messageID")
    chat_id: str = Field(default="", alias="chatId")
    type_message: str = Field(default="", alias="typeMessage")
