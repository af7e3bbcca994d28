"""Two operator processes sharded by label selector (`shard=a`, `shard=b`) over one namespace.

Every object is reconciled by exactly one process: each GREEN-API instance gets exactly one
setSettings, the two processes' own counts of GREEN-API calls add up to what the emulator
saw, and each process's log names only its own instances. A WhatsAppSettingsProfile owned by
shard b serves instances of shard a (shard a follows it read-only for its rollout gate).
Once settled, nothing writes to the API server over an idle window.

An object relabelled from one shard to the other is handed over: its linking Secret stays,
the old shard stops acting on it, the new one applies the pending change once. Of two
namespace shards only the one with --cluster-partners checks a ClusterWhatsAppPartner, and
nothing writes to it over an idle minute (no finalizer fight).

Fleet size: 2 x 50 (WAOP_E2E_FULL=1: 2 x 1000).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from support.emulator_process import start_emulator_process, stop_emulator_process
from support.kube_helpers import (
    create_namespace,
    delete_namespace,
    has_condition,
    put_secret,
    read_secret,
    wait_for,
)
from tests.e2e.operator.harness import (
    EMULATOR_ARGS,
    Emulator,
    OperatorProcess,
    Scenario,
    Secrets,
    assert_no_leaks,
)
from whatsapp_operator import constants
from whatsapp_operator.devtools.cluster import KubeCluster

PER_SHARD = 1000 if os.environ.get("WAOP_E2E_FULL") == "1" else 50
SHARDS = ("a", "b")
# Instances of shard a that use a profile of shard b.
CROSS_PROFILE_USERS = 2
IDLE_SECONDS = 15
# An idle minute with a ClusterWhatsAppPartner checked every 30 s (its shortest period).
CLUSTER_PARTNER_IDLE_SECONDS = 60


def greenapi_calls_in_metrics(operator: OperatorProcess) -> int:
    text = httpx.get(operator.metrics, timeout=5.0).text
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("whatsapp_operator_greenapi_requests_total{")
        )
    )


def cluster_partner_checks(operator: OperatorProcess) -> int:
    """How many ClusterWhatsAppPartner checks the process made (its own metrics)."""
    text = httpx.get(operator.metrics, timeout=5.0).text
    prefix = 'whatsapp_operator_reconcile_duration_seconds_count{kind="ClusterWhatsAppPartner"}'
    return int(
        sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))
    )


def emulator_calls(emulator: Emulator, ids: list[int]) -> int:
    counters = emulator.counters()
    return sum(
        int(outcomes.get("total", 0))
        for id_instance in ids
        for outcomes in counters.get(str(id_instance), {}).values()
    )


def settled(obj: dict[str, Any]) -> bool:
    last_applied = (obj.get("status") or {}).get("lastApplied") or {}
    return (
        has_condition(obj, "Ready", "True")
        and has_condition(obj, "Synced", "True")
        and last_applied.get("confirmed") is True
    )


@pytest.fixture
def shards(
    kube_cluster: KubeCluster, module_prefix: str, tmp_path: Path
) -> Iterator[dict[str, OperatorProcess]]:
    started: dict[str, OperatorProcess] = {}
    try:
        for shard in SHARDS:
            started[shard] = OperatorProcess.start(
                namespace=f"{module_prefix}-*",
                kubeconfig=kube_cluster.kubeconfig,
                log_path=tmp_path / f"shard-{shard}.log",
                env={
                    "WAOP_SHARD_SELECTOR": f"shard={shard}",
                    # One process checks the ClusterWhatsAppPartners.
                    "WAOP_CLUSTER_PARTNERS": "true" if shard == SHARDS[0] else "false",
                },
            )
        yield started
    finally:
        for running in started.values():
            running.stop()


@pytest.fixture
def scenario(
    api: client.ApiClient,
    emulator: Emulator,
    module_prefix: str,
    leaks: Secrets,
    _namespace_numbers: Iterator[int],
) -> Iterator[Scenario]:
    namespace = f"{module_prefix}-{next(_namespace_numbers)}"
    throttled_before = emulator.too_many_requests()
    create_namespace(api, namespace)
    yield Scenario(api=api, namespace=namespace, emulator=emulator, leaks=leaks)
    delete_namespace(api, namespace)
    assert emulator.too_many_requests() == throttled_before, "GREEN-API answered 429"


def create_labelled(scenario: Scenario, name: str, shard: str, **spec: Any) -> None:
    scenario.seed(name, state="authorized")
    scenario.token_secret(name)
    body = scenario.instances.body(name, scenario.spec(name, **spec))
    body["metadata"]["labels"] = {"shard": shard}
    scenario.instances.objects.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, scenario.namespace, constants.PLURAL, body
    )


def test_each_object_is_reconciled_by_exactly_one_shard(
    scenario: Scenario, emulator: Emulator, shards: dict[str, OperatorProcess]
) -> None:
    objects = client.CustomObjectsApi(scenario.api)
    # "shared" is shard b's; "unowned" no shard's: its status is nobody's to write, yet
    # shard a's instance that uses it still gets its settings.
    for profile, shard in (("shared", "b"), ("unowned", "c")):
        objects.create_namespaced_custom_object(
            constants.GROUP,
            constants.VERSION,
            scenario.namespace,
            constants.PROFILE_PLURAL,
            {
                "apiVersion": constants.API_VERSION,
                "kind": constants.PROFILE_KIND,
                "metadata": {"name": profile, "labels": {"shard": shard}},
                "spec": {"settings": {"outgoingWebhook": True}},
            },
        )
    names = {shard: [f"{shard}-{i:04d}" for i in range(PER_SHARD)] for shard in SHARDS}
    for i in range(PER_SHARD):
        for shard in SHARDS:
            name = names[shard][i]
            if shard == "a" and i < CROSS_PROFILE_USERS:
                create_labelled(scenario, name, shard, settingsProfileRef={"name": "shared"})
            elif shard == "a" and i == CROSS_PROFILE_USERS:
                create_labelled(scenario, name, shard, settingsProfileRef={"name": "unowned"})
            else:
                create_labelled(scenario, name, shard, settings={"incomingWebhook": True})
    everyone = [name for shard in SHARDS for name in names[shard]]
    ids = [scenario.ids[name] for name in everyone]

    def all_settled() -> bool:
        objs = scenario.instances.list()
        return len(objs) == len(everyone) and all(settled(o) for o in objs)

    wait_for(
        all_settled,
        f"{len(everyone)} instances settled",
        timeout=90 + len(everyone) * 0.5,
        interval=2.0,
        describe=lambda: str(
            sorted(o["metadata"]["name"] for o in scenario.instances.list() if not settled(o))[:10]
        ),
    )
    problems = [
        f"{name}: {len(log)} setSettings"
        for name in everyone
        if len(log := emulator.set_settings_log(scenario.ids[name])) != 1
    ]
    assert problems == [], "\n".join(problems)
    for name in names["a"][: CROSS_PROFILE_USERS + 1]:
        (applied,) = emulator.set_settings_log(scenario.ids[name])
        assert applied["body"] == {"outgoingWebhook": "yes"}, name
    profile = objects.get_namespaced_custom_object(
        constants.GROUP, constants.VERSION, scenario.namespace, constants.PROFILE_PLURAL, "shared"
    )
    assert (profile.get("status") or {}).get("total") == CROSS_PROFILE_USERS, profile
    unowned = objects.get_namespaced_custom_object(
        constants.GROUP, constants.VERSION, scenario.namespace, constants.PROFILE_PLURAL, "unowned"
    )
    assert not unowned.get("status"), unowned

    # No duplicate GREEN-API calls: the two processes' own counts bracket the emulator's.
    before = sum(greenapi_calls_in_metrics(p) for p in shards.values())
    seen = emulator_calls(emulator, ids)
    after = sum(greenapi_calls_in_metrics(p) for p in shards.values())
    assert before <= seen <= after, (before, seen, after)
    for shard, running in shards.items():
        log = running.log_text()
        for other in SHARDS:
            mentioned = f"{scenario.namespace}/{other}-" in log
            assert mentioned is (other == shard), f"shard {shard}'s log and {other}'s objects"

    listed = objects.list_namespaced_custom_object(
        constants.GROUP, constants.VERSION, scenario.namespace, constants.PLURAL
    )
    stream = watch.Watch().stream(
        objects.list_namespaced_custom_object,
        constants.GROUP,
        constants.VERSION,
        scenario.namespace,
        constants.PLURAL,
        resource_version=listed["metadata"]["resourceVersion"],
        timeout_seconds=IDLE_SECONDS,
    )
    writes = [(e["type"], e["object"]["metadata"]["name"]) for e in stream]
    assert writes == [], f"writes while settled: {writes}"
    for running in shards.values():
        assert running.process.poll() is None
        assert_no_leaks(scenario.leaks, running, emulator, scenario.api, scenario.namespace)
    assert scenario.instances.delete_all_and_wait(timeout=60 + len(everyone) * 0.2) == []


def test_an_object_moved_to_another_shard_is_handed_over(
    scenario: Scenario, emulator: Emulator, shards: dict[str, OperatorProcess]
) -> None:
    """Relabelled from shard a to b while linking, with a settings change in the same
    patch: its linking Secret stays (the same Secret), shard a stops acting on it, and
    shard b applies the change once."""
    name = "mover"
    id_instance = scenario.seed(name)  # not linked: a linking session runs on shard a
    scenario.token_secret(name)
    body = scenario.instances.body(name, scenario.spec(name, settings={"incomingWebhook": True}))
    body["metadata"]["labels"] = {"shard": "a"}
    scenario.instances.objects.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, scenario.namespace, constants.PLURAL, body
    )
    scenario.ready(name, timeout=60)
    core = client.CoreV1Api(scenario.api)
    linking = f"{name}-linking"
    wait_for(
        lambda: read_secret(scenario.api, scenario.namespace, linking),
        f"linking Secret {linking}",
        45,
    )
    secret_uid = core.read_namespaced_secret(linking, scenario.namespace).metadata.uid
    assert len(emulator.set_settings_log(id_instance)) == 1

    since = shards["a"].log_size()
    moved = scenario.instances.patch(
        name,
        {
            "metadata": {"labels": {"shard": "b"}},
            "spec": {"settings": {"incomingWebhook": True, "stateWebhook": True}},
        },
    )
    wait_for(
        lambda: "left this shard" in shards["a"].log_tail(since),
        "shard a hands the object over",
        30,
    )
    calls_of_a = greenapi_calls_in_metrics(shards["a"])
    generation = moved["metadata"]["generation"]
    scenario.instances.wait(
        name,
        lambda o: o["status"].get("observedGeneration") == generation and settled(o),
        f"settled at generation {generation} by shard b",
        60,
    )
    assert [e["body"] for e in emulator.set_settings_log(id_instance)][1:] == [
        {"stateWebhook": "yes"}
    ]
    # Shard b's own linking session keeps the codes in the same Secret.
    wait_for(
        lambda: read_secret(scenario.api, scenario.namespace, linking),
        "the linking Secret, kept",
        30,
    )
    assert core.read_namespaced_secret(linking, scenario.namespace).metadata.uid == secret_uid
    assert greenapi_calls_in_metrics(shards["a"]) == calls_of_a, "shard a acted after the move"
    assert f"{scenario.namespace}/{name}" in shards["b"].log_text()


@pytest.fixture
def cluster_partner_shards(
    kube_cluster: KubeCluster,
    api: client.ApiClient,
    module_prefix: str,
    tmp_path: Path,
    leaks: Secrets,
) -> Iterator[tuple[str, str, dict[str, OperatorProcess], str]]:
    """Two namespace shards (the first checks ClusterWhatsAppPartners), an emulator with a
    partner token, and the name for a ClusterWhatsAppPartner (deleted afterwards)."""
    token = "gac." + secrets.token_hex(24)
    leaks.add("the partner token", token)
    running = start_emulator_process(*EMULATOR_ARGS, "--partner-token", token)
    namespaces = [f"{module_prefix}-cp-{shard}" for shard in SHARDS]
    started: dict[str, OperatorProcess] = {}
    partner = f"{module_prefix}-shared"
    try:
        for namespace in namespaces:
            create_namespace(api, namespace)
        put_secret(api, namespaces[0], "partner", {"partnerToken": token})
        for shard, namespace in zip(SHARDS, namespaces, strict=True):
            started[shard] = OperatorProcess.start(
                namespace=namespace,
                kubeconfig=kube_cluster.kubeconfig,
                log_path=tmp_path / f"namespace-shard-{shard}.log",
                env={"WAOP_CLUSTER_PARTNERS": "true" if shard == SHARDS[0] else "false"},
            )
        yield running.url, namespaces[0], started, partner
    finally:
        with contextlib.suppress(ApiException):
            client.CustomObjectsApi(api).delete_cluster_custom_object(
                constants.GROUP, constants.VERSION, constants.CLUSTER_PARTNER_PLURAL, partner
            )
        for process in started.values():
            process.stop()
        for namespace in namespaces:
            delete_namespace(api, namespace)
        stop_emulator_process(running)


def test_one_namespace_shard_checks_a_cluster_partner_and_nobody_fights_over_it(
    api: client.ApiClient,
    cluster_partner_shards: tuple[str, str, dict[str, OperatorProcess], str],
) -> None:
    url, secret_namespace, shards, partner = cluster_partner_shards
    objects = client.CustomObjectsApi(api)
    objects.create_cluster_custom_object(
        constants.GROUP,
        constants.VERSION,
        constants.CLUSTER_PARTNER_PLURAL,
        {
            "apiVersion": constants.API_VERSION,
            "kind": constants.CLUSTER_PARTNER_KIND,
            "metadata": {"name": partner},
            "spec": {
                "apiUrl": url,
                "tokenSecretRef": {"name": "partner", "namespace": secret_namespace},
                "namespaceSelector": {"matchLabels": {"waop-shared": partner}},
                "checkSeconds": 30,
            },
        },
    )

    def checked() -> dict[str, Any] | None:
        found: dict[str, Any] = objects.get_cluster_custom_object(
            constants.GROUP, constants.VERSION, constants.CLUSTER_PARTNER_PLURAL, partner
        )
        return found if has_condition(found, "Ready", "True", "CredentialsValid") else None

    found = wait_for(checked, "ClusterWhatsAppPartner checked", 30)
    stream = watch.Watch().stream(
        objects.list_cluster_custom_object,
        constants.GROUP,
        constants.VERSION,
        constants.CLUSTER_PARTNER_PLURAL,
        field_selector=f"metadata.name={partner}",
        resource_version=found["metadata"]["resourceVersion"],
        timeout_seconds=CLUSTER_PARTNER_IDLE_SECONDS,
    )
    writes = [(e["type"], e["object"]["metadata"].get("resourceVersion")) for e in stream]
    assert writes == [], f"writes to an idle ClusterWhatsAppPartner: {writes}"
    assert cluster_partner_checks(shards["a"]) > 0
    assert cluster_partner_checks(shards["b"]) == 0
    for running in shards.values():
        assert running.process.poll() is None
