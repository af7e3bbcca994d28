"""A resource the schema let through but the models refuse: reported, never acted on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from whatsapp_operator.api.resource import LinkingPhase, LinkingStatus, WhatsAppInstanceStatus
from whatsapp_operator.decide.conditions import Failure
from whatsapp_operator.decide.failures import describe_invalid
from whatsapp_operator.decide.linking import LinkingDecision
from whatsapp_operator.decide.report import Observed, build_report
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.cycle import Outcome

# A resource the models cannot read only changes by an edit, which wakes it anyway.
INVALID_SPEC_RECHECK_SECONDS = 600.0


def unreadable(body: dict[str, Any], error: ValidationError, now: datetime) -> Outcome:
    """A resource the schema let through that the models refuse: Stalled, naming the field."""
    stored = dict(body.get("status") or {})
    try:
        previous = WhatsAppInstanceStatus.model_validate(stored)
    except ValidationError:
        previous = WhatsAppInstanceStatus()
    failure = Failure(Reason.INVALID_SPEC, describe_invalid(error), permanent=True)
    seen = Observed(
        generation=int(body.get("metadata", {}).get("generation") or 0),
        now=now,
        state=None,
        plan=None,
        failure=failure,
        settings=None,
        account=None,
        instance_id=None,
        api_url="",
        handled=dict(previous.handled_actions),
        last_auto_reboot=previous.last_auto_reboot,
        require_authorization=False,
    )
    linking = LinkingDecision(
        previous.linking or LinkingStatus(phase=LinkingPhase.NOT_NEEDED),
        active=False,
        remove_codes=False,
    )
    report = build_report(previous, stored, seen, linking)
    return Outcome(
        report.patch,
        report.events,
        INVALID_SPEC_RECHECK_SECONDS,
        report.status,
        report.plan.outcome,
        failure.reason,
        report.document,
    )
