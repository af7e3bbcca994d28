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
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config
from operator_scale import ROOT, _up, admin, free_port

from whatsapp_operator.devtools.controlplane import ControlPlane
from whatsapp_operator.devtools.polling import wait_until
from whatsapp_operator.devtools.process import ManagedProcess

NAMESPACE = "bench-rollout"
GROUP, VERSION = "whatsapp-operator.io", "v1alpha1"
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--max-unavailable", default="10%")
    args = parser.parse_args()
    n = args.instances
    limit: int | str = args.max_unavailable
    if not str(limit).endswith("%"):
        limit = int(limit)
    logs = Path(tempfile.mkdtemp(prefix="waop-rollout-"))
    cluster = ControlPlane(crds=sorted((ROOT / "crds").glob("*.yaml")), log_dir=logs)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = ManagedProcess(
        "emulator",
        [
            sys.executable,
            "-m",
            "whatsapp_operator.cli",
            "emulator",
            "--port",
            str(port),
            "--starting-seconds",
            "1",
            "--settings-apply-seconds",
            "2",
            "--log-level",
            "WARNING",
        ],
        logs / "emulator.log",
    )
    operator: ManagedProcess | None = None
    try:
        cluster.start()
        emulator.start()
        wait_until(lambda: _up(url), "emulator", timeout=30)
        configuration = client.Configuration()
        config.load_kube_config(
            config_file=str(cluster.kubeconfig), client_configuration=configuration
        )
        configuration.connection_pool_maxsize = 16
        api = client.ApiClient(configuration)
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
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
        ids = [FIRST_ID + i for i in range(n)]
        for i, id_instance in enumerate(ids):
            token = secrets.token_hex(25)
            admin(
                url,
                "/admin/instances",
                {
                    "idInstance": id_instance,
                    "apiTokenInstance": token,
                    "state": "authorized",
                    "phone": f"7900{i:07d}",
                },
            )
            core.create_namespaced_secret(
                NAMESPACE,
                client.V1Secret(
                    metadata=client.V1ObjectMeta(name=f"wa-{i}"),
                    string_data={"apiTokenInstance": token},
                ),
            )
            custom.create_namespaced_custom_object(
                GROUP,
                VERSION,
                NAMESPACE,
                "whatsappinstances",
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "WhatsAppInstance",
                    "metadata": {"name": f"wa-{i}"},
                    "spec": {
                        "instance": {
                            "id": id_instance,
                            "apiUrl": url,
                            "tokenSecretRef": {"name": f"wa-{i}"},
                        },
                        "settingsProfileRef": {"name": "fleet"},
                        "intervals": {
                            "stateSeconds": 30,
                            "settingsSeconds": 300,
                            "settleSeconds": SETTLE_SECONDS,
                        },
                    },
                },
            )
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
        argv = [sys.executable, "-m", "whatsapp_operator.cli", "run"]
        argv += ["--namespace", NAMESPACE, "--liveness", "", "--allowed-api-url", url]
        operator = ManagedProcess("operator", argv, logs / "operator.log", env=env)
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
    finally:
        if operator is not None:
            operator.stop(timeout=15)
        emulator.stop(timeout=10)
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
