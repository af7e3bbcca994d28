"""Observe: what GREEN-API says about the instance now (state, settings, account).

Reads are cheap but rate-limited, so settings are read only when due: first
time, after a spec change, every `settingsSeconds`, right after a write's settle
window, or on request. What was read comes back as an `Observation`, and the
cached copies as the next `Memory`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from whatsapp_operator.api.resource import Account
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.redaction import register_secret
from whatsapp_operator.run.cycle import Inputs, Settled
from whatsapp_operator.run.memory import Memory, SettingsCache
from whatsapp_operator.timestamps import parse_time
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import InstanceState, StateReport


@dataclass(frozen=True)
class Observation:
    """What this reconcile read: the state always, settings and account when due.

    `plannable` is False while the instance boots and nothing is known of its settings
    yet: getSettings would fail or show stale values then, so there is nothing to plan.
    `error` is a later read that failed after the state was read.
    """

    state: StateReport
    plannable: bool
    memory: Memory
    error: gerr.GreenApiError | None = None


async def observe(
    inputs: Inputs, settled: Settled, api: InstanceApi, memory: Memory, *, force_settings: bool
) -> Observation:
    """Read the state, and the settings and account when due.

    Raises the state read's `GreenApiError`; a later read's is in the result, with
    what was read before it.
    """
    report = await read_state(inputs, settled, api)
    state = report.state
    if state in (InstanceState.CREATING, InstanceState.STARTING):
        if memory.cache.settings is None:
            return Observation(report, False, memory)
    elif settings_due(inputs, memory, force=force_settings):
        try:
            settings = await api.get_settings()
        except gerr.GreenApiError as exc:
            return Observation(report, False, memory, exc)
        proxy = settings.proxy_instance
        if proxy and proxy != "system proxy":
            register_secret(proxy)
        cache = SettingsCache(settings, inputs.now, inputs.generation, memory.cache.read_for)
        memory = replace(memory, cache=cache)
    if state is InstanceState.AUTHORIZED:
        if memory.account is None or not memory.account.phone:
            try:
                wa = await api.get_wa_settings()
            except gerr.GreenApiError as exc:
                return Observation(report, False, memory, exc)
            known = memory.cache.settings
            wid = known.wid if known is not None else ""
            account = Account(
                phone=wa.phone,
                # getSettings read before the scan has no wid yet; it is phone@c.us.
                wid=wid or (f"{wa.phone}@c.us" if wa.phone else ""),
                device_id=wa.device_id,
                avatar_url=wa.avatar,
            )
            memory = replace(memory, account=account)
    elif state is InstanceState.NOT_AUTHORIZED:
        # Only an unlinked instance loses its account; a reboot or an outage does not.
        memory = replace(memory, account=None)
    return Observation(report, True, memory)


def settings_due(inputs: Inputs, memory: Memory, force: bool) -> bool:
    """Whether getSettings should be read this cycle (forced, never read, spec changed, due)."""
    cache = memory.cache
    if force or cache.settings is None or cache.read_at is None:
        return True
    if cache.read_generation != inputs.generation:
        return True
    interval = timedelta(seconds=inputs.obj.spec.intervals.settings_seconds)
    if inputs.now - cache.read_at >= interval:
        return True
    last = inputs.previous.last_applied
    if last is not None and not last.confirmed:
        # Re-read as soon as GREEN-API's settle window for our last write is over.
        settle_end = parse_time(last.time) + timedelta(
            seconds=inputs.obj.spec.intervals.settle_seconds
        )
        return cache.read_at < settle_end <= inputs.now
    return False


async def read_state(inputs: Inputs, settled: Settled, api: InstanceApi) -> StateReport:
    """getStateInstance; right after creation, a refusal is read as "still creating"."""
    try:
        return await api.get_state()
    except (gerr.TokenRejected, gerr.InstanceExpired, gerr.InstanceNotAuthorized):
        # Right after createInstance GREEN-API has answered 401 and 400 "expired"
        # for a while (ISS#306, ISS#197): that is "still creating", not a bad token.
        still_creating = inputs.previous.state in ("", InstanceState.CREATING.value)
        if still_creating and settled.identity.recently_created(inputs.now):
            return StateReport(state=InstanceState.CREATING, raw=None)
        raise
