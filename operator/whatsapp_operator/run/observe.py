"""Observe: what GREEN-API says about the instance now (state, settings, account).

Reads are cheap but rate-limited, so settings are read only when due: first
time, after a spec change, every `settingsSeconds`, right after a write's settle
window, or on request. What was read lands in the object's `Memory`.
"""

from __future__ import annotations

from datetime import timedelta

from whatsapp_operator.api.resource import Account
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.redaction import register_secret
from whatsapp_operator.run.cycle import Cycle, Memory
from whatsapp_operator.timestamps import parse_time
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import InstanceState, StateReport


async def observe(cycle: Cycle, api: InstanceApi, memory: Memory, *, force_settings: bool) -> bool:
    """Read the state, and the settings and account when due.

    False while the instance boots and nothing is known of its settings yet:
    getSettings would fail or show stale values then, so there is nothing to plan.
    """
    cycle.state = await read_state(cycle, api)
    state = cycle.state.state
    if state in (InstanceState.CREATING, InstanceState.STARTING):
        if memory.settings is None:
            return False
    elif settings_due(cycle, memory, force=force_settings):
        memory.settings = await api.get_settings()
        proxy = memory.settings.proxy_instance
        if proxy and proxy != "system proxy":
            register_secret(proxy)
        memory.settings_read_at = cycle.now
        memory.settings_read_generation = cycle.generation

    if state is InstanceState.AUTHORIZED:
        if memory.account is None or not memory.account.phone:
            wa = await api.get_wa_settings()
            wid = memory.settings.wid if memory.settings is not None else ""
            memory.account = Account(
                phone=wa.phone,
                # getSettings read before the scan has no wid yet; it is phone@c.us.
                wid=wid or (f"{wa.phone}@c.us" if wa.phone else ""),
                device_id=wa.device_id,
                avatar_url=wa.avatar,
            )
    elif state is InstanceState.NOT_AUTHORIZED:
        # Only an unlinked instance loses its account; a reboot or an outage does not.
        memory.account = None
    return True


def settings_due(cycle: Cycle, memory: Memory, force: bool) -> bool:
    """Whether getSettings should be read this cycle (forced, never read, spec changed, due)."""
    if force or memory.settings is None or memory.settings_read_at is None:
        return True
    if memory.settings_read_generation != cycle.generation:
        return True
    interval = timedelta(seconds=cycle.obj.spec.intervals.settings_seconds)
    if cycle.now - memory.settings_read_at >= interval:
        return True
    last = cycle.previous.last_applied
    if last is not None and not last.confirmed:
        # Re-read as soon as GREEN-API's settle window for our last write is over.
        settle_end = parse_time(last.time) + timedelta(
            seconds=cycle.obj.spec.intervals.settle_seconds
        )
        return memory.settings_read_at < settle_end <= cycle.now
    return False


async def read_state(cycle: Cycle, api: InstanceApi) -> StateReport:
    """getStateInstance; right after creation, a refusal is read as "still creating"."""
    try:
        return await api.get_state()
    except (gerr.TokenRejected, gerr.InstanceExpired, gerr.InstanceNotAuthorized):
        # Right after createInstance GREEN-API has answered 401 and 400 "expired"
        # for a while (ISS#306, ISS#197): that is "still creating", not a bad token.
        identity = cycle.identity
        still_creating = cycle.previous.state in ("", InstanceState.CREATING.value)
        if identity is not None and still_creating and identity.recently_created(cycle.now):
            return StateReport(state=InstanceState.CREATING, raw=None)
        raise
