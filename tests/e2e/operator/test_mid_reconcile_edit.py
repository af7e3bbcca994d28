"""A change that lands while a reconcile runs is answered by a whole reconcile right after it.

The running reconcile is held in a slow setSettings (the emulator's latency switch), so
the edit surely lands mid-reconcile; the operator must neither wait for its next settings
read (settingsSeconds) nor send anything twice.
"""

from __future__ import annotations

from support.kube_helpers import wait_for
from tests.e2e.operator.harness import Emulator, OperatorProcess, Scenario

SLOW_MS = 4000
# The rerun starts at once, but GREEN-API reboots an instance on every setSettings: when the
# rerun's state read catches the reboot (`starting`, 1 s in the emulator), the write waits
# for the next state poll (stateSeconds, 10 s here). Bounded by that, far below the 60 s
# settings interval a lost wake would wait.
AFTER_END_SECONDS = 25.0


def test_an_edit_landing_mid_reconcile_is_applied_right_after(
    scenario: Scenario, emulator: Emulator, operator: OperatorProcess
) -> None:
    name = "edited"
    id_instance = scenario.seed(name, state="authorized")
    scenario.create(name, settings={"incomingWebhook": True})
    scenario.ready(name)
    writes = len(emulator.set_settings_log(id_instance))

    emulator.set_faults(
        [{"method": "setSettings", "instanceId": id_instance, "latencyMs": SLOW_MS}]
    )
    since = operator.log_size()
    scenario.instances.patch(
        name, {"spec": {"settings": {"webhookUrl": "https://hooks.example.com/1"}}}
    )
    wait_for(
        lambda: "setSettings" in (tail := operator.log_tail(since)) and "calling GREEN-API" in tail,
        "the first setSettings under way",
        30,
    )
    emulator.clear_faults()  # the call under way stays slow; the next one is not
    edited = scenario.instances.patch(
        name, {"spec": {"settings": {"webhookUrl": "https://hooks.example.com/2"}}}
    )
    assert len(emulator.set_settings_log(id_instance)) == writes  # it is still running

    wait_for(
        lambda: len(emulator.set_settings_log(id_instance)) > writes,
        "the slow setSettings answered",
        SLOW_MS / 1000 + 20,
    )
    wait_for(
        lambda: len(emulator.set_settings_log(id_instance)) > writes + 1,
        "the edit sent right after the running reconcile",
        AFTER_END_SECONDS,
    )
    generation = edited["metadata"]["generation"]
    obj = scenario.instances.wait(
        name,
        lambda o: (
            o["status"].get("observedGeneration") == generation
            and any(
                c["type"] == "Synced" and c["status"] == "True"
                for c in o["status"].get("conditions") or []
            )
        ),
        f"Synced at generation {generation}",
        30,
    )
    assert obj["status"]["observedGeneration"] == generation
    bodies = [entry["body"] for entry in emulator.set_settings_log(id_instance)[writes:]]
    assert bodies == [
        {"webhookUrl": "https://hooks.example.com/1"},
        {"webhookUrl": "https://hooks.example.com/2"},
    ]
