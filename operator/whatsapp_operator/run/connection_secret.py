"""The connection Secret: what an application needs to call GREEN-API for this instance.

Asked for only when its content would change (a hash of it is kept in memory, never the
values), and only as a Secret the operator owns; the reconcile writes it at the end of
its cycle (`writer`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from whatsapp_operator import constants
from whatsapp_operator.names import owned_secret_labels
from whatsapp_operator.ports import Owner
from whatsapp_operator.ports.secrets import SecretApply
from whatsapp_operator.run.cycle import Inputs, Settled
from whatsapp_operator.run.memory import Memory


@dataclass(frozen=True)
class ConnectionSecret:
    """The write that brings `spec.connectionSecret` up to date, and its fingerprint."""

    request: SecretApply
    fingerprint: str


def connection_secret(inputs: Inputs, settled: Settled, memory: Memory) -> ConnectionSecret | None:
    """`spec.connectionSecret` (id, URLs, token) to write, when what it holds would change."""
    target = inputs.obj.spec.connection_secret
    if target is None:
        return None
    api_url = settled.api_url
    identity = settled.identity
    media_url = inputs.obj.spec.instance.media_url or api_url.replace(".api.", ".media.")
    data = {
        "idInstance": str(identity.instance_id),
        "apiUrl": api_url,
        "mediaUrl": media_url,
        "apiTokenInstance": identity.token.value.get_secret_value(),
    }
    fingerprint = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    if memory.connection_fingerprint == fingerprint:
        return None
    request = SecretApply(
        inputs.namespace,
        target.name,
        data={k: v.encode() for k, v in data.items()},
        owner=Owner(inputs.name, inputs.uid),
        labels=owned_secret_labels(inputs.name, constants.ROLE_CONNECTION),
    )
    return ConnectionSecret(request, fingerprint)
