"""The operator when things go wrong: bad credentials, a missing Secret, GREEN-API down.

Each failure must show in the kstatus conditions (Stalled for what needs a person,
Reconciling for what retrying fixes) and heal by itself once the cause is gone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.emulator_process import start_emulator_process, stop_emulator_process
from support.kube_helpers import condition, has_condition, put_secret, wait_event
from tests.e2e.operator.harness import (
    EMULATOR_ARGS,
    FAST_INTERVALS,
    Emulator,
    OperatorProcess,
    Scenario,
    assert_no_leaks,
    free_port,
    new_token,
)

# Failures that need a person are re-checked only every stateSeconds; a recovery well
# inside that proves the operator noticed the Secret changing (it re-reads referenced
# Secrets every WAOP_SECRET_RECHECK_SECONDS, 15 s; it does not watch Secrets).
SLOW_POLL = {**FAST_INTERVALS, "stateSeconds": 60}
RECOVERY_DEADLINE = 25.0


def test_wrong_token_stalls_then_heals_when_the_secret_is_fixed(
    scenario: Scenario, emulator: Emulator
) -> None:
    name = "wrongtoken"
    scenario.seed(name, state="authorized")
    wrong = new_token()
    scenario.leaks.add("wrong token", wrong)
    secret = scenario.token_secret(name, token=wrong)
    scenario.create(name, with_secret=False, intervals=SLOW_POLL)

    obj = scenario.instances.wait_condition(name, "Stalled", "True", "TokenRejected")
    stalled = condition(obj, "Stalled")
    assert f"Secret {scenario.namespace}/{secret} key apiTokenInstance" in stalled["message"]
    assert wrong not in stalled["message"]
    assert (condition(obj, "Ready")["status"], condition(obj, "Reconciling")["status"]) == (
        "False",
        "False",
    )
    assert wrong not in obj["status"].get("lastError", "")
    wait_event(scenario.api, scenario.namespace, name, "Warning", "TokenRejected")

    put_secret(
        scenario.api, scenario.namespace, secret, {"apiTokenInstance": scenario.tokens[name]}
    )
    obj = scenario.instances.wait_condition(name, "Ready", "True", timeout=RECOVERY_DEADLINE)
    assert has_condition(obj, "Stalled", "False")
    assert has_condition(obj, "Authorized", "True")


def test_missing_secret_stalls_then_heals_when_it_is_created(
    scenario: Scenario, emulator: Emulator
) -> None:
    name = "nosecret"
    scenario.seed(name, state="authorized")
    scenario.create(name, with_secret=False, intervals=SLOW_POLL)

    obj = scenario.instances.wait_condition(name, "Stalled", "True", "SecretNotFound")
    assert f"{name}-token" in condition(obj, "Stalled")["message"]
    assert has_condition(obj, "Ready", "False")
    assert emulator.counters().get(str(scenario.ids[name])) is None  # nothing sent without a token

    scenario.token_secret(name)
    scenario.instances.wait_condition(name, "Ready", "True", timeout=RECOVERY_DEADLINE)


def test_greenapi_errors_mean_reconciling_not_stalled(
    scenario: Scenario, emulator: Emulator
) -> None:
    name = "faults"
    id_instance = scenario.seed(name, state="authorized")
    scenario.create(name)
    scenario.ready(name)

    emulator.set_faults([{"method": "*", "instanceId": id_instance, "errorRate": 1, "status": 502}])
    obj = scenario.instances.wait_condition(
        name, "Reconciling", "True", "RetryingAfterError", timeout=30
    )
    assert has_condition(obj, "Stalled", "False")
    assert has_condition(obj, "Ready", "False")
    assert "GREEN-API answered 502" in condition(obj, "Reconciling")["message"]

    emulator.clear_faults()
    obj = scenario.instances.wait_condition(name, "Ready", "True", timeout=40)
    assert has_condition(obj, "Reconciling", "False")
    assert has_condition(obj, "Authorized", "True")


@pytest.fixture
def own_emulator() -> Iterator[tuple[Emulator, int]]:
    """An emulator on a fixed port of its own, so a test can stop it and bring it back."""
    port = free_port()
    running = start_emulator_process(*EMULATOR_ARGS, "--port", str(port))
    wrapped = Emulator(running)
    try:
        yield wrapped, port
    finally:
        wrapped.close()
        if wrapped.running.process.poll() is None:
            stop_emulator_process(wrapped.running)


def test_greenapi_down_then_back(scenario: Scenario, own_emulator: tuple[Emulator, int]) -> None:
    first, port = own_emulator
    name = "outage"
    id_instance = 7105_999_001
    token = new_token()
    scenario.leaks.add("outage token", token)
    seed = {
        "idInstance": id_instance,
        "apiTokenInstance": token,
        "state": "authorized",
        "phone": "79005550101",
    }
    first.seed(**seed)
    put_secret(scenario.api, scenario.namespace, f"{name}-token", {"apiTokenInstance": token})
    spec = {
        "instance": {
            "id": id_instance,
            "apiUrl": first.url,
            "tokenSecretRef": {"name": f"{name}-token"},
        },
        "intervals": dict(FAST_INTERVALS),
    }
    scenario.instances.create(name, spec)
    scenario.instances.wait_condition(name, "Ready", "True")

    first.close()
    stop_emulator_process(first.running)
    obj = scenario.instances.wait_condition(
        name, "Reconciling", "True", "RetryingAfterError", timeout=30
    )
    assert has_condition(obj, "Stalled", "False")
    assert "cannot connect" in condition(obj, "Reconciling")["message"]

    second = Emulator(start_emulator_process(*EMULATOR_ARGS, "--port", str(port)))
    try:
        second.seed(**seed)
        obj = scenario.instances.wait_condition(name, "Ready", "True", timeout=40)
        assert has_condition(obj, "Reconciling", "False")
        assert second.too_many_requests() == {}
    finally:
        second.close()
        stop_emulator_process(second.running)


def test_no_secret_in_logs_events_or_resources(
    scenario: Scenario, emulator: Emulator, operator: OperatorProcess
) -> None:
    """Runs last in this module: the right and the wrong tokens above never show up."""
    assert_no_leaks(scenario.leaks, operator, emulator, scenario.api, scenario.namespace)
