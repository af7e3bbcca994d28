"""Partner mode: rotate the instance token (updateApiToken), and recover a lost answer.

updateApiToken kills the old token when it takes effect. So, through the gate:
the intent (`status.tokenRotation.pendingSince`) is recorded first; a new token is
written to the operator's token Secret, then the connection Secret (by the reconcile,
right after), and only then used. When the answer is lost the new token is read from
the partner's getInstances, which lists every instance's token; until it is, this
object makes no instance call at all, so the old token is never used again. Resources
whose token Secret the user owns are refused (decide/rotation.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from pydantic import SecretStr

from whatsapp_operator import constants
from whatsapp_operator.api.lifecycle import TokenRotationStatus
from whatsapp_operator.api.resource import ManagementPolicy
from whatsapp_operator.decide import rotation
from whatsapp_operator.decide.events import Event
from whatsapp_operator.ports import (
    Effect,
    IntentNotRecorded,
    KubeError,
    ProvisioningFailure,
    SecretValue,
)
from whatsapp_operator.ports.greenapi import GreenApiFactory, InstanceApi
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.cycle import (
    Cycle,
    Memory,
    is_paused,
    object_log,
    pending_action,
    record_intent,
    record_performed,
)
from whatsapp_operator.run.effects import Result
from whatsapp_operator.run.plans import PlanListings
from whatsapp_operator.run.provisioning import Identity
from whatsapp_operator.timestamps import format_time
from whatsapp_operator.wire import errors as gerr

StoreToken = Callable[[str, str, str, SecretStr], Awaitable[None]]


def _writes_allowed(cycle: Cycle) -> bool:
    return (
        cycle.obj.spec.management_policy is ManagementPolicy.MANAGE
        and not is_paused(cycle)
        and not cycle.deleting
    )


class TokenRotation:
    """The rotation step of a reconcile: after the identity, before any instance call."""

    def __init__(
        self, green_api: GreenApiFactory, store_token: StoreToken, listings: PlanListings
    ) -> None:
        self.green_api = green_api
        self.store_token = store_token
        self.listings = listings

    async def step(
        self, cycle: Cycle, identity: Identity, memory: Memory
    ) -> tuple[Identity, InstanceApi]:
        """The identity and client to use from now on, rotating or recovering first if due.

        Raises `ProvisioningFailure` (TokenRotationPending) while a lost answer's token is
        not recovered: the caller then makes no instance call.
        """
        obj = cycle.obj
        state = cycle.previous.token_rotation or TokenRotationStatus()
        refused = rotation.refusal(
            partner_mode=obj.spec.partner_ref is not None,
            user_owned_token=obj.spec.instance.token_secret_ref is not None,
        )
        requested = pending_action(cycle, constants.Action.ROTATE_TOKEN)
        if refused:
            cycle.token_rotation = TokenRotationStatus(refused=refused) if requested else None
            if requested is not None:
                await record_performed(cycle, constants.Action.ROTATE_TOKEN, requested)
                cycle.events.append(Event("Warning", Reason.TOKEN_ROTATION_REFUSED, refused))
            elif cycle.previous.token_rotation is not None:
                cycle.token_rotation = cycle.previous.token_rotation
            return identity, self._client(cycle, identity)
        if cycle.previous.token_rotation is not None:
            cycle.token_rotation = state.model_copy(update={"refused": ""})
        if state.pending_since and state.pending_since == memory.rotation_unsent:
            # Its intent record failed, so the call was never made, though the record may
            # have landed: nothing to recover (this process knows better than status).
            state = state.model_copy(update={"pending_since": "", "refused": ""})
            cycle.token_rotation = state
        if state.pending_since:
            return await self._recover(cycle, identity, memory, state.pending_since)
        spec = obj.spec.token_rotation
        due = rotation.rotation_due(
            every=spec.interval if spec is not None else None,
            last_rotated_at=state.last_rotated_at,
            last_refused_at=state.last_refused_at,
            created_at=identity.created_at,
            now=cycle.now,
        )
        if not _writes_allowed(cycle) or (requested is None and not due):
            return identity, self._client(cycle, identity)
        return await self._rotate(cycle, identity, memory, requested)

    def next_due(self, cycle: Cycle) -> datetime | None:
        """When this object's scheduled rotation (or a pending one's recovery) needs a whole
        reconcile; None when none is scheduled or it may not rotate."""
        obj = cycle.obj
        spec = obj.spec.token_rotation
        state = cycle.token_rotation or TokenRotationStatus()
        if state.pending_since:
            return cycle.now
        if spec is None or not _writes_allowed(cycle) or cycle.identity is None:
            return None
        if rotation.refusal(
            partner_mode=obj.spec.partner_ref is not None,
            user_owned_token=obj.spec.instance.token_secret_ref is not None,
        ):
            return None
        return rotation.next_rotation(
            every=spec.interval,
            last_rotated_at=state.last_rotated_at,
            last_refused_at=state.last_refused_at,
            created_at=cycle.identity.created_at,
        )

    def _client(self, cycle: Cycle, identity: Identity) -> InstanceApi:
        return self.green_api.instance(
            api_url=cycle.api_url, id_instance=identity.instance_id, token=identity.token.value
        )

    async def _rotate(
        self, cycle: Cycle, identity: Identity, memory: Memory, requested: str | None
    ) -> tuple[Identity, InstanceApi]:
        stamp = format_time(cycle.now)
        api = self._client(cycle, identity)
        intent: dict[str, object] = {"tokenRotation": {"pendingSince": stamp}}
        if requested is not None:
            intent["handledActions"] = {constants.Action.ROTATE_TOKEN.value: requested}

        async def record() -> None:
            await record_intent(cycle, intent)
            memory.rotation_unsent = ""

        why = f"requested {requested}" if requested is not None else "spec.tokenRotation.every"
        try:
            performed = await cycle.effects.perform(
                Effect.UPDATE_API_TOKEN,
                api.update_api_token,
                record=record,
                detail=f"instance {identity.instance_id}, {why}",
            )
        except IntentNotRecorded:
            memory.rotation_unsent = stamp
            if requested is not None:
                cycle.unsent[constants.Action.ROTATE_TOKEN] = requested
            raise
        if requested is not None:
            cycle.unsent.pop(constants.Action.ROTATE_TOKEN, None)
        state = cycle.token_rotation or TokenRotationStatus()
        if performed.result is Result.NOT_SENT and performed.error is not None:
            # Nothing changed at GREEN-API: the old token still works; retried after backoff.
            cycle.token_rotation = state.model_copy(update={"pending_since": ""})
            raise performed.error
        # Until the new token is in the operator's Secret, the rotation stays pending: a
        # Secret write that fails after a good answer is recovered like a lost answer.
        state = state.model_copy(update={"pending_since": stamp})
        cycle.token_rotation = state
        if requested is not None:
            await record_performed(cycle, constants.Action.ROTATE_TOKEN, requested)
        if performed.result is Result.REFUSED:
            error = performed.error.message if performed.error is not None else ""
            cycle.token_rotation = state.model_copy(
                update={"pending_since": "", "last_refused_at": stamp}
            )
            cycle.events.append(
                Event(
                    "Warning",
                    Reason.TOKEN_ROTATION_FAILED,
                    f"GREEN-API refused updateApiToken ({error}); the token is unchanged",
                )
            )
            return identity, api
        if performed.result is Result.DONE and performed.value is not None:
            return await self._adopt_token(
                cycle, identity, performed.value, stamp, Reason.TOKEN_ROTATED, "Issued"
            )
        cycle.token_rotation = state.model_copy(update={"pending_since": stamp})
        return await self._recover(cycle, identity, memory, stamp)

    async def _adopt_token(
        self,
        cycle: Cycle,
        identity: Identity,
        token: SecretStr,
        stamp: str,
        reason: Reason,
        verb: str,
    ) -> tuple[Identity, InstanceApi]:
        """Write the new token to the operator's Secret, then use it; the connection Secret
        follows in the same reconcile (its content changed)."""
        uid = str(cycle.obj.metadata.get("uid") or "")
        await self.store_token(cycle.namespace, cycle.name, uid, token)
        state = cycle.token_rotation or TokenRotationStatus()
        cycle.token_rotation = state.model_copy(
            update={"pending_since": "", "last_rotated_at": stamp}
        )
        cycle.events.append(
            Event(
                "Normal",
                reason,
                f"{verb} a new token for instance {identity.instance_id}; written to "
                f"{identity.token_hint} and the connection Secret, if any",
            )
        )
        object_log(cycle.namespace, cycle.name).info(
            "instance %s: token rotated (%s)", identity.instance_id, reason
        )
        rotated = replace(identity, token=SecretValue(token, ""))
        return rotated, self._client(cycle, rotated)

    async def _recover(
        self, cycle: Cycle, identity: Identity, memory: Memory, pending_since: str
    ) -> tuple[Identity, InstanceApi]:
        old = identity.token.value.get_secret_value()
        listed_token: SecretStr | None = None
        problem = ""
        try:
            listed = await self.listings.refresh(cycle.obj, cycle.namespace, cycle.now)
            found = [i for i in listed if i.id_instance == identity.instance_id and not i.deleted]
            if found and found[0].api_token_instance is not None:
                listed_token = found[0].api_token_instance
            else:
                problem = "the partner does not list the instance with a token"
        except (gerr.GreenApiError, KubeError, ProvisioningFailure) as exc:
            problem = getattr(exc, "message", None) or str(exc)
        if listed_token is not None and listed_token.get_secret_value() != old:
            return await self._adopt_token(
                cycle, identity, listed_token, pending_since, Reason.TOKEN_RECOVERED, "Recovered"
            )
        if listed_token is not None and not rotation.still_unconfirmed(pending_since, cycle.now):
            state = cycle.token_rotation or TokenRotationStatus()
            # Like a refusal, the schedule waits `every`: each attempt whose answer is lost
            # holds every instance call for the grace, so repeating at once could hold the
            # instance for good against a service that keeps losing the answer.
            cycle.token_rotation = state.model_copy(
                update={"pending_since": "", "last_refused_at": pending_since}
            )
            cycle.events.append(
                Event(
                    "Warning",
                    Reason.TOKEN_ROTATION_UNCONFIRMED,
                    f"updateApiToken sent at {pending_since} got no answer and the partner "
                    "still lists the old token: the rotation did not happen; the old token "
                    "stays in use, and the next scheduled attempt is after "
                    "spec.tokenRotation.every (the rotate-token annotation asks sooner)",
                )
            )
            return identity, self._client(cycle, identity)
        message = (
            f"updateApiToken sent at {pending_since} got no answer; the new token "
            + (
                "is not listed by the partner yet"
                if listed_token is not None
                else f"could not be read from the partner's getInstances ({problem})"
            )
            + "; the old token is not used meanwhile"
        )
        if listed_token is None and memory.rotation_warned != pending_since:
            memory.rotation_warned = pending_since
            cycle.events.append(Event("Warning", Reason.TOKEN_NOT_RECOVERED, message))
        raise ProvisioningFailure(
            Reason.TOKEN_ROTATION_PENDING, message, permanent=False, retry_after=15.0
        )
