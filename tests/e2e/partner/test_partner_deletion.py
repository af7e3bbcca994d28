"""deletionPolicy end to end: Orphan keeps the GREEN-API instance, Delete logs out and deletes,
an outage or a refused partner call (401) holds the resource (finalizer) until GREEN-API is back
or the policy is Orphan."""

from __future__ import annotations

import time
from typing import Any

from kubernetes.client.exceptions import ApiException

from support.kube_helpers import events_for, has_condition, wait_event, wait_for
from tests.e2e.operator.harness import OperatorProcess, Secrets, assert_no_leaks, ready_and_synced
from tests.e2e.partner.conftest import PartnerEmulator, PartnerScene, instance_id_of, wait_gone
from whatsapp_operator import constants

# Every partner method and every instance method answers 502.
OUTAGE = [{"method": "*", "errorRate": 1.0, "status": 502}]


def events(scene: PartnerScene, name: str) -> list[dict[str, Any]]:
    return events_for(scene.api, scene.namespace, name)


def created(scene: PartnerScene, name: str, **spec: Any) -> int:
    scene.create_partnered(name, **spec)
    obj = scene.instances.wait(name, ready_and_synced, "Ready and Synced", 90)
    id_instance = instance_id_of(obj)
    assert id_instance is not None
    return id_instance


def exists(scene: PartnerScene, name: str) -> bool:
    try:
        scene.instances.get(name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def test_orphan_leaves_the_instance_alive(scene: PartnerScene, emulator: PartnerEmulator) -> None:
    scene.partner()
    id_instance = created(scene, "orph")
    scene.instances.delete("orph")
    wait_gone(scene, "orph")
    left = emulator.instance(id_instance)
    assert left["deleted"] is False
    assert left["state"] == "notAuthorized"
    assert emulator.calls(id_instance, "logout") == 0
    assert [e["reason"] for e in events(scene, "orph") if e["reason"] == "InstanceDeleted"] == []


def test_delete_logs_out_then_deletes(scene: PartnerScene, emulator: PartnerEmulator) -> None:
    scene.partner()
    id_instance = created(scene, "gone", deletionPolicy="Delete")
    emulator.scan(id_instance, "79005556677")
    scene.instances.wait_condition("gone", "Authorized", "True", timeout=40)

    scene.instances.delete("gone")
    wait_gone(scene, "gone")
    final = emulator.instance(id_instance)
    assert final["deleted"] is True
    assert emulator.calls(id_instance, "logout") == 1
    states = [h["stateInstance"] for h in final["history"]]
    assert states[-2:] == ["authorized", "notAuthorized"], states  # logged out before deletion
    wait_event(scene.api, scene.namespace, "gone", "Normal", "LoggedOut")
    wait_event(scene.api, scene.namespace, "gone", "Normal", "InstanceDeleted")
    assert scene.ours() == []


def test_delete_during_an_outage_waits_then_finishes(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    scene.partner()
    id_instance = created(scene, "down", deletionPolicy="Delete")
    emulator.set_faults(OUTAGE)
    scene.instances.delete("down")

    wait_for(
        lambda: [e for e in events(scene, "down") if e["reason"] == "DeletionFailed"],
        "a DeletionFailed event",
        40,
    )
    failed = [e for e in events(scene, "down") if e["reason"] == "DeletionFailed"]
    assert {e["type"] for e in failed} == {"Warning"}
    obj = scene.instances.wait(
        "down",
        lambda o: "Orphan" in (o.get("status") or {}).get("lastError", ""),
        "status.lastError about the failed deletion",
        20,
    )
    assert obj["metadata"]["deletionTimestamp"]
    assert emulator.instance(id_instance)["deleted"] is False

    emulator.clear_faults()
    wait_gone(scene, "down", timeout=60)
    assert emulator.instance(id_instance)["deleted"] is True


def deletions(emulator: PartnerEmulator, outcome: str) -> int:
    """deleteInstanceAccount calls the emulator answered with `outcome` (an HTTP status)."""
    calls = emulator.counters().get("partner", {}).get("deleteinstanceaccount", {})
    return int(calls.get(outcome, 0))


def test_a_partner_401_during_deletion_holds_the_resource_until_it_clears(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    # A partner token rotation in progress: deleteInstanceAccount answers 401 for a while.
    # Credentials that are refused are not credentials that are gone: the resource keeps
    # its finalizer for as many attempts as it takes, says why, and the instance is
    # deleted, once, when the 401s stop.
    scene.partner()
    id_instance = created(scene, "rot", deletionPolicy="Delete")
    refused_before, done_before = deletions(emulator, "401"), deletions(emulator, "200")
    emulator.set_faults([{"method": "deleteInstanceAccount", "errorRate": 1.0, "status": 401}])
    scene.instances.delete("rot")

    # More refused attempts than the 3 after which the resource used to be let go.
    wait_for(
        lambda: deletions(emulator, "401") - refused_before >= 5,
        "five refused deleteInstanceAccount calls",
        120,
    )
    obj = scene.instances.get("rot")
    assert constants.INSTANCE_FINALIZER in obj["metadata"]["finalizers"]
    assert has_condition(obj, "Reconciling", "True", "DeletionRetrying"), obj.get("status")
    assert "401" in obj["status"]["lastError"]
    failed = [e for e in events(scene, "rot") if e["reason"] == "DeletionFailed"]
    assert failed, "a DeletionFailed event"
    assert {e["type"] for e in failed} == {"Warning"}
    assert "401" in failed[-1]["message"]
    assert not [e for e in events(scene, "rot") if e["reason"] == "DeletionAbandoned"]
    assert emulator.instance(id_instance)["deleted"] is False

    emulator.clear_faults()
    # The backoff after five failures is at most 64 s (2 s doubling, full jitter).
    wait_gone(scene, "rot", timeout=120)
    assert emulator.instance(id_instance)["deleted"] is True
    assert deletions(emulator, "200") - done_before == 1


def test_switching_to_orphan_ends_a_failing_deletion(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    scene.partner()
    id_instance = created(scene, "stuck", deletionPolicy="Delete")
    emulator.set_faults(OUTAGE)
    scene.instances.delete("stuck")
    wait_for(
        lambda: len([e for e in events(scene, "stuck") if e["reason"] == "DeletionFailed"]),
        "a DeletionFailed event",
        40,
    )
    assert exists(scene, "stuck")
    switched = time.monotonic()
    scene.instances.patch("stuck", {"spec": {"deletionPolicy": "Orphan"}})
    wait_gone(scene, "stuck", timeout=30)
    took = time.monotonic() - switched
    assert took < 15, f"the deletion took {took:.1f} s to finish after switching to Orphan"
    emulator.clear_faults()
    assert emulator.instance(id_instance)["deleted"] is False


def test_no_secret_in_logs_events_or_resources(
    scene: PartnerScene,
    emulator: PartnerEmulator,
    operator: OperatorProcess,
    leaks: Secrets,
) -> None:
    scene.remember_tokens()
    assert_no_leaks(leaks, operator, emulator, scene.api, scene.namespace)
