"""The WhatsAppInstance API (v1alpha1) as pydantic models: the one source of truth.

The CRD in `crds/` is generated from these models (`whatsapp_operator.api.crd`), so
admission (OpenAPI schema + CEL) and the operator validate the same shape. Field
names under `spec.settings` are GREEN-API's own, so its documentation applies;
values are Kubernetes-style (booleans instead of "yes"/"no", a Secret reference
instead of an inline webhook token).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict


class ApiModel(BaseModel):
    """Our own API: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class ObservedModel(ApiModel):
    """What the cluster hands back (status, whole objects): unknown fields are tolerated,
    so an older operator reads what a newer one wrote."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


def _cel(rule: str, message: str) -> JsonDict:
    """One x-kubernetes-validations entry (CEL), checked by the API server at admission."""
    return {"rule": rule, "message": message}


class SecretKeyRef(ApiModel):
    """A key of a Secret in the resource's own namespace."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Name of the Secret, in the same namespace as the WhatsAppInstance.",
    )
    key: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key inside the Secret.",
    )


class TokenSecretRef(SecretKeyRef):
    """A key of a Secret in the resource's namespace that holds the instance's apiTokenInstance."""

    key: str = Field(
        default="apiTokenInstance",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key inside the Secret that holds the apiTokenInstance.",
    )


_URL_PATTERN = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"


class InstanceRef(ApiModel):
    """Which GREEN-API instance this resource manages, and how to reach it."""

    id: int | None = Field(
        default=None,
        ge=1,
        le=9_999_999_999,
        description=(
            "idInstance (1 to 10 digits) of an existing instance to adopt. Leave it out with "
            "partnerRef to have the operator create one. Immutable once set."
        ),
    )
    api_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=_URL_PATTERN,
        description=(
            "apiUrl from the GREEN-API console. Default: https://{first 4 digits of id}"
            ".api.greenapi.com (the dedicated host convention)."
        ),
    )
    media_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=_URL_PATTERN,
        description="mediaUrl from the GREEN-API console (file uploads only).",
    )
    token_secret_ref: TokenSecretRef | None = Field(
        default=None,
        description=(
            "Secret holding the instance's apiTokenInstance (the token is never in spec). "
            "Required when adopting; with partnerRef the operator keeps the token in a Secret "
            "it owns."
        ),
    )


class ManagementPolicy(StrEnum):
    """Manage: keep GREEN-API equal to the spec. Observe: report drift, never write."""

    MANAGE = "Manage"
    OBSERVE = "Observe"


class SettingsSpec(ApiModel):
    """GREEN-API settings. Sparse: only the keys present are managed; absent keys are left alone.

    Field names are GREEN-API's (SetSettings); toggles are booleans here and "yes"/"no"
    on the wire. Deprecated fields, the read-only `wid` and `proxyInstance` (it can
    carry proxy credentials) are not managed.
    """

    webhook_url: str | None = Field(
        default=None,
        alias="webhookUrl",
        max_length=2048,
        description="Where GREEN-API posts notifications; empty string disables webhooks.",
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "self == '' || self.startsWith('https://') || self.startsWith('http://')",
                    "webhookUrl must be empty or an http(s) URL",
                )
            ]
        },
    )
    webhook_url_token_secret_ref: SecretKeyRef | None = Field(
        default=None,
        alias="webhookUrlTokenSecretRef",
        description="Secret key holding webhookUrlToken (the webhook Authorization header).",
    )
    delay_send_messages_milliseconds: int | None = Field(
        default=None,
        alias="delaySendMessagesMilliseconds",
        ge=500,
        le=600_000,
        description="Interval between sent messages, 500 to 600000 ms (advised: <= 300000).",
    )
    mark_incoming_messages_readed: bool | None = Field(
        default=None,
        alias="markIncomingMessagesReaded",
        description="Mark incoming messages as read (ignored when ...OnReply is true).",
    )
    mark_incoming_messages_readed_on_reply: bool | None = Field(
        default=None,
        alias="markIncomingMessagesReadedOnReply",
        description="Mark incoming messages as read when replying through the API.",
    )
    outgoing_webhook: bool | None = Field(
        default=None,
        alias="outgoingWebhook",
        description="Notify delivery statuses of sent messages.",
    )
    outgoing_message_webhook: bool | None = Field(
        default=None,
        alias="outgoingMessageWebhook",
        description="Notify messages sent from the phone.",
    )
    outgoing_api_message_webhook: bool | None = Field(
        default=None,
        alias="outgoingAPIMessageWebhook",
        description="Notify messages sent through the API.",
    )
    incoming_webhook: bool | None = Field(
        default=None,
        alias="incomingWebhook",
        description="Notify incoming messages and files.",
    )
    device_webhook: bool | None = Field(
        default=None,
        alias="deviceWebhook",
        description="Device status notifications (GREEN-API: temporarily out of service).",
    )
    state_webhook: bool | None = Field(
        default=None,
        alias="stateWebhook",
        description="Notify authorization state changes (stateInstanceChanged).",
    )
    keep_online_status: bool | None = Field(
        default=None,
        alias="keepOnlineStatus",
        description="Show the account as online (the phone then gets no sound notifications).",
    )
    poll_message_webhook: bool | None = Field(
        default=None,
        alias="pollMessageWebhook",
        description="Notify poll creation and votes.",
    )
    incoming_block_webhook: bool | None = Field(
        default=None,
        alias="incomingBlockWebhook",
        description="Notify chats being blocked.",
    )
    incoming_call_webhook: bool | None = Field(
        default=None,
        alias="incomingCallWebhook",
        description="Notify incoming calls.",
    )
    edited_message_webhook: bool | None = Field(
        default=None,
        alias="editedMessageWebhook",
        description="Notify edited messages.",
    )
    deleted_message_webhook: bool | None = Field(
        default=None,
        alias="deletedMessageWebhook",
        description="Notify deleted messages.",
    )
    auto_typing: int | None = Field(
        default=None,
        alias="autoTyping",
        ge=0,
        le=4,
        description="Typing indicator before sending: 0 off, 1 to 4 enabled.",
    )
    link_preview: bool | None = Field(
        default=None,
        alias="linkPreview",
        description="Send link previews.",
    )
    enable_lid_mode: bool | None = Field(
        default=None,
        alias="enableLidMode",
        description="Use chat ids in @lid form.",
    )

    def managed(self) -> dict[str, Any]:
        """Python name -> desired value for the keys present (the webhook token ref excluded)."""
        return {
            name: getattr(self, name)
            for name in sorted(self.model_fields_set)
            if getattr(self, name) is not None and name != "webhook_url_token_secret_ref"
        }


class AuthorizationMethod(StrEnum):
    """How a phone is linked: by scanning a QR code, or by a pairing code for a phone number."""

    QR_CODE = "QRCode"
    PHONE_NUMBER = "PhoneNumber"


class AuthorizationSpec(ApiModel):
    """How a phone gets linked while the instance is not authorized."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "self.method != 'PhoneNumber' || has(self.phoneNumber)",
                    "authorization.phoneNumber is required when method is PhoneNumber",
                )
            ]
        },
    )

    method: AuthorizationMethod = Field(
        default=AuthorizationMethod.QR_CODE,
        description="QRCode: a QR PNG in a Secret. PhoneNumber: a pairing code in a Secret.",
    )
    phone_number: str | None = Field(
        default=None,
        pattern=r"^[1-9][0-9]{6,14}$",
        description="International format, digits only, no + or 00 (e.g. 79001234567).",
    )
    window_minutes: int = Field(
        default=10,
        ge=1,
        le=120,
        description="How long codes are handed out; restart with the relink annotation.",
    )
    required_for_readiness: bool = Field(
        default=False,
        description="Ready waits for a linked phone (a GitOps rollout then waits for a person).",
    )


class IntervalsSpec(ApiModel):
    """How often GREEN-API is asked, and how long a settings write is given to show."""

    state_seconds: int = Field(
        default=60,
        ge=10,
        le=3600,
        description="How often getStateInstance is polled (jittered).",
    )
    settings_seconds: int = Field(
        default=300,
        ge=60,
        le=86400,
        description="How often getSettings is compared with spec (jittered).",
    )
    settle_seconds: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="How long GREEN-API may take to apply setSettings before drift is judged.",
    )


class AutoHealSpec(ApiModel):
    """Reboot an instance stuck in `starting`, as GREEN-API advises, at most once per cooldown."""

    enabled: bool = Field(
        default=False,
        description="Reboot an instance stuck in `starting` (GREEN-API's advice).",
    )
    starting_minutes: int = Field(
        default=10,
        ge=5,
        le=1440,
        description="How long `starting` is tolerated before a reboot.",
    )
    cooldown_minutes: int = Field(
        default=30,
        ge=5,
        le=10080,
        description="Minimum time between two automatic reboots.",
    )


def _defaults(model: type[ApiModel]) -> JsonDict:
    """A section's defaults, spelled out: the API server does not default inside defaults."""
    dumped: JsonDict = model().model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


class PartnerRef(ApiModel):
    """A WhatsAppPartner in the same namespace whose credentials create and delete the instance."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="A WhatsAppPartner in the same namespace.",
    )


class DeletionPolicy(StrEnum):
    """What deleting the resource does to the GREEN-API instance: Orphan keeps it, Delete
    removes it.
    """

    ORPHAN = "Orphan"
    DELETE = "Delete"


class ConnectionSecretSpec(ApiModel):
    """A Secret the operator writes for applications: idInstance, apiUrl, mediaUrl,
    apiTokenInstance.
    """

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description=(
            "Secret the operator writes for applications: idInstance, apiUrl, mediaUrl, "
            "apiTokenInstance."
        ),
    )


class WhatsAppInstanceSpec(ApiModel):
    """The WhatsApp account on GREEN-API and the settings it must have."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "has(self.instance.id) || has(self.partnerRef)",
                    "set instance.id to adopt an existing instance, or partnerRef to create one",
                ),
                _cel(
                    "has(self.instance.tokenSecretRef) || has(self.partnerRef)",
                    "instance.tokenSecretRef is required unless partnerRef is set",
                ),
                _cel(
                    "self.deletionPolicy != 'Delete' || has(self.partnerRef)",
                    "deletionPolicy Delete needs partnerRef (deleting uses the partner API)",
                ),
                # The operator writes the connection Secret; naming a Secret it reads a
                # token from would ask it to overwrite that token.
                _cel(
                    "!has(self.connectionSecret) || !has(self.instance.tokenSecretRef) "
                    "|| self.connectionSecret.name != self.instance.tokenSecretRef.name",
                    "connectionSecret.name must differ from instance.tokenSecretRef.name "
                    "(the operator writes the connection Secret; it would overwrite the token)",
                ),
                _cel(
                    "!has(self.connectionSecret) || !has(self.settings.webhookUrlTokenSecretRef) "
                    "|| self.connectionSecret.name != self.settings.webhookUrlTokenSecretRef.name",
                    "connectionSecret.name must differ from settings.webhookUrlTokenSecretRef.name "
                    "(the operator writes the connection Secret; it would overwrite the webhook "
                    "token)",
                ),
            ]
        },
    )

    instance: InstanceRef = Field(
        default_factory=InstanceRef,
        json_schema_extra={
            "default": {},
            "x-kubernetes-validations": [
                _cel(
                    "!has(oldSelf.id) || (has(self.id) && self.id == oldSelf.id)",
                    "instance.id is immutable once set",
                )
            ],
        },
        description="The GREEN-API instance and its credentials.",
    )
    partner_ref: PartnerRef | None = Field(
        default=None,
        description=(
            "Partner credentials (a WhatsAppPartner in this namespace) used to create the "
            "instance when instance.id is not set, and to delete it with deletionPolicy Delete."
        ),
    )
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.ORPHAN,
        description=(
            "Orphan (default): deleting the resource leaves the GREEN-API instance alone (it "
            "costs money and holds a linked phone). Delete: log out, then delete the instance."
        ),
    )
    connection_secret: ConnectionSecretSpec | None = Field(
        default=None,
        description=(
            "Write a Secret with connection details for applications. The operator creates "
            "it, and updates only a Secret it created for this resource; it must not be a "
            "Secret the resource reads a token from."
        ),
    )
    management_policy: ManagementPolicy = Field(
        default=ManagementPolicy.MANAGE,
        description="Manage: correct drift. Observe: only report, never write to GREEN-API.",
    )
    settings: SettingsSpec = Field(
        default_factory=SettingsSpec,
        json_schema_extra={"default": _defaults(SettingsSpec)},
        description="Settings to keep equal on GREEN-API (sparse).",
    )
    authorization: AuthorizationSpec = Field(
        default_factory=AuthorizationSpec,
        json_schema_extra={"default": _defaults(AuthorizationSpec)},
        description="Linking a phone.",
    )
    intervals: IntervalsSpec = Field(
        default_factory=IntervalsSpec,
        json_schema_extra={"default": _defaults(IntervalsSpec)},
        description="Polling cadence.",
    )
    auto_heal: AutoHealSpec = Field(
        default_factory=AutoHealSpec,
        json_schema_extra={"default": _defaults(AutoHealSpec)},
        description="Automatic reboot of an instance stuck in `starting`.",
    )


# ---------------------------------------------------------------- status


class Condition(ObservedModel):
    """metav1.Condition."""

    type: str
    status: str = Field(json_schema_extra={"enum": ["True", "False", "Unknown"]})
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class Account(ApiModel):
    """The WhatsApp account linked to the instance, once a phone is authorized."""

    phone: str = ""
    wid: str = ""
    device_id: str = ""
    avatar_url: str = ""


class FieldDrift(ApiModel):
    """One setting that differs from spec: desired and observed value, and since when."""

    field: str
    desired: str
    observed: str
    since: str


class LastApplied(ApiModel):
    """The last settings write: when, which fields, for which desired values, and its fate."""

    time: str
    fields: list[str] = Field(default_factory=list)
    hash: str
    attempts: int = 1
    confirmed: bool = False
    # GREEN-API refused these values (400): they are not sent again until spec changes.
    rejected: bool = False


class LinkingPhase(StrEnum):
    """Where linking a phone stands: not needed, waiting, code ready, expired or linked."""

    NOT_NEEDED = "NotNeeded"
    WAITING = "Waiting"
    CODE_READY = "CodeReady"
    EXPIRED = "Expired"
    LINKED = "Linked"


class LinkingStatus(ApiModel):
    """The linking window: its phase, where the current code is, and when the window ends."""

    phase: LinkingPhase
    method: AuthorizationMethod | None = None
    secret_name: str = ""
    window_started_at: str = ""
    window_ends_at: str = ""
    refreshed_at: str = ""
    message: str = ""


class WhatsAppInstanceStatus(ObservedModel):
    """What the operator observed and did; written by the operator only."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    instance_id: int | None = None
    api_url: str = ""
    state: str = ""
    state_since: str = ""
    account: Account | None = None
    observed_settings: dict[str, str] = Field(default_factory=dict)
    drift: list[FieldDrift] = Field(default_factory=list)
    last_applied: LastApplied | None = None
    linking: LinkingStatus | None = None
    handled_actions: dict[str, str] = Field(default_factory=dict)
    last_auto_reboot: str = ""
    last_error: str = ""


class WhatsAppInstance(ObservedModel):
    """The whole object as the operator reads it (metadata kept as a plain mapping)."""

    api_version: str
    kind: str
    metadata: dict[str, Any]
    spec: WhatsAppInstanceSpec
    status: WhatsAppInstanceStatus = Field(default_factory=WhatsAppInstanceStatus)


# ---------------------------------------------------------------- WhatsAppPartner


class PartnerTokenSecretRef(SecretKeyRef):
    """A key of a Secret in the partner's namespace that holds the GREEN-API partner token."""

    key: str = Field(
        default="partnerToken",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key inside the Secret that holds the partner token.",
    )


class WhatsAppPartnerSpec(ApiModel):
    """GREEN-API partner credentials that WhatsAppInstances in this namespace may use."""

    api_url: str = Field(
        default="https://api.green-api.com",
        max_length=2048,
        pattern=_URL_PATTERN,
        description="partnerApiUrl from the GREEN-API console.",
    )
    token_secret_ref: PartnerTokenSecretRef = Field(
        description="Secret holding the partner token (gac.…). Never in spec.",
    )
    check_seconds: int = Field(
        default=300,
        ge=30,
        le=86400,
        description="How often the credentials are checked (one getInstances call).",
    )


class WhatsAppPartnerStatus(ObservedModel):
    """Whether GREEN-API accepts the partner token, and how many live instances it lists."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    instances: int | None = Field(default=None, description="Live (not deleted) instances.")
    last_error: str = ""


class WhatsAppPartner(ObservedModel):
    """The whole WhatsAppPartner as the operator reads it (metadata kept as a plain mapping)."""

    api_version: str
    kind: str
    metadata: dict[str, Any]
    spec: WhatsAppPartnerSpec
    status: WhatsAppPartnerStatus = Field(default_factory=WhatsAppPartnerStatus)
