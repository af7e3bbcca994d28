"""Pure decisions of plan expiry (decide/expiry.py) and token rotation (decide/rotation.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from whatsapp_operator.api.lifecycle import PlanStatus
from whatsapp_operator.constants import ConditionType
from whatsapp_operator.decide import rotation
from whatsapp_operator.decide.conditions import Facts, desired_conditions
from whatsapp_operator.decide.expiry import Listing, parse_expiration, plan_events, plan_status
from whatsapp_operator.decide.plan import SettingsOutcome
from whatsapp_operator.wire.models import InstanceState

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def listing(expires: datetime, *, expired: bool = False) -> Listing:
    # getInstances' form: zone-less.
    return Listing("PARTNER_23", expires.strftime("%Y-%m-%dT%H:%M:%S"), expired, NOW)


def judge(
    item: Listing | None, previous: PlanStatus | None = None, now: datetime = NOW
) -> PlanStatus:
    return plan_status(partner_mode=True, listing=item, previous=previous, now=now, warn_days=7)


def test_adopt_mode_says_the_plan_is_unknown() -> None:
    plan = plan_status(partner_mode=False, listing=None, previous=None, now=NOW, warn_days=7)
    assert not plan.known
    assert "partnerRef" in plan.message


def test_zone_less_dates_are_utc_and_never_is_none() -> None:
    assert parse_expiration("2026-05-04T12:00:00") == datetime(2026, 5, 4, 12, tzinfo=UTC)
    assert parse_expiration("0001-01-01T00:00:00") is None
    assert parse_expiration("garbage") is None


def test_three_days_ahead_is_expiring_and_warns_once_per_date() -> None:
    plan = judge(listing(NOW + timedelta(days=3)))
    assert plan.known
    assert plan.expiring
    assert not plan.expired
    assert plan.expires_at == "2026-05-04T12:00:00Z"
    events = plan_events(None, plan)
    assert [(e.type, e.reason) for e in events] == [("Warning", "PlanExpiring")]
    assert plan_events(plan, judge(listing(NOW + timedelta(days=3)))) == []
    renewed_then_expiring = judge(listing(NOW + timedelta(days=5)))
    assert len(plan_events(plan, renewed_then_expiring)) == 1


def test_a_month_ahead_is_quiet_and_zero_days_never_warns() -> None:
    assert not judge(listing(NOW + timedelta(days=30))).expiring
    plan = plan_status(
        partner_mode=True,
        listing=listing(NOW + timedelta(hours=1)),
        previous=None,
        now=NOW,
        warn_days=0,
    )
    assert not plan.expiring


def test_lapsed_by_date_or_flag_and_judged_again_without_a_new_listing() -> None:
    assert judge(listing(NOW + timedelta(days=30), expired=True)).expired
    before = judge(listing(NOW + timedelta(hours=2)))
    assert before.expiring
    # No listing this cycle (cached, or unreadable): the last plan at the new time.
    later = judge(None, previous=before, now=NOW + timedelta(hours=3))
    assert later.expired
    assert not later.expiring
    assert later.read_at == before.read_at


def test_expired_stalls_with_instance_expired_and_expiring_only_changes_ready_reason() -> None:
    def facts(**plan: str) -> Facts:
        return Facts(
            generation=1,
            state=InstanceState.AUTHORIZED,
            raw_state="authorized",
            settings=SettingsOutcome.IN_SYNC,
            **plan,
        )

    expiring = desired_conditions(facts(plan_expiring="expires soon"))
    assert expiring[ConditionType.READY] == ("True", "PlanExpiring", "expires soon")
    assert expiring[ConditionType.STALLED][0] == "False"
    expired = desired_conditions(facts(plan_expired="expired"))
    assert expired[ConditionType.STALLED] == ("True", "InstanceExpired", "expired")
    assert expired[ConditionType.READY][0] == "False"


def test_rotation_is_refused_without_a_partner_or_with_a_user_owned_secret() -> None:
    assert rotation.refusal(partner_mode=True, user_owned_token=False) == ""
    assert "partnerRef" in rotation.refusal(partner_mode=False, user_owned_token=False)
    assert "tokenSecretRef" in rotation.refusal(partner_mode=True, user_owned_token=True)


def test_rotation_is_due_by_age_of_the_token_in_use() -> None:
    every = timedelta(hours=720)
    created = NOW - timedelta(days=10)
    due = rotation.rotation_due
    assert not due(every=None, last_rotated_at="", last_refused_at="", created_at=None, now=NOW)
    assert not due(every=every, last_rotated_at="", last_refused_at="", created_at=created, now=NOW)
    old = NOW - timedelta(days=31)
    assert due(every=every, last_rotated_at="", last_refused_at="", created_at=old, now=NOW)
    # Rotated since creation: counted from the rotation.
    assert not due(
        every=every,
        last_rotated_at="2026-04-30T00:00:00Z",
        last_refused_at="",
        created_at=old,
        now=NOW,
    )
    # A refusal waits `every` too, instead of asking again on every reconcile.
    assert not due(
        every=every,
        last_rotated_at="",
        last_refused_at="2026-04-30T00:00:00Z",
        created_at=old,
        now=NOW,
    )
    # An adopted instance's token has no known age: rotated now.
    assert due(every=every, last_rotated_at="", last_refused_at="", created_at=None, now=NOW)


def test_a_lost_answer_still_showing_the_old_token_waits_the_grace() -> None:
    sent = "2026-05-01T11:58:00Z"
    assert rotation.still_unconfirmed(sent, NOW)
    assert not rotation.still_unconfirmed(sent, NOW + timedelta(minutes=10))
