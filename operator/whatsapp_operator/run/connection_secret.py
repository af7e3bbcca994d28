"""The connection Secret: what an application needs to call GREEN-API for this instance.

Written only when its content would change (a hash of it is kept in memory, never the
values), and only as a Secret the operator owns.
"""

from __future__ import annotations

import hashlib
import json

from whatsapp_operator import constants
from whatsapp_operator.names import owned_secret_labels
from whatsapp_operator.ports import Owner
from whatsapp_operator.ports.kubernetes import SecretsApi
from whatsapp_operator.run.cycle import Cycle, Memory
from whatsapp_operator.run.provisioning import Identity


async def write_connection_secret(
    secrets: SecretsApi, cycle: Cycle, identity: Identity, memory: Memory
) -> None:
    """Write `spec.connectionSecret` (id, URLs, token) when what it would hold changed."""
    target = cycle.obj.spec.connection_secret
    if target is None:
        return
    media_url = cycle.obj.spec.instance.media_url or cycle.api_url.replace(".api.", ".media.")
    data = {
        "idInstance": str(identity.instance_id),
        "apiUrl": cycle.api_url,
        "mediaUrl": media_url,
        "apiTokenInstance": identity.token.value.get_secret_value(),
    }
    fingerprint = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    if memory.connection_fingerprint == fingerprint:
        return
    uid = str(cycle.obj.metadata.get("uid") or "")
    await secrets.apply_secret(
        cycle.namespace,
        target.name,
        data={k: v.encode() for k, v in data.items()},
        owner=Owner(cycle.name, uid),
        labels=owned_secret_labels(cycle.name, constants.ROLE_CONNECTION),
        annotations={},
    )
    memory.connection_fingerprint = fingerprint
