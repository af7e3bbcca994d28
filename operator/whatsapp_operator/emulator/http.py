"""What every emulated GREEN-API endpoint shares: answers in GREEN-API's forms, body
reading, fault injection and the lost-answer hold."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from whatsapp_operator.emulator.faults import FaultDecision
from whatsapp_operator.emulator.instances import (
    Instance,
)
from whatsapp_operator.emulator.settings import SettingsValidationError
from whatsapp_operator.emulator.state import EmulatorState

log = logging.getLogger("whatsapp_operator.emulator")

STATE_KEY = web.AppKey("emulator_state", EmulatorState)

TEXT_STARTING = "instance in starting process try later"
TEXT_NOT_AUTHORIZED = {
    "current": "instance is starting or not authorized",
    "old": "instance account not authorized",
}
TEXT_EXPIRED = "Instance account is expired. Renew your instance from personal area"
TEXT_DELETED = "Instance is deleted"
TEXT_VALIDATION = "Bad Request Validation failed"
TEXT_ALREADY_LOGGED = "instance account already authorized"
TEXT_HAS_AUTH = "Instance has auth. You need to make log out"
LINKED_STATES = frozenset({"authorized", "yellowCard", "sleepMode", "blocked"})
ONLINE_STATES = frozenset({"authorized", "yellowCard"})

Handler = Callable[[EmulatorState, Instance, web.Request, float], Awaitable[web.StreamResponse]]


class DropConnection(Exception):
    """Raised to close the client's connection without any response (injected fault)."""


class LostAnswer(DropConnection):
    """The call took effect, but its answer was withheld and the connection closed."""


@dataclass(frozen=True)
class Method:
    """An instance API method: its name, its HTTP verb and its handler."""

    name: str
    verb: str
    handler: Handler


def text(status: int, body: str) -> web.Response:
    """A plain-text response."""
    return web.Response(status=status, text=body)


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response."""
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json"
    )


class BadJson(ValueError):
    """The request body is not JSON; answered 400 with a message like GREEN-API's."""

    pass


async def read_json(request: web.Request, *, allow_empty: bool) -> Any:
    """The request's JSON body (`{}` for an empty one if `allow_empty`); BadJson otherwise."""
    raw = await request.text()
    if not raw.strip():
        if allow_empty:
            return {}
        raise BadJson("Unexpected end of JSON input")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        token = raw[exc.pos] if exc.pos < len(raw) else "end"
        raise BadJson(f"Unexpected token {token} in JSON at position {exc.pos}") from exc


def validation_failed(exc: SettingsValidationError | None = None) -> web.Response:
    """GREEN-API's 400 "Validation failed" answer, naming the field when known."""
    if exc is None:
        return text(400, TEXT_VALIDATION)
    return text(400, f"{TEXT_VALIDATION}: {exc.field} {exc.reason}")


async def read_body_first(request: web.Request) -> None:
    """Buffer the whole body before any injected delay.

    aiohttp fails an unread body once the client hangs up, which would silently cancel the
    call; GREEN-API acts on a request it has received even if the client stopped waiting
    (its 499 "Client Closed Request"). `request.text()` later reuses this buffer.
    """
    if request.body_exists:
        await request.read()


async def apply_fault(decision: FaultDecision) -> web.Response | None:
    """Apply a fault's latency, then its drop (DropConnection) or its error response, if any."""
    if decision.latency_ms:
        await asyncio.sleep(decision.latency_ms / 1000)
    if decision.drop:
        raise DropConnection
    if decision.status is not None:
        return text(decision.status, _REASONS.get(decision.status, "Injected fault"))
    return None


async def finish(
    request: web.Request, decision: FaultDecision, response: web.StreamResponse
) -> web.StreamResponse:
    """Deliver `response`, unless a lost-answer fault holds it back.

    The hold ends after `lose_answer_ms` or as soon as the client hangs up; then the
    connection is closed without an answer. A WebSocket has already answered (its handshake),
    so it is delivered as is.
    """
    if decision.lose_answer_ms is None or response.prepared:
        return response
    loop = asyncio.get_running_loop()
    deadline = loop.time() + decision.lose_answer_ms / 1000
    while (remaining := deadline - loop.time()) > 0:
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        # aiohttp does not cancel a handler whose client left, so the hold polls for it.
        await asyncio.sleep(min(0.05, remaining))
    log.info(
        "%s: answer %s withheld by fault injection",
        request.match_info.get("method", "?"),
        response.status,
    )
    raise LostAnswer


_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    429: "Too Many Requests",
}
