"""Per-object series (decide/signals.py, metrics.Metrics): what status says, gone with it."""

from __future__ import annotations

import threading
from typing import Any

from whatsapp_operator import __version__, constants
from whatsapp_operator.decide.signals import Sample, object_samples
from whatsapp_operator.metrics import Metrics

WHO = (("namespace", "team-a"), ("name", "sales"))


def instance_status(**overrides: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "state": "notAuthorized",
        "stateSince": "2026-12-06T10:00:00Z",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "NotAuthorized"},
            {"type": "Authorized", "status": "False", "reason": "NotAuthorized"},
        ],
        "linking": {"phase": "CodeReady", "windowStartedAt": "2026-12-06T10:01:00Z"},
    }
    status.update(overrides)
    return status


def samples_of(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_an_instance_status_as_samples() -> None:
    samples = object_samples(constants.KIND, "team-a", "sales", instance_status(), "notAuthorized")
    ready = (("kind", constants.KIND), *WHO, ("condition", "Ready"))
    assert samples[Sample("resource_condition", (*ready, ("status", "False")))] == 1.0
    assert samples[Sample("resource_condition", (*ready, ("status", "True")))] == 0.0
    assert samples[Sample("resource_condition", (*ready, ("status", "Unknown")))] == 0.0
    assert samples[Sample("instance_state", (*WHO, ("state", "notAuthorized")))] == 1.0
    assert samples[Sample("instance_state_since_timestamp_seconds", WHO)] == 1796551200.0
    assert samples[Sample("instance_linking_started_timestamp_seconds", WHO)] == 1796551260.0
    # 2 conditions x 3 statuses, the state, since when, the linking window.
    assert len(samples) == 9


def test_a_linked_instance_has_no_linking_series() -> None:
    status = instance_status(state="authorized", linking={"phase": "Linked"})
    samples = object_samples(constants.KIND, "team-a", "sales", status, "authorized")
    assert Sample("instance_linking_started_timestamp_seconds", WHO) not in samples


def test_a_profile_reports_its_rollout() -> None:
    status = {"total": 10, "updated": 4, "failed": "team-a/sales", "conditions": []}
    samples = object_samples(constants.PROFILE_KIND, "team-a", "base", status, "unknown")
    who = (("namespace", "team-a"), ("name", "base"))
    assert samples[Sample("profile_instances", who)] == 10.0
    assert samples[Sample("profile_updated_instances", who)] == 4.0
    assert samples[Sample("profile_rollout_paused", who)] == 1.0


def test_series_follow_the_status_and_go_with_the_object() -> None:
    metrics = Metrics()
    metrics.observe_object(constants.KIND, "team-a", "sales", instance_status())
    metrics.observe_object(constants.PARTNER_KIND, "team-a", "acct", {"conditions": []})
    linking = "whatsapp_operator_instance_linking_started_timestamp_seconds"
    assert len(samples_of(metrics, linking)) == 1

    # Linked: the linking window and the old state's series are gone, the new state shows.
    linked = instance_status(state="authorized", linking={"phase": "Linked"})
    metrics.observe_object(constants.KIND, "team-a", "sales", linked)
    assert samples_of(metrics, linking) == {}
    states = samples_of(metrics, "whatsapp_operator_instance_state")
    assert states == {(("name", "sales"), ("namespace", "team-a"), ("state", "authorized")): 1.0}

    metrics.forget_object(constants.KIND, "team-a", "sales")
    assert samples_of(metrics, "whatsapp_operator_instance_state") == {}
    assert samples_of(metrics, "whatsapp_operator_resource_condition") == {}
    assert metrics.object_series() == 0


def test_process_series() -> None:
    metrics = Metrics()
    (build,) = samples_of(metrics, "whatsapp_operator_build_info").items()
    assert dict(build[0])["version"] == __version__
    assert build[1] == 1.0
    metrics.greenapi_call("getSettings", "ok", 0.2)
    counts = samples_of(metrics, "whatsapp_operator_greenapi_request_duration_seconds_count")
    assert counts == {(("method", "getsettings"), ("outcome", "ok")): 1.0}


def test_a_scrape_while_objects_change_sees_whole_objects() -> None:
    # The exporter scrapes from its own thread while the event loop publishes.
    metrics = Metrics()
    stop = threading.Event()

    def churn() -> None:
        i = 0
        while not stop.is_set():
            name = f"o{i % 50}"
            metrics.observe_object(constants.KIND, "team-a", name, instance_status())
            if i % 3 == 0:
                metrics.forget_object(constants.KIND, "team-a", name)
            i += 1

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(200):
            names: dict[str, set[str]] = {}
            for family in metrics.registry.collect():  # one scrape
                for sample in family.samples:
                    if "name" in sample.labels:
                        names.setdefault(sample.name, set()).add(sample.labels["name"])
            # Every object shown has all of its series: never half an object.
            states = names.get("whatsapp_operator_instance_state", set())
            assert states == names.get("whatsapp_operator_resource_condition", set())
            assert states == names.get(
                "whatsapp_operator_instance_state_since_timestamp_seconds", set()
            )
    finally:
        stop.set()
        worker.join()
