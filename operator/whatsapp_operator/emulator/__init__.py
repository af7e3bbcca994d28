"""A GREEN-API emulator: the instance API, the partner API and an admin API for tests.

The real service cannot be reached from the project's machines, so every test and demo talks
to this emulator. It follows GREEN-API's documented behaviour (`docs/greenapi.md`, with its
public sources); where the sources record two behaviours, both are available through
`EmulatorConfig.variants`. See `docs/emulator.md`.
"""

from whatsapp_operator.emulator.app import RunningEmulator, build_app, start_emulator
from whatsapp_operator.emulator.config import EmulatorConfig

__all__ = ["EmulatorConfig", "RunningEmulator", "build_app", "start_emulator"]
