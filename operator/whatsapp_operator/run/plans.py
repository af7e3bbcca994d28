"""Partner mode: the instances' plans, from one getInstances per partner and period.

GREEN-API has no single-instance partner getter (ISS#631), and getInstances lists every
instance of the account: so the listing is read once per partner and
`spec.planCheckSeconds` (default three hours) and shared by every object that uses the
partner. Only the plan fields are kept, never the tokens the listing also carries. An
instance the last listing does not hold yet (created since) re-reads it, at most once a
minute per partner. A forced read (`refresh`, for a token rotation's recovery) always
goes to GREEN-API and renews the shared copy.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from whatsapp_operator.api.lifecycle import PlanStatus
from whatsapp_operator.api.resource import WhatsAppInstance
from whatsapp_operator.decide.expiry import Listing, next_change, plan_status
from whatsapp_operator.ports import KubeError, ProvisioningFailure
from whatsapp_operator.run.cycle import Inputs
from whatsapp_operator.run.partner_access import PartnerAccess, partner_key
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import PartnerInstance

# An instance missing from a fresh listing (created since) waits at least this long.
MISSING_REREAD = timedelta(minutes=1)


@dataclass(frozen=True)
class _Read:
    read_at: datetime
    fresh_for: timedelta
    plans: dict[int, Listing]


class PlanListings:
    """The shared, per-partner copy of getInstances' plan fields."""

    def __init__(self, access: PartnerAccess) -> None:
        self.access = access
        self._reads: dict[tuple[str, str], _Read] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        # getInstances calls made for plans (refreshes included): what tests count.
        self.reads = 0

    def _usable(self, read: _Read | None, instance_id: int, now: datetime) -> bool:
        if read is None or now - read.read_at >= read.fresh_for or now < read.read_at:
            return False
        return instance_id in read.plans or now - read.read_at < MISSING_REREAD

    async def plan_of(
        self, obj: WhatsAppInstance, namespace: str, instance_id: int, now: datetime
    ) -> Listing | None:
        """The instance's plan from the partner's listing, read now only if it is due."""
        ref = obj.spec.partner_ref
        assert ref is not None
        key = partner_key(namespace, ref)
        if self._usable(self._reads.get(key), instance_id, now):
            return self._reads[key].plans.get(instance_id)
        async with self._locks.setdefault(key, asyncio.Lock()):
            # Another object of the same partner may have read it while this one waited.
            if not self._usable(self._reads.get(key), instance_id, now):
                await self.refresh(obj, namespace, now)
        return self._reads[key].plans.get(instance_id)

    def next_read(self, obj: WhatsAppInstance, namespace: str, instance_id: int) -> datetime | None:
        """When `plan_of` will read the listing again for this instance; None when it was
        never read, or its read is overdue (it failed: the next whole reconcile retries)."""
        ref = obj.spec.partner_ref
        if ref is None:
            return None
        read = self._reads.get(partner_key(namespace, ref))
        if read is None:
            return None
        wait = read.fresh_for if instance_id in read.plans else MISSING_REREAD
        return read.read_at + wait

    async def refresh(
        self, obj: WhatsAppInstance, namespace: str, now: datetime
    ) -> list[PartnerInstance]:
        """getInstances now (the whole listing, tokens included), renewing the shared copy."""
        ref = obj.spec.partner_ref
        assert ref is not None
        partner = await self.access.partner_for(obj, namespace)
        self.reads += 1
        listed = await partner.api.get_instances()
        plans = {
            item.id_instance: Listing(
                tariff=item.tariff,
                expiration_date=item.expiration_date,
                is_expired=item.is_expired,
                read_at=now,
            )
            for item in listed
            if not item.deleted
        }
        self._reads[partner_key(namespace, ref)] = _Read(
            now, timedelta(seconds=partner.plan_check_seconds), plans
        )
        return listed


def plan_due(
    inputs: Inputs, instance_id: int | None, plan: PlanStatus | None, listings: PlanListings
) -> datetime | None:
    """When this object needs a whole reconcile for its plan: the partner's listing is
    read again, or the plan's warning or expiry comes; None in adopt mode."""
    obj = inputs.obj
    if obj.spec.partner_ref is None or instance_id is None:
        return None
    read = listings.next_read(obj, inputs.namespace, instance_id)
    moments = [
        moment
        for moment in (
            read if read is not None and read > inputs.now else None,
            next_change(plan, obj.spec.plan.warn_days_before),
        )
        if moment is not None
    ]
    return min(moments, default=None)


async def read_plan(inputs: Inputs, listings: PlanListings, instance_id: int) -> PlanStatus | None:
    """status.plan: from the partner's listing when due, else judged again.

    A listing that cannot be read keeps the last plan (judged at this cycle's time) and
    fails nothing: the plan is a warning, never a reason to stop managing the instance.
    """
    obj = inputs.obj
    listing = None
    if obj.spec.partner_ref is not None:
        try:
            listing = await listings.plan_of(obj, inputs.namespace, instance_id, inputs.now)
        except (gerr.GreenApiError, KubeError, ProvisioningFailure) as exc:
            inputs.log.info(
                "the plan could not be read from the partner's getInstances: %s",
                getattr(exc, "message", None) or exc,
            )
    return plan_status(
        partner_mode=obj.spec.partner_ref is not None,
        listing=listing,
        previous=inputs.previous.plan,
        now=inputs.now,
        warn_days=obj.spec.plan.warn_days_before,
    )
