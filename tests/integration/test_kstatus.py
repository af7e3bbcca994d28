"""The status contract, read by kstatus itself (sigs.k8s.io/cli-utils, as in Flux).

tests/kstatus is a small Go program around `status.Compute`, the function Flux's
Kustomization health checks (`wait: true`, `healthChecks`) call. It is built once per
session (cached outside the repository like tests/k8sbins) and fed the same objects
as the Argo CD health-check tests: deploy/argocd/whatsapp-operator.io/*/testdata,
whose statuses come from the operator's own status code.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tests" / "kstatus" / "build.sh"
TESTDATA = ROOT / "deploy" / "argocd" / "whatsapp-operator.io"

# testdata file -> (kstatus status, why)
EXPECTED = {
    "WhatsAppInstance/applying-settings": ("InProgress", "Reconciling=True while applying"),
    "WhatsAppInstance/creating": ("InProgress", "Reconciling=True while GREEN-API creates"),
    "WhatsAppInstance/starting": ("InProgress", "Reconciling=True, though Ready=True"),
    "WhatsAppInstance/rate-limited": ("InProgress", "Reconciling=True RetryingAfterError"),
    "WhatsAppInstance/stale-generation": ("InProgress", "observedGeneration behind"),
    "WhatsAppInstance/authorized": ("Current", "converged, phone linked"),
    "WhatsAppInstance/not-authorized": ("Current", "settings in sync, no phone (default)"),
    "WhatsAppInstance/not-authorized-required": ("InProgress", "requiredForReadiness"),
    "WhatsAppInstance/sleep-mode": ("Current", "converged, phone offline"),
    "WhatsAppInstance/observe-drift": ("Current", "Observe: Ready=True Observing"),
    "WhatsAppInstance/paused": ("InProgress", "Ready=False ReconcilePaused"),
    "WhatsAppInstance/token-rejected": ("Failed", "Stalled=True TokenRejected"),
    "WhatsAppInstance/blocked": ("Failed", "Stalled=True Blocked"),
    "WhatsAppInstance/yellow-card": ("Failed", "Stalled=True YellowCard"),
    "WhatsAppInstance/settings-rejected": ("Failed", "Stalled=True SettingsRejected"),
    # kstatus' documented corner case: no conditions at all reads as Current. The operator
    # writes all conditions on its first visit, so this lasts only until then.
    "WhatsAppInstance/no-status": ("Current", "no status yet"),
    "WhatsAppPartner/healthy": ("Current", "credentials valid"),
    "WhatsAppPartner/unavailable": ("InProgress", "Reconciling=True RetryingAfterError"),
    "WhatsAppPartner/stale-generation": ("InProgress", "observedGeneration behind"),
    "WhatsAppPartner/token-rejected": ("Failed", "Stalled=True PartnerTokenRejected"),
    "WhatsAppPartner/secret-not-found": ("Failed", "Stalled=True SecretNotFound"),
    "WhatsAppPartner/no-status": ("Current", "no status yet"),
    "ClusterWhatsAppPartner/healthy": ("Current", "credentials valid"),
    "ClusterWhatsAppPartner/unavailable": ("InProgress", "Reconciling=True RetryingAfterError"),
    "ClusterWhatsAppPartner/stale-generation": ("InProgress", "observedGeneration behind"),
    "ClusterWhatsAppPartner/token-rejected": ("Failed", "Stalled=True PartnerTokenRejected"),
    "ClusterWhatsAppPartner/secret-not-found": ("Failed", "Stalled=True SecretNotFound"),
    "ClusterWhatsAppPartner/api-url-not-allowed": ("Failed", "Stalled=True ApiUrlNotAllowed"),
    "ClusterWhatsAppPartner/invalid-spec": ("Failed", "Stalled=True InvalidSpec"),
    "ClusterWhatsAppPartner/no-status": ("Current", "no status yet"),
    "WhatsAppSettingsProfile/rolled-out": ("Current", "every instance has the revision"),
    "WhatsAppSettingsProfile/no-instances": ("Current", "nothing to roll out"),
    "WhatsAppSettingsProfile/rolling-out": ("InProgress", "Reconciling=True RollingOut"),
    "WhatsAppSettingsProfile/list-failed": ("InProgress", "Reconciling=True RetryingAfterError"),
    "WhatsAppSettingsProfile/stale-generation": ("InProgress", "observedGeneration behind"),
    "WhatsAppSettingsProfile/rollout-paused": ("Failed", "Stalled=True RolloutPaused"),
    "WhatsAppSettingsProfile/no-status": ("Current", "no status yet"),
}


@pytest.fixture(scope="session")
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


def compute(binary: Path, objects: list[dict[str, Any]]) -> list[dict[str, str]]:
    done = subprocess.run(
        [str(binary)],
        input="".join(json.dumps(obj) + "\n" for obj in objects),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(objects), done.stderr
    return results


def _load(case: str) -> dict[str, Any]:
    kind, name = case.split("/")
    loaded: dict[str, Any] = yaml.safe_load(
        (TESTDATA / kind / "testdata" / f"{name}.yaml").read_text()
    )
    return loaded


def test_every_testdata_object_has_an_expectation() -> None:
    present = {
        f"{path.parent.parent.name}/{path.stem}" for path in TESTDATA.glob("*/testdata/*.yaml")
    }
    assert present == set(EXPECTED)


def test_kstatus_reads_the_status_contract(kstatus_bin: Path) -> None:
    cases = sorted(EXPECTED)
    results = compute(kstatus_bin, [_load(case) for case in cases])
    got = {
        case: result.get("status", result.get("error"))
        for case, result in zip(cases, results, strict=True)
    }
    assert got == {case: EXPECTED[case][0] for case in cases}


def test_failed_and_in_progress_carry_the_condition_message(kstatus_bin: Path) -> None:
    cases = ["WhatsAppInstance/token-rejected", "WhatsAppInstance/applying-settings"]
    objects = [_load(case) for case in cases]
    results = compute(kstatus_bin, objects)
    for obj, result in zip(objects, results, strict=True):
        wanted = "Stalled" if result["status"] == "Failed" else "Reconciling"
        condition = next(c for c in obj["status"]["conditions"] if c["type"] == wanted)
        assert result["message"] == condition["message"]


def test_generation_mismatch_beats_ready(kstatus_bin: Path) -> None:
    obj = _load("WhatsAppInstance/authorized")
    obj["metadata"]["generation"] = obj["status"]["observedGeneration"] + 1
    [result] = compute(kstatus_bin, [obj])
    assert result["status"] == "InProgress"
    assert "generation" in result["message"].lower()


def test_requirement_flips_current_to_in_progress(kstatus_bin: Path) -> None:
    default, required = compute(
        kstatus_bin,
        [
            _load("WhatsAppInstance/not-authorized"),
            _load("WhatsAppInstance/not-authorized-required"),
        ],
    )
    assert (default["status"], required["status"]) == ("Current", "InProgress")
