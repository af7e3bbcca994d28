"""Partner mode: create the GREEN-API instance of a WhatsAppInstance, at most once.

createInstance bills and is not idempotent, so the order of writes is what makes
it safe: the marker (the name the instance will get) goes on the object with a
resourceVersion precondition before the call; the id and the token are recorded
after it. A marker without a listed instance is looked up for the listing grace
(GREEN-API lists new instances late; a lost answer may still have created one),
then a person decides (CreateResultUnknown). One creation at a time per partner.

A resource with no record at all (no marker, no id, no status: re-applied from
Git after its namespace or cluster was rebuilt) first looks for a live instance
made for its namespace/name by an earlier incarnation, and re-binds to it instead
of billing a second one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import SecretStr

from whatsapp_operator import constants
from whatsapp_operator.api.resource import WhatsAppInstance
from whatsapp_operator.decide.ownership import rebind_candidates
from whatsapp_operator.names import owned_secret_labels
from whatsapp_operator.ports import Effect, Owner, ProvisioningFailure, SecretValue
from whatsapp_operator.ports.kubernetes import ObjectStore
from whatsapp_operator.ports.secrets import SecretApply
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run import writer
from whatsapp_operator.run.effects import Result, SideEffects, ensure_mine
from whatsapp_operator.run.identity import (
    TOKEN_KEY,
    Identity,
    Partner,
    instance_name,
    next_marker,
    object_log,
    owned_token_secret,
    pending_since,
)
from whatsapp_operator.timestamps import format_time, parse_time
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import CreatedInstance, PartnerInstance, Settings


class Creation:
    """createInstance for the objects of this process, serialised per partner account."""

    def __init__(self, store: ObjectStore, listing_grace: timedelta) -> None:
        self.store = store
        self.listing_grace = listing_grace
        # createInstance calls of this process by object uid: a deletion waits for the
        # one in flight and deletes what it created.
        self.creating: dict[str, asyncio.Task[CreatedInstance]] = {}
        # One createInstance at a time per partner account. The client paces partner calls;
        # without this, a burst of new resources writes every marker at once and the calls
        # then wait their turn, so a crash leaves markers whose call was never sent.
        self._creation_locks: dict[str, asyncio.Lock] = {}

    async def store_token(self, namespace: str, name: str, uid: str, token: SecretStr) -> None:
        """Write the token to the Secret this object owns (`<name>-greenapi-token`)."""
        await writer.put_secret(
            self.store,
            SecretApply(
                namespace,
                owned_token_secret(name),
                data={TOKEN_KEY: token.get_secret_value().encode()},
                owner=Owner(name, uid),
                labels=owned_secret_labels(name, constants.ROLE_TOKEN),
            ),
        )

    async def create(
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
        """Create the object's instance through `partner`, or adopt the one its marker names."""
        lock = self._creation_locks.setdefault(partner.name, asyncio.Lock())
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
        resource_version = str(obj.metadata.get("resourceVersion") or "") or None
        if marker:
            listed = await self._listed_under(partner, marker)
            if listed is not None:
                return await self._adopt(namespace, name, uid, listed, annotations, now)
            marker = self._marker_after_no_listing(namespace, name, uid, marker, annotations, now)
        else:
            earlier = await self._earlier_instance(partner, namespace, name)
            if earlier is not None:
                return await self._rebind(
                    namespace, name, uid, earlier, annotations, now, resource_version
                )
            marker = instance_name(namespace, name, uid)
        # A marker without its call would hold the object's next shard back for the
        # listing grace: none is written for an object that left this process.
        ensure_mine()
        # The precondition makes the marker the only way into createInstance: a writer
        # holding an older copy of the object gets a conflict instead.
        await writer.annotate(
            self.store,
            namespace,
            name,
            {
                constants.ANNOTATION_CREATE_PENDING: marker,
                constants.ANNOTATION_CREATE_PENDING_SINCE: format_time(now),
                constants.ANNOTATION_CONFIRM_CREATE: None,
            },
            resource_version=resource_version,
        )
        object_log(namespace, name).info("create marker %r recorded", marker)
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
            object_log(namespace, name).info(
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
        await writer.annotate(
            self.store,
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

    async def _earlier_instance(
        self, partner: Partner, namespace: str, name: str
    ) -> PartnerInstance | None:
        """The one live instance made for an earlier incarnation of `namespace/name`, if any.

        An instance GREEN-API does not list yet (it lists new ones late) is not found:
        the promise covers instances that are listed.
        """
        found = rebind_candidates(await partner.api.get_instances(), namespace, name)
        if len(found) > 1:
            described = ", ".join(f"{i.id_instance} ({i.name!r})" for i in found)
            raise ProvisioningFailure(
                Reason.CREATE_RESULT_AMBIGUOUS,
                f"GREEN-API lists {len(found)} live instances made for {namespace}/{name} "
                f"before this resource was re-created: {described}; nothing is created. Keep "
                f"one: annotate this resource with {constants.ANNOTATION_INSTANCE_ID}=<id> and "
                "delete the others in the GREEN-API console",
                permanent=True,
            )
        return found[0] if found else None

    async def _rebind(
        self,
        namespace: str,
        name: str,
        uid: str,
        earlier: PartnerInstance,
        annotations: dict[str, str],
        now: datetime,
        resource_version: str | None,
    ) -> Identity:
        """Take over the instance an earlier incarnation of this resource left in place.

        Nothing is written to GREEN-API. The instance keeps its name, the earlier uid's
        marker: GREEN-API has no call that renames an instance, and a marker of any uid
        finds it again (`made_for`), so a new name would help no later lookup.
        """
        object_log(namespace, name).info(
            "instance %s was made for an earlier %s under %r and is live; re-binding",
            earlier.id_instance,
            constants.KIND,
            earlier.name,
        )
        # The id first, with the precondition, as a create records it: a writer holding an
        # older copy (one a newer reconcile gave a marker meanwhile) is refused before it
        # overwrites the token Secret.
        created = await self._record_id(
            namespace, name, earlier.id_instance, annotations, now, resource_version
        )
        token = earlier.api_token_instance
        if token is None:
            raise ProvisioningFailure(
                Reason.TOKEN_UNAVAILABLE,
                f"Instance {earlier.id_instance} was re-bound, but GREEN-API did not list its "
                "token; retrying",
                permanent=False,
                retry_after=30.0,
            )
        await self.store_token(namespace, name, uid, token)
        hint = f"Secret {namespace}/{owned_token_secret(name)} key {TOKEN_KEY}"
        return Identity(
            earlier.id_instance, SecretValue(token, ""), hint, created, rebound_from=earlier.name
        )

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
            object_log(namespace, name).warning(
                "creating anew on request: nothing named %r was listed",
                marker,
            )
            return next_marker(instance_name(namespace, name, uid), marker)
        since = pending_since(annotations)
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
        object_log(namespace, name).info(
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
        resource_version: str | None = None,
    ) -> datetime:
        # An adoption after a crash keeps the first creation time: it bounds the grace
        # for GREEN-API's odd answers while an instance is being created.
        created = annotations.get(constants.ANNOTATION_CREATED_AT) or format_time(now)
        await writer.annotate(
            self.store,
            namespace,
            name,
            {
                constants.ANNOTATION_INSTANCE_ID: str(instance_id),
                constants.ANNOTATION_CREATED_AT: created,
                constants.ANNOTATION_CREATE_PENDING: None,
                constants.ANNOTATION_CREATE_PENDING_SINCE: None,
            },
            resource_version=resource_version,
        )
        object_log(namespace, name).info("instance id %s recorded", instance_id)
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
        await self.store_token(namespace, name, uid, token)
        hint = f"Secret {namespace}/{owned_token_secret(name)} key {TOKEN_KEY}"
        return Identity(instance_id, SecretValue(token, ""), hint, created)
