"""Every GREEN-API side effect happens once, whatever fails around it (adopt mode).

Counted on the emulator's side (its per-instance call counters and setSettings journal),
with the operator as a process and the real API server:

* an API server that stops answering for a while, with settings changes and reboot
  requests pending on a fleet: each change is applied once, each reboot done once;
* a restored manifest (no status) still carrying an old logout annotation: no logout;
* a setSettings whose answer is lost (GREEN-API applies it, the client times out): one
  setSettings, then confirmation by getSettings, never a blind resend.

* a fault storm (30 % 5xx, 10 % lost answers, bursts of 429) with a settings change in
  its middle: until the change, the fleet makes no more getStateInstance calls than
  healthy polling; every instance converges within two poll intervals after it, or,
  when both of its setSettings were answered 5xx, reports the drift (SettingsNotApplied);
  at most two setSettings per changed instance, and the operator never restarts.

Sizes: `WAOP_E2E_OUTAGE_INSTANCES` (default 50), `WAOP_E2E_OUTAGE_SECONDS` (60),
`WAOP_E2E_STORM_INSTANCES` (50), `WAOP_E2E_STORM_SECONDS` (120; 300 with `WAOP_E2E_FULL=1`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from kubernetes import client

from support.kube_helpers import (
    action_stamp,
    create_namespace,
    delete_namespace,
    has_condition,
    wait_for,
)
from tests.e2e.operator.harness import (
    Emulator,
    OperatorProcess,
    Scenario,
    Secrets,
    ready_and_synced,
    remember,
)
from whatsapp_operator import constants
from whatsapp_operator.devtools.cluster import KubeCluster

FLEET = int(os.environ.get("WAOP_E2E_OUTAGE_INSTANCES", "50"))
OUTAGE_SECONDS = float(os.environ.get("WAOP_E2E_OUTAGE_SECONDS", "60"))


@contextmanager
def api_server_frozen(cluster: KubeCluster) -> Iterator[None]:
    """The API server stops answering (SIGSTOP): connections hang, nothing is refused."""
    plane = cluster.control_plane
    if plane is None:
        pytest.skip("needs the local control plane (its kube-apiserver process)")
    apiserver = next(p for p in plane.processes if p.name == "kube-apiserver")
    assert apiserver.pid is not None
    os.kill(apiserver.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(apiserver.pid, signal.SIGCONT)


def state_polls(emulator: Emulator, ids: list[int]) -> int:
    """getStateInstance calls the instances `ids` received so far, any outcome."""
    counters = emulator.counters()
    return sum(
        int(counters.get(str(i), {}).get("getstateinstance", {}).get("total", 0)) for i in ids
    )


def writes_with(log: list[dict[str, Any]], key: str, value: str) -> int:
    """setSettings calls (accepted or not) whose body carried `key: value`."""
    return sum(1 for entry in log if entry.get("body", entry).get(key) == value)


def test_api_server_outage_applies_each_change_and_action_once(
    scenario: Scenario,
    emulator: Emulator,
    operator: OperatorProcess,
    kube_cluster: KubeCluster,
) -> None:
    names = [f"fleet-{n:03d}" for n in range(FLEET)]
    for name in names:
        scenario.seed(name, state="authorized", settings={"stateWebhook": "no"})
        scenario.create(name, settings={"stateWebhook": True})
    for name in names:
        scenario.ready(name, timeout=120.0)
    before = {name: emulator.calls(scenario.ids[name], "reboot") for name in names}

    # A settings change and a reboot request on every resource, then the API server
    # goes silent right away: most of the fleet learns of them only around the outage.
    stamp = action_stamp()
    for name in names:
        scenario.instances.patch(
            name,
            {
                "metadata": {"annotations": {constants.ANNOTATION_REBOOT: stamp}},
                "spec": {"settings": {"stateWebhook": True, "incomingWebhook": True}},
            },
        )
    with api_server_frozen(kube_cluster):
        time.sleep(OUTAGE_SECONDS)  # the fault itself: a silent API server, not a wait
    assert operator.process.poll() is None, "the operator died during the outage"

    def converged(name: str) -> bool:
        obj = scenario.instances.get(name)
        handled = obj.get("status", {}).get("handledActions", {})
        return ready_and_synced(obj) and handled.get("reboot") == stamp

    for name in names:
        wait_for(lambda name=name: converged(name), f"{name} converged after the outage", 180.0)

    for name in names:
        id_instance = scenario.ids[name]
        log = emulator.set_settings_log(id_instance)
        assert writes_with(log, "incomingWebhook", "yes") == 1, (name, log)
        assert emulator.calls(id_instance, "reboot") - before[name] == 1, name


def test_restored_manifest_with_an_old_logout_annotation_does_not_log_out(
    scenario: Scenario, emulator: Emulator
) -> None:
    name = "restored"
    id_instance = scenario.seed(name, state="authorized")
    # As kept in Git or a backup: requested two days before this object exists.
    old = action_stamp(-2 * 86400)
    scenario.create(name, annotations={constants.ANNOTATION_LOGOUT: old}, settings={})
    obj = scenario.instances.wait(name, ready_and_synced, "Ready and Synced", timeout=40.0)
    assert "logout" not in obj["status"].get("handledActions", {})
    assert has_condition(obj, "Authorized", "True")
    assert emulator.calls(id_instance, "logout") == 0
    assert emulator.instance(id_instance)["state"] == "authorized"

    # A request made now is performed, once.
    now = action_stamp()
    scenario.instances.annotate(name, {constants.ANNOTATION_LOGOUT: now})
    scenario.instances.wait(
        name,
        lambda o: o.get("status", {}).get("handledActions", {}).get("logout") == now,
        "the new logout handled",
        timeout=40.0,
    )
    assert emulator.calls(id_instance, "logout") == 1


def kubectl_apply(cluster: KubeCluster, manifest: dict[str, Any]) -> None:
    """`kubectl apply`, client-side, as Argo CD syncs and self-heals by default."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl applies the manifest"
    result = subprocess.run(
        [kubectl, "--kubeconfig", str(cluster.kubeconfig), "apply", "-f", "-"],
        input=json.dumps(manifest),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def link_again(scenario: Scenario, emulator: Emulator, name: str, phone: str) -> None:
    """A person links a phone to the logged-out instance (scans its QR code)."""

    def scanned() -> bool:
        try:
            emulator.scan(scenario.ids[name], phone)
        except httpx.HTTPStatusError as error:
            if error.response.status_code == 409:  # no QR code on offer yet
                return False
            raise
        return True

    wait_for(scanned, f"a QR code of {name} to scan", 30.0)
    scenario.instances.wait_condition(name, "Authorized", "True", "Authorized", timeout=45)


def test_self_heal_restoring_an_older_logout_request_logs_nothing_out(
    scenario: Scenario, emulator: Emulator, kube_cluster: KubeCluster
) -> None:
    # Issue 22: Git holds logout T1, `kubectl whatsapp logout` writes T2 and a new phone is
    # linked, then Argo CD's self-heal puts T1 back: the new phone was logged out again.
    name = "self-heal"
    id_instance = scenario.seed(name, state="authorized")
    scenario.token_secret(name)
    manifest = scenario.instances.body(name, scenario.spec(name, settings={}))
    kubectl_apply(kube_cluster, manifest)
    scenario.ready(name)
    logout = constants.ANNOTATION_LOGOUT

    def handled(o: dict[str, Any], action: str, value: str) -> bool:
        return (o.get("status", {}).get("handledActions") or {}).get(action) == value

    def logouts(count: int) -> None:
        # Status holds the request as the intent before the call: count on the emulator.
        wait_for(lambda: emulator.calls(id_instance, "logout") >= count, f"{count} logouts")
        assert emulator.calls(id_instance, "logout") == count

    # A commit in Git asks for a logout: synced, performed once.
    t1 = action_stamp()
    manifest["metadata"]["annotations"] = {logout: t1}
    kubectl_apply(kube_cluster, manifest)
    scenario.instances.wait(name, lambda o: handled(o, "logout", t1), "logout T1 handled")
    logouts(1)
    link_again(scenario, emulator, name, "79001110001")

    # A person logs out with the plugin (a merge patch, not in Git) and links a new phone.
    t2 = action_stamp()
    scenario.instances.annotate(name, {logout: t2})
    scenario.instances.wait(name, lambda o: handled(o, "logout", t2), "logout T2 handled")
    logouts(2)
    link_again(scenario, emulator, name, "79001110002")

    # Self-heal: Git's T1 is applied again; then a reconcile request, so that the operator
    # has certainly acted on the object holding T1 once its request is handled.
    kubectl_apply(kube_cluster, manifest)
    assert scenario.instances.get(name)["metadata"]["annotations"][logout] == t1
    seen = action_stamp()
    scenario.instances.annotate(name, {constants.ANNOTATION_RECONCILE: seen})
    obj = scenario.instances.wait(
        name, lambda o: handled(o, "reconcile", seen), "the reconcile after the self-heal"
    )
    assert emulator.calls(id_instance, "logout") == 2
    assert emulator.instance(id_instance)["state"] == "authorized"
    assert has_condition(obj, "Authorized", "True")
    assert obj["status"]["handledActions"]["logout"] == t2
    # The operator's record is not the manifest's to remove.
    assert obj["metadata"]["annotations"][constants.ANNOTATION_LOGOUT_PERFORMED] == t2


# ------------------------------------------------------------------ fault storm

FULL = os.environ.get("WAOP_E2E_FULL") == "1"
STORM_INSTANCES = int(os.environ.get("WAOP_E2E_STORM_INSTANCES", "50"))
STORM_SECONDS = float(os.environ.get("WAOP_E2E_STORM_SECONDS", "300" if FULL else "120"))
STORM_POLL = {"stateSeconds": 30, "settingsSeconds": 60, "settleSeconds": 5}
# 30 % of calls answer 500; 10 % take effect but their answer never comes (the operator's
# read timeout, 20 s, runs out first); every 20 s, 3 s of 429 for everything.
STORM = [
    {"method": "*", "errorRate": 0.3, "status": 500},
    {"method": "*", "loseAnswerRate": 0.1, "loseAnswerMs": 30_000},
]
BURST_429 = {"method": "*", "errorRate": 1.0, "status": 429}


@pytest.fixture
def storm_scenario(
    request: pytest.FixtureRequest,
    api: client.ApiClient,
    emulator: Emulator,
    operator: OperatorProcess,
    module_prefix: str,
    leaks: Secrets,
    _namespace_numbers: Iterator[int],
) -> Iterator[Scenario]:
    """Like `scenario`, but 429 answers are part of the fault here, not a pacing failure."""
    namespace = f"{module_prefix}-{next(_namespace_numbers)}"
    remember(request.node, operator, emulator, namespace)
    create_namespace(api, namespace)
    scene = Scenario(api=api, namespace=namespace, emulator=emulator, leaks=leaks)
    try:
        yield scene
    finally:
        emulator.clear_faults()
        stuck = scene.instances.delete_all_and_wait(timeout=60)
        delete_namespace(api, namespace)
    assert not stuck, f"the operator did not release (finalizer) {stuck} within 60 s"


def test_fault_storm_converges_soon_after_with_at_most_two_writes(
    storm_scenario: Scenario, emulator: Emulator, operator: OperatorProcess
) -> None:
    scenario = storm_scenario
    pid = operator.process.pid
    names = [f"storm-{n:03d}" for n in range(STORM_INSTANCES)]
    for name in names:
        scenario.seed(name, state="authorized", settings={"stateWebhook": "no"})
        scenario.create(name, settings={"stateWebhook": True}, intervals=dict(STORM_POLL))
    for name in names:
        scenario.ready(name, timeout=120.0)

    ids = [scenario.ids[name] for name in names]
    polls_before = state_polls(emulator, ids)
    began = time.monotonic()
    changed = False
    emulator.set_faults(STORM)
    try:
        while time.monotonic() - began < STORM_SECONDS:
            if not changed and time.monotonic() - began >= STORM_SECONDS / 2:
                storm_polls = state_polls(emulator, ids) - polls_before
                window = time.monotonic() - began
                for name in names:
                    scenario.instances.patch(
                        name,
                        {"spec": {"settings": {"stateWebhook": True, "incomingWebhook": True}}},
                    )
                changed = True
            # The storm's weather, not a wait: 17 s of errors and lost answers, 3 s of 429s.
            time.sleep(17.0)
            emulator.set_faults([*STORM, BURST_429])
            time.sleep(3.0)
            emulator.set_faults(STORM)
    finally:
        emulator.clear_faults()
    assert changed
    ended = time.monotonic()
    # Healthy polling makes one call per instance and stateSeconds (its +-10 % jitter
    # averages out over the fleet); 20 % more covers where each instance's polls fall at
    # the ends of the window, and early retries not yet paid back when it closes (measured:
    # 99 and 106 calls for about 100). Before issue 22: 135.
    interval = STORM_POLL["stateSeconds"]
    healthy = STORM_INSTANCES * window / interval
    print(
        f"storm: {storm_polls} getStateInstance calls in the first {window:.0f} s of faults "
        f"on {STORM_INSTANCES} instances; healthy polling makes about {healthy:.0f}"
    )
    assert storm_polls <= healthy * 1.2

    def converged(name: str) -> bool:
        obj = scenario.instances.get(name)
        observed = obj.get("status", {}).get("observedSettings", {})
        return ready_and_synced(obj) and observed.get("incomingWebhook") == "true"

    def settled(name: str) -> bool:
        # Two writes that both got a 5xx (the emulator's 5xx faults take no effect) spend
        # the re-send budget: the drift is reported instead of rebooting a third time.
        obj = scenario.instances.get(name)
        return converged(name) or has_condition(obj, "Stalled", "True", "SettingsNotApplied")

    # Two poll intervals after the storm, plus a lost answer's read timeout still running.
    deadline = 2 * STORM_POLL["stateSeconds"] + 20.0
    for name in names:
        left = max(1.0, deadline - (time.monotonic() - ended))
        wait_for(lambda name=name: settled(name), f"{name} converged after the storm", left)
    converge_seconds = time.monotonic() - ended
    writes = {
        name: writes_with(emulator.set_settings_log(scenario.ids[name]), "incomingWebhook", "yes")
        for name in names
    }
    stalled = [name for name in names if not converged(name)]
    print(
        f"storm {STORM_SECONDS:.0f} s on {STORM_INSTANCES} instances: converged "
        f"{converge_seconds:.1f} s after it ({len(stalled)} reporting SettingsNotApplied); "
        f"setSettings per change: {sorted(set(writes.values()))}"
    )
    assert all(count <= 2 for count in writes.values()), writes
    assert all(writes[name] >= 1 for name in names if name not in stalled), writes
    # Most writes get through a storm of 30 % errors; a stall needs both to fail.
    assert len(stalled) <= STORM_INSTANCES // 4, stalled
    assert operator.process.poll() is None
    assert operator.process.pid == pid
