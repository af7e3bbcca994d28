"""Act: the reconcile's side effects, each through the gate in `effects`.

Requested actions (reboot, logout by annotation), the settings write the plan
asked for, and autoHeal's reboot. Each records its intent in status first, and
reads what came of the call as done, not sent, refused or unknown.
"""

from __future__ import annotations

from datetime import timedelta

from whatsapp_operator import constants
from whatsapp_operator.api.resource import LastApplied
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.plan import write_failed, write_unconfirmed
from whatsapp_operator.ports import Effect, IntentNotRecorded
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.cycle import (
    Cycle,
    held_back_if_unrecorded,
    pending_action,
    record_intent,
    record_performed,
)
from whatsapp_operator.run.effects import Result
from whatsapp_operator.run.queues import perform_clear_actions
from whatsapp_operator.timestamps import format_time, parse_time
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import InstanceState


async def write_settings(cycle: Cycle, api: InstanceApi, previous: LastApplied | None) -> None:
    """Send the plan's settings write through the gate, updating `cycle.plan` with what came of it.

    Raises the write's `GreenApiError` when it was not taken, `UnexpectedResponse` when
    GREEN-API answered saveSettings=false, and `IntentNotRecorded`. No answer is not an
    error: the plan becomes Unconfirmed.
    """
    plan = cycle.plan
    assert plan is not None
    assert plan.write is not None
    assert plan.last_applied is not None
    write, intent = plan.write, plan.last_applied
    detail = (
        f"instance {cycle.instance_id}, {plan.outcome.value}, fields "
        f"{', '.join(intent.fields)}, attempt {intent.attempts}"
    )

    async def record() -> None:
        patch = cycle.preview() if cycle.preview is not None else {}
        patch["lastApplied"] = intent.model_dump(mode="json", by_alias=True)
        await record_intent(cycle, patch)

    try:
        performed = await cycle.effects.perform(
            Effect.SET_SETTINGS, lambda: api.set_settings(write), record=record, detail=detail
        )
    except IntentNotRecorded:
        cycle.plan = write_failed(plan, previous, rejected=False)
        raise
    if performed.result is Result.UNKNOWN:
        # Maybe applied: getSettings after the settle window decides, never a resend.
        cycle.plan = write_unconfirmed(plan)
        return
    if performed.error is not None:
        cycle.plan = write_failed(plan, previous, rejected=performed.result is Result.REFUSED)
        raise performed.error
    if not performed.value:
        cycle.plan = write_failed(plan, previous, rejected=False)
        raise gerr.UnexpectedResponse(
            "setSettings: GREEN-API answered saveSettings=false",
            method="setSettings",
            instance_id=cycle.instance_id,
        )


UNCONFIRMED = {Effect.REBOOT: Reason.REBOOT_UNCONFIRMED, Effect.LOGOUT: Reason.LOGOUT_UNCONFIRMED}


async def perform_requested_actions(cycle: Cycle, api: InstanceApi) -> None:
    """Reboot, logout and queue clears requested by annotation, once per request in time
    order, intent recorded first."""
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
        value = pending_action(cycle, action)
        if value is None:
            continue

        async def record(action: str = action, value: str = value) -> None:
            await record_intent(cycle, {"handledActions": {action: value}})

        with held_back_if_unrecorded(cycle, action, value):
            performed = await cycle.effects.perform(
                effect,
                call,
                record=record,
                detail=f"instance {cycle.instance_id}, requested {value}",
            )
        if performed.result is Result.NOT_SENT and performed.error is not None:
            raise performed.error  # not done: the next cycle tries again, after backoff
        # Done or maybe done: either way never again for this request or an older one.
        await record_performed(cycle, action, value)
        if performed.result is Result.DONE:
            cycle.events.append(Event("Normal", reason, message))
        else:
            error = performed.error.message if performed.error is not None else ""
            cycle.events.append(
                Event(
                    "Warning",
                    UNCONFIRMED[effect],
                    f"{effect.value} on request got no usable answer ({error}); "
                    "it is not sent again: set the annotation anew to retry",
                )
            )
    await perform_clear_actions(cycle, api)


async def auto_heal(cycle: Cycle, api: InstanceApi, writes_allowed: bool) -> None:
    """autoHeal: reboot an instance stuck in `starting`, at most once per cooldown."""
    heal = cycle.obj.spec.auto_heal
    if not (heal.enabled and writes_allowed and cycle.state is not None):
        return
    if cycle.state.state is not InstanceState.STARTING or not cycle.previous.state_since:
        return
    if cycle.previous.state != InstanceState.STARTING.value:
        return
    stuck_for = cycle.now - parse_time(cycle.previous.state_since)
    if stuck_for < timedelta(minutes=heal.starting_minutes):
        return
    if cycle.last_auto_reboot and cycle.now - parse_time(cycle.last_auto_reboot) < timedelta(
        minutes=heal.cooldown_minutes
    ):
        return
    stamp = format_time(cycle.now)

    async def record() -> None:
        await record_intent(cycle, {"lastAutoReboot": stamp})

    performed = await cycle.effects.perform(
        Effect.REBOOT,
        api.reboot,
        record=record,
        detail=f"instance {cycle.instance_id}, auto-heal after {stuck_for}",
    )
    if performed.result is Result.NOT_SENT and performed.error is not None:
        raise performed.error
    # Done or maybe done: the cooldown starts either way, so a lost answer is no loop.
    cycle.last_auto_reboot = stamp
    cycle.events.append(
        Event(
            "Warning",
            Reason.AUTO_REBOOTED,
            f"The instance was starting for {int(stuck_for.total_seconds() // 60)} minutes; "
            "rebooted it as GREEN-API advises",
        )
    )
