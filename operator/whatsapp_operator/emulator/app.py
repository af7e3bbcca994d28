"""Builds the emulator's aiohttp application and runs it in-process or from the command line."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from whatsapp_operator.emulator import (
    admin,
    admin_clients,
    admin_plan,
    admin_timeline,
    api,
    queues,
)
from whatsapp_operator.emulator.config import EmulatorConfig
from whatsapp_operator.emulator.state import EmulatorState

access_log = logging.getLogger("whatsapp_operator.emulator.access")

# Tokens are the last path segment of instance and partner URLs; they never reach the log.
_TOKEN_IN_PATH = re.compile(r"^(/(?:waInstance[^/]*|partner)/[^/]+)/[^/?]+")


def mask_path(path: str) -> str:
    """`path` with the token of an instance or partner URL replaced by `***`."""
    return _TOKEN_IN_PATH.sub(r"\1/***", path)


def _scope(request: web.Request) -> str | None:
    info = request.match_info
    if "id_instance" in info:
        return info["id_instance"]
    if request.path.startswith("/partner/"):
        return "partner"
    return None


@web.middleware
async def observe(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Count API calls per instance, method and outcome; log with tokens masked.

    Outcomes are the HTTP status, `dropped` (closed before any effect) or `lost` (the call
    took effect, the answer was withheld).
    """
    started = time.perf_counter()
    began = time.time()
    scope = _scope(request)
    method = request.match_info.get("method", "").lower()
    outcome = "error"
    try:
        response = await handler(request)
        outcome = str(response.status)
        return response
    except api.DropConnection as exc:
        outcome = "lost" if isinstance(exc, api.LostAnswer) else "dropped"
        if request.transport is not None:
            request.transport.abort()
        raise
    except web.HTTPException as exc:
        outcome = str(exc.status)
        raise
    finally:
        if scope is not None:
            state = request.app[api.STATE_KEY]
            state.counters.count(scope, method, outcome)
            ended = time.time()
            state.timeline.count(method, ended)
            state.clients.count(request.headers.get("User-Agent", ""), method, began, ended)
        if access_log.isEnabledFor(logging.DEBUG):
            access_log.debug(
                "%s %s -> %s in %.1f ms",
                request.method,
                mask_path(request.path),
                outcome,
                (time.perf_counter() - started) * 1000,
            )


async def _close_sockets(app: web.Application) -> None:
    # Open scanqrcode sessions would otherwise hold shutdown until their 100 s timeout.
    for ws in list(app[api.STATE_KEY].sockets):
        await ws.close(code=1001, message=b"emulator shutting down")


def build_app(config: EmulatorConfig | None = None) -> web.Application:
    """The emulator's aiohttp application: instance, partner and admin APIs over one state."""
    app = web.Application(middlewares=[observe])
    app[api.STATE_KEY] = EmulatorState(config or EmulatorConfig())
    app.on_shutdown.append(_close_sockets)
    api.add_routes(app)
    admin.add_routes(app)
    admin_timeline.add_routes(app)
    admin_clients.add_routes(app)
    admin_plan.add_routes(app)
    queues.add_routes(app)
    return app


@dataclass
class RunningEmulator:
    """An emulator serving on a real socket; `url` has no trailing slash."""

    url: str
    state: EmulatorState
    runner: web.AppRunner

    @property
    def port(self) -> int:
        """The port the emulator listens on."""
        return int(self.url.rsplit(":", 1)[1])

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        await self.runner.cleanup()

    async def __aenter__(self) -> RunningEmulator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def start_emulator(
    config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> RunningEmulator:
    """Start serving in the current event loop; use as `async with await start_emulator(...)`."""
    app = build_app(config)
    # aiohttp's access log would print tokens; `observe` logs masked paths instead.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = port
    if runner.addresses:
        bound_port = int(runner.addresses[0][1])
    return RunningEmulator(
        url=f"http://{host}:{bound_port}", state=app[api.STATE_KEY], runner=runner
    )
