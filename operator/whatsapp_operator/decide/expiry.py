"""Pure: the plan of an instance (partner mode) and what its expiry calls for.

GREEN-API tells an instance's plan only through the partner's getInstances (`tariff`,
`expirationDate`, `isExpired`); an instance adopted without a partner has no way to
learn it, and says so. The date is zone-less; it is read as UTC (GREEN-API's billing
tick is at 00:00 UTC+3, so the error is at most three hours against a warning of days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from whatsapp_operator.api.lifecycle import PlanStatus
from whatsapp_operator.decide.events import Event
from whatsapp_operator.reasons import Reason
from whatsapp_operator.timestamps import format_time, parse_time

UNKNOWN_ADOPTED = (
    "Unknown: GREEN-API tells an instance's plan only to its partner account (getInstances); "
    "this instance is used without partnerRef"
)
NOT_READ_YET = "Not read yet from the partner's getInstances"


@dataclass(frozen=True)
class Listing:
    """An instance's plan as getInstances listed it, and when that listing was read."""

    tariff: str
    expiration_date: str
    is_expired: bool
    read_at: datetime


def parse_expiration(value: str) -> datetime | None:
    """getInstances' `expirationDate` as a UTC moment; None when absent or unreadable."""
    if not value or value.startswith("0001-01-01"):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def plan_status(
    *,
    partner_mode: bool,
    listing: Listing | None,
    previous: PlanStatus | None,
    now: datetime,
    warn_days: int,
) -> PlanStatus:
    """status.plan: from this cycle's listing, else the last one judged again at `now`."""
    if not partner_mode:
        return PlanStatus(known=False, message=UNKNOWN_ADOPTED)
    if listing is not None:
        expires = parse_expiration(listing.expiration_date)
        return _judged(
            tariff=listing.tariff,
            expires=expires,
            listed_expired=listing.is_expired,
            read_at=format_time(listing.read_at),
            now=now,
            warn_days=warn_days,
        )
    if previous is None or not previous.known:
        return PlanStatus(known=False, message=NOT_READ_YET)
    try:
        expires = parse_time(previous.expires_at) if previous.expires_at else None
    except ValueError:
        expires = None
    return _judged(
        tariff=previous.tariff,
        expires=expires,
        listed_expired=previous.expired,
        read_at=previous.read_at,
        now=now,
        warn_days=warn_days,
    )


def _judged(
    *,
    tariff: str,
    expires: datetime | None,
    listed_expired: bool,
    read_at: str,
    now: datetime,
    warn_days: int,
) -> PlanStatus:
    expired = listed_expired or (expires is not None and now >= expires)
    expiring = (
        not expired
        and expires is not None
        and warn_days > 0
        and expires - now <= timedelta(days=warn_days)
    )
    when = format_time(expires) if expires is not None else ""
    if expired:
        message = f"The plan ({tariff or 'unknown tariff'}) expired" + (
            f" at {when}" if when else ""
        )
        message += "; renew it in the GREEN-API console"
    elif expiring:
        assert expires is not None
        message = (
            f"The plan ({tariff or 'unknown tariff'}) expires at {when}, in "
            f"{_days(expires - now)}; renew it in the GREEN-API console"
        )
    else:
        message = f"The plan ({tariff or 'unknown tariff'}) runs until {when or 'an unknown date'}"
    return PlanStatus(
        known=True,
        tariff=tariff,
        expires_at=when,
        expiring=expiring,
        expired=expired,
        read_at=read_at,
        message=message,
    )


def _days(left: timedelta) -> str:
    hours = max(0, int(left.total_seconds() // 3600))
    if hours < 48:
        return f"{hours} hours"
    return f"{hours // 24} days"


def next_change(plan: PlanStatus | None, warn_days: int) -> datetime | None:
    """When the plan's judgement changes by time alone (the warning starts, or it lapses);
    None when it cannot: unknown, already expired, or no date."""
    if plan is None or not plan.known or plan.expired or not plan.expires_at:
        return None
    try:
        expires = parse_time(plan.expires_at)
    except ValueError:
        return None
    if plan.expiring or warn_days <= 0:
        return expires
    return expires - timedelta(days=warn_days)


def plan_events(previous: PlanStatus | None, current: PlanStatus) -> list[Event]:
    """A PlanExpiring Warning once per expiry date, when it comes within the warning."""
    if not current.expiring:
        return []
    if previous is not None and previous.expiring and previous.expires_at == current.expires_at:
        return []
    return [Event("Warning", Reason.PLAN_EXPIRING, current.message)]


def expiring_message(plan: PlanStatus | None) -> str:
    """Ready's message while the plan is about to expire ("" when it is not)."""
    return plan.message if plan is not None and plan.expiring else ""


def expired_message(plan: PlanStatus | None) -> str:
    """Stalled's message once the plan has expired ("" while it has not)."""
    return plan.message if plan is not None and plan.expired else ""
