"""WhatsAppPartner checks back off exponentially on transient failures (never a fixed interval)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from whatsapp_operator import constants
from whatsapp_operator.endpoints import AllowList, UrlRejected
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
    def __init__(self, allowed: AllowList | None = None) -> None:
        self.allowed = allowed or AllowList()

    def partner(self, *, api_url: str, token: SecretStr | str) -> DownPartnerApi:
        return DownPartnerApi()

    def admit(self, url: str, field: str) -> None:
        try:
            self.allowed.check(url, field)
        except UrlRejected as exc:
            raise gerr.EndpointNotAllowed(str(exc)) from None


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


class CountingSecrets(Secrets):
    def __init__(self) -> None:
        self.reads = 0

    async def read_secret_key(self, namespace: str, name: str, key: str) -> SecretValue:
        self.reads += 1
        return await super().read_secret_key(namespace, name, key)


def stalled(patch: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in patch["conditions"] if c["type"] == "Stalled")


async def test_a_partner_api_url_outside_the_allow_list_stalls_before_the_token_is_read() -> None:
    secrets = CountingSecrets()
    reconciler = PartnerReconciler(Factory(), secrets, random.Random(3))  # type: ignore[arg-type]
    body = {**BODY, "spec": {**BODY["spec"], "apiUrl": "http://169.254.169.254"}}
    outcome = await reconciler.reconcile(body, datetime(2026, 1, 1, tzinfo=UTC))
    assert outcome.status_patch is not None
    condition = stalled(outcome.status_patch)
    assert (condition["status"], condition["reason"]) == ("True", "ApiUrlNotAllowed")
    assert "http://169.254.169.254:80 is not in the operator's allow-list" in condition["message"]
    assert secrets.reads == 0
    assert not outcome.transient_failure


async def test_a_partner_the_models_refuse_is_stalled_naming_the_field() -> None:
    reconciler = PartnerReconciler(Factory(), Secrets(), random.Random(3))  # type: ignore[arg-type]
    body = {**BODY, "spec": {**BODY["spec"], "checkSeconds": "often"}}
    outcome = await reconciler.reconcile(body, datetime(2026, 1, 1, tzinfo=UTC))
    assert outcome.status_patch is not None
    condition = stalled(outcome.status_patch)
    assert (condition["status"], condition["reason"]) == ("True", "InvalidSpec")
    assert "spec.checkSeconds" in condition["message"]
    assert [event.reason for event in outcome.events] == ["InvalidSpec"]
