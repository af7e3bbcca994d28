"""kstatus (Flux) and the Argo CD health check, fed statuses the running operator wrote.

tests/integration/test_kstatus.py and tests/unit/test_argocd_health.py read the testdata
objects rendered from the operator's status code; here the same two readers get the
objects the API server returns while a real operator works on one resource: while its
settings are being applied, once converged, and stalled on a rejected token.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.emulator_process import start_emulator_process, stop_emulator_process
from support.kube_helpers import action_stamp, condition, has_condition, put_secret, wait_for
from tests.e2e.operator.harness import EMULATOR_ARGS, Emulator, Scenario, new_token
from tests.integration.test_kstatus import BUILD, compute
from tests.unit.test_argocd_health import _health
from whatsapp_operator import constants

KIND = "WhatsAppInstance"
# Long enough that the operator's Reconciling=True (ApplyingSettings) is seen by polling.
SETTINGS_APPLY_SECONDS = "8"
SETTINGS = {"webhookUrl": "https://hooks.example.com/whatsapp", "incomingWebhook": True}


def _emulator_args() -> list[str]:
    args = list(EMULATOR_ARGS)
    args[args.index("--settings-apply-seconds") + 1] = SETTINGS_APPLY_SECONDS
    return args


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """The module's emulator, confirming setSettings only after SETTINGS_APPLY_SECONDS."""
    running = start_emulator_process(*_emulator_args())
    wrapped = Emulator(running)
    try:
        yield wrapped
    finally:
        wrapped.close()
        stop_emulator_process(running)


@pytest.fixture(scope="module")
def kstatus_bin() -> Path:
    if shutil.which("go") is None:
        pytest.skip("needs Go to build tests/kstatus (sigs.k8s.io/cli-utils)")
    done = subprocess.run(
        ["bash", str(BUILD)], capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"tests/kstatus/build.sh failed:\n{done.stderr}")
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.is_file(), path
    return path


def _reconciling_or_done(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The object while Reconciling=True for its generation, or once already converged."""
    if has_condition(obj, "Reconciling", "True"):
        return obj
    if has_condition(obj, "Ready", "True") and has_condition(obj, "Synced", "True"):
        return obj
    return None


def _capture_in_progress(scenario: Scenario, name: str) -> tuple[dict[str, Any], str]:
    """(object, how): caught applying settings, else right after a spec change."""
    obj = wait_for(
        lambda: _reconciling_or_done(scenario.instances.get(name)),
        f"{name}: Reconciling=True or already converged",
        timeout=40,
        interval=0.05,
    )
    if has_condition(obj, "Reconciling", "True"):
        return obj, "reconciling"
    # Missed it: the patch response is the object right after the spec change, whose
    # status still describes the previous generation.
    patched = scenario.instances.patch(
        name, {"spec": {"settings": {"webhookUrl": "https://hooks.example.com/other"}}}
    )
    assert patched["metadata"]["generation"] != patched["status"]["observedGeneration"]
    return patched, "stale-generation"


def test_kstatus_and_argocd_health_read_live_statuses(
    scenario: Scenario, emulator: Emulator, kstatus_bin: Path
) -> None:
    name = "livehealth"
    scenario.seed(name, state="authorized")
    scenario.create(name, settings=dict(SETTINGS))

    in_progress, how = _capture_in_progress(scenario, name)
    converged = scenario.ready(name, timeout=60)
    assert has_condition(converged, "Stalled", "False")
    assert has_condition(converged, "Reconciling", "False")

    wrong = new_token()
    scenario.leaks.add("wrong token", wrong)
    put_secret(scenario.api, scenario.namespace, f"{name}-token", {"apiTokenInstance": wrong})
    # A healthy object's token Secret is not re-read while idle (a rotation shows as a 401):
    # ask for the reconcile that reads it again, as a person who just changed it would.
    scenario.instances.annotate(name, {constants.ANNOTATION_RECONCILE: action_stamp()})
    try:
        stalled = scenario.instances.wait_condition(
            name, "Stalled", "True", "TokenRejected", timeout=40
        )
    finally:
        # Put the right token back, so the instance is released cleanly on teardown.
        put_secret(
            scenario.api,
            scenario.namespace,
            f"{name}-token",
            {"apiTokenInstance": scenario.tokens[name]},
        )

    objects = [in_progress, converged, stalled]
    kstatus = compute(kstatus_bin, objects)
    assert [result.get("status", result.get("error")) for result in kstatus] == [
        "InProgress",
        "Current",
        "Failed",
    ], (how, kstatus)

    for open_libs in (False, True):
        argo = [_health(KIND, obj, open_libs=open_libs) for obj in objects]
        # Ready=True with Synced=True and no Stalled/Reconciling is Healthy: the script
        # reserves Suspended for requiredForReadiness and paused writes.
        assert [health["status"] for health in argo] == ["Progressing", "Healthy", "Degraded"], (
            how,
            open_libs,
            argo,
        )
        stalled_condition = condition(stalled, "Stalled")
        assert stalled_condition is not None
        assert argo[2]["message"] == (stalled_condition["message"] or stalled_condition["reason"])
        assert kstatus[2]["message"] == stalled_condition["message"]
        ready_condition = condition(converged, "Ready")
        assert ready_condition is not None
        assert argo[1]["message"] == (ready_condition["message"] or "Ready")
        if how == "reconciling":
            reconciling = condition(in_progress, "Reconciling")
            assert reconciling is not None
            assert argo[0]["message"] == (reconciling["message"] or reconciling["reason"])
            assert kstatus[0]["message"] == reconciling["message"]
        else:
            assert argo[0]["message"] == "Waiting for the operator to observe the latest spec"
            assert "generation" in kstatus[0]["message"].lower()
    assert wrong not in str(stalled)
