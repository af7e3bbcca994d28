"""A settled fleet is quiet: no writes to the API server, only the configured GREEN-API reads.

Twenty instances settle, then the test watches for three state intervals. This is
the one place that waits for a fixed time: "nothing happens" can only be shown by
watching for a bounded window (the watch's own server-side timeout).
"""

from __future__ import annotations

from typing import Any

from kubernetes import client, watch

from support.kube_helpers import has_condition, list_events, wait_for
from tests.e2e.operator.harness import (
    FAST_INTERVALS,
    Emulator,
    OperatorProcess,
    Scenario,
    assert_no_leaks,
)
from whatsapp_operator import constants

FLEET = 20
STATE_SECONDS = FAST_INTERVALS["stateSeconds"]
WINDOW_SECONDS = 3 * STATE_SECONDS
# window / stateSeconds polls, +-1 for where the window falls and the +-10 % jitter.
MIN_STATE_POLLS = WINDOW_SECONDS // STATE_SECONDS - 1
MAX_STATE_POLLS = WINDOW_SECONDS // STATE_SECONDS + 1
ALLOWED_QUIET_METHODS = {"getstateinstance", "getsettings"}


def settled(obj: dict[str, Any]) -> bool:
    last_applied = (obj.get("status") or {}).get("lastApplied") or {}
    return (
        has_condition(obj, "Ready", "True")
        and has_condition(obj, "Synced", "True")
        and has_condition(obj, "Authorized", "True")
        and last_applied.get("confirmed") is True
    )


def calls_by_method(counters: dict[str, Any], id_instance: int) -> dict[str, int]:
    return {
        method: int(outcomes.get("total", 0))
        for method, outcomes in counters.get(str(id_instance), {}).items()
    }


def test_settled_fleet_is_quiet(
    scenario: Scenario, emulator: Emulator, operator: OperatorProcess
) -> None:
    names = [f"fleet-{i:02d}" for i in range(FLEET)]
    for name in names:
        scenario.seed(name, state="authorized")
        scenario.create(name, settings={"stateWebhook": True, "incomingWebhook": True})

    def all_settled() -> bool:
        objs = scenario.instances.list()
        return len(objs) == FLEET and all(settled(obj) for obj in objs)

    wait_for(
        all_settled,
        f"{FLEET} instances settled",
        timeout=90,
        interval=1.0,
        describe=lambda: str(
            sorted(o["metadata"]["name"] for o in scenario.instances.list() if not settled(o))
        ),
    )
    for name in names:
        assert len(emulator.set_settings_log(scenario.ids[name])) == 1, name

    listed = client.CustomObjectsApi(scenario.api).list_namespaced_custom_object(
        constants.GROUP, constants.VERSION, scenario.namespace, constants.PLURAL
    )
    events_before = {
        e["metadata"]["uid"]: e.get("count") for e in list_events(scenario.api, scenario.namespace)
    }
    counters_before = emulator.counters()

    seen: list[tuple[str, str]] = []
    stream = watch.Watch().stream(
        client.CustomObjectsApi(scenario.api).list_namespaced_custom_object,
        constants.GROUP,
        constants.VERSION,
        scenario.namespace,
        constants.PLURAL,
        resource_version=listed["metadata"]["resourceVersion"],
        timeout_seconds=WINDOW_SECONDS,
    )
    for event in stream:
        seen.append((event["type"], event["object"]["metadata"]["name"]))

    counters_after = emulator.counters()
    events_after = {
        e["metadata"]["uid"]: e.get("count") for e in list_events(scenario.api, scenario.namespace)
    }

    assert seen == [], f"writes to WhatsAppInstances while settled: {seen}"
    assert events_after == events_before, "new or repeated Events while settled"
    problems = []
    for name in names:
        id_instance = scenario.ids[name]
        before = calls_by_method(counters_before, id_instance)
        after = calls_by_method(counters_after, id_instance)
        delta = {m: after[m] - before.get(m, 0) for m in after if after[m] != before.get(m, 0)}
        state_polls = delta.get("getstateinstance", 0)
        if not MIN_STATE_POLLS <= state_polls <= MAX_STATE_POLLS:
            problems.append(f"{name}: {state_polls} getStateInstance in {WINDOW_SECONDS} s")
        if delta.get("getsettings", 0) > 1:
            problems.append(f"{name}: {delta['getsettings']} getSettings")
        unexpected = set(delta) - ALLOWED_QUIET_METHODS
        if unexpected:
            problems.append(f"{name}: unexpected calls {sorted(unexpected)}: {delta}")
    assert problems == [], "\n".join(problems)
    assert_no_leaks(scenario.leaks, operator, emulator, scenario.api, scenario.namespace)
