"""Partner mode with the longest valid name: the token Secret the operator creates for the
billed instance, and the connection Secret, are written; the resource becomes Ready.

Before, the label carrying the name was rejected (422) after createInstance had billed,
and the resource stalled on a bare "KubernetesError (422)".
"""

from __future__ import annotations

from kubernetes import client

from support.long_names import long_name
from tests.e2e.operator.harness import ready_and_synced
from tests.e2e.partner.conftest import PartnerEmulator, PartnerScene, instance_id_of
from whatsapp_operator import constants
from whatsapp_operator.names import label_value


def test_a_long_named_resource_gets_its_token_secret_and_is_ready(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    scene.partner()
    name = long_name(253)
    creates_before = emulator.partner_calls("createInstance")
    scene.create_partnered(name, connectionSecret={"name": "long-connection"})
    obj = scene.instances.wait(name, ready_and_synced, "Ready and Synced", 90)
    id_instance = instance_id_of(obj)
    assert id_instance is not None
    assert emulator.partner_calls("createInstance") == creates_before + 1

    core = client.CoreV1Api(scene.api)
    token_secret = core.read_namespaced_secret(scene.owned_token(name), scene.namespace)
    connection = core.read_namespaced_secret("long-connection", scene.namespace)
    for secret, role in ((token_secret, constants.ROLE_TOKEN), (connection, "connection")):
        labels = secret.metadata.labels
        assert labels[constants.LABEL_INSTANCE_NAME] == label_value(name)
        assert labels[constants.LABEL_SECRET_ROLE] == role
        owners = secret.metadata.owner_references
        assert [(o.uid, o.controller) for o in owners] == [(obj["metadata"]["uid"], True)]
    assert len(token_secret.metadata.name) == 253
    assert obj["status"]["instanceId"] == id_instance
