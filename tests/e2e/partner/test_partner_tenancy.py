"""Tenant safety of partner accounts against a real API server, the emulator's partner API
and the operator as a process: adoption through a partner needs the partner's consent,
a ClusterWhatsAppPartner serves only the namespaces it selects, and admission refuses an
id added to a resource whose instance the operator creates.

Every wait polls with a deadline; counts come from the emulator's journal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.kube_helpers import has_condition, read_secret, wait_event, wait_for
from tests.e2e.operator.harness import ready_and_synced
from tests.e2e.partner.conftest import PARTNER_SECRET, PartnerEmulator, PartnerScene, wait_gone
from whatsapp_operator import constants

VICTIM = "billing"


def instance_calls(emulator: PartnerEmulator, id_instance: int) -> dict[str, Any]:
    """Every call the instance API of `id_instance` received, by method."""
    calls: dict[str, Any] = emulator.counters().get(str(id_instance), {})
    return calls


def adopt_spec(scene: PartnerScene, id_instance: int, **overrides: Any) -> dict[str, Any]:
    """id + partnerRef: adopt that instance through the partner (token from getInstances)."""
    return scene.partner_spec(
        instance={"id": id_instance, "apiUrl": scene.emulator.url}, **overrides
    )


def test_adopting_a_foreign_instance_through_the_partner_is_refused(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    scene.partner()
    scene.wait_partner("True", "CredentialsValid")
    # Another tenant's instance in the same partner account (not named after this resource).
    victim = scene.seed(VICTIM, state="authorized")
    deletes_before = emulator.partner_calls("deleteInstanceAccount")
    name = "grab"
    scene.instances.create(name, adopt_spec(scene, victim, deletionPolicy="Delete"))

    stalled = scene.instances.wait_condition(name, "Stalled", "True", "InstanceNotOwned", 40)
    message = next(c for c in stalled["status"]["conditions"] if c["type"] == "Stalled")["message"]
    assert str(victim) in message
    assert has_condition(stalled, "Ready", "False")
    assert read_secret(scene.api, scene.namespace, scene.owned_token(name)) is None
    assert instance_calls(emulator, victim) == {}  # not a read, let alone a write
    wait_event(scene.api, scene.namespace, name, "Warning", "InstanceNotOwned")

    # deletionPolicy Delete does not reach it either.
    scene.instances.delete(name)
    wait_gone(scene, name)
    assert emulator.partner_calls("deleteInstanceAccount") == deletes_before
    assert emulator.instance(victim)["deleted"] is False
    assert emulator.instance(victim)["state"] == "authorized"
    assert instance_calls(emulator, victim) == {}


def test_adoption_the_partner_allows_is_done(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    victim = scene.seed(VICTIM)
    scene.partner()
    scene.objects.patch_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        scene.namespace,
        constants.PARTNER_PLURAL,
        "gapi",
        {"spec": {"allowAdoption": {"instanceIds": [victim]}}},
    )
    scene.wait_partner("True", "CredentialsValid")
    creates_before = emulator.partner_calls("createInstance")
    name = "take"
    scene.instances.create(name, adopt_spec(scene, victim))
    obj = scene.instances.wait(name, ready_and_synced, "Ready and Synced", 60)
    assert obj["status"]["instanceId"] == victim
    owned = read_secret(scene.api, scene.namespace, scene.owned_token(name))
    assert owned == {"apiTokenInstance": scene.tokens[VICTIM].encode()}
    assert emulator.partner_calls("createInstance") == creates_before  # adopted, not created
    assert scene.ours() == []


@pytest.fixture
def cluster_partner(scene: PartnerScene) -> Iterator[str]:
    """A ClusterWhatsAppPartner named after the test's namespace, removed afterwards."""
    name = f"{scene.namespace}-shared"
    yield name
    try:
        scene.objects.delete_cluster_custom_object(
            constants.GROUP, constants.VERSION, constants.CLUSTER_PARTNER_PLURAL, name
        )
    except ApiException as error:
        if error.status != 404:
            raise


def create_cluster_partner(scene: PartnerScene, name: str, selector: dict[str, Any]) -> None:
    scene.partner_secret()
    scene.objects.create_cluster_custom_object(
        constants.GROUP,
        constants.VERSION,
        constants.CLUSTER_PARTNER_PLURAL,
        {
            "apiVersion": constants.API_VERSION,
            "kind": constants.CLUSTER_PARTNER_KIND,
            "metadata": {"name": name},
            "spec": {
                "apiUrl": scene.emulator.url,
                "tokenSecretRef": {"name": PARTNER_SECRET, "namespace": scene.namespace},
                "namespaceSelector": selector,
                "checkSeconds": 30,
            },
        },
    )


def label_namespace(scene: PartnerScene, labels: dict[str, str]) -> None:
    client.CoreV1Api(scene.api).patch_namespace(scene.namespace, {"metadata": {"labels": labels}})


def cluster_ref(name: str) -> dict[str, str]:
    return {"kind": constants.CLUSTER_PARTNER_KIND, "name": name}


def test_cluster_partner_serves_a_selected_namespace(
    scene: PartnerScene, emulator: PartnerEmulator, cluster_partner: str
) -> None:
    label_namespace(scene, {"waop-tenancy": scene.namespace})
    create_cluster_partner(
        scene, cluster_partner, {"matchLabels": {"waop-tenancy": scene.namespace}}
    )

    def partner_ready() -> dict[str, Any] | None:
        found: dict[str, Any] = scene.objects.get_cluster_custom_object(
            constants.GROUP, constants.VERSION, constants.CLUSTER_PARTNER_PLURAL, cluster_partner
        )
        return found if has_condition(found, "Ready", "True", "CredentialsValid") else None

    checked = wait_for(partner_ready, "ClusterWhatsAppPartner Ready", 30)
    assert checked["status"]["instances"] >= 0
    creates_before = emulator.partner_calls("createInstance")
    name = "tenant"
    scene.instances.create(name, scene.partner_spec(partnerRef=cluster_ref(cluster_partner)))
    obj = scene.instances.wait(name, ready_and_synced, "Ready and Synced", 90)
    created = [i for i in scene.ours() if i["name"] == scene.marker(obj)]
    assert [i["idInstance"] for i in created] == [obj["status"]["instanceId"]]
    assert emulator.partner_calls("createInstance") == creates_before + 1


def test_cluster_partner_refuses_an_unselected_namespace(
    scene: PartnerScene, emulator: PartnerEmulator, cluster_partner: str
) -> None:
    create_cluster_partner(scene, cluster_partner, {"matchLabels": {"waop-tenancy": "elsewhere"}})
    creates_before = emulator.partner_calls("createInstance")
    name = "outsider"
    scene.instances.create(name, scene.partner_spec(partnerRef=cluster_ref(cluster_partner)))
    stalled = scene.instances.wait_condition(name, "Stalled", "True", "PartnerNotAllowed", 40)
    message = next(c for c in stalled["status"]["conditions"] if c["type"] == "Stalled")["message"]
    assert "waop-tenancy=elsewhere" in message
    assert emulator.partner_calls("createInstance") == creates_before
    assert scene.ours() == []
    annotations = stalled["metadata"].get("annotations") or {}
    assert constants.ANNOTATION_CREATE_PENDING not in annotations


def test_admission_refuses_an_id_added_after_creation(scene: PartnerScene) -> None:
    # No partner exists: the operator stalls (PartnerNotFound) and creates nothing.
    name = "later"
    scene.instances.create(name, scene.partner_spec())
    scene.instances.wait_condition(name, "Stalled", "True", "PartnerNotFound", 40)
    with pytest.raises(ApiException) as caught:
        scene.instances.patch(name, {"spec": {"instance": {"id": 7105000999}}})
    assert caught.value.status == 422, caught.value.body
    message = json.loads(caught.value.body)["message"]
    assert "instance.id cannot be added after creation" in message
    assert "id" not in scene.instances.get(name)["spec"]["instance"]
