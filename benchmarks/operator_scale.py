"""Scale benchmark of the operator on the local control plane against the emulator.

Run: `.venv/bin/python benchmarks/operator_scale.py [--instances 100] [--idle 90]`

Creates N token Secrets and N WhatsAppInstances (each asking for 3 settings that differ from
GREEN-API's defaults), seeds N authorized instances in the emulator (real rate limits on),
starts the operator as a subprocess and measures:
  * convergence: operator start -> every object Ready=True and Synced=True for its generation;
  * the idle window: writes to WhatsAppInstances (watch MODIFIED events), Events posted,
    GREEN-API calls by method, operator CPU and RSS;
  * a restart with N settled objects: time until the first reconcile pass is over and the
    writes it caused (expected 0).
Everything listens on 127.0.0.1; the load is bounded by N.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from whatsapp_operator.devtools.controlplane import ControlPlane
from whatsapp_operator.devtools.polling import wait_until
from whatsapp_operator.devtools.process import ManagedProcess

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "bench"
GROUP, VERSION, PLURAL = "whatsapp-operator.io", "v1alpha1", "whatsappinstances"
FIRST_ID = 7105100000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def admin(url: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{url}{path}",
        data=data,
        method="POST" if data else "GET",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def proc_stats(pid: int) -> tuple[float, float]:
    """(cpu seconds, RSS MiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_kib = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss_kib / 1024


def calls(url: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for scope, methods in admin(url, "/admin/counters").items():
        if not scope.isdigit():
            continue
        for method, outcomes in methods.items():
            totals[method] = totals.get(method, 0) + int(outcomes["total"])
            if "429" in outcomes:
                totals["429"] = totals.get("429", 0) + int(outcomes["429"])
    return totals


def settled(custom: client.CustomObjectsApi, n: int) -> bool:
    items = custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)["items"]
    done = 0
    for item in items:
        status = item.get("status", {})
        if status.get("observedGeneration") != item["metadata"]["generation"]:
            continue
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        if conditions.get("Ready") == "True" and conditions.get("Synced") == "True":
            done += 1
    return done == n


class Writes:
    """Counts MODIFIED events on WhatsAppInstances while running."""

    def __init__(self, api: client.ApiClient) -> None:
        self.count = 0
        self._stop = threading.Event()
        self._watch = watch.Watch()
        custom = client.CustomObjectsApi(api)
        resource_version = custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL)[
            "metadata"
        ]["resourceVersion"]
        self._thread = threading.Thread(
            target=self._run, args=(custom, resource_version), daemon=True
        )
        self._thread.start()

    def _run(self, custom: client.CustomObjectsApi, resource_version: str) -> None:
        try:
            self._count(custom, resource_version)
        except Exception:  # the stream is cut on purpose by stop()
            if not self._stop.is_set():
                raise

    def _count(self, custom: client.CustomObjectsApi, resource_version: str) -> None:
        for event in self._watch.stream(
            custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            NAMESPACE,
            PLURAL,
            resource_version=resource_version,
            timeout_seconds=3600,
        ):
            if self._stop.is_set():
                break
            if event["type"] == "MODIFIED":
                self.count += 1

    def stop(self) -> int:
        self._stop.set()
        self._watch.stop()
        return self.count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--idle", type=float, default=90.0, help="idle window in seconds")
    parser.add_argument("--state-seconds", type=int, default=30)
    args = parser.parse_args()
    n = args.instances
    logs = Path(tempfile.mkdtemp(prefix="waop-bench-"))
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
        for i in range(n):
            token = secrets.token_hex(25)
            admin(
                url,
                "/admin/instances",
                {
                    "idInstance": FIRST_ID + i,
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
                PLURAL,
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "WhatsAppInstance",
                    "metadata": {"name": f"wa-{i}"},
                    "spec": {
                        "instance": {
                            "id": FIRST_ID + i,
                            "apiUrl": url,
                            "tokenSecretRef": {"name": f"wa-{i}"},
                        },
                        "settings": {
                            "incomingWebhook": True,
                            "outgoingWebhook": True,
                            "delaySendMessagesMilliseconds": 1000,
                        },
                        "intervals": {
                            "stateSeconds": args.state_seconds,
                            "settingsSeconds": 300,
                            "settleSeconds": 5,
                        },
                    },
                },
            )
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
        argv = [
            sys.executable,
            "-m",
            "whatsapp_operator.cli",
            "run",
            "--namespace",
            NAMESPACE,
            "--liveness",
            "",
            "--allowed-api-url",
            url,
        ]
        operator = ManagedProcess("operator", argv, logs / "operator.log", env=env)
        started = time.monotonic()
        operator.start()
        wait_until(
            lambda: settled(custom, n), f"{n} objects Ready and Synced", timeout=900, interval=0.5
        )
        converged = time.monotonic() - started
        assert operator.pid is not None
        _, rss_after_burst = proc_stats(operator.pid)

        # Idle: nothing changes; the operator only polls GREEN-API.
        events_before = len(core.list_namespaced_event(NAMESPACE).items)
        calls_before = calls(url)
        cpu_before, _ = proc_stats(operator.pid)
        writes = Writes(api)
        time.sleep(args.idle)  # the measured window itself, not a wait for a condition
        idle_writes = writes.stop()
        cpu_after, rss_idle = proc_stats(operator.pid)
        calls_after = calls(url)
        events_after = len(core.list_namespaced_event(NAMESPACE).items)
        idle_calls = {m: calls_after.get(m, 0) - calls_before.get(m, 0) for m in calls_after}

        # Restart with N settled objects.
        operator.stop(timeout=15)
        writes = Writes(api)
        calls_before = calls(url)
        restarted = time.monotonic()
        operator.start()
        wait_until(
            lambda: (
                sum(
                    calls(url).get(m, 0) - calls_before.get(m, 0)
                    for m in ("getStateInstance", "getstateinstance")
                )
                >= n
            ),
            "every object reconciled once after the restart",
            timeout=300,
            interval=0.5,
        )
        resume = time.monotonic() - restarted
        time.sleep(5)  # let the last status patches (if any) arrive before counting
        restart_writes = writes.stop()
        _, rss_restart = proc_stats(operator.pid)

        print(f"instances:                         {n}")
        print(
            f"converge (start -> all Ready):     {converged:.1f} s ({n / converged:.1f} objects/s)"
        )
        print(f"operator RSS after the burst:      {rss_after_burst:.0f} MiB")
        print(
            f"idle window:                       {args.idle:.0f} s "
            f"(stateSeconds {args.state_seconds})"
        )
        print(f"  WhatsAppInstance writes:         {idle_writes}")
        print(f"  Events posted:                   {events_after - events_before}")
        print(f"  GREEN-API calls:                 {json.dumps(idle_calls, sort_keys=True)}")
        print(
            f"  operator CPU:                    "
            f"{100 * (cpu_after - cpu_before) / args.idle:.1f} % of one core"
        )
        print(f"  operator RSS:                    {rss_idle:.0f} MiB")
        print(
            f"restart -> every object reconciled: {resume:.1f} s, "
            f"writes caused: {restart_writes}, RSS {rss_restart:.0f} MiB"
        )
        print(f"GREEN-API 429 answers (whole run): {calls(url).get('429', 0)}")
        return 0
    finally:
        if operator is not None:
            operator.stop(timeout=15)
        emulator.stop(timeout=10)
        cluster.stop()


def _up(url: str) -> bool:
    try:
        admin(url, "/admin/health")
    except OSError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
