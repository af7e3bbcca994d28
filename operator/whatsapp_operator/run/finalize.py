"""Finalize: with deletionPolicy Delete, remove the GREEN-API instance before the object goes.

Retries back off; a failure that only a person can fix (credentials gone) lets
the object go after a few attempts with a Warning naming what was left behind,
so a namespace deletion always finishes.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from whatsapp_operator import constants
from whatsapp_operator.api.resource import DeletionPolicy, WhatsAppInstance
from whatsapp_operator.decide import requeue
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.failures import describe_invalid
from whatsapp_operator.decide.reasons import Reason
from whatsapp_operator.ports import KubeError, ProvisioningFailure
from whatsapp_operator.run.cycle import Finalization, default_api_url
from whatsapp_operator.run.deletion import Deleter, InstanceFactory
from whatsapp_operator.run.provisioning import Provisioner
from whatsapp_operator.wire import errors as gerr

log = logging.getLogger(__name__)

# Deleting with credentials gone (a namespace being deleted takes the partner and its
# token Secret too): after this many attempts the resource is let go, with a Warning
# that names the instance left behind, so namespace deletion always finishes.
DELETE_ATTEMPTS_WITHOUT_CREDENTIALS = 3


async def finalize(
    body: dict[str, Any],
    attempt: int,
    *,
    provisioner: Provisioner,
    instances: InstanceFactory,
    now: datetime,
    rng: random.Random,
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
        return _deletion_failed(obj, annotations, exc, attempt, rng)
    return Finalization(True, list(result.events))


def _deletion_failed(
    obj: WhatsAppInstance,
    annotations: dict[str, str],
    exc: gerr.GreenApiError | KubeError | ProvisioningFailure,
    attempt: int,
    rng: random.Random,
) -> Finalization:
    permanent = exc.permanent if isinstance(exc, ProvisioningFailure) else not exc.retryable
    if permanent and attempt + 1 >= DELETE_ATTEMPTS_WITHOUT_CREDENTIALS:
        left = (
            obj.spec.instance.id
            or annotations.get(constants.ANNOTATION_INSTANCE_ID)
            or obj.status.instance_id
        )
        what = (
            f"instance {left}"
            if left
            else f"the instance named {annotations.get(constants.ANNOTATION_CREATE_PENDING)!r}"
            if annotations.get(constants.ANNOTATION_CREATE_PENDING)
            else "no known instance"
        )
        message = (
            f"Could not delete the GREEN-API instance after {attempt + 1} attempts "
            f"({exc.message}); {what} was left in place: delete it in the GREEN-API console"
        )
        log.warning("%s", message)
        return Finalization(True, [Event("Warning", Reason.DELETION_ABANDONED, message)])
    message = (
        f"Deleting the GREEN-API instance failed ({exc.message}); retrying. "
        "Set spec.deletionPolicy to Orphan to finish the deletion without it"
    )
    retry_after = exc.retry_after if not isinstance(exc, KubeError) else None
    delay = requeue.after_failure(attempt + 1, retry_after, rng)
    return Finalization(
        False,
        [Event("Warning", Reason.DELETION_FAILED, message)],
        retry_after=delay,
        message=message,
    )
