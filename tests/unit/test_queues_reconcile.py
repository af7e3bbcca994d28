"""Queues in a whole reconcile, with fakes: reads on their schedule, WebhookDelivery and
Ready, clear actions through the gate (once; leftTime defers), clearOnAccountChange."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from support.fakes import FakeGreenApiFactory, FakeInstanceApi, FakeSecrets, FixedClock
from tests.support.object_loop import poll_in, reconcile_in
from whatsapp_operator import constants
from whatsapp_operator.decide.statusdiff import apply_merge_patch
from whatsapp_operator.ports import KubeError
from whatsapp_operator.run.memory import Live
from whatsapp_operator.run.reconcile import Memory, Outcome, Reconciler
from whatsapp_operator.wire.models import InstanceState, Settings, WaSettings

NS, NAME = "team-a", "sales"
TOKEN = "tokSUPERSECRET0123456789abcdef0123456789abcdef"
T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
HOOKED: dict[str, Any] = {
    "wid": "79001234567@c.us",
    "webhookUrl": "https://hooks.example.com/wa",
    "incomingWebhook": "yes",
}
CLEAR_HOOKS = constants.ANNOTATION_CLEAR_WEBHOOKS_QUEUE
REQUEST = "2025-01-01T12:30:00Z"


class World:
    def __init__(self) -> None:
        self.clock = FixedClock(T0)
        self.api = FakeInstanceApi(settings=Settings.model_validate(HOOKED))
        self.secrets = secrets = FakeSecrets()
        secrets.put(NS, "wa-token", {"apiTokenInstance": TOKEN}, version="1")
        factory = FakeGreenApiFactory(self.api)
        self.reconciler = Reconciler(factory, secrets, self.clock, random.Random(3))
        self.memory = Memory()
        self.live = Live()
        self.body = body()

    async def run(self, **annotations: str) -> Outcome:
        self.body["metadata"]["annotations"].update(annotations)
        outcome = await reconcile_in(self, self.reconciler, self.body, lambda: None)
        self.body["status"] = outcome.status.model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        return outcome

    def calls(self, method: str) -> int:
        return len(self.api.called(method))


def body(queues: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "metadata": {
            "name": NAME,
            "namespace": NS,
            "uid": "uid-1",
            "generation": 1,
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "annotations": {},
        },
        "spec": {
            "instance": {"id": 1101000001, "tokenSecretRef": {"name": "wa-token"}},
            "settings": {"webhookUrl": HOOKED["webhookUrl"]},
            "intervals": {"stateSeconds": 60},
            "queues": {"growthWindowSeconds": 300, **(queues or {})},
        },
        "status": {},
    }


@pytest.fixture
def world() -> World:
    return World()


def delivery(outcome: Outcome) -> tuple[str, str]:
    found = [c for c in outcome.status.conditions if c.type == "WebhookDelivery"]
    assert len(found) == 1
    return found[0].status, found[0].reason


def ready(outcome: Outcome) -> tuple[str, str]:
    found = [c for c in outcome.status.conditions if c.type == "Ready"]
    return found[0].status, found[0].reason


async def grow(world: World, counts: list[int]) -> Outcome:
    """One whole reconcile per check (2 minutes), with these incoming counts."""
    outcome = None
    for count in counts:
        world.clock.advance(seconds=120)
        world.api.webhooks_count = count
        outcome = await world.run()
    assert outcome is not None
    return outcome


async def test_counts_are_read_when_due_and_reported(world: World) -> None:
    world.api.messages_count = 2
    first = await world.run()
    assert first.status.queues is not None
    assert (first.status.queues.incoming, first.status.queues.outgoing) == (0, 2)
    assert delivery(first) == ("True", "Delivering")
    # A minute later (one state poll): not due, no read.
    world.clock.advance(seconds=60)
    await world.run()
    assert world.calls("get_webhooks_count") == 1
    world.clock.advance(seconds=60)
    await world.run()
    assert world.calls("get_webhooks_count") == 2


async def test_a_growing_queue_turns_delivery_false_but_not_ready(world: World) -> None:
    await world.run()
    outcome = await grow(world, [3, 8, 12])
    assert delivery(outcome) == ("True", "QueueRising")
    outcome = await grow(world, [20])
    assert delivery(outcome) == ("False", "QueueGrowing")
    assert ready(outcome) == ("True", "Ready")
    assert [e.reason for e in outcome.events] == ["WebhookDeliveryFailing"]
    again = await grow(world, [25])
    assert [e.reason for e in again.events] == []  # on the transition only
    recovered = await grow(world, [0])
    assert delivery(recovered) == ("True", "Delivering")


async def test_opted_in_ready_follows_delivery(world: World) -> None:
    world.body = body({"requiredForReadiness": True})
    await world.run()
    outcome = await grow(world, [3, 8, 12, 20])
    assert ready(outcome) == ("False", "QueueGrowing")


async def test_no_webhook_url_no_reads_no_condition(world: World) -> None:
    world.api.settings = Settings.model_validate({**HOOKED, "webhookUrl": ""})
    world.body["spec"]["settings"] = {"incomingWebhook": True}
    outcome = await world.run()
    assert "WebhookDelivery" not in {c.type for c in outcome.status.conditions}
    assert world.calls("get_webhooks_count") == 0


async def test_a_clear_action_is_performed_once(world: World) -> None:
    world.api.webhooks_count = 7
    await world.run()
    outcome = await world.run(**{CLEAR_HOOKS: REQUEST})
    assert world.calls("clear_webhooks_queue") == 1
    assert outcome.status.handled_actions["clearWebhooksQueue"] == REQUEST
    cleared = [e for e in outcome.events if e.reason == "QueueCleared"]
    assert "dropped 7 notifications" in cleared[0].message
    world.clock.advance(seconds=120)
    await world.run()
    assert world.calls("clear_webhooks_queue") == 1


@pytest.mark.parametrize(
    ("annotation", "method"),
    [
        (constants.ANNOTATION_CLEAR_WEBHOOKS_QUEUE, "clear_webhooks_queue"),
        (constants.ANNOTATION_CLEAR_MESSAGES_QUEUE, "clear_messages_queue"),
    ],
)
async def test_a_clear_is_not_made_again_after_a_restore_that_lost_status(
    world: World, annotation: str, method: str
) -> None:
    # A restore that keeps metadata but not status (Velero, a re-apply of a dump) must
    # not drop the queue twice: the operator's own annotation records the clear.
    await world.run()
    await world.run(**{annotation: REQUEST})
    assert world.calls(method) == 1
    world.body["metadata"]["annotations"].update(world.secrets.object_annotations[(NS, NAME)])
    world.body["status"] = {}
    world.memory = Memory()  # another process, too
    world.clock.advance(seconds=120)
    outcome = await world.run()
    assert world.calls(method) == 1
    action = next(a for a, n in constants.ACTION_ANNOTATIONS.items() if n == annotation)
    assert outcome.status.handled_actions[action] == REQUEST


async def test_a_clear_refused_for_its_minute_waits_left_time_without_failing(
    world: World,
) -> None:
    await world.run()
    world.api.clear_left_time["clear_webhooks_queue"] = 42
    outcome = await world.run(**{CLEAR_HOOKS: REQUEST})
    assert outcome.requeue_after <= 42
    assert "clearWebhooksQueue" not in outcome.status.handled_actions
    assert outcome.failure_reason is None
    assert ready(outcome) == ("True", "Ready")
    assert [e.reason for e in outcome.events] == ["QueueClearDeferred"]
    world.clock.advance(seconds=42)
    done = await world.run()
    assert world.calls("clear_webhooks_queue") == 2
    assert done.status.handled_actions["clearWebhooksQueue"] == REQUEST


async def test_a_lost_answer_is_never_sent_again(world: World) -> None:
    await world.run()
    world.api.lose_answers.add("clear_webhooks_queue")
    outcome = await world.run(**{CLEAR_HOOKS: REQUEST})
    assert [e.reason for e in outcome.events] == ["QueueClearUnconfirmed"]
    await world.run()
    assert world.calls("clear_webhooks_queue") == 1


async def test_a_new_number_clears_both_queues_once(world: World) -> None:
    world.body = body({"clearOnAccountChange": True})
    await world.run()
    assert world.calls("clear_webhooks_queue") == 0
    # Another phone is linked: logout, then a new scan.
    world.api.state = InstanceState.NOT_AUTHORIZED
    await world.run()
    world.api.state = InstanceState.AUTHORIZED
    world.api.settings = Settings.model_validate({**HOOKED, "wid": "79110000000@c.us"})
    world.api.wa = WaSettings(phone="79110000000", device_id="dev-2", avatar="")
    world.api.webhooks_count, world.api.messages_count = 4, 9
    world.clock.advance(seconds=400)  # settings re-read
    outcome = await world.run()
    assert world.calls("clear_webhooks_queue") == 1
    assert world.calls("clear_messages_queue") == 1
    events = [e for e in outcome.events if e.reason == "QueuesCleared"]
    assert len(events) == 1
    assert "79001234567@c.us to 79110000000@c.us" in events[0].message
    assert "4 undelivered notifications and 9 queued messages" in events[0].message
    world.clock.advance(seconds=120)
    await world.run()
    assert world.calls("clear_webhooks_queue") == 1


async def test_a_block_clears_once(world: World) -> None:
    world.body = body({"clearOnAccountChange": True})
    await world.run()
    world.api.state = InstanceState.BLOCKED
    outcome = await world.run()
    assert [e.reason for e in outcome.events if e.reason == "QueuesCleared"] == ["QueuesCleared"]
    await world.run()
    assert world.calls("clear_messages_queue") == 1


async def test_quiet_polls_read_unchanged_counts_themselves_and_refresh_hourly(
    world: World,
) -> None:
    world.body["spec"]["intervals"] = {"stateSeconds": 60, "settingsSeconds": 86400}
    first = await world.run()
    assert first.status.queues is not None
    handed_over = []
    for minute in range(1, 62):
        world.clock.advance(seconds=60)
        if await poll_in(world, world.reconciler) is None:
            handed_over.append(minute)
            outcome = await world.run()
    # Reads every other poll, all by the quiet poll but the one an hour on, which the
    # whole reconcile writes (readAt refreshed) without reading again.
    assert world.calls("get_webhooks_count") == 1 + 30
    assert handed_over == [60]
    assert outcome.status.queues is not None
    assert outcome.status.queues.read_at == "2025-01-01T13:00:00Z"
    assert outcome.status_patch == {"queues": {"readAt": "2025-01-01T13:00:00Z"}}


async def test_a_quiet_poll_hands_a_changed_count_to_the_whole_reconcile(world: World) -> None:
    world.body["spec"]["intervals"] = {"stateSeconds": 60, "settingsSeconds": 86400}
    await world.run()
    world.api.webhooks_count = 5
    world.clock.advance(seconds=60)
    assert await poll_in(world, world.reconciler) is not None  # not due yet
    world.clock.advance(seconds=60)
    assert await poll_in(world, world.reconciler) is None
    outcome = await world.run()
    assert world.calls("get_webhooks_count") == 2  # not read again
    assert outcome.status.queues is not None
    assert outcome.status.queues.incoming == 5


async def test_a_clear_whose_intent_landed_without_an_answer_is_made_once(world: World) -> None:
    # The intent patch reached the API server but its answer never came: the gate held the
    # call back, and status now says "handled". The process knows it never cleared.
    await world.run()
    landed: list[dict[str, Any]] = []

    async def lands_then_times_out(patch: dict[str, Any]) -> None:
        landed.append(patch)
        raise KubeError("status: no answer within the timeout")

    world.body["metadata"]["annotations"][CLEAR_HOOKS] = REQUEST
    await reconcile_in(world, world.reconciler, world.body, lambda: None, lands_then_times_out)
    assert world.calls("clear_webhooks_queue") == 0
    for patch in landed:
        world.body["status"] = apply_merge_patch(world.body["status"], patch)
    assert world.body["status"]["handledActions"]["clearWebhooksQueue"] == REQUEST

    outcome = await world.run()
    assert world.calls("clear_webhooks_queue") == 1
    assert outcome.status.handled_actions["clearWebhooksQueue"] == REQUEST
    world.clock.advance(seconds=120)
    await world.run()
    assert world.calls("clear_webhooks_queue") == 1


async def test_an_account_change_clear_whose_intent_landed_without_an_answer_is_made_once(
    world: World,
) -> None:
    # clearOnAccountChange records its intent in status.queues (the new number). If that
    # patch lands but its answer never comes, status says "cleared for this number" while
    # nothing was cleared: the process knows, and clears once on its next reconcile.
    world.body = body({"clearOnAccountChange": True})
    await world.run()
    world.api.state = InstanceState.NOT_AUTHORIZED  # another phone is linked
    await world.run()
    world.api.state = InstanceState.AUTHORIZED
    world.api.settings = Settings.model_validate({**HOOKED, "wid": "79110000000@c.us"})
    world.api.wa = WaSettings(phone="79110000000", device_id="dev-2", avatar="")
    world.clock.advance(seconds=400)  # settings re-read
    landed: list[dict[str, Any]] = []

    async def lands_then_times_out(patch: dict[str, Any]) -> None:
        landed.append(patch)
        raise KubeError("status: no answer within the timeout")

    await reconcile_in(world, world.reconciler, world.body, lambda: None, lands_then_times_out)
    assert world.calls("clear_webhooks_queue") == 0
    for patch in landed:
        world.body["status"] = apply_merge_patch(world.body["status"], patch)
    assert world.body["status"]["queues"]["accountWid"] == "79110000000@c.us"

    world.clock.advance(seconds=30)
    outcome = await world.run()
    assert world.calls("clear_webhooks_queue") == 1
    assert world.calls("clear_messages_queue") == 1
    assert [e.reason for e in outcome.events].count("QueuesCleared") == 1
    world.clock.advance(seconds=120)
    await world.run()
    assert world.calls("clear_webhooks_queue") == 1
