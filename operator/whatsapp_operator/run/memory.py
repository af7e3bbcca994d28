"""What one object's loop keeps between reconciles: a value, and the live resources beside it.

`Memory` is frozen: a reconcile (or a quiet poll) returns the next one and the loop
keeps it, in one place (`Instances`). Everything in it may be lost on a restart:
status and GREEN-API hold the truth. `Live` holds what is running or open for the
object (its linking session, the client its quiet polls use): resources, not values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from whatsapp_operator.api.resource import Account
from whatsapp_operator.decide.intents import Unsent
from whatsapp_operator.decide.polling import Quiet
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.run.linking_session import LinkingSession
from whatsapp_operator.wire.models import Settings

Key = tuple[str, str]

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class SettingsCache:
    """getSettings as last read, and for what."""

    settings: Settings | None = None
    read_at: datetime | None = None
    read_generation: int | None = None
    # The desired settings the copy was read for: a new desire (a profile) re-reads.
    read_for: str = ""


@dataclass(frozen=True)
class QueueWatch:
    """When the queue counts were last asked for (read or not: a failed read waits too),
    when they are next due (None: not watched), the counts last seen, and a reading a
    quiet poll took that the whole reconcile it hands over to is to use."""

    tried_at: datetime | None = None
    due: datetime | None = None
    check_seconds: float = 0.0
    counts: tuple[int, int] | None = None
    reading: tuple[int, int, datetime] | None = None
    # When status.queues.readAt is due a refresh although nothing changed (hourly).
    refresh_at: datetime | None = None


@dataclass(frozen=True)
class Memory:
    """What one object's reconciles remember between runs (in-process only)."""

    cache: SettingsCache = SettingsCache()
    account: Account | None = None
    referenced_secrets: frozenset[Key] = frozenset()
    # Those of them re-read on a timer while the object is idle (`secret_recheck`).
    rechecked_secrets: frozenset[Key] = frozenset()
    failures: int = 0
    # Seconds the first retry of the current failure streak came before the normal poll
    # (`requeue.ahead_of_schedule`): added to the poll after the streak ends.
    ahead: float = 0.0
    # Deleting an absent Secret is still a write: remember that it is gone.
    linking_secret_removed: bool = False
    # What the connection Secret was last written with (a hash; never the values).
    connection_fingerprint: str = ""
    # The WhatsAppPartner and WhatsAppSettingsProfile this object uses, so a change
    # there can wake it.
    partner: Key | None = None
    profile: Key | None = None
    # Action values refused (not timestamps) and already reported: action -> value.
    refused_actions: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    # Intents whose record failed, so their call was never made; the record may have
    # landed all the same, and this process knows better than status (`decide/intents`).
    unsent: tuple[Unsent, ...] = ()
    # Set when the last reconcile left nothing in motion: routine polls are the state
    # call alone until something changes.
    quiet: Quiet | None = None
    # The pending token rotation a TokenNotRecovered Warning was posted for.
    rotation_warned: str = ""
    queues: QueueWatch = QueueWatch()


@dataclass
class Live:
    """What is running or open for one object between reconciles."""

    session: LinkingSession | None = None
    # The client a quiet poll uses (the one the last whole reconcile settled on).
    poll_api: InstanceApi | None = None

    async def close(self) -> None:
        """Stop the linking session, if one runs."""
        session, self.session = self.session, None
        if session is not None:
            await session.stop()
