"""WhatsAppPartners, ClusterWhatsAppPartners and WhatsAppSettingsProfiles on the scheduler
that runs WhatsAppInstances.

kopf hands each watch event here (`Kinds.observe`), as it hands an instance's to
`Instances`; the object's check runs in `Kinds.step`, called by the process's one
`Scheduler` when it is due or woken, so one concurrency limit, one namespace share and
one order of work (changed first, new last) cover every kind. What differs by kind is
its `Kind`: the check itself and what follows a status write or a deletion.

Finalizers: none. Deleting a partner or a profile has nothing to wait for: an instance
deleted after its partner uses the credentials last read for it (`partner_access`), and
a profile's rollout book goes on its DELETED event. Objects an older version gave kopf's
finalizer (`constants.FINALIZER`, which kopf added for the daemons that checked them)
lose it on their first watch event: kopf removes its finalizer from an object none of
its handlers requires one for, which `settings.persistence.finalizer` in `handlers`
keeps naming for that reason (tests/e2e/operator/test_profiles.py deletes such objects).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from whatsapp_operator import constants
from whatsapp_operator.decide import requeue, shards
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.statusdiff import apply_merge_patch
from whatsapp_operator.ports import KubeError
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.loop import snapshot, trigger_of, wake_on_change, write_status
from whatsapp_operator.run.runtime import Entry, Runtime
from whatsapp_operator.run.scheduler import Priority, Scheduler, Step
from whatsapp_operator.timestamps import utcnow

log = logging.getLogger(__name__)

Post = Callable[[Mapping[str, Any], list[Event]], None]

# A first check is spread over this many seconds, so a restart does not check every
# partner and profile in the same instant.
_FIRST_SPREAD = 2.0


@dataclass
class Checked:
    """One check's result: the status patch (None: unchanged), the status it makes, the
    Events and when to check again."""

    patch: dict[str, Any] | None
    document: dict[str, Any]
    events: list[Event]
    requeue_after: float
    # False: another shard's profile, followed only for this shard's rollout gate.
    publish: bool = True


class Kind(Protocol):
    """What one kind of object adds to the shared loop."""

    name: str
    plural: str

    async def check(self, entry: Entry, body: dict[str, Any], now: datetime) -> Checked:
        """Check the object once (against its snapshot `body`)."""
        ...

    def written(self, namespace: str, name: str) -> None:
        """Its status was just written."""
        ...

    def changed(self, event_type: str | None, namespace: str, name: str) -> None:
        """The watch showed it (a change, or `event_type` DELETED)."""
        ...


@dataclass
class Partners:
    """WhatsAppPartners (`plural` PARTNER_PLURAL) or ClusterWhatsAppPartners."""

    runtime: Runtime
    plural: str = constants.PARTNER_PLURAL
    name: str = field(init=False)

    def __post_init__(self) -> None:
        cluster = self.plural == constants.CLUSTER_PARTNER_PLURAL
        self.name = constants.CLUSTER_PARTNER_KIND if cluster else constants.PARTNER_KIND

    async def check(self, entry: Entry, body: dict[str, Any], now: datetime) -> Checked:
        """Check the credentials; count transient failures for the backoff."""
        failures = entry.memory.failures
        outcome = await self.runtime.partners.reconcile(body, now, failures)
        read = frozenset({outcome.referenced_secret})
        entry.memory = replace(
            entry.memory,
            referenced_secrets=read,
            # A partner token's change shows only when a createInstance needs it: re-read it.
            rechecked_secrets=read,
            failures=failures + 1 if outcome.transient_failure else 0,
        )
        patch = outcome.status_patch
        document = apply_merge_patch(body.get("status") or {}, patch) if patch else {}
        return Checked(patch, document, outcome.events, outcome.requeue_after)

    def written(self, namespace: str, name: str) -> None:
        """Wake the instances that use the partner."""
        # Instances held back by these credentials can try again now.
        self.runtime.wake_partner_users(namespace, name)

    def changed(self, event_type: str | None, namespace: str, name: str) -> None:
        """Nothing: instances read a partner anew at each reconcile."""


@dataclass
class Profiles:
    """WhatsAppSettingsProfiles: each shard follows all of them (its rollout gate needs its
    instances' profiles); only the profile's own shard writes its status and Events."""

    runtime: Runtime
    plural: str = constants.PROFILE_PLURAL
    name: str = constants.PROFILE_KIND

    async def check(self, entry: Entry, body: dict[str, Any], now: datetime) -> Checked:
        """Seed the rollout gate and report progress (published by the owning shard only)."""
        outcome = await self.runtime.profiles.reconcile(body, now, entry.wake)
        mine = shards.owns(self.runtime.config.shard_selector, body["metadata"].get("labels"))
        return Checked(
            outcome.status_patch, outcome.document, outcome.events, outcome.requeue_after, mine
        )

    def written(self, namespace: str, name: str) -> None:
        """Nothing: the instances are woken by the gate, not by the profile's status."""

    def changed(self, event_type: str | None, namespace: str, name: str) -> None:
        """Drop the cached profile (and its book once deleted) and wake its instances."""
        # The instances that use it read it again, and re-check their place in its rollout.
        self.runtime.kube.forget_profile(namespace, name)
        if event_type == "DELETED":
            self.runtime.profiles.forget(namespace, name)
        self.runtime.wake_profile_users(namespace, name)


class Kinds:
    """Partners and profiles of this process, stepped by the scheduler that runs instances."""

    def __init__(
        self,
        runtime: Runtime,
        scheduler: Scheduler,
        post: Post,
        kinds: list[Kind],
        rng: random.Random | None = None,
    ) -> None:
        self.runtime = runtime
        self.scheduler = scheduler
        self.post = post
        self.kinds = {kind.plural: kind for kind in kinds}
        self.rng = rng or random.Random()

    def observe(self, plural: str, event_type: str | None, body: Mapping[str, Any]) -> None:
        """Take one watch event: remember the body, and schedule or wake the object's check."""
        kind = self.kinds[plural]
        metadata = body.get("metadata") or {}
        uid = str(metadata.get("uid") or "")
        namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
        if not uid:
            return
        kind.changed(event_type, namespace, name)
        if event_type == "DELETED":
            self.leave(uid)
            return
        entries = self.runtime.entries
        entry = entries.get(uid)
        if entry is None:
            entry = entries[uid] = Entry(body=_slim(body), trigger=trigger_of(body))
            entry.on_wake = lambda: self.scheduler.wake(uid)
            delay = self.rng.uniform(0.0, _FIRST_SPREAD)
            # Ahead of new instances: a startup burst of them waits on what these say (a
            # profile seeds its rollout gate, a partner's credentials admit creations).
            self.scheduler.add(uid, namespace, delay, Priority.DUE, step=self._step_of(kind))
            return
        entry.body = _slim(body)
        wake_on_change(entry, body, self.runtime.kube.forget_secret)

    def _step_of(self, kind: Kind) -> Step:
        async def step(uid: str) -> float | None:
            return await self.step(kind, uid)

        return step

    def leave(self, uid: str) -> None:
        """The watch no longer shows the object (deleted, or a partner relabelled out of
        this shard): no further check, and a check under way writes nothing more."""
        self.scheduler.remove(uid)
        entry = self.runtime.drop(uid)
        if entry is not None:
            entry.mine = False

    async def step(self, kind: Kind, uid: str) -> float | None:
        """Check one object against its latest body; the next delay (None: none)."""
        entry = self.runtime.entries.get(uid)
        if entry is None or entry.body is None:
            return None
        body = entry.body
        metadata = body.get("metadata") or {}
        if metadata.get("deletionTimestamp"):
            return None  # going: its DELETED event follows
        entry.trigger = trigger_of(body)
        namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
        deadline = self.runtime.config.reconcile_deadline
        runtime = self.runtime
        with runtime.step_of(uid), runtime.metrics.reconcile_seconds.labels(kind=kind.name).time():
            try:
                async with asyncio.timeout(deadline):
                    checked = await kind.check(entry, snapshot(body, entry), utcnow())
            except TimeoutError:
                self._deadline_exceeded(kind, body, deadline)
                return self._failed(entry)
            except Exception:  # one object's bug must not stop its checks for good
                log.exception("Check of %s %s/%s failed unexpectedly", kind.name, namespace, name)
                return self._failed(entry)
        if not entry.mine or not checked.publish:
            return checked.requeue_after if entry.mine else None
        if checked.patch is not None:
            try:
                await write_status(runtime.kube, entry, kind.plural, namespace, name, checked.patch)
            except KubeError as exc:
                log.warning("Status of %s/%s not written: %s", namespace, name, exc.message)
            else:
                entry.last_status = checked.document
                kind.written(namespace, name)
        self.post(body, checked.events)
        return checked.requeue_after

    def _failed(self, entry: Entry) -> float:
        entry.memory = replace(entry.memory, failures=entry.memory.failures + 1)
        return requeue.after_failure(entry.memory.failures, None, self.rng)

    def _deadline_exceeded(self, kind: Kind, body: Mapping[str, Any], deadline: float) -> None:
        metadata = body.get("metadata") or {}
        message = (
            f"The check ran past the operator's {deadline:.0f} s per-reconcile deadline "
            "(WAOP_RECONCILE_DEADLINE) and was cut off"
        )
        log.warning("%s %s: %s", kind.name, metadata.get("name"), message)
        self.post(body, [Event("Warning", Reason.RECONCILE_DEADLINE_EXCEEDED, message)])
        self.runtime.metrics.errors.labels(reason=Reason.RECONCILE_DEADLINE_EXCEEDED).inc()


def _slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body as kept between events (managedFields, often the largest part, dropped)."""
    kept = dict(body)
    metadata = dict(kept.get("metadata") or {})
    metadata.pop("managedFields", None)
    kept["metadata"] = metadata
    return kept
