"""Pure decisions of a paced rollout: who may apply a profile revision now, and how far it is.

Every setSettings reboots the account, so a change of a WhatsAppSettingsProfile must not
reach all of its instances at once. Each instance records its part in its own status
(`status.settingsProfile`: the revision it has, the one it is applying, whether that
failed); the rollout is derived from those records alone, so a restarted operator
picks it up where it stood. At most `maxUnavailable` instances apply at a time; an
instance that does not come back (settings not applied, or not Synced and, if it was
linked, linked again within the deadline) pauses the rollout until a person acts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from whatsapp_operator.api.status import ProfileRollout
from whatsapp_operator.decide.plan import SettingsOutcome
from whatsapp_operator.timestamps import format_time, parse_time
from whatsapp_operator.wire.models import InstanceState

# States in which an instance is not back yet, whatever its settings say.
_NOT_BACK = frozenset({InstanceState.STARTING, InstanceState.CREATING})
_GAVE_UP = {
    SettingsOutcome.NOT_APPLIED: "GREEN-API did not apply the settings",
    SettingsOutcome.REJECTED: "GREEN-API rejected the settings",
}


@dataclass(frozen=True)
class Member:
    """One instance using the profile, as its status records it."""

    name: str
    revision: str = ""
    applying: str = ""
    failed: str = ""

    @property
    def in_flight(self) -> bool:
        """Whether the instance holds a rollout slot (applying, or failed while applying)."""
        return bool(self.applying)

    @classmethod
    def from_status(cls, name: str, record: ProfileRollout | None, profile: str) -> Member:
        """The member as `status.settingsProfile` describes it (another profile's record: new)."""
        if record is None or record.name != profile:
            return cls(name)
        return cls(name, record.revision, record.applying, record.failed)


def slots(max_unavailable: int | str, total: int) -> int:
    """maxUnavailable as a count: a percentage of `total` rounded down, at least 1."""
    if isinstance(max_unavailable, int):
        return max(1, max_unavailable)
    percent = int(max_unavailable.rstrip("%"))
    return max(1, math.floor(total * percent / 100))


@dataclass(frozen=True)
class Progress:
    """Where the rollout of `revision` stands."""

    revision: str
    total: int
    updated: int
    limit: int
    in_flight: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def paused(self) -> bool:
        """Whether an instance failed to come back, which holds every new start."""
        return bool(self.failed)

    @property
    def complete(self) -> bool:
        """Whether every member has the revision."""
        return self.updated == self.total


def progress(revision: str, members: list[Member], max_unavailable: int | str) -> Progress:
    """The rollout's progress from its members' records."""
    ordered = sorted(members, key=lambda m: m.name)
    return Progress(
        revision=revision,
        total=len(ordered),
        updated=sum(1 for m in ordered if m.revision == revision and not m.in_flight),
        limit=slots(max_unavailable, len(ordered)),
        in_flight=tuple(m.name for m in ordered if m.in_flight),
        failed=tuple(m.name for m in ordered if m.failed),
    )


def may_start(state: Progress, member: Member) -> bool:
    """Whether `member` may send a settings write for the revision now.

    One that already holds a slot keeps it (a re-apply, or a newer revision replacing
    the one it was applying); others need a free slot and a rollout that is not paused.
    """
    if member.in_flight:
        return True
    if state.paused:
        return False
    return len(state.in_flight) < state.limit


def advance(
    previous: ProfileRollout | None,
    *,
    profile: str,
    revision: str,
    outcome: SettingsOutcome,
    writing: bool,
    state: InstanceState | None,
    now: datetime,
    deadline: timedelta,
) -> ProfileRollout:
    """An instance's record after this cycle.

    `writing`: a settings write for the profile went out this cycle. The apply ends
    when the instance is Synced and up again (and linked again if it was linked when
    it began); it fails when GREEN-API gave up on the settings or `deadline` passed.
    """
    record = (
        previous
        if previous is not None and previous.name == profile
        else ProfileRollout(name=profile)
    )
    if writing:
        if record.applying and not record.failed:
            return record.model_copy(update={"applying": revision})
        return record.model_copy(
            update={
                "applying": revision,
                "applying_since": format_time(now),
                "was_authorized": state is InstanceState.AUTHORIZED,
                "failed": "",
            }
        )
    if not record.applying:
        if outcome is SettingsOutcome.IN_SYNC and record.revision != revision:
            # Nothing to write: the profile's change is already what the account has.
            return record.model_copy(update={"revision": revision})
        return record
    back = (
        outcome is SettingsOutcome.IN_SYNC
        and state is not None
        and state not in _NOT_BACK
        and (not record.was_authorized or state is InstanceState.AUTHORIZED)
    )
    if back:
        return record.model_copy(
            update={
                "revision": record.applying,
                "applying": "",
                "applying_since": "",
                "was_authorized": False,
                "failed": "",
            }
        )
    if record.failed:
        return record
    reason = _GAVE_UP.get(outcome)
    overdue = bool(record.applying_since) and now - parse_time(record.applying_since) > deadline
    if reason is None and overdue:
        minutes = int(deadline.total_seconds() // 60)
        linked = " and linked" if record.was_authorized else ""
        reason = f"not back (Synced{linked}) within {minutes} min"
    if reason is not None:
        return record.model_copy(update={"failed": reason})
    return record
