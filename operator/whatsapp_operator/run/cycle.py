"""One reconcile's working state and what it remembers between runs.

`Cycle` is what one pass knows (the object, the time, what it saw and decided);
`Memory` is the little an object's loop keeps between passes (caches that a
restart may lose). What the pipeline needs from GREEN-API and Kubernetes is in
`ports/`, so every step is testable without a network.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from whatsapp_operator import constants
from whatsapp_operator.api.lifecycle import PlanStatus, TokenRotationStatus
from whatsapp_operator.api.resource import (
    Account,
    ProfileRollout,
    QueuesStatus,
    WhatsAppInstance,
    WhatsAppInstanceStatus,
)
from whatsapp_operator.decide import failures
from whatsapp_operator.decide.actions import Verdict, refusal, requested
from whatsapp_operator.decide.conditions import Failure
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.plan import SettingsOutcome, SettingsPlan
from whatsapp_operator.decide.polling import Quiet
from whatsapp_operator.decide.queues import Off
from whatsapp_operator.decide.queues import Verdict as Delivery
from whatsapp_operator.decide.statusdiff import apply_merge_patch
from whatsapp_operator.logsetup import ObjectLogAdapter, object_logger
from whatsapp_operator.ports import IntentNotRecorded, KubeError
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.effects import SideEffects
from whatsapp_operator.run.linking_session import LinkingSession
from whatsapp_operator.run.provisioning import Identity
from whatsapp_operator.wire.models import (
    Settings,
    StateReport,
)

log = logging.getLogger(__name__)


def object_log(namespace: str, name: object) -> ObjectLogAdapter:
    """This module's logger, naming the object in every line."""
    return object_logger(log, namespace, str(name), kind=constants.KIND)


# Writes a merge patch to the object's status, durably, before a side effect.
StatusRecorder = Callable[[dict[str, Any]], Awaitable[None]]
# Merge-patches the object's annotations (None removes one).
Annotator = Callable[[dict[str, str | None]], Awaitable[None]]


def default_api_url(instance_id: int) -> str:
    """The dedicated-host convention: https://{first 4 digits}.api.greenapi.com."""
    return f"https://{str(instance_id)[:4]}.api.greenapi.com"


@dataclass(frozen=True)
class ProfileContext:
    """The referenced profile as this cycle read it: its key, revision and pacing."""

    key: tuple[str, str]
    revision: str
    max_unavailable: int | str


@dataclass
class Memory:
    """What one object's reconciles remember between runs (in-process only).

    Everything here can be lost on restart: status and GREEN-API hold the truth.
    """

    settings: Settings | None = None
    settings_read_at: datetime | None = None
    settings_read_generation: int | None = None
    account: Account | None = None
    session: LinkingSession | None = None
    referenced_secrets: frozenset[tuple[str, str]] = frozenset()
    # Those of them re-read on a timer while the object is idle (`secret_recheck`).
    rechecked_secrets: frozenset[tuple[str, str]] = frozenset()
    failures: int = 0
    # Seconds the first retry of the current failure streak came before the normal poll
    # (`requeue.ahead_of_schedule`): added to the poll after the streak ends.
    ahead: float = 0.0
    # Deleting an absent Secret is still a write: remember that it is gone.
    linking_secret_removed: bool = False
    # What the connection Secret was last written with (a hash; never the values).
    connection_fingerprint: str = ""
    # The WhatsAppPartner this object uses, so a change there can wake it.
    partner: tuple[str, str] | None = None
    # The WhatsAppSettingsProfile this object uses, so a change there can wake it.
    profile: tuple[str, str] | None = None
    # The desired settings the cached getSettings was read for: a new desire re-reads.
    settings_read_for: str = ""
    # Action values refused (not timestamps) and already reported: action -> value.
    refused_actions: dict[str, str] = field(default_factory=dict)
    # Requests whose intent record failed, so their call was never made (action -> value).
    # The record may have landed all the same; this process knows better than status.
    unsent_actions: dict[str, str] = field(default_factory=dict)
    # Set when the last reconcile left nothing in motion: routine polls are the state
    # call alone, through this client, until something changes.
    quiet: Quiet | None = None
    poll_api: InstanceApi | None = None
    # The pending token rotation a TokenNotRecovered Warning was posted for.
    rotation_warned: str = ""
    # When the queue counts were last asked for, read or not (a failed read waits too),
    # when they are next due (None: not watched), the counts last seen, and a reading a
    # quiet poll took that the whole reconcile it hands over to is to use.
    queues_tried_at: datetime | None = None
    queues_due: datetime | None = None
    queues_check_seconds: float = 0.0
    queue_counts: tuple[int, int] | None = None
    queue_reading: tuple[int, int, datetime] | None = None
    # When status.queues.readAt is due a refresh although nothing changed (hourly).
    queues_refresh_at: datetime | None = None
    # The stamp of a token rotation whose intent record failed (its call was never made).
    rotation_unsent: str = ""
    # clearOnAccountChange's intent (status.queues naming the new number) whose record
    # failed, and the queues status from before it: the record may have landed, but the
    # clears it stands for were never made.
    queues_unsent: tuple[QueuesStatus, QueuesStatus] | None = None


@dataclass
class Outcome:
    """What one reconcile leads to: the status patch, Events and when to run again."""

    status_patch: dict[str, Any] | None
    events: list[Event]
    requeue_after: float
    status: WhatsAppInstanceStatus
    settings: SettingsOutcome = SettingsOutcome.UNOBSERVED
    failure_reason: Reason | None = None
    # The whole status document the patch leads to (what the API server will hold).
    document: dict[str, Any] = field(default_factory=dict)
    # When GREEN-API's settle window for our last write ends, if one is open.
    settle_ends: datetime | None = None


@dataclass
class Finalization:
    """What deleting a resource needs: done, or retry later with a reason."""

    done: bool
    events: list[Event]
    retry_after: float = 0.0
    message: str = ""
    # While it waits: the status merge patch that says why (lastError, conditions).
    status: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cycle:
    """Working state of one reconcile."""

    obj: WhatsAppInstance
    now: datetime
    generation: int
    namespace: str
    name: str
    annotations: dict[str, str]
    previous: WhatsAppInstanceStatus
    # The status as the API server holds it: the last report plus intents recorded since.
    stored: dict[str, Any]
    effects: SideEffects
    record: StatusRecorder | None
    annotate: Annotator | None = None
    events: list[Event] = field(default_factory=list)
    handled: dict[str, str] = field(default_factory=dict)
    # Memory's `unsent_actions`, as this reconcile leaves them.
    unsent: dict[str, str] = field(default_factory=dict)
    failure: Failure | None = None
    retry_after: float | None = None
    state: StateReport | None = None
    plan: SettingsPlan | None = None
    last_auto_reboot: str = ""
    identity: Identity | None = None
    instance_id: int | None = None
    api_url: str = ""
    profile: ProfileContext | None = None
    settings_profile: ProfileRollout | None = None
    # status.plan and status.tokenRotation as this cycle leaves them (run/plans.py,
    # run/token_rotation.py); None: as they were.
    account_plan: PlanStatus | None = None
    token_rotation: TokenRotationStatus | None = None
    # The status this reconcile will report if its next write succeeds: written with
    # the write's intent, so that a successful write needs no second status patch.
    preview: Callable[[], dict[str, Any]] | None = None
    # status.queues as this reconcile leaves it, and the WebhookDelivery verdict.
    queues: QueuesStatus | None = None
    delivery: Delivery | Off | None = None
    # Look again this soon (seconds) even when healthy: a queue clear refused with leftTime.
    wake_after: float | None = None

    def fail(self, setback: failures.Setback) -> None:
        """Record why this reconcile could not finish, and the least wait before the next."""
        self.failure = setback.failure
        self.retry_after = setback.retry_after

    @property
    def deleting(self) -> bool:
        """Whether the object is being deleted."""
        return bool(self.obj.metadata.get("deletionTimestamp"))


def pending_action(cycle: Cycle, action: constants.Action) -> str | None:
    """The value of `action`'s annotation if it is to be performed now, else None.

    Only a timestamp later than the last performed request of its kind and than the
    object's creation is: re-applying an older manifest performs nothing again.
    """
    value, verdict = _requested(cycle, action)
    return value if verdict is Verdict.PERFORM else None


def _requested(cycle: Cycle, action: constants.Action) -> tuple[str, Verdict]:
    metadata = {**cycle.obj.metadata, "annotations": cycle.annotations}
    return requested(action, metadata, cycle.handled)


def refuse_invalid_actions(cycle: Cycle, memory: Memory) -> None:
    """A Warning, once per value, for each action annotation that is not a timestamp."""
    for action in constants.Action:
        value, verdict = _requested(cycle, action)
        if verdict is not Verdict.INVALID:
            memory.refused_actions.pop(action, None)
            continue
        if memory.refused_actions.get(action) == value:
            continue
        memory.refused_actions[action] = value
        message = refusal(action, value)
        object_log(cycle.namespace, cycle.name).warning("%s", message)
        cycle.events.append(Event("Warning", Reason.ACTION_VALUE_INVALID, message))


@contextmanager
def held_back_if_unrecorded(cycle: Cycle, action: constants.Action, value: str) -> Iterator[None]:
    """Around a requested action's trip through the gate: when its intent record fails, the
    call was never made, so remember that (`Memory.unsent_actions`): the record may have
    landed all the same, and read as "performed" it would lose the request."""
    try:
        yield
    except IntentNotRecorded:
        cycle.unsent[action] = value
        raise
    cycle.unsent.pop(action, None)


async def record_performed(cycle: Cycle, action: constants.Action, value: str) -> None:
    """Mark `action` requested at `value` as performed, in status (by the report) and in
    the operator's own annotation, which outlives a lost status.

    After the call, not before: status already holds the intent, and an annotation
    that said "performed" for a call that was never made would lose the request.
    """
    cycle.handled[action] = value
    annotation = constants.PERFORMED_ANNOTATIONS.get(action)
    if annotation is None or cycle.annotate is None:
        return
    try:
        await cycle.annotate({annotation: value})
    except KubeError as exc:
        object_log(cycle.namespace, cycle.name).warning(
            "%s requested at %s was performed; recording it in %s failed (status holds it): %s",
            action,
            value,
            annotation,
            exc.message,
        )


async def record_intent(cycle: Cycle, patch: dict[str, Any]) -> None:
    """Write an intent to status before acting; what is stored is tracked for the diff."""
    if cycle.record is not None:
        await cycle.record(patch)
        cycle.stored = apply_merge_patch(cycle.stored, patch)


def is_paused(cycle: Cycle) -> bool:
    """Whether the object carries the pause annotation."""
    return constants.is_paused(cycle.annotations)
