"""Linking a phone: run the QR / pairing-code session the linking decision asks for.

The decision is pure (`decide.linking`); this step starts or stops the session
that streams codes into the `<name>-linking` Secret, and removes that Secret
once no code should be handed out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from whatsapp_operator import constants
from whatsapp_operator.decide.linking import (
    LinkingDecision,
    codes_may_exist,
    decide_linking,
    requested_authorization,
    secret_name,
)
from whatsapp_operator.ports import KubeError, Owner
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.ports.kubernetes import SecretsApi
from whatsapp_operator.run.cycle import Cycle, Memory, is_paused, pending_action
from whatsapp_operator.run.linking_session import LinkingSession
from whatsapp_operator.wire.models import InstanceState

log = logging.getLogger(__name__)


def _settings_restart(cycle: Cycle, memory: Memory) -> bool:
    """Whether the instance restarts to apply our settings write while no phone is linked."""
    plan = cycle.plan
    applying = (
        plan is not None and plan.last_applied is not None and not plan.last_applied.confirmed
    )
    linked = (memory.account is not None and bool(memory.account.phone)) or (
        cycle.previous.state == InstanceState.AUTHORIZED.value
    )
    return applying and not linked


def preview_linking(cycle: Cycle, memory: Memory) -> LinkingDecision:
    """What `reconcile_linking` will decide, without acting (for a status written early)."""
    session = memory.session
    return decide_linking(
        resource=cycle.name,
        state=cycle.state.state if cycle.state is not None else None,
        spec=requested_authorization(cycle.obj.spec.authorization, cycle.annotations),
        previous=cycle.previous.linking,
        relink_requested=pending_action(cycle, constants.Action.RELINK) is not None,
        refreshed_at=session.state.refreshed_at if session is not None else None,
        now=cycle.now,
        settings_restart=_settings_restart(cycle, memory),
    )


async def reconcile_linking(
    cycle: Cycle,
    api: InstanceApi | None,
    memory: Memory,
    wake: Callable[[], None],
    secrets: SecretsApi,
    clock: Callable[[], datetime],
) -> LinkingDecision:
    """Open, keep or close the object's linking session as `decide_linking` says."""
    spec = requested_authorization(cycle.obj.spec.authorization, cycle.annotations)
    relink = pending_action(cycle, constants.Action.RELINK)
    decision = preview_linking(cycle, memory)
    if relink is not None:
        cycle.handled[constants.Action.RELINK] = relink
    session = memory.session
    wanted = decision.active and api is not None and not is_paused(cycle)
    if session is not None and (
        not wanted
        or relink is not None
        or session.method is not spec.method
        or session.phone_number != spec.phone_number
    ):
        await session.stop()
        memory.session = session = None
    if wanted and session is None and api is not None:
        uid = str(cycle.obj.metadata.get("uid") or "")
        session = LinkingSession(
            namespace=cycle.namespace,
            resource=cycle.name,
            secret_name=secret_name(cycle.name),
            owner=Owner(cycle.name, uid),
            method=spec.method,
            phone_number=spec.phone_number,
            api=api,
            store=secrets,
            wake=wake,
            clock=clock,
        )
        memory.session = session
        session.start()
    if session is not None:
        memory.linking_secret_removed = False
    elif not memory.linking_secret_removed and not codes_may_exist(cycle.previous.linking):
        # No session here, and none before (by the status): there is nothing to delete,
        # and a DELETE of a Secret that never existed is still a request per object.
        memory.linking_secret_removed = True
    if decision.remove_codes and not memory.linking_secret_removed:
        try:
            await secrets.delete_secret(
                cycle.namespace,
                secret_name(cycle.name),
                owner_uid=str(cycle.obj.metadata.get("uid") or ""),
                role=constants.ROLE_LINKING,
            )
            memory.linking_secret_removed = True
        except KubeError as exc:
            log.warning(
                "Could not delete linking Secret of %s/%s: %s",
                cycle.namespace,
                cycle.name,
                exc.message,
            )
    return decision
