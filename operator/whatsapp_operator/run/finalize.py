"""Finalize: with deletionPolicy Delete, remove the GREEN-API instance before the object goes.

Failures are retried with backoff for as long as it takes; the resource is let go
without its instance only for a reason a person would accept (`decide/deletion.py`):
a person asked (the abandon-deletion annotation), or the partner credentials have
been provably gone for the bound. Either way a Warning names what was left behind.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from whatsapp_operator import constants
from whatsapp_operator.api.resource import DeletionPolicy, WhatsAppInstance
from whatsapp_operator.decide import deletion
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.failures import describe_invalid
from whatsapp_operator.ports import KubeError, ProvisioningFailure
from whatsapp_operator.ports.greenapi import InstanceFactory
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.cycle import Finalization, default_api_url
from whatsapp_operator.run.deletion import Deleter
from whatsapp_operator.run.provisioning import Provisioner
from whatsapp_operator.wire import errors as gerr

log = logging.getLogger(__name__)


async def finalize(
    body: dict[str, Any],
    attempt: int,
    *,
    provisioner: Provisioner,
    instances: InstanceFactory,
    now: datetime,
    rng: random.Random,
    abandon_after: timedelta = deletion.ABANDON_AFTER,
) -> Finalization:
    """deletionPolicy Delete: remove the GREEN-API instance before the resource goes."""
    try:
        obj = WhatsAppInstance.model_validate(body)
    except ValidationError as exc:
        # Its reconcile stalled before any call, and deleting on a guess could hit an
        # instance that is not this resource's: let it go and say what was left.
        message = (
            f"{describe_invalid(exc)}; its GREEN-API instance, if it has one, was left in place"
        )
        return Finalization(True, [Event("Warning", Reason.INVALID_SPEC, message)])
    metadata = body.get("metadata", {})
    namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
    annotations = dict(metadata.get("annotations") or {})
    if obj.spec.deletion_policy is not DeletionPolicy.DELETE:
        return Finalization(True, [])
    if constants.is_paused(annotations):
        return Finalization(
            True,
            [
                Event(
                    "Warning",
                    Reason.DELETION_ORPHANED,
                    "The resource is paused: its GREEN-API instance was left in place",
                )
            ],
        )
    if deletion.abandon_requested(annotations):
        event = deletion.abandoned_on_request(_left_behind(obj, annotations))
        log.warning("%s/%s: %s", namespace, name, event.message)
        return Finalization(True, [event])
    deleter = Deleter(provisioner, instances)
    try:
        result = await deleter.delete(
            obj,
            namespace=namespace,
            name=name,
            api_url_for=lambda instance_id: (
                obj.spec.instance.api_url or default_api_url(instance_id)
            ),
            now=now,
        )
    except (gerr.GreenApiError, KubeError, ProvisioningFailure) as exc:
        verdict = deletion.after_failure(
            exc,
            left_behind=_left_behind(obj, annotations),
            started=deletion.deletion_started(metadata.get("deletionTimestamp"), now),
            now=now,
            abandon_after=abandon_after,
            attempt=attempt,
            rng=rng,
        )
        if verdict.abandon:
            log.warning("%s/%s: %s", namespace, name, verdict.events[0].message)
            return Finalization(True, list(verdict.events))
        generation = int(metadata.get("generation") or 0)
        conditions = deletion.waiting_conditions(
            list(obj.status.conditions), verdict, generation, now
        )
        return Finalization(
            False,
            list(verdict.events),
            retry_after=verdict.retry_after,
            message=verdict.message,
            status={
                "lastError": verdict.message,
                "conditions": conditions,
                "observedGeneration": generation,
            },
        )
    return Finalization(True, list(result.events))


def _left_behind(obj: WhatsAppInstance, annotations: dict[str, str]) -> str:
    """The instance a deletion would leave in place, by id (or marker): never a token."""
    left = (
        obj.spec.instance.id
        or annotations.get(constants.ANNOTATION_INSTANCE_ID)
        or obj.status.instance_id
    )
    if left:
        return f"instance {left}"
    marker = annotations.get(constants.ANNOTATION_CREATE_PENDING)
    if marker:
        return f"the instance named {marker!r}"
    return "no known instance"
