"""What one reconcile has done, kept by the gate as it goes: its `ActResult`.

Every side effect of a reconcile goes through `Journal.perform`, which records the
intent in status first (through the gate in `effects`), remembers an intent whose
record failed (`decide/intents`), and keeps what was performed and the Events to post.
Requested actions are marked performed here too, in status (by the report) and in the
operator's own annotation. The reconcile reads the result once, at the end, as a value.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from whatsapp_operator import constants
from whatsapp_operator.decide import intents
from whatsapp_operator.decide.actions import Verdict, requested
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.intents import Unsent
from whatsapp_operator.decide.statusdiff import apply_merge_patch
from whatsapp_operator.logsetup import ObjectLogAdapter
from whatsapp_operator.ports import Effect, IntentNotRecorded, KubeError
from whatsapp_operator.run.effects import Performed, SideEffects

T = TypeVar("T")

# Writes a merge patch to the object's status, durably, before a side effect.
StatusRecorder = Callable[[dict[str, Any]], Awaitable[None]]
# Merge-patches the object's annotations (None removes one).
Annotator = Callable[[dict[str, str | None]], Awaitable[None]]


@dataclass(frozen=True)
class Intent:
    """A status merge patch to record before a call.

    `key` names what it is for when a record that failed must be remembered: when no
    observation can tell whether the call was made (requested actions, queue clears, a
    token rotation). None: the next reconcile observes instead (a settings write is
    re-read after its settle window, autoHeal waits its cooldown).
    """

    patch: Mapping[str, Any]
    key: str | None = None


@dataclass(frozen=True)
class ActResult:
    """What the reconcile's side effects left: status as stored, actions, Events."""

    # The status as the API server holds it: the snapshot plus the intents recorded.
    stored: Mapping[str, Any]
    handled: Mapping[str, str]
    unsent: tuple[Unsent, ...]
    events: tuple[Event, ...]
    performed: tuple[Effect, ...]


def action_key(action: constants.Action) -> str:
    """The intent key of a requested action."""
    return f"handledActions/{action.value}"


class Journal:
    """One reconcile's side effects, in order, and what came of them."""

    def __init__(
        self,
        *,
        gate: SideEffects,
        log: ObjectLogAdapter,
        metadata: Mapping[str, Any],
        stored: Mapping[str, Any],
        handled: Mapping[str, str],
        unsent: tuple[Unsent, ...],
        record: StatusRecorder | None,
        annotate: Annotator | None,
    ) -> None:
        self._gate = gate
        self._log = log
        self._metadata = metadata
        self._stored = dict(stored)
        self._handled = dict(handled)
        self._unsent = unsent
        self._record = record
        self._annotate = annotate
        self._events: list[Event] = []
        self._performed: list[Effect] = []

    def requested(self, action: constants.Action) -> tuple[str, Verdict]:
        """The action's annotation value and whether it is to be performed now."""
        return requested(action, self._metadata, self._handled)

    def pending(self, action: constants.Action) -> str | None:
        """The value of `action`'s annotation if it is to be performed now, else None.

        Only a timestamp later than the last performed request of its kind and than the
        object's creation is: re-applying an older manifest performs nothing again.
        """
        value, verdict = self.requested(action)
        return value if verdict is Verdict.PERFORM else None

    def note(self, *events: Event) -> None:
        """Events to post with the report."""
        self._events.extend(events)

    def handle(self, action: constants.Action, value: str) -> None:
        """Mark a request answered that needs no call (a reconcile, a relink)."""
        self._handled[action] = value

    async def perform(
        self,
        effect: Effect,
        call: Callable[[], Awaitable[T]],
        *,
        intent: Intent | None,
        detail: str,
    ) -> Performed[T]:
        """Record `intent`, then make the call through the gate (`SideEffects.perform`).

        When the record fails the call is not made and the intent is remembered as
        unsent: it may have landed all the same.
        """
        if intent is None:
            performed = await self._gate.perform(effect, call, record=None, detail=detail)
            self._performed.append(effect)
            return performed
        patch = dict(intent.patch)
        before = self._stored

        async def record() -> None:
            await self._write(patch)

        try:
            performed = await self._gate.perform(effect, call, record=record, detail=detail)
        except IntentNotRecorded:
            if intent.key is not None:
                self._unsent = intents.held(self._unsent, Unsent.of(intent.key, patch, before))
            raise
        if intent.key is not None:
            self._unsent = intents.settled(self._unsent, intent.key)
        self._performed.append(effect)
        return performed

    async def record(self, patch: Mapping[str, Any]) -> None:
        """Record a status patch with no call behind it (a rollout slot taken)."""
        await self._write(dict(patch))

    async def _write(self, patch: dict[str, Any]) -> None:
        # Without a recorder (unit tests) nothing is stored: the report carries it all.
        if self._record is not None:
            await self._record(patch)
            self._stored = apply_merge_patch(self._stored, patch)

    async def performed_action(self, action: constants.Action, value: str) -> None:
        """Mark `action` requested at `value` as performed, in status (by the report) and in
        the operator's own annotation, which outlives a lost status.

        After the call, not before: status already holds the intent, and an annotation
        that said "performed" for a call that was never made would lose the request.
        """
        self._handled[action] = value
        annotation = constants.PERFORMED_ANNOTATIONS.get(action)
        if annotation is None or self._annotate is None:
            return
        try:
            await self._annotate({annotation: value})
        except KubeError as exc:
            self._log.warning(
                "%s requested at %s was performed; recording it in %s failed (status holds it): %s",
                action,
                value,
                annotation,
                exc.message,
            )

    def result(self) -> ActResult:
        """What the reconcile's side effects left, as a value."""
        return ActResult(
            stored=dict(self._stored),
            handled=dict(self._handled),
            unsent=self._unsent,
            events=tuple(self._events),
            performed=tuple(self._performed),
        )
