"""The reconciler leaves Secrets it does not own alone and says which one is in the way."""

from __future__ import annotations

import random
from typing import Any

from support.fakes import FakeGreenApiFactory, FakeInstanceApi, FakeSecrets, FixedClock
from whatsapp_operator import constants
from whatsapp_operator.run.memory import Live
from whatsapp_operator.run.reconcile import Memory, Outcome, Reconciler
from whatsapp_operator.timestamps import utcnow
from whatsapp_operator.wire.models import Settings

NS = "team-o"
NAME = "shop"
UID = "7d1e2f3a-uid"
INSTANCE_ID = 1101000042
TOKEN = "tokSUPERSECRETownership0123456789abcdef"


def body(connection_secret: str) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "metadata": {"name": NAME, "namespace": NS, "uid": UID, "generation": 1},
        "spec": {
            "instance": {"id": INSTANCE_ID, "tokenSecretRef": {"name": "wa-token"}},
            "connectionSecret": {"name": connection_secret},
        },
        "status": {},
    }


def condition(outcome: Outcome, kind: str) -> tuple[str, str, str]:
    found = next(c for c in outcome.status.conditions if c.type == kind)
    return found.status, found.reason, found.message


async def reconcile(secrets: FakeSecrets, connection_secret: str) -> Outcome:
    api = FakeInstanceApi(settings=Settings())
    reconciler = Reconciler(
        FakeGreenApiFactory(api), secrets, FixedClock(utcnow()), random.Random(1)
    )
    live = Live()
    try:
        return await reconciler.reconcile(body(connection_secret), Memory(), live, lambda: None)
    finally:
        await live.close()


async def test_connection_secret_named_like_the_token_secret_is_not_taken_over() -> None:
    secrets = FakeSecrets()
    secrets.put(NS, "wa-token", {"apiTokenInstance": TOKEN})

    outcome = await reconcile(secrets, "wa-token")

    assert secrets.applied == []
    assert secrets.store[(NS, "wa-token")] == ({"apiTokenInstance": TOKEN}, "1")
    status, reason, message = condition(outcome, "Stalled")
    assert (status, reason) == ("True", "SecretNotOwned")
    assert f"Secret {NS}/wa-token" in message
    assert TOKEN not in outcome.status.model_dump_json()


async def test_connection_secret_the_object_owns_is_written() -> None:
    secrets = FakeSecrets()
    secrets.put(NS, "wa-token", {"apiTokenInstance": TOKEN})

    outcome = await reconcile(secrets, "shop-connection")

    (written,) = secrets.applied
    assert written.name == "shop-connection"
    assert written.owner.uid == UID
    assert written.labels[constants.LABEL_SECRET_ROLE] == constants.ROLE_CONNECTION
    assert condition(outcome, "Stalled")[0] == "False"
