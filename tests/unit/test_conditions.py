"""The status contract: conditions per situation, and what kstatus (Flux) makes of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_operator.api.resource import Condition
from whatsapp_operator.decide.conditions import (
    FALSE,
    TRUE,
    UNKNOWN,
    Facts,
    Failure,
    desired_conditions,
    merge_conditions,
)
from whatsapp_operator.decide.plan import SettingsOutcome
from whatsapp_operator.timestamps import format_time
from whatsapp_operator.wire.models import InstanceState

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
FIVE_TYPES = ["Ready", "Synced", "Authorized", "Reconciling", "Stalled"]


def kstatus(conditions: list[Condition], generation: int, observed_generation: int | None) -> str:
    """kstatus `Compute` for a custom resource (operator-conventions.md §2.1, steps 2, 3, 5, 6)."""
    if observed_generation is not None and observed_generation != generation:
        return "InProgress"
    for condition in conditions:  # list order: the first abnormal-true match wins
        if condition.type == "Reconciling" and condition.status == TRUE:
            return "InProgress"
        if condition.type == "Stalled" and condition.status == TRUE:
            return "Failed"
    ready = next((c for c in conditions if c.type == "Ready"), None)
    if ready is None:
        return "Current"
    return "Current" if ready.status == TRUE else "InProgress"


def conditions_for(facts: Facts) -> list[Condition]:
    return merge_conditions([], desired_conditions(facts), facts.generation, T0)


def by_type(conditions: list[Condition]) -> dict[str, Condition]:
    return {c.type: c for c in conditions}


TRANSIENT = Failure("GreenApiUnavailable", "getStateInstance: connection refused", permanent=False)
TOKEN_REJECTED = Failure(
    "TokenRejected", "GREEN-API rejected the token from Secret ns/tok key k (401)", permanent=True
)


@dataclass(frozen=True)
class Row:
    facts: Facts
    # type -> (status, reason or None for "any")
    expect: dict[str, tuple[str, str | None]]
    kstatus: str


def facts(
    state: InstanceState | None = InstanceState.AUTHORIZED,
    settings: SettingsOutcome = SettingsOutcome.IN_SYNC,
    **kw: Any,
) -> Facts:
    return Facts(
        generation=3, state=state, raw_state=state.value if state else None, settings=settings, **kw
    )


CONTRACT: list[Any] = [
    pytest.param(
        Row(
            facts(phone="79001234567"),
            {
                "Ready": (TRUE, "Ready"),
                "Synced": (TRUE, "InSync"),
                "Authorized": (TRUE, "Authorized"),
                "Reconciling": (FALSE, "Converged"),
                "Stalled": (FALSE, "NotStalled"),
            },
            "Current",
        ),
        id="authorized-in-sync",
    ),
    pytest.param(
        Row(
            facts(InstanceState.NOT_AUTHORIZED),
            {
                "Ready": (TRUE, "Ready"),
                "Synced": (TRUE, "InSync"),
                "Authorized": (FALSE, "NotAuthorized"),
                "Reconciling": (FALSE, None),
                "Stalled": (FALSE, None),
            },
            "Current",
        ),
        id="not-authorized-in-sync-not-required",
    ),
    pytest.param(
        Row(
            facts(InstanceState.NOT_AUTHORIZED, require_authorization=True),
            {
                "Ready": (FALSE, "AwaitingAuthorization"),
                "Synced": (TRUE, "InSync"),
                "Authorized": (FALSE, "NotAuthorized"),
                "Reconciling": (FALSE, None),
                "Stalled": (FALSE, None),
            },
            "InProgress",
        ),
        id="not-authorized-in-sync-required",
    ),
    pytest.param(
        Row(
            facts(InstanceState.BLOCKED),
            {
                "Ready": (FALSE, "Blocked"),
                "Authorized": (FALSE, "Blocked"),
                "Stalled": (TRUE, "Blocked"),
                "Reconciling": (FALSE, None),
            },
            "Failed",
        ),
        id="blocked",
    ),
    pytest.param(
        Row(
            facts(InstanceState.YELLOW_CARD),
            {
                "Ready": (FALSE, "YellowCard"),
                "Authorized": (FALSE, "YellowCard"),
                "Stalled": (TRUE, "YellowCard"),
                "Reconciling": (FALSE, None),
            },
            "Failed",
        ),
        id="yellow-card",
    ),
    pytest.param(
        Row(
            facts(InstanceState.STARTING, SettingsOutcome.UNOBSERVED),
            {
                "Ready": (FALSE, None),
                "Synced": (UNKNOWN, "SettingsUnknown"),
                "Authorized": (UNKNOWN, "Starting"),
                "Reconciling": (TRUE, "Starting"),
                "Stalled": (FALSE, None),
            },
            "InProgress",
        ),
        id="starting",
    ),
    pytest.param(
        Row(
            facts(InstanceState.CREATING, SettingsOutcome.UNOBSERVED),
            {
                "Authorized": (UNKNOWN, "Creating"),
                "Reconciling": (TRUE, "Creating"),
                "Stalled": (FALSE, None),
            },
            "InProgress",
        ),
        id="creating",
    ),
    pytest.param(
        Row(
            facts(InstanceState.SLEEP_MODE),
            {
                "Ready": (TRUE, "Ready"),
                "Authorized": (UNKNOWN, "SleepMode"),
                "Reconciling": (FALSE, None),
                "Stalled": (FALSE, None),
            },
            "Current",
        ),
        id="sleep-mode-in-sync",
    ),
    pytest.param(
        Row(
            facts(settings=SettingsOutcome.APPLY, differing=("webhookUrl",)),
            {
                "Ready": (FALSE, "ApplyingSettings"),
                "Synced": (FALSE, "ApplyingSettings"),
                "Reconciling": (TRUE, "ApplyingSettings"),
                "Stalled": (FALSE, None),
            },
            "InProgress",
        ),
        id="applying-settings",
    ),
    pytest.param(
        Row(
            facts(settings=SettingsOutcome.WAITING_TO_SETTLE, differing=("webhookUrl",)),
            {
                "Ready": (FALSE, "ApplyingSettings"),
                "Synced": (FALSE, "ApplyingSettings"),
                "Reconciling": (TRUE, "ApplyingSettings"),
            },
            "InProgress",
        ),
        id="waiting-to-settle",
    ),
    pytest.param(
        Row(
            facts(settings=SettingsOutcome.CORRECT_DRIFT, differing=("webhookUrl",)),
            {
                "Synced": (FALSE, "CorrectingDrift"),
                "Reconciling": (TRUE, "CorrectingDrift"),
                "Stalled": (FALSE, None),
            },
            "InProgress",
        ),
        id="correcting-drift",
    ),
    pytest.param(
        Row(
            facts(None, SettingsOutcome.UNOBSERVED, failure=TRANSIENT),
            {
                "Ready": (FALSE, "GreenApiUnavailable"),
                "Synced": (FALSE, "GreenApiUnavailable"),
                "Authorized": (UNKNOWN, "StateUnknown"),
                "Reconciling": (TRUE, "RetryingAfterError"),
                "Stalled": (FALSE, "NotStalled"),
            },
            "InProgress",
        ),
        id="transient-failure",
    ),
    pytest.param(
        Row(
            facts(None, SettingsOutcome.UNOBSERVED, failure=TOKEN_REJECTED),
            {
                "Ready": (FALSE, "TokenRejected"),
                "Synced": (FALSE, "TokenRejected"),
                "Authorized": (UNKNOWN, "StateUnknown"),
                "Reconciling": (FALSE, None),
                "Stalled": (TRUE, "TokenRejected"),
            },
            "Failed",
        ),
        id="permanent-failure-token-rejected",
    ),
    pytest.param(
        Row(
            facts(settings=SettingsOutcome.OBSERVED_DRIFT, differing=("webhookUrl",)),
            {
                "Ready": (TRUE, "Observing"),
                "Synced": (FALSE, "Drifted"),
                "Reconciling": (FALSE, None),
                "Stalled": (FALSE, None),
            },
            "Current",
        ),
        id="observe-policy-drift",
    ),
    pytest.param(
        Row(
            facts(settings=SettingsOutcome.NOT_APPLIED, differing=("webhookUrl",)),
            {
                "Ready": (FALSE, "SettingsNotApplied"),
                "Synced": (FALSE, "SettingsNotApplied"),
                "Reconciling": (FALSE, None),
                "Stalled": (TRUE, "SettingsNotApplied"),
            },
            "Failed",
        ),
        id="settings-not-applied",
    ),
    pytest.param(
        Row(
            facts(settings=SettingsOutcome.PAUSED, differing=("webhookUrl",)),
            {
                "Synced": (FALSE, "ReconcilePaused"),
                "Reconciling": (FALSE, None),
                "Stalled": (FALSE, None),
            },
            "InProgress",
        ),
        id="paused-with-drift",
    ),
]


@pytest.mark.parametrize("row", CONTRACT)
def test_status_contract(row: Row) -> None:
    conditions = conditions_for(row.facts)
    found = by_type(conditions)
    for kind, (status, reason) in row.expect.items():
        assert found[kind].status == status, kind
        if reason is not None:
            assert found[kind].reason == reason, kind
    assert kstatus(conditions, row.facts.generation, row.facts.generation) == row.kstatus


def test_phone_shows_in_authorized_and_ready_messages() -> None:
    found = by_type(conditions_for(facts(phone="79001234567")))
    assert found["Authorized"].message == "Linked to +79001234567"
    assert found["Ready"].message == "Settings in sync; linked to +79001234567"


def test_linking_hint_shows_in_authorized_message() -> None:
    hint = "scan the QR code in Secret x-linking (key qr.png) with WhatsApp > Linked devices"
    found = by_type(conditions_for(facts(InstanceState.NOT_AUTHORIZED, linking_hint=hint)))
    assert found["Authorized"].message == f"No phone is linked: {hint}"


def test_unknown_state_message_names_the_raw_state() -> None:
    found = by_type(
        conditions_for(
            Facts(
                generation=1,
                state=InstanceState.UNKNOWN,
                raw_state="suspended",
                settings=SettingsOutcome.IN_SYNC,
            )
        )
    )
    assert found["Authorized"].status == UNKNOWN
    assert "'suspended'" in found["Authorized"].message


def test_differing_fields_are_listed_and_capped() -> None:
    names = tuple(f"field{i}" for i in range(8))
    found = by_type(conditions_for(facts(settings=SettingsOutcome.APPLY, differing=names)))
    assert found["Synced"].message == (
        "Sent field0, field1, field2, field3, field4 and 3 more to GREEN-API"
    )


def test_stale_generation_is_in_progress_even_when_ready() -> None:
    conditions = conditions_for(facts())
    assert kstatus(conditions, generation=4, observed_generation=3) == "InProgress"


# ------------------------------------------------------------------ merge_conditions


def test_merge_sets_all_five_in_a_stable_order_with_observed_generation() -> None:
    merged = merge_conditions([], desired_conditions(facts()), 7, T0)
    assert [c.type for c in merged] == FIVE_TYPES
    assert all(c.observed_generation == 7 for c in merged)
    assert all(c.last_transition_time == format_time(T0) for c in merged)


def test_merge_keeps_transition_time_unless_status_flips() -> None:
    first = merge_conditions([], desired_conditions(facts()), 1, T0)
    later = T0 + timedelta(minutes=10)
    # Same statuses, different reasons/messages for Synced: no flip anywhere but Synced/Ready.
    applying = desired_conditions(facts(settings=SettingsOutcome.APPLY, differing=("a",)))
    second = by_type(merge_conditions(first, applying, 2, later))
    assert second["Authorized"].last_transition_time == format_time(T0)
    assert second["Stalled"].last_transition_time == format_time(T0)
    assert second["Synced"].last_transition_time == format_time(later)  # True -> False
    assert second["Ready"].last_transition_time == format_time(later)  # True -> False
    assert second["Reconciling"].last_transition_time == format_time(later)  # False -> True
    assert all(c.observed_generation == 2 for c in second.values())

    # A reason change alone (ApplyingSettings -> CorrectingDrift, both False) keeps the time.
    even_later = later + timedelta(minutes=10)
    correcting = desired_conditions(facts(settings=SettingsOutcome.CORRECT_DRIFT, differing=("a",)))
    third = by_type(merge_conditions(list(second.values()), correcting, 2, even_later))
    assert third["Synced"].reason == "CorrectingDrift"
    assert third["Synced"].last_transition_time == format_time(later)


def test_merge_is_idempotent() -> None:
    wanted = desired_conditions(facts())
    first = merge_conditions([], wanted, 1, T0)
    assert merge_conditions(first, wanted, 1, T0 + timedelta(hours=1)) == first


def test_merge_ignores_unrelated_previous_conditions() -> None:
    stray = Condition(
        type="Foo", status=TRUE, reason="X", last_transition_time="2020-01-01T00:00:00Z"
    )
    merged = merge_conditions([stray], desired_conditions(facts()), 1, T0)
    assert [c.type for c in merged] == FIVE_TYPES


states = st.one_of(st.none(), st.sampled_from(list(InstanceState)))
failures = st.one_of(
    st.none(),
    st.builds(Failure, st.sampled_from(["A", "B"]), st.just("m"), st.booleans()),
)


@given(
    state=states,
    settings=st.sampled_from(list(SettingsOutcome)),
    failure=failures,
    require=st.booleans(),
)
def test_contract_invariants(
    state: InstanceState | None,
    settings: SettingsOutcome,
    failure: Failure | None,
    require: bool,
) -> None:
    f = Facts(
        generation=2,
        state=state,
        raw_state=None,
        settings=settings,
        differing=("x",),
        failure=failure,
        require_authorization=require,
    )
    found = by_type(conditions_for(f))
    assert list(found) == FIVE_TYPES
    for condition in found.values():
        assert condition.status in (TRUE, FALSE, UNKNOWN)
        assert condition.reason
        assert condition.observed_generation == 2
    if found["Stalled"].status == TRUE:
        assert found["Ready"].status == FALSE
    if found["Ready"].status == TRUE:
        assert found["Stalled"].status != TRUE
        assert failure is None
    if failure is not None and failure.permanent:
        assert found["Stalled"].status == TRUE
    if failure is not None and not failure.permanent and found["Stalled"].status != TRUE:
        assert found["Reconciling"].status == TRUE
    # kstatus reads Reconciling first: a stalled object must never look in progress.
    if found["Stalled"].status == TRUE:
        assert found["Reconciling"].status == FALSE
