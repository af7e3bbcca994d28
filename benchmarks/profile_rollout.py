"""Paced rollout benchmark: a WhatsAppSettingsProfile change across N instances.

Run: `.venv/bin/python benchmarks/profile_rollout.py [--instances 1000] [--max-unavailable 10%]`
(small sizes work too: `--instances 20`).

Seeds N authorized instances in the emulator (real rate limits on, starting 1 s,
settings applied after 2 s), creates one WhatsAppSettingsProfile and N WhatsAppInstances
referring to it, starts the operator and waits for the first revision everywhere. Then
it changes the profile once and measures how long the paced rollout takes (change ->
profile Ready=True RolledOut with N/N updated) and its peak in-flight count, both as the
profile's status reported it and from the emulator's journal (setSettings calls within
one settle window, which is the least time an instance stays in flight).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from kubernetes import client
from rig import FAST_EMULATOR, GROUP, VERSION, Rig, admin

from whatsapp_operator.devtools.polling import wait_until

NAMESPACE = "bench-rollout"
FIRST_ID = 7105200000
SETTLE_SECONDS = 5


def rolled_out(custom: client.CustomObjectsApi, n: int) -> dict[str, Any] | None:
    obj: dict[str, Any] = custom.get_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "whatsappsettingsprofiles", "fleet"
    )
    status = obj.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("reason") == "RolledOut"
        for c in status.get("conditions") or []
    )
    current = status.get("observedGeneration") == obj["metadata"]["generation"]
    return status if current and ready and status.get("updated") == n else None


def journal_peak(url: str, ids: list[int], since: float) -> tuple[int, int]:
    """(setSettings calls after `since`, most of them inside one settle window)."""
    times = []
    for id_instance in ids:
        view = admin(url, f"/admin/instances/{id_instance}")
        times += [float(c["at"]) for c in view["setSettingsLog"] if float(c["at"]) >= since]
    times.sort()
    peak, start = 0, 0
    for end, moment in enumerate(times):
        # 0.9: the journal stamps arrival, the operator its own clock before sending.
        while moment - times[start] >= 0.9 * SETTLE_SECONDS:
            start += 1
        peak = max(peak, end - start + 1)
    return len(times), peak


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--max-unavailable", default="10%")
    args = parser.parse_args()
    n = args.instances
    limit: int | str = args.max_unavailable
    if not str(limit).endswith("%"):
        limit = int(limit)
    with Rig("waop-rollout-", FAST_EMULATOR) as rig:
        url, custom = rig.url, rig.custom
        rig.namespace(NAMESPACE)
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            NAMESPACE,
            "whatsappsettingsprofiles",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "WhatsAppSettingsProfile",
                "metadata": {"name": "fleet"},
                "spec": {
                    "settings": {"incomingWebhook": True},
                    "rollout": {"maxUnavailable": limit},
                },
            },
        )
        spec = {
            "settingsProfileRef": {"name": "fleet"},
            "intervals": {
                "stateSeconds": 30,
                "settingsSeconds": 300,
                "settleSeconds": SETTLE_SECONDS,
            },
        }
        ids = rig.adopted_fleet(NAMESPACE, n, FIRST_ID, spec, state="authorized")
        operator = rig.operator(NAMESPACE)
        started = time.monotonic()
        operator.start()
        wait_until(lambda: rolled_out(custom, n), "first revision", timeout=7200, interval=1.0)
        first = time.monotonic() - started

        emulator_now = float(admin(url, f"/admin/instances/{ids[0]}")["now"])
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            NAMESPACE,
            "whatsappsettingsprofiles",
            "fleet",
            {"spec": {"settings": {"stateWebhook": True}}},
        )
        changed = time.monotonic()
        peak_status = 0

        def done() -> dict[str, Any] | None:
            nonlocal peak_status
            status = rolled_out(custom, n)
            current = (
                custom.get_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, "whatsappsettingsprofiles", "fleet"
                ).get("status")
                or {}
            )
            peak_status = max(peak_status, len(current.get("inFlight") or []))
            return status

        final = wait_until(done, "the change rolled out", timeout=7200, interval=0.5)
        duration = time.monotonic() - changed
        writes, peak_journal = journal_peak(url, ids, emulator_now)
        print(f"instances:                          {n}")
        print(f"maxUnavailable:                     {limit} (= {final['maxUnavailable']})")
        print(f"first revision (operator start ->): {first:.1f} s")
        print(f"profile change -> RolledOut {n}/{n}:  {duration:.1f} s")
        print(f"setSettings calls for the change:   {writes}")
        print(f"peak in flight (profile status):    {peak_status}")
        print(f"peak writes in 0.9 settle window:   {peak_journal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
