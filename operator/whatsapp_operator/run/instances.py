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
from dataclasses import replace
from typing import Any, cast

from whatsapp_operator import constants
from whatsapp_operator.decide import requeue, shards
from whatsapp_operator.decide.actions import Verdict, requested
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.linking import secret_name
from whatsapp_operator.decide.statusdiff import apply_merge_patch
from whatsapp_operator.ports import KubeError
from whatsapp_operator.ports.secrets import SecretRemoval
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run import writer
from whatsapp_operator.run.effects import still_mine
from whatsapp_operator.run.loop import count, snapshot, trigger_of, wake_on_change, write_status
from whatsapp_operator.run.runtime import Entry, Runtime, token_secret_of
from whatsapp_operator.run.scheduler import Priority, Scheduler

log = logging.getLogger(__name__)

Post = Callable[[Mapping[str, Any], list[Event]], None]


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


def _keep_written(entry: Entry, status: Mapping[str, Any]) -> None:
    """Keep the status this process wrote, packed; from now on it is the one read."""
    entry.written_status, entry.seen_status, entry.last_status = _pack(status), "", None


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
            self.leave(uid)
            return
        entries = self.runtime.entries
        entry = entries.get(uid)
        if entry is None:
            entry = entries[uid] = Entry()
            entry.body = _slim(body)
            entry.seen_status = _pack(body.get("status"))
            entry.version = str(metadata.get("resourceVersion") or "")
            entry.trigger = trigger_of(body)
            entry.on_wake = lambda: self._wake(uid)
            token = token_secret_of(body)
            if token is not None:
                # Known before the first reconcile, so that a burst of first reads in one
                # namespace becomes one LIST, and a recheck keeps the cached Secret.
                entry.memory = replace(entry.memory, referenced_secrets=frozenset({token}))
                self.runtime.reindex(uid)
                self.runtime.kube.expect_secret(*token)
            self.scheduler.add(
                uid, str(metadata.get("namespace") or ""), self._first_delay(body), Priority.NEW
            )
            return
        before = entry.body or {}
        entry.body = _slim(body)
        if not entry.written_status:
            # Once this process has written a status, that one is what it reads (status_of).
            entry.seen_status = _pack(body.get("status"))
        _follow_version(entry, str(metadata.get("resourceVersion") or ""))
        newly_deleting = metadata.get("deletionTimestamp") and not (
            before.get("metadata", {}).get("deletionTimestamp")
        )
        wake_on_change(entry, body, self.runtime.kube.forget_secret, also=bool(newly_deleting))

    def _first_delay(self, body: Mapping[str, Any]) -> float:
        intervals = (body.get("spec") or {}).get("intervals") or {}
        return requeue.first_delay(
            settled=is_settled(body),
            handled_before="observedGeneration" in (body.get("status") or {}),
            state_seconds=float(intervals.get("stateSeconds") or 30),
            rng=self.rng,
        )

    def _wake(self, uid: str) -> None:
        self.scheduler.wake(uid)

    def leave(self, uid: str) -> None:
        """The watch no longer shows the object: it was deleted, or it left this shard's
        label selector (the watch reports that as DELETED too).

        Its loop stops at once: a step under way makes no further side effect (`mine`),
        the GREEN-API call in flight, if any, finishes. Then the object is re-read to tell
        a deletion from a move: only for one really gone (or re-created: another uid) are
        the linking codes deleted; a moved object keeps them, and its new shard starts
        from what the object records (status and annotations).
        """
        self.scheduler.remove(uid)
        entry = self.runtime.drop(uid)
        self.runtime.metrics.forget(uid)
        if entry is None:
            return
        entry.mine = False
        task = asyncio.create_task(self._hand_over(entry), name="leave an object")
        self.runtime.background.add(task)
        task.add_done_callback(self.runtime.background.discard)

    async def _hand_over(self, entry: Entry) -> None:
        async with entry.busy:  # the step under way, if any, ends first
            if entry.memory.profile is not None:
                self.runtime.profiles.gate.leave(entry.memory.profile, _name_of(entry.body))
            await entry.live.close()
            if entry.memory.linking_secret_removed or not await self._gone(entry):
                return
            await self._end_linking(entry)

    async def _gone(self, entry: Entry) -> bool:
        """Whether the object is really gone (not merely out of this shard's selector)."""
        metadata = (entry.body or {}).get("metadata") or {}
        if metadata.get("deletionTimestamp"):
            return True  # it was being deleted: no read needed
        namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
        try:
            current = await self.runtime.kube.read_instance(namespace, name)
        except KubeError as exc:
            # Unsure: keep the codes. The Secret is owned, so garbage collection removes
            # it if the object is gone after all.
            return exc.status == 404
        uid = str((current.get("metadata") or {}).get("uid") or "")
        if uid != str(metadata.get("uid") or ""):
            return True
        log.info("%s/%s left this shard; its new shard takes over", namespace, name)
        return False

    async def _end_linking(self, entry: Entry) -> None:
        """Delete a deleted object's codes now.

        Garbage collection would remove the Secret too (it is owned), but later: a
        code for a resource that is gone should not stay readable meanwhile.
        """
        metadata = (entry.body or {}).get("metadata") or {}
        with contextlib.suppress(KubeError):
            await writer.remove_secret(
                self.runtime.kube,
                SecretRemoval(
                    str(metadata.get("namespace") or ""),
                    secret_name(str(metadata.get("name") or "")),
                    str(metadata.get("uid") or ""),
                    constants.ROLE_LINKING,
                ),
            )

    async def stop(self) -> None:
        """Stop every linking session (at shutdown)."""
        for entry in self.runtime.entries.values():
            await entry.live.close()

    # ------------------------------------------------------------------ one step

    async def step(self, uid: str) -> float | None:
        """Reconcile (or finalize) one object against its latest body; the next delay."""
        entry = self.runtime.entries.get(uid)
        if entry is None or entry.body is None:
            return None
        with self.runtime.step_of(uid):
            return await self._step(uid, entry, entry.body)

    async def _step(self, uid: str, entry: Entry, body: dict[str, Any]) -> float | None:
        # Taken before the body is read: a change after this point wakes the object again.
        wakes = entry.wakes
        entry.trigger = trigger_of(body)
        metadata = body.get("metadata") or {}
        namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
        async with entry.busy:
            mine = still_mine.set(lambda: entry.mine)
            try:
                if metadata.get("deletionTimestamp"):
                    return await self._finalize(entry, namespace, name)
                if wakes == entry.answered_wakes:
                    polled = await self.runtime.reconciler.poll(entry.memory, entry.live)
                    entry.memory = polled.memory
                    if polled.delay is not None:
                        return polled.delay
                await self._keep_finalizer(entry, namespace, name)
                return await self._reconcile(uid, entry, namespace, name, wakes)
            except KubeError as exc:
                log.warning("%s/%s: %s", namespace, name, exc.message)
                # Refused for a stale resourceVersion (the watch need not show every
                # version): retrying with the same one would be refused forever.
                if exc.status == 409 and await self._reread(uid, entry, namespace, name):
                    return 0.0
                return self._failed(entry)
            finally:
                still_mine.reset(mine)

    async def _reconcile(
        self, uid: str, entry: Entry, namespace: str, name: str, wakes: int
    ) -> float | None:
        runtime = self.runtime
        assert entry.body is not None
        body = entry.body
        # Set when a fenced write was refused: the object changed since it was read.
        stale = False

        async def record(patch: dict[str, Any]) -> None:
            # An intent, written before a side effect: it must be stored, or nothing is done.
            nonlocal stale
            try:
                await self._write_status(entry, namespace, name, patch)
            except KubeError as exc:
                stale = stale or exc.status == 409
                raise
            entry.last_status = apply_merge_patch(status_of(entry), patch)

        async def annotate(annotations: dict[str, str | None]) -> None:
            nonlocal stale
            try:
                version = await writer.annotate_fenced(
                    runtime.kube, namespace, name, annotations, entry.version
                )
            except KubeError as exc:
                stale = stale or exc.status == 409
                raise
            entry.version = entry.written_version = version

        deadline = runtime.config.reconcile_deadline
        try:
            try:
                with runtime.metrics.reconcile_seconds.labels(kind=constants.KIND).time():
                    async with asyncio.timeout(deadline):
                        outcome = await runtime.reconciler.reconcile(
                            self._snapshot(entry),
                            entry.memory,
                            entry.live,
                            entry.wake,
                            record,
                            annotate,
                        )
            except TimeoutError:
                return self._deadline_exceeded(body, entry, deadline)
            # The one place an instance's memory changes after a reconcile.
            entry.memory = outcome.memory
            if not entry.mine:
                return None  # it left this process: nothing more is written or posted
            count(runtime.metrics, uid, outcome)
            written = True
            if outcome.status_patch is not None and not stale:
                try:
                    await self._write_status(entry, namespace, name, outcome.status_patch)
                    entry.last_status = outcome.document
                except KubeError as exc:
                    stale = exc.status == 409
                    written = False
                    log.warning("Status of %s/%s not written: %s", namespace, name, exc.message)
        finally:
            if entry.last_status is not None:
                _keep_written(entry, entry.last_status)
        if stale:
            # Another writer changed the object since this reconcile read it: what was
            # planned from it is dropped (no status, no intent-refused warning) and the
            # object is reconciled again at once from what is stored now.
            self.post(body, [e for e in outcome.events if e.reason != Reason.INTENT_NOT_RECORDED])
            if await self._reread(uid, entry, namespace, name):
                return 0.0
            return self._failed(entry)
        self.post(body, outcome.events)
        if written:
            entry.answered_wakes = wakes
        if entry.wakes != wakes:
            return 0.0  # woken while it ran: the change is answered now, not at the next poll
        return outcome.requeue_after

    def _snapshot(self, entry: Entry) -> dict[str, Any]:
        """The body to reconcile: our last status, and the resourceVersion writes must find."""
        taken = snapshot(_with_status(entry), entry)
        if entry.version:
            taken["metadata"]["resourceVersion"] = entry.version
        return taken

    async def _write_status(
        self, entry: Entry, namespace: str, name: str, patch: dict[str, Any]
    ) -> None:
        """A status merge patch fenced by the object's resourceVersion (409 when stale)."""
        kube = self.runtime.kube
        await write_status(kube, entry, constants.PLURAL, namespace, name, patch, fenced=True)

    async def _reread(self, uid: str, entry: Entry, namespace: str, name: str) -> bool:
        """Take the object as stored now, after a fenced write was refused; False when it
        could not be read (the caller backs off rather than retrying a stale version)."""
        try:
            current = await self.runtime.kube.read_instance(namespace, name)
        except KubeError as exc:
            log.warning("%s/%s could not be re-read: %s", namespace, name, exc.message)
            if exc.status == 404:
                self.leave(uid)
            return False
        metadata = current.get("metadata") or {}
        if str(metadata.get("uid") or "") != uid:
            return False  # re-created under the same name: the watch brings the new one
        if not shards.owns(self.runtime.config.shard_selector, metadata.get("labels")):
            # Relabelled to another shard (what refused the write): stop here rather than
            # act once more beside the new shard; the watch's DELETED follows.
            self.leave(uid)
            return False
        entry.body = _slim(current)
        entry.seen_status = entry.written_status = _pack(current.get("status"))
        entry.version = str(metadata.get("resourceVersion") or "")
        entry.written_version = ""
        return True

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
        return self._failed(entry)

    def _failed(self, entry: Entry) -> float:
        """A step that failed outside the reconcile: one more failure, and its backoff."""
        entry.memory = replace(entry.memory, failures=entry.memory.failures + 1)
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
        version = entry.version or str(metadata.get("resourceVersion") or "")
        stored = await writer.finalizers(self.runtime.kube, namespace, name, finalizers, version)
        # The watch brings the same change; until then, later steps see it already.
        entry.body = {**entry.body, "metadata": {**metadata, **stored}}
        if stored.get("resourceVersion"):
            entry.version = entry.written_version = str(stored["resourceVersion"])

    async def _finalize(self, entry: Entry, namespace: str, name: str) -> float | None:
        """deletionPolicy Delete: remove the GREEN-API instance, then let the resource go."""
        assert entry.body is not None
        body = entry.body
        finalizers = list((body.get("metadata") or {}).get("finalizers") or [])
        await entry.live.close()
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
        try:
            await self._write_status(
                entry, namespace, name, result.status or {"lastError": result.message}
            )
        except KubeError as exc:
            if exc.status == 409:
                # Stale: take the stored object, or every later write is refused too.
                uid = str((body.get("metadata") or {}).get("uid") or "")
                await self._reread(uid, entry, namespace, name)
        return result.retry_after


def _follow_version(entry: Entry, version: str) -> None:
    """Take the resourceVersion of a watch event, unless it is older than our last write.

    The watch shows writes in order: until our last one appears, what it shows is
    older. (Should it never appear, after a re-list, the next fenced write is refused
    and the object re-read: a wasted read, never a stale write.)
    """
    if entry.written_version:
        if version != entry.written_version:
            return
        entry.written_version = ""
    entry.version = version


def _name_of(body: Mapping[str, Any] | None) -> str:
    metadata = (body or {}).get("metadata") or {}
    return str(metadata.get("name") or "")
