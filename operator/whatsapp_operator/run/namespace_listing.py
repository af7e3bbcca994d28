"""Serve a namespace that kopf's namespace watch first reports in a listing.

kopf (1.45 and its main branch alike) lists the namespaces once, then starts a watch
that lists them again, and after every reconnect again; its handler of that watch
drops every listed namespace, reading only ADDED/MODIFIED/DELETED events. A namespace
created between the first listing and the watch, or while the watch reconnects (a
dropped connection, the 70 s inactivity re-list), matches `--namespace team-*` but is
never watched until the operator restarts. Here a listed namespace is revised like an
event: added if it matches, let go if it is being deleted. kopf looks the handler up as
a module attribute when its observer starts, so `install()` must run before
`kopf.operator`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any

from kopf._cogs.structs import references
from kopf._core.reactor import observation

_MARK = "_waop_serves_listings"


def install() -> None:
    """Wrap kopf's namespace-event handler once per process."""
    original: Callable[..., Awaitable[None]] = observation.process_discovered_namespace_event
    if getattr(original, _MARK, False):
        return

    async def process(
        *,
        raw_event: Any,
        namespaces: Collection[references.NamespacePattern],
        insights: references.Insights,
        **rest: Any,
    ) -> None:
        if raw_event["type"] is not None:
            await original(raw_event=raw_event, namespaces=namespaces, insights=insights, **rest)
            return
        async with insights.revised:
            before = set(insights.namespaces)
            observation.revise_namespaces(
                raw_bodies=[raw_event["object"]], insights=insights, namespaces=namespaces
            )
            # A re-list of a thousand unchanged namespaces must not wake kopf's
            # orchestrator a thousand times.
            if insights.namespaces != before:
                insights.revised.notify_all()

    setattr(process, _MARK, True)
    observation.process_discovered_namespace_event = process
