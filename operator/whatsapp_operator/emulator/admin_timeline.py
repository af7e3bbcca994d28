"""`GET /admin/timeline`: the emulator's calls per method and wall-clock second."""

from __future__ import annotations

from aiohttp import web

from whatsapp_operator.emulator.http import STATE_KEY, json_response


async def get_timeline(request: web.Request) -> web.Response:
    """`GET /admin/timeline?method=&since=&until=`: calls of a method per wall-clock second."""
    query = request.query
    method = query.get("method", "").lower()
    if not method:
        return json_response({"error": "method is required"}, status=400)
    try:
        since = float(query.get("since", "0"))
        until = float(query.get("until", "inf"))
    except ValueError:
        return json_response({"error": "since and until must be Unix seconds"}, status=400)
    seconds = request.app[STATE_KEY].timeline.window(method, since, until)
    return json_response({"method": method, "seconds": {str(s): n for s, n in seconds.items()}})


def add_routes(app: web.Application) -> None:
    """Route `GET /admin/timeline` on `app`."""
    app.router.add_get("/admin/timeline", get_timeline)
