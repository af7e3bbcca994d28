"""The instance driver's pure parts: which objects need a finalizer, which are settled."""

from __future__ import annotations

from typing import Any

from whatsapp_operator import constants
from whatsapp_operator.run.instances import _pack, _slim, is_settled, status_of, wants_finalizer
from whatsapp_operator.run.runtime import Entry


def body(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "a",
            "generation": 3,
            "annotations": {},
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {"intervals": {"stateSeconds": 30}},
        "status": {
            "observedGeneration": 3,
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Synced", "status": "True"},
            ],
            **status,
        },
    }


def test_only_delete_policy_needs_a_finalizer() -> None:
    assert wants_finalizer({"spec": {"deletionPolicy": "Delete"}})
    assert not wants_finalizer({"spec": {"deletionPolicy": "Orphan"}})
    assert not wants_finalizer({"spec": {}})


def test_settled_means_reconciled_ready_synced_and_no_action_waiting() -> None:
    assert is_settled(body())
    stale = body()
    stale["metadata"]["generation"] = 4
    assert not is_settled(stale)
    not_ready = body(conditions=[{"type": "Ready", "status": "False"}])
    assert not is_settled(not_ready)
    annotation = constants.ACTION_ANNOTATIONS[constants.Action.REBOOT]
    asked = body()
    asked["metadata"]["annotations"][annotation] = "2026-11-30T00:00:00Z"
    assert not is_settled(asked)
    handled = body(handledActions={constants.Action.REBOOT.value: "2026-11-30T00:00:00Z"})
    handled["metadata"]["annotations"][annotation] = "2026-11-30T00:00:00Z"
    assert is_settled(handled)
    # Re-applied older requests and values that are not timestamps wait for nothing.
    handled["metadata"]["annotations"][annotation] = "2026-11-29T00:00:00Z"
    assert is_settled(handled)
    handled["metadata"]["annotations"][annotation] = "manual-1"
    assert is_settled(handled)


def test_kept_bodies_drop_managed_fields_without_touching_the_original() -> None:
    original = body()
    kept = _slim(original)
    assert "managedFields" not in kept["metadata"]
    assert "managedFields" in original["metadata"]
    assert kept["spec"] == original["spec"]


def test_the_status_is_kept_packed_and_our_last_write_wins() -> None:
    watched = body()
    entry = Entry(body=_slim(watched), seen_status=_pack(watched["status"]))
    assert "status" not in entry.body
    assert status_of(entry) == watched["status"]
    written = {**watched["status"], "lastError": "ours"}
    entry.written_status = _pack(written)
    assert status_of(entry) == written
    # A reconcile in progress has its intent unpacked; it wins over both.
    entry.last_status = {"observedGeneration": 9}
    assert status_of(entry) == {"observedGeneration": 9}
    assert status_of(Entry(body={})) == {}
