"""What the kopf handlers share for the life of the process: one `Entry` per object
(its loop's memory, wake-up signal and lock) and the `Runtime` that holds them with
the clients and reconcilers. No kopf here: `handlers` wires these to kopf.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from whatsapp_operator import constants
from whatsapp_operator.adapters.greenapi import GreenApi
from whatsapp_operator.adapters.kube import Kube
from whatsapp_operator.config import OperatorConfig
from whatsapp_operator.metrics import Metrics
from whatsapp_operator.run.dependents import Dependents, Key, Read, Ref
from whatsapp_operator.run.memory import Live, Memory
from whatsapp_operator.run.partners import PartnerReconciler
from whatsapp_operator.run.profile_rollout import ProfileReconciler
from whatsapp_operator.run.provisioning import owned_token_secret
from whatsapp_operator.run.reconcile import Reconciler


@dataclass
class Entry:
    """One object's loop: its memory, its wake-up signal and its lock."""

    memory: Memory = field(default_factory=Memory)
    live: Live = field(default_factory=Live)
    trigger: tuple[object, ...] = ()
    last_status: dict[str, Any] | None = None
    # WhatsAppInstances keep their status as compact JSON between reconciles (about a fifth
    # of the memory of the parsed document, which is most of what an object costs): the
    # one the watch showed last until this process writes one, then the one it wrote last.
    seen_status: str = ""
    written_status: str = ""
    # The latest body from the watch (WhatsAppInstances: the scheduler's objects; without
    # their status, kept in `seen_status`).
    body: dict[str, Any] | None = None
    # How a wake-up reaches the scheduler.
    on_wake: Callable[[], None] | None = None
    # Failed finalization attempts so far (deletionPolicy Delete gives up after a few).
    delete_attempts: int = 0
    # Wake-ups so far, and how many of them a whole reconcile has answered: a step that
    # finds them equal may be a quiet poll. A reconcile answers the count it started
    # with, so a wake-up that lands while it runs is answered by the next one, at once.
    wakes: int = 0
    answered_wakes: int = -1
    # Fencing (WhatsAppInstances): the resourceVersion the object's next status or intent
    # write must find, and the one this process's last write produced until the watch
    # shows it (events before it are older and do not move `version`).
    version: str = ""
    written_version: str = ""
    # Still this process's object: cleared when its watch reports it DELETED (deleted, or
    # moved to another shard), so a step still running makes no further side effect.
    mine: bool = True
    # Serialises the reconcile and the deletion of one object: a deletion never runs
    # beside a reconcile that may be creating the instance it has to delete.
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)

    def wake(self) -> None:
        """Run the object's reconcile now rather than at the end of its wait."""
        self.wakes += 1
        if self.on_wake is not None:
            self.on_wake()


def reads_of(memory: Memory) -> Iterator[Ref]:
    """What an object's loop read in its last step, as its memory holds it."""
    for key in memory.referenced_secrets:
        yield Read.SECRET, key
    for key in memory.rechecked_secrets:
        yield Read.RECHECKED_SECRET, key
    if memory.partner is not None:
        yield Read.PARTNER, memory.partner
    if memory.profile is not None:
        yield Read.PROFILE, memory.profile


def token_secret_of(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """The Secret holding the instance's token (namespace, name), from the raw body."""
    metadata = body.get("metadata") or {}
    namespace, name = metadata.get("namespace"), metadata.get("name")
    if not namespace or not name:
        return None
    spec = body.get("spec") or {}
    ref = (spec.get("instance") or {}).get("tokenSecretRef") or {}
    return (str(namespace), str(ref.get("name") or owned_token_secret(str(name))))


def reads_of_spec(body: Mapping[str, Any] | None) -> Iterator[Ref]:
    """What a WhatsAppInstance's reconcile reads, from its spec: known from the step's
    first line, while its memory still says what the last step read."""
    if not body or body.get("kind") != constants.KIND:
        return
    namespace = str((body.get("metadata") or {}).get("namespace") or "")
    spec = body.get("spec") or {}
    token = token_secret_of(body)
    if token is not None:
        yield Read.SECRET, token
    hook = ((spec.get("settings") or {}).get("webhookUrlTokenSecretRef") or {}).get("name")
    if hook:
        yield Read.SECRET, (namespace, str(hook))
        yield Read.RECHECKED_SECRET, (namespace, str(hook))
    partner = spec.get("partnerRef") or {}
    if partner.get("name"):
        cluster = partner.get("kind") == constants.CLUSTER_PARTNER_KIND
        yield Read.PARTNER, ("" if cluster else namespace, str(partner["name"]))
    profile = (spec.get("settingsProfileRef") or {}).get("name")
    if profile:
        yield Read.PROFILE, (namespace, str(profile))


def _stepping_reads(entry: Entry) -> set[Ref]:
    return {*reads_of(entry.memory), *reads_of_spec(entry.body)}


@dataclass
class Runtime:
    """What the handlers share for the life of the process."""

    config: OperatorConfig
    green_api: GreenApi
    kube: Kube
    reconciler: Reconciler
    partners: PartnerReconciler
    metrics: Metrics
    profiles: ProfileReconciler
    entries: dict[str, Entry] = field(default_factory=dict)
    secret_recheck: asyncio.Task[None] | None = None
    # Fire-and-forget work (stopping a deleted object's session), kept so it is not lost.
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    # Who reads what, as of the end of each object's last step (and its creation).
    dependents: Dependents = field(default_factory=Dependents)
    # Objects whose step is under way: what they read may have changed since it was
    # indexed, so a change is checked against their memory itself.
    stepping: set[str] = field(default_factory=set)

    @contextmanager
    def step_of(self, uid: str) -> Iterator[None]:
        """Around one step of an object's loop: index what it read once it ends."""
        self.stepping.add(uid)
        try:
            yield
        finally:
            self.stepping.discard(uid)
            self.reindex(uid)

    def reindex(self, uid: str) -> None:
        """Record what the object `uid` reads now (nothing once its entry is gone)."""
        entry = self.entries.get(uid)
        if entry is None:
            self.dependents.forget(uid)
        else:
            self.dependents.record(uid, reads_of(entry.memory))

    def drop(self, uid: str) -> Entry | None:
        """Take the object's entry out; it reads nothing any more."""
        entry = self.entries.pop(uid, None)
        self.dependents.forget(uid)
        return entry

    def _readers(self, read: Read, key: Key) -> list[Entry]:
        uids = set(self.dependents.readers(read, key))
        for uid in self.stepping:
            entry = self.entries.get(uid)
            if entry is not None and (read, key) in _stepping_reads(entry):
                uids.add(uid)
        return [self.entries[uid] for uid in uids if uid in self.entries]

    def _read(self, read: Read) -> set[Key]:
        keys = self.dependents.keys(read)
        for uid in self.stepping:
            entry = self.entries.get(uid)
            if entry is not None:
                keys.update(key for kind, key in _stepping_reads(entry) if kind is read)
        return keys

    def rechecked_secrets(self) -> set[Key]:
        """The Secrets re-read on a timer: those whose change nothing else reveals."""
        return self._read(Read.RECHECKED_SECRET)

    def referenced_secrets(self) -> set[Key]:
        """Every Secret a live object reads: the only Secrets cached."""
        return self._read(Read.SECRET)

    def wake_profile_users(self, namespace: str, name: str) -> None:
        """Wake every object that uses the WhatsAppSettingsProfile `namespace/name`."""
        for entry in self._readers(Read.PROFILE, (namespace, name)):
            entry.wake()

    def wake_partner_users(self, namespace: str, name: str) -> None:
        """Wake every object that uses the WhatsAppPartner `namespace/name`."""
        for entry in self._readers(Read.PARTNER, (namespace, name)):
            entry.wake()

    def wake_referencing(self, namespace: str, name: str) -> int:
        """Wake every object that reads the Secret `namespace/name`; return how many."""
        readers = self._readers(Read.SECRET, (namespace, name))
        for entry in readers:
            entry.wake()
        return len(readers)
