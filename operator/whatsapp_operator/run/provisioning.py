"""Which GREEN-API instance a WhatsAppInstance stands for, creating it if asked to.

Adopt mode: `spec.instance.id` plus a token Secret. Partner mode: no id, a
`partnerRef`; the operator calls createInstance and records the result. That call
bills and is not idempotent, so the order of writes is what makes it crash-safe:

1. the pending marker (the name the instance will get) is written to an annotation
   with a resourceVersion precondition, so two writers cannot both proceed;
2. createInstance is called with that name;
3. the id is written to an annotation (durable, survives a restore without status),
   then the token to a Secret the resource owns.

A restart that finds the marker but no id looks the name up in getInstances and
adopts what it finds; two instances with that name stop the resource (Stalled)
with a message saying exactly what to check. The token of a created instance can
always be recovered from getInstances, so a lost Secret is rebuilt, not fatal.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import SecretStr

from whatsapp_operator import constants
from whatsapp_operator.api.resource import WhatsAppInstance, WhatsAppPartner
from whatsapp_operator.decide.reasons import Reason
from whatsapp_operator.logsetup import ObjectLogAdapter, object_logger
from whatsapp_operator.ports import (
    Effect,
    KubeError,
    Owner,
    ProvisioningFailure,
    SecretNotFound,
    SecretValue,
)
from whatsapp_operator.run.effects import Result, SideEffects
from whatsapp_operator.timestamps import format_time, parse_time
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import (
    CreatedInstance,
    PartnerInstance,
    Settings,
)

log = logging.getLogger(__name__)


def _object_log(namespace: str, name: object) -> ObjectLogAdapter:
    return object_logger(log, namespace, str(name), kind=constants.KIND)


TOKEN_KEY = "apiTokenInstance"  # noqa: S105 - a Secret key name, not a credential
# GREEN-API: creation takes up to 5 minutes; users report 401 and 400 "expired" meanwhile.
CREATION_GRACE = timedelta(minutes=10)
# How long a marker without a listed instance is looked up before a person is asked:
# GREEN-API creates in up to 5 minutes and may list the instance after that.
LISTING_GRACE = timedelta(minutes=10)


class PartnerApi(Protocol):
    """The partner API calls provisioning and deletion make."""

    async def create_instance(
        self, *, name: str | None = None, settings: Settings | None = None
    ) -> CreatedInstance: ...

    async def get_instances(self) -> list[PartnerInstance]: ...

    async def delete_instance(self, id_instance: int) -> bool: ...


class PartnerFactory(Protocol):
    """Makes a partner API client."""

    def partner(self, *, api_url: str, token: SecretStr | str) -> PartnerApi: ...


class ObjectStore(Protocol):
    """The Kubernetes calls provisioning makes."""

    async def read_secret_key(self, namespace: str, name: str, key: str) -> SecretValue: ...

    async def apply_secret(
        self,
        namespace: str,
        name: str,
        *,
        data: dict[str, bytes],
        owner: Owner,
        labels: dict[str, str],
        annotations: dict[str, str],
    ) -> None: ...

    async def read_partner(self, namespace: str, name: str) -> dict[str, Any]: ...

    async def patch_annotations(
        self,
        namespace: str,
        name: str,
        annotations: dict[str, str | None],
        resource_version: str | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class Identity:
    """The GREEN-API instance an object stands for, and its token."""

    instance_id: int
    token: SecretValue
    # Human-readable origin of the token, for messages ("Secret ns/x key k").
    token_hint: str
    created_at: datetime | None = None

    def recently_created(self, now: datetime) -> bool:
        """Whether the operator created the instance within the creation grace before `now`."""
        return self.created_at is not None and now - self.created_at < CREATION_GRACE


def owned_token_secret(resource: str) -> str:
    """The name of the Secret the operator keeps a created instance's token in."""
    return resource[: 253 - len("-greenapi-token")] + "-greenapi-token"


def instance_name(namespace: str, name: str, uid: str) -> str:
    """The GREEN-API instance name: finds it in the console, and after a crash in getInstances."""
    return f"k8s:{namespace}/{name}#{uid[:8]}"


def _labels(resource: str, role: str) -> dict[str, str]:
    return {
        constants.LABEL_MANAGED_BY: "whatsapp-operator",
        constants.LABEL_INSTANCE_NAME: resource,
        constants.LABEL_SECRET_ROLE: role,
    }


@dataclass
class Partner:
    """A WhatsAppPartner's name and its partner API client."""

    name: str
    api: PartnerApi


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
        self.listing_grace = listing_grace
        # createInstance calls of this process by object uid: a deletion waits for the
        # one in flight and deletes what it created.
        self.creating: dict[str, asyncio.Task[CreatedInstance]] = {}
        # Partner credentials last read, by (namespace, partner): deletion's fallback.
        self._credentials: dict[tuple[str, str], tuple[str, SecretStr]] = {}
        # One createInstance at a time per partner account. The client paces partner calls;
        # without this, a burst of new resources writes every marker at once and the calls
        # then wait their turn, so a crash leaves markers whose call was never sent.
        self._creation_locks: dict[tuple[str, str], asyncio.Lock] = {}

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
            token_ref = partner.spec.token_secret_ref
            token = await self.store.read_secret_key(namespace, token_ref.name, token_ref.key)
        except (ProvisioningFailure, SecretNotFound) as exc:
            remembered = self._credentials.get(key)
            if not for_deletion or remembered is None:
                raise
            _object_log(namespace, obj.metadata.get("name")).warning(
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
        instance_id = obj.spec.instance.id or _int(
            annotations.get(constants.ANNOTATION_INSTANCE_ID)
        )
        if instance_id is None and obj.spec.partner_ref is not None:
            # Restored without annotations but with status: status still knows the id.
            instance_id = (
                obj.status.instance_id
                if not annotations.get(constants.ANNOTATION_CREATE_PENDING)
                else None
            )
        if instance_id is not None:
            token, hint = await self.token_for(obj, namespace, name, uid, instance_id)
            return Identity(instance_id, token, hint, created_at)
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
        await self.store.apply_secret(
            namespace,
            owned_token_secret(name),
            data={TOKEN_KEY: token.get_secret_value().encode()},
            owner=Owner(name, uid),
            labels=_labels(name, "token"),
            annotations={},
        )

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
        lock = self._creation_locks.setdefault((namespace, partner.name), asyncio.Lock())
        async with lock:
            return await self._create_locked(
                obj, partner, namespace, name, uid, annotations, desired, now
            )

    async def _create_locked(
        self,
        obj: WhatsAppInstance,
        partner: Partner,
        namespace: str,
        name: str,
        uid: str,
        annotations: dict[str, str],
        desired: Settings | None,
        now: datetime,
    ) -> Identity:
        marker = annotations.get(constants.ANNOTATION_CREATE_PENDING)
        effects = SideEffects(namespace, name)
        if marker:
            listed = await self._listed_under(partner, marker)
            if listed is not None:
                return await self._adopt(namespace, name, uid, listed, annotations, now)
            marker = self._marker_after_no_listing(namespace, name, uid, marker, annotations, now)
        else:
            marker = instance_name(namespace, name, uid)
        # The precondition makes the marker the only way into createInstance: a writer
        # holding an older copy of the object gets a conflict instead.
        await self.store.patch_annotations(
            namespace,
            name,
            {
                constants.ANNOTATION_CREATE_PENDING: marker,
                constants.ANNOTATION_CREATE_PENDING_SINCE: format_time(now),
                constants.ANNOTATION_CONFIRM_CREATE: None,
            },
            resource_version=str(obj.metadata.get("resourceVersion") or "") or None,
        )
        _object_log(namespace, name).info("create marker %r recorded", marker)
        task = asyncio.ensure_future(partner.api.create_instance(name=marker, settings=desired))
        self.creating[uid] = task

        async def call() -> CreatedInstance:
            # Cancelling this reconcile must not cut the call short: the deletion of this
            # object waits for the task's result and deletes what it created.
            return await asyncio.shield(task)

        performed = await effects.perform(
            Effect.CREATE_INSTANCE, call, record=None, detail=f"name {marker!r}"
        )
        if performed.result is Result.DONE and performed.value is not None:
            created = performed.value
            _object_log(namespace, name).info(
                "instance %s created under %r", created.id_instance, marker
            )
            return await self._record(
                namespace,
                name,
                uid,
                created.id_instance,
                created.api_token_instance,
                annotations,
                now,
            )
        error = performed.error
        assert error is not None
        if performed.result is Result.UNKNOWN:
            raise ProvisioningFailure(
                Reason.CREATE_RESULT_PENDING,
                f"createInstance for {marker!r} got no answer ({error.message}); looking the "
                "name up in getInstances before anything else",
                permanent=False,
                retry_after=15.0,
            )
        # GREEN-API answered and did not create: the marker can go, a later try starts clean.
        await self.store.patch_annotations(
            namespace,
            name,
            {
                constants.ANNOTATION_CREATE_PENDING: None,
                constants.ANNOTATION_CREATE_PENDING_SINCE: None,
            },
        )
        if performed.result is Result.REFUSED and not isinstance(error, gerr.PartnerError):
            raise ProvisioningFailure(Reason.CREATE_REJECTED, error.message, permanent=True)
        raise error

    async def _listed_under(self, partner: Partner, marker: str) -> PartnerInstance | None:
        found = [i for i in await partner.api.get_instances() if i.name == marker and not i.deleted]
        if len(found) > 1:
            ids = ", ".join(str(i.id_instance) for i in found)
            raise ProvisioningFailure(
                Reason.CREATE_RESULT_AMBIGUOUS,
                f"GREEN-API lists {len(found)} instances named {marker!r} ({ids}). Keep one: "
                f"annotate this resource with {constants.ANNOTATION_INSTANCE_ID}=<id> and "
                "delete the others in the GREEN-API console",
                permanent=True,
            )
        return found[0] if found else None

    def _marker_after_no_listing(
        self,
        namespace: str,
        name: str,
        uid: str,
        marker: str,
        annotations: dict[str, str],
        now: datetime,
    ) -> str:
        """A marker without a listed instance: wait, stop, or (confirmed) a fresh marker.

        GREEN-API may list a new instance late, and a createInstance whose answer
        was lost may still be running there: creating again could bill twice.
        """
        task = self.creating.get(uid)
        if task is not None and not task.done():
            raise ProvisioningFailure(
                Reason.CREATE_IN_FLIGHT,
                f"createInstance for {marker!r} is still running",
                permanent=False,
                retry_after=5.0,
            )
        if annotations.get(constants.ANNOTATION_CONFIRM_CREATE) == marker:
            _object_log(namespace, name).warning(
                "creating anew on request: nothing named %r was listed",
                marker,
            )
            return _next_marker(instance_name(namespace, name, uid), marker)
        since = _time(annotations.get(constants.ANNOTATION_CREATE_PENDING_SINCE))
        if since is None or now - since < self.listing_grace:
            raise ProvisioningFailure(
                Reason.CREATE_RESULT_PENDING,
                f"createInstance for {marker!r} has no known result yet; waiting for "
                "GREEN-API to list it",
                permanent=False,
                retry_after=15.0,
            )
        raise ProvisioningFailure(
            Reason.CREATE_RESULT_UNKNOWN,
            f"createInstance was attempted under the name {marker!r}, but GREEN-API has not "
            f"listed it for {int(self.listing_grace.total_seconds())} s. Check the GREEN-API "
            f"console: if the instance exists, annotate {constants.ANNOTATION_INSTANCE_ID}"
            f"=<id>; if not, annotate {constants.ANNOTATION_CONFIRM_CREATE}={marker} to "
            "create a new one",
            permanent=True,
        )

    async def _adopt(
        self,
        namespace: str,
        name: str,
        uid: str,
        listed: PartnerInstance,
        annotations: dict[str, str],
        now: datetime,
    ) -> Identity:
        # It exists: never create again. Adopt it, token or not.
        _object_log(namespace, name).info(
            "instance %s found under the marker; adopting",
            listed.id_instance,
        )
        if listed.api_token_instance is None:
            await self._record_id(namespace, name, listed.id_instance, annotations, now)
            raise ProvisioningFailure(
                Reason.TOKEN_UNAVAILABLE,
                f"Instance {listed.id_instance} was created, but GREEN-API did not list "
                "its token yet; retrying",
                permanent=False,
                retry_after=30.0,
            )
        return await self._record(
            namespace, name, uid, listed.id_instance, listed.api_token_instance, annotations, now
        )

    async def _record_id(
        self,
        namespace: str,
        name: str,
        instance_id: int,
        annotations: dict[str, str],
        now: datetime,
    ) -> datetime:
        # An adoption after a crash keeps the first creation time: it bounds the grace
        # for GREEN-API's odd answers while an instance is being created.
        created = annotations.get(constants.ANNOTATION_CREATED_AT) or format_time(now)
        await self.store.patch_annotations(
            namespace,
            name,
            {
                constants.ANNOTATION_INSTANCE_ID: str(instance_id),
                constants.ANNOTATION_CREATED_AT: created,
                constants.ANNOTATION_CREATE_PENDING: None,
                constants.ANNOTATION_CREATE_PENDING_SINCE: None,
            },
        )
        _object_log(namespace, name).info("instance id %s recorded", instance_id)
        return parse_time(created)

    async def _record(
        self,
        namespace: str,
        name: str,
        uid: str,
        instance_id: int,
        token: SecretStr,
        annotations: dict[str, str],
        now: datetime,
    ) -> Identity:
        created = await self._record_id(namespace, name, instance_id, annotations, now)
        await self._store_token(namespace, name, uid, token)
        hint = f"Secret {namespace}/{owned_token_secret(name)} key {TOKEN_KEY}"
        return Identity(instance_id, SecretValue(token, ""), hint, created)


def pending_since(annotations: dict[str, str]) -> datetime | None:
    """When the create marker was written (None: unknown or unreadable)."""
    return _time(annotations.get(constants.ANNOTATION_CREATE_PENDING_SINCE))


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


def _next_marker(base: str, previous: str) -> str:
    """A new instance name after a confirmed re-create: `base.2`, `base.3`, ..."""
    _, dot, suffix = previous.rpartition(".")
    attempt = int(suffix) + 1 if dot and previous.startswith(base) and suffix.isdigit() else 2
    return f"{base}.{attempt}"


def instance_id(value: str | None) -> int | None:
    """An instance-id annotation's value as an id (None unless a positive integer)."""
    return _int(value)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number > 0 else None
