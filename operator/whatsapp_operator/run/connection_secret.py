"""The connection Secret: what an application needs to call GREEN-API for this instance.

Written only when its content would change (a hash of it is kept in memory, never the
values), and only as a Secret the operator owns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

from whatsapp_operator import constants
from whatsapp_operator.names import owned_secret_labels
from whatsapp_operator.ports import Owner
from whatsapp_operator.ports.kubernetes import SecretsApi
from whatsapp_operator.run.cycle import Inputs, Settled
from whatsapp_operator.run.memory import Memory


async def write_connection_secret(
    secrets: SecretsApi, inputs: Inputs, settled: Settled, memory: Memory
) -> Memory:
    """Write `spec.connectionSecret` (id, URLs, token) when what it would hold changed."""
    target = inputs.obj.spec.connection_secret
    if target is None:
        return memory
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
        return memory
    await secrets.apply_secret(
        inputs.namespace,
        target.name,
        data={k: v.encode() for k, v in data.items()},
        owner=Owner(inputs.name, inputs.uid),
        labels=owned_secret_labels(inputs.name, constants.ROLE_CONNECTION),
        annotations={},
    )
    return replace(memory, connection_fingerprint=fingerprint)
