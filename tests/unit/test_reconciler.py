"""Reconciler.reconcile end to end, in memory: fakes for GREEN-API and Secrets, a fixed clock."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.fakes import FakeGreenApiFactory, FakeInstanceApi, FakeSecrets, FixedClock
from tests.support.object_loop import poll_in, reconcile_in
from whatsapp_operator import constants
from whatsapp_operator.decide.linking import QR_KEY, secret_name
from whatsapp_operator.decide.plan import MAX_APPLY_ATTEMPTS, SettingsOutcome
from whatsapp_operator.decide.statusdiff import apply_merge_patch
from whatsapp_operator.ports import KubeError
from whatsapp_operator.run.memory import Live
from whatsapp_operator.run.reconcile import Memory, Outcome, Reconciler
from whatsapp_operator.timestamps import format_time
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import InstanceState, Settings

NS = "team-a"
NAME = "sales"
UID = "0b5c6d2e-uid"
INSTANCE_ID = 1101000001
API_URL = "https://1101.api.greenapi.com"
TOKEN = "tokSUPERSECRET0123456789abcdef0123456789abcdef"
HOOK_TOKEN = "hookSUPERSECRETabcdef0123456789"
# Before the wall clock: linking sessions stamp refreshes with the real time.
T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
# Action annotation values: RFC 3339 timestamps with a zone, in the order they were made.
S1 = "2025-01-01T11:00:00Z"
S2 = "2025-01-01T11:05:00+00:00"
S3 = "2025-01-01T13:10:00+01:00"  # 12:10 UTC

OBSERVED_WIRE: dict[str, Any] = {
    "wid": "79001234567@c.us",
    "countryInstance": "ru",
    "typeAccount": "trial",
    "webhookUrl": "",
    "webhookUrlToken": "",
    "delaySendMessagesMilliseconds": 3000,
    "markIncomingMessagesReaded": "no",
    "markIncomingMessagesReadedOnReply": "no",
    "outgoingWebhook": "yes",
    "outgoingMessageWebhook": "yes",
    "outgoingAPIMessageWebhook": "yes",
    "incomingWebhook": "yes",
    "stateWebhook": "no",
    "keepOnlineStatus": "no",
    "autoTyping": 0,
}
DESIRED_SPEC: dict[str, Any] = {
    "webhookUrl": "https://hooks.example.com/wa",
    "stateWebhook": True,
    "incomingWebhook": True,  # already so: must not be sent
}


def make_body(
    settings: dict[str, Any] | None = None,
    *,
    annotations: dict[str, str] | None = None,
    generation: int = 1,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "metadata": {
            "name": NAME,
            "namespace": NS,
            "uid": UID,
            "generation": generation,
            "annotations": dict(annotations or {}),
        },
        "spec": {
            "instance": {
                "id": INSTANCE_ID,
                "apiUrl": API_URL,
                "tokenSecretRef": {"name": "wa-token"},
            },
            "settings": dict(DESIRED_SPEC if settings is None else settings),
            **spec,
        },
        "status": dict(status or {}),
    }


def feed_back(body: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
    """The object as the next reconcile sees it: the returned status written."""
    return {
        **body,
        "status": outcome.status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def with_annotations(body: dict[str, Any], **annotations: str) -> dict[str, Any]:
    metadata = {
        **body["metadata"],
        "annotations": {**body["metadata"]["annotations"], **annotations},
    }
    return {**body, "metadata": metadata}


def conditions(outcome: Outcome) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in outcome.status.conditions}


def dumped(outcome: Outcome) -> str:
    return json.dumps(
        {
            "patch": outcome.status_patch,
            "status": outcome.status.model_dump(mode="json", by_alias=True),
            "events": [asdict(e) for e in outcome.events],
        }
    )


@dataclass
class World:
    clock: FixedClock
    api: FakeInstanceApi
    factory: FakeGreenApiFactory
    secrets: FakeSecrets
    reconciler: Reconciler
    memory: Memory = field(default_factory=Memory)
    live: Live = field(default_factory=Live)
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    outcomes: list[Outcome] = field(default_factory=list)

    def wake(self) -> None:
        self.woken.set()

    async def run(self, body: dict[str, Any]) -> Outcome:
        outcome = await reconcile_in(self, self.reconciler, body, self.wake)
        self.outcomes.append(outcome)
        return outcome


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FixedClock(T0)
    api = FakeInstanceApi(settings=Settings.model_validate(OBSERVED_WIRE))
    factory = FakeGreenApiFactory(api)
    secrets = FakeSecrets()
    secrets.put(NS, "wa-token", {"apiTokenInstance": TOKEN}, version="100")
    secrets.put(NS, "hook", {"token": HOOK_TOKEN}, version="7")
    w = World(clock, api, factory, secrets, Reconciler(factory, secrets, clock, random.Random(7)))
    yield w
    if w.live.session is not None:  # safety net; tests stop their sessions themselves
        await w.live.session.stop()
    for outcome in w.outcomes:
        text = dumped(outcome)
        assert TOKEN not in text
        assert HOOK_TOKEN not in text


# ------------------------------------------------------------------ settings


async def test_first_reconcile_applies_only_differing_keys_once(world: World) -> None:
    outcome = await world.run(make_body())

    assert world.factory.requests == [(API_URL, INSTANCE_ID, TOKEN)]
    assert [w.to_wire() for w in world.api.writes] == [
        {"webhookUrl": "https://hooks.example.com/wa", "stateWebhook": "yes"}
    ]
    patch = outcome.status_patch
    assert patch is not None
    assert patch["observedGeneration"] == 1
    assert [c["type"] for c in patch["conditions"]] == [
        "Ready",
        "Synced",
        "Authorized",
        "Reconciling",
        "Stalled",
    ]
    assert all(c["observedGeneration"] == 1 for c in patch["conditions"])
    assert conditions(outcome)["Synced"] == ("False", "ApplyingSettings")
    assert conditions(outcome)["Reconciling"] == ("True", "ApplyingSettings")
    assert conditions(outcome)["Authorized"] == ("True", "Authorized")
    assert patch["lastApplied"]["fields"] == ["stateWebhook", "webhookUrl"]
    assert patch["instanceId"] == INSTANCE_ID
    assert patch["account"]["phone"] == "79001234567"
    assert ("Normal", "SettingsApplied") in [(e.type, e.reason) for e in outcome.events]
    # Requeued for the end of the settle window at the latest.
    assert 0 < outcome.requeue_after <= 301 * 1.1


async def test_steady_state_makes_no_writes(world: World) -> None:
    """In sync from the start: the second identical reconcile writes nothing at all."""
    world.api.settings = world.api.settings.model_copy(
        update={"webhook_url": "https://hooks.example.com/wa", "state_webhook": True}
    )
    body = make_body()
    first = await world.run(body)
    assert first.status_patch is not None
    assert conditions(first)["Ready"] == ("True", "Ready")
    assert conditions(first)["Synced"] == ("True", "InSync")
    assert world.api.writes == []

    for minutes in (0, 1, 10):  # the last one crosses the settings re-read interval
        world.clock.advance(minutes=minutes)
        body = feed_back(body, first)
        again = await world.run(body)
        assert again.status_patch is None, again.status_patch
        assert again.events == []
        assert world.api.writes == []
        first = again
    assert len(world.api.called("get_settings")) == 2


async def test_apply_settle_confirm_then_quiet(world: World) -> None:
    body = make_body()
    outcome = await world.run(body)
    assert len(world.api.writes) == 1

    # Next poll, inside the settle window: no second write.
    world.clock.advance(seconds=60)
    body = feed_back(body, outcome)
    outcome = await world.run(body)
    assert len(world.api.writes) == 1
    assert conditions(outcome)["Synced"][1] == "ApplyingSettings"

    # After the window the settings are read again and found applied.
    world.clock.advance(seconds=250)
    body = feed_back(body, outcome)
    outcome = await world.run(body)
    assert len(world.api.writes) == 1
    assert conditions(outcome)["Synced"] == ("True", "InSync")
    assert conditions(outcome)["Ready"] == ("True", "Ready")
    assert outcome.status.last_applied is not None
    assert outcome.status.last_applied.confirmed
    assert outcome.status.drift == []
    assert outcome.events == []  # SettingsApplied told of the write already

    # And then nothing changes any more.
    world.clock.advance(seconds=60)
    body = feed_back(body, outcome)
    outcome = await world.run(body)
    assert outcome.status_patch is None
    assert outcome.events == []
    assert len(world.api.writes) == 1


async def test_dropped_settings_are_reapplied_once_then_reported(world: World) -> None:
    world.api.apply_writes = False
    body = make_body()
    outcome = await world.run(body)
    for _ in range(12):  # an hour of polls
        world.clock.advance(seconds=301)
        body = feed_back(body, outcome)
        outcome = await world.run(body)
    assert len(world.api.writes) == 2
    assert conditions(outcome)["Stalled"] == ("True", "SettingsNotApplied")
    assert {d.field for d in outcome.status.drift} == {"webhookUrl", "stateWebhook"}


async def test_missing_secret_is_stalled_without_calling_green_api(world: World) -> None:
    world.secrets.store.clear()
    outcome = await world.run(make_body())
    assert world.factory.requests == []
    assert world.api.calls == []
    found = conditions(outcome)
    assert found["Stalled"] == ("True", "SecretNotFound")
    assert found["Ready"][0] == "False"
    assert found["Synced"] == ("False", "SecretNotFound")
    assert "wa-token" in outcome.status.last_error
    assert ("Warning", "SecretNotFound") in [(e.type, e.reason) for e in outcome.events]


async def test_missing_webhook_token_key_is_stalled(world: World) -> None:
    settings = {**DESIRED_SPEC, "webhookUrlTokenSecretRef": {"name": "hook", "key": "nope"}}
    outcome = await world.run(make_body(settings))
    assert conditions(outcome)["Stalled"] == ("True", "SecretKeyMissing")
    assert world.api.calls == []


async def test_token_rejected_is_stalled_and_names_the_secret_only(world: World) -> None:
    world.api.errors["get_state"] = gerr.TokenRejected(
        "getStateInstance: 401 Unauthorized", method="getStateInstance", status=401
    )
    outcome = await world.run(make_body())
    found = conditions(outcome)
    assert found["Stalled"] == ("True", "TokenRejected")
    assert found["Reconciling"][0] == "False"
    stalled = next(c for c in outcome.status.conditions if c.type == "Stalled")
    assert f"Secret {NS}/wa-token" in stalled.message
    assert TOKEN not in dumped(outcome)
    assert world.api.writes == []
    # A rotated (or fixed) token is picked up by the recheck: while the object fails,
    # its token Secret is re-read on the timer too.
    assert (NS, "wa-token") in world.memory.rechecked_secrets


async def test_only_webhook_token_secrets_are_rechecked_while_idle(world: World) -> None:
    """A token Secret's change shows as a 401; a webhook token's change shows nowhere."""
    await world.run(make_body())
    assert world.memory.referenced_secrets == {(NS, "wa-token")}
    assert world.memory.rechecked_secrets == frozenset()
    settings = {**DESIRED_SPEC, "webhookUrlTokenSecretRef": {"name": "hook", "key": "token"}}
    await world.run(make_body(settings))
    assert world.memory.rechecked_secrets == {(NS, "hook")}


async def test_transient_failure_is_retried(world: World) -> None:
    world.api.errors["get_state"] = gerr.TransportFailure(
        "getStateInstance: connection refused", method="getStateInstance"
    )
    outcome = await world.run(make_body())
    found = conditions(outcome)
    assert found["Reconciling"] == ("True", "RetryingAfterError")
    assert found["Stalled"][0] == "False"
    assert outcome.requeue_after > 0
    assert world.api.writes == []

    # Recovery: the next reconcile proceeds normally.
    del world.api.errors["get_state"]
    outcome = await world.run(feed_back(make_body(), outcome))
    assert conditions(outcome)["Reconciling"] == ("True", "ApplyingSettings")
    assert len(world.api.writes) == 1


async def test_rate_limit_retry_after_is_respected(world: World) -> None:
    world.api.errors["get_settings"] = gerr.RateLimited("getSettings: 429", retry_after=42.0)
    outcome = await world.run(make_body())
    assert outcome.requeue_after == 42.0
    assert conditions(outcome)["Reconciling"] == ("True", "RetryingAfterError")


# ------------------------------------------------------------------ annotations


async def test_reboot_annotation_runs_once(world: World) -> None:
    body = with_annotations(make_body(), **{constants.ANNOTATION_REBOOT: S1})
    outcome = await world.run(body)
    assert len(world.api.called("reboot")) == 1
    assert outcome.status.handled_actions == {"reboot": S1}
    assert ("Normal", "Rebooted") in [(e.type, e.reason) for e in outcome.events]

    outcome = await world.run(feed_back(body, outcome))
    assert len(world.api.called("reboot")) == 1
    assert outcome.status.handled_actions == {"reboot": S1}
    assert "Rebooted" not in [e.reason for e in outcome.events]

    # A new value is a new request.
    body = with_annotations(feed_back(body, outcome), **{constants.ANNOTATION_REBOOT: S2})
    outcome = await world.run(body)
    assert len(world.api.called("reboot")) == 2
    assert outcome.status.handled_actions == {"reboot": S2}


async def test_paused_annotation_blocks_writes(world: World) -> None:
    body = with_annotations(
        make_body(),
        **{constants.ANNOTATION_PAUSED: "true", constants.ANNOTATION_REBOOT: S1},
    )
    outcome = await world.run(body)
    assert world.api.writes == []
    assert world.api.called("reboot") == []
    assert conditions(outcome)["Synced"] == ("False", "ReconcilePaused")
    assert conditions(outcome)["Stalled"][0] == "False"
    assert outcome.status.drift  # drift is still reported


async def test_observe_policy_never_writes(world: World) -> None:
    body = with_annotations(
        make_body(managementPolicy="Observe"), **{constants.ANNOTATION_REBOOT: S1}
    )
    outcome = await world.run(body)
    for _ in range(6):
        world.clock.advance(minutes=10)
        body = feed_back(body, outcome)
        outcome = await world.run(body)
    assert world.api.writes == []
    assert world.api.called("reboot") == []
    assert world.api.called("logout") == []
    assert conditions(outcome)["Ready"] == ("True", "Observing")
    assert conditions(outcome)["Synced"] == ("False", "Drifted")


async def test_reconcile_annotation_forces_a_fresh_read(world: World) -> None:
    world.api.settings = world.api.settings.model_copy(
        update={"webhook_url": "https://hooks.example.com/wa", "state_webhook": True}
    )
    body = make_body()
    outcome = await world.run(body)
    reads = len(world.api.called("get_settings"))
    body = feed_back(body, outcome)
    await world.run(body)
    assert len(world.api.called("get_settings")) == reads  # cached inside the interval
    outcome = await world.run(with_annotations(body, **{constants.ANNOTATION_RECONCILE: S1}))
    assert len(world.api.called("get_settings")) == reads + 1
    assert outcome.status.handled_actions == {"reconcile": S1}


async def test_out_of_band_change_is_corrected_once(world: World) -> None:
    body = make_body()
    outcome = await world.run(body)
    world.clock.advance(seconds=301)
    outcome = await world.run(body := feed_back(body, outcome))
    assert conditions(outcome)["Synced"] == ("True", "InSync")

    # Someone changes the webhook URL in the GREEN-API console.
    world.api.settings = world.api.settings.model_copy(update={"webhook_url": "https://evil/"})
    world.clock.advance(seconds=301)
    outcome = await world.run(body := feed_back(body, outcome))
    assert len(world.api.writes) == 2
    assert world.api.writes[-1].to_wire() == {"webhookUrl": "https://hooks.example.com/wa"}
    assert ("Warning", "DriftCorrected") in [(e.type, e.reason) for e in outcome.events]


# ------------------------------------------------------------------ auto-heal


async def test_auto_heal_reboots_a_long_starting_instance_once_per_cooldown(world: World) -> None:
    world.api.state = InstanceState.STARTING
    body = make_body(autoHeal={"enabled": True, "startingMinutes": 10, "cooldownMinutes": 30})
    outcome = await world.run(body)
    assert world.api.called("reboot") == []
    assert conditions(outcome)["Reconciling"] == ("True", "Starting")

    world.clock.advance(minutes=5)
    outcome = await world.run(body := feed_back(body, outcome))
    assert world.api.called("reboot") == []

    world.clock.advance(minutes=6)  # 11 minutes in `starting`
    outcome = await world.run(body := feed_back(body, outcome))
    assert len(world.api.called("reboot")) == 1
    assert outcome.status.last_auto_reboot == "2025-01-01T12:11:00Z"
    assert ("Warning", "AutoRebooted") in [(e.type, e.reason) for e in outcome.events]

    for _ in range(5):  # 25 more minutes: inside the cool-down
        world.clock.advance(minutes=5)
        outcome = await world.run(body := feed_back(body, outcome))
    assert len(world.api.called("reboot")) == 1

    world.clock.advance(minutes=6)  # 31 minutes after the first reboot
    outcome = await world.run(body := feed_back(body, outcome))
    assert len(world.api.called("reboot")) == 2


async def test_auto_heal_is_off_by_default(world: World) -> None:
    world.api.state = InstanceState.STARTING
    body = make_body()
    outcome = await world.run(body)
    world.clock.advance(hours=3)
    await world.run(feed_back(body, outcome))
    assert world.api.called("reboot") == []


# ------------------------------------------------------------------ linking


async def test_linking_session_and_secret_cleanup(world: World) -> None:
    world.api.state = InstanceState.NOT_AUTHORIZED
    world.api.settings = world.api.settings.model_copy(update={"wid": ""})
    body = make_body()
    outcome = await world.run(body)
    session = world.live.session
    assert session is not None
    assert session.running
    assert outcome.status.linking is not None
    assert outcome.status.linking.phase == "Waiting"
    assert outcome.requeue_after <= 10 * 1.1

    await asyncio.wait_for(world.woken.wait(), timeout=5)
    [stored] = world.secrets.applied
    assert stored.name == secret_name(NAME) == f"{NAME}-linking"
    assert stored.namespace == NS
    assert QR_KEY in stored.data
    assert stored.owner.uid == UID

    world.clock.advance(seconds=10)
    outcome = await world.run(body := feed_back(body, outcome))
    assert outcome.status.linking is not None
    assert outcome.status.linking.phase == "CodeReady"
    assert outcome.status.linking.secret_name == f"{NAME}-linking"
    assert ("Normal", "LinkingCodeReady") in [(e.type, e.reason) for e in outcome.events]
    authorized = next(c for c in outcome.status.conditions if c.type == "Authorized")
    assert f"{NAME}-linking" in authorized.message
    assert world.live.session is session  # the same session keeps running

    # The phone is scanned.
    world.api.state = InstanceState.AUTHORIZED
    world.clock.advance(seconds=10)
    outcome = await world.run(body := feed_back(body, outcome))
    assert world.live.session is None
    assert not session.running
    assert (NS, f"{NAME}-linking") in world.secrets.deleted
    assert (NS, f"{NAME}-linking") not in world.secrets.written
    assert outcome.status.linking is not None
    assert outcome.status.linking.phase == "Linked"
    assert ("Normal", "Authorized") in [(e.type, e.reason) for e in outcome.events]
    await session.stop()


async def test_pairing_code_session(world: World) -> None:
    world.api.state = InstanceState.NOT_AUTHORIZED
    body = make_body(authorization={"method": "PhoneNumber", "phoneNumber": "79001234567"})
    await world.run(body)
    await asyncio.wait_for(world.woken.wait(), timeout=5)
    assert world.api.called("get_authorization_code")[0].args == (79001234567,)
    [stored] = world.secrets.applied
    assert stored.data == {"code": b"ABCD-1234"}
    assert world.live.session is not None
    await world.live.session.stop()


async def test_no_session_while_paused(world: World) -> None:
    world.api.state = InstanceState.NOT_AUTHORIZED
    await world.run(with_annotations(make_body(), **{constants.ANNOTATION_PAUSED: "true"}))
    assert world.live.session is None


# ------------------------------------------------------------------ secrets never leak


async def test_webhook_token_is_sent_but_never_shown(world: World) -> None:
    settings = {**DESIRED_SPEC, "webhookUrlTokenSecretRef": {"name": "hook", "key": "token"}}
    body = make_body(settings)
    outcome = await world.run(body)
    [write] = world.api.writes
    assert write.to_wire()["webhookUrlToken"] == HOOK_TOKEN
    assert outcome.status.observed_settings["webhookUrlToken"] == ""
    drift = {d.field: d for d in outcome.status.drift}
    assert drift["webhookUrlToken"].desired == "<redacted>"

    world.clock.advance(seconds=301)
    outcome = await world.run(body := feed_back(body, outcome))
    assert outcome.status.observed_settings["webhookUrlToken"] == "<redacted>"
    assert conditions(outcome)["Synced"] == ("True", "InSync")

    # Rotating the Secret (new resourceVersion) re-sends the token, once.
    world.secrets.put(NS, "hook", {"token": HOOK_TOKEN + "-rotated"}, version="8")
    world.clock.advance(seconds=301)
    outcome = await world.run(body := feed_back(body, outcome))
    assert len(world.api.writes) == 2
    assert world.api.writes[-1].to_wire() == {"webhookUrlToken": HOOK_TOKEN + "-rotated"}
    text = dumped(outcome)
    assert HOOK_TOKEN not in text
    assert "rotated" not in text


@pytest.mark.parametrize(
    "error",
    [
        gerr.TokenRejected("getStateInstance: 401", status=401),
        gerr.InstanceRejected("getStateInstance: 403", status=403),
        gerr.ServiceUnavailable("getStateInstance: 502", status=502),
        gerr.RequestRejected("getStateInstance: 400 bad", status=400),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_errors_never_leak_the_token(world: World, error: gerr.GreenApiError) -> None:
    world.api.errors["get_state"] = error
    outcome = await world.run(make_body())
    assert outcome.status.last_error
    assert TOKEN not in dumped(outcome)


# ------------------------------------------------------------------ bugs found


async def test_failed_write_is_not_counted_as_applied(world: World) -> None:
    world.api.errors["set_settings"] = gerr.TransportFailure(
        "setSettings: connection refused", method="setSettings", request_not_sent=True
    )
    body = make_body()
    outcome = await world.run(body)
    assert conditions(outcome)["Reconciling"] == ("True", "RetryingAfterError")
    del world.api.errors["set_settings"]

    world.clock.advance(seconds=outcome.requeue_after)
    outcome = await world.run(feed_back(body, outcome))
    # GREEN-API never got the settings: send them now, not after the settle window.
    assert len(world.api.writes) == 1, "the write was not retried"


async def test_rejected_write_stays_stalled(world: World) -> None:
    world.api.errors["set_settings"] = gerr.RequestRejected(
        "setSettings: 400 invalid webhookUrl", method="setSettings", status=400
    )
    body = make_body()
    outcome = await world.run(body)
    assert conditions(outcome)["Stalled"] == ("True", "SettingsRejected")
    # Nothing was applied, so no "Sent ... to GREEN-API" event either.
    assert "SettingsApplied" not in [e.reason for e in outcome.events]
    for _ in range(3):
        world.clock.advance(seconds=60)
        outcome = await world.run(body := feed_back(body, outcome))
        assert conditions(outcome)["Stalled"] == ("True", "SettingsRejected")
        assert "Recovered" not in [e.reason for e in outcome.events]


async def test_network_blip_is_not_authorization_lost(world: World) -> None:
    world.api.settings = world.api.settings.model_copy(
        update={"webhook_url": "https://hooks.example.com/wa", "state_webhook": True}
    )
    body = make_body()
    outcome = await world.run(body)
    world.api.errors["get_state"] = gerr.TransportFailure("getStateInstance: timed out")
    world.clock.advance(seconds=60)
    outcome = await world.run(body := feed_back(body, outcome))
    assert "AuthorizationLost" not in [e.reason for e in outcome.events]
    del world.api.errors["get_state"]
    world.clock.advance(seconds=5)
    outcome = await world.run(body := feed_back(body, outcome))
    assert "Authorized" not in [e.reason for e in outcome.events]


async def test_steady_state_makes_no_kubernetes_writes(world: World) -> None:
    world.api.settings = world.api.settings.model_copy(
        update={"webhook_url": "https://hooks.example.com/wa", "state_webhook": True}
    )
    body = make_body()
    outcome = await world.run(body)
    deletes = len(world.secrets.deleted)
    for _ in range(3):
        world.clock.advance(seconds=60)
        outcome = await world.run(body := feed_back(body, outcome))
    assert len(world.secrets.deleted) == deletes


# ------------------------------------------------------------------ side effects under faults


@dataclass
class ApiServerStatus:
    """The status as the API server holds it: intents land here; reports may be lost."""

    doc: dict[str, Any] = field(default_factory=dict)
    intents: list[dict[str, Any]] = field(default_factory=list)
    refuse: bool = False
    # The patch is stored but its answer never comes (an API server that froze mid-request).
    lose_answers: bool = False

    async def record(self, patch: dict[str, Any]) -> None:
        if self.refuse:
            raise KubeError("status: API server answered 503", status=503)
        self.intents.append(patch)
        self.doc = apply_merge_patch(self.doc, patch)
        if self.lose_answers:
            raise KubeError("status: no answer within the timeout")


async def run_cycles(
    world: World,
    body: dict[str, Any],
    *,
    minutes: float,
    server: ApiServerStatus | None = None,
    keep_reports: bool = True,
) -> Outcome:
    """Reconcile like the daemon does for `minutes` of fake time; returns the last outcome."""
    end = world.clock.now + timedelta(minutes=minutes)
    outcome: Outcome | None = None
    while world.clock.now < end:
        record = server.record if server is not None else None
        outcome = await reconcile_in(world, world.reconciler, body, world.wake, record)
        world.outcomes.append(outcome)
        if keep_reports:
            body = feed_back(body, outcome)
            if server is not None:
                server.doc = dict(outcome.document)
        elif server is not None:
            # Every report is lost: the next cycle sees only the intents that were stored.
            body = {**body, "status": dict(server.doc)}
        world.clock.advance(seconds=outcome.requeue_after)
    assert outcome is not None
    return outcome


async def test_lost_setsettings_answer_is_never_sent_again_blindly(world: World) -> None:
    # Defect 1: GREEN-API applies the settings, the answer times out.
    world.api.lose_answers.add("set_settings")
    outcome = await run_cycles(world, make_body(), minutes=20)
    assert len(world.api.writes) == 1
    assert conditions(outcome)["Synced"] == ("True", "InSync")
    first = world.outcomes[0]
    assert conditions(first)["Synced"] == ("False", "ApplyUnconfirmed")
    assert ("Warning", "SettingsUnconfirmed") in [(e.type, e.reason) for e in first.events]
    assert ("Normal", "SettingsApplied") not in [(e.type, e.reason) for e in first.events]


async def test_unanswered_writes_without_effect_are_resent_observed_and_bounded(
    world: World,
) -> None:
    # Every answer lost and nothing ever shows in getSettings: the resend waits for a
    # settle window's observation, and an unanswered write spends the budget like an
    # answered one (it may have rebooted the instance): two writes, then the drift.
    world.api.lose_answers.add("set_settings")
    world.api.apply_writes = False
    outcome = await run_cycles(world, make_body(), minutes=120)
    assert len(world.api.writes) == MAX_APPLY_ATTEMPTS == 2
    sent = [o for o in world.outcomes if o.settings is SettingsOutcome.UNCONFIRMED]
    assert len(sent) == len(world.api.writes)
    assert conditions(outcome)["Stalled"] == ("True", "SettingsNotApplied")


async def test_dropped_settings_are_reapplied_once_even_after_a_lost_answer(
    world: World,
) -> None:
    # Answered writes that GREEN-API drops: one write plus the one documented re-apply.
    world.api.apply_writes = False
    outcome = await run_cycles(world, make_body(), minutes=60)
    assert len(world.api.writes) == 2
    assert conditions(outcome)["Stalled"] == ("True", "SettingsNotApplied")


async def test_a_5xx_refused_write_is_resent_after_observing_no_effect(world: World) -> None:
    # The fault storm: a 500 may or may not have been acted on; after the settle window
    # getSettings shows it was not, so the values go out again, and converge.
    world.api.errors["set_settings"] = gerr.ServiceUnavailable("setSettings: 500", status=500)
    body = make_body()
    outcome = await world.run(body)
    assert conditions(outcome)["Synced"] == ("False", "ApplyUnconfirmed")
    del world.api.errors["set_settings"]
    outcome = await run_cycles(world, feed_back(body, outcome), minutes=20)
    assert conditions(outcome)["Synced"] == ("True", "InSync")
    assert len(world.api.writes) == 1  # the refused call never reached the settings


async def test_intent_is_recorded_before_setsettings_and_lost_reports_repeat_nothing(
    world: World,
) -> None:
    # Defect 3: status patches that never land must not turn into more setSettings.
    server = ApiServerStatus()
    await run_cycles(world, make_body(), minutes=10, server=server, keep_reports=False)
    assert len(world.api.writes) == 1
    assert len(world.outcomes) >= 8
    assert server.intents[0]["lastApplied"]["fields"] == ["stateWebhook", "webhookUrl"]


async def test_no_side_effect_when_its_intent_cannot_be_recorded(world: World) -> None:
    server = ApiServerStatus(refuse=True)
    body = with_annotations(make_body(), **{constants.ANNOTATION_REBOOT: S1})
    outcome = await reconcile_in(world, world.reconciler, body, world.wake, server.record)
    world.outcomes.append(outcome)
    assert world.api.called("reboot") == []
    assert world.api.writes == []
    assert conditions(outcome)["Reconciling"] == ("True", "RetryingAfterError")
    assert outcome.status.handled_actions.get("reboot") is None


async def test_an_intent_stored_without_an_answer_still_gets_its_action_once(
    world: World,
) -> None:
    # The API server froze while storing the reboot's intent: the patch landed, its answer
    # never came, so the call was held. The next cycle sees the intent in status, but this
    # process knows the call was never made: it makes it, once.
    server = ApiServerStatus(lose_answers=True)
    body = with_annotations(make_body(settings={}), **{constants.ANNOTATION_REBOOT: S1})
    outcome = await reconcile_in(world, world.reconciler, body, world.wake, server.record)
    world.outcomes.append(outcome)
    assert world.api.called("reboot") == []
    assert server.doc["handledActions"] == {"reboot": S1}

    server.lose_answers = False
    body = {**body, "status": dict(server.doc)}
    await run_cycles(world, body, minutes=10, server=server)
    assert len(world.api.called("reboot")) == 1
    assert "Rebooted" in [e.reason for o in world.outcomes for e in o.events]


async def test_lost_reboot_answer_is_not_repeated(world: World) -> None:
    world.api.lose_answers.add("reboot")
    body = with_annotations(make_body(settings={}), **{constants.ANNOTATION_REBOOT: S1})
    await run_cycles(world, body, minutes=10)
    assert len(world.api.called("reboot")) == 1
    reasons = [e.reason for o in world.outcomes for e in o.events]
    assert "RebootUnconfirmed" in reasons
    assert "Rebooted" not in reasons


async def test_refused_action_is_retried_with_backoff_not_marked_done(world: World) -> None:
    world.api.errors["logout"] = gerr.RateLimited("logout: 429", retry_after=3.0)
    body = with_annotations(make_body(settings={}), **{constants.ANNOTATION_LOGOUT: S1})
    outcome = await world.run(body)
    assert outcome.status.handled_actions.get("logout") is None
    assert outcome.requeue_after >= 3.0
    del world.api.errors["logout"]
    outcome = await world.run(feed_back(body, outcome))
    assert outcome.status.handled_actions["logout"] == S1
    assert len(world.api.called("logout")) == 2  # the refused call and the one that worked


async def test_transient_errors_back_off_with_jitter_never_sooner_than_the_interval(
    world: World,
) -> None:
    # Defect 2 of an earlier issue: a persistent 5xx was retried every 2.0 s, forever.
    # Then (issue 22) a failing GREEN-API got more polls than a healthy one: only the first
    # failure after a success is retried soon.
    world.api.errors["get_state"] = gerr.ServiceUnavailable("getStateInstance: 502", status=502)
    body = make_body(intervals={"stateSeconds": 30})
    delays = []
    for _ in range(12):
        outcome = await world.run(body)
        body = feed_back(body, outcome)
        delays.append(outcome.requeue_after)
    assert delays[0] <= 2.0
    assert min(delays[1:]) >= 30.0
    assert len(set(delays[1:])) >= 10, "jitter: waits differ"
    assert max(delays) <= 60.0
    del world.api.errors["get_state"]
    outcome = await world.run(body)
    assert world.memory.failures == 0
    assert outcome.requeue_after <= 31 * 1.1 + 30


async def test_a_failing_greenapi_gets_no_more_polls_than_a_healthy_one(world: World) -> None:
    # Issue 22, defect 13: 50 instances at stateSeconds 10 made about twice the calls of
    # normal polling during a storm. A persistent 502 for an hour, polled as the operator
    # would: no more getStateInstance calls than an hour of healthy polling.
    world.api.errors["get_state"] = gerr.ServiceUnavailable("getStateInstance: 502", status=502)
    body = make_body(intervals={"stateSeconds": 10})
    elapsed = 0.0
    while elapsed < 3600.0:
        outcome = await world.run(body)
        body = feed_back(body, outcome)
        elapsed += outcome.requeue_after
        world.clock.advance(seconds=outcome.requeue_after)
    assert len(world.api.called("get_state")) <= 3600.0 / 10 + 1


async def test_backoff_waits_at_most_two_poll_intervals(world: World) -> None:
    # A failing service gets no more calls than a healthy one, and recovery shows within
    # two poll intervals.
    world.api.errors["get_state"] = gerr.ServiceUnavailable("getStateInstance: 502", status=502)
    body = make_body(intervals={"stateSeconds": 30})
    delays = []
    for _ in range(15):
        outcome = await world.run(body)
        body = feed_back(body, outcome)
        delays.append(outcome.requeue_after)
    assert max(delays) <= 60.0
    assert min(delays[1:]) >= 30.0


async def test_quota_window_is_honoured_and_not_stalled(world: World) -> None:
    world.api.errors["get_state"] = gerr.QuotaExceeded("getStateInstance: 466", status=466)
    outcome = await world.run(make_body())
    assert outcome.requeue_after >= 3600.0
    assert conditions(outcome)["Stalled"][0] == "False"
    assert conditions(outcome)["Reconciling"] == ("True", "RetryingAfterError")


def created_at(body: dict[str, Any], moment: datetime) -> dict[str, Any]:
    metadata = {**body["metadata"], "creationTimestamp": format_time(moment)}
    return {**body, "metadata": metadata}


async def test_action_older_than_the_object_is_not_performed_after_a_restore(
    world: World,
) -> None:
    # Defect 7: a restored manifest (no status) still carries logout-requested-at.
    stamp = format_time(T0 - timedelta(days=2))
    body = created_at(
        with_annotations(make_body(settings={}), **{constants.ANNOTATION_LOGOUT: stamp}), T0
    )
    outcome = await world.run(body)
    assert world.api.called("logout") == []
    assert "logout" not in outcome.status.handled_actions  # nothing was performed

    # A request made after the object exists is performed, once.
    later = format_time(T0 + timedelta(minutes=5))
    body = with_annotations(feed_back(body, outcome), **{constants.ANNOTATION_LOGOUT: later})
    outcome = await world.run(body)
    outcome = await world.run(feed_back(body, outcome))
    assert len(world.api.called("logout")) == 1


def with_operator_records(body: dict[str, Any], world: World) -> dict[str, Any]:
    """The object as the API server holds it: with the annotations the operator wrote."""
    return with_annotations(body, **world.secrets.object_annotations.get((NS, NAME), {}))


async def test_a_rollback_to_an_older_logout_request_does_not_log_out_again(
    world: World,
) -> None:
    # Issue 22, defect 2: Git holds S1, `kubectl whatsapp logout` writes S3, a new phone is
    # linked, and a self-heal or rollback puts S1 back: 3 logouts, the new phone logged out.
    body = created_at(make_body(settings={}), T0 - timedelta(days=1))
    for value in (S1, S3, S1, S3, S1):
        body = with_operator_records(
            with_annotations(body, **{constants.ANNOTATION_LOGOUT: value}), world
        )
        outcome = await world.run(body)
        body = feed_back(body, outcome)
    assert len(world.api.called("logout")) == 2
    assert outcome.status.handled_actions["logout"] == S3
    reasons = [e.reason for o in world.outcomes for e in o.events]
    assert reasons.count("LoggedOut") == 2


async def test_a_restored_object_without_status_keeps_the_operators_record(world: World) -> None:
    # Status lost (a restore that keeps metadata), the operator's own annotation kept.
    body = with_annotations(make_body(settings={}), **{constants.ANNOTATION_LOGOUT: S2})
    await world.run(body)
    assert len(world.api.called("logout")) == 1
    assert world.secrets.object_annotations[(NS, NAME)] == {
        constants.ANNOTATION_LOGOUT_PERFORMED: S2
    }

    restored = with_operator_records(body, world)
    restored["status"] = {}
    world.memory = Memory()  # another process, too
    outcome = await world.run(restored)
    assert len(world.api.called("logout")) == 1
    assert outcome.status.handled_actions["logout"] == S2

    # An older request restored beside it is not performed either; a newer one is.
    await world.run(with_annotations(restored, **{constants.ANNOTATION_LOGOUT: S1}))
    assert len(world.api.called("logout")) == 1
    await world.run(with_annotations(restored, **{constants.ANNOTATION_LOGOUT: S3}))
    assert len(world.api.called("logout")) == 2


@pytest.mark.parametrize(
    "value", ["2024-05-01T10:00:00", "2024-05-01", "manual-1", "1767355000", "now"]
)
async def test_an_action_value_that_is_not_a_timestamp_is_refused_with_a_warning(
    world: World, value: str
) -> None:
    body = make_body(settings={})
    for annotation in (constants.ANNOTATION_LOGOUT, constants.ANNOTATION_REBOOT):
        body = with_annotations(body, **{annotation: value})
    for _ in range(3):  # every restore, every poll
        outcome = await world.run(body)
        body = feed_back(body, outcome)
        world.clock.advance(minutes=10)
    assert world.api.called("logout") == []
    assert world.api.called("reboot") == []
    assert outcome.status.handled_actions == {}
    warnings = [e for o in world.outcomes for e in o.events if e.reason == "ActionValueInvalid"]
    # One Warning per annotation and value, not one per reconcile.
    assert sorted(e.type for e in warnings) == ["Warning", "Warning"]
    messages = " ".join(e.message for e in warnings)
    assert constants.ANNOTATION_LOGOUT in messages
    assert constants.ANNOTATION_REBOOT in messages
    assert "RFC 3339" in messages


async def test_a_lost_operator_record_does_not_undo_the_performed_action(world: World) -> None:
    # The annotation record is written after the call; if that write fails, status holds it.
    world.secrets.annotation_error = KubeError("API server unavailable", status=503)
    body = with_annotations(make_body(settings={}), **{constants.ANNOTATION_REBOOT: S1})
    outcome = await world.run(body)
    assert len(world.api.called("reboot")) == 1
    assert outcome.status.handled_actions == {"reboot": S1}
    world.secrets.annotation_error = None
    await world.run(feed_back(body, outcome))
    assert len(world.api.called("reboot")) == 1


async def test_a_restart_on_a_settled_object_deletes_and_writes_nothing(world: World) -> None:
    """No linking Secret was ever made: a new process must not DELETE it (a request each)."""
    world.api.settings = world.api.settings.model_copy(
        update={"webhook_url": "https://hooks.example.com/wa", "state_webhook": True}
    )
    body = feed_back(make_body(), await world.run(make_body()))
    world.memory = Memory()  # what a restarted process knows
    outcome = await world.run(body)
    assert outcome.status_patch is None
    assert world.secrets.deleted == []
    assert world.api.writes == []


async def test_a_quiet_object_is_polled_with_the_state_call_alone(world: World) -> None:
    world.api.settings = world.api.settings.model_copy(
        update={"webhook_url": "https://hooks.example.com/wa", "state_webhook": True}
    )
    await world.run(make_body(intervals={"stateSeconds": 30}))
    calls = len(world.api.calls)
    for _ in range(3):
        world.clock.advance(seconds=30)
        delay = await poll_in(world, world.reconciler)
        assert delay is not None
        assert 27 <= delay <= 33  # the interval, jittered
    # With webhookUrl set the queue counts are due every checkSeconds (twice the state
    # poll): the quiet poll reads them itself when they are as they were (empty).
    queue_reads = ["get_webhooks_count", "get_messages_count"]
    assert [c.method for c in world.api.calls[calls:]] == [
        "get_state",
        "get_state",
        *queue_reads,
        "get_state",
    ]

    # A changed state needs the whole reconcile.
    world.api.state = InstanceState.NOT_AUTHORIZED
    assert await poll_in(world, world.reconciler) is None
    world.api.state = InstanceState.AUTHORIZED

    # So does the time to read the settings again (settingsSeconds).
    world.clock.advance(seconds=3600)
    assert await poll_in(world, world.reconciler) is None


async def test_a_failed_quiet_poll_is_retried_at_once_and_then_only_at_the_interval(
    world: World,
) -> None:
    # The whole reconcile right after a failed quiet poll is its early retry: when that
    # fails too, the next try waits the interval; when it succeeds, the poll after it
    # comes one interval later, since the retry took that poll's place.
    world.api.settings = world.api.settings.model_copy(
        update={"webhook_url": "https://hooks.example.com/wa", "state_webhook": True}
    )
    body = make_body(intervals={"stateSeconds": 30})
    body = feed_back(body, await world.run(body))
    world.api.errors["get_state"] = gerr.ServiceUnavailable("getStateInstance: 502", status=502)
    world.clock.advance(seconds=30)
    assert await poll_in(world, world.reconciler) is None
    failed = await world.run(body)
    assert failed.requeue_after >= 30.0
    del world.api.errors["get_state"]
    recovered = await world.run(feed_back(body, failed))
    assert recovered.requeue_after >= 27.0 + 30.0


async def test_an_object_in_motion_is_never_polled_quietly(world: World) -> None:
    await world.run(make_body())  # a write was sent: the settle window is open
    assert world.memory.quiet is None
    assert await poll_in(world, world.reconciler) is None


async def test_a_successful_write_needs_one_status_patch(world: World) -> None:
    """The intent carries the report the write leads to: no second patch after the answer."""
    recorded: list[dict[str, Any]] = []

    async def record(patch: dict[str, Any]) -> None:
        recorded.append(patch)

    outcome = await reconcile_in(world, world.reconciler, make_body(), world.wake, record)
    assert len(world.api.writes) == 1
    assert len(recorded) == 1
    assert recorded[0]["lastApplied"]["fields"] == ["stateWebhook", "webhookUrl"]
    written = {c["type"]: c["reason"] for c in recorded[0]["conditions"]}
    assert written["Synced"] == "ApplyingSettings"
    assert recorded[0]["observedGeneration"] == 1
    assert outcome.status_patch is None
    assert outcome.document == apply_merge_patch({}, recorded[0])


async def test_a_refused_write_still_reports_after_its_intent(world: World) -> None:
    recorded: list[dict[str, Any]] = []

    async def record(patch: dict[str, Any]) -> None:
        recorded.append(patch)

    world.api.errors["set_settings"] = gerr.RequestRejected("bad value", method="setSettings")
    outcome = await reconcile_in(world, world.reconciler, make_body(), world.wake, record)
    assert len(recorded) == 1
    assert outcome.status_patch is not None
    assert conditions(outcome)["Synced"][0] == "False"
    assert conditions(outcome)["Synced"][1] != "ApplyingSettings"
