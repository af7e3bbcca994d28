"""Which GREEN-API instance a WhatsAppInstance stands for, creating it if asked to.

Adopt mode: `spec.instance.id` plus a token Secret. Partner mode: no id, a
`partnerRef`; `run/creation.py` calls createInstance (at most once) and records
the result in annotations and an owned token Secret. A lost token Secret is
rebuilt from getInstances, so it is never fatal.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from pydantic import SecretStr

from whatsapp_operator import constants
from whatsapp_operator.api.resource import WhatsAppInstance
from whatsapp_operator.decide.ownership import conflicting_id
from whatsapp_operator.ports import (
    ProvisioningFailure,
    SecretNotFound,
    SecretValue,
)
from whatsapp_operator.ports.greenapi import PartnerFactory
from whatsapp_operator.ports.kubernetes import ObjectStore
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.creation import Creation
from whatsapp_operator.run.identity import (
    CREATION_GRACE,
    LISTING_GRACE,
    TOKEN_KEY,
    Identity,
    Partner,
    instance_id,
    instance_name,
    owned_token_secret,
    pending_since,
)
from whatsapp_operator.run.partner_access import PartnerAccess
from whatsapp_operator.timestamps import parse_time
from whatsapp_operator.wire.models import (
    CreatedInstance,
    Settings,
)

log = logging.getLogger(__name__)

__all__ = [
    "CREATION_GRACE",
    "LISTING_GRACE",
    "TOKEN_KEY",
    "Identity",
    "Partner",
    "Provisioner",
    "instance_id",
    "instance_name",
    "owned_token_secret",
    "pending_since",
]


class Provisioner:
    """Settles which GREEN-API instance an object stands for; creates it in partner mode."""

    def __init__(
        self,
        store: ObjectStore,
        partners: PartnerFactory,
        listing_grace: timedelta = LISTING_GRACE,
        operator_namespace: str | None = None,
    ) -> None:
        self.store = store
        self.partners = partners
        self.creation = Creation(store, listing_grace)
        self.access = PartnerAccess(store, partners, listing_grace, operator_namespace)

    @property
    def listing_grace(self) -> timedelta:
        """How long a create marker without a listed instance is looked up."""
        return self.creation.listing_grace

    @property
    def creating(self) -> dict[str, asyncio.Task[CreatedInstance]]:
        """createInstance calls of this process in flight or done, by object uid."""
        return self.creation.creating

    async def partner_for(
        self, obj: WhatsAppInstance, namespace: str, *, for_deletion: bool = False
    ) -> Partner:
        """The partner API of the object's partnerRef, if its namespace may use it
        (`PartnerAccess.partner_for`).
        """
        return await self.access.partner_for(obj, namespace, for_deletion=for_deletion)

    async def resolve(
        self,
        obj: WhatsAppInstance,
        *,
        namespace: str,
        name: str,
        desired: Settings | None,
        now: datetime,
    ) -> Identity:
        """The instance `obj` stands for: adopted, recorded, or created now in partner mode.

        Raises `ProvisioningFailure` when it cannot be settled yet, and `KubeError` or
        `GreenApiError` from the calls it makes.
        """
        metadata = obj.metadata
        annotations: dict[str, str] = dict(metadata.get("annotations") or {})
        uid = str(metadata.get("uid") or "")
        created_at = None
        if annotations.get(constants.ANNOTATION_CREATED_AT):
            try:
                created_at = parse_time(annotations[constants.ANNOTATION_CREATED_AT])
            except ValueError:
                created_at = None
        known_id = obj.spec.instance.id or instance_id(
            annotations.get(constants.ANNOTATION_INSTANCE_ID)
        )
        if known_id is None and obj.spec.partner_ref is not None:
            # Restored without annotations but with status: status still knows the id.
            known_id = (
                obj.status.instance_id
                if not annotations.get(constants.ANNOTATION_CREATE_PENDING)
                else None
            )
        recorded = instance_id(annotations.get(constants.ANNOTATION_INSTANCE_ID))
        if recorded is None and obj.spec.partner_ref is not None:
            recorded = obj.status.instance_id
        if conflicting_id(obj.spec.instance.id, recorded):
            raise ProvisioningFailure(
                Reason.INSTANCE_ID_CONFLICT,
                f"spec.instance.id names instance {obj.spec.instance.id}, but the operator "
                f"recorded instance {recorded} for this resource; nothing is done to either. "
                "Restore spec.instance.id, or create a new resource for the other instance",
                permanent=True,
            )
        if known_id is not None:
            if obj.spec.partner_ref is not None:
                # Through the partner, any instance of the account could be named; only
                # the one created for this resource, or one the partner allows, is used.
                await self.access.check_owned(obj, namespace, name, known_id, now)
            token, hint = await self.token_for(obj, namespace, name, uid, known_id)
            return Identity(known_id, token, hint, created_at)
        identity = await self._create(obj, namespace, name, uid, annotations, desired, now)
        self.access.remember_owned(uid, identity.instance_id)
        return identity

    async def token_for(
        self, obj: WhatsAppInstance, namespace: str, name: str, uid: str, instance_id: int
    ) -> tuple[SecretValue, str]:
        """The token of `instance_id` and where it comes from, for messages.

        From the referenced Secret, else the operator's own, rebuilt from getInstances when
        that is gone. `ProvisioningFailure` when the partner does not list the instance.
        """
        ref = obj.spec.instance.token_secret_ref
        if ref is not None:
            hint = f"Secret {namespace}/{ref.name} key {ref.key}"
            return await self.store.read_secret_key(namespace, ref.name, ref.key), hint
        secret = owned_token_secret(name)
        hint = f"Secret {namespace}/{secret} key {TOKEN_KEY}"
        try:
            return await self.store.read_secret_key(namespace, secret, TOKEN_KEY), hint
        except SecretNotFound:
            if obj.spec.partner_ref is None:
                raise
        # The operator's own Secret is gone (deleted, or a crash right after creation):
        # the partner API still knows the token. Callers have checked that the object
        # may use this instance (`PartnerAccess.check_owned`).
        partner = await self.partner_for(obj, namespace)
        listed = [
            i
            for i in await partner.api.get_instances()
            if i.id_instance == instance_id and not i.deleted
        ]
        if not listed or listed[0].api_token_instance is None:
            raise ProvisioningFailure(
                Reason.INSTANCE_NOT_FOUND,
                f"GREEN-API partner {partner.name} does not list instance {instance_id}; it was "
                f"deleted or belongs to another partner account",
                permanent=True,
            )
        token = listed[0].api_token_instance
        await self._store_token(namespace, name, uid, token)
        return SecretValue(token, ""), hint

    async def _store_token(self, namespace: str, name: str, uid: str, token: SecretStr) -> None:
        await self.creation.store_token(namespace, name, uid, token)

    async def _create(
        self,
        obj: WhatsAppInstance,
        namespace: str,
        name: str,
        uid: str,
        annotations: dict[str, str],
        desired: Settings | None,
        now: datetime,
    ) -> Identity:
        partner = await self.partner_for(obj, namespace)
        return await self.creation.create(
            obj, partner, namespace, name, uid, annotations, desired, now
        )
