"""Secrets nothing references cost the operator nothing: no memory, no reconciles.

The operator does not watch Secrets; it re-reads the ones objects reference by name
(`run/secret_recheck.py`). Here a watched namespace fills with unrelated Secrets of
1 KiB each while one instance runs; then its webhook token Secret changes, which the
recheck must notice on its own (no annotation, no poll due: stateSeconds is an hour).
That wake-up is the sync point: by then the operator has had every chance to react to
the unrelated Secrets, and it must have done exactly one reconcile, the one for the
webhook token. (Token Secrets are not rechecked while idle: a rotated token shows as
GREEN-API refusing the old one.)

Size: WAOP_E2E_UNRELATED_SECRETS (default 10,000: creating them takes about 50 s on
the local control plane); the RSS bound scales with it (10 MiB at 10,000, never below
4 MiB).
"""

from __future__ import annotations

import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from support.kube_helpers import has_condition, wait_for
from tests.e2e.operator.harness import FAST_INTERVALS, Emulator, OperatorProcess, Scenario

COUNT = int(os.environ.get("WAOP_E2E_UNRELATED_SECRETS", "10000"))
RSS_BOUND_KIB = max(4 * 1024, 10 * 1024 * COUNT // 10_000)
# No periodic reconcile inside the test: only a change can cause one.
QUIET = {**FAST_INTERVALS, "stateSeconds": 3600, "settingsSeconds": 86400}
RECONCILES = ("whatsapp_operator_reconcile_duration_seconds_count", "WhatsAppInstance")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


def metric(operator: OperatorProcess, name: str, **labels: str) -> float:
    text = httpx.get(operator.metrics, timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def create_unrelated(api: client.ApiClient, namespace: str, count: int) -> None:
    core = client.CoreV1Api(api)
    payload = {"blob": secrets.token_urlsafe(768)}  # 1 KiB of data

    def one(index: int) -> None:
        core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=f"unrelated-{index:05d}"), string_data=payload
            ),
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(count)))


def test_unrelated_secrets_add_no_memory_and_no_reconciles(
    scenario: Scenario, emulator: Emulator, operator: OperatorProcess
) -> None:
    name = "quiet"
    id_instance = scenario.seed(name, state="authorized")
    client.CoreV1Api(scenario.api).create_namespaced_secret(
        scenario.namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=f"{name}-hook"), string_data={"token": "hook-1"}
        ),
    )
    scenario.leaks.add("webhook token", "hook-1")
    scenario.create(
        name,
        intervals=QUIET,
        settings={
            "webhookUrl": "https://hooks.example.com/quiet",
            "webhookUrlTokenSecretRef": {"name": f"{name}-hook", "key": "token"},
        },
    )
    # Generous: a just-started operator may take a while to notice a new namespace.
    scenario.instances.wait_condition(name, "Ready", "True", timeout=120)
    pid = operator.process.pid
    reconciles_before = metric(operator, RECONCILES[0], kind=RECONCILES[1])
    calls_before = emulator.counters().get(str(id_instance), {})
    reads_before = metric(operator, "whatsapp_operator_secret_reads_total", purpose="reconcile")
    rechecks_before = metric(operator, "whatsapp_operator_secret_reads_total", purpose="recheck")
    started = time.monotonic()
    rss_before = rss_kib(pid)

    create_unrelated(scenario.api, scenario.namespace, COUNT)

    # The sync point: a change to the rechecked Secret, noticed by the recheck.
    client.CoreV1Api(scenario.api).patch_namespaced_secret(
        f"{name}-hook", scenario.namespace, {"metadata": {"annotations": {"touched": "yes"}}}
    )
    wait_for(
        lambda: metric(operator, RECONCILES[0], kind=RECONCILES[1]) > reconciles_before,
        "the reconcile woken by the webhook token Secret's change",
        60,
    )
    obj = scenario.instances.get(name)
    rss_after = rss_kib(pid)
    reconciles = metric(operator, RECONCILES[0], kind=RECONCILES[1]) - reconciles_before
    calls_after = emulator.counters().get(str(id_instance), {})
    new_calls = {
        method: int(outcomes.get("total", 0)) - int(calls_before.get(method, {}).get("total", 0))
        for method, outcomes in calls_after.items()
    }
    reads = (
        metric(operator, "whatsapp_operator_secret_reads_total", purpose="reconcile") - reads_before
    )
    rechecks = (
        metric(operator, "whatsapp_operator_secret_reads_total", purpose="recheck")
        - rechecks_before
    )
    # The cost figure for the README (reported, not asserted: it is a rate).
    minutes = (time.monotonic() - started) / 60
    print(f"\nrecheck: {rechecks:.0f} Secret GETs in {minutes:.2f} min for 1 rechecked Secret")
    print(
        f"\n{COUNT} unrelated Secrets: operator RSS {rss_before} -> {rss_after} KiB "
        f"({rss_after - rss_before:+d} KiB, bound {RSS_BOUND_KIB}); reconciles {reconciles:.0f}; "
        f"GREEN-API calls {new_calls}; Secret GETs by reconciles {reads:.0f}"
    )
    assert reconciles == 1
    # A new version of a desired value: the settings are read again, and found in sync.
    assert {m: n for m, n in new_calls.items() if n} == {"getstateinstance": 1, "getsettings": 1}
    assert reads == 0  # the recheck had already brought the new version
    assert rss_after - rss_before < RSS_BOUND_KIB
    assert has_condition(obj, "Ready", "True")
