"""deletionPolicy Delete: log the phone out, then delete the GREEN-API instance.

Waits for a creation in flight and deletes what it made; a marker whose instance
is not listed yet is looked up again for the listing grace, so a deletion never
lets go of an object whose billed instance may still appear.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from whatsapp_operator import constants
from whatsapp_operator.api.resource import WhatsAppInstance
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.ownership import conflicting_id
from whatsapp_operator.logsetup import ObjectLogAdapter, object_logger
from whatsapp_operator.ports import Effect, KubeError, ProvisioningFailure
from whatsapp_operator.ports.greenapi import InstanceFactory
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.effects import SideEffects
from whatsapp_operator.run.identity import Partner
from whatsapp_operator.run.provisioning import Provisioner, pending_since
from whatsapp_operator.run.provisioning import instance_id as parse_instance_id
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import InstanceState

log = logging.getLogger(__name__)


def _object_log(namespace: str, name: object) -> ObjectLogAdapter:
    return object_logger(log, namespace, str(name), kind=constants.KIND)


@dataclass(frozen=True)
class DeletionResult:
    """What deleting the GREEN-API side led to: done or not, why, Events and the wait."""

    done: bool
    message: str
    events: tuple[Event, ...] = ()
    retry_after: float | None = None


class Deleter:
    """deletionPolicy Delete: log the phone out, then delete the instance (404 = done).

    GREEN-API warns that deleting does not unlink the phone, hence the logout first.
    A creation still in flight is waited for, and a marker whose instance is not
    listed yet is looked up again for the listing grace: deleting must not let go
    of an object whose billed instance may still appear.
    """

    def __init__(self, provisioner: Provisioner, instance_api: InstanceFactory) -> None:
        self.provisioner = provisioner
        self.instance_api = instance_api

    async def delete(
        self,
        obj: WhatsAppInstance,
        *,
        namespace: str,
        name: str,
        api_url_for: Callable[[int], str],
        now: datetime,
    ) -> DeletionResult:
        """Log out and delete every GREEN-API instance of `obj`; one already gone counts as deleted.

        Raises `ProvisioningFailure` while a creation's instance may still be listed, and the
        `GreenApiError` of a logout or deletion that failed.
        """
        annotations: dict[str, str] = dict(obj.metadata.get("annotations") or {})
        uid = str(obj.metadata.get("uid") or "")
        created = await self._creation_in_flight(namespace, name, uid)
        partner = await self.provisioner.partner_for(obj, namespace, for_deletion=True)
        events: list[Event] = []
        ids: list[int] = []
        for candidate in self._candidates(obj, annotations, created):
            if candidate == created or await self._may_delete(
                partner, obj, namespace, name, candidate, now, events
            ):
                ids.append(candidate)
        marker = annotations.get(constants.ANNOTATION_CREATE_PENDING)
        if not ids and not events and marker:
            # Deleted while a creation was in flight: whatever got that name is ours.
            ids = [
                i.id_instance
                for i in await partner.api.get_instances()
                if i.name == marker and not i.deleted
            ]
            if not ids:
                return self._marker_not_listed(marker, annotations, now)
        if not ids:
            return DeletionResult(
                True, "No GREEN-API instance was created for this resource", tuple(events)
            )
        effects = SideEffects(namespace, name)
        for instance_id in ids:
            if await self._logout(obj, namespace, name, uid, instance_id, api_url_for, effects):
                events.append(
                    Event(
                        "Normal",
                        Reason.LOGGED_OUT,
                        f"Logged the phone out of instance {instance_id} before deleting",
                    )
                )

            async def call(instance_id: int = instance_id) -> bool:
                return await partner.api.delete_instance(instance_id)

            performed = await effects.perform(
                Effect.DELETE_INSTANCE, call, record=None, detail=f"instance {instance_id}"
            )
            if isinstance(performed.error, gerr.PartnerInstanceNotFound):
                continue  # already gone (an earlier attempt, or the console): nothing to report
            if performed.error is not None:
                raise performed.error
            events.append(
                Event(
                    "Normal",
                    Reason.INSTANCE_DELETED,
                    f"Deleted GREEN-API instance {instance_id} (deletionPolicy Delete)",
                )
            )
        self.provisioner.creating.pop(uid, None)
        return DeletionResult(True, "deleted", tuple(events))

    @staticmethod
    def _candidates(
        obj: WhatsAppInstance, annotations: dict[str, str], created: int | None
    ) -> list[int]:
        """The instances this resource may stand for: recorded by the operator, in flight,
        and the spec's id unless it contradicts the recorded one (never acted on).
        """
        recorded = parse_instance_id(annotations.get(constants.ANNOTATION_INSTANCE_ID))
        recorded = recorded or obj.status.instance_id
        spec_id = obj.spec.instance.id
        candidates = [recorded, created]
        if not conflicting_id(spec_id, recorded):
            candidates.insert(0, spec_id)
        ids: list[int] = []
        for candidate in candidates:
            if candidate is not None and candidate not in ids:
                ids.append(candidate)
        return ids

    async def _may_delete(
        self,
        partner: Partner,
        obj: WhatsAppInstance,
        namespace: str,
        name: str,
        instance_id: int,
        now: datetime,
        events: list[Event],
    ) -> bool:
        """Whether `instance_id` is this resource's to delete, asked afresh; a Warning if not."""
        verdict = await self.provisioner.access.verdict(
            partner, obj, namespace, name, instance_id, now
        )
        if verdict.owned:
            return True
        if not verdict.listed:
            # Not in the account at all (deleted and purged, or another account's): there
            # is nothing here to delete, and nothing to warn about.
            return False
        _object_log(namespace, name).warning(
            "instance %s left in place on deletion: %s", instance_id, verdict.why
        )
        events.append(
            Event(
                "Warning",
                Reason.INSTANCE_NOT_OWNED,
                f"GREEN-API instance {instance_id} was left in place: {verdict.why}",
            )
        )
        return False

    async def _creation_in_flight(self, namespace: str, name: str, uid: str) -> int | None:
        """The id a createInstance of this process made for the object, waiting for it."""
        task = self.provisioner.creating.get(uid)
        if task is None:
            return None
        if not task.done():
            _object_log(namespace, name).info("deletion waits for createInstance in flight")
        try:
            created = await asyncio.shield(task)
        except (gerr.GreenApiError, asyncio.CancelledError):
            return None  # no result: the marker lookup decides
        return created.id_instance

    def _marker_not_listed(
        self, marker: str, annotations: dict[str, str], now: datetime
    ) -> DeletionResult:
        since = pending_since(annotations)
        if since is not None and now - since < self.provisioner.listing_grace:
            raise ProvisioningFailure(
                Reason.CREATE_RESULT_PENDING,
                f"createInstance for {marker!r} has no known result yet; deletion waits "
                "for GREEN-API to list it",
                permanent=False,
                retry_after=15.0,
            )
        return DeletionResult(
            True,
            "not listed",
            (
                Event(
                    "Warning",
                    Reason.DELETION_UNVERIFIED,
                    f"createInstance was attempted under the name {marker!r}, but GREEN-API "
                    "never listed it; check the GREEN-API console for an instance of that name",
                ),
            ),
        )

    async def _logout(
        self,
        obj: WhatsAppInstance,
        namespace: str,
        name: str,
        uid: str,
        instance_id: int,
        api_url_for: Callable[[int], str],
        effects: SideEffects,
    ) -> bool:
        try:
            token, _ = await self.provisioner.token_for(obj, namespace, name, uid, instance_id)
        except (KubeError, ProvisioningFailure):
            return False  # no token: nothing can be logged out; deletion goes on
        api = self.instance_api(
            api_url=api_url_for(instance_id), id_instance=instance_id, token=token.value
        )
        try:
            if (await api.get_state()).state is not InstanceState.AUTHORIZED:
                return False
        except (gerr.InstanceDeleted, gerr.TokenRejected, gerr.InstanceRejected):
            return False
        performed = await effects.perform(
            Effect.LOGOUT, api.logout, record=None, detail=f"instance {instance_id}, before delete"
        )
        if isinstance(
            performed.error, gerr.InstanceDeleted | gerr.TokenRejected | gerr.InstanceRejected
        ):
            return False
        if performed.error is not None:
            raise performed.error
        return bool(performed.value)
