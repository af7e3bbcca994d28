"""`GET /admin/clients`: the emulator's API callers by User-Agent (emulator/clients.py)."""

from __future__ import annotations

from aiohttp import web

from whatsapp_operator.emulator.http import STATE_KEY, json_response


async def get_clients(request: web.Request) -> web.Response:
    """`GET /admin/clients`: API calls per User-Agent with their first and last times."""
    return json_response({"clients": request.app[STATE_KEY].clients.snapshot()})


async def delete_clients(request: web.Request) -> web.Response:
    """`DELETE /admin/clients`: forget the callers seen so far."""
    request.app[STATE_KEY].clients.clients.clear()
    return json_response({"cleared": True})


def add_routes(app: web.Application) -> None:
    """Route `GET` and `DELETE /admin/clients` on `app`."""
    app.router.add_get("/admin/clients", get_clients)
    app.router.add_delete("/admin/clients", delete_clients)
