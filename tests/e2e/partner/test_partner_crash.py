"""THE crash test: SIGKILL the operator at random moments while it creates instances.

Ten WhatsAppInstances are applied at once with no operator running. Then, at least 50
times: start the operator, let it run for a random 0.05-1.5 s (the injected fault, not a
wait), SIGKILL it. createInstance is slowed by 300 ms in the emulator, so many kills land
while a creation is in flight (GREEN-API creates it, the operator never hears back).
Finally the operator runs normally until every resource is Ready, and then:

* every resource has exactly one live GREEN-API instance (its instance-id annotation),
* no live instance of this namespace is owned by no resource, no id is shared,
* createInstance was called exactly once per resource (a restart adopts, never re-creates),
* no token leaked into any of the operator's logs, the Events or the resources.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from support.kube_helpers import create_namespace, delete_namespace, wait_for
from tests.e2e.operator.harness import OperatorProcess, Secrets, ready_and_synced
from tests.e2e.partner.conftest import PartnerEmulator, PartnerScene, instance_id_of
from whatsapp_operator import constants
from whatsapp_operator.devtools.cluster import KubeCluster

RESOURCES = 10
KILLS = 50
SLOW_CREATE = [{"method": "createInstance", "latencyMs": 300}]


@pytest.fixture
def crash_scene(
    api: client.ApiClient,
    emulator: PartnerEmulator,
    module_prefix: str,
    leaks: Secrets,
    partner_token: str,
) -> Iterator[PartnerScene]:
    """A namespace, but no operator: the test starts and kills its own."""
    namespace = f"{module_prefix}-1"
    emulator.patch_config({"timings": {"creationSeconds": 1.0}})
    create_namespace(api, namespace)
    scene = PartnerScene(
        api=api, namespace=namespace, emulator=emulator, leaks=leaks, partner_token=partner_token
    )
    yield scene
    emulator.clear_faults()
    delete_namespace(api, namespace)


class Lives:
    """The operator processes of one test, each with its own log."""

    def __init__(self, cluster: KubeCluster, namespace: str, logs: Path) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.logs = logs
        self.paths: list[Path] = []
        self.current: OperatorProcess | None = None

    def start(self) -> OperatorProcess:
        path = self.logs / f"operator-{len(self.paths):03d}.log"
        self.paths.append(path)
        self.current = OperatorProcess.start(
            namespace=self.namespace, kubeconfig=self.cluster.kubeconfig, log_path=path
        )
        return self.current

    def kill(self) -> None:
        assert self.current is not None
        self.current.process.kill()  # SIGKILL: no cleanup, no graceful stop
        self.current.process.wait(timeout=10)
        self.current = None

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None

    def log_text(self) -> str:
        return "".join(p.read_text(encoding="utf-8", errors="replace") for p in self.paths)


def pending(objects: list[dict[str, Any]]) -> list[str]:
    """Markers of resources whose creation was started but not recorded."""
    found = []
    for obj in objects:
        annotations = obj["metadata"].get("annotations") or {}
        marker = annotations.get(constants.ANNOTATION_CREATE_PENDING)
        if marker and constants.ANNOTATION_INSTANCE_ID not in annotations:
            found.append(marker)
    return found


def test_sigkill_during_creation_never_duplicates_or_loses_an_instance(
    crash_scene: PartnerScene,
    emulator: PartnerEmulator,
    kube_cluster: KubeCluster,
    tmp_path: Path,
    leaks: Secrets,
) -> None:
    scene = crash_scene
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    scene.partner()
    names = [f"crash-{i:02d}" for i in range(RESOURCES)]
    creates_before = int(
        emulator.counters().get("partner", {}).get("createinstance", {}).get("200", 0)
    )
    emulator.set_faults(SLOW_CREATE)
    for name in names:
        scene.create_partnered(name)

    lives = Lives(kube_cluster, scene.namespace, tmp_path)
    kills = 0
    kills_with_pending = 0
    pending_created_meanwhile = 0
    started = time.monotonic()
    try:
        last_pending: list[str] = []
        for _ in range(KILLS):
            lives.start()
            if last_pending:
                # The killed process's in-flight createInstance calls had the start-up
                # time to finish at GREEN-API: these are the ones a restart must adopt.
                live = {i["name"] for i in scene.ours()}
                pending_created_meanwhile += sum(marker in live for marker in last_pending)
            time.sleep(rng.uniform(0.05, 1.5))  # the fault injection: kill at a random moment
            lives.kill()
            kills += 1
            last_pending = pending(scene.instances.list())
            kills_with_pending += bool(last_pending)
        loop_seconds = time.monotonic() - started
        recorded_during_loop = sum(instance_id_of(o) is not None for o in scene.instances.list())

        emulator.clear_faults()
        lives.start()
        for name in names:
            scene.instances.wait(name, ready_and_synced, "Ready and Synced after the crashes", 120)
        objects = scene.instances.list()
    finally:
        lives.stop()

    summary = (
        f"seed={seed} kills={kills} in {loop_seconds:.0f} s; kills that left a creation "
        f"pending: {kills_with_pending}; pending creations that GREEN-API had made anyway: "
        f"{pending_created_meanwhile}; resources recorded during the loop: "
        f"{recorded_during_loop}/{RESOURCES}"
    )
    print(summary)
    assert kills >= 50

    ids = {obj["metadata"]["name"]: instance_id_of(obj) for obj in objects}
    assert None not in ids.values(), ids
    assert len(set(ids.values())) == len(names), f"two resources share an instance: {ids}"
    live = scene.ours()
    by_name: dict[str, list[int]] = {}
    for item in live:
        by_name.setdefault(item["name"], []).append(item["idInstance"])
    for obj in objects:
        marker = scene.marker(obj)
        assert by_name.get(marker) == [instance_id_of(obj)], (
            f"{obj['metadata']['name']}: live instances named {marker}: {by_name.get(marker)}; "
            + summary
        )
        annotations = obj["metadata"]["annotations"]
        assert constants.ANNOTATION_CREATE_PENDING not in annotations
    unowned = {i["idInstance"] for i in live} - set(ids.values())
    assert not unowned, f"instances no resource owns: {unowned}; {summary}"
    all_ever = scene.ours(live_only=False)
    assert len(all_ever) == RESOURCES, f"{len(all_ever)} instances were created; {summary}"
    # Every createInstance answered 200 made an instance; calls cut off by a kill during the
    # injected latency made none (the emulator drops them), so only the 200s must add up.
    outcomes = emulator.counters().get("partner", {}).get("createinstance", {})
    summary += f"; createInstance outcomes: {outcomes}"
    print(summary)
    assert int(outcomes.get("200", 0)) - creates_before == RESOURCES, summary

    # No token in any of the operator's logs, Events or the resources.
    scene.remember_tokens()
    leaks.keep(scene.api, scene.namespace)
    places = {"the operator's logs": lives.log_text(), **leaks.archive}
    found = leaks.found_in(places)
    assert found == [], "secrets leaked:\n" + "\n".join(found)

    # Release the resources (Orphan) with an operator running, so the namespace can go.
    lives.start()
    try:
        for name in names:
            scene.instances.delete(name)
        wait_for(lambda: not scene.instances.list(), "all resources released", 60)
    finally:
        lives.stop()
