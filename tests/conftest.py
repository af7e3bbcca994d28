"""Shared fixtures. The emulator ones: `emulator`, `emulator_admin`, `emulator_process`."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# pyproject.toml (owned elsewhere) sets no `pythonpath`, so make `tests/` importable for the
# shared helpers in `tests/support/`.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.emulator_admin import PARTNER_TOKEN, EmulatorAdmin
from support.emulator_process import (
    EmulatorProcess,
    start_emulator_process,
    stop_emulator_process,
)
from whatsapp_operator.emulator import (
    EmulatorConfig,
    RunningEmulator,
    start_emulator,
)

# Property tests check behaviour, not speed: on a loaded 2-core machine one example can
# take longer than hypothesis's default 200 ms deadline without anything being wrong.
settings.register_profile("waop", deadline=None)
settings.load_profile("waop")

# Short but non-zero timings: tests move the lifecycle clock with the admin API, never sleep.
TEST_CONFIG = {
    "timings": {
        "creationSeconds": 30,
        "startingSeconds": 5,
        "settingsApplySeconds": 10,
        "qrRotateSeconds": 20,
        "wsTimeoutSeconds": 100,
    },
    # Off so ordinary tests may call a method twice; the rate-limit tests switch it on.
    "rateLimits": {"enabled": False},
    "partnerTokens": [PARTNER_TOKEN],
    "randomSeed": 1234,
}


def emulator_test_config() -> EmulatorConfig:
    return EmulatorConfig.model_validate(TEST_CONFIG)


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    """An in-process emulator on a free loopback port, with `TEST_CONFIG`."""
    running = await start_emulator(emulator_test_config())
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def emulator_admin(emulator: RunningEmulator) -> AsyncIterator[EmulatorAdmin]:
    async with EmulatorAdmin(emulator.url) as admin:
        yield admin


@pytest.fixture(scope="session")
def emulator_process() -> Iterator[EmulatorProcess]:
    """The real `whatsapp-operator emulator` subprocess (zero timings, no rate limits)."""
    running = start_emulator_process(
        "--partner-token",
        PARTNER_TOKEN,
        "--creation-seconds",
        "0",
        "--starting-seconds",
        "0",
        "--settings-apply-seconds",
        "0",
        "--no-rate-limits",
        "--log-level",
        "DEBUG",
    )
    try:
        yield running
    finally:
        stop_emulator_process(running)
