"""WhatsAppPartner: check that the partner credentials work, and say so in status.

One getInstances call per check (GREEN-API has no cheaper authenticated partner
method); the count of live instances is reported because operators of a partner
account ask for it, and it changes rarely, so status writes stay rare.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from whatsapp_operator import constants
from whatsapp_operator.api.resource import (
    ClusterWhatsAppPartner,
    WhatsAppPartner,
    WhatsAppPartnerStatus,
)
from whatsapp_operator.constants import ConditionType
from whatsapp_operator.decide import requeue
from whatsapp_operator.decide.conditions import FALSE, TRUE, UNKNOWN, Verdict, merge_conditions
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.failures import describe_invalid, partner_check_reason
from whatsapp_operator.decide.statusdiff import merge_patch
from whatsapp_operator.ports import KubeError, SecretNotFound
from whatsapp_operator.ports.greenapi import PartnerFactory
from whatsapp_operator.ports.secrets import SecretReader
from whatsapp_operator.reasons import Reason
from whatsapp_operator.wire import errors as gerr


@dataclass
class PartnerOutcome:
    """What one partner check leads to: the status patch, Events and when to run again."""

    status_patch: dict[str, Any] | None
    events: list[Event]
    requeue_after: float
    referenced_secret: tuple[str, str]
    # Whether this check failed in a way waiting can fix (drives the caller's backoff count).
    transient_failure: bool = False


# A partner the models cannot read only changes by an edit, which wakes it anyway.
INVALID_PARTNER_RECHECK_SECONDS = 600.0


class PartnerReconciler:
    """Checks one WhatsAppPartner's or ClusterWhatsAppPartner's credentials and reports them
    in its status.
    """

    def __init__(
        self,
        partners: PartnerFactory,
        secrets: SecretReader,
        rng: random.Random | None = None,
        operator_namespace: str | None = None,
    ) -> None:
        self.partners = partners
        self.secrets = secrets
        self.rng = rng or random.Random()
        # Where a ClusterWhatsAppPartner's token Secret is when its reference names none.
        self.operator_namespace = operator_namespace

    def _parse(self, body: dict[str, Any]) -> tuple[WhatsAppPartner | ClusterWhatsAppPartner, str]:
        """The partner and the namespace of its token Secret ("" when unknown)."""
        if body.get("kind") == constants.CLUSTER_PARTNER_KIND:
            cluster = ClusterWhatsAppPartner.model_validate(body)
            ref = cluster.spec.token_secret_ref
            return cluster, ref.namespace or self.operator_namespace or ""
        partner = WhatsAppPartner.model_validate(body)
        return partner, str(partner.metadata.get("namespace") or "")

    async def reconcile(
        self, body: dict[str, Any], now: datetime, failures: int = 0
    ) -> PartnerOutcome:
        """One credentials check; `failures`: transient failures in a row before this one."""
        try:
            partner, namespace = self._parse(body)
        except ValidationError as exc:
            return self._unreadable(body, now, exc)
        metadata = partner.metadata
        generation = int(metadata.get("generation") or 0)
        ref = partner.spec.token_secret_ref
        previous = partner.status
        instances: int | None = previous.instances
        ready: Verdict
        stalled: Verdict = (FALSE, Reason.NOT_STALLED, "")
        reconciling: Verdict = (FALSE, Reason.CONVERGED, "")
        retry = float(partner.spec.check_seconds)
        try:
            self.partners.admit(partner.spec.api_url, "spec.apiUrl")
            if not namespace:
                raise SecretNotFound(
                    "spec.tokenSecretRef.namespace is not set and the operator's own namespace "
                    "is unknown (set WAOP_OPERATOR_NAMESPACE)",
                    status=404,
                    retryable=False,
                )
            token = await self.secrets.read_secret_key(namespace, ref.name, ref.key)
            api = self.partners.partner(api_url=partner.spec.api_url, token=token.value)
            listed = await api.get_instances()
            instances = sum(1 for item in listed if not item.deleted)
            ready = (
                TRUE,
                Reason.CREDENTIALS_VALID,
                f"GREEN-API accepted the partner token ({instances} live instances)",
            )
        except KubeError as exc:
            ready = (FALSE, exc.reason, exc.message)
            if exc.retryable:
                reconciling = (TRUE, Reason.RETRYING_AFTER_ERROR, exc.message)
                retry = requeue.after_failure(failures + 1, None, self.rng)
            else:
                stalled = (TRUE, exc.reason, exc.message)
        except gerr.GreenApiError as exc:
            if exc.retryable:
                ready = (UNKNOWN, Reason.GREEN_API_UNAVAILABLE, exc.message)
                reconciling = (TRUE, Reason.RETRYING_AFTER_ERROR, exc.message)
                retry = requeue.after_failure(failures + 1, exc.retry_after, self.rng)
            else:
                message = (
                    f"GREEN-API rejected the partner token in Secret {namespace}/"
                    f"{ref.name} key {ref.key}"
                    if isinstance(exc, gerr.PartnerTokenRejected)
                    else exc.message
                )
                reason = partner_check_reason(exc)
                ready = (FALSE, reason, message)
                stalled = (TRUE, reason, message)
        conditions = merge_conditions(
            previous.conditions,
            {
                ConditionType.READY: ready,
                ConditionType.RECONCILING: reconciling,
                ConditionType.STALLED: stalled,
            },
            generation,
            now,
        )
        status = WhatsAppPartnerStatus(
            observed_generation=generation,
            conditions=conditions,
            instances=instances,
            last_error="" if ready[0] == TRUE else ready[2],
        )
        events = _ready_events(previous, ready)
        new_doc = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        old_doc = previous.model_dump(mode="json", by_alias=True, exclude_none=True)
        patch = merge_patch(old_doc, new_doc)
        return PartnerOutcome(
            patch,
            events,
            retry,
            (namespace, ref.name),
            reconciling[1] == Reason.RETRYING_AFTER_ERROR,
        )

    def _unreadable(
        self, body: dict[str, Any], now: datetime, error: ValidationError
    ) -> PartnerOutcome:
        """A partner the schema let through that the models refuse: Stalled, naming the field."""
        metadata = body.get("metadata", {})
        generation = int(metadata.get("generation") or 0)
        stored = dict(body.get("status") or {})
        try:
            previous = WhatsAppPartnerStatus.model_validate(stored)
        except ValidationError:
            previous = WhatsAppPartnerStatus()
        message = describe_invalid(error)
        verdict: Verdict = (FALSE, Reason.INVALID_SPEC, message)
        conditions = merge_conditions(
            previous.conditions,
            {
                ConditionType.READY: verdict,
                ConditionType.RECONCILING: (FALSE, Reason.CONVERGED, ""),
                ConditionType.STALLED: (TRUE, Reason.INVALID_SPEC, message),
            },
            generation,
            now,
        )
        status = WhatsAppPartnerStatus(
            observed_generation=generation,
            conditions=conditions,
            instances=previous.instances,
            last_error=message,
        )
        document = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        events = _ready_events(previous, verdict)
        namespace = str(metadata.get("namespace") or "")
        return PartnerOutcome(
            merge_patch(stored, document), events, INVALID_PARTNER_RECHECK_SECONDS, (namespace, "")
        )


def _ready_events(previous: WhatsAppPartnerStatus, ready: Verdict) -> list[Event]:
    """An Event when Ready changes its reason: Normal when valid, Warning when failing."""
    before = next((c for c in previous.conditions if c.type == "Ready"), None)
    if before is not None and before.reason == ready[1]:
        return []
    if ready[0] == TRUE:
        return [Event("Normal", Reason.CREDENTIALS_VALID, ready[2])]
    if ready[0] == FALSE:
        return [Event("Warning", ready[1], ready[2])]
    return []
