"""One level-based reconcile, top to bottom: inputs -> identity -> actions -> observe ->
plan -> act -> linking -> report -> next wake-up.

Called for creation, spec changes, resumption after a restart and the periodic
re-check alike; it never looks at what changed, only at what is and what should
be. Each stage takes values and returns one (`cycle`: `Inputs`, `Settled`, `Outcome`;
`prepare`: `Prepared`; `converge`: `Converged`; each step its own result); decisions
are pure (`decide/`: plan, linking, report, requeue); every write to GREEN-API goes
through the gate, which keeps what was done (`journal`). The memory the object's loop
keeps comes back in the `Outcome`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from whatsapp_operator import constants
from whatsapp_operator.api.resource import (
    WhatsAppInstance,
    WhatsAppInstanceStatus,
)
from whatsapp_operator.decide import deletion, failures, requeue
from whatsapp_operator.decide.actions import Verdict, performed_records, refusal
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.intents import taken_back
from whatsapp_operator.decide.linking import LinkingDecision
from whatsapp_operator.decide.plan import (
    SettingsPlan,
)
from whatsapp_operator.decide.report import build_report
from whatsapp_operator.ports import KubeError
from whatsapp_operator.ports.greenapi import GreenApiFactory
from whatsapp_operator.ports.kubernetes import ProfileReader, SecretsApi
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run import writer
from whatsapp_operator.run.converge import Converged, Convergence, observed
from whatsapp_operator.run.cycle import (
    Finalization,
    Inputs,
    Outcome,
    Polled,
    Settled,
    default_api_url,
)
from whatsapp_operator.run.effects import SideEffects
from whatsapp_operator.run.finalize import finalize
from whatsapp_operator.run.journal import Annotator, Journal, StatusRecorder
from whatsapp_operator.run.linking_step import Linked, linking_facts, reconcile_linking
from whatsapp_operator.run.memory import Live, Memory
from whatsapp_operator.run.partner_access import partner_key
from whatsapp_operator.run.plans import PlanListings, plan_due
from whatsapp_operator.run.polling import quiet_poll, remember_quiet
from whatsapp_operator.run.prepare import Preparation, Prepared
from whatsapp_operator.run.profile_step import (
    profile_key,
    record_profile,
)
from whatsapp_operator.run.provisioning import (
    LISTING_GRACE,
    Provisioner,
)
from whatsapp_operator.run.queues import Queues
from whatsapp_operator.run.rollout_gate import RolloutGate
from whatsapp_operator.run.token_rotation import TokenRotation
from whatsapp_operator.run.unreadable import unreadable

__all__ = ["Live", "Memory", "Outcome", "Reconciler", "default_api_url"]


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
        self.preparation = Preparation(
            green_api, secrets, profiles, self.provisioner, self.plans, self.rotation
        )
        self.convergence = Convergence(rollout)

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
        facts = linking_facts(inputs, journal, live)
        partner_ref = obj.spec.partner_ref
        profile_before = memory.profile
        memory = replace(
            memory,
            partner=partner_key(inputs.namespace, partner_ref) if partner_ref else None,
            profile=profile_key(inputs),
        )
        memory = self.preparation.note_secrets(inputs, memory, obj.spec.settings)

        prepared = await self.preparation.prepare(inputs, journal, memory)
        memory = prepared.memory
        settled = prepared.settled
        converged = Converged(memory, Queues(inputs.previous.queues))
        if settled is not None and settled.api is not None and prepared.desired is not None:
            converged = await self.convergence.converge(
                inputs, journal, prepared, settled, settled.api, prepared.desired, facts, wake
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
            facts,
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
        seen = observed(
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

    # ------------------------------------------------------------------ report

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
