"""Whom a change wakes: the dependents index, and the runtime that keeps it exact while
steps run (what a step starts reading is woken by a change at once, not at its next poll)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from whatsapp_operator.config import OperatorConfig
from whatsapp_operator.metrics import Metrics
from whatsapp_operator.run.dependents import Dependents, Read
from whatsapp_operator.run.runtime import Entry, Runtime

TOKEN = ("team-a", "wa-token")
HOOK = ("team-a", "hook-token")
PARTNER = ("team-a", "gapi")
PROFILE = ("team-a", "base")


def runtime() -> Runtime:
    nothing = cast(Any, None)
    return Runtime(
        config=OperatorConfig(),
        green_api=nothing,
        kube=nothing,
        reconciler=nothing,
        partners=nothing,
        metrics=Metrics(),
        profiles=nothing,
    )


def entry_reading(
    runtime: Runtime,
    uid: str,
    *,
    secrets: tuple[tuple[str, str], ...] = (),
    rechecked: tuple[tuple[str, str], ...] = (),
    partner: tuple[str, str] | None = None,
    profile: tuple[str, str] | None = None,
) -> Entry:
    entry = runtime.entries[uid] = Entry()
    entry.memory = replace(
        entry.memory,
        referenced_secrets=frozenset(secrets),
        rechecked_secrets=frozenset(rechecked),
        partner=partner,
        profile=profile,
    )
    runtime.reindex(uid)
    return entry


def woken(entries: dict[str, Entry]) -> set[str]:
    return {uid for uid, entry in entries.items() if entry.wakes}


def test_a_record_replaces_what_an_object_read_before() -> None:
    index = Dependents()
    index.record("a", [(Read.SECRET, TOKEN), (Read.PARTNER, PARTNER)])
    index.record("b", [(Read.SECRET, TOKEN)])
    assert index.readers(Read.SECRET, TOKEN) == {"a", "b"}
    index.record("a", [(Read.SECRET, HOOK)])
    assert index.readers(Read.SECRET, TOKEN) == {"b"}
    assert index.readers(Read.PARTNER, PARTNER) == frozenset()
    assert index.keys(Read.SECRET) == {TOKEN, HOOK}
    assert index.keys(Read.PARTNER) == set()
    index.forget("b")
    index.forget("a")
    assert index.keys(Read.SECRET) == set()
    assert len(index) == 0


def test_a_change_wakes_its_readers_and_nobody_else() -> None:
    rt = runtime()
    entry_reading(rt, "a", secrets=(TOKEN, HOOK), rechecked=(HOOK,), partner=PARTNER)
    entry_reading(rt, "b", secrets=(TOKEN,), profile=PROFILE)
    entry_reading(rt, "c", secrets=(("team-b", "wa-token"),))

    assert rt.wake_referencing(*HOOK) == 1
    assert woken(rt.entries) == {"a"}
    assert rt.wake_referencing(*TOKEN) == 2
    rt.wake_profile_users(*PROFILE)
    rt.wake_partner_users(*PARTNER)
    assert {uid: e.wakes for uid, e in rt.entries.items()} == {"a": 3, "b": 2, "c": 0}
    assert rt.rechecked_secrets() == {HOOK}
    assert rt.referenced_secrets() == {TOKEN, HOOK, ("team-b", "wa-token")}


def test_a_step_that_starts_reading_a_partner_is_woken_by_it_before_it_ends() -> None:
    # The first reconcile of an object whose partner is not ready yet: if the partner turns
    # ready while that reconcile runs, the object must run again at once, not in minutes.
    rt = runtime()
    entry = entry_reading(rt, "a", secrets=(TOKEN,))
    with rt.step_of("a"):
        # The spec says so from the step's start; the memory only once the reconcile returns.
        entry.body = {
            "kind": "WhatsAppInstance",
            "metadata": {"namespace": PARTNER[0], "name": "a"},
            "spec": {
                "partnerRef": {"name": PARTNER[1]},
                "instance": {"tokenSecretRef": {"name": TOKEN[1]}},
                "settings": {"webhookUrlTokenSecretRef": {"name": HOOK[1], "key": "t"}},
            },
        }
        assert rt.rechecked_secrets() == {HOOK}
        rt.wake_partner_users(*PARTNER)
        assert entry.wakes == 1
        entry.memory = replace(entry.memory, partner=PARTNER, rechecked_secrets=frozenset({HOOK}))
    # Indexed once the step ended.
    assert rt.dependents.readers(Read.PARTNER, PARTNER) == {"a"}
    rt.wake_partner_users(*PARTNER)
    assert entry.wakes == 2


def test_a_dropped_object_reads_nothing() -> None:
    rt = runtime()
    entry = entry_reading(rt, "a", secrets=(TOKEN,), partner=PARTNER)
    assert rt.drop("a") is entry
    assert rt.wake_referencing(*TOKEN) == 0
    assert rt.referenced_secrets() == set()
    assert len(rt.dependents) == 0


def test_an_object_dropped_during_its_step_stays_dropped() -> None:
    rt = runtime()
    entry_reading(rt, "a", secrets=(TOKEN,))
    with rt.step_of("a"):
        rt.drop("a")
    assert rt.referenced_secrets() == set()
    assert len(rt.dependents) == 0
