"""The one gate every write to GREEN-API passes through.

setSettings reboots a customer's account, reboot and logout interrupt it, and
createInstance bills. So each of them, wherever it is decided, goes through
`SideEffects.perform`, which

1. records the intent durably on the object first (a status or annotation
   patch); if that record cannot be written, the call is not made at all, so a
   restart or a lost status write can never make the operator forget a call it
   made;
2. makes the call once (the GREEN-API client never repeats a non-idempotent
   method blindly);
3. classifies what happened as DONE, NOT_SENT (the service proved it did not
   act: it refused, rate-limited or was never reached), REFUSED (it refused the
   request itself: resending cannot help) or UNKNOWN (no answer: it may have
   acted). An UNKNOWN outcome is never retried directly; the caller observes
   first (getSettings after the settle window, getStateInstance, getInstances);
4. logs the intent and the outcome with the object and ids, never a secret, so
   the operator's log alone tells what was created, changed or deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from whatsapp_operator.constants import KIND
from whatsapp_operator.logsetup import object_logger
from whatsapp_operator.ports import Effect, IntentNotRecorded, KubeError
from whatsapp_operator.wire import errors as gerr

log = logging.getLogger(__name__)

T = TypeVar("T")


# Whether the object being reconciled is still this process's to act on. The loop of
# WhatsAppInstances sets it per step; it turns false when the object's watch reports it
# gone (deleted, or moved to another shard), so a step that was under way then makes no
# further write: the one in flight finishes, none starts.
still_mine: ContextVar[Callable[[], bool]] = ContextVar("still_mine", default=lambda: True)


def ensure_mine() -> None:
    """Raise a retryable KubeError when the object has left this process."""
    if not still_mine.get()():
        raise KubeError("the object left this process (deleted or moved to another shard)")


class Result(StrEnum):
    """What a side effect did to the world outside."""

    DONE = "done"
    NOT_SENT = "not-sent"
    REFUSED = "refused"
    UNKNOWN = "unknown"


# Answers that prove GREEN-API did not act: it refused before doing anything.
_REFUSALS_NOTHING_DONE: tuple[type[gerr.GreenApiError], ...] = (
    gerr.RateLimited,
    gerr.QuotaExceeded,
    gerr.TokenRejected,
    gerr.InstanceRejected,
    gerr.MethodRejected,
    gerr.InstanceStarting,
    gerr.InstanceNotAuthorized,
    gerr.InstanceExpired,
    gerr.InstanceDeleted,
    gerr.PartnerTokenRejected,
    gerr.PartnerInstanceNotFound,
)


def classify(error: BaseException) -> Result:
    """What a failed call means for the world outside: could it have acted?"""
    if isinstance(error, gerr.RequestRejected):
        return Result.REFUSED
    if isinstance(error, _REFUSALS_NOTHING_DONE):
        return Result.NOT_SENT
    if isinstance(error, gerr.TransportFailure) and error.request_not_sent:
        return Result.NOT_SENT
    if isinstance(error, gerr.PartnerError) and not error.retryable:
        # A partner error code other than 5xx/429 is an answer that refuses the call.
        return Result.REFUSED
    # Timeouts, 5xx, garbled answers, cancellation mid-call: it may have happened.
    return Result.UNKNOWN


@dataclass(frozen=True)
class Performed(Generic[T]):
    """What came of one side effect: the result, and the value or the error."""

    effect: Effect
    result: Result
    value: T | None = None
    error: gerr.GreenApiError | None = None

    @property
    def done(self) -> bool:
        """Whether the call was made and succeeded."""
        return self.result is Result.DONE


Recorder = Callable[[], Awaitable[None]]


class SideEffects:
    """Runs side effects for one object, each at most once per recorded intent."""

    def __init__(self, namespace: str, name: str) -> None:
        # Every log line of a side effect names its object (both log formats).
        self.log = object_logger(log, namespace, name, kind=KIND)

    async def perform(
        self,
        effect: Effect,
        call: Callable[[], Awaitable[T]],
        *,
        record: Recorder | None,
        detail: str,
    ) -> Performed[T]:
        """Record the intent, make the call once, classify and log what happened.

        `record` writes the intent durably (None: the call is idempotent or its
        record is the caller's, e.g. the create marker). Raises IntentNotRecorded
        when the record fails; never raises the call's GreenApiError (it is in
        the result); lets anything else, cancellation included, propagate after
        logging it as an unknown outcome.
        """
        try:
            ensure_mine()
        except KubeError as exc:
            self.log.info("%s (%s) not made: %s", effect, detail, exc.message)
            raise IntentNotRecorded(effect, exc) from None
        if record is not None:
            try:
                await record()
            except Exception as exc:  # the record's own error type is the store's
                self.log.warning("%s (%s) held: intent not recorded: %s", effect, detail, exc)
                raise IntentNotRecorded(effect, exc) from None
            # The record may have waited on the API server while the object left.
            try:
                ensure_mine()
            except KubeError as exc:
                self.log.info("%s (%s) not made: %s", effect, detail, exc.message)
                raise IntentNotRecorded(effect, exc) from None
        self.log.info("%s (%s): calling GREEN-API", effect, detail)
        try:
            value = await call()
        except gerr.GreenApiError as exc:
            result = classify(exc)
            self.log.warning("%s (%s): %s: %s", effect, detail, result.value, exc.message)
            return Performed(effect, result, error=exc)
        except (asyncio.CancelledError, Exception):
            self.log.warning("%s (%s): unknown: interrupted", effect, detail)
            raise
        self.log.info("%s (%s): done", effect, detail)
        return Performed(effect, Result.DONE, value=value)
