"""Settings profiles: the built-in `Recommended` set and the WhatsAppSettingsProfile resource.

A profile is a reusable `spec.settings`. Instances take one by name (`settingsProfile`,
built in) and/or by reference (`settingsProfileRef`, a WhatsAppSettingsProfile in their
namespace); the precedence is built-in < referenced profile < the instance's own
`spec.settings`. Every setSettings reboots an account, so a profile change reaches its
instances in a paced rollout (`rollout.maxUnavailable` at a time).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema, field_validator
from pydantic.alias_generators import to_camel

from whatsapp_operator.api.base import OBJECT_NAME_PATTERN, ApiModel, ObservedModel, cel
from whatsapp_operator.api.settings import SettingsSpec
from whatsapp_operator.api.status import CONDITIONS, Condition


class SettingsProfileName(StrEnum):
    """A built-in settings profile."""

    RECOMMENDED = "Recommended"


# GREEN-API's "creating and configuring an instance" page: "You can use the recommended
# parameters". webhookUrl and webhookUrlToken are the user's to choose.
RECOMMENDED = SettingsSpec(
    delay_send_messages_milliseconds=3000,
    mark_incoming_messages_readed=False,
    mark_incoming_messages_readed_on_reply=True,
    outgoing_webhook=True,
    outgoing_message_webhook=True,
    outgoing_api_message_webhook=False,
    incoming_webhook=True,
    device_webhook=False,
    state_webhook=True,
    keep_online_status=True,
    poll_message_webhook=True,
    incoming_block_webhook=True,
)

BUILT_IN_PROFILES: dict[SettingsProfileName, SettingsSpec] = {
    SettingsProfileName.RECOMMENDED: RECOMMENDED,
}

DEFAULT_MAX_UNAVAILABLE = "10%"
_PERCENT_RULE = r"^([1-9][0-9]?|100)%$"


def _max_unavailable_ok(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 1:
            raise ValueError("maxUnavailable must be at least 1")
        return value
    if not re.match(_PERCENT_RULE, value):
        raise ValueError("maxUnavailable must be a count >= 1 or a percentage 1%..100%")
    return value


class ProfileRef(ApiModel):
    """A WhatsAppSettingsProfile in the same namespace."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=OBJECT_NAME_PATTERN,
        description="A WhatsAppSettingsProfile in the same namespace.",
    )


class RolloutSpec(ApiModel):
    """How a change of the profile reaches its instances: a few at a time."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "type(self.maxUnavailable) == int ? self.maxUnavailable >= 1 : "
                    f"self.maxUnavailable.matches('{_PERCENT_RULE}')",
                    "rollout.maxUnavailable must be a count >= 1 or a percentage 1%..100%",
                )
            ]
        },
    )

    max_unavailable: Annotated[
        int | str,
        WithJsonSchema(
            {
                "x-kubernetes-int-or-string": True,
                "default": DEFAULT_MAX_UNAVAILABLE,
                "description": (
                    "How many instances may apply a profile change (and reboot) at once: a "
                    "count, or a percentage of the instances using the profile (rounded "
                    "down, at least 1)."
                ),
            }
        ),
    ] = DEFAULT_MAX_UNAVAILABLE

    @field_validator("max_unavailable")
    @classmethod
    def _valid(cls, value: int | str) -> int | str:
        return _max_unavailable_ok(value)


class WhatsAppSettingsProfileSpec(ApiModel):
    """Settings shared by many WhatsAppInstances, and how changes to them are rolled out."""

    settings_profile: SettingsProfileName | None = Field(
        default=None,
        description=(
            "A built-in profile under this one's settings (Recommended: GREEN-API's "
            "recommended parameters). An instance's own settingsProfile takes its place."
        ),
    )
    settings: SettingsSpec = Field(
        default_factory=SettingsSpec,
        json_schema_extra={"default": {}},
        description=(
            "Settings in the shape of WhatsAppInstance spec.settings (secret references are "
            "read in the instance's namespace, which is this profile's)."
        ),
    )
    rollout: RolloutSpec = Field(
        default_factory=RolloutSpec,
        json_schema_extra={"default": {"maxUnavailable": DEFAULT_MAX_UNAVAILABLE}},
        description="Pacing of a change across the instances that use the profile.",
    )


class WhatsAppSettingsProfileStatus(ObservedModel):
    """Rollout progress of the profile's current revision across its instances."""

    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this status was computed for."
    )
    conditions: list[Condition] = CONDITIONS
    revision: str = Field(default="", description="Digest of the profile's effective settings.")
    total: int = Field(default=0, description="Instances that use the profile.")
    updated: int = Field(default=0, description="Instances that have the current revision.")
    max_unavailable: int = Field(default=0, description="maxUnavailable as a count.")
    in_flight: list[str] = Field(
        default_factory=list, description="Instances applying the revision now."
    )
    failed: str = Field(
        default="", description="The instance that did not come back (rollout paused)."
    )


class WhatsAppSettingsProfile(ObservedModel):
    """The whole WhatsAppSettingsProfile as the operator reads it."""

    api_version: str
    kind: str
    metadata: dict[str, Any]
    spec: WhatsAppSettingsProfileSpec = Field(default_factory=WhatsAppSettingsProfileSpec)
    status: WhatsAppSettingsProfileStatus = Field(default_factory=WhatsAppSettingsProfileStatus)
