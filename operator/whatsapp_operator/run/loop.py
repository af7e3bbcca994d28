"""An object's loop, outside kopf: run a step, then wait for its delay or a wake-up.

The daemons in `handlers` hand each object's body and `Entry` here; what happens
between steps (the snapshot a step reconciles against, the trigger that makes a
change worth an early wake-up, status writes and metrics) is the same for every
kind, so it lives once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from whatsapp_operator import constants
from whatsapp_operator.decide import requeue
from whatsapp_operator.decide.plan import SettingsOutcome
from whatsapp_operator.metrics import Metrics
from whatsapp_operator.run import writer
from whatsapp_operator.run.reconcile import Outcome
from whatsapp_operator.run.runtime import Entry, Runtime

log = logging.getLogger(__name__)
# Jitter for retries after an unexpected failure (reconciles keep their own).
_RNG = random.Random()


class Stopped(Protocol):
    """kopf's DaemonStopped as the loop uses it: truthy once stopped, and awaitable."""

    def __bool__(self) -> bool: ...

    def wait(self) -> Awaitable[Any]: ...


# What makes a reconcile worth running now rather than at the next interval.
_TRIGGER_ANNOTATIONS = (
    *constants.ACTION_ANNOTATIONS.values(),
    constants.ANNOTATION_PAUSED,
    constants.ANNOTATION_PAIR_PHONE,
    # A person ending a stuck deletion should not wait out its backoff (up to 5 minutes).
    constants.ANNOTATION_ABANDON_DELETION,
    # The answers CreateResultUnknown and CreateResultAmbiguous ask a person for; the object
    # is stalled meanwhile and would otherwise see them at its 5-minute recheck. The
    # operator's own write of the id on a creation wakes it once more, paced like any poll.
    constants.ANNOTATION_CONFIRM_CREATE,
    constants.ANNOTATION_INSTANCE_ID,
)


def trigger_of(body: Mapping[str, Any]) -> tuple[object, ...]:
    """What a change must alter to be worth an early wake-up: generation and action annotations."""
    metadata = body.get("metadata", {})
    annotations = metadata.get("annotations") or {}
    return (metadata.get("generation"), *(annotations.get(name) for name in _TRIGGER_ANNOTATIONS))


async def serve(
    entry: Entry,
    body: Mapping[str, Any],
    stopped: Stopped,
    what: str,
    step: Callable[[dict[str, Any]], Awaitable[float]],
) -> None:
    """Run `step` until stopped, again after the delay it returns or when woken."""
    while not stopped:
        entry.wakeup.clear()
        entry.trigger = trigger_of(body)
        try:
            delay = await step(snapshot(body, entry))
        except Exception:  # one object's bug must not stop its loop for good
            log.exception("Reconcile of %s failed unexpectedly", what)
            entry.memory = replace(entry.memory, failures=entry.memory.failures + 1)
            delay = requeue.after_failure(entry.memory.failures, None, _RNG)
        await wait(entry, delay, stopped)


async def write_status(
    runtime: Runtime,
    entry: Entry,
    plural: str,
    namespace: str,
    name: str,
    patch: dict[str, Any],
    document: dict[str, Any],
) -> bool:
    """Merge-patch an object's status; False (logged) when the API server refused it."""
    if not await writer.status(runtime.kube, plural, namespace, name, patch):
        return False
    entry.last_status = document
    return True


_WRITES = {
    SettingsOutcome.APPLY: "applied",
    SettingsOutcome.REAPPLY: "reapplied",
    SettingsOutcome.CORRECT_DRIFT: "drift_corrected",
    SettingsOutcome.WRITE_FAILED: "failed",
    SettingsOutcome.REJECTED: "rejected",
    SettingsOutcome.UNCONFIRMED: "unconfirmed",
}


def count(metrics: Metrics, uid: str, outcome: Outcome) -> None:
    """Record one reconcile's outcome in the metrics: state, settings writes, errors."""
    metrics.set_state(uid, outcome.status.state or "unknown")
    label = _WRITES.get(outcome.settings)
    if label is not None:
        metrics.settings_writes.labels(outcome=label).inc()
    if outcome.settings is SettingsOutcome.CORRECT_DRIFT:
        metrics.drift_corrections.inc()
    if outcome.failure_reason:
        metrics.errors.labels(reason=outcome.failure_reason).inc()


def snapshot(body: Mapping[str, Any], entry: Entry) -> dict[str, Any]:
    """A plain copy of the live body, with the status this process wrote last.

    The watch may not have delivered our own last status patch yet; reconciling
    against an older status would repeat events and writes.
    """
    snapshot = {
        "apiVersion": body.get("apiVersion", constants.API_VERSION),
        "kind": body.get("kind", constants.KIND),
        "metadata": dict(body.get("metadata", {})),
        "spec": dict(body.get("spec", {})),
        "status": dict(body.get("status", {})),
    }
    if entry.last_status is not None:
        seen = snapshot["status"]
        if seen.get("observedGeneration") is None or seen != entry.last_status:
            snapshot["status"] = entry.last_status
    return snapshot


async def wait(entry: Entry, seconds: float, stopped: Stopped) -> None:
    """Sleep `seconds`, or less: until the object is woken or its daemon is stopped."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            stop_waiter = asyncio.ensure_future(stopped.wait())
            wake_waiter = asyncio.ensure_future(entry.wakeup.wait())
            try:
                await asyncio.wait({stop_waiter, wake_waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop_waiter.cancel()
                wake_waiter.cancel()
