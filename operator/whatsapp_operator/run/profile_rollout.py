"""WhatsAppSettingsProfile: seed the rollout gate from the instances' statuses, report progress.

The profile's loop lists the instances that refer to it, reads each one's part in the
rollout from its status (`status.settingsProfile`), hands that to the gate (so a
restarted operator knows who is in flight) and writes the progress into the profile's
status: updated / total, the instances in flight, the one that failed, and conditions
that kstatus reads (Ready, Reconciling, Stalled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from whatsapp_operator.api.profile import WhatsAppSettingsProfile, WhatsAppSettingsProfileStatus
from whatsapp_operator.api.status import ProfileRollout
from whatsapp_operator.constants import ConditionType
from whatsapp_operator.decide.conditions import FALSE, TRUE, Verdict, merge_conditions
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.profiles import profile_revision
from whatsapp_operator.decide.rollout import Member, Progress
from whatsapp_operator.decide.statusdiff import merge_patch
from whatsapp_operator.ports import KubeError
from whatsapp_operator.ports.kubernetes import InstanceLister
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.rollout_gate import RolloutGate

# While a rollout moves, its progress is refreshed this often (instances also wake it).
ROLLING_SECONDS = 5.0
SETTLED_SECONDS = 60.0


@dataclass
class ProfileOutcome:
    """What one look at a profile leads to: the status patch, Events and the next look."""

    status_patch: dict[str, Any] | None
    events: list[Event]
    requeue_after: float
    document: dict[str, Any]


def _record(item: dict[str, Any]) -> ProfileRollout | None:
    raw = (item.get("status") or {}).get("settingsProfile")
    if not raw:
        return None
    try:
        return ProfileRollout.model_validate(raw)
    except ValidationError:
        return None


def members_of(items: list[dict[str, Any]], profile: str) -> list[Member]:
    """The instances among `items` that refer to `profile`, as their statuses record them."""
    found = []
    for item in items:
        ref = ((item.get("spec") or {}).get("settingsProfileRef") or {}).get("name")
        if ref != profile or (item.get("metadata") or {}).get("deletionTimestamp"):
            continue
        name = str((item.get("metadata") or {}).get("name") or "")
        found.append(Member.from_status(name, _record(item), profile))
    return found


def verdicts(state: Progress, failure: str) -> dict[ConditionType, Verdict]:
    """Ready / Reconciling / Stalled for the rollout's progress."""
    count = f"{state.updated}/{state.total} instances have revision {state.revision}"
    if state.paused:
        message = (
            f"Rollout paused: instance {', '.join(state.failed)} did not come back ({failure}); "
            f"{count}. Fix it and annotate it with whatsapp-operator.io/reconcile-requested-at, "
            "or change the profile"
        )
        return {
            ConditionType.READY: (FALSE, Reason.ROLLOUT_PAUSED, message),
            ConditionType.RECONCILING: (FALSE, Reason.STALLED, ""),
            ConditionType.STALLED: (TRUE, Reason.ROLLOUT_PAUSED, message),
        }
    if not state.complete:
        message = f"Rolling out: {count}, {len(state.in_flight)} in flight (at most {state.limit})"
        return {
            ConditionType.READY: (FALSE, Reason.ROLLING_OUT, message),
            ConditionType.RECONCILING: (TRUE, Reason.ROLLING_OUT, message),
            ConditionType.STALLED: (FALSE, Reason.NOT_STALLED, ""),
        }
    return {
        ConditionType.READY: (TRUE, Reason.ROLLED_OUT, f"Rolled out: {count}"),
        ConditionType.RECONCILING: (FALSE, Reason.CONVERGED, ""),
        ConditionType.STALLED: (FALSE, Reason.NOT_STALLED, ""),
    }


class ProfileReconciler:
    """Looks at one WhatsAppSettingsProfile: seeds its rollout book and reports progress."""

    def __init__(self, instances: InstanceLister, gate: RolloutGate) -> None:
        self.instances = instances
        self.gate = gate

    async def reconcile(
        self, body: dict[str, Any], now: datetime, wake: Callable[[], None]
    ) -> ProfileOutcome:
        """One look: list the members, seed the gate, and write the progress."""
        profile = WhatsAppSettingsProfile.model_validate(body)
        namespace = str(profile.metadata.get("namespace") or "")
        name = str(profile.metadata.get("name") or "")
        generation = int(profile.metadata.get("generation") or 0)
        previous = profile.status
        revision = profile_revision(profile.spec)
        try:
            items = await self.instances.list_instances(namespace)
        except KubeError as exc:
            status = previous.model_copy(update={"observed_generation": generation})
            conditions = merge_conditions(
                previous.conditions,
                {
                    ConditionType.READY: (FALSE, exc.reason, exc.message),
                    ConditionType.RECONCILING: (TRUE, Reason.RETRYING_AFTER_ERROR, exc.message),
                    ConditionType.STALLED: (FALSE, Reason.NOT_STALLED, ""),
                },
                generation,
                now,
            )
            return self._outcome(
                previous, status.model_copy(update={"conditions": conditions}), [], ROLLING_SECONDS
            )
        members = members_of(items, name)
        state = self.gate.seed(
            (namespace, name),
            revision=revision,
            max_unavailable=profile.spec.rollout.max_unavailable,
            members=members,
            wake_profile=wake,
        )
        failure = next((m.failed for m in members if m.failed), "")
        wanted = verdicts(state, failure)
        conditions = merge_conditions(previous.conditions, wanted, generation, now)
        status = WhatsAppSettingsProfileStatus(
            observed_generation=generation,
            conditions=conditions,
            revision=revision,
            total=state.total,
            updated=state.updated,
            max_unavailable=state.limit,
            in_flight=list(state.in_flight),
            failed=state.failed[0] if state.failed else "",
        )
        events: list[Event] = []
        before = next((c for c in previous.conditions if c.type == "Ready"), None)
        ready = wanted[ConditionType.READY]
        if state.paused and (previous.failed != status.failed):
            events.append(Event("Warning", Reason.ROLLOUT_PAUSED, ready[2]))
        elif (
            ready[1] == Reason.ROLLED_OUT
            and before is not None
            and before.reason != Reason.ROLLED_OUT
        ):
            events.append(Event("Normal", Reason.ROLLOUT_COMPLETE, ready[2]))
        delay = SETTLED_SECONDS if state.complete or state.paused else ROLLING_SECONDS
        return self._outcome(previous, status, events, delay)

    def forget(self, namespace: str, name: str) -> None:
        """The profile is gone: its book goes, and the instances waiting on it are woken."""
        self.gate.drop((namespace, name))

    @staticmethod
    def _outcome(
        previous: WhatsAppSettingsProfileStatus,
        status: WhatsAppSettingsProfileStatus,
        events: list[Event],
        delay: float,
    ) -> ProfileOutcome:
        document = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        old = previous.model_dump(mode="json", by_alias=True, exclude_none=True)
        return ProfileOutcome(merge_patch(old, document), events, delay, document)
