"""Pure status decisions: conditions from what a reconcile saw and did.

The contract (kstatus, Flux and Argo CD read it): every visit writes all five
conditions with `observedGeneration`. `Stalled=True` is the only "failed" signal
(a person must act); `Reconciling=True` means "converging, wait"; `Ready` is True
when everything the operator controls has converged. A linked phone is reported
in `Authorized` and only gates `Ready` when the resource asks for it, so a GitOps
rollout does not wait on a human step by default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from whatsapp_operator.api.resource import Condition
from whatsapp_operator.constants import ConditionType
from whatsapp_operator.decide.plan import SettingsOutcome
from whatsapp_operator.reasons import Reason
from whatsapp_operator.timestamps import format_time
from whatsapp_operator.wire.models import InstanceState

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


@dataclass(frozen=True)
class Failure:
    """Why this reconcile could not finish. `permanent`: retrying without a change cannot help."""

    reason: Reason
    message: str
    permanent: bool


@dataclass(frozen=True)
class Facts:
    """What a reconcile learned, as the conditions need it."""

    generation: int
    state: InstanceState | None
    raw_state: str | None
    settings: SettingsOutcome
    differing: tuple[str, ...] = ()
    failure: Failure | None = None
    require_authorization: bool = False
    linking_hint: str = ""
    phone: str = ""
    # Partner mode: the plan's expiry (decide/expiry.py), as messages ("" when it does not hold).
    plan_expiring: str = ""
    plan_expired: str = ""
    # WebhookDelivery (status, reason, message); None: not judged, the condition is left out.
    delivery: Written | None = None
    require_delivery: bool = False


# GREEN-API state -> (Authorized status, reason, message, needs a person)
AUTHORIZATION_CONDITIONS: dict[InstanceState, tuple[str, Reason, str, bool]] = {
    InstanceState.AUTHORIZED: (TRUE, Reason.AUTHORIZED, "A phone is linked", False),
    InstanceState.NOT_AUTHORIZED: (FALSE, Reason.NOT_AUTHORIZED, "No phone is linked", False),
    InstanceState.BLOCKED: (
        FALSE,
        Reason.BLOCKED,
        "WhatsApp banned this number; contact GREEN-API support",
        True,
    ),
    InstanceState.YELLOW_CARD: (
        FALSE,
        Reason.YELLOW_CARD,
        "Sending is suspended for suspected spam; reboot the instance to resume",
        True,
    ),
    InstanceState.STARTING: (
        UNKNOWN,
        Reason.STARTING,
        "The instance is starting (GREEN-API allows up to 5 minutes)",
        False,
    ),
    InstanceState.SLEEP_MODE: (
        UNKNOWN,
        Reason.SLEEP_MODE,
        "The phone is offline; the state recovers within 5 minutes of it coming back",
        False,
    ),
    InstanceState.CREATING: (
        UNKNOWN,
        Reason.CREATING,
        "GREEN-API is still creating the instance",
        False,
    ),
    InstanceState.UNKNOWN: (
        UNKNOWN,
        Reason.UNKNOWN_STATE,
        "GREEN-API reported an unknown state",
        False,
    ),
}

SYNCED_CONDITIONS: dict[SettingsOutcome, tuple[str, Reason, str]] = {
    SettingsOutcome.IN_SYNC: (TRUE, Reason.IN_SYNC, "Settings match spec"),
    SettingsOutcome.APPLY: (FALSE, Reason.APPLYING_SETTINGS, "Sent {fields} to GREEN-API"),
    SettingsOutcome.REAPPLY: (
        FALSE,
        Reason.REAPPLYING_SETTINGS,
        "GREEN-API did not apply {fields} within the settle window; sent them once more",
    ),
    SettingsOutcome.CORRECT_DRIFT: (
        FALSE,
        Reason.CORRECTING_DRIFT,
        "{fields} changed outside the operator; restoring them",
    ),
    SettingsOutcome.WAITING_TO_SETTLE: (
        FALSE,
        Reason.APPLYING_SETTINGS,
        "Waiting for GREEN-API to apply {fields} (up to 5 minutes)",
    ),
    SettingsOutcome.WAITING_FOR_STATE: (
        FALSE,
        Reason.WAITING_FOR_INSTANCE,
        "{fields} will be sent once the instance has started",
    ),
    SettingsOutcome.WAITING_FOR_ROLLOUT: (
        FALSE,
        Reason.WAITING_FOR_ROLLOUT,
        "{fields} come from a profile change that is rolled out a few instances at a time; "
        "waiting for a slot",
    ),
    SettingsOutcome.NOT_APPLIED: (
        FALSE,
        Reason.SETTINGS_NOT_APPLIED,
        "Sent {fields} to GREEN-API twice (answered or not) without effect; see status.drift",
    ),
    SettingsOutcome.OBSERVED_DRIFT: (
        FALSE,
        Reason.DRIFTED,
        "{fields} differ from spec (managementPolicy Observe: not corrected)",
    ),
    SettingsOutcome.PAUSED: (
        FALSE,
        Reason.RECONCILE_PAUSED,
        "{fields} differ from spec; writes are paused by annotation",
    ),
    SettingsOutcome.UNOBSERVED: (UNKNOWN, Reason.SETTINGS_UNKNOWN, "Settings not read yet"),
    SettingsOutcome.REJECTED: (
        FALSE,
        Reason.SETTINGS_REJECTED,
        "GREEN-API rejected {fields} (400); they are not sent again until spec.settings changes",
    ),
    SettingsOutcome.WRITE_FAILED: (
        FALSE,
        Reason.APPLY_FAILED,
        "Sending {fields} to GREEN-API failed",
    ),
    SettingsOutcome.UNCONFIRMED: (
        FALSE,
        Reason.APPLY_UNCONFIRMED,
        "GREEN-API did not answer the write of {fields}; it counts as sent and is checked "
        "with getSettings after the settle window, never sent again blindly",
    ),
}

CONVERGING_OUTCOMES = frozenset(
    {
        SettingsOutcome.APPLY,
        SettingsOutcome.REAPPLY,
        SettingsOutcome.CORRECT_DRIFT,
        SettingsOutcome.WAITING_TO_SETTLE,
        SettingsOutcome.WAITING_FOR_STATE,
        SettingsOutcome.WAITING_FOR_ROLLOUT,
        SettingsOutcome.UNCONFIRMED,
    }
)


def _fields(names: tuple[str, ...]) -> str:
    if not names:
        return "settings"
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


Verdict = tuple[str, Reason, str]  # (status, reason, message)
# A verdict as status holds it: WebhookDelivery's may be read back from the last status written.
Written = tuple[str, str, str]


def _authorized(facts: Facts) -> tuple[Verdict, bool]:
    """The Authorized verdict, and whether the state needs a person to act."""
    if facts.state is None:
        message = facts.failure.message if facts.failure else "State not read yet"
        return (UNKNOWN, Reason.STATE_UNKNOWN, message), False
    status, reason, message, needs_person = AUTHORIZATION_CONDITIONS[facts.state]
    if facts.state is InstanceState.UNKNOWN and facts.raw_state:
        message = f"GREEN-API reported state {facts.raw_state!r}"
    if facts.state is InstanceState.NOT_AUTHORIZED and facts.linking_hint:
        message = f"{message}: {facts.linking_hint}"
    if facts.state is InstanceState.AUTHORIZED and facts.phone:
        message = f"Linked to +{facts.phone}"
    return (status, reason, message), needs_person


def _synced(facts: Facts) -> Verdict:
    if facts.failure is not None:
        return FALSE, facts.failure.reason, facts.failure.message
    status, reason, template = SYNCED_CONDITIONS[facts.settings]
    return status, reason, template.format(fields=_fields(facts.differing))


def _stalled(facts: Facts, authorized: Verdict, needs_person: bool, synced: Verdict) -> Verdict:
    if facts.failure is not None and facts.failure.permanent:
        return TRUE, facts.failure.reason, facts.failure.message
    if facts.plan_expired:
        return TRUE, Reason.INSTANCE_EXPIRED, facts.plan_expired
    if needs_person:
        return TRUE, authorized[1], authorized[2]
    if facts.failure is None and facts.settings in (
        SettingsOutcome.NOT_APPLIED,
        SettingsOutcome.REJECTED,
    ):
        return TRUE, synced[1], synced[2]
    return FALSE, Reason.NOT_STALLED, ""


def _reconciling(facts: Facts, authorized: Verdict, synced: Verdict, stalled: Verdict) -> Verdict:
    # kstatus reads Reconciling before Stalled: a stalled object must not look in progress.
    if stalled[0] == TRUE:
        return FALSE, Reason.STALLED, ""
    if facts.failure is not None and not facts.failure.permanent:
        return TRUE, Reason.RETRYING_AFTER_ERROR, facts.failure.message
    if facts.failure is None and facts.settings in CONVERGING_OUTCOMES:
        return TRUE, synced[1], synced[2]
    if facts.state in (InstanceState.CREATING, InstanceState.STARTING):
        return TRUE, authorized[1], authorized[2]
    return FALSE, Reason.CONVERGED, ""


def _ready(facts: Facts, authorized: Verdict, synced: Verdict, stalled: Verdict) -> Written:
    if stalled[0] == TRUE:
        return FALSE, stalled[1], stalled[2]
    if facts.failure is not None:
        return FALSE, facts.failure.reason, facts.failure.message
    observing = facts.settings is SettingsOutcome.OBSERVED_DRIFT
    if synced[0] != TRUE and not observing:
        return FALSE, synced[1], synced[2]
    if facts.state is InstanceState.CREATING:
        return FALSE, authorized[1], authorized[2]
    if facts.require_authorization and facts.state is not InstanceState.AUTHORIZED:
        return FALSE, Reason.AWAITING_AUTHORIZATION, authorized[2]
    if facts.require_delivery and facts.delivery is not None and facts.delivery[0] == FALSE:
        return FALSE, facts.delivery[1], facts.delivery[2]
    if observing:
        return TRUE, Reason.OBSERVING, synced[2]
    if facts.plan_expiring:
        return TRUE, Reason.PLAN_EXPIRING, facts.plan_expiring
    detail = authorized[2][:1].lower() + authorized[2][1:]
    return TRUE, Reason.READY, f"Settings in sync; {detail}"


def desired_conditions(facts: Facts) -> dict[ConditionType, Written]:
    """(status, reason, message) for each condition type."""
    authorized, needs_person = _authorized(facts)
    synced = _synced(facts)
    stalled = _stalled(facts, authorized, needs_person, synced)
    wanted: dict[ConditionType, Written] = {
        ConditionType.READY: _ready(facts, authorized, synced, stalled),
        ConditionType.SYNCED: synced,
        ConditionType.AUTHORIZED: authorized,
        ConditionType.RECONCILING: _reconciling(facts, authorized, synced, stalled),
        ConditionType.STALLED: stalled,
    }
    if facts.delivery is not None:
        wanted[ConditionType.WEBHOOK_DELIVERY] = facts.delivery
    return wanted


def merge_conditions(
    previous: list[Condition],
    wanted: Mapping[ConditionType, Written],
    generation: int,
    now: datetime,
) -> list[Condition]:
    """New condition list; `lastTransitionTime` moves only when a status flips."""
    before = {condition.type: condition for condition in previous}
    merged = []
    for kind, (status, reason, message) in wanted.items():
        old = before.get(kind.value)
        since = old.last_transition_time if old is not None and old.status == status else None
        merged.append(
            Condition(
                type=kind.value,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=since or format_time(now),
                observed_generation=generation,
            )
        )
    return merged
