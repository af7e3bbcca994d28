"""The `whatsapp-operator emulator` command as a real subprocess."""

from __future__ import annotations

import json
import time

import httpx

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
