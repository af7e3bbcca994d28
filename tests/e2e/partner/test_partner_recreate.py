"""A partner-mode resource re-created from its manifest (a new uid, no annotations, no status:
what Git holds) keeps the instance made for its namespace/name instead of billing a second one.

Before, the re-applied resource wrote a marker with its new uid and called createInstance: two
live instances, the old one still billed with its phone.
"""

from __future__ import annotations

import base64
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.kube_helpers import condition, events_for, has_condition, wait_for
from tests.e2e.operator.harness import ready_and_synced
from tests.e2e.partner.conftest import (
    PartnerEmulator,
    PartnerScene,
    instance_id_of,
    wait_gone,
)
from whatsapp_operator.run.provisioning import TOKEN_KEY, instance_name

# The same manifest both times, as Git would re-apply it.
SETTINGS = {"stateWebhook": True}


def apply(scene: PartnerScene, name: str) -> dict[str, Any]:
    return scene.create_partnered(name, settings=SETTINGS)


def events_of(scene: PartnerScene, obj: dict[str, Any], reason: str) -> list[dict[str, Any]]:
    """Events of this incarnation (by uid: the earlier one had the same name)."""
    uid = obj["metadata"]["uid"]
    return [
        e
        for e in events_for(scene.api, scene.namespace, obj["metadata"]["name"])
        if e["reason"] == reason and e["involvedObject"].get("uid") == uid
    ]


def wait_secret_collected(scene: PartnerScene, name: str) -> None:
    """The garbage collector removes the owned token Secret of the deleted incarnation (as a
    namespace deletion or a rebuilt cluster would have)."""
    core = client.CoreV1Api(scene.api)

    def gone() -> bool:
        try:
            core.read_namespaced_secret(name, scene.namespace)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    wait_for(gone, f"{scene.namespace}/{name} collected", 60)


def test_reapplied_resource_rebinds_to_its_orphaned_instance(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    scene.partner()
    creates_before = emulator.partner_calls("createInstance")
    first = apply(scene, "shop")
    ready = scene.instances.wait("shop", ready_and_synced, "Ready and Synced", 90)
    id_instance = instance_id_of(ready)
    assert id_instance is not None
    old_marker = scene.marker(first)

    scene.instances.delete("shop")  # deletionPolicy defaults to Orphan
    wait_gone(scene, "shop")
    wait_secret_collected(scene, scene.owned_token("shop"))
    assert emulator.instance(id_instance)["deleted"] is False

    second = apply(scene, "shop")
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    rebound = scene.instances.wait("shop", ready_and_synced, "Ready and Synced again", 90)

    assert instance_id_of(rebound) == id_instance
    assert rebound["status"]["instanceId"] == id_instance
    assert emulator.partner_calls("createInstance") == creates_before + 1
    live = scene.ours()
    assert [(i["idInstance"], i["name"]) for i in live] == [(id_instance, old_marker)]
    events = wait_for(
        lambda: events_of(scene, second, "Rebound"), "a Rebound event of the new incarnation", 30
    )
    assert len(events) == 1
    assert events[0]["type"] == "Normal"
    assert str(id_instance) in events[0]["message"]
    assert old_marker in events[0]["message"]
    token = live[0]["apiTokenInstance"]
    assert token not in events[0]["message"]
    secret = client.CoreV1Api(scene.api).read_namespaced_secret(
        scene.owned_token("shop"), scene.namespace
    )
    owners = [(o.uid, o.controller) for o in secret.metadata.owner_references]
    assert owners == [(second["metadata"]["uid"], True)]
    assert base64.b64decode(secret.data[TOKEN_KEY]).decode() == token


def test_two_live_earlier_instances_stall_ambiguous_and_create_nothing(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    scene.partner()
    ids = sorted(
        emulator.seed(name=instance_name(scene.namespace, "dup", uid))["idInstance"]
        for uid in ("0ld0ld01-aaaa", "0ld0ld02-bbbb")
    )
    creates_before = emulator.partner_calls("createInstance")

    apply(scene, "dup")
    obj = scene.instances.wait(
        "dup",
        lambda o: has_condition(o, "Stalled", "True", "CreateResultAmbiguous"),
        "Stalled=True CreateResultAmbiguous",
        90,
    )
    stalled = condition(obj, "Stalled")
    assert stalled is not None
    assert all(str(i) in stalled["message"] for i in ids), stalled["message"]
    assert instance_id_of(obj) is None
    assert emulator.partner_calls("createInstance") == creates_before
    assert sorted(i["idInstance"] for i in scene.ours()) == ids
