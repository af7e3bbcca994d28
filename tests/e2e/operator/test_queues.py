"""GREEN-API's queues end to end: the operator as a process, the real API server, the emulator.

* a webhook receiver that starts failing (notifications pile up in the incoming queue)
  turns WebhookDelivery False within the growth window and a few checks, Ready staying
  True (not opted in), and True again once it recovers; the counts cost at most one
  extra GREEN-API call per state poll;
* a clear requested by annotation is made once, echoed in handledActions, and not again
  after the operator restarts (counted on the emulator).

Small intervals (state poll 10 s, checks every 20 s, a 30 s window) keep this short.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.kube_helpers import action_stamp, condition, has_condition, wait_for
from tests.e2e.operator.harness import (
    FAST_INTERVALS,
    Emulator,
    OperatorProcess,
    Scenario,
    module_operator,
)
from whatsapp_operator import constants
from whatsapp_operator.devtools.cluster import KubeCluster

HOOK = "https://hooks.example.com/wa"
CHECK_SECONDS = 2 * FAST_INTERVALS["stateSeconds"]
WINDOW_SECONDS = 30
QUEUES = {"checkSeconds": CHECK_SECONDS, "growthWindowSeconds": WINDOW_SECONDS}


@pytest.fixture(scope="module")
def operator(
    kube_cluster: KubeCluster, module_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The module's operator; `restart` below swaps its process in place."""
    with module_operator(kube_cluster.kubeconfig, module_prefix, tmp_path_factory) as running:
        yield running


def restart(operator: OperatorProcess, kube_cluster: KubeCluster, module_prefix: str) -> None:
    """Stop the operator and start another on the same namespaces and log."""
    assert operator.stop() == 0
    fresh = OperatorProcess.start(
        namespace=f"{module_prefix}-*",
        kubeconfig=kube_cluster.kubeconfig,
        log_path=operator.log_path,
    )
    operator.process, operator.liveness, operator.metrics = (
        fresh.process,
        fresh.liveness,
        fresh.metrics,
    )


def create_hooked(scenario: Scenario, name: str) -> int:
    id_instance = scenario.seed(
        name, state="authorized", settings={"webhookUrl": HOOK, "incomingWebhook": "yes"}
    )
    scenario.create(
        name, settings={"webhookUrl": HOOK, "incomingWebhook": True}, queues=dict(QUEUES)
    )
    scenario.ready(name)
    return id_instance


def receiver(emulator: Emulator, id_instance: int, **body: object) -> None:
    emulator.http.post(
        f"/admin/instances/{id_instance}/webhook-receiver", json=body
    ).raise_for_status()


def test_a_failing_receiver_turns_webhook_delivery_false_then_true(
    scenario: Scenario, emulator: Emulator
) -> None:
    id_instance = create_hooked(scenario, "hooked")
    scenario.instances.wait_condition("hooked", "WebhookDelivery", "True", "Delivering")
    polls_before = emulator.calls(id_instance, "getStateInstance")
    reads_before = emulator.calls(id_instance, "getWebhooksCount")

    receiver(emulator, id_instance, failing=True, ratePerSecond=1)
    # The first read that sees growth starts the streak (within one check); the first read
    # after the window ends it False (one more check, plus the poll's jitter).
    failing = scenario.instances.wait_condition(
        "hooked",
        "WebhookDelivery",
        "False",
        "QueueGrowing",
        timeout=WINDOW_SECONDS + 3 * CHECK_SECONDS + 15,
    )
    assert has_condition(failing, "Ready", "True")  # not opted in
    queues = failing["status"]["queues"]
    assert queues["incoming"] > queues["growthBase"]

    receiver(emulator, id_instance, failing=False, drainPerSecond=50)
    recovered = scenario.instances.wait_condition(
        "hooked", "WebhookDelivery", "True", timeout=2 * CHECK_SECONDS + 15
    )
    assert has_condition(recovered, "Ready", "True")

    polls = emulator.calls(id_instance, "getStateInstance") - polls_before
    reads = emulator.calls(id_instance, "getWebhooksCount") - reads_before
    # Two counts per read: at most one extra call per state poll on average, plus the
    # reads whole reconciles made on their own (at most one each for the two turns).
    assert 2 * reads <= polls + 4, (reads, polls)


def test_a_clear_is_made_once_across_a_restart(
    scenario: Scenario,
    emulator: Emulator,
    operator: OperatorProcess,
    kube_cluster: KubeCluster,
    module_prefix: str,
) -> None:
    id_instance = create_hooked(scenario, "cleared")
    receiver(emulator, id_instance, failing=True, ratePerSecond=5)
    stamp = action_stamp()
    scenario.instances.annotate("cleared", {constants.ANNOTATION_CLEAR_WEBHOOKS_QUEUE: stamp})
    scenario.instances.wait(
        "cleared",
        lambda obj: (
            (obj.get("status") or {}).get("handledActions", {}).get("clearWebhooksQueue") == stamp
        ),
        "clearWebhooksQueue in handledActions",
    )
    assert emulator.calls(id_instance, "clearWebhooksQueue") == 1

    restart(operator, kube_cluster, module_prefix)
    polls = emulator.calls(id_instance, "getStateInstance")
    # The new process has looked at the object (its first reconcile and a poll after it).
    wait_for(
        lambda: emulator.calls(id_instance, "getStateInstance") >= polls + 2,
        "two state polls by the restarted operator",
        4 * FAST_INTERVALS["stateSeconds"],
    )
    assert emulator.calls(id_instance, "clearWebhooksQueue") == 1
    obj = scenario.instances.get("cleared")
    assert obj["status"]["handledActions"]["clearWebhooksQueue"] == stamp
    assert condition(obj, "Stalled") is not None
    receiver(emulator, id_instance, failing=False)
