"""Pure: which Kubernetes Events a reconcile warrants. Transitions only, never per poll."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from whatsapp_operator.api.resource import Condition, LinkingPhase, WhatsAppInstanceStatus
from whatsapp_operator.constants import ConditionType
from whatsapp_operator.decide.plan import SettingsOutcome, SettingsPlan
from whatsapp_operator.reasons import Reason


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to record on the object."""

    type: Literal["Normal", "Warning"]
    reason: Reason
    message: str


# Stalled reasons whose Event the Synced or Authorized transition has already posted.
_EVENT_OF_THEIR_OWN = (Reason.BLOCKED, Reason.YELLOW_CARD, Reason.SETTINGS_NOT_APPLIED)


def _condition(status: WhatsAppInstanceStatus, kind: ConditionType) -> Condition | None:
    return next((c for c in status.conditions if c.type == kind.value), None)


def _fields(plan: SettingsPlan) -> str:
    return ", ".join(d.field for d in plan.drift) or "settings"


PLAN_EVENTS: dict[SettingsOutcome, tuple[Literal["Normal", "Warning"], Reason, str]] = {
    SettingsOutcome.APPLY: ("Normal", Reason.SETTINGS_APPLIED, "Sent {fields} to GREEN-API"),
    SettingsOutcome.REAPPLY: (
        "Warning",
        Reason.SETTINGS_REAPPLIED,
        "GREEN-API did not apply {fields} within the settle window; sent them once more",
    ),
    SettingsOutcome.CORRECT_DRIFT: (
        "Warning",
        Reason.DRIFT_CORRECTED,
        "{fields} changed outside the operator; restored them",
    ),
    SettingsOutcome.UNCONFIRMED: (
        "Warning",
        Reason.SETTINGS_UNCONFIRMED,
        "GREEN-API did not answer the write of {fields}; checking before sending again",
    ),
}


def transition_events(
    previous: WhatsAppInstanceStatus, current: WhatsAppInstanceStatus, plan: SettingsPlan
) -> list[Event]:
    """The Events warranted by the change from `previous` to `current` and by the settings plan."""
    events: list[Event] = []
    template = PLAN_EVENTS.get(plan.outcome)
    if template is not None:
        kind, reason, message = template
        events.append(Event(kind, reason, message.format(fields=_fields(plan))))

    before_synced = _condition(previous, ConditionType.SYNCED)
    now_synced = _condition(current, ConditionType.SYNCED)
    if now_synced is not None and (
        before_synced is None or before_synced.reason != now_synced.reason
    ):
        if now_synced.reason == Reason.SETTINGS_NOT_APPLIED:
            events.append(Event("Warning", Reason.SETTINGS_NOT_APPLIED, now_synced.message))
        elif now_synced.reason == Reason.DRIFTED:
            events.append(Event("Warning", Reason.DRIFT_DETECTED, now_synced.message))
        elif (
            now_synced.status == "True"
            and before_synced is not None
            # Our own write confirmed: SettingsApplied already told of it, and the
            # condition says the rest (one Event per convergence, not two).
            and before_synced.reason != Reason.APPLYING_SETTINGS
        ):
            events.append(Event("Normal", Reason.SETTINGS_IN_SYNC, now_synced.message))

    # A linked account stays in status through reboots and unreadable states, so
    # "linked" and "lost" fire once per real change, not around every reboot.
    before_auth = _condition(previous, ConditionType.AUTHORIZED)
    now_auth = _condition(current, ConditionType.AUTHORIZED)
    if now_auth is not None and (before_auth is None or before_auth.reason != now_auth.reason):
        if now_auth.status == "True" and previous.account is None and before_auth is not None:
            # A phone linked here; an account found linked on first sight is in status only.
            events.append(Event("Normal", Reason.AUTHORIZED, now_auth.message))
        elif now_auth.reason == Reason.BLOCKED:
            events.append(Event("Warning", Reason.ACCOUNT_BLOCKED, now_auth.message))
        elif now_auth.reason == Reason.YELLOW_CARD:
            events.append(Event("Warning", Reason.YELLOW_CARD, now_auth.message))
        elif now_auth.status == "False" and previous.account is not None:
            events.append(
                Event(
                    "Warning",
                    Reason.AUTHORIZATION_LOST,
                    f"The instance is now {current.state}: {now_auth.message}",
                )
            )

    before_stalled = _condition(previous, ConditionType.STALLED)
    now_stalled = _condition(current, ConditionType.STALLED)
    if now_stalled is not None:
        was_true = before_stalled is not None and before_stalled.status == "True"
        if (
            now_stalled.status == "True"
            and (
                not was_true
                or (before_stalled is not None and before_stalled.reason != now_stalled.reason)
            )
            and now_stalled.reason not in _EVENT_OF_THEIR_OWN
        ):
            # Built by this reconcile from catalog members (every visit writes Stalled anew).
            events.append(Event("Warning", Reason(now_stalled.reason), now_stalled.message))
        elif now_stalled.status != "True" and was_true:
            events.append(Event("Normal", Reason.RECOVERED, "The earlier problem is resolved"))

    before_link = previous.linking.phase if previous.linking else None
    now_link = current.linking.phase if current.linking else None
    if now_link != before_link:
        if now_link is LinkingPhase.EXPIRED:
            events.append(
                Event(
                    "Normal",
                    Reason.LINKING_WINDOW_EXPIRED,
                    current.linking.message if current.linking else "",
                )
            )
        elif now_link is LinkingPhase.CODE_READY:
            events.append(
                Event(
                    "Normal",
                    Reason.LINKING_CODE_READY,
                    current.linking.message if current.linking else "",
                )
            )
    return events


def rebound_event(instance_id: int, marker: str, namespace: str, name: str) -> Event:
    """A re-created resource took over the live instance an earlier incarnation left."""
    return Event(
        "Normal",
        Reason.REBOUND,
        f"Re-bound to instance {instance_id}, made for an earlier {namespace}/{name} (GREEN-API "
        f"name {marker!r}); no instance was created. For a new instance instead, delete that "
        "one (deletionPolicy Delete) or use another resource name",
    )
