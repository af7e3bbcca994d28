"""run/plans.py: one getInstances per partner and planCheckSeconds, shared by its objects."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.test_provisioning import NS, T0, World, body, world
from whatsapp_operator.api.resource import WhatsAppInstance
from whatsapp_operator.run.plans import PlanListings

__all__ = ["world"]

FIRST, SECOND, LATER = 7105000001, 7105000002, 7105000003


def listings(world: World) -> PlanListings:
    world.partner.add(FIRST, "a")
    world.partner.add(SECOND, "b")
    return PlanListings(world.provisioner.access)


async def test_objects_of_one_partner_share_one_listing_per_period(world: World) -> None:
    plans = listings(world)
    obj = WhatsAppInstance.model_validate(body())
    assert await plans.plan_of(obj, NS, FIRST, T0) is not None
    assert await plans.plan_of(obj, NS, SECOND, T0 + timedelta(minutes=5)) is not None
    assert len(world.calls("get_instances")) == 1
    # The partner's default planCheckSeconds (three hours) later: read again, once.
    await plans.plan_of(obj, NS, FIRST, T0 + timedelta(hours=3))
    await plans.plan_of(obj, NS, SECOND, T0 + timedelta(hours=3, minutes=1))
    assert len(world.calls("get_instances")) == 2


async def test_an_instance_created_since_re_reads_at_most_once_a_minute(world: World) -> None:
    plans = listings(world)
    obj = WhatsAppInstance.model_validate(body())
    await plans.plan_of(obj, NS, FIRST, T0)
    assert await plans.plan_of(obj, NS, LATER, T0 + timedelta(seconds=30)) is None
    assert len(world.calls("get_instances")) == 1
    world.partner.add(LATER, "c")
    assert await plans.plan_of(obj, NS, LATER, T0 + timedelta(minutes=2)) is not None
    assert len(world.calls("get_instances")) == 2


async def test_the_shared_copy_keeps_no_token(world: World) -> None:
    plans = listings(world)
    obj = WhatsAppInstance.model_validate(body())
    listing = await plans.plan_of(obj, NS, FIRST, T0)
    assert listing is not None
    assert "token" not in repr(listing).lower()
