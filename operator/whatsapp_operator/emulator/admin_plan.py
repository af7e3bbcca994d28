"""`POST /admin/instances/{id}/plan`: an instance's plan, as the partner's getInstances lists it.

Body (every field optional): `{"tariff": "PARTNER_23", "expirationDate": "2026-05-01T10:00:00"
| null, "expiresInSeconds": 259200}`. `expirationDate` is GREEN-API's zone-less form, read
as UTC like every emulated time; `null` goes back to a plan that renews itself (always a
month ahead); `expiresInSeconds` counts from the emulator's clock. Past the date, getInstances
says `isExpired: true` and every instance method answers 400 "Instance account is expired".
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from whatsapp_operator.emulator.admin import dict_body, error, find, view
from whatsapp_operator.emulator.http import json_response


async def set_plan(request: web.Request) -> web.Response:
    """`POST .../plan`: set the tariff and when the plan expires."""
    st, inst = find(request)
    body = await dict_body(request)
    tariff = body.get("tariff", inst.tariff)
    if not isinstance(tariff, str):
        return error(400, "tariff must be a string")
    expires_at = inst.expires_at
    if "expiresInSeconds" in body:
        seconds = body["expiresInSeconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            return error(400, "expiresInSeconds must be a number")
        expires_at = st.now() + float(seconds)
    elif "expirationDate" in body:
        raw = body["expirationDate"]
        if raw is None:
            expires_at = None
        elif isinstance(raw, str):
            try:
                parsed = datetime.fromisoformat(raw)
            except ValueError:
                return error(400, "expirationDate must look like 2026-05-01T10:00:00")
            stamp = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
            expires_at = stamp.timestamp()
        else:
            return error(400, "expirationDate must be a string or null")
    inst.tariff = tariff
    inst.expires_at = expires_at
    inst.version += 1
    st.notify()
    return json_response(view(st, inst))


def add_routes(app: web.Application) -> None:
    """Route `POST /admin/instances/{id}/plan` on `app`."""
    app.router.add_post("/admin/instances/{id}/plan", set_plan)
