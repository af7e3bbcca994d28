"""`status` of a WhatsAppInstance: conditions, what was observed, what was done."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from whatsapp_operator.api.base import ApiModel, AuthorizationMethod, ObservedModel
from whatsapp_operator.api.lifecycle import PlanStatus, TokenRotationStatus
from whatsapp_operator.api.queues import QueuesStatus


class Condition(ObservedModel):
    """metav1.Condition."""

    type: str = Field(description="Ready, Synced, Authorized, Stalled or Reconciling (kstatus).")
    status: str = Field(
        description="True, False or Unknown.",
        json_schema_extra={"enum": ["True", "False", "Unknown"]},
    )
    reason: str = Field(
        description="CamelCase reason; docs/reference.md lists every reason and what to do."
    )
    message: str = Field(default="", description="What happened, for people.")
    last_transition_time: str = Field(description="When `status` last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this condition was computed for."
    )


# Every kind's status.conditions: one entry per type, merged by type on server-side apply.
CONDITIONS: list[Condition] = Field(
    default_factory=list,
    description="The latest observations of the object's state, one per type (kstatus).",
    json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
)


class Account(ApiModel):
    """The WhatsApp account linked to the instance, once a phone is authorized."""

    phone: str = Field(default="", description="The linked phone number (digits only).")
    wid: str = Field(default="", description="The account's WhatsApp id, e.g. 79001234567@c.us.")
    device_id: str = Field(default="", description="GREEN-API's id of the linked device.")
    avatar_url: str = Field(default="", description="The account's profile picture URL.")


class FieldDrift(ApiModel):
    """One setting that differs from spec: desired and observed value, and since when."""

    field: str = Field(description="The setting, by its GREEN-API name.")
    desired: str = Field(description="The value spec asks for (the wire form).")
    observed: str = Field(description="The value GREEN-API reports.")
    since: str = Field(description="When the difference was first seen (RFC 3339).")


class LastApplied(ApiModel):
    """The last settings write: when, which fields, for which desired values, and its fate."""

    time: str = Field(description="When the last setSettings was sent (RFC 3339).")
    fields: list[str] = Field(
        default_factory=list, description="The settings it changed, by their GREEN-API names."
    )
    hash: str = Field(description="Digest of the desired values it was sent for.")
    attempts: int = Field(
        default=1,
        description="setSettings sent for these values (at most 2, then SettingsNotApplied).",
    )
    confirmed: bool = Field(
        default=False, description="A later getSettings showed the values applied."
    )
    # GREEN-API refused these values (400): they are not sent again until spec changes.
    rejected: bool = Field(
        default=False, description="GREEN-API refused the values; not re-sent until spec changes."
    )
    # Writes of these values that got no answer (timeout, 5xx). They count in `attempts`
    # like answered ones: an unanswered write may have rebooted the instance.
    unanswered: int = Field(
        default=0, description="Writes of these values that got no answer (timeout, 5xx)."
    )
    # Whether the latest of them is the last write (its effect not yet observed).
    pending_answer: bool = Field(
        default=False,
        description="The last write got no answer and its effect is not yet observed.",
    )


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
    secret_name: str = Field(
        default="", description="The Secret that holds the current QR or pairing code."
    )
    window_started_at: str = Field(
        default="", description="When the linking window opened (RFC 3339)."
    )
    window_ends_at: str = Field(
        default="", description="When it closes unless a phone links first (RFC 3339)."
    )
    refreshed_at: str = Field(default="", description="When the code was last renewed.")
    message: str = Field(default="", description="What the person linking should do now.")


class ProfileRollout(ApiModel):
    """An instance's part in its profile's rollout (restart-safe: the rollout reads it)."""

    name: str = Field(description="The WhatsAppSettingsProfile.")
    revision: str = Field(default="", description="The profile revision this instance has.")
    applying: str = Field(default="", description="The revision being applied now, if any.")
    applying_since: str = Field(default="", description="When the apply began (RFC 3339).")
    was_authorized: bool = Field(
        default=False, description="Linked when the apply began: it must come back linked."
    )
    failed: str = Field(default="", description="Why the apply did not come back, if it did not.")


class WhatsAppInstanceStatus(ObservedModel):
    """What the operator observed and did; written by the operator only."""

    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this status was computed for."
    )
    conditions: list[Condition] = CONDITIONS
    instance_id: int | None = Field(default=None, description="The GREEN-API idInstance.")
    api_url: str = Field(default="", description="The GREEN-API endpoint the instance is on.")
    state: str = Field(
        default="",
        description=(
            "GREEN-API's stateInstance (authorized, notAuthorized, blocked, sleepMode, "
            "starting, yellowCard), or creating / unknown while it cannot be read."
        ),
    )
    state_since: str = Field(default="", description="Since when `state` holds (RFC 3339).")
    account: Account | None = None
    observed_settings: dict[str, str] = Field(
        default_factory=dict,
        description="The managed settings as getSettings last returned them (GREEN-API names).",
    )
    drift: list[FieldDrift] = Field(
        default_factory=list, description="Managed settings that differ from spec."
    )
    last_applied: LastApplied | None = None
    linking: LinkingStatus | None = None
    settings_profile: ProfileRollout | None = None
    handled_actions: dict[str, str] = Field(
        default_factory=dict,
        description="Per action (reboot, logout), the latest requested-at value performed.",
    )
    last_auto_reboot: str = Field(
        default="", description="When autoHeal last rebooted the instance (RFC 3339)."
    )
    plan: PlanStatus | None = None
    token_rotation: TokenRotationStatus | None = None
    last_error: str = Field(default="", description="The last failure's message; empty when none.")
    queues: QueuesStatus | None = None
