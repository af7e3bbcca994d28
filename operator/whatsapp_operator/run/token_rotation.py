"""Partner mode: rotate the instance token (updateApiToken), and recover a lost answer.

updateApiToken kills the old token when it takes effect. So, through the gate:
the intent (`status.tokenRotation.pendingSince`) is recorded first; a new token is
written to the operator's token Secret and only then used, and the connection Secret
is rewritten at the end of the same reconcile. When the answer is lost the new token is read from
the partner's getInstances, which lists every instance's token; until it is, this
object makes no instance call at all, so the old token is never used again. Resources
whose token Secret the user owns are refused (decide/rotation.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
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
from whatsapp_operator.run.cycle import Inputs, Settled
from whatsapp_operator.run.effects import Result
from whatsapp_operator.run.journal import Intent, Journal
from whatsapp_operator.run.memory import Memory
from whatsapp_operator.run.plans import PlanListings
from whatsapp_operator.run.provisioning import Identity
from whatsapp_operator.timestamps import format_time
from whatsapp_operator.wire import errors as gerr

StoreToken = Callable[[str, str, str, SecretStr], Awaitable[None]]

# What the intent of a rotation is remembered under when its record fails.
INTENT_KEY = "tokenRotation"


def _writes_allowed(inputs: Inputs) -> bool:
    return (
        inputs.obj.spec.management_policy is ManagementPolicy.MANAGE
        and not inputs.paused
        and not inputs.deleting
    )


@dataclass(frozen=True)
class Rotation:
    """The identity and client to use from now on, status.tokenRotation as this cycle
    leaves it, and what kept the step from finishing (then no instance call is made)."""

    identity: Identity
    api: InstanceApi | None
    status: TokenRotationStatus | None
    memory: Memory
    error: KubeError | ProvisioningFailure | gerr.GreenApiError | IntentNotRecorded | None = None


class TokenRotation:
    """The rotation step of a reconcile: after the identity, before any instance call."""

    def __init__(
        self, green_api: GreenApiFactory, store_token: StoreToken, listings: PlanListings
    ) -> None:
        self.green_api = green_api
        self.store_token = store_token
        self.listings = listings

    async def step(
        self, inputs: Inputs, journal: Journal, settled: Settled, memory: Memory
    ) -> Rotation:
        """Rotate, or recover a rotation whose answer was lost, when due.

        While a lost answer's token is not recovered the result carries a
        `ProvisioningFailure` (TokenRotationPending): the caller then makes no instance call.
        """
        obj = inputs.obj
        identity = settled.identity
        previous = inputs.previous.token_rotation
        state = previous or TokenRotationStatus()
        refused = rotation.refusal(
            partner_mode=obj.spec.partner_ref is not None,
            user_owned_token=obj.spec.instance.token_secret_ref is not None,
        )
        requested = journal.pending(constants.Action.ROTATE_TOKEN)
        if refused:
            status = TokenRotationStatus(refused=refused) if requested else None
            if requested is not None:
                await journal.performed_action(constants.Action.ROTATE_TOKEN, requested)
                journal.note(Event("Warning", Reason.TOKEN_ROTATION_REFUSED, refused))
            elif previous is not None:
                status = previous
            return Rotation(identity, self._client(settled, identity), status, memory)
        status = state.model_copy(update={"refused": ""}) if previous is not None else None
        if state.pending_since:
            return await self._recover(
                inputs, journal, settled, memory, status, state.pending_since
            )
        spec = obj.spec.token_rotation
        due = rotation.rotation_due(
            every=spec.interval if spec is not None else None,
            last_rotated_at=state.last_rotated_at,
            last_refused_at=state.last_refused_at,
            created_at=identity.created_at,
            now=inputs.now,
        )
        if not _writes_allowed(inputs) or (requested is None and not due):
            return Rotation(identity, self._client(settled, identity), status, memory)
        return await self._rotate(inputs, journal, settled, memory, status, requested)

    def next_due(
        self, inputs: Inputs, identity: Identity | None, status: TokenRotationStatus | None
    ) -> datetime | None:
        """When this object's scheduled rotation (or a pending one's recovery) needs a whole
        reconcile; None when none is scheduled or it may not rotate."""
        obj = inputs.obj
        spec = obj.spec.token_rotation
        state = status or TokenRotationStatus()
        if state.pending_since:
            return inputs.now
        if spec is None or not _writes_allowed(inputs) or identity is None:
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
            created_at=identity.created_at,
        )

    def _client(self, settled: Settled, identity: Identity) -> InstanceApi:
        return self.green_api.instance(
            api_url=settled.api_url, id_instance=identity.instance_id, token=identity.token.value
        )

    async def _rotate(
        self,
        inputs: Inputs,
        journal: Journal,
        settled: Settled,
        memory: Memory,
        status: TokenRotationStatus | None,
        requested: str | None,
    ) -> Rotation:
        identity = settled.identity
        stamp = format_time(inputs.now)
        api = self._client(settled, identity)
        intent: dict[str, object] = {"tokenRotation": {"pendingSince": stamp}}
        if requested is not None:
            intent["handledActions"] = {constants.Action.ROTATE_TOKEN.value: requested}
        why = f"requested {requested}" if requested is not None else "spec.tokenRotation.every"
        try:
            performed = await journal.perform(
                Effect.UPDATE_API_TOKEN,
                api.update_api_token,
                intent=Intent(intent, INTENT_KEY),
                detail=f"instance {identity.instance_id}, {why}",
            )
        except IntentNotRecorded as exc:
            return Rotation(identity, None, status, memory, exc)
        state = status or TokenRotationStatus()
        if performed.result is Result.NOT_SENT and performed.error is not None:
            # Nothing changed at GREEN-API: the old token still works; retried after backoff.
            cleared = state.model_copy(update={"pending_since": ""})
            return Rotation(identity, None, cleared, memory, performed.error)
        # Until the new token is in the operator's Secret, the rotation stays pending: a
        # Secret write that fails after a good answer is recovered like a lost answer.
        state = state.model_copy(update={"pending_since": stamp})
        if requested is not None:
            await journal.performed_action(constants.Action.ROTATE_TOKEN, requested)
        if performed.result is Result.REFUSED:
            error = performed.error.message if performed.error is not None else ""
            journal.note(
                Event(
                    "Warning",
                    Reason.TOKEN_ROTATION_FAILED,
                    f"GREEN-API refused updateApiToken ({error}); the token is unchanged",
                )
            )
            refused = state.model_copy(update={"pending_since": "", "last_refused_at": stamp})
            return Rotation(identity, api, refused, memory)
        if performed.result is Result.DONE and performed.value is not None:
            return await self._adopt_token(
                inputs,
                journal,
                settled,
                memory,
                state,
                performed.value,
                stamp,
                Reason.TOKEN_ROTATED,
                "Issued",
            )
        return await self._recover(inputs, journal, settled, memory, state, stamp)

    async def _adopt_token(
        self,
        inputs: Inputs,
        journal: Journal,
        settled: Settled,
        memory: Memory,
        status: TokenRotationStatus | None,
        token: SecretStr,
        stamp: str,
        reason: Reason,
        verb: str,
    ) -> Rotation:
        """Write the new token to the operator's Secret, then use it; the connection Secret
        follows in the same reconcile (its content changed)."""
        identity = settled.identity
        try:
            await self.store_token(inputs.namespace, inputs.name, inputs.uid, token)
        except KubeError as exc:
            return Rotation(identity, None, status, memory, exc)
        state = status or TokenRotationStatus()
        done = state.model_copy(update={"pending_since": "", "last_rotated_at": stamp})
        journal.note(
            Event(
                "Normal",
                reason,
                f"{verb} a new token for instance {identity.instance_id}; written to "
                f"{identity.token_hint} and the connection Secret, if any",
            )
        )
        inputs.log.info("instance %s: token rotated (%s)", identity.instance_id, reason)
        rotated = replace(identity, token=SecretValue(token, ""))
        return Rotation(rotated, self._client(settled, rotated), done, memory)

    async def _recover(
        self,
        inputs: Inputs,
        journal: Journal,
        settled: Settled,
        memory: Memory,
        status: TokenRotationStatus | None,
        pending_since: str,
    ) -> Rotation:
        identity = settled.identity
        old = identity.token.value.get_secret_value()
        listed_token: SecretStr | None = None
        problem = ""
        try:
            listed = await self.listings.refresh(inputs.obj, inputs.namespace, inputs.now)
            found = [i for i in listed if i.id_instance == identity.instance_id and not i.deleted]
            if found and found[0].api_token_instance is not None:
                listed_token = found[0].api_token_instance
            else:
                problem = "the partner does not list the instance with a token"
        except (gerr.GreenApiError, KubeError, ProvisioningFailure) as exc:
            problem = getattr(exc, "message", None) or str(exc)
        if listed_token is not None and listed_token.get_secret_value() != old:
            return await self._adopt_token(
                inputs,
                journal,
                settled,
                memory,
                status,
                listed_token,
                pending_since,
                Reason.TOKEN_RECOVERED,
                "Recovered",
            )
        if listed_token is not None and not rotation.still_unconfirmed(pending_since, inputs.now):
            state = status or TokenRotationStatus()
            # Like a refusal, the schedule waits `every`: each attempt whose answer is lost
            # holds every instance call for the grace, so repeating at once could hold the
            # instance for good against a service that keeps losing the answer.
            given_up = state.model_copy(
                update={"pending_since": "", "last_refused_at": pending_since}
            )
            journal.note(
                Event(
                    "Warning",
                    Reason.TOKEN_ROTATION_UNCONFIRMED,
                    f"updateApiToken sent at {pending_since} got no answer and the partner "
                    "still lists the old token: the rotation did not happen; the old token "
                    "stays in use, and the next scheduled attempt is after "
                    "spec.tokenRotation.every (the rotate-token annotation asks sooner)",
                )
            )
            return Rotation(identity, self._client(settled, identity), given_up, memory)
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
            memory = replace(memory, rotation_warned=pending_since)
            journal.note(Event("Warning", Reason.TOKEN_NOT_RECOVERED, message))
        held = ProvisioningFailure(
            Reason.TOKEN_ROTATION_PENDING, message, permanent=False, retry_after=15.0
        )
        return Rotation(identity, None, status, memory, held)
