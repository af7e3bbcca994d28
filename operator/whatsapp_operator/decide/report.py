"""Pure: the status a reconcile reports, and the events its transitions warrant.

Everything the cycle learned comes in as arguments; out comes the new status
document, the patch against what is stored (None when nothing changed) and the
events. No I/O and no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from whatsapp_operator.api.lifecycle import PlanStatus, TokenRotationStatus
from whatsapp_operator.api.resource import (
    Account,
    ProfileRollout,
    QueuesStatus,
    WhatsAppInstanceStatus,
)
from whatsapp_operator.constants import ConditionType
from whatsapp_operator.decide.conditions import (
    Facts,
    Failure,
    Written,
    desired_conditions,
    merge_conditions,
)
from whatsapp_operator.decide.events import Event, transition_events
from whatsapp_operator.decide.expiry import expired_message, expiring_message, plan_events
from whatsapp_operator.decide.linking import LinkingDecision
from whatsapp_operator.decide.plan import SettingsOutcome, SettingsPlan, display
from whatsapp_operator.decide.queues import OFF, Off, Verdict
from whatsapp_operator.decide.statusdiff import merge_patch
from whatsapp_operator.timestamps import format_time
from whatsapp_operator.wire.models import InstanceState, Settings, StateReport, parse_state


def _last_state(recorded: str) -> InstanceState | None:
    if not recorded:
        return None
    if recorded == InstanceState.CREATING.value:
        return InstanceState.CREATING
    return parse_state(recorded)


def _delivery(judged: Verdict | Off | None, previous: WhatsAppInstanceStatus) -> Written | None:
    """WebhookDelivery as judged; as last written when this cycle did not judge it; None
    (left out) when webhooks are off."""
    if judged is OFF:
        return None
    if judged is not None:
        return judged
    for condition in previous.conditions:
        if condition.type == ConditionType.WEBHOOK_DELIVERY:
            return condition.status, condition.reason, condition.message
    return None


@dataclass(frozen=True)
class Observed:
    """What one cycle saw and did, as the report needs it."""

    generation: int
    now: datetime
    state: StateReport | None
    plan: SettingsPlan | None
    failure: Failure | None
    settings: Settings | None
    account: Account | None
    instance_id: int | None
    api_url: str
    handled: dict[str, str]
    last_auto_reboot: str
    require_authorization: bool
    settings_profile: ProfileRollout | None = None
    # status.plan and status.tokenRotation as this cycle leaves them (None: not reported).
    account_plan: PlanStatus | None = None
    token_rotation: TokenRotationStatus | None = None
    queues: QueuesStatus | None = None
    # WebhookDelivery as this cycle judged it; None: as it was.
    delivery: Verdict | Off | None = None
    require_delivery: bool = False


@dataclass(frozen=True)
class Report:
    """The new status, its document, the patch against the stored one (None: no change), Events."""

    status: WhatsAppInstanceStatus
    document: dict[str, Any]
    patch: dict[str, Any] | None
    events: list[Event]
    plan: SettingsPlan


def build_report(
    previous: WhatsAppInstanceStatus,
    stored: dict[str, Any],
    seen: Observed,
    linking: LinkingDecision,
) -> Report:
    """The new status from what was seen; the patch is against `stored` (what the API has)."""
    plan = seen.plan or SettingsPlan(
        SettingsOutcome.UNOBSERVED,
        last_applied=previous.last_applied,
        drift=tuple(previous.drift),
    )
    state = seen.state
    state_value = state.raw or state.state.value if state is not None else previous.state
    if state is not None and state.state is InstanceState.CREATING:
        state_value = InstanceState.CREATING.value
    state_since = previous.state_since
    if state_value != previous.state or not state_since:
        state_since = format_time(seen.now)
    hint = linking.status.message if linking.status.secret_name else ""
    # A state that could not be read this time keeps its last known verdict.
    known_state = state.state if state is not None else _last_state(previous.state)
    account = seen.account or previous.account
    if known_state in (None, InstanceState.NOT_AUTHORIZED):
        account = seen.account if known_state is not None else previous.account
    facts = Facts(
        generation=seen.generation,
        state=known_state,
        raw_state=state.raw if state is not None else previous.state or None,
        settings=plan.outcome,
        differing=tuple(d.field for d in plan.drift),
        failure=seen.failure,
        require_authorization=seen.require_authorization,
        linking_hint=hint,
        phone=account.phone if account else "",
        plan_expiring=expiring_message(seen.account_plan),
        plan_expired=expired_message(seen.account_plan),
        delivery=_delivery(seen.delivery, previous),
        require_delivery=seen.require_delivery,
    )
    conditions = merge_conditions(
        previous.conditions, desired_conditions(facts), seen.generation, seen.now
    )
    observed = {}
    if seen.settings is not None:
        for name, value in sorted(seen.settings.present().items()):
            alias = Settings.model_fields[name].alias or name
            observed[alias] = display(name, value)
    status = WhatsAppInstanceStatus(
        observed_generation=seen.generation,
        conditions=conditions,
        instance_id=seen.instance_id or previous.instance_id,
        api_url=seen.api_url or previous.api_url,
        state=state_value,
        state_since=state_since,
        account=account,
        observed_settings=observed or previous.observed_settings,
        drift=list(plan.drift),
        last_applied=plan.last_applied,
        linking=linking.status,
        settings_profile=seen.settings_profile,
        handled_actions=seen.handled,
        last_auto_reboot=seen.last_auto_reboot,
        last_error=seen.failure.message if seen.failure else "",
        plan=seen.account_plan,
        token_rotation=seen.token_rotation,
        queues=seen.queues or previous.queues,
    )
    events = transition_events(previous, status, plan)
    if seen.account_plan is not None:
        events += plan_events(previous.plan, seen.account_plan)
    document = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    return Report(status, document, merge_patch(stored, document), events, plan)
