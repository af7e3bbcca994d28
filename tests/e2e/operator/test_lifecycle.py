"""The operator against a real API server and the GREEN-API emulator: the happy paths.

Apply, link a phone, edit settings, out-of-band changes, dropped writes and the
action annotations. Every wait polls with a deadline.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from support.kube_helpers import (
    action_stamp,
    condition,
    events_for,
    has_condition,
    read_secret,
    wait_for,
)
from support.kube_helpers import wait_event as kube_wait_event
from tests.e2e.operator.harness import (
    FAST_INTERVALS,
    Emulator,
    OperatorProcess,
    Scenario,
    assert_no_leaks,
    new_token,
)
from whatsapp_operator import constants

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CONDITION_TYPES = {"Ready", "Synced", "Authorized", "Reconciling", "Stalled"}
FAST_SETTLE = FAST_INTERVALS["settleSeconds"]
SETTINGS = {"stateWebhook": True, "incomingWebhook": True, "delaySendMessagesMilliseconds": 1500}


def reasons(scene: Scenario, name: str) -> list[tuple[str, str]]:
    return [(e["type"], e["reason"]) for e in events_for(scene.api, scene.namespace, name)]


def wait_event(scene: Scenario, name: str, kind: str, reason: str, timeout: float = 20.0) -> Any:
    return kube_wait_event(scene.api, scene.namespace, name, kind, reason, timeout)


def test_lifecycle_apply_link_and_report(scenario: Scenario, emulator: Emulator) -> None:
    name = "alpha"
    id_instance = scenario.seed(name)
    scenario.create(name, settings=SETTINGS)

    obj = scenario.ready(name)
    status = obj["status"]
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert set(conditions) == CONDITION_TYPES
    for item in conditions.values():
        assert item["observedGeneration"] == obj["metadata"]["generation"], item
        assert item["lastTransitionTime"], item
    assert (conditions["Authorized"]["status"], conditions["Authorized"]["reason"]) == (
        "False",
        "NotAuthorized",
    )
    assert conditions["Stalled"]["status"] == "False"
    assert conditions["Reconciling"]["status"] == "False"
    assert status["instanceId"] == id_instance
    assert status["observedSettings"]["stateWebhook"] == "true"
    assert status["lastApplied"]["confirmed"] is True
    applied = emulator.instance(id_instance)["settings"]
    assert (applied["stateWebhook"], applied["incomingWebhook"]) == ("yes", "yes")
    assert applied["delaySendMessagesMilliseconds"] == 1500
    # Who owns which field (kubectl get --show-managed-fields, server-side apply conflicts,
    # Argo CD diffs): the status is the operator's, by name.
    owners = {
        (entry["manager"], entry.get("subresource", ""))
        for entry in obj["metadata"]["managedFields"]
    }
    assert ("whatsapp-operator", "status") in owners, owners
    assert not any(sub == "status" and manager != "whatsapp-operator" for manager, sub in owners)

    secret_name = f"{name}-linking"
    linking = wait_for(
        lambda: read_secret(scenario.api, scenario.namespace, secret_name),
        f"linking Secret {secret_name}",
        45,
    )
    assert linking["qr.png"].startswith(PNG_SIGNATURE)
    scenario.leaks.add("QR code of alpha", base64.b64encode(linking["qr.png"]).decode())
    obj = scenario.instances.wait(
        name,
        lambda o: (o["status"].get("linking") or {}).get("phase") == "CodeReady",
        "linking phase CodeReady",
    )
    assert secret_name in condition(obj, "Authorized")["message"]

    emulator.scan(id_instance, "79001112233")
    obj = scenario.instances.wait_condition(name, "Authorized", "True", "Authorized", timeout=45)
    assert obj["status"]["account"]["phone"] == "79001112233"
    assert obj["status"]["state"] == "authorized"
    assert has_condition(obj, "Ready", "True")
    wait_for(
        lambda: read_secret(scenario.api, scenario.namespace, secret_name) is None,
        "linking Secret deleted after the scan",
        20,
    )
    wait_event(scenario, name, "Normal", "Authorized")
    wait_event(scenario, name, "Normal", "SettingsApplied")
    # One write: the three keys, nothing else.
    log = emulator.set_settings_log(id_instance)
    assert [entry["body"] for entry in log] == [
        {"stateWebhook": "yes", "incomingWebhook": "yes", "delaySendMessagesMilliseconds": 1500}
    ]


def test_settings_edit_sends_only_the_changed_key(scenario: Scenario, emulator: Emulator) -> None:
    name = "edit"
    id_instance = scenario.seed(name)
    scenario.create(name, settings=SETTINGS)
    before = scenario.ready(name)
    assert len(emulator.set_settings_log(id_instance)) == 1
    calls_before = emulator.calls(id_instance, "setSettings")

    patched = scenario.instances.patch(name, {"spec": {"settings": {"incomingWebhook": False}}})
    assert patched["metadata"]["generation"] == before["metadata"]["generation"] + 1
    obj = scenario.ready(name)
    assert obj["status"]["observedSettings"]["incomingWebhook"] == "false"
    assert obj["status"]["lastApplied"]["fields"] == ["incomingWebhook"]

    log = emulator.set_settings_log(id_instance)
    assert [entry["body"] for entry in log[1:]] == [{"incomingWebhook": "no"}]
    assert emulator.calls(id_instance, "setSettings") == calls_before + 1
    assert emulator.instance(id_instance)["settings"]["incomingWebhook"] == "no"


def request_reconcile(scene: Scenario, name: str) -> dict[str, Any]:
    """Ask for a fresh read now (instead of waiting for settingsSeconds); wait until handled."""
    value = action_stamp()
    scene.instances.annotate(name, {constants.ANNOTATION_RECONCILE: value})
    return scene.instances.wait(
        name,
        lambda o: (o["status"].get("handledActions") or {}).get("reconcile") == value,
        f"reconcile request {value} handled",
    )


def change_out_of_band(
    emulator: Emulator, scene: Scenario, name: str, body: dict[str, str]
) -> None:
    """setSettings on GREEN-API itself, as a person would; wait until it has been applied."""
    id_instance = scene.ids[name]
    emulator.user_set_settings(id_instance, scene.tokens[name], body)
    wait_for(
        lambda: (
            all(
                emulator.instance(id_instance)["settings"][key] == value
                for key, value in body.items()
            )
            and emulator.instance(id_instance)["state"] != "starting"
        ),
        f"GREEN-API to apply {body}",
        15,
    )


def test_out_of_band_change_is_corrected_once(scenario: Scenario, emulator: Emulator) -> None:
    name = "drift"
    id_instance = scenario.seed(name)
    scenario.create(name, settings=SETTINGS)
    scenario.ready(name)

    change_out_of_band(emulator, scenario, name, {"stateWebhook": "no"})
    request_reconcile(scenario, name)
    wait_event(scenario, name, "Warning", "DriftCorrected")
    obj = scenario.ready(name)
    assert obj["status"].get("drift", []) == []

    bodies = [entry["body"] for entry in emulator.set_settings_log(id_instance)]
    # The operator's first apply, the person's change, and exactly one correction.
    assert bodies[1:] == [{"stateWebhook": "no"}, {"stateWebhook": "yes"}]
    assert emulator.instance(id_instance)["settings"]["stateWebhook"] == "yes"
    corrections = [r for r in reasons(scenario, name) if r[1] == "DriftCorrected"]
    assert len(corrections) == 1


def test_out_of_band_change_is_only_reported_under_observe(
    scenario: Scenario, emulator: Emulator
) -> None:
    name = "observe"
    id_instance = scenario.seed(name, settings={"stateWebhook": "yes", "incomingWebhook": "yes"})
    scenario.create(
        name,
        managementPolicy="Observe",
        settings={"stateWebhook": True, "incomingWebhook": True},
    )
    scenario.ready(name)
    assert emulator.set_settings_log(id_instance) == []

    change_out_of_band(emulator, scenario, name, {"incomingWebhook": "no"})
    request_reconcile(scenario, name)
    obj = scenario.instances.wait_condition(name, "Synced", "False", "Drifted")
    drift = obj["status"]["drift"]
    assert [(d["field"], d["desired"], d["observed"]) for d in drift] == [
        ("incomingWebhook", "true", "false")
    ]
    assert "incomingWebhook" in condition(obj, "Synced")["message"]
    # Observe reports, it does not fail: Ready stays True (reason Observing), nothing stalls.
    assert (condition(obj, "Ready")["status"], condition(obj, "Ready")["reason"]) == (
        "True",
        "Observing",
    )
    assert condition(obj, "Stalled")["status"] == "False"
    wait_event(scenario, name, "Warning", "DriftDetected")
    # Only the person's own call: the operator never wrote.
    assert [entry["body"] for entry in emulator.set_settings_log(id_instance)] == [
        {"incomingWebhook": "no"}
    ]


def test_dropped_set_settings_is_reapplied_after_settle(
    scenario: Scenario, emulator: Emulator
) -> None:
    name = "dropped"
    id_instance = scenario.seed(name)
    emulator.drop_settings(id_instance, 1)
    scenario.create(name, settings={"stateWebhook": True})

    wait_event(scenario, name, "Warning", "SettingsReapplied", timeout=30)
    obj = scenario.ready(name)
    assert obj["status"]["lastApplied"]["attempts"] == 2
    log = emulator.set_settings_log(id_instance)
    assert [(entry["body"], entry["dropped"]) for entry in log] == [
        ({"stateWebhook": "yes"}, True),
        ({"stateWebhook": "yes"}, False),
    ]
    # Re-applied only after the settle window, not at once (status times are whole seconds,
    # so the window may end up to 1 s early).
    assert log[1]["at"] - log[0]["at"] >= FAST_SETTLE - 1


def test_reboot_annotation_is_performed_once(scenario: Scenario, emulator: Emulator) -> None:
    name = "reboot"
    id_instance = scenario.seed(name, state="authorized")
    scenario.create(name)
    scenario.ready(name)
    assert emulator.calls(id_instance, "reboot") == 0

    r1 = action_stamp()
    scenario.instances.annotate(name, {constants.ANNOTATION_REBOOT: r1})
    obj = scenario.instances.wait(
        name,
        lambda o: (o["status"].get("handledActions") or {}).get("reboot") == r1,
        "reboot r1 handled",
    )
    assert emulator.calls(id_instance, "reboot") == 1
    history = [h["stateInstance"] for h in emulator.instance(id_instance)["history"]]
    assert "starting" in history
    wait_event(scenario, name, "Normal", "Rebooted")
    # Later reconciles see the same value and do not reboot again.
    request_reconcile(scenario, name)
    scenario.ready(name)
    assert emulator.calls(id_instance, "reboot") == 1
    assert obj["status"]["handledActions"]["reboot"] == r1


def test_logout_annotation(scenario: Scenario, emulator: Emulator) -> None:
    name = "logout"
    id_instance = scenario.seed(name, state="authorized")
    scenario.create(name)
    scenario.instances.wait_condition(name, "Authorized", "True")

    l1 = action_stamp()
    scenario.instances.annotate(name, {constants.ANNOTATION_LOGOUT: l1})
    obj = scenario.instances.wait_condition(name, "Authorized", "False", "NotAuthorized")
    assert obj["status"]["handledActions"]["logout"] == l1
    assert emulator.instance(id_instance)["state"] == "notAuthorized"
    assert emulator.calls(id_instance, "logout") == 1
    assert "account" not in obj["status"]
    wait_event(scenario, name, "Normal", "LoggedOut")
    wait_event(scenario, name, "Warning", "AuthorizationLost")


def test_paused_annotation_holds_writes(scenario: Scenario, emulator: Emulator) -> None:
    name = "paused"
    id_instance = scenario.seed(name, state="authorized")
    scenario.create(name, settings={"stateWebhook": True})
    scenario.ready(name)
    assert len(emulator.set_settings_log(id_instance)) == 1

    scenario.instances.annotate(name, {constants.ANNOTATION_PAUSED: "true"})
    scenario.instances.patch(name, {"spec": {"settings": {"incomingWebhook": True}}})
    obj = scenario.instances.wait_condition(name, "Synced", "False", "ReconcilePaused")
    assert "incomingWebhook" in condition(obj, "Synced")["message"]
    assert [d["field"] for d in obj["status"]["drift"]] == ["incomingWebhook"]
    # A fresh look while paused: still no write.
    request_reconcile(scenario, name)
    assert has_condition(scenario.instances.get(name), "Synced", "False", "ReconcilePaused")
    assert len(emulator.set_settings_log(id_instance)) == 1

    scenario.instances.annotate(name, {constants.ANNOTATION_PAUSED: None})
    scenario.ready(name)
    bodies = [entry["body"] for entry in emulator.set_settings_log(id_instance)]
    assert bodies[1:] == [{"incomingWebhook": "yes"}]


def test_delete_with_open_qr_session_is_prompt(scenario: Scenario, emulator: Emulator) -> None:
    name = "deleted"
    scenario.seed(name)
    scenario.create(name)
    secret_name = f"{name}-linking"
    wait_for(
        lambda: read_secret(scenario.api, scenario.namespace, secret_name),
        f"linking Secret {secret_name}",
        30,
    )
    scenario.instances.wait(
        name,
        lambda o: (o["status"].get("linking") or {}).get("phase") == "CodeReady",
        "linking phase CodeReady",
    )
    started = time.monotonic()
    scenario.instances.delete(name)
    wait_for(lambda: not scenario.instances.list(), "the instance to be gone", 30)
    # The resource goes at once (no finalizer with deletionPolicy Orphan); its codes go
    # right after, when the operator sees the deletion.
    wait_for(
        lambda: read_secret(scenario.api, scenario.namespace, secret_name) is None,
        f"linking Secret {secret_name} deleted",
        30,
    )
    elapsed = time.monotonic() - started
    assert elapsed < 5.0, f"deletion took {elapsed:.1f} s"


def test_proxy_credentials_stay_out_of_status(scenario: Scenario, emulator: Emulator) -> None:
    name = "proxied"
    password = "Pr0xyPassw0rd" + new_token()[:8]
    scenario.seed(name, settings={"proxyInstance": f"http://proxyuser:{password}@10.0.0.5:3128"})
    scenario.create(name, settings={"stateWebhook": True})
    obj = scenario.ready(name)
    events = events_for(scenario.api, scenario.namespace, name)
    assert password not in json.dumps(events)
    assert password not in json.dumps(obj), obj["status"].get("observedSettings")


def test_no_secret_in_logs_events_or_resources(
    scenario: Scenario, emulator: Emulator, operator: OperatorProcess
) -> None:
    """Runs last in this module: the operator's log then covers every test above."""
    qr_name, pairing_name = "qrleak", "pairing"
    scenario.seed(qr_name)
    id_pairing = scenario.seed(pairing_name)
    scenario.create(qr_name)
    scenario.create(
        pairing_name,
        authorization={"method": "PhoneNumber", "phoneNumber": "79001234567"},
    )
    qr = wait_for(
        lambda: read_secret(scenario.api, scenario.namespace, f"{qr_name}-linking"),
        "QR code Secret",
        45,
    )
    scenario.leaks.add("QR code", base64.b64encode(qr["qr.png"]).decode())
    pairing = wait_for(
        lambda: read_secret(scenario.api, scenario.namespace, f"{pairing_name}-linking"),
        "pairing code Secret",
        45,
    )
    code = pairing["code"].decode()
    scenario.leaks.add("pairing code", code)
    assert emulator.instance(id_pairing)["pairingCode"]["code"] == code
    obj = scenario.instances.wait(
        pairing_name,
        lambda o: (o["status"].get("linking") or {}).get("phase") == "CodeReady",
        "linking phase CodeReady",
    )
    assert "key code" in condition(obj, "Authorized")["message"]

    emulator.pair(id_pairing, code)
    obj = scenario.instances.wait_condition(pairing_name, "Authorized", "True", timeout=45)
    assert obj["status"]["account"]["phone"] == "79001234567"
    wait_for(
        lambda: read_secret(scenario.api, scenario.namespace, f"{pairing_name}-linking") is None,
        "pairing code Secret deleted",
        20,
    )
    assert_no_leaks(scenario.leaks, operator, emulator, scenario.api, scenario.namespace)
