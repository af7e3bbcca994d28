"""Every WhatsAppInstance this process serves, driven by watch events and one scheduler.

kopf hands each watch event here (`observe`); nothing kopf-specific is kept per
object, and kopf writes nothing to the object: no progress annotations, and no
finalizer unless deleting the resource has work to do (deletionPolicy Delete), in
which case this module adds and removes its own. The reconcile of an object runs
in `step`, called by the scheduler when it is due or woken.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any, cast

from whatsapp_operator import constants
from whatsapp_operator.decide import requeue
from whatsapp_operator.decide.actions import Verdict, requested
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.linking import secret_name
from whatsapp_operator.decide.reasons import Reason
from whatsapp_operator.decide.statusdiff import apply_merge_patch
from whatsapp_operator.ports import KubeError
from whatsapp_operator.run.linking_session import LinkingSession
from whatsapp_operator.run.loop import count, snapshot, trigger_of, write_status
from whatsapp_operator.run.provisioning import owned_token_secret
from whatsapp_operator.run.runtime import Entry, Runtime
from whatsapp_operator.run.scheduler import Priority, Scheduler

log = logging.getLogger(__name__)

Post = Callable[[Mapping[str, Any], list[Event]], None]

# An object seen for the first time that is not settled starts within this spread.
_FIRST_SPREAD_SECONDS = 2.0


def wants_finalizer(body: Mapping[str, Any]) -> bool:
    """Only deletionPolicy Delete gives deleting the resource work to do (removing the instance).

    With Orphan the resource may go at once: its linking session ends on the DELETED
    event and its owned Secrets are garbage-collected through their ownerReferences.
    """
    spec = body.get("spec") or {}
    return spec.get("deletionPolicy") == "Delete"


def is_settled(body: Mapping[str, Any]) -> bool:
    """Reconciled at this generation, Ready and Synced, with no action waiting: nothing urgent."""
    metadata = body.get("metadata") or {}
    status = body.get("status") or {}
    if status.get("observedGeneration") != metadata.get("generation"):
        return False
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if conditions.get("Ready") != "True" or conditions.get("Synced") != "True":
        return False
    handled = status.get("handledActions") or {}
    return all(
        requested(action, metadata, handled)[1] is not Verdict.PERFORM
        for action in constants.Action
    )


def token_secret_of(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """The Secret holding the instance's token (namespace, name), from the raw body."""
    metadata = body.get("metadata") or {}
    namespace, name = metadata.get("namespace"), metadata.get("name")
    if not namespace or not name:
        return None
    spec = body.get("spec") or {}
    ref = (spec.get("instance") or {}).get("tokenSecretRef") or {}
    return (str(namespace), str(ref.get("name") or owned_token_secret(str(name))))


def _slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body as kept between events: managedFields (often the largest part) and the
    status (kept packed, `_pack`) dropped.
    """
    kept = dict(body)
    metadata = dict(kept.get("metadata") or {})
    metadata.pop("managedFields", None)
    kept["metadata"] = metadata
    kept.pop("status", None)
    return kept


def _pack(status: Mapping[str, Any] | None) -> str:
    return json.dumps(status, separators=(",", ":")) if status else ""


def status_of(entry: Entry) -> dict[str, Any]:
    """The object's status as this process knows it: its own last write, else the watch's."""
    if entry.last_status is not None:
        return entry.last_status
    packed = entry.written_status or entry.seen_status
    return cast(dict[str, Any], json.loads(packed)) if packed else {}


def _with_status(entry: Entry) -> dict[str, Any]:
    assert entry.body is not None
    return {**entry.body, "status": status_of(entry)}


class Instances:
    """The WhatsAppInstances of this process: latest bodies, loop memories, one scheduler."""

    def __init__(self, runtime: Runtime, post: Post, rng: random.Random | None = None) -> None:
        self.runtime = runtime
        self.post = post
        self.rng = rng or random.Random()
        config = runtime.config
        self.scheduler = Scheduler(
            self.step, limit=max(1, config.concurrency), namespace_limit=config.namespace_slots
        )
        self._dispatcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the scheduler's dispatcher once (it runs until shutdown cancels it)."""
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self.scheduler.run(), name="scheduler")
            self.runtime.background.add(self._dispatcher)

    # ------------------------------------------------------------------ watch events

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """Take one watch event: remember the body, and schedule or wake the object's reconcile."""
        metadata = body.get("metadata") or {}
        uid = str(metadata.get("uid") or "")
        if not uid:
            return
        if event_type == "DELETED":
            self.forget(uid)
            return
        entries = self.runtime.entries
        entry = entries.get(uid)
        if entry is None:
            entry = entries[uid] = Entry()
            entry.body = _slim(body)
            entry.seen_status = _pack(body.get("status"))
            entry.trigger = trigger_of(body)
            entry.on_wake = lambda: self._wake(uid)
            token = token_secret_of(body)
            if token is not None:
                # Known before the first reconcile, so that a burst of first reads in one
                # namespace becomes one LIST, and a recheck keeps the cached Secret.
                entry.memory.referenced_secrets = frozenset({token})
                self.runtime.kube.expect_secret(*token)
            self.scheduler.add(
                uid, str(metadata.get("namespace") or ""), self._first_delay(body), Priority.NEW
            )
            return
        before = entry.body or {}
        entry.body = _slim(body)
        entry.seen_status = _pack(body.get("status"))
        newly_deleting = metadata.get("deletionTimestamp") and not (
            before.get("metadata", {}).get("deletionTimestamp")
        )
        if trigger_of(body) != entry.trigger or newly_deleting:
            entry.trigger = trigger_of(body)
            # "Re-read and retry now" includes the Secrets: a person who just rotated a
            # token need not wait for the next recheck.
            for namespace, name in entry.memory.referenced_secrets:
                self.runtime.kube.forget_secret(namespace, name)
            entry.wake()

    def _first_delay(self, body: Mapping[str, Any]) -> float:
        """Settled objects (a restart) spread their first poll over one state interval."""
        if is_settled(body):
            intervals = (body.get("spec") or {}).get("intervals") or {}
            state_seconds = float(intervals.get("stateSeconds") or 30)
            return self.rng.uniform(0.0, state_seconds)
        return self.rng.uniform(0.0, _FIRST_SPREAD_SECONDS)

    def _wake(self, uid: str) -> None:
        self.scheduler.wake(uid)

    def forget(self, uid: str) -> None:
        """The object is gone: stop its session, free its slot in a rollout, drop its memory."""
        self.scheduler.remove(uid)
        entry = self.runtime.entries.pop(uid, None)
        self.runtime.metrics.forget(uid)
        if entry is None:
            return
        if entry.memory.profile is not None:
            self.runtime.profiles.gate.leave(entry.memory.profile, _name_of(entry.body))
        session, entry.memory.session = entry.memory.session, None
        if session is not None or not entry.memory.linking_secret_removed:
            task = asyncio.create_task(
                self._end_linking(entry, session), name="end linking of a deleted object"
            )
            self.runtime.background.add(task)
            task.add_done_callback(self.runtime.background.discard)

    async def _end_linking(self, entry: Entry, session: LinkingSession | None) -> None:
        """Stop a deleted object's session and delete its codes now.

        Garbage collection would remove the Secret too (it is owned), but later: a
        code for a resource that is gone should not stay readable meanwhile.
        """
        if session is not None:
            await session.stop()
        metadata = (entry.body or {}).get("metadata") or {}
        with contextlib.suppress(KubeError):
            await self.runtime.kube.delete_secret(
                str(metadata.get("namespace") or ""),
                secret_name(str(metadata.get("name") or "")),
                owner_uid=str(metadata.get("uid") or ""),
                role=constants.ROLE_LINKING,
            )

    async def stop(self) -> None:
        """Stop every linking session (at shutdown)."""
        for entry in self.runtime.entries.values():
            if entry.memory.session is not None:
                await entry.memory.session.stop()
                entry.memory.session = None

    # ------------------------------------------------------------------ one step

    async def step(self, uid: str) -> float | None:
        """Reconcile (or finalize) one object against its latest body; the next delay."""
        entry = self.runtime.entries.get(uid)
        if entry is None or entry.body is None:
            return None
        body = entry.body
        entry.trigger = trigger_of(body)
        metadata = body.get("metadata") or {}
        namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
        async with entry.busy:
            try:
                if metadata.get("deletionTimestamp"):
                    return await self._finalize(entry, namespace, name)
                if not entry.changed:
                    delay = await self.runtime.reconciler.poll(entry.memory)
                    if delay is not None:
                        return delay
                entry.changed = False
                await self._keep_finalizer(entry, namespace, name)
                return await self._reconcile(uid, entry, namespace, name)
            except KubeError as exc:
                log.warning("%s/%s: %s", namespace, name, exc.message)
                entry.memory.failures += 1
                return requeue.after_failure(entry.memory.failures, None, self.rng)

    async def _reconcile(self, uid: str, entry: Entry, namespace: str, name: str) -> float:
        runtime = self.runtime
        assert entry.body is not None
        body = entry.body

        async def record(patch: dict[str, Any]) -> None:
            # An intent, written before a side effect: it must be stored, or nothing is done.
            await runtime.kube.patch_status(namespace, name, patch)
            entry.last_status = apply_merge_patch(status_of(entry), patch)

        deadline = runtime.config.reconcile_deadline
        try:
            try:
                with runtime.metrics.reconcile_seconds.labels(kind=constants.KIND).time():
                    async with asyncio.timeout(deadline):
                        outcome = await runtime.reconciler.reconcile(
                            snapshot(_with_status(entry), entry), entry.memory, entry.wake, record
                        )
            except TimeoutError:
                return self._deadline_exceeded(body, entry, deadline)
            count(runtime.metrics, uid, outcome)
            if outcome.status_patch is not None:
                entry.changed = not await write_status(
                    runtime,
                    entry,
                    constants.PLURAL,
                    namespace,
                    name,
                    outcome.status_patch,
                    outcome.document,
                )
        finally:
            if entry.last_status is not None:
                entry.written_status, entry.last_status = _pack(entry.last_status), None
        self.post(body, outcome.events)
        return outcome.requeue_after

    def _deadline_exceeded(self, body: Mapping[str, Any], entry: Entry, deadline: float) -> float:
        """A reconcile cut off at its deadline: say so, and back off like any failure.

        Every write it may have been making was recorded as an intent first, so the next
        reconcile observes before it acts again.
        """
        message = (
            f"The reconcile ran past the operator's {deadline:.0f} s per-reconcile deadline "
            "(WAOP_RECONCILE_DEADLINE) and was cut off; a GREEN-API endpoint answers too slowly"
        )
        log.warning("%s: %s", _name_of(body), message)
        self.post(body, [Event("Warning", Reason.RECONCILE_DEADLINE_EXCEEDED, message)])
        self.runtime.metrics.errors.labels(reason=Reason.RECONCILE_DEADLINE_EXCEEDED).inc()
        entry.memory.failures += 1
        return requeue.after_failure(entry.memory.failures, None, self.rng)

    # ------------------------------------------------------------------ the finalizer

    async def _keep_finalizer(self, entry: Entry, namespace: str, name: str) -> None:
        """Ours is on the object exactly when deleting it has work to do (before any create)."""
        assert entry.body is not None
        metadata = entry.body.get("metadata") or {}
        finalizers = list(metadata.get("finalizers") or [])
        wanted = wants_finalizer(entry.body)
        if wanted == (constants.INSTANCE_FINALIZER in finalizers):
            return
        if wanted:
            finalizers.append(constants.INSTANCE_FINALIZER)
        else:
            finalizers.remove(constants.INSTANCE_FINALIZER)
        await self._set_finalizers(entry, namespace, name, finalizers)

    async def _set_finalizers(
        self, entry: Entry, namespace: str, name: str, finalizers: list[str]
    ) -> None:
        assert entry.body is not None
        metadata = entry.body.get("metadata") or {}
        stored = await self.runtime.kube.set_finalizers(
            namespace, name, finalizers, str(metadata.get("resourceVersion") or "")
        )
        # The watch brings the same change; until then, later steps see it already.
        entry.body = {**entry.body, "metadata": {**metadata, **stored}}

    async def _finalize(self, entry: Entry, namespace: str, name: str) -> float | None:
        """deletionPolicy Delete: remove the GREEN-API instance, then let the resource go."""
        assert entry.body is not None
        body = entry.body
        finalizers = list((body.get("metadata") or {}).get("finalizers") or [])
        if entry.memory.session is not None:
            await entry.memory.session.stop()
            entry.memory.session = None
        if constants.INSTANCE_FINALIZER not in finalizers:
            return None  # nothing of ours holds it: the DELETED event follows
        result = await self.runtime.reconciler.finalize(
            snapshot(_with_status(entry), Entry()), attempt=entry.delete_attempts
        )
        self.post(body, result.events)
        if result.done:
            finalizers.remove(constants.INSTANCE_FINALIZER)
            await self._set_finalizers(entry, namespace, name, finalizers)
            return None
        entry.delete_attempts += 1
        with contextlib.suppress(KubeError):
            await self.runtime.kube.patch_status(
                namespace, name, result.status or {"lastError": result.message}
            )
        return result.retry_after


def _name_of(body: Mapping[str, Any] | None) -> str:
    metadata = (body or {}).get("metadata") or {}
    return str(metadata.get("name") or "")
