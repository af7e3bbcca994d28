"""transition_events: Events on transitions only (no event spam in steady state)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_operator.api.resource import (
    Account,
    FieldDrift,
    LinkingPhase,
    LinkingStatus,
    WhatsAppInstanceStatus,
)
from whatsapp_operator.decide.conditions import Facts, Failure, desired_conditions, merge_conditions
from whatsapp_operator.decide.events import Event, transition_events
from whatsapp_operator.decide.plan import SettingsOutcome, SettingsPlan
from whatsapp_operator.wire.models import InstanceState

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
DRIFT = (FieldDrift(field="webhookUrl", desired="https://a/", observed="", since="x"),)
IN_SYNC = SettingsPlan(SettingsOutcome.IN_SYNC)


def status(
    state: InstanceState | None = InstanceState.AUTHORIZED,
    settings: SettingsOutcome = SettingsOutcome.IN_SYNC,
    *,
    failure: Failure | None = None,
    linking: LinkingPhase | None = None,
    state_text: str | None = None,
) -> WhatsAppInstanceStatus:
    facts = Facts(
        generation=1,
        state=state,
        raw_state=state.value if state else None,
        settings=settings,
        differing=("webhookUrl",) if settings is not SettingsOutcome.IN_SYNC else (),
        failure=failure,
    )
    return WhatsAppInstanceStatus(
        observed_generation=1,
        conditions=merge_conditions([], desired_conditions(facts), 1, T0),
        state=state_text if state_text is not None else (state.value if state else ""),
        linking=LinkingStatus(phase=linking, message=f"linking {linking}") if linking else None,
        # The reconciler keeps the account while a linked phone is (or may still be) there.
        account=Account(phone="79001234567") if state is InstanceState.AUTHORIZED else None,
    )


def plan(outcome: SettingsOutcome) -> SettingsPlan:
    return SettingsPlan(outcome, differing=("webhook_url",), drift=DRIFT)


def reasons(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.type, e.reason) for e in events]


TOKEN_REJECTED = Failure("TokenRejected", "GREEN-API rejected the token (401)", permanent=True)
TRANSIENT = Failure("GreenApiUnavailable", "connection refused", permanent=False)

STEADY_STATES: list[Any] = [
    pytest.param(status(), IN_SYNC, id="authorized-in-sync"),
    pytest.param(status(InstanceState.NOT_AUTHORIZED), IN_SYNC, id="not-authorized"),
    pytest.param(status(InstanceState.BLOCKED), IN_SYNC, id="blocked"),
    pytest.param(status(InstanceState.YELLOW_CARD), IN_SYNC, id="yellow-card"),
    pytest.param(
        status(None, SettingsOutcome.UNOBSERVED, failure=TOKEN_REJECTED),
        SettingsPlan(SettingsOutcome.UNOBSERVED),
        id="stalled-token-rejected",
    ),
    pytest.param(
        status(None, SettingsOutcome.UNOBSERVED, failure=TRANSIENT),
        SettingsPlan(SettingsOutcome.UNOBSERVED),
        id="retrying",
    ),
    pytest.param(
        status(settings=SettingsOutcome.WAITING_TO_SETTLE),
        plan(SettingsOutcome.WAITING_TO_SETTLE),
        id="waiting-to-settle",
    ),
    pytest.param(
        status(settings=SettingsOutcome.NOT_APPLIED),
        plan(SettingsOutcome.NOT_APPLIED),
        id="not-applied",
    ),
    pytest.param(
        status(settings=SettingsOutcome.OBSERVED_DRIFT),
        plan(SettingsOutcome.OBSERVED_DRIFT),
        id="observed-drift",
    ),
    pytest.param(
        status(InstanceState.NOT_AUTHORIZED, linking=LinkingPhase.CODE_READY),
        IN_SYNC,
        id="code-ready",
    ),
    pytest.param(
        status(InstanceState.NOT_AUTHORIZED, linking=LinkingPhase.EXPIRED),
        IN_SYNC,
        id="linking-expired",
    ),
]


@pytest.mark.parametrize(("steady", "steady_plan"), STEADY_STATES)
def test_no_events_in_steady_state(
    steady: WhatsAppInstanceStatus, steady_plan: SettingsPlan
) -> None:
    assert transition_events(steady, steady, steady_plan) == []


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (SettingsOutcome.APPLY, ("Normal", "SettingsApplied")),
        (SettingsOutcome.CORRECT_DRIFT, ("Warning", "DriftCorrected")),
        (SettingsOutcome.REAPPLY, ("Warning", "SettingsReapplied")),
    ],
    ids=["apply", "correct-drift", "reapply"],
)
def test_writes_are_announced(outcome: SettingsOutcome, expected: tuple[str, str]) -> None:
    current = status(settings=outcome)
    events = transition_events(current, current, plan(outcome))
    assert reasons(events) == [expected]
    assert "webhookUrl" in events[0].message


def test_no_write_event_without_a_write() -> None:
    for outcome in SettingsOutcome:
        if outcome.writes:
            continue
        current = status(settings=outcome)
        events = transition_events(current, current, plan(outcome))
        assert events == [], outcome


def test_authorized_when_it_flips_true() -> None:
    before = status(InstanceState.NOT_AUTHORIZED)
    events = transition_events(before, status(InstanceState.AUTHORIZED), IN_SYNC)
    assert reasons(events) == [("Normal", "Authorized")]


def test_authorization_lost_when_it_flips_from_true() -> None:
    after = status(InstanceState.NOT_AUTHORIZED)
    events = transition_events(status(), after, IN_SYNC)
    assert reasons(events) == [("Warning", "AuthorizationLost")]
    assert "notAuthorized" in events[0].message


def test_account_blocked() -> None:
    events = transition_events(status(), status(InstanceState.BLOCKED), IN_SYNC)
    # Stalled=True Blocked is announced once, as AccountBlocked (not twice).
    assert reasons(events) == [("Warning", "AccountBlocked")]


def test_yellow_card() -> None:
    events = transition_events(status(), status(InstanceState.YELLOW_CARD), IN_SYNC)
    assert reasons(events) == [("Warning", "YellowCard")]


def test_stalled_reason_event_once() -> None:
    stalled = status(
        None, SettingsOutcome.UNOBSERVED, failure=TOKEN_REJECTED, state_text="authorized"
    )
    unobserved = SettingsPlan(SettingsOutcome.UNOBSERVED)
    healthy = status(InstanceState.NOT_AUTHORIZED)
    first = transition_events(healthy, stalled, unobserved)
    assert ("Warning", "TokenRejected") in reasons(first)
    assert TOKEN_REJECTED.message in [e.message for e in first]
    assert transition_events(stalled, stalled, unobserved) == []


def test_stalled_reason_change_is_announced() -> None:
    other = Failure("InstanceRejected", "GREEN-API rejected instance 1 (403)", permanent=True)
    unobserved = SettingsPlan(SettingsOutcome.UNOBSERVED)
    before = status(None, SettingsOutcome.UNOBSERVED, failure=TOKEN_REJECTED)
    after = status(None, SettingsOutcome.UNOBSERVED, failure=other)
    assert reasons(transition_events(before, after, unobserved)) == [
        ("Warning", "InstanceRejected")
    ]


def test_recovered_when_stalled_clears() -> None:
    stalled = status(
        InstanceState.NOT_AUTHORIZED, SettingsOutcome.UNOBSERVED, failure=TOKEN_REJECTED
    )
    events = transition_events(stalled, status(InstanceState.NOT_AUTHORIZED), IN_SYNC)
    assert ("Normal", "Recovered") in reasons(events)


def test_settings_not_applied_is_one_warning() -> None:
    before = status(settings=SettingsOutcome.WAITING_TO_SETTLE)
    after = status(settings=SettingsOutcome.NOT_APPLIED)
    events = transition_events(before, after, plan(SettingsOutcome.NOT_APPLIED))
    assert reasons(events) == [("Warning", "SettingsNotApplied")]


def test_drift_detected_under_observe() -> None:
    events = transition_events(
        status(),
        status(settings=SettingsOutcome.OBSERVED_DRIFT),
        plan(SettingsOutcome.OBSERVED_DRIFT),
    )
    assert reasons(events) == [("Warning", "DriftDetected")]


def test_our_own_apply_confirmed_is_quiet() -> None:
    """SettingsApplied told of the write; its confirmation is the condition, not a 2nd Event."""
    before = status(settings=SettingsOutcome.WAITING_TO_SETTLE)
    events = transition_events(before, status(), IN_SYNC)
    assert reasons(events) == []


def test_settings_in_sync_after_a_problem() -> None:
    for outcome in (SettingsOutcome.REAPPLY, SettingsOutcome.CORRECT_DRIFT):
        before = status(settings=outcome)
        events = transition_events(before, status(), IN_SYNC)
        assert reasons(events) == [("Normal", "SettingsInSync")], outcome


def test_first_visit_in_sync_is_quiet() -> None:
    """An account found linked and in sync: status says so; no Event per adopted object."""
    events = transition_events(WhatsAppInstanceStatus(), status(), IN_SYNC)
    assert reasons(events) == []


def test_linking_window_expired() -> None:
    before = status(InstanceState.NOT_AUTHORIZED, linking=LinkingPhase.CODE_READY)
    after = status(InstanceState.NOT_AUTHORIZED, linking=LinkingPhase.EXPIRED)
    events = transition_events(before, after, IN_SYNC)
    assert reasons(events) == [("Normal", "LinkingWindowExpired")]


def test_linking_code_ready() -> None:
    before = status(InstanceState.NOT_AUTHORIZED, linking=LinkingPhase.WAITING)
    after = status(InstanceState.NOT_AUTHORIZED, linking=LinkingPhase.CODE_READY)
    assert reasons(transition_events(before, after, IN_SYNC)) == [("Normal", "LinkingCodeReady")]


def test_transient_state_read_failure_is_not_authorization_lost() -> None:
    """A network blip while authorized must not claim that the phone was lost."""
    # The reconciler keeps the last known account through a state it could not read.
    blip = status(
        None, SettingsOutcome.UNOBSERVED, failure=TRANSIENT, state_text="authorized"
    ).model_copy(update={"account": Account(phone="79001234567")})
    unobserved = SettingsPlan(SettingsOutcome.UNOBSERVED)
    lost = transition_events(status(), blip, unobserved)
    back = transition_events(blip, status(), IN_SYNC)
    assert "AuthorizationLost" not in [e.reason for e in lost]
    assert "Authorized" not in [e.reason for e in back]


statuses = st.builds(
    status,
    st.one_of(st.none(), st.sampled_from(list(InstanceState))),
    st.sampled_from(list(SettingsOutcome)),
    failure=st.sampled_from([None, TOKEN_REJECTED, TRANSIENT]),
    linking=st.one_of(st.none(), st.sampled_from(list(LinkingPhase))),
)


@given(current=statuses)
def test_same_status_never_emits_more_than_the_write_event(current: WhatsAppInstanceStatus) -> None:
    for outcome in SettingsOutcome:
        events = transition_events(current, current, plan(outcome))
        assert len(events) == (1 if outcome.writes else 0)
