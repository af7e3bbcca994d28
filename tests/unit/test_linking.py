"""decide_linking: when codes are handed out, and what status.linking says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_operator.api.resource import (
    AuthorizationMethod,
    AuthorizationSpec,
    LinkingPhase,
    LinkingStatus,
)
from whatsapp_operator.api.status import LastApplied
from whatsapp_operator.constants import ANNOTATION_PAIR_PHONE, ANNOTATION_RELINK
from whatsapp_operator.decide.linking import (
    CODE_KEY,
    QR_KEY,
    SECRET_SUFFIX,
    LinkingDecision,
    LinkingFacts,
    decide_linking,
    requested_authorization,
    secret_name,
)
from whatsapp_operator.decide.plan import SettingsOutcome, SettingsPlan
from whatsapp_operator.timestamps import format_time
from whatsapp_operator.wire.models import InstanceState

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
NAME = "sales"
SECRET = "sales-linking"
QR = AuthorizationSpec()
PHONE = AuthorizationSpec(method=AuthorizationMethod.PHONE_NUMBER, phone_number="79001234567")


def decide(
    state: InstanceState | None,
    previous: LinkingStatus | None = None,
    *,
    now: datetime = T0,
    refreshed_at: datetime | None = None,
    relink: bool = False,
    spec: AuthorizationSpec = QR,
) -> LinkingDecision:
    return decide_linking(
        resource=NAME,
        state=state,
        spec=spec,
        previous=previous,
        relink_requested=relink,
        refreshed_at=refreshed_at,
        now=now,
    )


def test_secret_name() -> None:
    assert secret_name("sales") == SECRET
    long = "a" * 253
    assert len(secret_name(long)) == 253
    assert secret_name(long).endswith(SECRET_SUFFIX)


def test_first_not_authorized_starts_a_window() -> None:
    decision = decide(InstanceState.NOT_AUTHORIZED)
    assert decision.active
    assert not decision.remove_codes
    status = decision.status
    assert status.phase is LinkingPhase.WAITING
    assert status.method is AuthorizationMethod.QR_CODE
    assert status.window_started_at == format_time(T0)
    assert status.window_ends_at == format_time(T0 + timedelta(minutes=10))
    assert status.secret_name == ""
    assert status.refreshed_at == ""


def test_window_length_follows_spec() -> None:
    decision = decide(InstanceState.NOT_AUTHORIZED, spec=AuthorizationSpec(window_minutes=3))
    assert decision.status.window_ends_at == format_time(T0 + timedelta(minutes=3))


def test_refreshed_code_is_ready_with_secret_and_hint() -> None:
    waiting = decide(InstanceState.NOT_AUTHORIZED).status
    now = T0 + timedelta(seconds=20)
    decision = decide(
        InstanceState.NOT_AUTHORIZED, waiting, now=now, refreshed_at=T0 + timedelta(seconds=5)
    )
    status = decision.status
    assert decision.active
    assert not decision.remove_codes
    assert status.phase is LinkingPhase.CODE_READY
    assert status.secret_name == SECRET
    assert status.refreshed_at == format_time(T0 + timedelta(seconds=5))
    assert SECRET in status.message
    assert QR_KEY in status.message
    # The window does not move while it is open.
    assert status.window_started_at == waiting.window_started_at
    assert status.window_ends_at == waiting.window_ends_at


def test_code_ready_survives_a_lost_session() -> None:
    """After an operator restart there is no session yet; status keeps the last refresh."""
    waiting = decide(InstanceState.NOT_AUTHORIZED).status
    ready = decide(
        InstanceState.NOT_AUTHORIZED, waiting, refreshed_at=T0 + timedelta(seconds=1)
    ).status
    again = decide(InstanceState.NOT_AUTHORIZED, ready, now=T0 + timedelta(minutes=1)).status
    assert again.phase is LinkingPhase.CODE_READY
    assert again.refreshed_at == ready.refreshed_at


def test_refresh_from_before_the_window_is_ignored() -> None:
    decision = decide(InstanceState.NOT_AUTHORIZED, refreshed_at=T0 - timedelta(minutes=1))
    assert decision.status.phase is LinkingPhase.WAITING


def test_window_end_expires_and_removes_codes() -> None:
    ready = decide(InstanceState.NOT_AUTHORIZED, refreshed_at=T0 + timedelta(seconds=1)).status
    end = T0 + timedelta(minutes=10)
    decision = decide(InstanceState.NOT_AUTHORIZED, ready, now=end, refreshed_at=end)
    assert decision.status.phase is LinkingPhase.EXPIRED
    assert not decision.active
    assert decision.remove_codes
    assert decision.status.secret_name == ""
    assert ANNOTATION_RELINK in decision.status.message
    assert NAME in decision.status.message
    # And it stays expired: no new window without a request.
    later = decide(InstanceState.NOT_AUTHORIZED, decision.status, now=end + timedelta(hours=2))
    assert later.status.phase is LinkingPhase.EXPIRED
    assert not later.active
    assert later.status.window_started_at == format_time(T0)


@pytest.mark.parametrize(
    "phase", [LinkingPhase.EXPIRED, LinkingPhase.CODE_READY, LinkingPhase.WAITING]
)
def test_relink_restarts_the_window(phase: LinkingPhase) -> None:
    previous = LinkingStatus(
        phase=phase,
        method=AuthorizationMethod.QR_CODE,
        secret_name=SECRET if phase is LinkingPhase.CODE_READY else "",
        window_started_at=format_time(T0),
        window_ends_at=format_time(T0 + timedelta(minutes=10)),
        refreshed_at=format_time(T0) if phase is LinkingPhase.CODE_READY else "",
    )
    now = T0 + timedelta(minutes=30)
    decision = decide(InstanceState.NOT_AUTHORIZED, previous, now=now, relink=True)
    assert decision.active
    assert decision.status.phase is LinkingPhase.WAITING
    assert decision.status.window_started_at == format_time(now)
    assert decision.status.window_ends_at == format_time(now + timedelta(minutes=10))
    assert decision.status.refreshed_at == ""


def test_authorized_after_linking_is_linked() -> None:
    waiting = decide(InstanceState.NOT_AUTHORIZED).status
    decision = decide(InstanceState.AUTHORIZED, waiting, now=T0 + timedelta(minutes=1))
    assert decision.status.phase is LinkingPhase.LINKED
    assert not decision.active
    assert decision.remove_codes
    # ... and stays linked.
    again = decide(InstanceState.AUTHORIZED, decision.status, now=T0 + timedelta(hours=1))
    assert again.status.phase is LinkingPhase.LINKED


@pytest.mark.parametrize(
    "previous",
    [None, LinkingStatus(phase=LinkingPhase.NOT_NEEDED)],
    ids=["no-previous", "not-needed"],
)
def test_authorized_never_linked_is_not_needed(previous: LinkingStatus | None) -> None:
    decision = decide(InstanceState.AUTHORIZED, previous)
    assert decision.status.phase is LinkingPhase.NOT_NEEDED
    assert not decision.active
    assert decision.remove_codes


def test_losing_the_phone_starts_a_new_window() -> None:
    linked = LinkingStatus(phase=LinkingPhase.LINKED, window_started_at=format_time(T0))
    now = T0 + timedelta(days=2)
    decision = decide(InstanceState.NOT_AUTHORIZED, linked, now=now)
    assert decision.active
    assert decision.status.window_started_at == format_time(now)


@pytest.mark.parametrize(
    "state",
    [
        InstanceState.STARTING,
        InstanceState.CREATING,
        InstanceState.BLOCKED,
        InstanceState.SLEEP_MODE,
        None,
    ],
)
def test_other_states_keep_a_previous_window_but_inactive(state: InstanceState | None) -> None:
    waiting = decide(InstanceState.NOT_AUTHORIZED).status
    decision = decide(state, waiting, now=T0 + timedelta(minutes=2))
    assert decision.status == waiting
    assert not decision.active
    assert not decision.remove_codes


@pytest.mark.parametrize("state", [InstanceState.STARTING, InstanceState.CREATING, None])
def test_other_states_without_previous_are_not_needed(state: InstanceState | None) -> None:
    decision = decide(state)
    assert decision.status.phase is LinkingPhase.NOT_NEEDED
    assert not decision.active
    assert decision.remove_codes


def test_phone_number_hint_mentions_the_code_key() -> None:
    decision = decide(InstanceState.NOT_AUTHORIZED, refreshed_at=T0, spec=PHONE)
    assert decision.status.phase is LinkingPhase.CODE_READY
    assert decision.status.method is AuthorizationMethod.PHONE_NUMBER
    assert f"key {CODE_KEY}" in decision.status.message
    assert SECRET in decision.status.message
    assert QR_KEY not in decision.status.message


@given(
    minutes=st.integers(min_value=1, max_value=120),
    offset=st.integers(min_value=0, max_value=3 * 120 * 60),
)
def test_active_exactly_inside_the_window(minutes: int, offset: int) -> None:
    spec = AuthorizationSpec(window_minutes=minutes)
    first = decide(InstanceState.NOT_AUTHORIZED, spec=spec).status
    decision = decide(
        InstanceState.NOT_AUTHORIZED, first, now=T0 + timedelta(seconds=offset), spec=spec
    )
    inside = offset < minutes * 60
    assert decision.active == inside
    assert decision.remove_codes == (not inside)
    assert (decision.status.phase is LinkingPhase.EXPIRED) == (not inside)


def test_the_pair_phone_annotation_asks_for_pairing_codes_instead_of_the_spec() -> None:
    spec = AuthorizationSpec(window_minutes=7)
    asked = requested_authorization(spec, {ANNOTATION_PAIR_PHONE: " 79001234567 "})
    assert (asked.method, asked.phone_number) == (AuthorizationMethod.PHONE_NUMBER, "79001234567")
    assert asked.window_minutes == 7  # the rest of the spec still holds
    # It also overrides a spec that pairs with another phone.
    other = AuthorizationSpec(method=AuthorizationMethod.PHONE_NUMBER, phone_number="4930123456")
    assert requested_authorization(other, {ANNOTATION_PAIR_PHONE: "79001234567"}).phone_number == (
        "79001234567"
    )


@pytest.mark.parametrize("value", ["", "+79001234567", "0790012345", "12345", "7900abc4567"])
def test_a_pair_phone_annotation_that_is_no_phone_number_is_ignored(value: str) -> None:
    spec = AuthorizationSpec()
    assert requested_authorization(spec, {ANNOTATION_PAIR_PHONE: value}) is spec
    assert requested_authorization(spec, {}) is spec


def _facts(*, was_authorized: bool = False, previous: LinkingStatus | None = None) -> LinkingFacts:
    return LinkingFacts(
        resource=NAME,
        secret=SECRET,
        spec=QR,
        previous=previous,
        relink_requested=False,
        refreshed_at=None,
        now=T0,
        was_authorized=was_authorized,
    )


def _writing(*, confirmed: bool) -> SettingsPlan:
    applied = LastApplied(time=format_time(T0), hash="h", confirmed=confirmed)
    return SettingsPlan(SettingsOutcome.APPLY, last_applied=applied)


def test_facts_keep_the_window_open_while_our_write_restarts_an_unlinked_instance() -> None:
    # GREEN-API restarts the instance to apply settings; codes can still be had meanwhile.
    decision = _facts().decide(InstanceState.STARTING, _writing(confirmed=False), phone_known=False)
    assert decision.active
    assert decision.status.phase is LinkingPhase.WAITING


@pytest.mark.parametrize(
    ("plan", "phone_known", "was_authorized"),
    [
        (None, False, False),  # no settings write: a plain start
        ("confirmed", False, False),  # the write was seen applied: the restart is over
        ("unconfirmed", True, False),  # the account read this cycle has a phone
        ("unconfirmed", False, True),  # the status as read says a phone is linked
    ],
)
def test_facts_treat_other_starts_as_no_code_yet(
    plan: str | None, phone_known: bool, was_authorized: bool
) -> None:
    settings = None if plan is None else _writing(confirmed=plan == "confirmed")
    decision = _facts(was_authorized=was_authorized).decide(
        InstanceState.STARTING, settings, phone_known=phone_known
    )
    assert not decision.active
    assert decision.status.phase is LinkingPhase.NOT_NEEDED


def test_facts_decide_as_decide_linking_does() -> None:
    previous = decide(InstanceState.NOT_AUTHORIZED).status
    later = T0 + timedelta(minutes=3)
    facts = replace(_facts(previous=previous), now=later, refreshed_at=later)
    assert facts.decide(InstanceState.NOT_AUTHORIZED, None, phone_known=False) == decide(
        InstanceState.NOT_AUTHORIZED, previous, now=later, refreshed_at=later
    )
