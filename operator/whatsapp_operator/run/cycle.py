"""The values a reconcile passes from stage to stage.

`Inputs` is what a reconcile was given (the object, read once, and the clock);
`Settled` the identity it works on; each step returns its own frozen result, the
gate keeps the `ActResult` (`journal`), and `Outcome` is what the loop acts on: the
status patch, the Events, when to run again and the next `Memory`. What the pipeline
needs from GREEN-API and Kubernetes is in `ports/`, so every step is testable without
a network.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from whatsapp_operator import constants
from whatsapp_operator.api.resource import WhatsAppInstance, WhatsAppInstanceStatus
from whatsapp_operator.decide.events import Event
from whatsapp_operator.decide.plan import SettingsOutcome
from whatsapp_operator.logsetup import ObjectLogAdapter, object_logger
from whatsapp_operator.ports.greenapi import InstanceApi
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.memory import Memory
from whatsapp_operator.run.provisioning import Identity

log = logging.getLogger(__name__)


def object_log(namespace: str, name: object) -> ObjectLogAdapter:
    """This module's logger, naming the object in every line."""
    return object_logger(log, namespace, str(name), kind=constants.KIND)


def default_api_url(instance_id: int) -> str:
    """The dedicated-host convention: https://{first 4 digits}.api.greenapi.com."""
    return f"https://{str(instance_id)[:4]}.api.greenapi.com"


@dataclass(frozen=True)
class ProfileContext:
    """The referenced profile as this cycle read it: its key, revision and pacing."""

    key: tuple[str, str]
    revision: str
    max_unavailable: int | str


@dataclass(frozen=True)
class Inputs:
    """What one reconcile works from: the object as read, and the time it started."""

    obj: WhatsAppInstance
    now: datetime
    generation: int
    namespace: str
    name: str
    annotations: Mapping[str, str]
    # The status as read, with the intents this process knows were never acted on
    # taken back (`decide/intents`).
    previous: WhatsAppInstanceStatus

    @property
    def deleting(self) -> bool:
        """Whether the object is being deleted."""
        return bool(self.obj.metadata.get("deletionTimestamp"))

    @property
    def paused(self) -> bool:
        """Whether the object carries the pause annotation."""
        return constants.is_paused(self.annotations)

    @property
    def uid(self) -> str:
        """The object's uid (owner of the Secrets the operator writes for it)."""
        return str(self.obj.metadata.get("uid") or "")

    @property
    def log(self) -> ObjectLogAdapter:
        """A logger naming the object."""
        return object_log(self.namespace, self.name)


@dataclass(frozen=True)
class Settled:
    """The instance this reconcile works on, and the client to call it with."""

    identity: Identity
    api_url: str
    api: InstanceApi | None = None

    @property
    def instance_id(self) -> int:
        """The GREEN-API instance id."""
        return self.identity.instance_id


@dataclass(frozen=True)
class Outcome:
    """What one reconcile leads to: the status patch, Events, when to run again, and the
    memory the object's loop keeps from now on."""

    status_patch: dict[str, Any] | None
    events: list[Event]
    requeue_after: float
    status: WhatsAppInstanceStatus
    settings: SettingsOutcome = SettingsOutcome.UNOBSERVED
    failure_reason: Reason | None = None
    # The whole status document the patch leads to (what the API server will hold).
    document: dict[str, Any] = field(default_factory=dict)
    # When GREEN-API's settle window for our last write ends, if one is open.
    settle_ends: datetime | None = None
    memory: Memory = field(default_factory=Memory)


@dataclass(frozen=True)
class Polled:
    """A quiet poll: the delay to the next (None: reconcile it whole now), and the memory."""

    delay: float | None
    memory: Memory


@dataclass(frozen=True)
class Finalization:
    """What deleting a resource needs: done, or retry later with a reason."""

    done: bool
    events: list[Event]
    retry_after: float = 0.0
    message: str = ""
    # While it waits: the status merge patch that says why (lastError, conditions).
    status: dict[str, Any] = field(default_factory=dict)
