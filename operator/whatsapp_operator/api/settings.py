"""`spec.settings`: the GREEN-API settings a WhatsAppInstance manages."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from whatsapp_operator.api.base import ApiModel, SecretKeyRef, cel


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
                cel(
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
