"""Which GREEN-API instance an object stands for: the types and names that
provisioning, creation and deletion share.

The instance name (`k8s:<namespace>/<name>#<uid prefix>`) is the create marker:
it finds the instance in the GREEN-API console, and after a crash in getInstances.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from whatsapp_operator import constants
from whatsapp_operator.api.partner import AdoptionPolicy
from whatsapp_operator.decide.ownership import marker_base
from whatsapp_operator.logsetup import ObjectLogAdapter, object_logger
from whatsapp_operator.names import derived_name
from whatsapp_operator.ports import (
    SecretValue,
)
from whatsapp_operator.ports.greenapi import PartnerApi
from whatsapp_operator.timestamps import parse_time

log = logging.getLogger(__name__)


def object_log(namespace: str, name: object) -> ObjectLogAdapter:
    """The logger of provisioning, naming the object in every line."""
    return object_logger(log, namespace, str(name), kind=constants.KIND)


OWNED_TOKEN_SUFFIX = "-greenapi-token"  # noqa: S105 - a name suffix, not a credential
TOKEN_KEY = "apiTokenInstance"  # noqa: S105 - a Secret key name, not a credential
# GREEN-API: creation takes up to 5 minutes; users report 401 and 400 "expired" meanwhile.
CREATION_GRACE = timedelta(minutes=10)
# How long a marker without a listed instance is looked up before a person is asked:
# GREEN-API creates in up to 5 minutes and may list the instance after that.
LISTING_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class Identity:
    """The GREEN-API instance an object stands for, and its token."""

    instance_id: int
    token: SecretValue
    # Human-readable origin of the token, for messages ("Secret ns/x key k").
    token_hint: str
    created_at: datetime | None = None
    # Set when this reconcile re-bound a re-created resource to the instance made for an
    # earlier incarnation: that instance's GREEN-API name (its marker), for the event.
    rebound_from: str | None = None

    def recently_created(self, now: datetime) -> bool:
        """Whether the operator created the instance within the creation grace before `now`."""
        return self.created_at is not None and now - self.created_at < CREATION_GRACE


def owned_token_secret(resource: str) -> str:
    """The name of the Secret the operator keeps a created instance's token in."""
    return derived_name(resource, OWNED_TOKEN_SUFFIX)


def instance_name(namespace: str, name: str, uid: str) -> str:
    """The GREEN-API instance name: finds it in the console, and after a crash in getInstances."""
    return f"{marker_base(namespace, name)}{uid[:8]}"


@dataclass
class Partner:
    """A partner's display name, its API client, and what it allows the resource's namespace."""

    name: str
    api: PartnerApi
    allow_adoption: AdoptionPolicy | None = None
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    # spec.planCheckSeconds: how long a listing read for the plans is used (run/plans.py).
    plan_check_seconds: float = 10800.0


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


def next_marker(base: str, previous: str) -> str:
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
