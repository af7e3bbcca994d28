"""`spec.queues` and `status.queues`: GREEN-API's incoming and outgoing queues.

A growing incoming queue (undelivered notifications) means the webhook receiver is
down or rejecting while the settings are "in sync"; the outgoing queue holds messages
that would go out from whatever account is linked next.
"""

from __future__ import annotations

from pydantic import Field

from whatsapp_operator.api.base import ApiModel


class QueuesSpec(ApiModel):
    """How the queues are watched, and whether they are cleared when the account changes."""

    check_seconds: int | None = Field(
        default=None,
        ge=20,
        le=86400,
        description=(
            "How often getWebhooksCount and getMessagesCount are read, only while webhookUrl is "
            "set (two calls per check). At least twice intervals.stateSeconds, so that they add "
            "at most one call per state poll; default: twice intervals.stateSeconds."
        ),
    )
    growth_window_seconds: int = Field(
        default=600,
        ge=10,
        le=86400,
        description=(
            "How long the incoming queue may keep growing before WebhookDelivery turns False "
            "(GREEN-API retries a failed delivery every 60 s)."
        ),
    )
    clear_on_account_change: bool = Field(
        default=False,
        description=(
            "Clear both queues once when the linked number (wid) changes or the number is "
            "blocked, as GREEN-API advises, so that nothing queued goes out from the new "
            "account; an Event says how many items were dropped."
        ),
    )
    required_for_readiness: bool = Field(
        default=False,
        description="Ready is False while WebhookDelivery is False.",
    )


class QueuesStatus(ApiModel):
    """The queue counts as last read, and what the growth decision remembers."""

    incoming: int = Field(
        default=0, description="Notifications waiting in the incoming queue (getWebhooksCount)."
    )
    outgoing: int = Field(
        default=0, description="Messages waiting in the outgoing queue (getMessagesCount)."
    )
    read_at: str = Field(default="", description="When both counts were read (RFC 3339).")
    growing_since: str = Field(
        default="",
        description="Since when the incoming queue has not gone down (RFC 3339); empty if it has.",
    )
    growth_base: int = Field(
        default=0, description="The incoming count when it last stopped going down."
    )
    account_wid: str = Field(
        default="", description="The linked account the queues were last kept for."
    )
    cleared_for_block: bool = Field(
        default=False, description="clearOnAccountChange has cleared the queues of this block."
    )
