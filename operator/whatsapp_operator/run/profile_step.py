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
from dataclasses import dataclass
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
from whatsapp_operator.run.cycle import Inputs, ProfileContext
from whatsapp_operator.run.journal import Journal
from whatsapp_operator.run.rollout_gate import RolloutGate
from whatsapp_operator.wire.models import InstanceState

# How long an instance may take to come back from a profile's settings write before the
# rollout pauses on it: GREEN-API's 5 minutes to start, twice the settle window for the
# write and its one re-apply, and some slack.
START_ALLOWANCE = timedelta(minutes=10)


def come_back_deadline(settle_seconds: int) -> timedelta:
    """How long a profile write may take to show, reboot included, before it counts as failed."""
    return START_ALLOWANCE + 2 * timedelta(seconds=settle_seconds)


def profile_key(inputs: Inputs) -> tuple[str, str] | None:
    """The WhatsAppSettingsProfile the object refers to, read or not (its change wakes it)."""
    ref = inputs.obj.spec.settings_profile_ref
    return (inputs.namespace, ref.name) if ref is not None else None


@dataclass(frozen=True)
class Layered:
    """The settings the instance manages, and the profile they came from (if any)."""

    spec: SettingsSpec
    profile: ProfileContext | None = None


async def layered_spec(inputs: Inputs, reader: ProfileReader | None) -> Layered:
    """The settings the instance manages, its profiles layered under its own."""
    spec = inputs.obj.spec
    ref = spec.settings_profile_ref
    if ref is None:
        return Layered(effective_settings(spec.settings, spec.settings_profile))
    namespace = inputs.namespace
    if reader is None:
        raise ProvisioningFailure(
            Reason.PROFILE_NOT_FOUND,
            f"settingsProfileRef {ref.name}: this operator does not read profiles",
            permanent=True,
        )
    try:
        body = await reader.read_profile(namespace, ref.name)
    except KubeError as exc:
        if exc.status == 404:
            raise ProvisioningFailure(
                Reason.PROFILE_NOT_FOUND,
                f"WhatsAppSettingsProfile {namespace}/{ref.name} (settingsProfileRef) "
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
            f"WhatsAppSettingsProfile {namespace}/{ref.name} is not valid",
            permanent=True,
        ) from None
    context = ProfileContext(
        key=(namespace, ref.name),
        revision=profile_revision(profile.spec),
        max_unavailable=profile.spec.rollout.max_unavailable,
    )
    return Layered(effective_settings(spec.settings, spec.settings_profile, profile.spec), context)


def _member(inputs: Inputs, profile: ProfileContext) -> rollout.Member:
    return rollout.Member.from_status(inputs.name, inputs.previous.settings_profile, profile.key[1])


async def admit_write(
    inputs: Inputs,
    journal: Journal,
    plan: SettingsPlan,
    profile: ProfileContext | None,
    state: InstanceState | None,
    gate: RolloutGate | None,
    wake: Callable[[], None],
) -> tuple[SettingsPlan, ProfileRollout | None]:
    """The plan, held back when its write brings a profile revision and no slot is free,
    and the instance's rollout record when a slot was taken (None: not decided here).

    An admitted write first records `settingsProfile.applying` (the intent), so a restart
    still counts the instance in flight.
    """
    if plan.write is None or profile is None or gate is None:
        return plan, None
    member = _member(inputs, profile)
    if member.revision == profile.revision and not member.in_flight:
        return plan, None  # the instance's own change, not the profile's: not paced
    if not gate.admit(profile.key, member, profile.revision, wake):
        return wait_for_rollout(plan, inputs.previous.last_applied), None
    record = rollout.advance(
        inputs.previous.settings_profile,
        profile=profile.key[1],
        revision=profile.revision,
        outcome=plan.outcome,
        writing=True,
        state=state,
        now=inputs.now,
        deadline=come_back_deadline(inputs.obj.spec.intervals.settle_seconds),
    )
    if record != inputs.previous.settings_profile:
        await journal.record({"settingsProfile": record.model_dump(mode="json", by_alias=True)})
    return plan, record


def record_profile(
    inputs: Inputs,
    profile: ProfileContext | None,
    admitted: ProfileRollout | None,
    plan: SettingsPlan | None,
    state: InstanceState | None,
    gate: RolloutGate | None,
) -> ProfileRollout | None:
    """The instance's rollout record after this cycle, reported to the gate."""
    if profile is None:
        return None
    name = profile.key[1]
    record = admitted
    if record is None:
        previous = inputs.previous.settings_profile
        if plan is None:
            same = previous is not None and previous.name == name
            record = previous if same else ProfileRollout(name=name)
        else:
            record = rollout.advance(
                previous,
                profile=name,
                revision=profile.revision,
                outcome=plan.outcome,
                writing=False,
                state=state,
                now=inputs.now,
                deadline=come_back_deadline(inputs.obj.spec.intervals.settle_seconds),
            )
    if gate is not None:
        gate.report(profile.key, rollout.Member.from_status(inputs.name, record, name))
    return record
