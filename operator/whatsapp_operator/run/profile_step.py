"""Settings profiles in a reconcile: read the layers, ask the rollout for a slot, keep the record.

`layered_spec` turns the built-in profile, the referenced WhatsAppSettingsProfile and
`spec.settings` into the one sparse settings spec the rest of the pipeline manages.
Before a settings write that brings a profile revision the instance does not have
yet, `admit_write` asks the rollout gate; a write it holds back is reported as
`WaitingForRollout`. `record_profile` then updates the instance's part in the
rollout (`status.settingsProfile`) and tells the gate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from pydantic import ValidationError

from whatsapp_operator.api.profile import WhatsAppSettingsProfile
from whatsapp_operator.api.settings import SettingsSpec
from whatsapp_operator.api.status import ProfileRollout
from whatsapp_operator.decide import rollout
from whatsapp_operator.decide.plan import SettingsPlan, wait_for_rollout
from whatsapp_operator.decide.profiles import effective_settings, profile_revision
from whatsapp_operator.ports import KubeError, ProvisioningFailure
from whatsapp_operator.ports.kubernetes import ProfileReader
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.cycle import Cycle, Memory, ProfileContext, record_intent
from whatsapp_operator.run.rollout_gate import RolloutGate

# How long an instance may take to come back from a profile's settings write before the
# rollout pauses on it: GREEN-API's 5 minutes to start, twice the settle window for the
# write and its one re-apply, and some slack.
START_ALLOWANCE = timedelta(minutes=10)


def come_back_deadline(settle_seconds: int) -> timedelta:
    """How long a profile write may take to show, reboot included, before it counts as failed."""
    return START_ALLOWANCE + 2 * timedelta(seconds=settle_seconds)


async def layered_spec(cycle: Cycle, reader: ProfileReader | None, memory: Memory) -> SettingsSpec:
    """The settings the instance manages, its profiles layered under its own."""
    spec = cycle.obj.spec
    ref = spec.settings_profile_ref
    if ref is None:
        memory.profile = None
        return effective_settings(spec.settings, spec.settings_profile)
    memory.profile = (cycle.namespace, ref.name)
    if reader is None:
        raise ProvisioningFailure(
            Reason.PROFILE_NOT_FOUND,
            f"settingsProfileRef {ref.name}: this operator does not read profiles",
            permanent=True,
        )
    try:
        body = await reader.read_profile(cycle.namespace, ref.name)
    except KubeError as exc:
        if exc.status == 404:
            raise ProvisioningFailure(
                Reason.PROFILE_NOT_FOUND,
                f"WhatsAppSettingsProfile {cycle.namespace}/{ref.name} (settingsProfileRef) "
                "does not exist; settings are not written until it does or the reference "
                "is removed",
                permanent=True,
            ) from None
        raise
    try:
        profile = WhatsAppSettingsProfile.model_validate(body)
    except ValidationError:
        raise ProvisioningFailure(
            Reason.PROFILE_NOT_FOUND,
            f"WhatsAppSettingsProfile {cycle.namespace}/{ref.name} is not valid",
            permanent=True,
        ) from None
    cycle.profile = ProfileContext(
        key=(cycle.namespace, ref.name),
        revision=profile_revision(profile.spec),
        max_unavailable=profile.spec.rollout.max_unavailable,
    )
    return effective_settings(spec.settings, spec.settings_profile, profile.spec)


def _member(cycle: Cycle) -> rollout.Member | None:
    if cycle.profile is None:
        return None
    return rollout.Member.from_status(
        cycle.name, cycle.previous.settings_profile, cycle.profile.key[1]
    )


async def admit_write(
    cycle: Cycle, plan: SettingsPlan, gate: RolloutGate | None, wake: Callable[[], None]
) -> SettingsPlan:
    """The plan, held back when its write brings a profile revision and no slot is free.

    An admitted write first records `settingsProfile.applying` (the intent), so a restart
    still counts the instance in flight.
    """
    member = _member(cycle)
    if plan.write is None or member is None or gate is None or cycle.profile is None:
        return plan
    profile = cycle.profile
    if member.revision == profile.revision and not member.in_flight:
        return plan  # the instance's own change, not the profile's: not paced
    if not gate.admit(profile.key, member, profile.revision, wake):
        return wait_for_rollout(plan, cycle.previous.last_applied)
    state = cycle.state.state if cycle.state is not None else None
    record = rollout.advance(
        cycle.previous.settings_profile,
        profile=profile.key[1],
        revision=profile.revision,
        outcome=plan.outcome,
        writing=True,
        state=state,
        now=cycle.now,
        deadline=come_back_deadline(cycle.obj.spec.intervals.settle_seconds),
    )
    if record != cycle.previous.settings_profile:
        await record_intent(
            cycle, {"settingsProfile": record.model_dump(mode="json", by_alias=True)}
        )
    cycle.settings_profile = record
    return plan


def record_profile(cycle: Cycle, gate: RolloutGate | None) -> None:
    """The instance's rollout record after this cycle, reported to the gate."""
    profile = cycle.profile
    if profile is None:
        cycle.settings_profile = None
        return
    name = profile.key[1]
    if cycle.settings_profile is None:
        previous = cycle.previous.settings_profile
        if cycle.plan is None:
            same = previous is not None and previous.name == name
            cycle.settings_profile = previous if same else ProfileRollout(name=name)
        else:
            cycle.settings_profile = rollout.advance(
                previous,
                profile=name,
                revision=profile.revision,
                outcome=cycle.plan.outcome,
                writing=False,
                state=cycle.state.state if cycle.state is not None else None,
                now=cycle.now,
                deadline=come_back_deadline(cycle.obj.spec.intervals.settle_seconds),
            )
    if gate is not None:
        gate.report(
            profile.key, rollout.Member.from_status(cycle.name, cycle.settings_profile, name)
        )
