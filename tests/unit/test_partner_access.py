"""Tenant safety in partner mode, in memory: what a resource may do through a partner.

A resource reaches the partner account's instances only through the one the
operator created for it, or one the partner's allowAdoption permits; a
ClusterWhatsAppPartner serves only the namespaces it selects.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_provisioning import (
    MARKER,
    NS,
    OWNED,
    PARTNER,
    PARTNER_SECRET,
    PARTNER_TOKEN,
    T0,
    TOKEN_KEY,
    World,
    body,
    delete,
    resolve,
    token_of,
    world,
)
from whatsapp_operator import constants
from whatsapp_operator.api.resource import WhatsAppInstance
from whatsapp_operator.ports import ProvisioningFailure
from whatsapp_operator.run.provisioning import instance_name

__all__ = ["world"]  # the fixture, re-exported for pytest

FOREIGN = 7105000500
FOREIGN_NAME = instance_name("team-other", "billing", "ffffffff")
CLUSTER = "shared"
OPERATOR_NS = "whatsapp-operator"


def writes(world: World) -> list[str]:
    return [name for name, _ in world.journal if name not in ("get_instances",)]


async def test_adopting_a_foreign_instance_through_the_partner_is_refused(world: World) -> None:
    world.partner.add(FOREIGN, FOREIGN_NAME)
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, body(instance={"id": FOREIGN, "apiUrl": "https://x.example"}))
    assert (raised.value.reason, raised.value.permanent) == ("InstanceNotOwned", True)
    assert str(FOREIGN) in raised.value.message
    assert FOREIGN_NAME in raised.value.message
    assert (NS, OWNED) not in world.store.written  # the token was not copied
    assert writes(world) == []
    assert token_of(FOREIGN) not in raised.value.message


async def test_a_forged_instance_id_annotation_is_refused(world: World) -> None:
    world.partner.add(FOREIGN, FOREIGN_NAME)
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, body(annotations={constants.ANNOTATION_INSTANCE_ID: str(FOREIGN)}))
    assert raised.value.reason == "InstanceNotOwned"
    assert (NS, OWNED) not in world.store.written
    assert world.calls("create_instance") == []


def allow(world: World, policy: dict[str, Any]) -> None:
    world.store.partners[(NS, PARTNER)]["spec"]["allowAdoption"] = policy


async def test_adoption_listed_in_allow_adoption_is_allowed(world: World) -> None:
    world.partner.add(FOREIGN, FOREIGN_NAME)
    allow(world, {"instanceIds": [FOREIGN]})
    identity = await resolve(world, body(instance={"id": FOREIGN, "apiUrl": "https://x.example"}))
    assert identity.instance_id == FOREIGN
    assert world.store.written[(NS, OWNED)].data == {TOKEN_KEY: token_of(FOREIGN).encode()}


async def test_allow_adoption_by_namespace_selector(world: World) -> None:
    world.partner.add(FOREIGN, FOREIGN_NAME)
    allow(world, {"namespaceSelector": {"matchLabels": {"adopt": "yes"}}})
    with pytest.raises(ProvisioningFailure):
        await resolve(world, body(instance={"id": FOREIGN, "apiUrl": "https://x.example"}))
    world.store.labels[NS] = {"adopt": "yes"}
    identity = await resolve(world, body(instance={"id": FOREIGN, "apiUrl": "https://x.example"}))
    assert identity.instance_id == FOREIGN


async def test_spec_id_against_the_created_one_stalls_and_touches_neither(world: World) -> None:
    created = {
        constants.ANNOTATION_INSTANCE_ID: "7105000070",
        constants.ANNOTATION_CREATED_AT: "2025-03-01T08:00:00Z",
    }
    world.partner.add(7105000070, MARKER)
    world.partner.add(FOREIGN, FOREIGN_NAME)
    obj = body(annotations=created, instance={"id": FOREIGN, "apiUrl": "https://x.example"})
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, obj)
    assert (raised.value.reason, raised.value.permanent) == ("InstanceIdConflict", True)
    assert world.journal == []

    # Deleting it deletes the instance created for it, never the one spec names.
    world.store.put(NS, OWNED, {TOKEN_KEY: token_of(7105000070)})
    result = await delete(world, {**obj, "spec": {**obj["spec"], "deletionPolicy": "Delete"}})
    assert result.done
    assert world.partner.deleted == [7105000070]


async def test_deletion_leaves_a_foreign_instance_in_place(world: World) -> None:
    world.partner.add(FOREIGN, FOREIGN_NAME)
    obj = body(
        annotations={constants.ANNOTATION_INSTANCE_ID: str(FOREIGN)}, deletionPolicy="Delete"
    )
    result = await delete(world, obj)
    assert result.done
    assert world.partner.deleted == []
    assert world.calls("logout") == []
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "InstanceNotOwned")]


def cluster_partner(world: World, selector: dict[str, Any], **token_ref: Any) -> None:
    world.store.put(OPERATOR_NS, PARTNER_SECRET, {"partnerToken": PARTNER_TOKEN})
    world.store.cluster_partners[CLUSTER] = {
        "apiVersion": constants.API_VERSION,
        "kind": constants.CLUSTER_PARTNER_KIND,
        "metadata": {"name": CLUSTER},
        "spec": {
            "apiUrl": "https://partner.example",
            "tokenSecretRef": {"name": PARTNER_SECRET, **token_ref},
            "namespaceSelector": selector,
        },
    }


CLUSTER_REF = {"kind": "ClusterWhatsAppPartner", "name": CLUSTER}


async def test_cluster_partner_creates_for_a_selected_namespace(world: World) -> None:
    cluster_partner(world, {"matchLabels": {"whatsapp": "on"}}, namespace=OPERATOR_NS)
    world.store.labels[NS] = {"whatsapp": "on"}
    identity = await resolve(world, body(partnerRef=CLUSTER_REF))
    assert world.calls("create_instance") == [MARKER]
    assert identity.instance_id == world.partner.listed[-1].id_instance


async def test_cluster_partner_refuses_an_unselected_namespace(world: World) -> None:
    cluster_partner(world, {"matchLabels": {"whatsapp": "on"}}, namespace=OPERATOR_NS)
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, body(partnerRef=CLUSTER_REF))
    assert (raised.value.reason, raised.value.permanent) == ("PartnerNotAllowed", True)
    assert "whatsapp=on" in raised.value.message
    assert world.calls("create_instance") == []
    assert world.store.patches == []


async def test_cluster_partner_secret_defaults_to_the_operator_namespace(world: World) -> None:
    cluster_partner(world, {})
    access = world.provisioner.access
    access.operator_namespace = OPERATOR_NS
    await resolve(world, body(partnerRef=CLUSTER_REF))
    assert (OPERATOR_NS, PARTNER_SECRET, "partnerToken") in world.store.reads

    access.operator_namespace = None
    with pytest.raises(ProvisioningFailure) as raised:
        await access.partner_for(WhatsAppInstance.model_validate(body(partnerRef=CLUSTER_REF)), NS)
    assert "WAOP_OPERATOR_NAMESPACE" in raised.value.message


async def test_missing_cluster_partner_is_permanent(world: World) -> None:
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, body(partnerRef=CLUSTER_REF))
    assert raised.value.reason == "PartnerNotFound"
    assert "ClusterWhatsAppPartner shared" in raised.value.message


async def test_created_instance_is_not_rechecked_while_unlisted(world: World) -> None:
    """GREEN-API lists new instances late: what this process created needs no listing."""
    identity = await resolve(world, body())
    world.partner.listed.clear()
    annotated = body(
        annotations={
            constants.ANNOTATION_INSTANCE_ID: str(identity.instance_id),
            constants.ANNOTATION_CREATED_AT: "2025-03-01T09:00:00Z",
        }
    )
    world.journal.clear()
    again = await resolve(world, annotated)
    assert again.instance_id == identity.instance_id
    assert world.calls("get_instances") == []


async def test_recent_unlisted_instance_after_a_restart_waits(world: World) -> None:
    annotated = body(
        annotations={
            constants.ANNOTATION_INSTANCE_ID: "7105000071",
            constants.ANNOTATION_CREATED_AT: "2025-03-01T08:58:00Z",
        }
    )
    assert T0.hour == 9
    with pytest.raises(ProvisioningFailure) as raised:
        await resolve(world, annotated)
    assert (raised.value.reason, raised.value.permanent) == ("CreateResultPending", False)
