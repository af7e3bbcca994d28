"""The `run` flags for several processes: refused before anything starts when they are wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kopf
import pytest

from whatsapp_operator import config, constants
from whatsapp_operator.cli import main
from whatsapp_operator.commands import SHARDED_PLURALS
from whatsapp_operator.config import OperatorConfig
from whatsapp_operator.run import handlers


def test_an_invalid_shard_selector_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--shard-selector", "shard in (a", "--liveness", ""]) == 2
    assert "--shard-selector" in capsys.readouterr().err


def test_leader_election_needs_the_lease_namespace(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("WAOP_OPERATOR_NAMESPACE", raising=False)
    monkeypatch.delenv("WAOP_LEASE_NAMESPACE", raising=False)
    monkeypatch.setattr(config, "_SERVICE_ACCOUNT_NAMESPACE", tmp_path / "not-in-a-pod")
    assert main(["run", "--leader-elect", "--liveness", ""]) == 2
    assert "--lease-namespace" in capsys.readouterr().err


def test_timings_that_allow_two_leaders_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--leader-elect", "--lease-namespace", "ops", "--liveness", ""]
    assert main([*argv, "--lease-duration", "10", "--lease-renew-deadline", "10"]) == 2
    assert "renew deadline must be shorter" in capsys.readouterr().err


ROOT = Path(__file__).resolve().parents[2]


def _cluster_partner_handlers(registry: kopf.OperatorRegistry) -> int:
    return sum(
        1
        for group in (registry._spawning, registry._watching)
        for handler in group.get_all_handlers()
        if handler.selector is not None
        and constants.CLUSTER_PARTNER_PLURAL in (handler.selector.plural, handler.selector.any_name)
    )


def test_only_the_cluster_partner_process_handles_cluster_partners() -> None:
    """A --no-cluster-partners process has no handler for them, so it does not watch them
    (and cannot remove the checking process's finalizer); they are never label-filtered."""
    # Not at import (in a fresh interpreter: other tests run the operator in this one).
    script = (
        "import kopf, sys; from whatsapp_operator.run import handlers; "
        "sys.path.insert(0, 'tests'); from unit.test_scaling_flags import "
        "_cluster_partner_handlers as count; print(count(kopf.get_default_registry()))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert shown.stdout.strip() == "0"
    registry = kopf.OperatorRegistry()
    handlers.register_cluster_partners(registry)
    # Its watch events to the one scheduler, and its metrics; no daemon (run/kinds.py).
    assert _cluster_partner_handlers(registry) == 2
    assert not registry._spawning.get_all_handlers()
    assert constants.CLUSTER_PARTNER_PLURAL not in SHARDED_PLURALS
    assert OperatorConfig().cluster_partners
