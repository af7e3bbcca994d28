"""Pure: what the operator would do about the managed settings, as the check prints it.

The decision is the operator's own (`decide.plan.plan_settings`), given what the check
read; this module only words it. Secret values are never shown: a webhook token is
`<set>` or `<not set>`, whatever it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from whatsapp_operator.api.resource import LastApplied, ManagementPolicy
from whatsapp_operator.check.report import Change, Status, Step
from whatsapp_operator.decide.plan import (
    SECRET_FIELDS,
    DesiredSettings,
    SettingsOutcome,
    display,
    plan_settings,
)
from whatsapp_operator.wire.models import InstanceState, Settings

SET = "<set>"
NOT_SET = "<not set>"
STEP = "managed"


@dataclass(frozen=True)
class Desired:
    """The settings the operator would manage and the rules it would apply them under."""

    settings: DesiredSettings
    policy: ManagementPolicy = ManagementPolicy.MANAGE
    paused: bool = False
    last_applied: LastApplied | None = None
    settle: timedelta = timedelta(seconds=300)
    # Managed keys the check could not compare (say, a webhook token it could not read).
    uncompared: tuple[str, ...] = ()


def shown(name: str, value: Any) -> str:
    """A value as the check prints it: secrets only as set or not set."""
    if name in SECRET_FIELDS:
        return SET if display(name, value) else NOT_SET
    text = display(name, value)
    return text if text != "" else '""'


def _alias(name: str) -> str:
    return Settings.model_fields[name].alias or name


def changes(
    desired: dict[str, Any], observed: Settings, fields: tuple[str, ...]
) -> tuple[Change, ...]:
    """The differing managed keys as (GREEN-API name, current, desired), secrets hidden."""
    return tuple(
        Change(_alias(name), shown(name, getattr(observed, name)), shown(name, desired[name]))
        for name in fields
    )


def managed_step(desired: Desired, observed: Settings, state: InstanceState, now: datetime) -> Step:
    """The `managed` line: in sync, or what the operator would write (or why it would not)."""
    plan = plan_settings(
        desired=desired.settings,
        observed=observed,
        state=state,
        last_applied=desired.last_applied,
        previous_drift=(),
        policy=desired.policy,
        paused=desired.paused,
        settle=desired.settle,
        now=now,
    )
    found = changes(desired.settings.values, observed, plan.differing)
    count = len(desired.settings.values)
    note = (
        f" ({', '.join(desired.uncompared)} not compared: its Secret was not read)"
        if desired.uncompared
        else ""
    )
    if plan.outcome is SettingsOutcome.IN_SYNC:
        return Step(
            STEP,
            Status.OK,
            f"the {count} managed keys match GREEN-API; the operator would write nothing{note}",
        )
    keys = f"{len(found)} of {count} managed keys differ"
    what = {
        SettingsOutcome.APPLY: (
            "the operator would change them with one setSettings (GREEN-API reboots the "
            "instance on every setSettings)"
        ),
        SettingsOutcome.REAPPLY: (
            "the operator wrote these values before and they did not show after the settle "
            "window: it would write them once more"
        ),
        SettingsOutcome.CORRECT_DRIFT: (
            "they were in sync before and changed outside the operator: it would correct them once"
        ),
        SettingsOutcome.WAITING_TO_SETTLE: (
            "the operator wrote them recently and waits for GREEN-API to apply them (up to "
            "the settle window) before judging"
        ),
        SettingsOutcome.NOT_APPLIED: (
            "the operator wrote them twice and they never showed: it only reports the drift"
        ),
        SettingsOutcome.OBSERVED_DRIFT: (
            "managementPolicy Observe: the operator would only report the drift"
        ),
        SettingsOutcome.PAUSED: "the resource is paused: the operator would write nothing",
        SettingsOutcome.WAITING_FOR_STATE: (
            f"the instance is {state.value}: the operator would wait for a state that "
            "takes a settings write"
        ),
        SettingsOutcome.REJECTED: (
            "GREEN-API refused these values before: the operator waits for a spec change"
        ),
    }.get(plan.outcome, f"the operator's plan: {plan.outcome.value}")
    return Step(STEP, Status.WARN, f"{keys}; {what}{note}", found)
