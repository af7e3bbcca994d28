"""Linking a phone: run the QR / pairing-code session the linking decision asks for.

The decision is pure (`decide.linking`); this step starts or stops the session
that streams codes into the `<name>-linking` Secret, and removes that Secret
once no code should be handed out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from whatsapp_operator import constants
from whatsapp_operator.decide.linking import (
    LinkingDecision,
    LinkingFacts,
    codes_may_exist,
    requested_authorization,
    secret_name,
)
from whatsapp_operator.decide.plan import SettingsPlan
from whatsapp_operator.ports import Owner
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.ports.kubernetes import SecretsApi
from whatsapp_operator.ports.secrets import SecretRemoval
from whatsapp_operator.run.cycle import Inputs
from whatsapp_operator.run.journal import Journal
from whatsapp_operator.run.linking_session import LinkingSession
from whatsapp_operator.run.memory import Live, Memory
from whatsapp_operator.wire.models import InstanceState


@dataclass(frozen=True)
class Linked:
    """The linking decision, the memory after it, and the codes' Secret to remove."""

    decision: LinkingDecision
    memory: Memory
    removal: SecretRemoval | None = None


def linking_facts(inputs: Inputs, journal: Journal, live: Live) -> LinkingFacts:
    """The facts this reconcile's linking decisions read, taken once at its start."""
    session = live.session
    return LinkingFacts(
        resource=inputs.name,
        secret=secret_name(inputs.name),
        spec=requested_authorization(inputs.obj.spec.authorization, inputs.annotations),
        previous=inputs.previous.linking,
        relink_requested=journal.pending(constants.Action.RELINK) is not None,
        refreshed_at=session.state.refreshed_at if session is not None else None,
        now=inputs.now,
        was_authorized=inputs.previous.state == InstanceState.AUTHORIZED.value,
    )


async def reconcile_linking(
    inputs: Inputs,
    journal: Journal,
    api: InstanceApi | None,
    memory: Memory,
    live: Live,
    facts: LinkingFacts,
    *,
    state: InstanceState | None,
    plan: SettingsPlan | None,
    wake: Callable[[], None],
    secrets: SecretsApi,
    clock: Callable[[], datetime],
) -> Linked:
    """Open, keep or close the object's linking session as `decide_linking` says; the codes'
    Secret is removed by the reconcile's writes at the end of its cycle."""
    spec = facts.spec
    relink = journal.pending(constants.Action.RELINK)
    phone_known = memory.account is not None and bool(memory.account.phone)
    decision = facts.decide(state, plan, phone_known=phone_known)
    if relink is not None:
        journal.handle(constants.Action.RELINK, relink)
    session = live.session
    wanted = decision.active and api is not None and not inputs.paused
    if session is not None and (
        not wanted
        or relink is not None
        or session.method is not spec.method
        or session.phone_number != spec.phone_number
    ):
        await live.close()
        session = None
    if wanted and session is None and api is not None:
        session = LinkingSession(
            namespace=inputs.namespace,
            resource=inputs.name,
            secret_name=secret_name(inputs.name),
            owner=Owner(inputs.name, inputs.uid),
            method=spec.method,
            phone_number=spec.phone_number,
            api=api,
            store=secrets,
            wake=wake,
            clock=clock,
        )
        live.session = session
        session.start()
    removed = memory.linking_secret_removed
    if session is not None:
        removed = False
    elif not removed and not codes_may_exist(inputs.previous.linking):
        # No session here, and none before (by the status): there is nothing to delete,
        # and a DELETE of a Secret that never existed is still a request per object.
        removed = True
    removal = None
    if decision.remove_codes and not removed:
        removal = SecretRemoval(
            inputs.namespace, secret_name(inputs.name), inputs.uid, constants.ROLE_LINKING
        )
    if removed != memory.linking_secret_removed:
        memory = replace(memory, linking_secret_removed=removed)
    return Linked(decision, memory, removal)
