"""Reconcile slots: one namespace cannot take them all, and freed slots go round fairly."""

from __future__ import annotations

import asyncio

import pytest

from whatsapp_operator.run.slots import FairSlots


async def hold_until(
    slots: FairSlots, namespace: str, release: asyncio.Event, log: list[str]
) -> None:
    async with slots.hold(namespace):
        log.append(namespace)
        await release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_namespace_holds_at_most_its_share() -> None:
    slots = FairSlots(capacity=4, per_namespace=2)
    release = asyncio.Event()
    log: list[str] = []
    slow = [asyncio.create_task(hold_until(slots, "slow", release, log)) for _ in range(6)]
    await settle()
    assert slots.held("slow") == 2
    fast = asyncio.create_task(hold_until(slots, "fast", asyncio.Event(), log))
    await settle()
    # The other namespace gets a slot at once although "slow" has four waiting.
    assert slots.held("fast") == 1
    release.set()
    await asyncio.gather(*slow)
    fast.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fast
    assert slots.in_use == 0


async def test_a_freed_slot_goes_to_the_namespace_holding_fewest() -> None:
    slots = FairSlots(capacity=2, per_namespace=2)
    gates = {name: asyncio.Event() for name in ("a1", "a2")}
    log: list[str] = []
    first = [asyncio.create_task(hold_until(slots, "a", gates[n], log)) for n in gates]
    await settle()
    waiting = [asyncio.create_task(hold_until(slots, "a", asyncio.Event(), log))]
    await settle()
    waiting.append(asyncio.create_task(hold_until(slots, "b", asyncio.Event(), log)))
    await settle()
    gates["a1"].set()
    await settle()
    # "a" waited longer, but "b" holds none: the slot is b's.
    assert log == ["a", "a", "b"]
    for task in [*first, *waiting]:
        task.cancel()
    await asyncio.gather(*first, *waiting, return_exceptions=True)
    assert slots.in_use == 0


async def test_a_waiter_cancelled_while_waiting_leaves_no_slot_behind() -> None:
    slots = FairSlots(capacity=1, per_namespace=1)
    release = asyncio.Event()
    log: list[str] = []
    holder = asyncio.create_task(hold_until(slots, "a", release, log))
    await settle()
    waiter = asyncio.create_task(hold_until(slots, "a", asyncio.Event(), log))
    await settle()
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    release.set()
    await holder
    assert slots.in_use == 0
    async with slots.hold("b"):
        assert slots.held("b") == 1


async def test_work_is_not_held_back_when_nobody_else_waits() -> None:
    slots = FairSlots(capacity=8, per_namespace=8)
    release = asyncio.Event()
    log: list[str] = []
    tasks = [asyncio.create_task(hold_until(slots, "only", release, log)) for _ in range(8)]
    await settle()
    assert slots.held("only") == 8
    release.set()
    await asyncio.gather(*tasks)


def test_nonsense_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FairSlots(capacity=0, per_namespace=1)
