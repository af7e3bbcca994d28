"""Act: the reconcile's side effects, each through the gate (`journal`, `effects`).

Requested actions (reboot, logout by annotation), the settings write the plan
asked for, and autoHeal's reboot. Each records its intent in status first, and
reads what came of the call as done, not sent, refused or unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from whatsapp_operator import constants
from whatsapp_operator.api.resource import LastApplied
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.plan import SettingsPlan, write_failed, write_unconfirmed
from whatsapp_operator.ports import Effect, IntentNotRecorded
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.cycle import Inputs, Settled
from whatsapp_operator.run.effects import Result
from whatsapp_operator.run.journal import Intent, Journal, action_key
from whatsapp_operator.timestamps import format_time, parse_time
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import InstanceState, StateReport


@dataclass(frozen=True)
class Written:
    """What came of a settings write: the plan as it stands now, and why it failed."""

    plan: SettingsPlan
    error: gerr.GreenApiError | IntentNotRecorded | None = None


async def write_settings(
    journal: Journal,
    settled: Settled,
    api: InstanceApi,
    plan: SettingsPlan,
    previous: LastApplied | None,
    report: Mapping[str, Any],
) -> Written:
    """Send the plan's settings write through the gate.

    `report` is the status patch this reconcile makes if the write succeeds: it is
    recorded with the intent, so that a successful write needs no second status patch.
    The error is the write's `GreenApiError` when it was not taken, `UnexpectedResponse`
    when GREEN-API answered saveSettings=false, or `IntentNotRecorded`. No answer is no
    error: the plan becomes Unconfirmed.
    """
    assert plan.write is not None
    assert plan.last_applied is not None
    write, applied = plan.write, plan.last_applied
    detail = (
        f"instance {settled.instance_id}, {plan.outcome.value}, fields "
        f"{', '.join(applied.fields)}, attempt {applied.attempts}"
    )
    intent = {**report, "lastApplied": applied.model_dump(mode="json", by_alias=True)}
    try:
        performed = await journal.perform(
            Effect.SET_SETTINGS,
            lambda: api.set_settings(write),
            intent=Intent(intent),
            detail=detail,
        )
    except IntentNotRecorded as exc:
        return Written(write_failed(plan, previous, rejected=False), exc)
    if performed.result is Result.UNKNOWN:
        # Maybe applied: getSettings after the settle window decides, never a resend.
        return Written(write_unconfirmed(plan))
    if performed.error is not None:
        rejected = performed.result is Result.REFUSED
        return Written(write_failed(plan, previous, rejected=rejected), performed.error)
    if not performed.value:
        return Written(
            write_failed(plan, previous, rejected=False),
            gerr.UnexpectedResponse(
                "setSettings: GREEN-API answered saveSettings=false",
                method="setSettings",
                instance_id=settled.instance_id,
            ),
        )
    return Written(plan)


UNCONFIRMED = {Effect.REBOOT: Reason.REBOOT_UNCONFIRMED, Effect.LOGOUT: Reason.LOGOUT_UNCONFIRMED}


async def perform_requested_actions(journal: Journal, settled: Settled, api: InstanceApi) -> None:
    """Reboot and logout requested by annotation, once per request in time order, intent
    recorded first. Raises what kept one from being made (the next cycle tries again)."""
    actions = (
        (
            constants.Action.REBOOT,
            Effect.REBOOT,
            api.reboot,
            Reason.REBOOTED,
            "Rebooted the instance on request",
        ),
        (
            constants.Action.LOGOUT,
            Effect.LOGOUT,
            api.logout,
            Reason.LOGGED_OUT,
            "Logged the linked phone out on request",
        ),
    )
    for action, effect, call, reason, message in actions:
        value = journal.pending(action)
        if value is None:
            continue
        performed = await journal.perform(
            effect,
            call,
            intent=Intent({"handledActions": {action: value}}, action_key(action)),
            detail=f"instance {settled.instance_id}, requested {value}",
        )
        if performed.result is Result.NOT_SENT and performed.error is not None:
            raise performed.error  # not done: the next cycle tries again, after backoff
        # Done or maybe done: either way never again for this request or an older one.
        await journal.performed_action(action, value)
        if performed.result is Result.DONE:
            journal.note(Event("Normal", reason, message))
        else:
            error = performed.error.message if performed.error is not None else ""
            journal.note(
                Event(
                    "Warning",
                    UNCONFIRMED[effect],
                    f"{effect.value} on request got no usable answer ({error}); "
                    "it is not sent again: set the annotation anew to retry",
                )
            )


async def auto_heal(
    inputs: Inputs, journal: Journal, settled: Settled, api: InstanceApi, state: StateReport
) -> str | None:
    """autoHeal: reboot an instance stuck in `starting`, at most once per cooldown.

    The new lastAutoReboot when a reboot was sent (None: none); raises what kept a
    reboot from being made.
    """
    heal = inputs.obj.spec.auto_heal
    previous = inputs.previous
    if not heal.enabled or state.state is not InstanceState.STARTING:
        return None
    if not previous.state_since or previous.state != InstanceState.STARTING.value:
        return None
    stuck_for = inputs.now - parse_time(previous.state_since)
    if stuck_for < timedelta(minutes=heal.starting_minutes):
        return None
    last = previous.last_auto_reboot
    if last and inputs.now - parse_time(last) < timedelta(minutes=heal.cooldown_minutes):
        return None
    stamp = format_time(inputs.now)
    performed = await journal.perform(
        Effect.REBOOT,
        api.reboot,
        intent=Intent({"lastAutoReboot": stamp}),
        detail=f"instance {settled.instance_id}, auto-heal after {stuck_for}",
    )
    if performed.result is Result.NOT_SENT and performed.error is not None:
        raise performed.error
    # Done or maybe done: the cooldown starts either way, so a lost answer is no loop.
    journal.note(
        Event(
            "Warning",
            Reason.AUTO_REBOOTED,
            f"The instance was starting for {int(stuck_for.total_seconds() // 60)} minutes; "
            "rebooted it as GREEN-API advises",
        )
    )
    return stamp
