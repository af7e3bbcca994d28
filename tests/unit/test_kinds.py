"""Partners and profiles on the instances' scheduler (`run/kinds.py`): fed by watch events,
stepped by the one `Scheduler`, status written through the one writer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

import pytest

from whatsapp_operator import constants
from whatsapp_operator.config import OperatorConfig
from whatsapp_operator.decide import requeue
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.statusdiff import merge_patch
from whatsapp_operator.metrics import Metrics
from whatsapp_operator.run.kinds import Kinds, Partners, Profiles
from whatsapp_operator.run.partners import PartnerOutcome
from whatsapp_operator.run.profile_rollout import ProfileOutcome
from whatsapp_operator.run.runtime import Entry, Runtime
from whatsapp_operator.run.scheduler import Priority, Scheduler

NS = "team-a"
NOW = 100.0
CHECKED = {"observedGeneration": 1, "instances": 3}
DONE = {"observedGeneration": 1, "total": 2, "updated": 2}


class FirstAtOnce(random.Random):
    """First checks without the startup spread, and the largest backoff."""

    def uniform(self, a: float, b: float) -> float:
        return a if a == 0.0 and b == 2.0 else b


@dataclass
class FakeKube:
    writes: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    forgotten_secrets: list[tuple[str, str]] = field(default_factory=list)
    forgotten_profiles: list[tuple[str, str]] = field(default_factory=list)
    # Held until set: a status write that waits (to delete the object meanwhile).
    hold: asyncio.Event | None = None

    async def patch_status(
        self,
        namespace: str,
        name: str,
        status: dict[str, Any],
        plural: str = constants.PLURAL,
        resource_version: str | None = None,
    ) -> str:
        self.writes.append((plural, namespace, name, status))
        # Partners' and profiles' writes are never fenced: nothing keeps their version
        # current, so a fence would refuse every write after the first edit.
        assert resource_version is None
        return str(len(self.writes))

    async def patch_cluster_status(self, name: str, status: dict[str, Any], plural: str) -> None:
        self.writes.append((plural, "", name, status))

    def forget_secret(self, namespace: str, name: str) -> None:
        self.forgotten_secrets.append((namespace, name))

    def forget_profile(self, namespace: str, name: str) -> None:
        self.forgotten_profiles.append((namespace, name))


@dataclass
class FakePartners:
    """Reports `report`; `outcomes` (transient failure, requeue) or an exception, in turn."""

    failures_seen: list[int] = field(default_factory=list)
    outcomes: list[tuple[bool, float] | Exception] = field(default_factory=list)
    release: asyncio.Event | None = None
    report: dict[str, Any] = field(default_factory=lambda: dict(CHECKED))

    async def reconcile(self, body: dict[str, Any], now: datetime, failures: int) -> PartnerOutcome:
        self.failures_seen.append(failures)
        if self.release is not None:
            await self.release.wait()
        planned = self.outcomes.pop(0) if self.outcomes else (False, 300.0)
        if isinstance(planned, Exception):
            raise planned
        transient, requeue_after = planned
        patch = merge_patch(body.get("status") or {}, self.report)
        events = [Event("Normal", constants.PARTNER_KIND, "checked")] if patch else []
        secret = (str(body["metadata"].get("namespace") or "ops"), "credentials")
        return PartnerOutcome(patch, events, requeue_after, secret, transient)


@dataclass
class FakeProfiles:
    checks: int = 0
    forgotten: list[tuple[str, str]] = field(default_factory=list)
    on_check: Callable[[], None] = lambda: None

    async def reconcile(
        self, body: dict[str, Any], now: datetime, wake: Callable[[], None]
    ) -> ProfileOutcome:
        self.checks += 1
        self.on_check()
        patch = merge_patch(body.get("status") or {}, DONE)
        return ProfileOutcome(patch, [Event("Normal", "RolloutComplete", "done")], 60.0, DONE)

    def forget(self, namespace: str, name: str) -> None:
        self.forgotten.append((namespace, name))


@dataclass
class Loop:
    kinds: Kinds
    scheduler: Scheduler
    kube: FakeKube
    partners: FakePartners
    profiles: FakeProfiles
    posted: list[tuple[str, str]]

    @property
    def runtime(self) -> Runtime:
        return self.kinds.runtime

    def user_of(self, read: str, key: tuple[str, str]) -> Entry:
        """An instance's entry that reads the partner or profile `key`."""
        entry = self.runtime.entries[f"user-of-{key[1]}"] = Entry()
        entry.memory = replace(entry.memory, **{read: key})
        self.runtime.reindex(f"user-of-{key[1]}")
        return entry


def body(plural: str, name: str, generation: int = 1, **metadata: Any) -> dict[str, Any]:
    kinds = {
        constants.PARTNER_PLURAL: constants.PARTNER_KIND,
        constants.CLUSTER_PARTNER_PLURAL: constants.CLUSTER_PARTNER_KIND,
        constants.PROFILE_PLURAL: constants.PROFILE_KIND,
    }
    namespace = {} if plural == constants.CLUSTER_PARTNER_PLURAL else {"namespace": NS}
    return {
        "apiVersion": constants.API_VERSION,
        "kind": kinds[plural],
        "metadata": {"name": name, "uid": f"uid-{name}", "generation": generation}
        | namespace
        | metadata,
        "spec": {},
    }


@pytest.fixture
def loop() -> Loop:
    kube, partners, profiles = FakeKube(), FakePartners(), FakeProfiles()
    runtime = Runtime(
        config=OperatorConfig(shard_selector="shard=a"),
        green_api=cast(Any, None),
        kube=cast(Any, kube),
        reconciler=cast(Any, None),
        partners=cast(Any, partners),
        metrics=Metrics(),
        profiles=cast(Any, profiles),
    )
    posted: list[tuple[str, str]] = []

    async def never(uid: str) -> float | None:
        raise AssertionError(f"{uid} is not an instance")

    scheduler = Scheduler(never, limit=4, clock=lambda: NOW)
    kinds = Kinds(
        runtime,
        scheduler,
        lambda b, events: posted.extend((b["metadata"]["name"], e.reason) for e in events),
        [
            Partners(runtime),
            Partners(runtime, constants.CLUSTER_PARTNER_PLURAL),
            Profiles(runtime),
        ],
        FirstAtOnce(),
    )
    return Loop(kinds, scheduler, kube, partners, profiles, posted)


async def until(condition: Callable[[], object]) -> None:
    """Poll `condition` (the dispatcher runs meanwhile), for at most 5 seconds."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - a condition of several objects, no event
            await asyncio.sleep(0.01)


@pytest.fixture
async def dispatching(loop: Loop) -> Any:
    task = asyncio.create_task(loop.scheduler.run())
    yield task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_partner_is_checked_then_rescheduled_after_its_requeue(
    loop: Loop, dispatching: Any
) -> None:
    loop.kinds.observe(constants.PARTNER_PLURAL, "ADDED", body(constants.PARTNER_PLURAL, "gapi"))
    await until(lambda: loop.scheduler.due("uid-gapi") == NOW + 300.0)
    assert loop.kube.writes == [(constants.PARTNER_PLURAL, NS, "gapi", CHECKED)]
    assert loop.posted == [("gapi", constants.PARTNER_KIND)]
    # Its token Secret is cached and re-read on the recheck timer, like an instance's.
    assert loop.runtime.referenced_secrets() == {(NS, "credentials")}
    assert loop.runtime.rechecked_secrets() == {(NS, "credentials")}


async def test_a_change_wakes_it_and_an_unchanged_status_is_written_once(
    loop: Loop, dispatching: Any
) -> None:
    loop.kinds.observe(constants.PARTNER_PLURAL, "ADDED", body(constants.PARTNER_PLURAL, "gapi"))
    await until(lambda: loop.scheduler.due("uid-gapi") == NOW + 300.0)
    # A status-only event (the watch showing our own write, say) wakes nothing...
    loop.kinds.observe(constants.PARTNER_PLURAL, "MODIFIED", body(constants.PARTNER_PLURAL, "gapi"))
    assert loop.scheduler.due("uid-gapi") == NOW + 300.0
    assert loop.partners.failures_seen == [0]
    # ...a new generation does, at once, and forgets the Secret it read.
    loop.kinds.observe(
        constants.PARTNER_PLURAL, "MODIFIED", body(constants.PARTNER_PLURAL, "gapi", 2)
    )
    await until(lambda: len(loop.partners.failures_seen) == 2)
    await until(lambda: loop.scheduler.due("uid-gapi") == NOW + 300.0)
    assert loop.kube.forgotten_secrets == [(NS, "credentials")]
    # The watch had not shown the first write yet: the second check still found it unchanged.
    assert len(loop.kube.writes) == 1
    assert loop.posted == [("gapi", constants.PARTNER_KIND)]


async def test_failures_back_off_and_count_until_a_check_succeeds(loop: Loop) -> None:
    loop.partners.outcomes = [RuntimeError("bug"), (True, 5.0), (False, 300.0)]
    partners = loop.kinds.kinds[constants.PARTNER_PLURAL]
    loop.kinds.observe(constants.PARTNER_PLURAL, "ADDED", body(constants.PARTNER_PLURAL, "gapi"))
    # An unexpected error: the driver's own backoff (the largest of its jitter, here).
    delay = await loop.kinds.step(partners, "uid-gapi")
    assert delay == requeue.after_failure(1, None, FirstAtOnce())
    # A transient failure the check reports: counted for its next backoff.
    assert await loop.kinds.step(partners, "uid-gapi") == 5.0
    assert await loop.kinds.step(partners, "uid-gapi") == 300.0
    assert loop.partners.failures_seen == [0, 1, 2]
    assert loop.runtime.entries["uid-gapi"].memory.failures == 0


async def test_a_partner_status_write_wakes_its_instances(loop: Loop) -> None:
    user = loop.user_of("partner", (NS, "gapi"))
    loop.kinds.observe(constants.PARTNER_PLURAL, "ADDED", body(constants.PARTNER_PLURAL, "gapi"))
    await loop.kinds.step(loop.kinds.kinds[constants.PARTNER_PLURAL], "uid-gapi")
    assert user.wakes == 1
    await loop.kinds.step(loop.kinds.kinds[constants.PARTNER_PLURAL], "uid-gapi")
    assert user.wakes == 1  # nothing written the second time: nobody woken


async def test_a_cluster_partner_writes_a_cluster_status(loop: Loop) -> None:
    plural = constants.CLUSTER_PARTNER_PLURAL
    loop.kinds.observe(plural, "ADDED", body(plural, "shared"))
    await loop.kinds.step(loop.kinds.kinds[plural], "uid-shared")
    assert loop.kube.writes == [(plural, "", "shared", CHECKED)]


async def test_a_deleted_partner_is_dropped_and_a_check_under_way_writes_nothing(
    loop: Loop,
) -> None:
    loop.partners.release = asyncio.Event()
    loop.kinds.observe(constants.PARTNER_PLURAL, "ADDED", body(constants.PARTNER_PLURAL, "gapi"))
    running = asyncio.create_task(
        loop.kinds.step(loop.kinds.kinds[constants.PARTNER_PLURAL], "uid-gapi")
    )
    await until(lambda: loop.partners.failures_seen)
    loop.kinds.observe(constants.PARTNER_PLURAL, "DELETED", body(constants.PARTNER_PLURAL, "gapi"))
    loop.partners.release.set()
    assert await running is None
    assert "uid-gapi" not in loop.scheduler
    assert "uid-gapi" not in loop.runtime.entries
    assert loop.runtime.referenced_secrets() == set()
    assert (loop.kube.writes, loop.posted) == ([], [])


async def test_a_profile_of_this_shard_is_published_and_its_deletion_wakes_its_instances(
    loop: Loop, dispatching: Any
) -> None:
    user = loop.user_of("profile", (NS, "fleet"))
    plural = constants.PROFILE_PLURAL
    loop.kinds.observe(plural, "ADDED", body(plural, "fleet", labels={"shard": "a"}))
    await until(lambda: loop.scheduler.due("uid-fleet") == NOW + 60.0)
    assert loop.kube.writes == [(plural, NS, "fleet", DONE)]
    assert loop.posted == [("fleet", "RolloutComplete")]
    woken = user.wakes  # every event of the profile wakes its instances (they re-read it)
    loop.kinds.observe(plural, "DELETED", body(plural, "fleet", labels={"shard": "a"}))
    assert user.wakes == woken + 1
    assert loop.profiles.forgotten == [(NS, "fleet")]
    assert loop.kube.forgotten_profiles[-1] == (NS, "fleet")
    assert "uid-fleet" not in loop.scheduler


async def test_another_shards_profile_is_followed_but_not_published(loop: Loop) -> None:
    plural = constants.PROFILE_PLURAL
    loop.kinds.observe(plural, "ADDED", body(plural, "theirs", labels={"shard": "b"}))
    assert await loop.kinds.step(loop.kinds.kinds[plural], "uid-theirs") == 60.0
    assert loop.profiles.checks == 1  # this shard's rollout gate is seeded
    assert (loop.kube.writes, loop.posted) == ([], [])


async def test_a_partner_whose_status_changes_is_written_each_time_unfenced(loop: Loop) -> None:
    partners = loop.kinds.kinds[constants.PARTNER_PLURAL]
    loop.kinds.observe(constants.PARTNER_PLURAL, "ADDED", body(constants.PARTNER_PLURAL, "gapi"))
    await loop.kinds.step(partners, "uid-gapi")
    loop.partners.report = CHECKED | {"instances": 4}
    await loop.kinds.step(partners, "uid-gapi")
    assert [w[3] for w in loop.kube.writes] == [
        {"observedGeneration": 1, "instances": 3},
        {"instances": 4},
    ]


async def test_a_profile_is_checked_before_a_burst_of_new_instances(loop: Loop) -> None:
    """One slot, twenty new instances queued first: the profile (which seeds the rollout
    gate they wait on) still runs first."""
    order: list[str] = []

    async def instance(uid: str) -> float | None:
        order.append(uid)
        return None

    scheduler = Scheduler(instance, limit=1, clock=lambda: NOW)
    loop.kinds.scheduler = scheduler
    loop.profiles.on_check = lambda: order.append("profile")
    for i in range(20):
        scheduler.add(f"instance-{i}", NS, 0.0, Priority.NEW)
    plural = constants.PROFILE_PLURAL
    loop.kinds.observe(plural, "ADDED", body(plural, "fleet", labels={"shard": "a"}))
    task = asyncio.create_task(scheduler.run())
    try:
        await until(lambda: len(order) == 21)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert order[0] == "profile"


async def test_a_check_past_the_deadline_is_cut_off_and_backs_off(loop: Loop) -> None:
    loop.runtime.config = replace(loop.runtime.config, reconcile_deadline=0.05)
    loop.partners.release = asyncio.Event()  # never set: a GREEN-API call that hangs
    plural = constants.PARTNER_PLURAL
    loop.kinds.observe(plural, "ADDED", body(plural, "gapi"))
    delay = await loop.kinds.step(loop.kinds.kinds[plural], "uid-gapi")
    assert delay == requeue.after_failure(1, None, FirstAtOnce())
    assert loop.posted == [("gapi", "ReconcileDeadlineExceeded")]
    assert loop.kube.writes == []
    assert loop.runtime.entries["uid-gapi"].memory.failures == 1
