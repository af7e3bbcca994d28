"""THE crash test: SIGKILL the operator at random moments while it creates and deletes.

`RESOURCES` WhatsAppInstances (deletionPolicy Delete) are applied at once with no operator
running. Then, many times: start the operator, let it run for a random 0.05-1.5 s (the
injected fault, not a wait), SIGKILL it. The emulator makes it hard: createInstance is slow
(300 ms), a third of its answers are lost after the instance was made (the operator times
out), and GREEN-API lists a new instance only 2 s after creating it. After the creation
phase the operator runs until every resource is Ready, and then:

* every resource has exactly one live GREEN-API instance (its instance-id annotation),
* no live instance of this namespace is owned by no resource, no id is shared,
* GREEN-API created exactly one instance per resource, ever (a restart adopts, never
  re-creates). A kill between writing the marker and the request reaching GREEN-API leaves
  a marker nothing answers to: the operator stops that resource with CreateResultUnknown
  after the listing grace and the test, as the person the message asks for, checks that
  no instance carries the marker and confirms with the confirm-create annotation,
* no token leaked into any of the operator's logs, the Events or the resources.

Then every resource is deleted and the kills go on during the deletions; afterwards no
live instance of the namespace is left. Sizes: `WAOP_E2E_CRASH_RESOURCES` (default 20) and
`WAOP_E2E_CRASH_KILLS` (default 200, split 60/40 between creation and deletion).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from support.kube_helpers import create_namespace, delete_namespace, has_condition, wait_for
from tests.e2e.operator.harness import OperatorProcess, Secrets, ready_and_synced
from tests.e2e.partner.conftest import PartnerEmulator, PartnerScene, instance_id_of
from whatsapp_operator import constants
from whatsapp_operator.devtools.cluster import KubeCluster

RESOURCES = int(os.environ.get("WAOP_E2E_CRASH_RESOURCES", "20"))
KILLS = int(os.environ.get("WAOP_E2E_CRASH_KILLS", "200"))
CREATION_KILLS = KILLS * 3 // 5
SLOW_OR_LOST_CREATE = [
    {"method": "createInstance", "latencyMs": 300, "loseAnswerRate": 0.3, "loseAnswerMs": 10_000}
]
# Lost answers cost 4 s, not the default 20 s. Any creation GREEN-API started is listed
# within seconds here (2 s lag), so a marker is looked up for 30 s, not 10 minutes.
OPERATOR_ENV = {"WAOP_GREENAPI_TIMEOUT": "4", "WAOP_CREATE_LISTING_GRACE": "30"}


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
    emulator.patch_config({"timings": {"creationSeconds": 1.0, "listingLagSeconds": 2.0}})
    create_namespace(api, namespace)
    scene = PartnerScene(
        api=api, namespace=namespace, emulator=emulator, leaks=leaks, partner_token=partner_token
    )
    yield scene
    emulator.clear_faults()
    emulator.patch_config({"timings": {"listingLagSeconds": 0.0}})
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
            namespace=self.namespace,
            kubeconfig=self.cluster.kubeconfig,
            log_path=path,
            env=OPERATOR_ENV,
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


def kill_repeatedly(lives: Lives, kills: int, rng: random.Random) -> int:
    for _ in range(kills):
        lives.start()
        time.sleep(rng.uniform(0.05, 1.5))  # the fault injection: kill at a random moment
        lives.kill()
    return kills


def confirm_if_unknown(scene: PartnerScene, name: str) -> bool:
    """Wait for Ready or CreateResultUnknown; answer the latter as its message says."""

    def settled(obj: dict[str, Any]) -> bool:
        return ready_and_synced(obj) or has_condition(obj, "Stalled", "True", "CreateResultUnknown")

    obj = scene.instances.wait(name, settled, "Ready, or stalled on CreateResultUnknown", 180)
    if ready_and_synced(obj):
        return False
    marker = obj["metadata"]["annotations"][constants.ANNOTATION_CREATE_PENDING]
    assert all(i["name"] != marker for i in scene.ours(live_only=False)), (
        f"{name}: CreateResultUnknown although GREEN-API has an instance named {marker}"
    )
    scene.instances.annotate(name, {constants.ANNOTATION_CONFIRM_CREATE: marker})
    return True


def test_sigkill_during_creation_and_deletion_never_duplicates_or_leaks(
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
    emulator.set_faults(SLOW_OR_LOST_CREATE)
    for name in names:
        scene.create_partnered(name, deletionPolicy="Delete")

    lives = Lives(kube_cluster, scene.namespace, tmp_path)
    started = time.monotonic()
    try:
        kills = kill_repeatedly(lives, CREATION_KILLS, rng)
        creation_seconds = time.monotonic() - started
        left_pending = len(pending(scene.instances.list()))
        lives.start()
        confirmed = [confirm_if_unknown(scene, name) for name in names]
        for name in names:
            scene.instances.wait(name, ready_and_synced, "Ready and Synced after the crashes", 180)
        objects = scene.instances.list()
        lives.stop()
    except BaseException:
        lives.stop()
        raise

    summary = (
        f"seed={seed} kills during creation={kills} in {creation_seconds:.0f} s; creations "
        f"left pending by the last kill: {left_pending}; creations confirmed by hand after "
        f"CreateResultUnknown: {sum(confirmed)}"
    )
    print(summary)
    ids = {obj["metadata"]["name"]: instance_id_of(obj) for obj in objects}
    assert None not in ids.values(), ids
    assert len(set(ids.values())) == len(names), f"two resources share an instance: {ids}"
    live = scene.ours()
    for obj in objects:
        # A confirmed re-creation names its instance `<marker>.2`.
        marker = scene.marker(obj)
        mine = [i["idInstance"] for i in live if i["name"].split(".")[0] == marker]
        assert mine == [instance_id_of(obj)], (
            f"{obj['metadata']['name']}: live instances named {marker}*: {mine}; " + summary
        )
        annotations = obj["metadata"]["annotations"]
        assert constants.ANNOTATION_CREATE_PENDING not in annotations
    unowned = {i["idInstance"] for i in live} - set(ids.values())
    assert not unowned, f"instances no resource owns: {unowned}; {summary}"
    all_ever = scene.ours(live_only=False)
    assert len(all_ever) == RESOURCES, f"{len(all_ever)} instances were created; {summary}"

    # Deletion, killed at random moments too.
    for name in names:
        scene.instances.delete(name)
    try:
        kills += kill_repeatedly(lives, KILLS - CREATION_KILLS, rng)
        lives.start()
        wait_for(lambda: not scene.instances.list(), "all resources deleted", 180)
    finally:
        lives.stop()
    summary += f"; kills in all: {kills}"
    print(summary)
    assert kills >= KILLS
    left = [i["idInstance"] for i in scene.ours()]
    assert left == [], f"live instances after deleting every resource: {left}; {summary}"
    assert len(scene.ours(live_only=False)) == RESOURCES, summary

    # No token in any of the operator's logs, Events or the resources.
    scene.remember_tokens()
    leaks.keep(scene.api, scene.namespace)
    places = {"the operator's logs": lives.log_text(), **leaks.archive}
    found = leaks.found_in(places)
    assert found == [], "secrets leaked:\n" + "\n".join(found)
