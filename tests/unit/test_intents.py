"""Intents whose record failed: remembered, taken back from status, settled by a later record."""

from __future__ import annotations

import pytest

from whatsapp_operator.constants import Action
from whatsapp_operator.decide.intents import Unsent, held, settled, taken_back
from whatsapp_operator.ports import Effect, IntentNotRecorded, KubeError
from whatsapp_operator.run.cycle import object_log
from whatsapp_operator.run.effects import SideEffects
from whatsapp_operator.run.journal import Intent, Journal, action_key

S1 = "2026-03-01T10:00:00Z"
S0 = "2026-02-01T10:00:00Z"


def test_an_intent_that_landed_is_taken_back() -> None:
    before = {"handledActions": {"logout": S0}, "state": "authorized"}
    intent = {"handledActions": {"reboot": S1}}
    unsent = Unsent.of("handledActions/reboot", intent, before)
    landed = {"handledActions": {"logout": S0, "reboot": S1}, "state": "authorized"}
    assert taken_back(landed, [unsent]) == before


def test_a_replaced_value_comes_back_and_an_absent_one_goes() -> None:
    before = {"tokenRotation": {"pendingSince": "", "lastRotatedAt": S0}}
    intent = {"tokenRotation": {"pendingSince": S1}, "handledActions": {"rotate-token": S1}}
    unsent = Unsent.of("tokenRotation", intent, before)
    landed = {
        "tokenRotation": {"pendingSince": S1, "lastRotatedAt": S0},
        "handledActions": {"rotate-token": S1},
    }
    assert taken_back(landed, [unsent]) == before


def test_an_intent_that_did_not_land_changes_nothing() -> None:
    before = {"queues": {"accountWid": "1@c.us", "incoming": 3}}
    unsent = Unsent.of("queues", {"queues": {"accountWid": "2@c.us"}}, before)
    assert taken_back(before, [unsent]) == before


def test_status_written_over_since_stands() -> None:
    # Only part of the intent shows: a later write replaced it, and that write counts.
    before = {"queues": {"accountWid": "1@c.us", "clearedForBlock": False}}
    intent = {"queues": {"accountWid": "2@c.us", "clearedForBlock": True}}
    unsent = Unsent.of("queues", intent, before)
    moved_on = {"queues": {"accountWid": "2@c.us", "clearedForBlock": False}}
    assert taken_back(moved_on, [unsent]) == moved_on


def test_one_unsent_intent_per_key_until_a_record_for_it_succeeds() -> None:
    first = Unsent.of("handledActions/reboot", {"handledActions": {"reboot": S0}}, {})
    second = Unsent.of("handledActions/reboot", {"handledActions": {"reboot": S1}}, {})
    other = Unsent.of("queues", {"queues": {"accountWid": "1@c.us"}}, {})
    kept = held(held((first, other), second), second)
    assert kept == (other, second)
    assert settled(kept, "handledActions/reboot") == (other,)


class Recorder:
    def __init__(self) -> None:
        self.fail = False
        self.patches: list[dict[str, object]] = []

    async def __call__(self, patch: dict[str, object]) -> None:
        if self.fail:
            raise KubeError("the API server did not answer", retryable=True)
        self.patches.append(patch)


def journal(record: Recorder, stored: dict[str, object]) -> Journal:
    return Journal(
        gate=SideEffects("team-a", "shop"),
        log=object_log("team-a", "shop"),
        metadata={"name": "shop", "annotations": {}},
        stored=stored,
        handled={},
        unsent=(),
        record=record,
        annotate=None,
    )


async def test_the_journal_remembers_an_intent_it_could_not_record_and_makes_no_call() -> None:
    record = Recorder()
    record.fail = True
    stored: dict[str, object] = {"handledActions": {}}
    acting = journal(record, stored)
    calls: list[str] = []

    async def reboot() -> None:
        calls.append("reboot")

    intent = Intent({"handledActions": {"reboot": S1}}, action_key(Action.REBOOT))
    with pytest.raises(IntentNotRecorded):
        await acting.perform(Effect.REBOOT, reboot, intent=intent, detail="test")
    assert calls == []
    result = acting.result()
    assert [u.key for u in result.unsent] == ["handledActions/reboot"]
    assert result.performed == ()
    # Had the record landed, the next reconcile reads status without it.
    landed = {"handledActions": {"reboot": S1}}
    assert taken_back(landed, result.unsent) == {"handledActions": {}}

    # A later record for the same thing succeeds: nothing is remembered any more.
    record.fail = False
    retry = Journal(
        gate=SideEffects("team-a", "shop"),
        log=object_log("team-a", "shop"),
        metadata={"name": "shop", "annotations": {}},
        stored=stored,
        handled={},
        unsent=result.unsent,
        record=record,
        annotate=None,
    )
    await retry.perform(Effect.REBOOT, reboot, intent=intent, detail="test")
    assert calls == ["reboot"]
    assert retry.result().unsent == ()
    assert retry.result().stored == {"handledActions": {"reboot": S1}}


async def test_an_intent_without_a_key_is_not_remembered() -> None:
    record = Recorder()
    record.fail = True
    acting = journal(record, {})

    async def write() -> bool:
        return True

    with pytest.raises(IntentNotRecorded):
        await acting.perform(
            Effect.SET_SETTINGS, write, intent=Intent({"lastApplied": {}}), detail="test"
        )
    assert acting.result().unsent == ()
