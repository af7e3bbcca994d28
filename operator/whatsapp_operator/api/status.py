"""`status` of a WhatsAppInstance: conditions, what was observed, what was done."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from whatsapp_operator.api.base import ApiModel, AuthorizationMethod, ObservedModel


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
    # Writes of these values that got no answer (timeout, 5xx). They count in `attempts`
    # like answered ones: an unanswered write may have rebooted the instance.
    unanswered: int = 0
    # Whether the latest of them is the last write (its effect not yet observed).
    pending_answer: bool = False


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


class ProfileRollout(ApiModel):
    """An instance's part in its profile's rollout (restart-safe: the rollout reads it)."""

    name: str = Field(description="The WhatsAppSettingsProfile.")
    revision: str = Field(default="", description="The profile revision this instance has.")
    applying: str = Field(default="", description="The revision being applied now, if any.")
    applying_since: str = ""
    was_authorized: bool = Field(
        default=False, description="Linked when the apply began: it must come back linked."
    )
    failed: str = Field(default="", description="Why the apply did not come back, if it did not.")


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
    settings_profile: ProfileRollout | None = None
    handled_actions: dict[str, str] = Field(default_factory=dict)
    last_auto_reboot: str = ""
    last_error: str = ""
