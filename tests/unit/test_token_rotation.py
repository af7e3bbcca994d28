"""run/token_rotation.py through whole reconciles, with the partner fakes of test_provisioning.

Every instance client is bound to the token it was made with (`Bound`), so a test can
prove which token each GREEN-API call carried: after updateApiToken took effect, none
may carry the old one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from support.fakes import FixedClock
from tests.support.object_loop import poll_in, reconcile_in
from tests.unit.test_provisioning import (
    MARKER,
    NS,
    OWNED,
    T0,
    UID,
    FakeGreenApi,
    JournaledInstanceApi,
    World,
    body,
    token_of,
    world,
)
from whatsapp_operator import constants
from whatsapp_operator.ports import KubeError
from whatsapp_operator.run.memory import Live
from whatsapp_operator.run.provisioning import TOKEN_KEY
from whatsapp_operator.run.reconcile import Memory, Outcome, Reconciler
from whatsapp_operator.timestamps import format_time
from whatsapp_operator.wire import errors as gerr

__all__ = ["world"]

ID = 7105000201
OLD = token_of(ID)
CONN = "shop-conn"
EVERY = {"every": "720h"}
CREATED = T0 - timedelta(days=40)


class Bound:
    """One instance client as GREEN-API sees it: every call goes out with `token`."""

    def __init__(self, api: JournaledInstanceApi, token: str, log: list[tuple[str, str]]):
        self._api, self._token, self._log = api, token, log

    def __getattr__(self, method: str) -> Any:
        target = getattr(self._api, method)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._log.append((self._token, method))
            return target(*args, **kwargs)

        return call


@dataclass
class TokenGreenApi(FakeGreenApi):
    # (token, method) of every instance call, in order
    sent: list[tuple[str, str]] = field(default_factory=list)

    def instance(self, *, api_url: str, id_instance: int, token: SecretStr | str) -> Any:
        self.api = super().instance(api_url=api_url, id_instance=id_instance, token=token)
        text = token.get_secret_value() if isinstance(token, SecretStr) else token
        return Bound(self.api, text, self.sent)  # type: ignore[arg-type]


@dataclass
class Scene:
    world: World
    green: TokenGreenApi
    clock: FixedClock
    reconciler: Reconciler
    memory: Memory = field(default_factory=Memory)
    live: Live = field(default_factory=Live)
    status: dict[str, Any] = field(default_factory=dict)
    intents: list[dict[str, Any]] = field(default_factory=list)
    record_error: KubeError | None = None

    @property
    def api(self) -> JournaledInstanceApi:
        return self.world.instance_api

    async def record(self, patch: dict[str, Any]) -> None:
        self.world.journal.append(("record", patch))
        if self.record_error is not None:
            raise self.record_error
        self.intents.append(patch)

    async def reconcile(self, annotations: dict[str, str] | None = None, **spec: Any) -> Outcome:
        obj = body(
            annotations={
                constants.ANNOTATION_INSTANCE_ID: str(ID),
                constants.ANNOTATION_CREATED_AT: format_time(CREATED),
                **(annotations or {}),
            },
            status=self.status,
            connectionSecret={"name": CONN},
            **spec,
        )
        outcome = await reconcile_in(self, self.reconciler, obj, lambda: None, self.record)
        self.status = outcome.document
        return outcome

    def listed_token(self, token: str) -> None:
        self.world.partner.listed = [
            item.model_copy(update={"api_token_instance": SecretStr(token)})
            if item.id_instance == ID
            else item
            for item in self.world.partner.listed
        ]

    def secret(self, name: str, key: str) -> str:
        return self.world.store.written[(NS, name)].data[key].decode()

    def rotations(self) -> int:
        return len(self.api.called("update_api_token"))

    def sent_after_rotation(self) -> list[tuple[str, str]]:
        methods = [method for _, method in self.green.sent]
        first = methods.index("update_api_token")
        return self.green.sent[first + 1 :]


@pytest.fixture
def scene(world: World) -> Scene:
    world.partner.add(ID, MARKER)
    world.store.put(NS, OWNED, {TOKEN_KEY: OLD}, owner=(UID, constants.ROLE_TOKEN))
    green = TokenGreenApi(api=world.instance_api, partner_api=world.partner)
    world.green = green
    clock = FixedClock(T0)
    return Scene(world, green, clock, Reconciler(green, world.store, clock=clock))


def reasons(outcome: Outcome) -> list[tuple[str, str]]:
    return [(e.type, e.reason) for e in outcome.events]


def rotation(outcome: Outcome) -> dict[str, Any]:
    found: dict[str, Any] = outcome.document.get("tokenRotation") or {}
    return {key: value for key, value in found.items() if value}


def failure(outcome: Outcome) -> str | None:
    return outcome.failure_reason


async def test_a_due_rotation_writes_both_secrets_then_uses_the_new_token(scene: Scene) -> None:
    outcome = await scene.reconcile(tokenRotation=EVERY)

    assert scene.rotations() == 1
    new = scene.api.issued_tokens[0]
    # The intent was recorded before the call, with the old token on the call itself.
    journal = [name for name, _ in scene.world.journal]
    assert journal.index("record") < journal.index("update_api_token")
    assert scene.intents[0] == {"tokenRotation": {"pendingSince": format_time(T0)}}
    assert (OLD, "update_api_token") in scene.green.sent
    # The operator's token Secret first, then the connection Secret.
    written = [arg for name, arg in scene.world.journal if name == "apply_secret"]
    assert written == [OWNED, CONN]
    assert scene.secret(OWNED, TOKEN_KEY) == new
    assert scene.secret(CONN, "apiTokenInstance") == new
    after = scene.sent_after_rotation()
    assert after
    assert {token for token, _ in after} == {new}
    assert rotation(outcome) == {"lastRotatedAt": format_time(T0)}
    assert ("Normal", "TokenRotated") in reasons(outcome)
    assert failure(outcome) is None

    # Later reconciles read the new token and rotate nothing until `every` has passed.
    scene.clock.advance(hours=1)
    await scene.reconcile(tokenRotation=EVERY)
    assert scene.rotations() == 1
    assert {token for token, _ in scene.sent_after_rotation()} == {new}
    scene.clock.advance(hours=720)
    await scene.reconcile(tokenRotation=EVERY)
    assert scene.rotations() == 2


async def test_a_refusal_waits_every_and_keeps_the_old_token(scene: Scene) -> None:
    scene.api.errors["update_api_token"] = gerr.PartnerError(
        "updateApiToken: partner API error 400: not allowed", code=400, method="updateApiToken"
    )
    outcome = await scene.reconcile(tokenRotation=EVERY)

    assert scene.rotations() == 1
    assert rotation(outcome) == {"lastRefusedAt": format_time(T0)}
    assert ("Warning", "TokenRotationFailed") in reasons(outcome)
    assert failure(outcome) is None
    assert {token for token, _ in scene.green.sent} == {OLD}
    assert scene.api.called("get_state")
    assert (NS, OWNED) not in scene.world.store.written

    # No retry loop: later reconciles ask again only once `every` has passed.
    for _ in range(3):
        scene.clock.advance(hours=1)
        await scene.reconcile(tokenRotation=EVERY)
    assert scene.rotations() == 1
    scene.clock.advance(hours=720)
    await scene.reconcile(tokenRotation=EVERY)
    assert scene.rotations() == 2


async def test_a_lost_answer_is_recovered_from_the_partner_listing(scene: Scene) -> None:
    scene.api.lose_answers.add("update_api_token")
    real = scene.api.update_api_token

    async def rotate_and_list() -> SecretStr:
        # GREEN-API made the new token (and lists it) before the answer was lost.
        try:
            return await real()
        finally:
            scene.listed_token(scene.api.issued_tokens[-1])

    scene.api.update_api_token = rotate_and_list  # type: ignore[method-assign]
    stamp = format_time(T0)
    outcome = await scene.reconcile({constants.ANNOTATION_ROTATE_TOKEN: stamp})

    assert scene.rotations() == 1
    new = scene.api.issued_tokens[0]
    assert scene.secret(OWNED, TOKEN_KEY) == new
    assert scene.secret(CONN, "apiTokenInstance") == new
    assert {token for token, _ in scene.sent_after_rotation()} == {new}
    assert rotation(outcome) == {"lastRotatedAt": stamp}
    assert outcome.document["handledActions"]["rotate-token"] == stamp
    assert ("Normal", "TokenRecovered") in reasons(outcome)
    assert failure(outcome) is None


async def test_a_listing_that_keeps_the_old_token_past_the_grace_is_unconfirmed(
    scene: Scene,
) -> None:
    scene.api.lose_answers.add("update_api_token")
    outcome = await scene.reconcile(tokenRotation=EVERY)

    # Within the grace: the old token is not used, and no Warning yet.
    assert failure(outcome) == "TokenRotationPending"
    assert rotation(outcome) == {"pendingSince": format_time(T0)}
    assert scene.sent_after_rotation() == []
    assert not [r for r in reasons(outcome) if r[0] == "Warning"]
    scene.clock.advance(minutes=2)
    outcome = await scene.reconcile(tokenRotation=EVERY)
    assert failure(outcome) == "TokenRotationPending"
    assert scene.sent_after_rotation() == []
    assert scene.rotations() == 1

    # Past the 5-minute grace the partner still lists the old token: it never changed.
    scene.clock.advance(minutes=4)
    outcome = await scene.reconcile(tokenRotation=EVERY)
    assert ("Warning", "TokenRotationUnconfirmed") in reasons(outcome)
    assert failure(outcome) is None
    assert "pendingSince" not in rotation(outcome)
    assert {token for token, _ in scene.sent_after_rotation()} == {OLD}
    assert scene.api.called("get_state")
    assert scene.rotations() == 1
    assert (NS, OWNED) not in scene.world.store.written


async def test_an_unconfirmed_rotation_is_not_repeated_in_a_loop(scene: Scene) -> None:
    """Each attempt whose answer is lost holds every instance call for the grace; a
    service that keeps losing the answer must not hold the instance forever."""
    scene.api.lose_answers.add("update_api_token")
    await scene.reconcile(tokenRotation=EVERY)
    scene.clock.advance(minutes=6)
    outcome = await scene.reconcile(tokenRotation=EVERY)
    assert ("Warning", "TokenRotationUnconfirmed") in reasons(outcome)
    for _ in range(3):
        scene.clock.advance(minutes=10)
        outcome = await scene.reconcile(tokenRotation=EVERY)
        assert failure(outcome) is None
    assert scene.rotations() == 1


async def test_a_failed_look_up_warns_once_and_makes_no_instance_call(scene: Scene) -> None:
    await scene.reconcile()  # settled: the instance is verified as this object's
    scene.green.sent.clear()
    since = format_time(T0 - timedelta(minutes=1))
    scene.status = {**scene.status, "tokenRotation": {"pendingSince": since}}
    scene.world.partner.errors["get_instances"] = gerr.ServiceUnavailable(
        "getInstances: 502 Bad Gateway"
    )
    warnings = []
    for _ in range(3):
        outcome = await scene.reconcile()
        assert failure(outcome) == "TokenRotationPending"
        assert rotation(outcome)["pendingSince"] == since
        warnings += [r for r in reasons(outcome) if r[1] == "TokenNotRecovered"]
        scene.clock.advance(seconds=30)
    assert warnings == [("Warning", "TokenNotRecovered")]
    assert scene.green.sent == []
    assert scene.rotations() == 0


async def test_an_intent_that_cannot_be_recorded_makes_no_call(scene: Scene) -> None:
    scene.record_error = KubeError("the API server is unavailable", status=503)
    stamp = format_time(T0)
    outcome = await scene.reconcile({constants.ANNOTATION_ROTATE_TOKEN: stamp})

    assert scene.rotations() == 0
    assert failure(outcome) == "IntentNotRecorded"
    assert "pendingSince" not in rotation(outcome)
    assert "rotate-token" not in (outcome.document.get("handledActions") or {})
    assert {token for token, _ in scene.green.sent} <= {OLD}

    # The request stands: once the record can be written, it is performed, once.
    scene.record_error = None
    scene.clock.advance(seconds=30)
    outcome = await scene.reconcile({constants.ANNOTATION_ROTATE_TOKEN: stamp})
    assert scene.rotations() == 1
    assert outcome.document["handledActions"]["rotate-token"] == stamp
    assert failure(outcome) is None


async def test_an_intent_record_that_landed_though_it_failed_is_not_recovered(
    scene: Scene,
) -> None:
    """The API server may store a patch whose answer fails: status then says pending for a
    call this process knows it never made."""
    scene.record_error = KubeError("timed out waiting for the API server", status=504)
    await scene.reconcile(tokenRotation=EVERY)
    assert scene.rotations() == 0
    scene.status = {**scene.status, "tokenRotation": {"pendingSince": format_time(T0)}}
    scene.record_error = None
    scene.clock.advance(seconds=30)
    outcome = await scene.reconcile(tokenRotation=EVERY)
    assert scene.rotations() == 1
    assert failure(outcome) is None
    assert rotation(outcome) == {"lastRotatedAt": format_time(scene.clock.now)}
    assert ("Normal", "TokenRotated") in reasons(outcome)


async def test_a_secret_write_that_fails_after_the_answer_keeps_the_rotation_pending(
    scene: Scene,
) -> None:
    store = scene.world.store
    real_apply = store.apply_secret
    failing = {"left": 1}

    async def apply_secret(namespace: str, name: str, **kwargs: Any) -> None:
        if name == OWNED and failing["left"]:
            failing["left"] -= 1
            raise KubeError("the API server is unavailable", status=503)
        await real_apply(namespace, name, **kwargs)

    store.apply_secret = apply_secret  # type: ignore[method-assign]
    outcome = await scene.reconcile(tokenRotation=EVERY)
    assert scene.rotations() == 1
    new = scene.api.issued_tokens[0]
    # The new token is in no Secret yet: status must still say so, or it is lost.
    assert rotation(outcome) == {"pendingSince": format_time(T0)}
    assert scene.sent_after_rotation() == []

    scene.listed_token(new)
    scene.clock.advance(seconds=30)
    outcome = await scene.reconcile(tokenRotation=EVERY)
    assert scene.rotations() == 1
    assert scene.secret(OWNED, TOKEN_KEY) == new
    assert scene.secret(CONN, "apiTokenInstance") == new
    assert {token for token, _ in scene.sent_after_rotation()} == {new}
    assert ("Normal", "TokenRecovered") in reasons(outcome)


# ------------------------------------------------------------------ quiet polls

QUIET = {"intervals": {"settingsSeconds": 86400}}


async def quiet_until_whole(scene: Scene, step: timedelta, limit: timedelta) -> timedelta:
    """Quiet polls (the state call alone) every `step` until one asks for a whole reconcile;
    how long after now that was."""
    start = scene.clock.now
    while scene.clock.now - start <= limit:
        scene.clock.advance(seconds=step.total_seconds())
        if await poll_in(scene, scene.reconciler) is None:
            return scene.clock.now - start
    raise AssertionError(f"still quiet after {limit}")


async def test_a_rotation_that_falls_due_ends_quiet_polling(scene: Scene) -> None:
    created = T0 - timedelta(hours=720) + timedelta(minutes=30)
    annotations = {constants.ANNOTATION_CREATED_AT: format_time(created)}
    await scene.reconcile(annotations, tokenRotation=EVERY, **QUIET)
    assert scene.rotations() == 0
    assert scene.memory.quiet is not None
    waited = await quiet_until_whole(scene, timedelta(minutes=1), timedelta(hours=2))
    assert waited == timedelta(minutes=30)
    await scene.reconcile(annotations, tokenRotation=EVERY, **QUIET)
    assert scene.rotations() == 1


async def test_a_plan_check_that_falls_due_ends_quiet_polling(scene: Scene) -> None:
    await scene.reconcile(**QUIET)
    assert scene.memory.quiet is not None
    reads = len(scene.world.calls("get_instances"))
    # The partner's planCheckSeconds (three hours by default) after the listing was read.
    waited = await quiet_until_whole(scene, timedelta(minutes=5), timedelta(hours=5))
    assert waited == timedelta(hours=3)
    await scene.reconcile(**QUIET)
    assert len(scene.world.calls("get_instances")) == reads + 1


async def test_a_plan_that_lapses_ends_quiet_polling_and_stalls(scene: Scene) -> None:
    expires = T0 + timedelta(minutes=40)
    scene.world.partner.listed = [
        item.model_copy(update={"expiration_date": expires.strftime("%Y-%m-%dT%H:%M:%S")})
        for item in scene.world.partner.listed
    ]
    outcome = await scene.reconcile(plan={"warnDaysBefore": 0}, **QUIET)
    assert outcome.document["plan"]["expired"] is False
    assert scene.memory.quiet is not None
    waited = await quiet_until_whole(scene, timedelta(minutes=5), timedelta(hours=2))
    assert waited == timedelta(minutes=40)
    outcome = await scene.reconcile(plan={"warnDaysBefore": 0}, **QUIET)
    stalled = next(c for c in outcome.status.conditions if c.type == "Stalled")
    assert (stalled.status, stalled.reason) == ("True", "InstanceExpired")
