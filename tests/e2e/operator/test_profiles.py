"""Settings profiles end to end: the built-in Recommended profile, a shared
WhatsAppSettingsProfile rolled out a few instances at a time, QR codes while settings apply.

The module's emulator applies settings slower than the suite's default (starting 3 s,
applied after 6 s), so a QR code handed out "while the settings apply" is observable,
and the instances' settle window (10 s) outlasts that. Fleet size: WAOP_E2E_PROFILE_FLEET
(default 20).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from support.emulator_process import start_emulator_process, stop_emulator_process
from support.kube_helpers import has_condition, list_events, put_secret, read_secret, wait_for
from tests.e2e.operator.harness import Emulator, Scenario
from whatsapp_operator import constants
from whatsapp_operator.api.profile import RECOMMENDED

FLEET = int(os.environ.get("WAOP_E2E_PROFILE_FLEET", "20"))
INTERVALS = {"stateSeconds": 10, "settingsSeconds": 60, "settleSeconds": 10}
STARTING_SECONDS = 3
APPLY_SECONDS = 6


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    running = start_emulator_process(
        "--creation-seconds",
        "1",
        "--starting-seconds",
        str(STARTING_SECONDS),
        "--settings-apply-seconds",
        str(APPLY_SECONDS),
        "--log-level",
        "DEBUG",
    )
    wrapped = Emulator(running)
    try:
        yield wrapped
    finally:
        wrapped.close()
        stop_emulator_process(running)


class Profiles:
    """WhatsAppSettingsProfiles of one namespace."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.objects = client.CustomObjectsApi(api)
        self.args = (constants.GROUP, constants.VERSION, namespace, constants.PROFILE_PLURAL)
        self.namespace = namespace

    def create(self, name: str, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": constants.API_VERSION,
            "kind": constants.PROFILE_KIND,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        }
        self.objects.create_namespaced_custom_object(*self.args, body)

    def get(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.objects.get_namespaced_custom_object(*self.args, name)
        return found

    def patch(self, name: str, patch: dict[str, Any]) -> None:
        self.objects.patch_namespaced_custom_object(*self.args, name, patch)

    def delete(self, name: str) -> None:
        self.objects.delete_namespaced_custom_object(*self.args, name)


def profile_events(scenario: Scenario, name: str) -> list[dict[str, Any]]:
    return [
        e
        for e in list_events(scenario.api, scenario.namespace)
        if e.get("involvedObject", {}).get("kind") == constants.PROFILE_KIND
        and e.get("involvedObject", {}).get("name") == name
    ]


def profile_status(profiles: Profiles, name: str) -> dict[str, Any]:
    return profiles.get(name).get("status") or {}


def rolled_out(profiles: Profiles, name: str, total: int) -> dict[str, Any] | None:
    obj = profiles.get(name)
    status = obj.get("status") or {}
    done = (
        status.get("observedGeneration") == obj["metadata"]["generation"]
        and status.get("updated") == total
        and status.get("total") == total
        and has_condition(obj, "Ready", "True", "RolledOut")
    )
    return obj if done else None


def most_writes_within(times: list[float], window: float) -> int:
    """The largest number of writes that fall inside any `window` seconds."""
    ordered = sorted(times)
    return max(
        (sum(1 for t in ordered if start <= t < start + window) for start in ordered), default=0
    )


def create_fleet(scenario: Scenario, names: list[str], profile: str) -> None:
    for name in names:
        scenario.seed(name, state="authorized")
        scenario.create(name, settingsProfileRef={"name": profile}, intervals=dict(INTERVALS))


def test_a_profile_change_is_rolled_out_a_few_instances_at_a_time(
    scenario: Scenario, emulator: Emulator
) -> None:
    profiles = Profiles(scenario.api, scenario.namespace)
    profiles.create(
        "fleet", {"settings": {"incomingWebhook": True}, "rollout": {"maxUnavailable": "25%"}}
    )
    limit = max(1, FLEET * 25 // 100)
    names = [f"fleet-{i:02d}" for i in range(FLEET)]
    create_fleet(scenario, names, "fleet")
    wait_for(
        lambda: rolled_out(profiles, "fleet", FLEET),
        f"the first revision on {FLEET} instances",
        timeout=60 + 12 * FLEET / limit,
        interval=1.0,
        describe=lambda: str(profile_status(profiles, "fleet")),
    )
    first = {n: len(emulator.set_settings_log(scenario.ids[n])) for n in names}
    assert set(first.values()) == {1}, first

    profiles.patch("fleet", {"spec": {"settings": {"stateWebhook": True}}})
    seen_in_flight: list[int] = []

    def done() -> dict[str, Any] | None:
        status = profile_status(profiles, "fleet")
        seen_in_flight.append(len(status.get("inFlight") or []))
        return rolled_out(profiles, "fleet", FLEET)

    final = wait_for(
        done,
        f"the changed profile on {FLEET} instances",
        timeout=60 + 12 * FLEET / limit,
        interval=0.5,
        describe=lambda: str(profile_status(profiles, "fleet")),
    )
    assert max(seen_in_flight) <= limit, seen_in_flight
    assert final["status"]["maxUnavailable"] == limit

    change_times = []
    for name in names:
        log = emulator.set_settings_log(scenario.ids[name])
        assert len(log) == 2, (name, log)  # exactly one setSettings for the change
        assert log[1]["body"] == {"stateWebhook": "yes"}, log[1]
        change_times.append(float(log[1]["at"]))
        obj = scenario.instances.get(name)
        assert obj["status"]["settingsProfile"]["revision"] == final["status"]["revision"]
        assert has_condition(obj, "Synced", "True")
    # An instance is in flight from its write until it is Synced again, which takes at
    # least its settle window: so no window shorter than that holds more writes than slots.
    assert most_writes_within(change_times, INTERVALS["settleSeconds"] * 0.9) <= limit
    assert any(e["reason"] == "RolloutComplete" for e in profile_events(scenario, "fleet"))


def test_an_instance_that_does_not_come_back_pauses_the_rollout(
    scenario: Scenario, emulator: Emulator
) -> None:
    profiles = Profiles(scenario.api, scenario.namespace)
    profiles.create(
        "paced", {"settings": {"incomingWebhook": True}, "rollout": {"maxUnavailable": 1}}
    )
    names = ["pa", "pb", "pc"]
    create_fleet(scenario, names, "paced")
    wait_for(lambda: rolled_out(profiles, "paced", 3), "first revision", 90, 1.0)
    for name in names:
        emulator.drop_settings(scenario.ids[name], count=2)

    profiles.patch("paced", {"spec": {"settings": {"stateWebhook": True}}})

    def paused() -> dict[str, Any] | None:
        obj = profiles.get("paced")
        return obj if has_condition(obj, "Stalled", "True", "RolloutPaused") else None

    obj = wait_for(paused, "RolloutPaused", 90, 1.0, lambda: str(profile_status(profiles, "paced")))
    failed = obj["status"]["failed"]
    assert failed in names
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert failed in ready["message"]
    assert has_condition(obj, "Reconciling", "False")
    assert any(
        e["reason"] == "RolloutPaused" and failed in e["message"]
        for e in profile_events(scenario, "paced")
    )
    # The failed one got its write and the one re-apply; nobody else started meanwhile.
    logs = {n: emulator.set_settings_log(scenario.ids[n]) for n in names}
    assert len(logs[failed]) == 3, logs[failed]
    assert all(len(logs[n]) == 1 for n in names if n != failed), logs
    assert obj["status"]["updated"] == 0


def test_deleting_a_referenced_profile_is_reported_on_the_instances(
    scenario: Scenario, emulator: Emulator
) -> None:
    profiles = Profiles(scenario.api, scenario.namespace)
    profiles.create("gone", {"settings": {"incomingWebhook": True}})
    create_fleet(scenario, ["ga"], "gone")
    wait_for(lambda: rolled_out(profiles, "gone", 1), "rolled out", 60, 1.0)
    profiles.delete("gone")
    obj = scenario.instances.wait_condition("ga", "Stalled", "True", "ProfileNotFound", timeout=30)
    assert (
        "gone" in next(c for c in obj["status"]["conditions"] if c["type"] == "Stalled")["message"]
    )
    # Recreated: the instance carries on.
    profiles.create("gone", {"settings": {"incomingWebhook": True}})
    scenario.instances.wait_condition("ga", "Synced", "True", timeout=30)


def recommended_wire(**overrides: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        key: ("yes" if value else "no") if isinstance(value, bool) else value
        for key, value in RECOMMENDED.model_dump(by_alias=True, exclude_none=True).items()
    }
    wire.update(overrides)
    return wire


def test_a_fresh_instance_gets_the_recommended_profile_and_a_qr_code_while_it_applies(
    scenario: Scenario, emulator: Emulator
) -> None:
    id_instance = scenario.seed("fresh")
    scenario.create(
        "fresh",
        settingsProfile="Recommended",
        settings={
            "delaySendMessagesMilliseconds": 5000,
            "webhookUrl": "https://hooks.example.com/w",
        },
        intervals=dict(INTERVALS),
    )

    def code_while_applying() -> dict[str, Any] | None:
        data = read_secret(scenario.api, scenario.namespace, "fresh-linking")
        if not data or "qr.png" not in data:
            return None
        return emulator.instance(id_instance)

    view = wait_for(code_while_applying, "a QR code in fresh-linking", timeout=APPLY_SECONDS)
    assert view["pendingSettings"], "the settings were applied before the first code was stored"
    log = emulator.set_settings_log(id_instance)
    assert len(log) == 1
    wanted = recommended_wire(
        delaySendMessagesMilliseconds=5000, webhookUrl="https://hooks.example.com/w"
    )
    # Only the keys that differ are sent; together with what was there, they are the page's.
    assert log[0]["body"].items() <= wanted.items()
    before = {k: v for k, v in view["settings"].items() if k in wanted}
    assert {**before, **log[0]["body"]} == wanted

    obj = scenario.instances.wait_condition("fresh", "Synced", "True", timeout=40)
    assert obj["status"]["observedSettings"]["keepOnlineStatus"] == "true"
    assert obj["status"]["observedSettings"]["delaySendMessagesMilliseconds"] == "5000"
    assert len(emulator.set_settings_log(id_instance)) == 1
    applied = emulator.instance(id_instance)["settings"]
    assert {k: applied[k] for k in wanted} == wanted

    emulator.scan(id_instance, "79001112233")
    scenario.instances.wait_condition("fresh", "Authorized", "True", timeout=30)
    wait_for(
        lambda: read_secret(scenario.api, scenario.namespace, "fresh-linking") is None,
        "the linking Secret deleted after the scan",
        timeout=20,
    )
    assert len(emulator.set_settings_log(id_instance)) == 1


def test_observe_mode_with_a_profile_reports_drift_only(
    scenario: Scenario, emulator: Emulator
) -> None:
    id_instance = scenario.seed("watched", state="authorized")
    scenario.create(
        "watched",
        settingsProfile="Recommended",
        managementPolicy="Observe",
        intervals=dict(INTERVALS),
    )
    obj = scenario.instances.wait_condition("watched", "Synced", "False", "Drifted", timeout=30)
    drifted = {d["field"] for d in obj["status"]["drift"]}
    assert "keepOnlineStatus" in drifted
    assert "delaySendMessagesMilliseconds" in drifted
    desired = {d["field"]: d["desired"] for d in obj["status"]["drift"]}
    assert desired["delaySendMessagesMilliseconds"] == "3000"
    assert emulator.set_settings_log(id_instance) == []


def test_partners_and_profiles_with_the_old_finalizer_are_not_stuck_on_deletion(
    scenario: Scenario,
) -> None:
    """Older versions checked partners and profiles in kopf daemons, for which kopf put its
    finalizer on them; nothing requires one now (run/kinds.py), so it goes, and deleting
    such an object is not held up. New objects get none."""
    objects = client.CustomObjectsApi(scenario.api)
    put_secret(scenario.api, scenario.namespace, "old-credentials", {"partnerToken": "x" * 20})
    kinds = {
        constants.PROFILE_PLURAL: (
            constants.PROFILE_KIND,
            {"settings": {"incomingWebhook": True}},
        ),
        constants.PARTNER_PLURAL: (
            constants.PARTNER_KIND,
            {"apiUrl": scenario.emulator.url, "tokenSecretRef": {"name": "old-credentials"}},
        ),
    }
    args = (constants.GROUP, constants.VERSION, scenario.namespace)
    for plural, (kind, spec) in kinds.items():
        for name, finalizers in (("old", [constants.FINALIZER]), ("new", [])):
            metadata = {"name": name, "namespace": scenario.namespace, "finalizers": finalizers}
            body = {"apiVersion": constants.API_VERSION, "kind": kind, "metadata": metadata}
            objects.create_namespaced_custom_object(*args, plural, {**body, "spec": spec})

    def get(plural: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = objects.get_namespaced_custom_object(*args, plural, name)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def checked(plural: str, name: str) -> dict[str, Any] | None:
        obj = get(plural, name)
        return obj if obj and (obj.get("status") or {}).get("observedGeneration") else None

    for plural in kinds:
        for name in ("old", "new"):
            wait_for(lambda p=plural, n=name: checked(p, n), f"{plural}/{name} checked", timeout=30)
            # Its first watch event already took kopf's finalizer off (or added none).
            assert constants.FINALIZER not in (get(plural, name) or {})["metadata"].get(
                "finalizers", []
            )
        objects.delete_namespaced_custom_object(*args, plural, "old")
        wait_for(lambda p=plural: get(p, "old") is None, f"{plural}/old deleted", timeout=30)
