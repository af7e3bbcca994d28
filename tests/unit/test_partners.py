"""WhatsAppPartner checks back off exponentially on transient failures (never a fixed interval)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from whatsapp_operator import constants
from whatsapp_operator.ports import SecretValue
from whatsapp_operator.run.partners import PartnerReconciler
from whatsapp_operator.wire import errors as gerr

T0 = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)


class Secrets:
    async def read_secret_key(self, namespace: str, name: str, key: str) -> SecretValue:
        return SecretValue(SecretStr("gac.partner-token"), "1")


class DownPartnerApi:
    async def get_instances(self) -> list[Any]:
        raise gerr.ServiceUnavailable("getInstances: 502", status=502)


class Factory:
    def partner(self, *, api_url: str, token: SecretStr | str) -> DownPartnerApi:
        return DownPartnerApi()


BODY = {
    "apiVersion": constants.API_VERSION,
    "kind": constants.PARTNER_KIND,
    "metadata": {"name": "gapi", "namespace": "ns", "generation": 1},
    "spec": {"apiUrl": "https://api.green-api.com", "tokenSecretRef": {"name": "creds"}},
}


async def test_unreachable_partner_api_backs_off() -> None:
    reconciler = PartnerReconciler(Factory(), Secrets(), random.Random(3))  # type: ignore[arg-type]
    delays = []
    for failures in range(10):
        outcome = await reconciler.reconcile(BODY, T0, failures)
        assert outcome.transient_failure
        delays.append(outcome.requeue_after)
    assert len(set(delays)) >= 8
    assert max(delays[:3]) <= 8.0
    assert max(delays[6:]) > 60.0
    assert max(delays) <= 300.0
