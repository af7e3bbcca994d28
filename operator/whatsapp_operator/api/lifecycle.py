"""The account's life on GREEN-API: its plan's expiry and the rotation of its token.

Both are partner-mode features: only the partner API's getInstances tells an instance's
plan, and only it can give back a token whose rotation lost its answer.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from whatsapp_operator.api.base import ApiModel, ObservedModel

# Whole hours, like a Go duration written in hours ("720h"): what operators already write
# for certificate lifetimes, and a rotation more often than hourly is no hygiene.
EVERY_PATTERN = r"^[1-9][0-9]{0,5}h$"


class PlanSpec(ApiModel):
    """When to warn about the plan's expiry (partner mode)."""

    warn_days_before: int = Field(
        default=7,
        ge=0,
        le=90,
        description=(
            "Warn (a PlanExpiring Warning Event and Ready's reason) this many days before the "
            "plan expires; 0: no warning, only InstanceExpired once it lapses."
        ),
    )


class TokenRotationSpec(ApiModel):
    """Issue a new instance token on a schedule (partner mode, operator-owned token Secret)."""

    every: str = Field(
        pattern=EVERY_PATTERN,
        description=(
            "How long a token is used before a new one is issued (updateApiToken), in whole "
            "hours, e.g. 720h. Counted from status.tokenRotation.lastRotatedAt, or from the "
            "instance's creation when it was never rotated."
        ),
    )

    @property
    def interval(self) -> timedelta:
        """`every` as a duration."""
        return timedelta(hours=int(self.every[:-1]))


class PlanStatus(ObservedModel):
    """The instance's plan as the partner's getInstances lists it, or why it is unknown."""

    known: bool = Field(
        default=False,
        description=(
            "Whether the plan was read: only the partner API lists it, so an instance adopted "
            "without partnerRef has none."
        ),
    )
    tariff: str = Field(default="", description="GREEN-API's tariff, e.g. PARTNER_23.")
    expires_at: str = Field(
        default="", description="When the plan expires (RFC 3339; GREEN-API's date read as UTC)."
    )
    expiring: bool = Field(
        default=False, description="It expires within spec.plan.warnDaysBefore days."
    )
    expired: bool = Field(default=False, description="GREEN-API says the plan has expired.")
    read_at: str = Field(default="", description="When the partner's listing was read.")
    message: str = Field(default="", description="What this means, for people.")


class TokenRotationStatus(ObservedModel):
    """The last token rotation, one in progress, or why rotation is refused."""

    last_rotated_at: str = Field(
        default="", description="When the token in use was issued by a rotation (RFC 3339)."
    )
    pending_since: str = Field(
        default="",
        description=(
            "updateApiToken was sent then and its outcome is not known yet: the new token is "
            "being recovered from the partner's getInstances; the old one is not used."
        ),
    )
    last_refused_at: str = Field(
        default="",
        description=(
            "When GREEN-API last refused updateApiToken, or an attempt whose answer was lost "
            "turned out not to have happened (the schedule waits `every`)."
        ),
    )
    refused: str = Field(
        default="", description="Why a requested rotation is refused, if it is (empty: allowed)."
    )
