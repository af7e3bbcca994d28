"""The kopf floor: a trivial level-based operator for WhatsAppInstances (op A).

Run by the scale benchmark as `kopf run --standalone --namespace NS benchmarks/floor_operator.py`.
It stands for the least any kopf operator costs on the same CRD, control plane and
machine: one handler for create, update and resume that awaits a 20 ms stand-in for an
external call and patches `status.observedGeneration` with Ready=True and Synced=True
conditions, only when they are not already there. No timers or daemons, so kopf adds no
finalizer and an idle fleet costs nothing. See docs/performance.md.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import kopf

GROUP, VERSION, PLURAL = "whatsapp-operator.io", "v1alpha1", "whatsappinstances"
# The stand-in for one GREEN-API round trip (the floor measurement used the same).
EXTERNAL_CALL_SECONDS = 0.020
CONDITIONS = (("Ready", "Floor"), ("Synced", "Floor"))


def _conditions(generation: int, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ready and Synced True for `generation`; a condition already True keeps its time."""
    since = {
        c.get("type"): c.get("lastTransitionTime") for c in previous if c.get("status") == "True"
    }
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        {
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": "",
            "lastTransitionTime": since.get(kind) or now,
            "observedGeneration": generation,
        }
        for kind, reason in CONDITIONS
    ]


def _current(generation: int, status: dict[str, Any]) -> bool:
    """Whether status already says Ready and Synced for `generation`."""
    if status.get("observedGeneration") != generation:
        return False
    seen = {c.get("type"): c for c in status.get("conditions") or []}
    return all(
        seen.get(kind, {}).get("status") == "True"
        and seen.get(kind, {}).get("observedGeneration") == generation
        for kind, _reason in CONDITIONS
    )


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """kopf's defaults, but no Events for handler outcomes (the floor measurement had none)."""
    settings.posting.enabled = False


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
async def reconcile(meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, **_: Any) -> None:
    """Level-based: look at the object as it is; write status only when it would change."""
    await asyncio.sleep(EXTERNAL_CALL_SECONDS)
    generation = int(meta.get("generation") or 0)
    current = dict(status)
    if _current(generation, current):
        return
    patch.status["observedGeneration"] = generation
    patch.status["conditions"] = _conditions(generation, list(current.get("conditions") or []))
