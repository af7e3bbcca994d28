"""Every GREEN-API side effect happens once, whatever fails around it (adopt mode).

Counted on the emulator's side (its per-instance call counters and setSettings journal),
with the operator as a process and the real API server:

* an API server that stops answering for a while, with settings changes and reboot
  requests pending on a fleet: each change is applied once, each reboot done once;
* a restored manifest (no status) still carrying an old logout annotation: no logout;
* a setSettings whose answer is lost (GREEN-API applies it, the client times out): one
  setSettings, then confirmation by getSettings, never a blind resend.

Sizes: `WAOP_E2E_OUTAGE_INSTANCES` (default 50) and `WAOP_E2E_OUTAGE_SECONDS` (default 60).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from support.kube_helpers import has_condition, wait_for
from tests.e2e.operator.harness import Emulator, OperatorProcess, Scenario, ready_and_synced
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
    stamp = str(int(time.time()))
    for name in names:
        scenario.instances.patch(
            name,
            {
                "metadata": {"annotations": {constants.ANNOTATION_REBOOT: stamp}},
                "spec": {"settings": {"stateWebhook": True, "incomingWebhook": False}},
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
        assert writes_with(log, "incomingWebhook", "no") == 1, (name, log)
        assert emulator.calls(id_instance, "reboot") - before[name] == 1, name


def test_restored_manifest_with_an_old_logout_annotation_does_not_log_out(
    scenario: Scenario, emulator: Emulator
) -> None:
    name = "restored"
    id_instance = scenario.seed(name, state="authorized")
    # As kept in Git or a backup: requested two days before this object exists.
    old = str(int(time.time()) - 2 * 86400)
    scenario.create(name, annotations={constants.ANNOTATION_LOGOUT: old}, settings={})
    obj = scenario.instances.wait(
        name,
        lambda o: (
            ready_and_synced(o)
            and o.get("status", {}).get("handledActions", {}).get("logout") == old
        ),
        "Ready with the old logout recorded as handled",
        timeout=40.0,
    )
    assert has_condition(obj, "Authorized", "True")
    assert emulator.calls(id_instance, "logout") == 0
    assert emulator.instance(id_instance)["state"] == "authorized"

    # A request made now is performed, once.
    now = str(int(time.time()) + 1)
    scenario.instances.annotate(name, {constants.ANNOTATION_LOGOUT: now})
    scenario.instances.wait(
        name,
        lambda o: o.get("status", {}).get("handledActions", {}).get("logout") == now,
        "the new logout handled",
        timeout=40.0,
    )
    assert emulator.calls(id_instance, "logout") == 1
