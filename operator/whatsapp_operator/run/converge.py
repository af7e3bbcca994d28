"""Converge: requested actions, then observe the instance, plan its settings and act.

Every write goes through the gate (`journal`); what each part found and did comes back
as a value (`Converged`), with the setback that stopped it, if any, and what was
found before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from whatsapp_operator import constants
from whatsapp_operator.api.lifecycle import PlanStatus, TokenRotationStatus
from whatsapp_operator.api.resource import ManagementPolicy, ProfileRollout
from whatsapp_operator.decide import failures
from whatsapp_operator.decide.conditions import Failure
from whatsapp_operator.decide.linking import LinkingFacts
from whatsapp_operator.decide.plan import (
    DesiredSettings,
    SettingsOutcome,
    SettingsPlan,
    plan_settings,
)
from whatsapp_operator.decide.queues import Off
from whatsapp_operator.decide.queues import Verdict as Delivery
from whatsapp_operator.decide.report import Observed, build_report
from whatsapp_operator.ports import IntentNotRecorded, KubeError
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.run import act
from whatsapp_operator.run.cycle import Inputs, Settled
from whatsapp_operator.run.journal import ActResult, Journal
from whatsapp_operator.run.memory import Memory
from whatsapp_operator.run.observe import observe
from whatsapp_operator.run.prepare import Prepared
from whatsapp_operator.run.profile_step import admit_write
from whatsapp_operator.run.queues import Queues, judge, perform_clear_actions, watch_queues
from whatsapp_operator.run.rollout_gate import RolloutGate
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import StateReport


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


class Convergence:
    """The converge stage of a reconcile, with the rollout gate its writes ask."""

    def __init__(self, rollout: RolloutGate | None) -> None:
        self.rollout = rollout

    async def converge(
        self,
        inputs: Inputs,
        journal: Journal,
        prepared: Prepared,
        settled: Settled,
        api: InstanceApi,
        desired: DesiredSettings,
        linking: LinkingFacts,
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
                    linking,
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
        linking: LinkingFacts,
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
            linking,
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

    def _preview(
        self,
        inputs: Inputs,
        journal: Journal,
        memory: Memory,
        linking: LinkingFacts,
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
        seen = observed(
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
        phone_known = memory.account is not None and bool(memory.account.phone)
        decision = linking.decide(state.state, plan, phone_known=phone_known)
        report = build_report(inputs.previous, dict(acted.stored), seen, decision)
        return dict(report.patch or {})


def observed(
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
    """The report's view of what this cycle saw and did."""
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
