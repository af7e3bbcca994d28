"""The `whatsapp-operator emulator` command as a real subprocess."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from support.emulator_admin import PARTNER_TOKEN
from support.emulator_process import (
    EmulatorProcess,
    start_emulator_process,
    stop_emulator_process,
)
from support.greenapi_urls import instance_url, partner_url


def test_create_and_use_instance(emulator_process: EmulatorProcess) -> None:
    with httpx.Client(timeout=10) as client:
        created = client.post(
            partner_url(emulator_process.url, "createInstance", PARTNER_TOKEN), json={}
        ).json()
        url = instance_url(
            emulator_process.url,
            created["idInstance"],
            "getStateInstance",
            created["apiTokenInstance"],
        )
        assert client.get(url).json() == {"stateInstance": "notAuthorized"}
    # Access lines are written at DEBUG; tokens must never appear in them.
    deadline = time.monotonic() + 5
    while not any("getStateInstance" in line for line in emulator_process.stderr_lines):
        assert time.monotonic() < deadline, "access line not logged"
        time.sleep(0.05)
    log = "".join(emulator_process.stderr_lines)
    assert created["apiTokenInstance"] not in log
    assert PARTNER_TOKEN not in log
    assert "/***" in log


def test_seed_flags_and_config_file(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    config = tmp_path / "emulator.json"
    config.write_text(
        json.dumps(
            {
                "instances": [
                    {"idInstance": 7105000501, "apiTokenInstance": "e" * 50, "state": "authorized"}
                ],
                "timings": {"creationSeconds": 0},
            }
        )
    )
    running = start_emulator_process(
        "--config", str(config), "--instance", "7105000502:" + "f" * 50 + ":blocked"
    )
    try:
        with httpx.Client(timeout=10) as client:
            first = client.get(
                instance_url(running.url, 7105000501, "getStateInstance", "e" * 50)
            ).json()
            second = client.get(
                instance_url(running.url, 7105000502, "getStateInstance", "f" * 50)
            ).json()
    finally:
        code = stop_emulator_process(running)
    assert first == {"stateInstance": "authorized"}
    assert second == {"stateInstance": "blocked"}
    assert code == 0


def test_invalid_config_exits_2(tmp_path: object) -> None:
    import subprocess
    import sys
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    config = tmp_path / "bad.yaml"
    config.write_text("timings:\n  qrRotateSeconds: -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "whatsapp_operator.cli", "emulator", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr


def test_fault_and_variant_flags() -> None:
    linked, unlinked = 7105000701, 7105000702
    running = start_emulator_process(
        "--partner-token",
        PARTNER_TOKEN,
        "--no-rate-limits",
        "--instance",
        f"{linked}:{'1' * 50}:authorized",
        "--instance",
        f"{unlinked}:{'2' * 50}",
        "--stale-auth",
        str(unlinked),
        "--listing-lag-seconds",
        "3600",
        "--fault",
        "method=createInstance,loseAnswerRate=1,loseAnswerMs=200",
        "--qr-when-authorized",
        "hasAuth",
        "--qr-while-starting",
        "refused",
        "--variant",
        "defaultDelayMs=3000",
        "--variant",
        "creationResponse=null",
        "--variant",
        'startingRejects=["setSettings", "reboot"]',
        "--auth-code-refused-probability",
        "1",
        "--deleted-long-ago-response",
        "unauthorized",
        "--deleted-long-ago-days",
        "0",
    )
    has_auth = {"type": "error", "message": "Instance has auth. You need to make log out"}
    try:
        with httpx.Client(timeout=10) as client:
            config = client.get(f"{running.url}/admin/config").json()
            assert config["timings"]["listingLagSeconds"] == 3600
            assert config["timings"]["deletedLongAgoDays"] == 0
            assert config["faults"][0]["loseAnswerRate"] == 1
            assert config["authCodeRefusedProbability"] == 1
            variants = config["variants"]
            assert variants["qrWhenAuthorized"] == "hasAuth"
            assert variants["qrWhileStarting"] == "refused"
            assert variants["defaultDelayMs"] == 3000
            assert variants["creationResponse"] == "null"
            assert variants["startingRejects"] == ["setSettings", "reboot"]
            assert variants["deletedLongAgoResponse"] == "unauthorized"

            with pytest.raises(httpx.RemoteProtocolError):
                client.post(
                    partner_url(running.url, "createInstance", PARTNER_TOKEN), json={"name": "x"}
                )
            created = client.get(f"{running.url}/admin/instances").json()
            assert [i["name"] for i in created if i["name"]] == ["x"]
            listed = client.get(partner_url(running.url, "getInstances", PARTNER_TOKEN)).json()
            assert "x" not in [row["name"] for row in listed]

            qr = client.get(instance_url(running.url, linked, "qr", "1" * 50)).json()
            assert qr == has_auth
            qr = client.get(instance_url(running.url, unlinked, "qr", "2" * 50)).json()
            assert qr == has_auth
            code = client.post(
                instance_url(running.url, unlinked, "getAuthorizationCode", "2" * 50),
                json={"phoneNumber": 79001234567},
            ).json()
            assert code["status"] is False
    finally:
        assert stop_emulator_process(running) == 0


def test_bad_fault_flag_exits_2() -> None:
    import subprocess
    import sys

    for flags in (
        ["--fault", "loseAnswerRate"],
        ["--fault", "loseAnswerRate=2"],
        ["--variant", "qrWhileStarting"],
        ["--stale-auth", "7105000001"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "whatsapp_operator.cli", "emulator", *flags],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 2, flags
        assert "invalid configuration" in result.stderr
