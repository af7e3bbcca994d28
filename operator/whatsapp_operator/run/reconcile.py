"""One level-based reconcile, top to bottom: inputs -> identity -> actions -> observe ->
plan -> act -> linking -> report -> next wake-up.

Called for creation, spec changes, resumption after a restart and the periodic
re-check alike; it never looks at what changed, only at what is and what should
be. Each stage takes values and returns one (`cycle`: `Inputs`, `Settled`, `Outcome`;
each step its own result); decisions are pure (`decide/`: plan, linking, report,
requeue); every write to GREEN-API goes through the gate, which keeps what was done
(`journal`). The memory the object's loop keeps comes back in the `Outcome`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from whatsapp_operator import constants
from whatsapp_operator.api.lifecycle import PlanStatus, TokenRotationStatus
from whatsapp_operator.api.resource import (
    ManagementPolicy,
    ProfileRollout,
    SettingsSpec,
    WhatsAppInstance,
    WhatsAppInstanceStatus,
)
from whatsapp_operator.decide import deletion, failures, requeue
from whatsapp_operator.decide.actions import Verdict, performed_records, refusal
from whatsapp_operator.decide.conditions import Failure
from whatsapp_operator.decide.events import Event, rebound_event
from whatsapp_operator.decide.intents import taken_back
from whatsapp_operator.decide.linking import LinkingDecision
from whatsapp_operator.decide.plan import (
    DesiredSettings,
    SettingsOutcome,
    SettingsPlan,
    plan_settings,
)
from whatsapp_operator.decide.queues import Off
from whatsapp_operator.decide.queues import Verdict as Delivery
from whatsapp_operator.decide.report import Observed, build_report
from whatsapp_operator.ports import IntentNotRecorded, KubeError, ProvisioningFailure
from whatsapp_operator.ports.greenapi import GreenApiFactory, InstanceApi
from whatsapp_operator.ports.kubernetes import ProfileReader, SecretsApi
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run import act, writer
from whatsapp_operator.run.connection_secret import ConnectionSecret, connection_secret
from whatsapp_operator.run.cycle import (
    Finalization,
    Inputs,
    Outcome,
    Polled,
    ProfileContext,
    Settled,
    default_api_url,
)
from whatsapp_operator.run.effects import SideEffects
from whatsapp_operator.run.finalize import finalize
from whatsapp_operator.run.journal import ActResult, Annotator, Journal, StatusRecorder
from whatsapp_operator.run.linking_step import Linked, preview_linking, reconcile_linking
from whatsapp_operator.run.memory import Live, Memory
from whatsapp_operator.run.observe import observe
from whatsapp_operator.run.partner_access import partner_key
from whatsapp_operator.run.plans import PlanListings, plan_due, read_plan
from whatsapp_operator.run.polling import quiet_poll, remember_quiet
from whatsapp_operator.run.profile_step import (
    admit_write,
    layered_spec,
    profile_key,
    record_profile,
)
from whatsapp_operator.run.provisioning import (
    LISTING_GRACE,
    Identity,
    Provisioner,
    owned_token_secret,
)
from whatsapp_operator.run.queues import Queues, judge, perform_clear_actions, watch_queues
from whatsapp_operator.run.rollout_gate import RolloutGate
from whatsapp_operator.run.token_rotation import TokenRotation
from whatsapp_operator.run.unreadable import unreadable
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import Settings, StateReport

__all__ = ["Live", "Memory", "Outcome", "Reconciler", "default_api_url"]


@dataclass(frozen=True)
class Prepared:
    """The desired settings and the settled identity, or what kept them from being known."""

    memory: Memory
    account_plan: PlanStatus | None
    token_rotation: TokenRotationStatus | None
    desired: DesiredSettings | None = None
    profile: ProfileContext | None = None
    settled: Settled | None = None
    setback: failures.Setback | None = None
    # The connection Secret to write at the end of the cycle, if it is to change.
    connection: ConnectionSecret | None = None


@dataclass(frozen=True)
class Converged:
    """What observing the instance and acting on it found and did."""

    memory: Memory
    queues: Queues
    state: StateReport | None = None
    plan: SettingsPlan | None = None
    last_auto_reboot: str | None = None
    admitted: ProfileRollout | None = None
    delivery: Delivery | Off | None = None
    setback: failures.Setback | None = None


@dataclass(frozen=True)
class Planned:
    """The settings plan as acted on, the rollout slot it took, and why its write failed."""

    plan: SettingsPlan
    admitted: ProfileRollout | None
    delivery: Delivery | Off
    memory: Memory
    error: gerr.GreenApiError | IntentNotRecorded | None = None


def _prepare_setback(
    exc: KubeError | ProvisioningFailure | gerr.GreenApiError | IntentNotRecorded,
) -> failures.Setback:
    if isinstance(exc, KubeError):
        return failures.from_kube(exc)
    if isinstance(exc, ProvisioningFailure):
        return failures.from_provisioning(exc)
    if isinstance(exc, gerr.GreenApiError):
        return failures.from_partner(exc)
    # A token rotation's intent: no call was made, the old token stands.
    return failures.from_intent(exc)


class Reconciler:
    """Runs the reconcile of one WhatsAppInstance and its finalization."""

    def __init__(
        self,
        green_api: GreenApiFactory,
        secrets: SecretsApi,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
        listing_grace: timedelta = LISTING_GRACE,
        profiles: ProfileReader | None = None,
        rollout: RolloutGate | None = None,
        operator_namespace: str | None = None,
        deletion_abandon_after: timedelta = deletion.ABANDON_AFTER,
    ) -> None:
        self.deletion_abandon_after = deletion_abandon_after
        self.green_api = green_api
        self.secrets = secrets
        self.profiles = profiles
        self.rollout = rollout
        self.clock = clock
        self.rng = rng or random.Random()
        self.provisioner = Provisioner(
            secrets,
            green_api,
            listing_grace=listing_grace,
            operator_namespace=operator_namespace,
        )
        self.plans = PlanListings(self.provisioner.access)
        self.rotation = TokenRotation(green_api, self.provisioner.creation.store_token, self.plans)

    async def reconcile(
        self,
        body: dict[str, Any],
        memory: Memory,
        live: Live,
        wake: Callable[[], None],
        record: StatusRecorder | None = None,
        annotate: Annotator | None = None,
    ) -> Outcome:
        """Observe, plan, act through the side-effect gate, and report.

        `record` writes a status merge patch before each side effect (the intent);
        without it (unit tests) intents are only kept in the journal. `annotate` writes
        the operator's own annotations (default: unfenced, through the object store).
        The outcome carries the memory the object's loop keeps from now on.
        """
        try:
            obj = WhatsAppInstance.model_validate(body)
        except ValidationError as exc:
            return replace(unreadable(body, exc, self.clock()), memory=memory)
        inputs, journal = self._inputs(obj, body, memory, record, annotate)
        memory = self._refuse_invalid_actions(inputs, journal, memory)
        partner_ref = obj.spec.partner_ref
        profile_before = memory.profile
        memory = replace(
            memory,
            partner=partner_key(inputs.namespace, partner_ref) if partner_ref else None,
            profile=profile_key(inputs),
        )
        memory = self._note_secrets(inputs, memory, obj.spec.settings)

        prepared = await self._prepare(inputs, journal, memory)
        memory = prepared.memory
        settled = prepared.settled
        converged = Converged(memory, Queues(inputs.previous.queues))
        if settled is not None and settled.api is not None and prepared.desired is not None:
            converged = await self._converge(
                inputs, journal, prepared, settled, settled.api, prepared.desired, live, wake
            )
        memory = converged.memory
        setback = prepared.setback or converged.setback

        if profile_before is not None and profile_before != memory.profile and self.rollout:
            self.rollout.leave(profile_before, inputs.name)
        state = converged.state.state if converged.state is not None else None
        settings_profile = record_profile(
            inputs, prepared.profile, converged.admitted, converged.plan, state, self.rollout
        )
        linked = await reconcile_linking(
            inputs,
            journal,
            settled.api if settled is not None else None,
            memory,
            live,
            state=state,
            plan=converged.plan,
            wake=wake,
            secrets=self.secrets,
            clock=self.clock,
        )
        linking = linked.decision
        written, memory = await self._write_secrets(inputs, prepared, linked, linked.memory)
        setback = setback or written
        acted = journal.result()
        failure = setback.failure if setback is not None else None
        seen = _observed(
            inputs,
            acted,
            memory,
            settled=settled,
            state=converged.state,
            plan=converged.plan,
            failure=failure,
            last_auto_reboot=converged.last_auto_reboot,
            settings_profile=settings_profile,
            account_plan=prepared.account_plan,
            token_rotation=prepared.token_rotation,
            queues=converged.queues,
            delivery=converged.delivery,
        )
        report = build_report(inputs.previous, dict(acted.stored), seen, linking)
        delay, memory = self._requeue(
            inputs, memory, setback, settled, converged, linking, report.plan
        )
        if failure is not None:
            # A person fixes a failing object by fixing its Secrets, and a rotated token
            # shows as GREEN-API refusing the old one: re-read all of them on the timer.
            memory = replace(memory, rechecked_secrets=memory.referenced_secrets)
        identity = settled.identity if settled is not None else None
        instance_id = settled.instance_id if settled is not None else None
        lifecycle_due = min(
            (
                due
                for due in (
                    self.rotation.next_due(inputs, identity, prepared.token_rotation),
                    plan_due(inputs, instance_id, prepared.account_plan, self.plans),
                )
                if due is not None
            ),
            default=None,
        )
        live.poll_api = settled.api if settled is not None else None
        memory = remember_quiet(
            inputs,
            replace(memory, unsent=acted.unsent),
            settings=report.plan.outcome,
            settle_ends=report.plan.settle_ends,
            failed=failure is not None,
            state=state,
            queues=converged.queues.status,
            wake_after=converged.queues.wake_after,
            linking_active=linking.active,
            lifecycle_due=lifecycle_due,
        )
        return Outcome(
            report.patch,
            [*acted.events, *report.events],
            delay,
            report.status,
            report.plan.outcome,
            failure.reason if failure is not None else None,
            report.document,
            settle_ends=report.plan.settle_ends,
            memory=memory,
        )

    def _inputs(
        self,
        obj: WhatsAppInstance,
        body: dict[str, Any],
        memory: Memory,
        record: StatusRecorder | None,
        annotate: Annotator | None,
    ) -> tuple[Inputs, Journal]:
        metadata = body.get("metadata", {})
        namespace = str(metadata.get("namespace") or "")
        name = str(metadata.get("name") or "")
        annotations = dict(metadata.get("annotations") or {})
        stored = dict(body.get("status") or {})
        previous = obj.status
        if memory.unsent:
            unsent_taken_back = taken_back(stored, memory.unsent)
            if unsent_taken_back != stored:
                previous = WhatsAppInstanceStatus.model_validate(unsent_taken_back)
        inputs = Inputs(
            obj=obj,
            now=self.clock(),
            generation=int(metadata.get("generation") or 0),
            namespace=namespace,
            name=name,
            annotations=annotations,
            previous=previous,
        )
        journal = Journal(
            gate=SideEffects(namespace, name),
            log=inputs.log,
            metadata={**obj.metadata, "annotations": annotations},
            stored=stored,
            handled=performed_records(previous.handled_actions, annotations),
            unsent=memory.unsent,
            record=record,
            annotate=annotate
            or (lambda changes: writer.annotate(self.secrets, namespace, name, changes)),
        )
        return inputs, journal

    async def _write_secrets(
        self, inputs: Inputs, prepared: Prepared, linked: Linked, memory: Memory
    ) -> tuple[failures.Setback | None, Memory]:
        """The cycle's Secret writes: the connection Secret, the codes no longer handed out."""
        setback = None
        if prepared.connection is not None:
            try:
                await writer.put_secret(self.secrets, prepared.connection.request)
            except KubeError as exc:
                setback = failures.from_kube(exc)
            else:
                memory = replace(memory, connection_fingerprint=prepared.connection.fingerprint)
        if linked.removal is not None:
            try:
                await writer.remove_secret(self.secrets, linked.removal)
            except KubeError as exc:
                inputs.log.warning("Could not delete the linking Secret: %s", exc.message)
            else:
                memory = replace(memory, linking_secret_removed=True)
        return setback, memory

    def _refuse_invalid_actions(self, inputs: Inputs, journal: Journal, memory: Memory) -> Memory:
        """A Warning, once per value, for each action annotation that is not a timestamp."""
        refused = dict(memory.refused_actions)
        for action in constants.Action:
            value, verdict = journal.requested(action)
            if verdict is not Verdict.INVALID:
                refused.pop(action, None)
                continue
            if refused.get(action) == value:
                continue
            refused[action] = value
            message = refusal(action, value)
            inputs.log.warning("%s", message)
            journal.note(Event("Warning", Reason.ACTION_VALUE_INVALID, message))
        if refused == memory.refused_actions:
            return memory
        return replace(memory, refused_actions=MappingProxyType(refused))

    async def _prepare(self, inputs: Inputs, journal: Journal, memory: Memory) -> Prepared:
        """The desired settings, the settled identity and its client; or the setback."""
        desired: DesiredSettings | None = None
        profile: ProfileContext | None = None
        settled: Settled | None = None
        account_plan = inputs.previous.plan
        token_rotation = inputs.previous.token_rotation
        setback: failures.Setback | None = None
        connection: ConnectionSecret | None = None
        try:
            # Before any Secret is read: a URL outside the allow-list gets nothing.
            self._admit_endpoints(inputs)
            layered = await layered_spec(inputs, self.profiles)
            profile = layered.profile
            memory = self._note_secrets(inputs, memory, layered.spec)
            desired = await self._desired(inputs, layered.spec)
            identity = await self._identity(inputs, desired)
            if identity.rebound_from is not None:
                journal.note(
                    rebound_event(
                        identity.instance_id, identity.rebound_from, inputs.namespace, inputs.name
                    )
                )
            settled = Settled(identity, self._api_url(inputs, identity.instance_id))
            account_plan = await read_plan(inputs, self.plans, identity.instance_id)
            # A rotation, or the recovery of one whose answer was lost, comes before any
            # instance call: the client handed on carries the token to use from now on.
            rotation = await self.rotation.step(inputs, journal, settled, memory)
            memory, token_rotation = rotation.memory, rotation.status
            settled = replace(settled, identity=rotation.identity, api=rotation.api)
            if rotation.error is not None:
                setback = _prepare_setback(rotation.error)
            else:
                connection = connection_secret(inputs, settled, memory)
        except (KubeError, ProvisioningFailure, gerr.GreenApiError, IntentNotRecorded) as exc:
            setback = _prepare_setback(exc)
        return Prepared(
            memory, account_plan, token_rotation, desired, profile, settled, setback, connection
        )

    async def poll(self, memory: Memory, live: Live) -> Polled:
        """A routine poll of a quiet object (`polling.quiet_poll`); None: reconcile it whole."""
        return await quiet_poll(memory, live.poll_api, self.clock(), self.rng)

    async def finalize(self, body: dict[str, Any], attempt: int = 0) -> Finalization:
        """deletionPolicy Delete: remove the GREEN-API instance before the resource goes."""
        return await finalize(
            body,
            attempt,
            provisioner=self.provisioner,
            instances=self.green_api.instance,
            now=self.clock(),
            rng=self.rng,
            abandon_after=self.deletion_abandon_after,
        )

    async def _converge(
        self,
        inputs: Inputs,
        journal: Journal,
        prepared: Prepared,
        settled: Settled,
        api: InstanceApi,
        desired: DesiredSettings,
        live: Live,
        wake: Callable[[], None],
    ) -> Converged:
        """Requested actions, then observe, plan and act on the settings."""
        memory = prepared.memory
        spec = inputs.obj.spec
        writes_allowed = spec.management_policy is ManagementPolicy.MANAGE and not inputs.paused
        queues = Queues(inputs.previous.queues)
        state: StateReport | None = None
        plan: SettingsPlan | None = None
        admitted: ProfileRollout | None = None
        last_auto_reboot: str | None = None
        delivery: Delivery | Off | None = None
        setback: failures.Setback | None = None
        try:
            reconcile_request = journal.pending(constants.Action.RECONCILE)
            if reconcile_request is not None:
                journal.handle(constants.Action.RECONCILE, reconcile_request)
            if writes_allowed:
                await act.perform_requested_actions(journal, settled, api)
                cleared = await perform_clear_actions(inputs, journal, settled, api, queues)
                queues = cleared.queues
                if cleared.error is not None:
                    raise cleared.error

            fresh_attempt = reconcile_request is not None
            # A new desire (a profile changed, not the spec) is planned against fresh settings.
            read_for = memory.cache.read_for
            new_desire = bool(read_for) and read_for != desired.hash
            seen = await observe(
                inputs, settled, api, memory, force_settings=fresh_attempt or new_desire
            )
            state, memory = seen.state, seen.memory
            if seen.error is not None:
                raise seen.error
            if seen.plannable:
                planned = await self._plan_and_write(
                    inputs,
                    journal,
                    prepared,
                    settled,
                    api,
                    desired,
                    live,
                    wake,
                    memory=memory,
                    state=state,
                    queues=queues,
                    fresh_attempt=fresh_attempt,
                    writes_allowed=writes_allowed,
                )
                plan, admitted, delivery, memory = (
                    planned.plan,
                    planned.admitted,
                    planned.delivery,
                    planned.memory,
                )
                if planned.error is not None:
                    raise planned.error
            else:
                plan = SettingsPlan(
                    SettingsOutcome.UNOBSERVED,
                    last_applied=inputs.previous.last_applied,
                    drift=tuple(inputs.previous.drift),
                )
            if writes_allowed:
                last_auto_reboot = await act.auto_heal(inputs, journal, settled, api, state)
            watched = await watch_queues(
                inputs,
                journal,
                settled,
                api,
                memory,
                state=state.state,
                queues=queues,
                writes_allowed=writes_allowed,
            )
            queues, delivery, memory = watched.queues, watched.delivery, watched.memory
            if watched.error is not None:
                raise watched.error
        except gerr.GreenApiError as exc:
            identity = settled.identity
            setback = failures.from_greenapi(
                exc, identity.token_hint, settled.api_url, identity.instance_id
            )
        except KubeError as exc:
            setback = failures.from_kube(exc)
        except IntentNotRecorded as exc:
            setback = failures.from_intent(exc)
        return Converged(memory, queues, state, plan, last_auto_reboot, admitted, delivery, setback)

    async def _plan_and_write(
        self,
        inputs: Inputs,
        journal: Journal,
        prepared: Prepared,
        settled: Settled,
        api: InstanceApi,
        desired: DesiredSettings,
        live: Live,
        wake: Callable[[], None],
        *,
        memory: Memory,
        state: StateReport,
        queues: Queues,
        fresh_attempt: bool,
        writes_allowed: bool,
    ) -> Planned:
        """Plan the settings against what was read and send the write the plan asks for."""
        spec = inputs.obj.spec
        cache = memory.cache
        if cache.read_at == inputs.now or not cache.read_for:
            memory = replace(memory, cache=replace(cache, read_for=desired.hash))
        delivery = judge(inputs, queues.status, memory)  # as the write's preview reports it
        last_applied = inputs.previous.last_applied
        if fresh_attempt and last_applied is not None and not last_applied.confirmed:
            # A person asked for a fresh attempt: forget the give-up bookkeeping.
            last_applied = None
        plan = plan_settings(
            desired=desired,
            observed=memory.cache.settings,
            state=state.state,
            last_applied=last_applied,
            previous_drift=tuple(inputs.previous.drift),
            policy=spec.management_policy,
            paused=inputs.paused,
            settle=timedelta(seconds=spec.intervals.settle_seconds),
            now=inputs.now,
        )
        admitted: ProfileRollout | None = None
        if plan.write is None or not writes_allowed:
            return Planned(plan, admitted, delivery, memory)
        plan, admitted = await admit_write(
            inputs, journal, plan, prepared.profile, state.state, self.rollout, wake
        )
        if plan.write is None:
            return Planned(plan, admitted, delivery, memory)
        # GREEN-API applies within minutes; the cached copy is stale from now on.
        memory = replace(memory, cache=replace(memory.cache, read_at=inputs.now))
        preview = self._preview(
            inputs,
            journal,
            memory,
            live,
            settled=settled,
            state=state,
            plan=plan,
            admitted=admitted,
            prepared=prepared,
            queues=queues,
            delivery=delivery,
        )
        written = await act.write_settings(journal, settled, api, plan, last_applied, preview)
        return Planned(written.plan, admitted, delivery, memory, written.error)

    def _admit_endpoints(self, inputs: Inputs) -> None:
        instance = inputs.obj.spec.instance
        for field, url in (
            ("spec.instance.apiUrl", instance.api_url),
            ("spec.instance.mediaUrl", instance.media_url),
        ):
            if url is not None:
                self.green_api.admit(url, field)

    def _api_url(self, inputs: Inputs, instance_id: int) -> str:
        return inputs.obj.spec.instance.api_url or default_api_url(instance_id)

    async def _identity(self, inputs: Inputs, desired: DesiredSettings) -> Identity:
        spec = inputs.obj.spec
        # An object being deleted never starts a creation: its finalizer could miss it.
        may_create = (
            spec.management_policy is ManagementPolicy.MANAGE
            and not inputs.paused
            and not inputs.deleting
        )
        known = spec.instance.id is not None or constants.ANNOTATION_INSTANCE_ID in (
            inputs.annotations
        )
        if not known and not may_create and not inputs.previous.instance_id:
            raise ProvisioningFailure(
                Reason.CREATION_HELD,
                "No instance yet, and writes are held (paused, being deleted, or "
                "managementPolicy Observe)",
                permanent=False,
                retry_after=60.0,
            )
        settings = Settings.model_validate(desired.values) if desired.values else None
        return await self.provisioner.resolve(
            inputs.obj,
            namespace=inputs.namespace,
            name=inputs.name,
            desired=settings,
            now=inputs.now,
        )

    def _token_secret(self, inputs: Inputs) -> tuple[str, str]:
        token_ref = inputs.obj.spec.instance.token_secret_ref
        name = token_ref.name if token_ref is not None else owned_token_secret(inputs.name)
        return (inputs.namespace, name)

    def _note_secrets(self, inputs: Inputs, memory: Memory, settings: SettingsSpec) -> Memory:
        """The Secrets this object reads, and those of them re-read while it is idle.

        Only a webhook token's change shows nowhere else; a token Secret's change shows
        as GREEN-API refusing the old token, and a failing object's Secrets are rechecked.
        """
        hook = settings.webhook_url_token_secret_ref
        rechecked = {(inputs.namespace, hook.name)} if hook is not None else set()
        token = self._token_secret(inputs)
        if inputs.obj.spec.instance.token_secret_ref is None:
            # The operator's own token Secret (partner mode): if it goes (a restore whose
            # old Secrets were collected, a person), the operator writes it again.
            rechecked.add(token)
        referenced = frozenset({*rechecked, token})
        if referenced == memory.referenced_secrets and rechecked == memory.rechecked_secrets:
            return memory
        return replace(
            memory, referenced_secrets=referenced, rechecked_secrets=frozenset(rechecked)
        )

    async def _desired(self, inputs: Inputs, spec_settings: SettingsSpec) -> DesiredSettings:
        values = spec_settings.managed()
        version = ""
        hook = spec_settings.webhook_url_token_secret_ref
        if hook is not None:
            secret = await self.secrets.read_secret_key(inputs.namespace, hook.name, hook.key)
            values["webhook_url_token"] = secret.value
            version = secret.version
        return DesiredSettings(values=values, version=version)

    # ------------------------------------------------------------------ report

    def _preview(
        self,
        inputs: Inputs,
        journal: Journal,
        memory: Memory,
        live: Live,
        *,
        settled: Settled,
        state: StateReport,
        plan: SettingsPlan,
        admitted: ProfileRollout | None,
        prepared: Prepared,
        queues: Queues,
        delivery: Delivery | Off | None,
    ) -> dict[str, Any]:
        """The status patch this reconcile makes if the write it is about to send succeeds."""
        acted = journal.result()
        seen = _observed(
            inputs,
            acted,
            memory,
            settled=settled,
            state=state,
            plan=plan,
            failure=None,
            last_auto_reboot=None,
            settings_profile=admitted,
            account_plan=prepared.account_plan,
            token_rotation=prepared.token_rotation,
            queues=queues,
            delivery=delivery,
        )
        linking = preview_linking(inputs, journal, memory, live, state.state, plan)
        report = build_report(inputs.previous, dict(acted.stored), seen, linking)
        return dict(report.patch or {})

    def _requeue(
        self,
        inputs: Inputs,
        memory: Memory,
        setback: failures.Setback | None,
        settled: Settled | None,
        converged: Converged,
        linking: LinkingDecision,
        plan: SettingsPlan,
    ) -> tuple[float, Memory]:
        interval = float(inputs.obj.spec.intervals.state_seconds)
        failure = setback.failure if setback is not None else None
        if setback is not None and failure is not None and not failure.permanent:
            streak = memory.failures + 1
            delay = requeue.after_poll_failure(streak, setback.retry_after, self.rng, interval)
            ahead = requeue.ahead_of_schedule(delay, interval) if streak == 1 else memory.ahead
            return delay, replace(memory, failures=streak, ahead=ahead)
        memory = replace(memory, failures=0) if memory.failures else memory
        if failure is not None and settled is None:
            # Nothing to poll (no instance yet, or none this resource may use): asking
            # again on a timer would only repeat a refused call, such as a createInstance
            # with a rejected partner token. What can fix it wakes the object.
            return requeue.after_stall(self.rng), memory
        state = converged.state
        motion = requeue.Motion(
            state_seconds=interval,
            state=state.state if state is not None else None,
            linking=linking.active,
            settle_ends=plan.settle_ends,
            now=inputs.now,
        )
        delay, ahead = requeue.repaying(motion, self.rng, memory.ahead)
        memory = replace(memory, ahead=ahead)
        wake_after = converged.queues.wake_after
        if wake_after is not None:
            # A queue clear GREEN-API put off for its leftTime: no failure, no backoff.
            delay = min(delay, wake_after)
        return delay, memory


def _observed(
    inputs: Inputs,
    acted: ActResult,
    memory: Memory,
    *,
    settled: Settled | None,
    state: StateReport | None,
    plan: SettingsPlan | None,
    failure: Failure | None,
    last_auto_reboot: str | None,
    settings_profile: ProfileRollout | None,
    account_plan: PlanStatus | None,
    token_rotation: TokenRotationStatus | None,
    queues: Queues,
    delivery: Delivery | Off | None,
) -> Observed:
    return Observed(
        generation=inputs.generation,
        now=inputs.now,
        state=state,
        plan=plan,
        failure=failure,
        settings=memory.cache.settings,
        account=memory.account,
        instance_id=settled.instance_id if settled is not None else None,
        api_url=settled.api_url if settled is not None else "",
        handled=dict(acted.handled),
        last_auto_reboot=last_auto_reboot or inputs.previous.last_auto_reboot,
        require_authorization=inputs.obj.spec.authorization.required_for_readiness,
        settings_profile=settings_profile,
        account_plan=account_plan,
        token_rotation=token_rotation,
        queues=queues.status,
        delivery=delivery,
        require_delivery=inputs.obj.spec.queues.required_for_readiness,
    )
