"""Pure decisions: what to write to GREEN-API, given what is desired and what was seen.

No I/O and no clock: time comes in as an argument, so every rule below is tested
as a table. The rules exist because setSettings is expensive (every call reboots
the instance) and slow (values appear within up to 5 minutes):

* write only keys that differ, and only when the instance can take a write;
* never write the same desired values twice inside the settle window;
* after the window, re-apply once (GREEN-API sometimes drops settings), then stop
  and report the drift instead of rebooting the instance forever; a write that got no
  answer counts the same (it may have rebooted the instance), so at most two
  setSettings per desired state reach GREEN-API;
* a confirmed sync that drifts later is an out-of-band change: correct it once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import SecretStr

from whatsapp_operator.api.resource import FieldDrift, LastApplied, ManagementPolicy
from whatsapp_operator.timestamps import format_time, parse_time
from whatsapp_operator.wire.models import InstanceState, Settings

REDACTED = "<redacted>"
# setSettings calls per desired state that may reach GREEN-API, answered or not: the
# write and one re-apply. A write without an answer counts like an answered one: a 5xx
# may come from a write that rebooted the instance and then dropped the settings
# (GREEN-API documents that this happens), so resending it may cost a reboot each time.
MAX_APPLY_ATTEMPTS = 2
# setSettings on an instance that is being created or rebooting is refused or lost.
WRITABLE_STATES = frozenset(
    {
        InstanceState.AUTHORIZED,
        InstanceState.NOT_AUTHORIZED,
        InstanceState.SLEEP_MODE,
        InstanceState.YELLOW_CARD,
        InstanceState.BLOCKED,
    }
)
SECRET_FIELDS = frozenset({"webhook_url_token"})
# Never shown in status: `ip:port:login:password` proxies carry credentials.
HIDDEN_FIELDS = SECRET_FIELDS | {"proxy_instance"}


class SettingsOutcome(StrEnum):
    """What the plan does about settings this cycle, or why it does nothing."""

    UNOBSERVED = "Unobserved"
    IN_SYNC = "InSync"
    APPLY = "Apply"
    REAPPLY = "Reapply"
    CORRECT_DRIFT = "CorrectDrift"
    WAITING_TO_SETTLE = "WaitingToSettle"
    NOT_APPLIED = "NotApplied"
    OBSERVED_DRIFT = "ObservedDrift"
    PAUSED = "Paused"
    WAITING_FOR_STATE = "WaitingForState"
    # A profile change waits for a slot of its paced rollout (maxUnavailable).
    WAITING_FOR_ROLLOUT = "WaitingForRollout"
    # GREEN-API refused the values (400); held until spec changes.
    REJECTED = "Rejected"
    # GREEN-API answered that it did not take the write (429, 400 starting, ...).
    WRITE_FAILED = "WriteFailed"
    # No answer came (timeout, 5xx): the write may have been taken. It counts as sent,
    # and getSettings after the settle window decides; never sent again blindly.
    UNCONFIRMED = "Unconfirmed"

    @property
    def writes(self) -> bool:
        """Whether the outcome counts as a write of settings (sent, or possibly taken)."""
        return self in (
            SettingsOutcome.APPLY,
            SettingsOutcome.REAPPLY,
            SettingsOutcome.CORRECT_DRIFT,
            SettingsOutcome.UNCONFIRMED,
        )


@dataclass(frozen=True)
class DesiredSettings:
    """Managed keys (Python names of `Settings`) and a hash that identifies them.

    `version` stands in for secret values in the hash (the referenced Secret's
    resourceVersion), so status never carries anything derived from a secret.
    """

    values: dict[str, Any]
    version: str = ""

    @property
    def hash(self) -> str:
        """A digest of the desired values; secret fields count only by name and `version`."""
        public = {k: v for k, v in self.values.items() if k not in SECRET_FIELDS}
        material = json.dumps(
            {
                "values": public,
                "secrets": sorted(set(self.values) & SECRET_FIELDS),
                "version": self.version,
            },
            sort_keys=True,
            default=str,
        )
        return "sha256:" + hashlib.sha256(material.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SettingsPlan:
    """What to do about settings: the outcome, the write if any, and what status records."""

    outcome: SettingsOutcome
    differing: tuple[str, ...] = ()
    write: Settings | None = None
    last_applied: LastApplied | None = None
    drift: tuple[FieldDrift, ...] = ()
    settle_ends: datetime | None = None
    notes: dict[str, str] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def differing_fields(desired: dict[str, Any], observed: Settings) -> tuple[str, ...]:
    """The desired keys (sorted Python names) whose observed value differs."""
    return tuple(
        name
        for name, value in sorted(desired.items())
        if _plain(getattr(observed, name)) != _plain(value)
    )


def display(name: str, value: Any) -> str:
    """A value as status may show it: secrets are never shown, only whether they are set."""
    if name in HIDDEN_FIELDS:
        return REDACTED if _plain(value) else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def drift_report(
    desired: dict[str, Any],
    observed: Settings,
    differing: tuple[str, ...],
    previous: tuple[FieldDrift, ...],
    now: datetime,
) -> tuple[FieldDrift, ...]:
    """Per-field drift; `since` is kept for a field that was already drifting."""
    since = {item.field: item.since for item in previous}
    alias = {name: info.alias or name for name, info in Settings.model_fields.items()}
    report = []
    for name in differing:
        wire = alias[name]
        report.append(
            FieldDrift(
                field=wire,
                desired=display(name, desired[name]),
                observed=display(name, getattr(observed, name)),
                since=since.get(wire, format_time(now)),
            )
        )
    return tuple(report)


def write_failed(plan: SettingsPlan, previous: LastApplied | None, rejected: bool) -> SettingsPlan:
    """The plan after its write failed: nothing counts as sent, unless GREEN-API refused it."""
    if rejected and plan.last_applied is not None:
        kept = plan.last_applied.model_copy(update={"rejected": True})
        return replace(
            plan, outcome=SettingsOutcome.REJECTED, write=None, last_applied=kept, settle_ends=None
        )
    return replace(
        plan,
        outcome=SettingsOutcome.WRITE_FAILED,
        write=None,
        last_applied=previous,
        settle_ends=None,
    )


def wait_for_rollout(plan: SettingsPlan, previous: LastApplied | None) -> SettingsPlan:
    """The plan held back by the profile's rollout: nothing is sent, nothing counts as sent."""
    return replace(
        plan,
        outcome=SettingsOutcome.WAITING_FOR_ROLLOUT,
        write=None,
        last_applied=previous,
        settle_ends=None,
    )


def write_unconfirmed(plan: SettingsPlan) -> SettingsPlan:
    """The plan after its write got no answer: it counts as sent, to be checked later."""
    unanswered = (
        plan.last_applied.model_copy(
            update={"unanswered": plan.last_applied.unanswered + 1, "pending_answer": True}
        )
        if plan.last_applied is not None
        else None
    )
    return replace(plan, outcome=SettingsOutcome.UNCONFIRMED, write=None, last_applied=unanswered)


def plan_settings(
    *,
    desired: DesiredSettings,
    observed: Settings | None,
    state: InstanceState,
    last_applied: LastApplied | None,
    previous_drift: tuple[FieldDrift, ...],
    policy: ManagementPolicy,
    paused: bool,
    settle: timedelta,
    now: datetime,
) -> SettingsPlan:
    """Decide this cycle's settings outcome: write the differing keys, hold, or report drift."""
    if observed is None:
        return SettingsPlan(
            SettingsOutcome.UNOBSERVED, last_applied=last_applied, drift=previous_drift
        )
    differing = differing_fields(desired.values, observed)
    digest = desired.hash
    same_values = last_applied is not None and last_applied.hash == digest
    if not differing:
        confirmed = last_applied
        if last_applied is not None and same_values and not last_applied.confirmed:
            confirmed = last_applied.model_copy(update={"confirmed": True})
        return SettingsPlan(SettingsOutcome.IN_SYNC, last_applied=confirmed)

    drift = drift_report(desired.values, observed, differing, previous_drift, now)

    def hold(outcome: SettingsOutcome, settle_ends: datetime | None = None) -> SettingsPlan:
        return SettingsPlan(
            outcome,
            differing=differing,
            last_applied=last_applied,
            drift=drift,
            settle_ends=settle_ends,
        )

    if policy is ManagementPolicy.OBSERVE:
        return hold(SettingsOutcome.OBSERVED_DRIFT)
    if paused:
        return hold(SettingsOutcome.PAUSED)
    if state not in WRITABLE_STATES:
        return hold(SettingsOutcome.WAITING_FOR_STATE)

    attempts = 1
    unanswered = 0
    if last_applied is not None and same_values and last_applied.rejected:
        return hold(SettingsOutcome.REJECTED)
    if last_applied is not None and same_values:
        if last_applied.confirmed:
            outcome = SettingsOutcome.CORRECT_DRIFT
        else:
            settle_ends = parse_time(last_applied.time) + settle
            if now < settle_ends:
                return hold(SettingsOutcome.WAITING_TO_SETTLE, settle_ends)
            outcome = SettingsOutcome.REAPPLY
            unanswered = last_applied.unanswered
            # Whether the last write was answered or not, its values are missing a settle
            # window later: it spent one of the budget's writes either way.
            if last_applied.attempts >= MAX_APPLY_ATTEMPTS:
                return hold(SettingsOutcome.NOT_APPLIED)
            attempts = last_applied.attempts + 1
    else:
        outcome = SettingsOutcome.APPLY

    write = Settings.model_validate({name: desired.values[name] for name in differing})
    applied = LastApplied(
        time=format_time(now),
        fields=[Settings.model_fields[name].alias or name for name in differing],
        hash=digest,
        attempts=attempts,
        confirmed=False,
        unanswered=unanswered,
    )
    return SettingsPlan(
        outcome,
        differing=differing,
        write=write,
        last_applied=applied,
        drift=drift,
        settle_ends=now + settle,
    )
