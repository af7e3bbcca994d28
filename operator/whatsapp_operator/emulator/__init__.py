"""A GREEN-API emulator: the instance API, the partner API and an admin API for tests.

The real service cannot be reached from the project's machines, so every test and demo talks
to this emulator. It follows GREEN-API's documented behaviour (`docs/greenapi.md`, with its
public sources); where the sources record two behaviours, both are available through
`EmulatorConfig.variants`. See `docs/emulator.md`.

The names below load on first use: the command line imports `emulator.command` for every
subcommand, and the operator's own process must not carry the emulator's server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from whatsapp_operator.emulator.app import RunningEmulator, build_app, start_emulator
    from whatsapp_operator.emulator.config import EmulatorConfig

__all__ = ["EmulatorConfig", "RunningEmulator", "build_app", "start_emulator"]

_HOMES = {
    "EmulatorConfig": "whatsapp_operator.emulator.config",
    "RunningEmulator": "whatsapp_operator.emulator.app",
    "build_app": "whatsapp_operator.emulator.app",
    "start_emulator": "whatsapp_operator.emulator.app",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
