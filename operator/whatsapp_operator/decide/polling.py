"""Pure: when a routine poll may be just getStateInstance instead of a whole reconcile.

Most polls of a settled fleet find nothing new. A whole reconcile (parse the object,
layer the settings, plan, build and diff the status) costs several times the HTTP
call itself, so an object that is quiet after a reconcile is polled with the state
call alone until something changes: its state, the object (any wake-up), the time
to re-read its settings, or the time a token rotation or a plan check falls due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from whatsapp_operator.decide.plan import SettingsOutcome
from whatsapp_operator.wire.models import InstanceState

# Outcomes after which nothing is pending on the settings side.
_SETTLED_OUTCOMES = frozenset(
    {SettingsOutcome.IN_SYNC, SettingsOutcome.OBSERVED_DRIFT, SettingsOutcome.PAUSED}
)
# States in which nothing moves unless something happens.
_RESTING_STATES = frozenset(
    {InstanceState.AUTHORIZED, InstanceState.NOT_AUTHORIZED, InstanceState.BLOCKED}
)


@dataclass(frozen=True)
class Quiet:
    """What a quiet poll compares against, and until when it may stand in for a reconcile."""

    state: InstanceState
    state_seconds: float
    until: datetime


def quiet_after(
    *,
    settings: SettingsOutcome,
    failed: bool,
    state: InstanceState | None,
    linking_active: bool,
    settle_ends: datetime | None,
    settings_due: datetime | None,
    state_seconds: float,
    lifecycle_due: datetime | None = None,
) -> Quiet | None:
    """A `Quiet` when the reconcile left nothing in motion; None: the next poll is whole.

    `lifecycle_due` is when something else needs a whole reconcile (a token rotation, a
    plan check, a plan's date): quiet polls stand in only until then.
    """
    if (
        failed
        or settings not in _SETTLED_OUTCOMES
        or state not in _RESTING_STATES
        or linking_active
        or settle_ends is not None
        or settings_due is None
    ):
        return None
    assert state is not None
    until = settings_due if lifecycle_due is None else min(settings_due, lifecycle_due)
    return Quiet(state=state, state_seconds=state_seconds, until=until)
