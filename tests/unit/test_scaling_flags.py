"""The `run` flags for several processes: refused before anything starts when they are wrong."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from whatsapp_operator import config
from whatsapp_operator.cli import main
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


def test_cluster_partners_can_be_left_to_another_shard() -> None:
    config = OperatorConfig()
    assert handlers._checks_cluster_partners(memo={"config": config})
    off = dataclasses.replace(config, cluster_partners=False)
    assert not handlers._checks_cluster_partners(memo={"config": off})
