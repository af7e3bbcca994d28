"""plan_settings: the rules that decide whether setSettings is called (pure, table-driven)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from whatsapp_operator.api.resource import FieldDrift, LastApplied, ManagementPolicy
from whatsapp_operator.decide.plan import (
    MAX_APPLY_ATTEMPTS,
    REDACTED,
    DesiredSettings,
    SettingsOutcome,
    SettingsPlan,
    plan_settings,
    write_failed,
    write_unconfirmed,
)
from whatsapp_operator.timestamps import format_time
from whatsapp_operator.wire.models import InstanceState, Settings

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
SETTLE = timedelta(minutes=5)
TOKEN = "whk-very-secret-token-0123456789"

# What GREEN-API reports (wire form, as getSettings answers).
OBSERVED_WIRE: dict[str, Any] = {
    "wid": "79001234567@c.us",
    "webhookUrl": "",
    "webhookUrlToken": "",
    "delaySendMessagesMilliseconds": 3000,
    "markIncomingMessagesReaded": "no",
    "incomingWebhook": "no",
    "outgoingWebhook": "yes",
    "stateWebhook": "no",
    "autoTyping": 0,
}
OBSERVED = Settings.model_validate(OBSERVED_WIRE)

DESIRED_VALUES: dict[str, Any] = {
    "webhook_url": "https://hooks.example.com/wa",
    "incoming_webhook": True,
    "outgoing_webhook": True,  # already equal: must not be sent
    "delay_send_messages_milliseconds": 3000,  # already equal: must not be sent
}
DESIRED = DesiredSettings(DESIRED_VALUES)
DIFFERING = ("incoming_webhook", "webhook_url")


def observed_with(**changes: Any) -> Settings:
    return Settings.model_validate({**OBSERVED_WIRE, **changes})


IN_SYNC_OBSERVED = observed_with(webhookUrl="https://hooks.example.com/wa", incomingWebhook="yes")


def applied(
    *,
    at: datetime = T0,
    attempts: int = 1,
    confirmed: bool = False,
    desired: DesiredSettings = DESIRED,
) -> LastApplied:
    return LastApplied(
        time=format_time(at),
        fields=["incomingWebhook", "webhookUrl"],
        hash=desired.hash,
        attempts=attempts,
        confirmed=confirmed,
    )


@dataclass(frozen=True)
class Case:
    observed: Settings | None
    now: datetime = T0
    last_applied: LastApplied | None = None
    desired: DesiredSettings = DESIRED
    state: InstanceState = InstanceState.AUTHORIZED
    policy: ManagementPolicy = ManagementPolicy.MANAGE
    paused: bool = False
    previous_drift: tuple[FieldDrift, ...] = field(default_factory=tuple)


def run(case: Case) -> SettingsPlan:
    return plan_settings(
        desired=case.desired,
        observed=case.observed,
        state=case.state,
        last_applied=case.last_applied,
        previous_drift=case.previous_drift,
        policy=case.policy,
        paused=case.paused,
        settle=SETTLE,
        now=case.now,
    )


# (case, expected outcome, expected write on the wire or None)
TABLE: list[Any] = [
    pytest.param(Case(IN_SYNC_OBSERVED), SettingsOutcome.IN_SYNC, None, id="in-sync-no-write"),
    pytest.param(
        Case(OBSERVED),
        SettingsOutcome.APPLY,
        {"webhookUrl": "https://hooks.example.com/wa", "incomingWebhook": "yes"},
        id="first-apply-only-differing-keys",
    ),
    pytest.param(
        Case(OBSERVED, now=T0 + timedelta(minutes=2), last_applied=applied()),
        SettingsOutcome.WAITING_TO_SETTLE,
        None,
        id="inside-settle-window-waits",
    ),
    pytest.param(
        Case(OBSERVED, now=T0 + SETTLE - timedelta(seconds=1), last_applied=applied()),
        SettingsOutcome.WAITING_TO_SETTLE,
        None,
        id="last-second-of-settle-window-waits",
    ),
    pytest.param(
        Case(OBSERVED, now=T0 + SETTLE, last_applied=applied()),
        SettingsOutcome.REAPPLY,
        {"webhookUrl": "https://hooks.example.com/wa", "incomingWebhook": "yes"},
        id="after-window-reapply-once",
    ),
    pytest.param(
        Case(
            OBSERVED,
            now=T0 + 2 * SETTLE,
            last_applied=applied(at=T0 + SETTLE, attempts=MAX_APPLY_ATTEMPTS),
        ),
        SettingsOutcome.NOT_APPLIED,
        None,
        id="after-reapply-window-gives-up",
    ),
    pytest.param(
        Case(
            OBSERVED,
            now=T0 + timedelta(days=3),
            last_applied=applied(at=T0 + SETTLE, attempts=MAX_APPLY_ATTEMPTS),
        ),
        SettingsOutcome.NOT_APPLIED,
        None,
        id="gave-up-stays-given-up",
    ),
    pytest.param(
        Case(OBSERVED, now=T0 + timedelta(hours=5), last_applied=applied(confirmed=True)),
        SettingsOutcome.CORRECT_DRIFT,
        {"webhookUrl": "https://hooks.example.com/wa", "incomingWebhook": "yes"},
        id="confirmed-sync-drifts-later-corrected",
    ),
    pytest.param(
        Case(OBSERVED, policy=ManagementPolicy.OBSERVE),
        SettingsOutcome.OBSERVED_DRIFT,
        None,
        id="observe-policy-never-writes",
    ),
    pytest.param(
        Case(OBSERVED, policy=ManagementPolicy.OBSERVE, last_applied=applied(confirmed=True)),
        SettingsOutcome.OBSERVED_DRIFT,
        None,
        id="observe-policy-does-not-correct-drift",
    ),
    pytest.param(Case(OBSERVED, paused=True), SettingsOutcome.PAUSED, None, id="paused-no-write"),
    pytest.param(
        Case(OBSERVED, state=InstanceState.STARTING),
        SettingsOutcome.WAITING_FOR_STATE,
        None,
        id="starting-waits-for-state",
    ),
    pytest.param(
        Case(OBSERVED, state=InstanceState.CREATING),
        SettingsOutcome.WAITING_FOR_STATE,
        None,
        id="creating-waits-for-state",
    ),
    pytest.param(
        Case(OBSERVED, state=InstanceState.UNKNOWN),
        SettingsOutcome.WAITING_FOR_STATE,
        None,
        id="unknown-state-waits-for-state",
    ),
    pytest.param(
        Case(OBSERVED, state=InstanceState.NOT_AUTHORIZED),
        SettingsOutcome.APPLY,
        {"webhookUrl": "https://hooks.example.com/wa", "incomingWebhook": "yes"},
        id="not-authorized-is-writable",
    ),
    pytest.param(Case(None), SettingsOutcome.UNOBSERVED, None, id="observed-none-unobserved"),
    pytest.param(
        Case(
            OBSERVED,
            now=T0 + timedelta(minutes=1),
            last_applied=applied(),
            desired=DesiredSettings({**DESIRED_VALUES, "webhook_url": "https://other.example/"}),
        ),
        SettingsOutcome.APPLY,
        {"webhookUrl": "https://other.example/", "incomingWebhook": "yes"},
        id="desired-change-while-waiting-applies-now",
    ),
    pytest.param(
        Case(
            OBSERVED,
            now=T0 + 3 * SETTLE,
            last_applied=applied(attempts=MAX_APPLY_ATTEMPTS),
            desired=DesiredSettings({**DESIRED_VALUES, "incoming_webhook": True}, version="7"),
        ),
        SettingsOutcome.APPLY,
        {"webhookUrl": "https://hooks.example.com/wa", "incomingWebhook": "yes"},
        id="new-secret-version-after-giving-up-applies-again",
    ),
]


@pytest.mark.parametrize(("case", "outcome", "wire"), TABLE)
def test_plan_table(case: Case, outcome: SettingsOutcome, wire: dict[str, Any] | None) -> None:
    plan = run(case)
    assert plan.outcome is outcome
    assert plan.outcome.writes == (wire is not None)
    if wire is None:
        assert plan.write is None
    else:
        assert plan.write is not None
        assert plan.write.to_wire() == wire


def test_first_apply_bookkeeping() -> None:
    plan = run(Case(OBSERVED))
    assert plan.differing == DIFFERING
    assert plan.settle_ends == T0 + SETTLE
    assert plan.last_applied == LastApplied(
        time=format_time(T0),
        fields=["incomingWebhook", "webhookUrl"],
        hash=DESIRED.hash,
        attempts=1,
        confirmed=False,
    )
    assert [d.field for d in plan.drift] == ["incomingWebhook", "webhookUrl"]
    assert [(d.desired, d.observed) for d in plan.drift] == [
        ("true", "false"),
        ("https://hooks.example.com/wa", ""),
    ]


def test_reapply_counts_the_attempt_and_restarts_the_window() -> None:
    now = T0 + SETTLE + timedelta(seconds=30)
    plan = run(Case(OBSERVED, now=now, last_applied=applied()))
    assert plan.outcome is SettingsOutcome.REAPPLY
    assert plan.last_applied is not None
    assert plan.last_applied.attempts == 2
    assert plan.last_applied.time == format_time(now)
    assert plan.settle_ends == now + SETTLE


def test_waiting_keeps_last_applied_and_reports_settle_end() -> None:
    last = applied()
    plan = run(Case(OBSERVED, now=T0 + timedelta(minutes=1), last_applied=last))
    assert plan.last_applied == last
    assert plan.settle_ends == T0 + SETTLE
    assert plan.differing == DIFFERING


def test_whole_story_writes_exactly_twice_then_stops() -> None:
    """Desired values GREEN-API never applies: one APPLY, one REAPPLY, then silence."""
    writes = 0
    last: LastApplied | None = None
    drift: tuple[FieldDrift, ...] = ()
    for minute in range(0, 60):
        plan = run(
            Case(
                OBSERVED,
                now=T0 + timedelta(minutes=minute),
                last_applied=last,
                previous_drift=drift,
            )
        )
        writes += plan.write is not None
        last, drift = plan.last_applied, plan.drift
    assert writes == MAX_APPLY_ATTEMPTS
    assert plan.outcome is SettingsOutcome.NOT_APPLIED


def test_in_sync_confirms_the_last_write() -> None:
    plan = run(Case(IN_SYNC_OBSERVED, now=T0 + timedelta(minutes=2), last_applied=applied()))
    assert plan.outcome is SettingsOutcome.IN_SYNC
    assert plan.last_applied is not None
    assert plan.last_applied.confirmed
    assert plan.drift == ()
    assert plan.write is None


def test_in_sync_does_not_confirm_a_write_of_other_values() -> None:
    other = DesiredSettings({**DESIRED_VALUES, "webhook_url": "https://old.example/"})
    last = applied(desired=other)
    plan = run(Case(IN_SYNC_OBSERVED, last_applied=last))
    assert plan.outcome is SettingsOutcome.IN_SYNC
    assert plan.last_applied == last


def test_unobserved_keeps_previous_bookkeeping() -> None:
    drift = (
        FieldDrift(field="webhookUrl", desired="a", observed="b", since="2025-01-01T00:00:00Z"),
    )
    last = applied()
    plan = run(Case(None, last_applied=last, previous_drift=drift))
    assert plan.last_applied == last
    assert plan.drift == drift


def test_drift_since_is_kept_for_a_field_already_drifting() -> None:
    earlier = "2025-02-01T08:00:00Z"
    previous = (
        FieldDrift(field="webhookUrl", desired="x", observed="", since=earlier),
        FieldDrift(field="stateWebhook", desired="true", observed="false", since=earlier),
    )
    now = T0 + timedelta(hours=1)
    plan = run(Case(OBSERVED, now=now, previous_drift=previous, policy=ManagementPolicy.OBSERVE))
    since = {d.field: d.since for d in plan.drift}
    assert since == {"webhookUrl": earlier, "incomingWebhook": format_time(now)}


SECRET_DESIRED = DesiredSettings({"webhook_url_token": SecretStr(TOKEN)}, version="42")


def test_secret_token_is_redacted_in_drift_and_repr() -> None:
    plan = run(Case(OBSERVED, desired=SECRET_DESIRED))
    assert plan.outcome is SettingsOutcome.APPLY
    assert [(d.field, d.desired, d.observed) for d in plan.drift] == [
        ("webhookUrlToken", REDACTED, "")
    ]
    assert plan.write is not None
    # The wire body carries the token (GREEN-API needs it) ...
    assert plan.write.to_wire() == {"webhookUrlToken": TOKEN}
    # ... but nothing printable does.
    assert TOKEN not in repr(plan)
    assert TOKEN not in str(plan)
    assert TOKEN not in repr(SECRET_DESIRED.hash)


def test_secret_token_observed_set_shows_redacted_both_sides() -> None:
    observed = observed_with(webhookUrlToken="an-older-token-value")
    plan = run(Case(observed, desired=SECRET_DESIRED, policy=ManagementPolicy.OBSERVE))
    assert [(d.desired, d.observed) for d in plan.drift] == [(REDACTED, REDACTED)]
    assert "an-older-token-value" not in repr(plan)


def test_secret_token_in_sync() -> None:
    observed = observed_with(webhookUrlToken=TOKEN)
    assert run(Case(observed, desired=SECRET_DESIRED)).outcome is SettingsOutcome.IN_SYNC


def test_hash_changes_with_values_and_version() -> None:
    base = DesiredSettings({"webhook_url": "https://a.example/"}, version="1")
    assert base.hash == DesiredSettings({"webhook_url": "https://a.example/"}, version="1").hash
    assert base.hash != DesiredSettings({"webhook_url": "https://b.example/"}, version="1").hash
    assert base.hash != DesiredSettings({"webhook_url": "https://a.example/"}, version="2").hash
    assert base.hash != DesiredSettings({"incoming_webhook": True}, version="1").hash
    assert base.hash.startswith("sha256:")


def test_hash_distinguishes_a_secret_being_managed() -> None:
    plain = DesiredSettings({"webhook_url": "u"}, version="1")
    with_secret = DesiredSettings(
        {"webhook_url": "u", "webhook_url_token": SecretStr("t0ken-value")}, version="1"
    )
    assert plain.hash != with_secret.hash


json_scalars = st.one_of(st.booleans(), st.integers(0, 600_000), st.text(max_size=30))


@given(
    token_a=st.text(min_size=1, max_size=64),
    token_b=st.text(min_size=1, max_size=64),
    version=st.text(max_size=12),
    url=st.text(max_size=40),
)
def test_hash_never_contains_the_secret_and_version_stands_for_it(
    token_a: str, token_b: str, version: str, url: str
) -> None:
    a = DesiredSettings({"webhook_url": url, "webhook_url_token": SecretStr(token_a)}, version)
    b = DesiredSettings({"webhook_url": url, "webhook_url_token": SecretStr(token_b)}, version)
    # By design: the Secret's resourceVersion stands for its value, so tokens do not matter.
    assert a.hash == b.hash
    digest = a.hash.removeprefix("sha256:")
    if not set(token_a) <= set("0123456789abcdef"):  # a hex token could occur by chance
        assert token_a not in digest


@given(
    values=st.dictionaries(
        st.sampled_from(["webhook_url", "incoming_webhook", "auto_typing", "outgoing_webhook"]),
        json_scalars,
    ),
    v1=st.text(max_size=8),
    v2=st.text(max_size=8),
)
def test_hash_is_deterministic_and_version_sensitive(
    values: dict[str, Any], v1: str, v2: str
) -> None:
    assert DesiredSettings(dict(values), v1).hash == DesiredSettings(dict(values), v1).hash
    if v1 != v2:
        assert DesiredSettings(values, v1).hash != DesiredSettings(values, v2).hash


@given(
    incoming=st.booleans(),
    outgoing=st.booleans(),
    typing=st.integers(0, 4),
    observed_incoming=st.booleans(),
    observed_outgoing=st.booleans(),
    observed_typing=st.integers(0, 4),
)
def test_first_write_is_exactly_the_differing_keys(
    incoming: bool,
    outgoing: bool,
    typing: int,
    observed_incoming: bool,
    observed_outgoing: bool,
    observed_typing: int,
) -> None:
    desired = DesiredSettings(
        {"incoming_webhook": incoming, "outgoing_webhook": outgoing, "auto_typing": typing}
    )
    observed = Settings(
        incoming_webhook=observed_incoming,
        outgoing_webhook=observed_outgoing,
        auto_typing=observed_typing,
    )
    plan = run(Case(observed, desired=desired))
    expected = {
        name
        for name, want, have in (
            ("incomingWebhook", incoming, observed_incoming),
            ("outgoingWebhook", outgoing, observed_outgoing),
            ("autoTyping", typing, observed_typing),
        )
        if want != have
    }
    if not expected:
        assert plan.outcome is SettingsOutcome.IN_SYNC
        assert plan.write is None
    else:
        assert plan.outcome is SettingsOutcome.APPLY
        assert plan.write is not None
        assert set(plan.write.to_wire()) == expected


# ------------------------------------------------------------------ the re-send budget


@given(st.lists(st.sampled_from(["answered", "unanswered", "failed"]), min_size=8, max_size=8))
def test_no_mix_of_unknown_outcomes_and_dropped_settings_sends_a_third_setsettings(
    fates: list[str],
) -> None:
    # Each write either is answered and dropped by GREEN-API, gets no answer (a 5xx or a
    # timeout: it may have rebooted the instance), or is refused outright (429: not
    # sent). Whatever the mix, at most two writes of one desired state reach GREEN-API,
    # and then the drift is reported as for dropped settings.
    last: LastApplied | None = None
    now = T0
    sent = 0
    for fate in fates:
        plan = plan_settings(
            desired=DESIRED,
            observed=OBSERVED,
            state=InstanceState.AUTHORIZED,
            last_applied=last,
            previous_drift=(),
            policy=ManagementPolicy.MANAGE,
            paused=False,
            settle=SETTLE,
            now=now,
        )
        if plan.write is not None:
            if fate == "failed":
                plan = write_failed(plan, last, rejected=False)
            else:
                sent += 1
                if fate == "unanswered":
                    plan = write_unconfirmed(plan)
        last = plan.last_applied
        now += SETTLE + timedelta(seconds=1)
    assert sent <= MAX_APPLY_ATTEMPTS == 2
    if sent == MAX_APPLY_ATTEMPTS:
        final = plan_settings(
            desired=DESIRED,
            observed=OBSERVED,
            state=InstanceState.AUTHORIZED,
            last_applied=last,
            previous_drift=(),
            policy=ManagementPolicy.MANAGE,
            paused=False,
            settle=SETTLE,
            now=now,
        )
        assert final.write is None
        assert final.outcome is SettingsOutcome.NOT_APPLIED


def test_two_unanswered_writes_spend_the_budget() -> None:
    first = write_unconfirmed(
        plan_settings(
            desired=DESIRED,
            observed=OBSERVED,
            state=InstanceState.AUTHORIZED,
            last_applied=None,
            previous_drift=(),
            policy=ManagementPolicy.MANAGE,
            paused=False,
            settle=SETTLE,
            now=T0,
        )
    )
    later = T0 + SETTLE + timedelta(seconds=1)
    second = plan_settings(
        desired=DESIRED,
        observed=OBSERVED,
        state=InstanceState.AUTHORIZED,
        last_applied=first.last_applied,
        previous_drift=(),
        policy=ManagementPolicy.MANAGE,
        paused=False,
        settle=SETTLE,
        now=later,
    )
    assert second.outcome is SettingsOutcome.REAPPLY
    assert second.write is not None
    third = plan_settings(
        desired=DESIRED,
        observed=OBSERVED,
        state=InstanceState.AUTHORIZED,
        last_applied=write_unconfirmed(second).last_applied,
        previous_drift=(),
        policy=ManagementPolicy.MANAGE,
        paused=False,
        settle=SETTLE,
        now=later + SETTLE + timedelta(seconds=1),
    )
    assert third.write is None
    assert third.outcome is SettingsOutcome.NOT_APPLIED
