"""One level-based reconcile, top to bottom: inputs -> identity -> actions -> observe ->
plan -> act -> linking -> report -> next wake-up.

Called for creation, spec changes, resumption after a restart and the periodic
re-check alike; it never looks at what changed, only at what is and what should
be. Decisions are pure (`decide/`: plan, linking, report, requeue); every write
to GREEN-API goes through the gate in `effects`; the steps live beside this
module (`observe`, `act`, `linking_step`, `finalize`), their state in `cycle`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from whatsapp_operator import constants
from whatsapp_operator.api.resource import (
    ManagementPolicy,
    SettingsSpec,
    WhatsAppInstance,
)
from whatsapp_operator.decide import deletion, failures, requeue
from whatsapp_operator.decide.actions import performed_records, without_unsent
from whatsapp_operator.decide.events import rebound_event
from whatsapp_operator.decide.linking import LinkingDecision
from whatsapp_operator.decide.plan import (
    DesiredSettings,
    SettingsOutcome,
    SettingsPlan,
    plan_settings,
)
from whatsapp_operator.decide.report import Observed, build_report
from whatsapp_operator.ports import IntentNotRecorded, KubeError, ProvisioningFailure
from whatsapp_operator.ports.greenapi import GreenApiFactory, InstanceApi
from whatsapp_operator.ports.kubernetes import ProfileReader, SecretsApi
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run import act
from whatsapp_operator.run.connection_secret import write_connection_secret
from whatsapp_operator.run.cycle import (
    Annotator,
    Cycle,
    Finalization,
    Memory,
    Outcome,
    StatusRecorder,
    default_api_url,
    is_paused,
    pending_action,
    refuse_invalid_actions,
)
from whatsapp_operator.run.effects import SideEffects
from whatsapp_operator.run.finalize import finalize
from whatsapp_operator.run.linking_step import preview_linking, reconcile_linking
from whatsapp_operator.run.observe import observe
from whatsapp_operator.run.partner_access import partner_key
from whatsapp_operator.run.plans import PlanListings, plan_due, read_plan
from whatsapp_operator.run.polling import quiet_poll, remember_quiet
from whatsapp_operator.run.profile_step import admit_write, layered_spec, record_profile
from whatsapp_operator.run.provisioning import (
    LISTING_GRACE,
    Identity,
    Provisioner,
    owned_token_secret,
)
from whatsapp_operator.run.queues import judge, watch_queues
from whatsapp_operator.run.rollout_gate import RolloutGate
from whatsapp_operator.run.token_rotation import TokenRotation
from whatsapp_operator.run.unreadable import unreadable
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import Settings

__all__ = ["Memory", "Outcome", "Reconciler", "default_api_url"]


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
        wake: Callable[[], None],
        record: StatusRecorder | None = None,
        annotate: Annotator | None = None,
    ) -> Outcome:
        """Observe, plan, act through the side-effect gate, and report.

        `record` writes a status merge patch before each side effect (the intent);
        without it (unit tests) intents are only kept in the cycle. `annotate` writes
        the operator's own annotations (default: unfenced, through the object store).
        """
        metadata = body.get("metadata", {})
        try:
            obj = WhatsAppInstance.model_validate(body)
        except ValidationError as exc:
            return unreadable(body, exc, self.clock())
        namespace = str(metadata.get("namespace") or "")
        name = str(metadata.get("name") or "")
        cycle = Cycle(
            obj=obj,
            now=self.clock(),
            generation=int(metadata.get("generation") or 0),
            namespace=namespace,
            name=name,
            annotations=dict(metadata.get("annotations") or {}),
            previous=obj.status,
            stored=dict(body.get("status") or {}),
            effects=SideEffects(namespace, name),
            record=record,
            annotate=annotate
            or (lambda annotations: self.secrets.patch_annotations(namespace, name, annotations)),
            handled=performed_records(
                without_unsent(obj.status.handled_actions, memory.unsent_actions),
                metadata.get("annotations") or {},
            ),
            unsent=dict(memory.unsent_actions),
            last_auto_reboot=obj.status.last_auto_reboot,
            account_plan=obj.status.plan,
            token_rotation=obj.status.token_rotation,
        )
        self._note_secrets(cycle, memory)
        refuse_invalid_actions(cycle, memory)
        partner_ref = obj.spec.partner_ref
        memory.partner = partner_key(cycle.namespace, partner_ref) if partner_ref else None

        profile_before = memory.profile
        desired, api = await self._prepare(cycle, memory)

        if api is not None and desired is not None and cycle.identity is not None:
            try:
                await self._converge(cycle, api, desired, memory, wake)
            except gerr.GreenApiError as exc:
                cycle.fail(
                    failures.from_greenapi(
                        exc, cycle.identity.token_hint, cycle.api_url, cycle.identity.instance_id
                    )
                )
            except KubeError as exc:
                cycle.fail(failures.from_kube(exc))
            except IntentNotRecorded as exc:
                cycle.fail(failures.from_intent(exc))

        if profile_before is not None and profile_before != memory.profile and self.rollout:
            self.rollout.leave(profile_before, cycle.name)
        record_profile(cycle, self.rollout)
        linking = await reconcile_linking(cycle, api, memory, wake, self.secrets, self.clock)
        outcome = self._report(cycle, memory, linking)
        if cycle.failure is not None:
            # A person fixes a failing object by fixing its Secrets, and a rotated token
            # shows as GREEN-API refusing the old one: re-read all of them on the timer.
            memory.rechecked_secrets = memory.referenced_secrets
        memory.unsent_actions = cycle.unsent
        remember_quiet(
            cycle,
            memory,
            outcome,
            api,
            linking_active=linking.active,
            lifecycle_due=min(
                (
                    due
                    for due in (self.rotation.next_due(cycle), plan_due(cycle, self.plans))
                    if due is not None
                ),
                default=None,
            ),
        )
        return outcome

    async def _prepare(
        self, cycle: Cycle, memory: Memory
    ) -> tuple[DesiredSettings | None, InstanceApi | None]:
        """The desired settings, the settled identity and its client; failures go on the cycle."""
        desired: DesiredSettings | None = None
        api: InstanceApi | None = None
        try:
            # Before any Secret is read: a URL outside the allow-list gets nothing.
            self._admit_endpoints(cycle)
            desired = await self._desired(cycle, memory)
            identity = await self._identity(cycle, desired)
            if identity.rebound_from is not None:
                cycle.events.append(
                    rebound_event(
                        identity.instance_id,
                        identity.rebound_from,
                        cycle.namespace,
                        cycle.name,
                    )
                )
            cycle.instance_id = identity.instance_id
            cycle.api_url = self._api_url(cycle, identity.instance_id)
            cycle.identity = identity
            await read_plan(cycle, self.plans, identity.instance_id)
            # A rotation, or the recovery of one whose answer was lost, comes before any
            # instance call: the client handed on carries the token to use from now on.
            identity, api = await self.rotation.step(cycle, identity, memory)
            cycle.identity = identity
            await write_connection_secret(self.secrets, cycle, identity, memory)
        except KubeError as exc:
            cycle.fail(failures.from_kube(exc))
        except ProvisioningFailure as exc:
            cycle.fail(failures.from_provisioning(exc))
        except gerr.GreenApiError as exc:
            cycle.fail(failures.from_partner(exc))
        except IntentNotRecorded as exc:
            # A token rotation's intent: no call was made, the old token stands.
            cycle.fail(failures.from_intent(exc))
        return desired, api

    async def poll(self, memory: Memory) -> float | None:
        """A routine poll of a quiet object (`polling.quiet_poll`); None: reconcile it whole."""
        return await quiet_poll(memory, self.clock(), self.rng)

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
        cycle: Cycle,
        api: InstanceApi,
        desired: DesiredSettings,
        memory: Memory,
        wake: Callable[[], None],
    ) -> None:
        """Requested actions, then observe, plan and act on the settings."""
        spec = cycle.obj.spec
        writes_allowed = spec.management_policy is ManagementPolicy.MANAGE and not is_paused(cycle)
        reconcile_request = pending_action(cycle, constants.Action.RECONCILE)
        if reconcile_request is not None:
            cycle.handled[constants.Action.RECONCILE] = reconcile_request
        if writes_allowed:
            await act.perform_requested_actions(cycle, api)

        fresh_attempt = reconcile_request is not None
        # A new desire (a profile changed, not the spec) is planned against fresh settings.
        new_desire = bool(memory.settings_read_for) and memory.settings_read_for != desired.hash
        if await observe(cycle, api, memory, force_settings=fresh_attempt or new_desire):
            if memory.settings_read_at == cycle.now or not memory.settings_read_for:
                memory.settings_read_for = desired.hash
            judge(cycle, memory)  # as the write's preview reports it
            last_applied = cycle.previous.last_applied
            if fresh_attempt and last_applied is not None and not last_applied.confirmed:
                # A person asked for a fresh attempt: forget the give-up bookkeeping.
                last_applied = None
            assert cycle.state is not None
            cycle.plan = plan_settings(
                desired=desired,
                observed=memory.settings,
                state=cycle.state.state,
                last_applied=last_applied,
                previous_drift=tuple(cycle.previous.drift),
                policy=spec.management_policy,
                paused=is_paused(cycle),
                settle=timedelta(seconds=spec.intervals.settle_seconds),
                now=cycle.now,
            )
            if cycle.plan.write is not None and writes_allowed:
                cycle.plan = await admit_write(cycle, cycle.plan, self.rollout, wake)
            if cycle.plan.write is not None and writes_allowed:
                # GREEN-API applies within minutes; the cached copy is stale from now on.
                memory.settings_read_at = cycle.now
                cycle.preview = lambda: self._preview(cycle, memory)
                try:
                    await act.write_settings(cycle, api, last_applied)
                finally:
                    cycle.preview = None
        else:
            cycle.plan = SettingsPlan(
                SettingsOutcome.UNOBSERVED,
                last_applied=cycle.previous.last_applied,
                drift=tuple(cycle.previous.drift),
            )
        await act.auto_heal(cycle, api, writes_allowed)
        await watch_queues(cycle, api, memory, writes_allowed)

    def _admit_endpoints(self, cycle: Cycle) -> None:
        instance = cycle.obj.spec.instance
        for field, url in (
            ("spec.instance.apiUrl", instance.api_url),
            ("spec.instance.mediaUrl", instance.media_url),
        ):
            if url is not None:
                self.green_api.admit(url, field)

    def _api_url(self, cycle: Cycle, instance_id: int) -> str:
        return cycle.obj.spec.instance.api_url or default_api_url(instance_id)

    async def _identity(self, cycle: Cycle, desired: DesiredSettings) -> Identity:
        spec = cycle.obj.spec
        # An object being deleted never starts a creation: its finalizer could miss it.
        may_create = (
            spec.management_policy is ManagementPolicy.MANAGE
            and not is_paused(cycle)
            and not cycle.deleting
        )
        known = spec.instance.id is not None or constants.ANNOTATION_INSTANCE_ID in (
            cycle.annotations
        )
        if not known and not may_create and not cycle.previous.instance_id:
            raise ProvisioningFailure(
                Reason.CREATION_HELD,
                "No instance yet, and writes are held (paused, being deleted, or "
                "managementPolicy Observe)",
                permanent=False,
                retry_after=60.0,
            )
        settings = Settings.model_validate(desired.values) if desired.values else None
        return await self.provisioner.resolve(
            cycle.obj, namespace=cycle.namespace, name=cycle.name, desired=settings, now=cycle.now
        )

    # ------------------------------------------------------------------ observe + act

    def _token_secret(self, cycle: Cycle) -> tuple[str, str]:
        token_ref = cycle.obj.spec.instance.token_secret_ref
        name = token_ref.name if token_ref is not None else owned_token_secret(cycle.name)
        return (cycle.namespace, name)

    def _note_secrets(
        self, cycle: Cycle, memory: Memory, settings: SettingsSpec | None = None
    ) -> None:
        """The Secrets this object reads, and those of them re-read while it is idle.

        Only a webhook token's change shows nowhere else; a token Secret's change shows
        as GREEN-API refusing the old token, and a failing object's Secrets are rechecked.
        """
        hook = (settings or cycle.obj.spec.settings).webhook_url_token_secret_ref
        rechecked = {(cycle.namespace, hook.name)} if hook is not None else set()
        token = self._token_secret(cycle)
        if cycle.obj.spec.instance.token_secret_ref is None:
            # The operator's own token Secret (partner mode): if it goes (a restore whose
            # old Secrets were collected, a person), the operator writes it again.
            rechecked.add(token)
        memory.referenced_secrets = frozenset({*rechecked, token})
        memory.rechecked_secrets = frozenset(rechecked)

    async def _desired(self, cycle: Cycle, memory: Memory) -> DesiredSettings:
        spec_settings = await layered_spec(cycle, self.profiles, memory)
        self._note_secrets(cycle, memory, spec_settings)
        values = spec_settings.managed()
        version = ""
        hook = spec_settings.webhook_url_token_secret_ref
        if hook is not None:
            secret = await self.secrets.read_secret_key(cycle.namespace, hook.name, hook.key)
            values["webhook_url_token"] = secret.value
            version = secret.version
        return DesiredSettings(values=values, version=version)

    # ------------------------------------------------------------------ report

    def _preview(self, cycle: Cycle, memory: Memory) -> dict[str, Any]:
        """The status patch this reconcile will make if the write in progress succeeds."""
        seen = self._observed(cycle, memory)
        report = build_report(cycle.previous, cycle.stored, seen, preview_linking(cycle, memory))
        return dict(report.patch or {})

    def _report(self, cycle: Cycle, memory: Memory, linking: LinkingDecision) -> Outcome:
        seen = self._observed(cycle, memory)
        report = build_report(cycle.previous, cycle.stored, seen, linking)
        return Outcome(
            report.patch,
            [*cycle.events, *report.events],
            self._requeue(cycle, memory, linking, report.plan),
            report.status,
            report.plan.outcome,
            cycle.failure.reason if cycle.failure else None,
            report.document,
            settle_ends=report.plan.settle_ends,
        )

    def _observed(self, cycle: Cycle, memory: Memory) -> Observed:
        return Observed(
            generation=cycle.generation,
            now=cycle.now,
            state=cycle.state,
            plan=cycle.plan,
            failure=cycle.failure,
            settings=memory.settings,
            account=memory.account,
            instance_id=cycle.instance_id,
            api_url=cycle.api_url,
            handled=cycle.handled,
            last_auto_reboot=cycle.last_auto_reboot,
            require_authorization=cycle.obj.spec.authorization.required_for_readiness,
            settings_profile=cycle.settings_profile,
            account_plan=cycle.account_plan,
            token_rotation=cycle.token_rotation,
            queues=cycle.queues,
            delivery=cycle.delivery,
            require_delivery=cycle.obj.spec.queues.required_for_readiness,
        )

    def _requeue(
        self, cycle: Cycle, memory: Memory, linking: LinkingDecision, plan: SettingsPlan
    ) -> float:
        interval = float(cycle.obj.spec.intervals.state_seconds)
        if cycle.failure is not None and not cycle.failure.permanent:
            memory.failures += 1
            delay = requeue.after_poll_failure(
                memory.failures, cycle.retry_after, self.rng, interval
            )
            if memory.failures == 1:
                memory.ahead = requeue.ahead_of_schedule(delay, interval)
            return delay
        memory.failures = 0
        if cycle.failure is not None and cycle.instance_id is None:
            # Nothing to poll (no instance yet, or none this resource may use): asking
            # again on a timer would only repeat a refused call, such as a createInstance
            # with a rejected partner token. What can fix it wakes the object.
            return requeue.after_stall(self.rng)
        motion = requeue.Motion(
            state_seconds=interval,
            state=cycle.state.state if cycle.state is not None else None,
            linking=linking.active,
            settle_ends=plan.settle_ends,
            now=cycle.now,
        )
        delay, memory.ahead = requeue.repaying(motion, self.rng, memory.ahead)
        if cycle.wake_after is not None:
            # A queue clear GREEN-API put off for its leftTime: no failure, no backoff.
            delay = min(delay, cycle.wake_after)
        return delay
