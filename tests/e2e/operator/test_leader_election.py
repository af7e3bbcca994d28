"""Two operator processes with leader election on a Lease: one works, the other stands by.

The standby makes no GREEN-API call and writes nothing. When the leader is SIGKILLed, the
standby takes the Lease once it has gone unrenewed for its duration (15 s) and carries on
where the leader stood: every instance gets exactly one more setSettings, for the change
made after the kill. A leader whose Lease is taken away exits non-zero at once; a leader
stopped cleanly releases the Lease so that the standby takes over without waiting.

Fleet size: 20 (WAOP_E2E_FULL=1: 200).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from kubernetes import client

from support.kube_helpers import (
    create_namespace,
    delete_namespace,
    has_condition,
    put_secret,
    wait_for,
)
from support.tcp_proxy import TcpProxy
from tests.e2e.operator.harness import (
    Emulator,
    OperatorProcess,
    Scenario,
    Secrets,
    assert_no_leaks,
)
from whatsapp_operator.devtools.cluster import KubeCluster

logger = logging.getLogger(__name__)
FLEET = 200 if os.environ.get("WAOP_E2E_FULL") == "1" else 20
# The issue's goal: a standby has taken over this soon after the leader died.
TAKEOVER_SECONDS = 30.0
# Then every instance reconciles once more (one setSettings, a settle window).
RECONCILE_SECONDS = 60.0 + FLEET * 0.5


def lease_holder(api: client.ApiClient, namespace: str, name: str) -> str | None:
    try:
        lease = client.CoordinationV1Api(api).read_namespaced_lease(name, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    holder: str | None = lease.spec.holder_identity
    return holder


def identity_of(operator: OperatorProcess) -> str:
    """The candidate identity the process logged when it started standing by."""

    def logged() -> str | None:
        found = re.search(r"Standing by for Lease \S+ as (\S+)", operator.log_text())
        return found[1] if found else None

    return wait_for(logged, "the process's election identity", timeout=30)


def greenapi_calls_in_metrics(operator: OperatorProcess) -> int:
    text = httpx.get(operator.metrics, timeout=5.0).text
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("whatsapp_operator_greenapi_requests_total{")
        )
    )


def emulator_calls(emulator: Emulator, ids: list[int]) -> int:
    counters = emulator.counters()
    return sum(
        int(outcomes.get("total", 0))
        for id_instance in ids
        for outcomes in counters.get(str(id_instance), {}).values()
    )


def synced_at_generation(obj: dict[str, Any]) -> bool:
    synced = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Synced"]
    last_applied = (obj.get("status") or {}).get("lastApplied") or {}
    return (
        has_condition(obj, "Ready", "True")
        and bool(synced)
        and synced[0]["status"] == "True"
        and synced[0].get("observedGeneration") == obj["metadata"]["generation"]
        and last_applied.get("confirmed") is True
    )


@pytest.fixture
def namespaces(
    api: client.ApiClient, module_prefix: str, _namespace_numbers: Iterator[int]
) -> Iterator[tuple[str, str]]:
    """(the instances' namespace, the Lease's namespace), both deleted afterwards."""
    number = next(_namespace_numbers)
    work, lease = f"{module_prefix}-w{number}", f"{module_prefix}-l{number}"
    create_namespace(api, work)
    create_namespace(api, lease)
    yield work, lease
    delete_namespace(api, work)
    delete_namespace(api, lease)


class Candidates:
    """Operator processes with leader election, stopped at the end of the test."""

    def __init__(self, cluster: KubeCluster, prefix: str, lease_ns: str, logs: Path) -> None:
        self.cluster = cluster
        self.prefix = prefix
        self.env = {
            "WAOP_LEADER_ELECT": "true",
            "WAOP_LEASE_NAMESPACE": lease_ns,
            "WAOP_LEASE_NAME": "whatsapp-operator",
        }
        self.logs = logs
        self.started: list[OperatorProcess] = []

    def start(
        self, label: str, kubeconfig: Path | None = None, env: dict[str, str] | None = None
    ) -> OperatorProcess:
        running = OperatorProcess.start(
            namespace=f"{self.prefix}-*",
            kubeconfig=kubeconfig or self.cluster.kubeconfig,
            log_path=self.logs / f"{label}.log",
            env={**self.env, **(env or {})},
        )
        self.started.append(running)
        return running

    def stop_all(self) -> None:
        for running in self.started:
            running.stop()


@pytest.fixture
def candidates(
    kube_cluster: KubeCluster,
    module_prefix: str,
    namespaces: tuple[str, str],
    tmp_path: Path,
) -> Iterator[Candidates]:
    started = Candidates(kube_cluster, module_prefix, namespaces[1], tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def test_standby_takes_over_from_a_killed_leader(
    api: client.ApiClient,
    emulator: Emulator,
    namespaces: tuple[str, str],
    candidates: Candidates,
    leaks: Secrets,
) -> None:
    work, lease_ns = namespaces
    scenario = Scenario(api=api, namespace=work, emulator=emulator, leaks=leaks)
    leader = candidates.start("leader")
    leader_id = identity_of(leader)
    wait_for(lambda: lease_holder(api, lease_ns, "whatsapp-operator") == leader_id, "a leader")
    standby = candidates.start("standby")
    standby_id = identity_of(standby)
    wait_for(lambda: "Standby: " + leader_id in standby.log_text(), "the standby to wait")

    names = [f"ha-{i:03d}" for i in range(FLEET)]
    for name in names:
        scenario.seed(name, state="authorized")
        scenario.create(name, settings={"stateWebhook": True, "incomingWebhook": True})
    ids = [scenario.ids[name] for name in names]

    def all_synced() -> bool:
        objs = scenario.instances.list()
        return len(objs) == FLEET and all(synced_at_generation(o) for o in objs)

    def not_synced() -> str:
        return str(
            sorted(
                o["metadata"]["name"]
                for o in scenario.instances.list()
                if not synced_at_generation(o)
            )[:10]
        )

    wait_for(all_synced, f"{FLEET} instances synced", 60 + FLEET, 1.0, not_synced)
    assert {len(emulator.set_settings_log(i)) for i in ids} == {1}
    # Every GREEN-API call the emulator saw was the leader's: its own count brackets them.
    before = greenapi_calls_in_metrics(leader)
    seen = emulator_calls(emulator, ids)
    after = greenapi_calls_in_metrics(leader)
    assert before <= seen <= after, (before, seen, after)
    assert "Leading as" not in standby.log_text()
    assert lease_holder(api, lease_ns, "whatsapp-operator") == leader_id

    leader.process.kill()
    killed_at = time.monotonic()
    leader.process.wait(timeout=10)
    for name in names:
        scenario.instances.patch(name, {"spec": {"settings": {"incomingWebhook": False}}})

    wait_for(
        lambda: lease_holder(api, lease_ns, "whatsapp-operator") == standby_id,
        "the standby to hold the Lease",
        timeout=TAKEOVER_SECONDS - (time.monotonic() - killed_at),
        interval=0.5,
    )
    # A figure for whoever reads the log (pytest -o log_cli=true), not an assertion: the
    # bound above is the check.
    logger.info("the standby took over %.1f s after the kill", time.monotonic() - killed_at)
    wait_for(all_synced, "the change applied by the new leader", RECONCILE_SECONDS, 1.0, not_synced)
    logger.info("all synced with the change %.1f s after the kill", time.monotonic() - killed_at)
    problems = []
    for name in names:
        log = emulator.set_settings_log(scenario.ids[name])
        if len(log) != 2 or log[-1]["body"] != {"incomingWebhook": "no"}:
            problems.append(f"{name}: {log}")
    assert problems == [], "\n".join(problems)
    assert standby.process.poll() is None
    scenario.leaks.keep(api, work)
    assert_no_leaks(scenario.leaks, standby, emulator, api, work)
    assert scenario.instances.delete_all_and_wait(timeout=60) == []


def test_a_leader_whose_lease_is_taken_exits_at_once(
    api: client.ApiClient, namespaces: tuple[str, str], candidates: Candidates
) -> None:
    _work, lease_ns = namespaces
    leader = candidates.start("leader")
    leader_id = identity_of(leader)
    wait_for(lambda: lease_holder(api, lease_ns, "whatsapp-operator") == leader_id, "a leader")

    coordination = client.CoordinationV1Api(api)
    lease = coordination.read_namespaced_lease("whatsapp-operator", lease_ns)
    lease.spec.holder_identity = "thief"
    lease.spec.renew_time = datetime.now(UTC)
    lease.spec.lease_duration_seconds = 3600
    stolen = coordination.replace_namespaced_lease("whatsapp-operator", lease_ns, lease)

    # It notices at its next renewal (every 5 s).
    wait_for(lambda: leader.process.poll() is not None, "the old leader to exit", timeout=15)
    assert leader.process.returncode == 1
    assert "Lost leadership: Lease" in leader.log_text()
    after = coordination.read_namespaced_lease("whatsapp-operator", lease_ns)
    assert after.spec.holder_identity == "thief"
    assert after.metadata.resource_version == stolen.metadata.resource_version


def test_a_clean_stop_hands_over_without_waiting_for_expiry(
    api: client.ApiClient, namespaces: tuple[str, str], candidates: Candidates
) -> None:
    _work, lease_ns = namespaces
    leader = candidates.start("leader")
    leader_id = identity_of(leader)
    wait_for(lambda: lease_holder(api, lease_ns, "whatsapp-operator") == leader_id, "a leader")
    standby = candidates.start("standby")
    standby_id = identity_of(standby)

    assert leader.stop() == 0
    assert "Released Lease" in leader.log_text()
    # Well inside the 15 s lease: the standby took a released Lease, not an expired one.
    wait_for(
        lambda: lease_holder(api, lease_ns, "whatsapp-operator") == standby_id,
        "the standby to lead",
        timeout=8,
        interval=0.2,
    )
    # A standby stops cleanly too.
    third = candidates.start("third")
    identity_of(third)
    assert third.stop() == 0
    assert "Stopped while standing by" in third.log_text()


# --- handovers under hung connections and a stopped process (issue 22) ---------------------

HANDOVER_FLEET = 5
LEASE_SECONDS = 15.0
RENEW_DEADLINE_SECONDS = 10.0


@pytest.fixture
def api_proxy(kube_cluster: KubeCluster, tmp_path: Path) -> Iterator[tuple[TcpProxy, Path]]:
    """A TCP forwarder in front of the API server and a kubeconfig that goes through it."""
    config = yaml.safe_load(kube_cluster.kubeconfig.read_text(encoding="utf-8"))
    server = urlsplit(config["clusters"][0]["cluster"]["server"])
    assert server.hostname is not None
    assert server.port is not None
    proxy = TcpProxy(server.hostname, server.port)
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"{server.scheme}://127.0.0.1:{proxy.port}"
    path = tmp_path / "proxied-kubeconfig"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    try:
        yield proxy, path
    finally:
        proxy.close()


def greenapi_calls_of(emulator: Emulator, operator: OperatorProcess) -> dict[str, Any]:
    """The emulator's record of the process's GREEN-API calls (its User-Agent names its pid)."""
    clients = emulator.http.get("/admin/clients").json()["clients"]
    suffix = f"(pid {operator.process.pid})"
    found = [seen for agent, seen in clients.items() if agent.endswith(suffix)]
    return found[0] if found else {"calls": 0, "first": None, "last": None, "methods": {}}


def leader_gauge(operator: OperatorProcess) -> float:
    text = httpx.get(operator.metrics, timeout=5.0).text
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("whatsapp_operator_leader ")
    ]
    assert len(values) == 1, text
    return values[0]


def health_of(operator: OperatorProcess) -> int | None:
    try:
        return httpx.get(operator.liveness, timeout=1.0).status_code
    except httpx.HTTPError:
        return None


def a_synced_fleet(scenario: Scenario, prefix: str) -> list[str]:
    names = [f"{prefix}-{i}" for i in range(HANDOVER_FLEET)]
    for name in names:
        scenario.seed(name, state="authorized")
        scenario.create(name, settings={"stateWebhook": True, "incomingWebhook": True})
    wait_for(lambda: all_synced(scenario, len(names)), f"{len(names)} instances synced", 90, 1.0)
    return names


def all_synced(scenario: Scenario, count: int) -> bool:
    objs = scenario.instances.list()
    return len(objs) == count and all(synced_at_generation(o) for o in objs)


def change_all(scenario: Scenario, names: list[str]) -> None:
    for name in names:
        scenario.instances.patch(name, {"spec": {"settings": {"incomingWebhook": False}}})


def one_set_settings_for_the_change(
    scenario: Scenario, emulator: Emulator, names: list[str]
) -> None:
    problems = []
    for name in names:
        log = emulator.set_settings_log(scenario.ids[name])
        if len(log) != 2 or log[-1]["body"] != {"incomingWebhook": "no"}:
            problems.append(f"{name}: {log}")
    assert problems == [], "\n".join(problems)


def test_a_leader_whose_lease_calls_hang_is_gone_before_a_standby_leads(
    api: client.ApiClient,
    emulator: Emulator,
    namespaces: tuple[str, str],
    candidates: Candidates,
    api_proxy: tuple[TcpProxy, Path],
    leaks: Secrets,
) -> None:
    work, lease_ns = namespaces
    proxy, proxied = api_proxy
    scenario = Scenario(api=api, namespace=work, emulator=emulator, leaks=leaks)
    leader = candidates.start("leader", kubeconfig=proxied)
    leader_id = identity_of(leader)
    wait_for(lambda: lease_holder(api, lease_ns, "whatsapp-operator") == leader_id, "a leader")
    standby = candidates.start("standby")
    standby_id = identity_of(standby)
    wait_for(lambda: "Standby: " + leader_id in standby.log_text(), "the standby to wait")
    # Both are scraped and probed: the gauge tells them apart.
    assert health_of(standby) == 200
    assert leader_gauge(standby) == 0
    assert leader_gauge(leader) == 1
    names = a_synced_fleet(scenario, "hang")
    assert greenapi_calls_of(emulator, standby)["calls"] == 0

    proxy.hang()  # every Lease request (and every other Kubernetes call) now hangs
    hung_at = time.monotonic()
    change_all(scenario, names)
    wait_for(
        lambda: leader.process.poll() is not None,
        "the old leader to exit",
        timeout=RENEW_DEADLINE_SECONDS + 5,
        interval=0.1,
    )
    logger.info("the hung leader exited %.1f s after the hang", time.monotonic() - hung_at)
    assert leader.process.returncode == 1
    assert "not renewed within 10 s" in leader.log_text()
    wait_for(
        lambda: lease_holder(api, lease_ns, "whatsapp-operator") == standby_id,
        "the standby to lead",
        timeout=LEASE_SECONDS + 10,
        interval=0.5,
    )
    assert leader_gauge(standby) == 1
    wait_for(lambda: all_synced(scenario, len(names)), "the change applied", 90, 1.0)
    old, new = greenapi_calls_of(emulator, leader), greenapi_calls_of(emulator, standby)
    assert old["calls"] > 0
    assert new["calls"] > 0
    # No moment when both processes called GREEN-API.
    assert old["last"] < new["first"], (old, new)
    one_set_settings_for_the_change(scenario, emulator, names)
    scenario.leaks.keep(api, work)
    assert_no_leaks(scenario.leaks, standby, emulator, api, work)
    assert scenario.instances.delete_all_and_wait(timeout=60) == []


def test_a_leader_stopped_past_its_deadline_exits_on_resume_without_a_call(
    api: client.ApiClient,
    emulator: Emulator,
    namespaces: tuple[str, str],
    candidates: Candidates,
    leaks: Secrets,
) -> None:
    work, lease_ns = namespaces
    scenario = Scenario(api=api, namespace=work, emulator=emulator, leaks=leaks)
    leader = candidates.start("leader")
    leader_id = identity_of(leader)
    wait_for(lambda: lease_holder(api, lease_ns, "whatsapp-operator") == leader_id, "a leader")
    standby = candidates.start("standby")
    standby_id = identity_of(standby)
    names = a_synced_fleet(scenario, "stop")

    os.kill(leader.process.pid, signal.SIGSTOP)
    try:
        change_all(scenario, names)
        wait_for(
            lambda: lease_holder(api, lease_ns, "whatsapp-operator") == standby_id,
            "the standby to lead",
            timeout=LEASE_SECONDS + 10,
            interval=0.5,
        )
        wait_for(lambda: all_synced(scenario, len(names)), "the change applied", 90, 1.0)
        before = greenapi_calls_of(emulator, leader)
    finally:
        os.kill(leader.process.pid, signal.SIGCONT)
    resumed_at = time.monotonic()
    wait_for(lambda: leader.process.poll() is not None, "the resumed leader to exit", 5, 0.02)
    logger.info("the resumed leader exited within %.2f s", time.monotonic() - resumed_at)
    assert leader.process.returncode == 1
    # Not one GREEN-API call after the resume.
    assert greenapi_calls_of(emulator, leader) == before
    assert before["last"] < greenapi_calls_of(emulator, standby)["first"]
    one_set_settings_for_the_change(scenario, emulator, names)
    assert scenario.instances.delete_all_and_wait(timeout=60) == []


def test_a_leader_whose_kubernetes_calls_hang_fails_liveness_and_hands_over(
    api: client.ApiClient,
    emulator: Emulator,
    namespaces: tuple[str, str],
    candidates: Candidates,
    api_proxy: tuple[TcpProxy, Path],
    leaks: Secrets,
) -> None:
    work, lease_ns = namespaces
    proxy, proxied = api_proxy
    stuck_seconds = 2.0
    scenario = Scenario(api=api, namespace=work, emulator=emulator, leaks=leaks)
    # A stuck bound below the call timeout stands for a call whose timeout failed to end it;
    # Secrets rechecked every second make sure some Kubernetes call is under way.
    leader = candidates.start(
        "leader",
        kubeconfig=proxied,
        env={
            "WAOP_LIVENESS_STUCK_SECONDS": str(stuck_seconds),
            "WAOP_KUBE_TIMEOUT_SECONDS": "30",
            "WAOP_SECRET_RECHECK_SECONDS": "1",
        },
    )
    leader_id = identity_of(leader)
    wait_for(lambda: lease_holder(api, lease_ns, "whatsapp-operator") == leader_id, "a leader")
    standby = candidates.start("standby")
    standby_id = identity_of(standby)
    scenario.seed("stuck-0", state="authorized")
    # A webhook token's Secret is re-read on the timer (nothing else reveals its change).
    put_secret(api, work, "stuck-hook", {"token": "hook-token-1"})
    scenario.create(
        "stuck-0",
        settings={
            "webhookUrl": "https://hooks.example.com/w",
            "webhookUrlTokenSecretRef": {"name": "stuck-hook", "key": "token"},
        },
    )
    scenario.ready("stuck-0", timeout=60)
    assert health_of(leader) == 200

    proxy.hang()
    hung_at = time.monotonic()
    wait_for(lambda: health_of(leader) == 503, "the stuck leader's /healthz to fail", 15, 0.05)
    wait_for(lambda: leader.process.poll() is not None, "the stuck leader to exit", 20, 0.1)
    assert leader.process.returncode == 1
    assert "The reconcile loop is stuck: a Kubernetes call" in leader.log_text()
    wait_for(
        lambda: lease_holder(api, lease_ns, "whatsapp-operator") == standby_id,
        "the standby to lead",
        timeout=LEASE_SECONDS + stuck_seconds + 5 - (time.monotonic() - hung_at),
        interval=0.5,
    )
    logger.info("the standby led %.1f s after the hang", time.monotonic() - hung_at)
    old = greenapi_calls_of(emulator, leader)
    wait_for(lambda: greenapi_calls_of(emulator, standby)["calls"] > 0, "the new leader's calls")
    new = greenapi_calls_of(emulator, standby)
    assert old["last"] < new["first"], (old, new)
    assert scenario.instances.delete_all_and_wait(timeout=60) == []
