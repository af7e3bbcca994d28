"""What every kind's step does the same way, outside kopf and the scheduler.

WhatsAppInstances (`instances`) and partners and profiles (`kinds`) are stepped by
one scheduler; the snapshot a step works on, the trigger that makes a change worth
an early wake-up (`wake_on_change`, the one wake path), the status write
(`write_status`, the one status writer) and the metrics are the same for every kind,
so they live once, here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from whatsapp_operator import constants
from whatsapp_operator.decide.plan import SettingsOutcome
from whatsapp_operator.metrics import Metrics
from whatsapp_operator.run import writer
from whatsapp_operator.run.reconcile import Outcome
from whatsapp_operator.run.runtime import Entry

log = logging.getLogger(__name__)


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


def wake_on_change(
    entry: Entry,
    body: Mapping[str, Any],
    forget_secret: Callable[[str, str], None],
    also: bool = False,
) -> bool:
    """The one wake path of every kind: a changed generation or trigger annotation (or
    `also`, the caller's own reason) wakes the object; False when nothing did.
    """
    trigger = trigger_of(body)
    if trigger == entry.trigger and not also:
        return False
    entry.trigger = trigger
    # "Re-read and retry now" includes the Secrets: a person who just rotated a token
    # need not wait for the next recheck.
    for namespace, name in entry.memory.referenced_secrets:
        forget_secret(namespace, name)
    entry.wake()
    return True


async def write_status(
    kube: writer.StatusWrites,
    entry: Entry,
    plural: str,
    namespace: str,
    name: str,
    patch: dict[str, Any],
    *,
    fenced: bool = False,
) -> None:
    """The one status writer of every kind: a merge patch of the status subresource
    (`namespace` empty: a cluster-scoped object).

    `fenced` (WhatsAppInstances, whose status records intents and whose `entry.version`
    follows the watch): only if the object is unchanged since `entry.version`, else a
    KubeError with status 409 and the caller re-reads. Partners and profiles are not
    fenced: their status is recomputed whole at every check from what it read, so a later
    check corrects any write it raced with.
    """
    version = await writer.status_patch(
        kube,
        plural,
        namespace,
        name,
        patch,
        resource_version=(entry.version or None) if fenced else None,
    )
    if version and fenced:
        entry.version = entry.written_version = version


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
