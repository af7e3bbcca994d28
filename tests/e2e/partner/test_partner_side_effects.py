"""Partner mode under faults: billed instances are created once and never leak.

Counted on the emulator's side:

* resources applied and deleted after a random 0-3 s (deletionPolicy Delete), while
  createInstance answers slowly or not at all and GREEN-API lists new instances late:
  afterwards no live instance of the namespace is left;
* a namespace deleted with its partner, the partner's Secret and Delete-policy
  instances in it: the namespace goes, and the instances are deleted too.

Size: `WAOP_E2E_CHURN` resources (default 20).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.kube_helpers import wait_for
from tests.e2e.operator.harness import OperatorProcess, ready_and_synced
from tests.e2e.partner.conftest import PartnerEmulator, PartnerScene, instance_id_of
from whatsapp_operator.devtools.cluster import KubeCluster

CHURN = int(os.environ.get("WAOP_E2E_CHURN", "20"))
# The operator gives up on an answer after 4 s here (20 s by default), so lost answers
# cost the test seconds, not minutes; the emulator holds a lost answer for 10 s.
OPERATOR_ENV = {"WAOP_GREENAPI_TIMEOUT": "4", "WAOP_CREATE_LISTING_GRACE": "120"}
# createInstance: a third of the answers are lost after the instance was made; all are
# slow, so deletions land while calls are in flight; new instances are listed 3 s late.
SLOW_OR_LOST_CREATE = [
    {"method": "createInstance", "latencyMs": 400, "loseAnswerRate": 0.3, "loseAnswerMs": 10_000}
]
LISTING_LAG = {"timings": {"listingLagSeconds": 3.0}}


@pytest.fixture(scope="module")
def operator(
    kube_cluster: KubeCluster, module_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log_path = tmp_path_factory.mktemp(module_prefix) / "operator.log"
    running = OperatorProcess.start(
        namespace=f"{module_prefix}-*",
        kubeconfig=kube_cluster.kubeconfig,
        log_path=log_path,
        env=OPERATOR_ENV,
    )
    try:
        yield running
    finally:
        running.stop()


def test_apply_then_delete_at_random_moments_leaves_no_instance(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    scene.partner()
    scene.wait_partner("True", "CredentialsValid")
    emulator.patch_config(LISTING_LAG)  # first: a config patch resets the fault rules
    emulator.set_faults(SLOW_OR_LOST_CREATE)
    names = [f"churn-{n:02d}" for n in range(CHURN)]
    failures: list[BaseException] = []

    def churn(name: str, delay: float) -> None:
        try:
            scene.create_partnered(name, deletionPolicy="Delete")
            time.sleep(delay)  # the fault: a deletion at a random moment of the creation
            scene.instances.delete(name)
        except BaseException as error:  # reported below, with the seed
            failures.append(error)

    threads = [threading.Thread(target=churn, args=(name, rng.uniform(0.0, 3.0))) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, f"seed={seed}: {failures}"
    wait_for(lambda: not scene.instances.list(), f"seed={seed}: all resources deleted", 180.0)
    # GREEN-API may still be finishing a creation it never answered: it must have been
    # deleted too, by the deletion that waited for it.
    emulator.clear_faults()
    live = [i["name"] for i in scene.ours()]
    made = len(scene.ours(live_only=False))
    lost = emulator.counters().get("partner", {}).get("createinstance", {}).get("lost", 0)
    print(f"seed={seed}: {made} instances created for {CHURN} resources, {lost} answers lost")
    assert live == [], f"seed={seed}: live instances left: {live} (of {made} created)"
    assert made <= CHURN, f"seed={seed}: {made} instances for {CHURN} resources"


def test_namespace_deletion_with_partner_and_delete_policy_instances_finishes(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    scene.partner()
    names = ["ns-a", "ns-b", "ns-c"]
    for name in names:
        scene.create_partnered(name, deletionPolicy="Delete")
    ids = []
    for name in names:
        obj = scene.instances.wait(name, ready_and_synced, "Ready and Synced", 90.0)
        ids.append(instance_id_of(obj))
    scene.remember_tokens()

    core = client.CoreV1Api(scene.api)
    core.delete_namespace(scene.namespace)

    def namespace_gone() -> bool:
        try:
            core.read_namespace(scene.namespace)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    # The namespace controller deletes the partner and its Secret at once; the instances'
    # finalizers still hold. The operator must delete the GREEN-API instances and let go.
    wait_for(namespace_gone, f"namespace {scene.namespace} deleted", 120.0)
    live = {i["idInstance"] for i in scene.ours()}
    assert not (live & set(ids)), f"instances left live after the namespace went: {live}"
