"""The Prometheus endpoint, scraped while the operator works: the numbers move as they should."""

from __future__ import annotations

from support.kube_helpers import action_stamp, wait_for
from tests.e2e.operator.harness import Emulator, OperatorProcess, Scenario, scrape, value
from whatsapp_operator import constants


def test_metrics_follow_applying_linking_and_errors(
    scenario: Scenario, emulator: Emulator, operator: OperatorProcess
) -> None:
    before = scrape(operator)
    name = "metered"
    id_instance = scenario.seed(name)
    scenario.create(name, settings={"incomingWebhook": True})
    scenario.ready(name)
    after_apply = scrape(operator)

    def grew(
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], metric: str, **labels: str
    ) -> float:
        return value(samples, metric, **labels) - value(before, metric, **labels)

    assert (
        grew(
            after_apply,
            "whatsapp_operator_greenapi_requests_total",
            method="setsettings",
            outcome="ok",
        )
        >= 1
    )
    assert (
        grew(
            after_apply,
            "whatsapp_operator_greenapi_requests_total",
            method="getstateinstance",
            outcome="ok",
        )
        >= 1
    )
    assert grew(after_apply, "whatsapp_operator_settings_writes_total", outcome="applied") >= 1
    assert (
        grew(
            after_apply,
            "whatsapp_operator_reconcile_duration_seconds_count",
            kind="WhatsAppInstance",
        )
        >= 2
    )
    assert value(after_apply, "whatsapp_operator_instances", state="notAuthorized") >= 1

    emulator.scan(id_instance, "79005550101")
    wait_for(
        lambda: value(scrape(operator), "whatsapp_operator_instances", state="authorized") >= 1,
        "authorized in the instances gauge",
        40,
    )

    emulator.set_faults([{"method": "getStateInstance", "errorRate": 1.0, "status": 502}])
    try:
        scenario.instances.annotate(name, {constants.ANNOTATION_RECONCILE: action_stamp()})
        wait_for(
            lambda: (
                grew(
                    scrape(operator),
                    "whatsapp_operator_reconcile_errors_total",
                    reason="GreenApiUnavailable",
                )
                >= 1
            ),
            "a GreenApiUnavailable error counted",
            40,
        )
        samples = scrape(operator)
        assert (
            grew(
                samples,
                "whatsapp_operator_greenapi_requests_total",
                method="getstateinstance",
                outcome="ServiceUnavailable",
            )
            >= 1
        )
    finally:
        emulator.clear_faults()


def test_per_object_series_follow_the_status_and_leave_with_the_object(
    scenario: Scenario, emulator: Emulator, operator: OperatorProcess
) -> None:
    name = "signalled"
    id_instance = scenario.seed(name)
    scenario.create(name)
    scenario.ready(name)
    who = {"namespace": scenario.namespace, "name": name}

    def series(
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], metric: str
    ) -> dict[tuple[tuple[str, str], ...], float]:
        return {
            labels: v
            for (found, labels), v in samples.items()
            if found == metric and set(who.items()) <= set(labels)
        }

    def state_is(state: str) -> bool:
        states = series(scrape(operator), "whatsapp_operator_instance_state")
        return states == {tuple(sorted({**who, "state": state}.items())): 1.0}

    wait_for(lambda: state_is("notAuthorized"), "the instance's state series", 40)
    samples = scrape(operator)
    conditions = series(samples, "whatsapp_operator_resource_condition")
    ready = {**who, "kind": constants.KIND, "condition": "Ready"}
    assert conditions[tuple(sorted({**ready, "status": "True"}.items()))] == 1.0
    assert conditions[tuple(sorted({**ready, "status": "False"}.items()))] == 0.0
    assert series(samples, "whatsapp_operator_instance_state_since_timestamp_seconds")
    assert series(samples, "whatsapp_operator_instance_linking_started_timestamp_seconds")

    emulator.scan(id_instance, "79005550102")
    wait_for(lambda: state_is("authorized"), "the state series to follow the scan", 40)
    linked = scrape(operator)
    assert series(linked, "whatsapp_operator_instance_linking_started_timestamp_seconds") == {}

    scenario.instances.delete(name)

    def gone() -> bool:
        samples = scrape(operator)
        return not any(
            series(samples, metric)
            for metric in (
                "whatsapp_operator_instance_state",
                "whatsapp_operator_resource_condition",
                "whatsapp_operator_instance_state_since_timestamp_seconds",
            )
        )

    wait_for(gone, "the deleted object's series to disappear", 40)
