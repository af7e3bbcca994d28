"""Pure: whether an instance's token is to be rotated now, and whether it may be at all.

Rotation (updateApiToken) kills the old token at once. Only partner mode can recover the
new one when the answer is lost (getInstances lists every instance's token), and the
operator only writes a token Secret it owns: so rotation is for resources with a
partnerRef and no instance.tokenSecretRef. The admission rule says the same for
spec.tokenRotation; an annotation cannot be checked there, so it is refused here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from whatsapp_operator.timestamps import parse_time

# After a lost answer the partner may list the old token for a moment longer; the
# rotation is judged not done only when it still lists it this long after the call.
UNCONFIRMED_GRACE = timedelta(minutes=5)


def refusal(*, partner_mode: bool, user_owned_token: bool) -> str:
    """Why this resource's token may not be rotated ("" when it may)."""
    if not partner_mode:
        return (
            "Token rotation needs partnerRef: a new token whose answer is lost can only be "
            "recovered through the partner's getInstances"
        )
    if user_owned_token:
        return (
            "Token rotation is refused: the token is in a Secret you own "
            "(spec.instance.tokenSecretRef), which the operator never rewrites; remove "
            "tokenSecretRef to let the operator keep the token in its own Secret"
        )
    return ""


def _moment(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


def next_rotation(
    *,
    every: timedelta | None,
    last_rotated_at: str,
    last_refused_at: str,
    created_at: datetime | None,
) -> datetime | None:
    """When `every` will have passed since the token in use was issued (or last refused);
    None without a schedule.

    A token never rotated counts from the instance's creation; with no known creation
    (an adopted instance) its age is unknown and it is due at once (the earliest moment).
    """
    if every is None:
        return None
    moments = [m for m in (_moment(last_rotated_at), _moment(last_refused_at)) if m]
    if created_at is not None:
        moments.append(created_at)
    if not moments:
        return datetime.min.replace(tzinfo=UTC)
    return max(moments) + every


def rotation_due(
    *,
    every: timedelta | None,
    last_rotated_at: str,
    last_refused_at: str,
    created_at: datetime | None,
    now: datetime,
) -> bool:
    """Whether the rotation is due now (`next_rotation` has come)."""
    due = next_rotation(
        every=every,
        last_rotated_at=last_rotated_at,
        last_refused_at=last_refused_at,
        created_at=created_at,
    )
    return due is not None and now >= due


def still_unconfirmed(pending_since: str, now: datetime) -> bool:
    """Whether a rotation whose partner listing still shows the old token may yet happen."""
    since = _moment(pending_since)
    return since is not None and now - since < UNCONFIRMED_GRACE
