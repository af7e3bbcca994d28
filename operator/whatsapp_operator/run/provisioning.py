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
from whatsapp_operator.api.resource import WhatsAppInstance, WhatsAppPartner
from whatsapp_operator.decide.reasons import Reason
from whatsapp_operator.ports import (
    KubeError,
    ProvisioningFailure,
    SecretNotFound,
    SecretValue,
)
from whatsapp_operator.run.creation import Creation
from whatsapp_operator.run.identity import (
    CREATION_GRACE,
    LISTING_GRACE,
    TOKEN_KEY,
    Identity,
    ObjectStore,
    Partner,
    PartnerApi,
    PartnerFactory,
    instance_id,
    instance_name,
    object_log,
    owned_token_secret,
    pending_since,
)
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
    "ObjectStore",
    "Partner",
    "PartnerApi",
    "PartnerFactory",
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
    ) -> None:
        self.store = store
        self.partners = partners
        self.creation = Creation(store, listing_grace)
        # Partner credentials last read, by (namespace, partner): deletion's fallback.
        self._credentials: dict[tuple[str, str], tuple[str, SecretStr]] = {}

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
        """The partner API of the object's WhatsAppPartner.

        `for_deletion`: when the partner or its Secret is gone (a namespace being deleted
        takes them first), the credentials this process last read for it are used, so
        the instance is still deleted rather than left billed.
        """
        ref = obj.spec.partner_ref
        if ref is None:
            raise ProvisioningFailure(
                Reason.PARTNER_REF_MISSING,
                "spec.partnerRef is needed to create or delete instances",
                permanent=True,
            )
        key = (namespace, ref.name)
        try:
            try:
                body = await self.store.read_partner(namespace, ref.name)
            except KubeError as exc:
                if exc.status == 404:
                    raise ProvisioningFailure(
                        Reason.PARTNER_NOT_FOUND,
                        f"WhatsAppPartner {namespace}/{ref.name} does not exist (partner "
                        "credentials are only usable from their own namespace)",
                        permanent=True,
                    ) from None
                raise
            partner = WhatsAppPartner.model_validate(body)
            # Before the token is read: an endpoint outside the allow-list gets nothing.
            self.partners.admit(
                partner.spec.api_url, f"WhatsAppPartner {namespace}/{ref.name} spec.apiUrl"
            )
            token_ref = partner.spec.token_secret_ref
            token = await self.store.read_secret_key(namespace, token_ref.name, token_ref.key)
        except (ProvisioningFailure, SecretNotFound) as exc:
            remembered = self._credentials.get(key)
            if not for_deletion or remembered is None:
                raise
            object_log(namespace, obj.metadata.get("name")).warning(
                "partner credentials gone (%s); deleting with the ones last read",
                exc,
            )
            api_url, secret = remembered
            return Partner(ref.name, self.partners.partner(api_url=api_url, token=secret))
        self._credentials[key] = (partner.spec.api_url, token.value)
        return Partner(
            ref.name, self.partners.partner(api_url=partner.spec.api_url, token=token.value)
        )

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
        if known_id is not None:
            token, hint = await self.token_for(obj, namespace, name, uid, known_id)
            return Identity(known_id, token, hint, created_at)
        return await self._create(obj, namespace, name, uid, annotations, desired, now)

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
        # the partner API still knows the token.
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
