"""Pure rollout decisions and profile layering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from whatsapp_operator.api.profile import (
    RECOMMENDED,
    SettingsProfileName,
    WhatsAppSettingsProfileSpec,
)
from whatsapp_operator.api.settings import SettingsSpec
from whatsapp_operator.api.status import ProfileRollout
from whatsapp_operator.decide import rollout
from whatsapp_operator.decide.plan import SettingsOutcome
from whatsapp_operator.decide.profiles import effective_settings, profile_revision
from whatsapp_operator.decide.rollout import Member, advance, may_start, progress, slots
from whatsapp_operator.run.rollout_gate import RolloutGate
from whatsapp_operator.wire.models import InstanceState

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DEADLINE = timedelta(minutes=10)


def test_recommended_is_the_pages_parameters() -> None:
    wire = RECOMMENDED.model_dump(by_alias=True, exclude_none=True)
    assert wire == {
        "delaySendMessagesMilliseconds": 3000,
        "markIncomingMessagesReaded": False,
        "markIncomingMessagesReadedOnReply": True,
        "outgoingWebhook": True,
        "outgoingMessageWebhook": True,
        "outgoingAPIMessageWebhook": False,
        "incomingWebhook": True,
        "deviceWebhook": False,
        "stateWebhook": True,
        "keepOnlineStatus": True,
        "pollMessageWebhook": True,
        "incomingBlockWebhook": True,
    }


def test_precedence_built_in_then_profile_then_own() -> None:
    shared = WhatsAppSettingsProfileSpec.model_validate(
        {"settings": {"delaySendMessagesMilliseconds": 5000, "incomingCallWebhook": True}}
    )
    own = SettingsSpec.model_validate({"delaySendMessagesMilliseconds": 7000})
    merged = effective_settings(own, SettingsProfileName.RECOMMENDED, shared).managed()
    assert merged["delay_send_messages_milliseconds"] == 7000
    assert merged["incoming_call_webhook"] is True
    assert merged["keep_online_status"] is True
    assert effective_settings(SettingsSpec()).managed() == {}


def test_the_profiles_built_in_applies_when_the_instance_names_none() -> None:
    shared = WhatsAppSettingsProfileSpec.model_validate({"settingsProfile": "Recommended"})
    assert effective_settings(SettingsSpec(), None, shared).managed() == RECOMMENDED.managed()


_BOOL_FIELDS = ["incoming_webhook", "state_webhook", "keep_online_status", "link_preview"]
layers = st.dictionaries(st.sampled_from(_BOOL_FIELDS), st.booleans())


@given(base=layers, shared=layers, own=layers)
def test_each_key_comes_from_the_highest_layer_that_sets_it(
    base: dict[str, bool], shared: dict[str, bool], own: dict[str, bool]
) -> None:
    profile = WhatsAppSettingsProfileSpec(settings=SettingsSpec.model_validate(shared))
    merged = effective_settings(SettingsSpec.model_validate(own), None, profile).managed()
    assert merged == {**shared, **own}
    del base


def test_revision_changes_with_content_only() -> None:
    one = WhatsAppSettingsProfileSpec.model_validate({"settings": {"incomingWebhook": True}})
    same = WhatsAppSettingsProfileSpec.model_validate(
        {"settings": {"incomingWebhook": True}, "rollout": {"maxUnavailable": 3}}
    )
    other = WhatsAppSettingsProfileSpec.model_validate({"settings": {"incomingWebhook": False}})
    assert profile_revision(one) == profile_revision(same) != profile_revision(other)


def test_slots_count_or_percentage_at_least_one() -> None:
    assert slots("10%", 20) == 2
    assert slots("10%", 5) == 1
    assert slots("25%", 1000) == 250
    assert slots(3, 20) == 3


def test_a_failed_member_pauses_new_starts_but_not_those_in_flight() -> None:
    members = [
        Member("a", "", "r2", "GREEN-API did not apply the settings"),
        Member("b", "", "r2"),
        Member("c", "r1"),
    ]
    state = progress("r2", members, 5)
    assert state.paused
    assert state.failed == ("a",)
    assert not may_start(state, members[2])
    assert may_start(state, members[1])


def test_advance_writing_then_back_when_synced_and_linked_again() -> None:
    record = advance(
        None,
        profile="p",
        revision="r2",
        outcome=SettingsOutcome.APPLY,
        writing=True,
        state=InstanceState.AUTHORIZED,
        now=T0,
        deadline=DEADLINE,
    )
    assert record.applying == "r2"
    assert record.was_authorized

    def step(outcome: SettingsOutcome, state: InstanceState) -> ProfileRollout:
        return advance(
            record,
            profile="p",
            revision="r2",
            outcome=outcome,
            writing=False,
            state=state,
            now=T0 + timedelta(seconds=30),
            deadline=DEADLINE,
        )

    assert step(SettingsOutcome.IN_SYNC, InstanceState.STARTING).applying == "r2"
    assert step(SettingsOutcome.IN_SYNC, InstanceState.NOT_AUTHORIZED).applying == "r2"
    done = step(SettingsOutcome.IN_SYNC, InstanceState.AUTHORIZED)
    assert (done.revision, done.applying, done.failed) == ("r2", "", "")
    failed = step(SettingsOutcome.NOT_APPLIED, InstanceState.AUTHORIZED)
    assert failed.applying == "r2"
    assert "did not apply" in failed.failed


def test_advance_fails_after_the_deadline() -> None:
    record = ProfileRollout(name="p", applying="r2", applying_since="2025-01-01T00:00:00Z")
    late = advance(
        record,
        profile="p",
        revision="r2",
        outcome=SettingsOutcome.WAITING_FOR_STATE,
        writing=False,
        state=InstanceState.STARTING,
        now=T0 + DEADLINE + timedelta(seconds=1),
        deadline=DEADLINE,
    )
    assert late.failed.startswith("not back")


def test_a_member_with_nothing_to_change_takes_the_revision_without_a_slot() -> None:
    record = advance(
        ProfileRollout(name="p", revision="r1"),
        profile="p",
        revision="r2",
        outcome=SettingsOutcome.IN_SYNC,
        writing=False,
        state=InstanceState.AUTHORIZED,
        now=T0,
        deadline=DEADLINE,
    )
    assert (record.revision, record.applying) == ("r2", "")


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=40),
    limit=st.one_of(st.integers(min_value=1, max_value=10), st.sampled_from(["10%", "25%", "50%"])),
    schedule=st.lists(
        st.tuples(st.booleans(), st.integers(min_value=0, max_value=39)), max_size=300
    ),
)
def test_the_gate_never_lets_more_than_max_unavailable_in_flight(
    size: int, limit: int | str, schedule: list[tuple[bool, int]]
) -> None:
    """Any interleaving of asks and completions: the bound holds and everyone finishes once."""
    gate = RolloutGate()
    key = ("ns", "p")
    names = [f"i{n:02d}" for n in range(size)]
    gate.seed(
        key,
        revision="r2",
        max_unavailable=limit,
        members=[Member(n, "r1") for n in names],
        wake_profile=lambda: None,
    )
    bound = slots(limit, size)
    writes = dict.fromkeys(names, 0)
    records = {n: Member(n, "r1") for n in names}
    for ask, index in [*schedule, *[(a, i) for i in range(size) for a in (True, False)] * size]:
        name = names[index % size]
        member = records[name]
        if ask and member.revision != "r2" and not member.in_flight:
            if gate.admit(key, member, "r2", lambda: None):
                writes[name] += 1
                records[name] = Member(name, member.revision, "r2")
        elif not ask and member.in_flight:
            records[name] = Member(name, "r2")
            gate.report(key, records[name])
        in_flight = sum(1 for m in gate.book(key).members.values() if m.in_flight)
        assert in_flight <= bound
    assert all(count == 1 for count in writes.values()), writes
    assert gate.book(key).progress().complete
    assert rollout.slots(limit, size) == bound
