"""Pure decisions about a deletion that cannot finish: retry, or let the resource go.

A resource with deletionPolicy Delete holds a billed instance and, often, a linked
phone. Letting it go while the instance still exists leaves both behind, so a
failing deletion ends only for a reason a person would accept:

* a person asked for it (`ANNOTATION_ABANDON_DELETION`);
* the credentials are provably gone (the partner, or its token Secret, is not
  found, and this process holds no copy of them) and have stayed gone for the
  bound (`WAOP_DELETION_ABANDON_AFTER`): a deleted namespace takes them first,
  and its deletion must finish some time.

Anything else (a partner 401 during a token rotation, an RBAC 403, a 404 or 400
of the partner call, any 5xx) is retried with backoff, however long it takes,
and said in status and events. No I/O.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from whatsapp_operator import constants
from whatsapp_operator.api.status import Condition
from whatsapp_operator.constants import ConditionType
from whatsapp_operator.decide import requeue
from whatsapp_operator.decide.conditions import FALSE, TRUE, merge_conditions
from whatsapp_operator.decide.events import Event
from whatsapp_operator.ports import KubeError, ProvisioningFailure, SecretNotFound
from whatsapp_operator.reasons import Reason
from whatsapp_operator.timestamps import format_time, parse_time
from whatsapp_operator.wire import errors as gerr

# How long credentials that are gone are waited for before the resource is let go.
ABANDON_AFTER = timedelta(hours=1)

# Provisioning failures that mean "there are no credentials to delete with".
_CREDENTIALS_GONE = frozenset(
    {Reason.PARTNER_NOT_FOUND, Reason.SECRET_NOT_FOUND, Reason.PARTNER_REF_MISSING}
)

DeletionError = gerr.GreenApiError | KubeError | ProvisioningFailure


def credentials_gone(error: DeletionError) -> bool:
    """Whether `error` proves the partner credentials are gone (not merely refused)."""
    if isinstance(error, ProvisioningFailure):
        return error.reason in _CREDENTIALS_GONE
    return isinstance(error, SecretNotFound)


def abandon_requested(annotations: Mapping[str, str]) -> bool:
    """Whether a person annotated the resource to let it go without its instance."""
    value = annotations.get(constants.ANNOTATION_ABANDON_DELETION, "")
    return value.strip().lower() in ("true", "yes", "1")


def deletion_started(deletion_timestamp: object, now: datetime) -> datetime:
    """When the deletion began (the object's deletionTimestamp); `now` if unreadable."""
    try:
        return parse_time(str(deletion_timestamp))
    except ValueError:
        return now


@dataclass(frozen=True)
class Verdict:
    """What to do after a failed attempt: let go (with Events), or retry after a delay."""

    abandon: bool
    events: tuple[Event, ...]
    retry_after: float = 0.0
    message: str = ""
    # The condition reason while the deletion waits.
    reason: Reason = Reason.DELETION_RETRYING
    # Whether only a person (or the bound) can end it.
    stalled: bool = False


def after_failure(
    error: DeletionError,
    *,
    left_behind: str,
    started: datetime,
    now: datetime,
    abandon_after: timedelta,
    attempt: int,
    rng: random.Random,
) -> Verdict:
    """The verdict on the `attempt`-th (0-based) failed attempt of a deletion begun `started`."""
    retry_after = None if isinstance(error, KubeError) else error.retry_after
    delay = requeue.after_failure(attempt + 1, retry_after, rng)
    if credentials_gone(error):
        ends = started + abandon_after
        if now >= ends:
            message = (
                f"Could not delete the GREEN-API instance: the partner credentials are gone "
                f"({error.message}) and stayed gone for {_span(abandon_after)}; "
                f"{left_behind} was left in place: delete it in the GREEN-API console"
            )
            return Verdict(True, (Event("Warning", Reason.DELETION_ABANDONED, message),))
        message = (
            f"Deleting the GREEN-API instance is waiting for partner credentials "
            f"({error.message}); restore them, set spec.deletionPolicy to Orphan or the "
            f'{constants.ANNOTATION_ABANDON_DELETION} annotation to "true"; otherwise the '
            f"resource is let go at {format_time(ends)}, leaving {left_behind} in place"
        )
        return Verdict(
            False,
            (Event("Warning", Reason.DELETION_FAILED, message),),
            retry_after=min(delay, max(1.0, (ends - now).total_seconds())),
            message=message,
            reason=Reason.DELETION_CREDENTIALS_GONE,
            stalled=True,
        )
    message = (
        f"Deleting the GREEN-API instance failed ({error.message}); retrying with backoff "
        f"until it succeeds. To finish without deleting {left_behind}, set "
        f"spec.deletionPolicy to Orphan or the {constants.ANNOTATION_ABANDON_DELETION} "
        'annotation to "true"'
    )
    return Verdict(
        False,
        (Event("Warning", Reason.DELETION_FAILED, message),),
        retry_after=delay,
        message=message,
    )


def abandoned_on_request(left_behind: str) -> Event:
    """The Warning of a deletion a person ended with the annotation."""
    return Event(
        "Warning",
        Reason.DELETION_ABANDONED,
        f"Deletion ended on request ({constants.ANNOTATION_ABANDON_DELETION}); {left_behind} "
        "was left in place: delete it in the GREEN-API console",
    )


def waiting_conditions(
    previous: list[Condition], verdict: Verdict, generation: int, now: datetime
) -> list[dict[str, object]]:
    """The conditions of a resource whose deletion waits: why, and whether a person must act.

    Synced and Authorized keep what the last reconcile said about the instance.
    """
    message = verdict.message
    wanted = {
        ConditionType.READY: (FALSE, verdict.reason.value, message),
        ConditionType.RECONCILING: (
            FALSE if verdict.stalled else TRUE,
            verdict.reason.value,
            message,
        ),
        ConditionType.STALLED: (
            TRUE if verdict.stalled else FALSE,
            verdict.reason.value,
            message,
        ),
    }
    merged = {c.type: c for c in previous}
    for condition in merge_conditions(previous, wanted, generation, now):
        merged[condition.type] = condition
    return [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in merged.values()]


def _span(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
