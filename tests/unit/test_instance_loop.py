"""The WhatsAppInstance loop (`run/instances.py`) against one stored object in memory:
wake-ups during a reconcile, fenced status and intent writes, objects leaving the shard.
"""

from __future__ import annotations

import asyncio
import copy
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from support.fakes import FakeGreenApiFactory, FakeInstanceApi, FakeSecrets, FixedClock
from whatsapp_operator import constants
from whatsapp_operator.config import OperatorConfig
from whatsapp_operator.decide.linking import secret_name
from whatsapp_operator.decide.statusdiff import apply_merge_patch
from whatsapp_operator.metrics import Metrics
from whatsapp_operator.ports import KubeError
from whatsapp_operator.run.instances import Instances, status_of
from whatsapp_operator.run.loop import trigger_of
from whatsapp_operator.run.reconcile import Reconciler
from whatsapp_operator.run.runtime import Runtime
from whatsapp_operator.wire.models import Settings

NS, NAME, UID = "team-a", "sales", "5f0c1d2e-uid"
INSTANCE_ID = 1101000001
TOKEN = "tokSUPERSECRET0123456789abcdef0123456789abcdef"
T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
HOOK = "https://hooks.example.com/wa"


def body(webhook: str = HOOK, generation: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "metadata": {
            "name": NAME,
            "namespace": NS,
            "uid": UID,
            "generation": generation,
            "resourceVersion": "1",
        },
        "spec": {
            "instance": {
                "id": INSTANCE_ID,
                "apiUrl": "https://1101.api.greenapi.com",
                "tokenSecretRef": {"name": "wa-token"},
            },
            "settings": {"webhookUrl": webhook},
        },
    }


@dataclass
class Stored:
    """One WhatsAppInstance as the API server holds it, with resourceVersion preconditions."""

    obj: dict[str, Any]
    version: int = 1
    refused: int = 0
    reads: int = 0
    status_writes: int = 0
    deleted_secrets: list[str] = field(default_factory=list)
    exists: bool = True

    def _write(self, resource_version: str | None) -> str:
        if resource_version and resource_version != str(self.version):
            self.refused += 1
            raise KubeError("the object changed meanwhile", status=409)
        self.version += 1
        self.obj["metadata"]["resourceVersion"] = str(self.version)
        return str(self.version)

    def edit(self, webhook: str) -> dict[str, Any]:
        """A person's spec edit: a new generation and resourceVersion."""
        self.obj["spec"]["settings"]["webhookUrl"] = webhook
        self.obj["metadata"]["generation"] += 1
        self._write(None)
        return copy.deepcopy(self.obj)


class FakeKube:
    """The Kubernetes calls of the loop, on one `Stored` object."""

    def __init__(self, stored: Stored) -> None:
        self.stored = stored

    async def patch_status(
        self,
        namespace: str,
        name: str,
        status: dict[str, Any],
        plural: str = constants.PLURAL,
        resource_version: str | None = None,
    ) -> str:
        version = self.stored._write(resource_version)
        self.stored.status_writes += 1
        self.stored.obj["status"] = apply_merge_patch(self.stored.obj.get("status") or {}, status)
        return version

    async def annotate_at(
        self, namespace: str, name: str, annotations: dict[str, str | None], resource_version: str
    ) -> str:
        version = self.stored._write(resource_version)
        kept = self.stored.obj["metadata"].setdefault("annotations", {})
        kept.update({k: v for k, v in annotations.items() if v is not None})
        return version

    async def set_finalizers(
        self, namespace: str, name: str, finalizers: list[str], resource_version: str
    ) -> dict[str, Any]:
        version = self.stored._write(resource_version)
        self.stored.obj["metadata"]["finalizers"] = list(finalizers)
        return {"finalizers": list(finalizers), "resourceVersion": version}

    async def read_instance(self, namespace: str, name: str) -> dict[str, Any]:
        self.stored.reads += 1
        if not self.stored.exists:
            raise KubeError("not found", status=404, retryable=False)
        return copy.deepcopy(self.stored.obj)

    async def delete_secret(self, namespace: str, name: str, *, owner_uid: str, role: str) -> bool:
        self.stored.deleted_secrets.append(name)
        return True

    def expect_secret(self, namespace: str, name: str) -> None:
        pass

    def forget_secret(self, namespace: str, name: str) -> None:
        pass


@dataclass
class Process:
    """One operator process: its loop over the shared object."""

    instances: Instances
    posted: list[str] = field(default_factory=list)


def process(stored: Stored, api: FakeInstanceApi, clock: FixedClock) -> Process:
    secrets = FakeSecrets()
    secrets.put(NS, "wa-token", {"apiTokenInstance": TOKEN}, version="100")
    factory = FakeGreenApiFactory(api)
    runtime = Runtime(
        config=OperatorConfig(),
        green_api=cast(Any, factory),
        kube=cast(Any, FakeKube(stored)),
        reconciler=Reconciler(factory, secrets, clock, random.Random(7)),
        partners=cast(Any, None),
        metrics=Metrics(),
        profiles=cast(Any, None),
    )
    posted: list[str] = []
    instances = Instances(
        runtime, lambda _b, events: posted.extend(e.reason for e in events), random.Random(1)
    )
    return Process(instances, posted)


@pytest.fixture
def api() -> FakeInstanceApi:
    return FakeInstanceApi(settings=Settings.model_validate({"webhookUrl": HOOK}))


@pytest.fixture
def stored() -> Stored:
    return Stored(copy.deepcopy(body()))


async def test_a_change_during_a_reconcile_runs_a_whole_reconcile_right_after(
    stored: Stored, api: FakeInstanceApi
) -> None:
    """The reconcile that finds everything in sync is slow; the spec is edited meanwhile.
    The step after it is a whole reconcile at once (not a quiet poll): the edit is applied."""
    one = process(stored, api, FixedClock(T0))
    one.instances.observe("ADDED", copy.deepcopy(stored.obj))
    assert await one.instances.step(UID) is not None
    one.instances.observe("MODIFIED", copy.deepcopy(stored.obj))  # the watch shows our write
    assert api.writes == []  # in sync: a quiet object from now on

    release = asyncio.Event()
    reading = asyncio.Event()
    get_state = api.get_state

    async def slow_get_state() -> Any:
        reading.set()
        await release.wait()
        return await get_state()

    api.get_state = slow_get_state  # type: ignore[method-assign]
    entry = one.instances.runtime.entries[UID]
    entry.wake()  # e.g. an action annotation: a whole reconcile, which is slow
    running = asyncio.create_task(one.instances.step(UID))
    await reading.wait()
    one.instances.observe("MODIFIED", stored.edit("https://hooks.example.com/v2"))
    release.set()
    assert await running == 0.0  # run again at once: the edit came after it read the body
    api.get_state = get_state  # type: ignore[method-assign]

    await one.instances.step(UID)
    assert [w.to_wire() for w in api.writes] == [{"webhookUrl": "https://hooks.example.com/v2"}]
    assert stored.obj["status"]["observedGeneration"] == 2
    assert (stored.reads, stored.refused) == (0, 0)


async def test_two_writers_holding_one_object_make_one_set_settings(
    stored: Stored, api: FakeInstanceApi
) -> None:
    """Two processes hold the same object (a handover, a shard move): the one whose copy is
    stale is refused at its intent record, re-reads, and does not send setSettings again."""
    stored.obj["spec"]["settings"]["webhookUrl"] = "https://hooks.example.com/v2"
    clock = FixedClock(T0)
    first, second = process(stored, api, clock), process(stored, api, clock)
    for one in (first, second):
        one.instances.observe("ADDED", copy.deepcopy(stored.obj))

    await first.instances.step(UID)
    assert len(api.writes) == 1
    assert await second.instances.step(UID) == 0.0  # refused: re-read, re-plan at once
    assert stored.refused == 1
    assert stored.reads == 1
    assert "IntentNotRecorded" not in second.posted
    await second.instances.step(UID)
    assert len(api.writes) == 1
    assert stored.refused == 1
    assert stored.obj["status"]["lastApplied"]["fields"] == ["webhookUrl"]


async def test_a_loop_costs_no_extra_call_without_a_conflict(
    stored: Stored, api: FakeInstanceApi
) -> None:
    """Fencing is free when nobody else writes: no read, no refusal, over several steps."""
    stored.obj["spec"]["settings"]["webhookUrl"] = "https://hooks.example.com/v2"
    one = process(stored, api, FixedClock(T0))
    one.instances.observe("ADDED", copy.deepcopy(stored.obj))
    entry = one.instances.runtime.entries[UID]
    for _ in range(3):
        entry.wake()
        await one.instances.step(UID)
    assert len(api.writes) == 1
    assert (stored.reads, stored.refused) == (0, 0)
    assert stored.status_writes >= 2  # the intent and the status


async def test_an_object_that_left_the_shard_keeps_its_codes_and_its_step_stops(
    stored: Stored, api: FakeInstanceApi
) -> None:
    """The watch reports DELETED for an object relabelled to another shard: the step under
    way makes no GREEN-API write after that, and the linking Secret stays."""
    stored.obj["spec"]["settings"]["webhookUrl"] = "https://hooks.example.com/v2"
    one = process(stored, api, FixedClock(T0))
    one.instances.observe("ADDED", copy.deepcopy(stored.obj))
    release = asyncio.Event()
    reading = asyncio.Event()
    get_settings = api.get_settings

    async def slow_get_settings() -> Any:
        reading.set()
        await release.wait()
        return await get_settings()

    api.get_settings = slow_get_settings  # type: ignore[method-assign]
    entry = one.instances.runtime.entries[UID]
    entry.memory = replace(entry.memory, linking_secret_removed=False)
    running = asyncio.create_task(one.instances.step(UID))
    await reading.wait()
    one.instances.observe("DELETED", copy.deepcopy(stored.obj))
    release.set()
    assert await running is None
    await asyncio.gather(*one.instances.runtime.background)
    assert api.writes == []
    assert stored.status_writes == 0
    assert stored.deleted_secrets == []
    assert UID not in one.instances.runtime.entries


async def test_a_really_deleted_object_loses_its_codes(
    stored: Stored, api: FakeInstanceApi
) -> None:
    one = process(stored, api, FixedClock(T0))
    one.instances.observe("ADDED", copy.deepcopy(stored.obj))
    await one.instances.step(UID)
    entry = one.instances.runtime.entries[UID]
    entry.memory = replace(entry.memory, linking_secret_removed=False)
    stored.exists = False
    one.instances.observe("DELETED", copy.deepcopy(stored.obj))
    await asyncio.gather(*one.instances.runtime.background)
    assert stored.deleted_secrets == [secret_name(NAME)]


def deleting_behind_a_stale_version(stored: Stored, api: FakeInstanceApi) -> Process:
    """An object being deleted with our finalizer on it, seen by a process whose copy is one
    version behind: another write whose watch event this process never sees."""
    stored.obj["metadata"]["finalizers"] = [constants.INSTANCE_FINALIZER]
    stored.obj["metadata"]["deletionTimestamp"] = "2025-01-01T12:00:00Z"
    one = process(stored, api, FixedClock(T0))
    one.instances.observe("ADDED", copy.deepcopy(stored.obj))
    stored._write(None)
    return one


async def test_a_refused_finalizer_write_rereads_instead_of_repeating_a_stale_version(
    stored: Stored, api: FakeInstanceApi
) -> None:
    """The watch may never show a version (kopf delivers the latest of a burst): a finalizer
    write refused for a stale resourceVersion re-reads the object and succeeds next, rather
    than being refused on every retry while the deletion hangs."""
    one = deleting_behind_a_stale_version(stored, api)

    assert await one.instances.step(UID) == 0.0  # refused: re-read, try again at once
    assert (stored.refused, stored.reads) == (1, 1)
    await one.instances.step(UID)
    assert stored.obj["metadata"]["finalizers"] == []
    assert stored.refused == 1


async def test_an_object_that_cannot_be_re_read_backs_off_instead_of_looping(
    stored: Stored, api: FakeInstanceApi
) -> None:
    """A refused re-read (RBAC, an API server in trouble) must not turn a stale version into
    a hot loop: the step backs off like any failure."""
    one = deleting_behind_a_stale_version(stored, api)
    kube = cast(FakeKube, one.instances.runtime.kube)

    async def refused(namespace: str, name: str) -> dict[str, Any]:
        raise KubeError("the API server refused the operator (403)", status=403, retryable=False)

    kube.read_instance = refused  # type: ignore[method-assign]
    delay = await one.instances.step(UID)
    assert delay is not None
    assert delay >= 1.0


@pytest.mark.parametrize(
    "annotation", [constants.ANNOTATION_CONFIRM_CREATE, constants.ANNOTATION_INSTANCE_ID]
)
def test_the_annotations_a_stalled_creation_asks_a_person_for_wake_the_object(
    annotation: str,
) -> None:
    # CreateResultUnknown and CreateResultAmbiguous stall the object (re-checked every
    # 5 minutes) and ask a person for one of these: the answer must be acted on at once.
    body: dict[str, Any] = {"metadata": {"generation": 1, "annotations": {}}}
    answered = {"metadata": {"generation": 1, "annotations": {annotation: "k8s:ns/name#1"}}}
    assert trigger_of(answered) != trigger_of(body)


async def test_after_its_own_write_an_object_keeps_one_packed_status(
    stored: Stored, api: FakeInstanceApi
) -> None:
    """Once this process has written a status, that is the status it reads: the watch's
    copies of it are not kept beside it (a second packed status per object)."""
    one = process(stored, api, FixedClock(T0))
    one.instances.observe("ADDED", copy.deepcopy(stored.obj))
    entry = one.instances.runtime.entries[UID]
    assert entry.seen_status == ""
    assert entry.written_status == ""
    await one.instances.step(UID)
    assert entry.written_status
    assert entry.seen_status == ""
    one.instances.observe("MODIFIED", copy.deepcopy(stored.obj))  # the watch shows our write
    one.instances.observe("MODIFIED", stored.edit("https://hooks.example.com/v2"))
    assert entry.seen_status == ""
    assert status_of(entry) == stored.obj["status"]
    # The edit is still seen, and reconciled from the status this process wrote.
    await one.instances.step(UID)
    assert [w.to_wire() for w in api.writes] == [{"webhookUrl": "https://hooks.example.com/v2"}]
    assert stored.obj["status"]["observedGeneration"] == 2
