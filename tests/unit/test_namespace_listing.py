"""A namespace that first shows up in a listing of kopf's namespace watch is served.

kopf lists namespaces once, then starts its watch, which lists them again; it ignores what
that second listing (and every re-list after a reconnect) reports. A namespace created
between the two listings, or while the watch reconnects, matched `--namespace team-*` but
was never watched until the operator restarted: in CI an operator started at the moment
a test created its namespace never served a single object in it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

from kopf._cogs.structs import references
from kopf._core.reactor import observation

from whatsapp_operator.run import namespace_listing

PATTERNS: list[references.NamespacePattern] = ["team-*"]


def listed(name: str, **metadata: Any) -> Any:
    return {"type": None, "object": {"metadata": {"name": name, **metadata}}}


def terminating(name: str) -> Any:
    """A namespace whose content is gone: deletion marked, no condition holding it back."""
    event = listed(name, deletionTimestamp="2026-12-06T00:00:00Z")
    event["object"]["status"] = {
        "conditions": [{"type": "NamespaceContentRemaining", "status": "False"}]
    }
    return event


def process(event: Any, insights: references.Insights) -> None:
    async def go() -> None:
        # Looked up as kopf's namespace observer does: the module's attribute, at call time.
        await observation.process_discovered_namespace_event(
            raw_event=event, namespaces=PATTERNS, insights=insights
        )

    asyncio.run(go())


def test_a_namespace_first_seen_in_a_relisting_is_served() -> None:
    namespace_listing.install()
    insights = references.Insights()
    process(listed("team-a"), insights)
    process(listed("other"), insights)
    assert insights.namespaces == {"team-a"}


def test_a_namespace_being_deleted_in_a_relisting_is_let_go() -> None:
    namespace_listing.install()
    insights = references.Insights()
    insights.namespaces.add(references.NamespaceName("team-a"))
    process(terminating("team-a"), insights)
    assert insights.namespaces == set()


def test_watch_events_still_go_through_kopf() -> None:
    namespace_listing.install()
    insights = references.Insights()
    process({"type": "ADDED", "object": {"metadata": {"name": "team-b"}}}, insights)
    process({"type": "ADDED", "object": {"metadata": {"name": "other"}}}, insights)
    assert insights.namespaces == {"team-b"}


def test_installing_twice_wraps_once() -> None:
    namespace_listing.install()
    first = observation.process_discovered_namespace_event
    namespace_listing.install()
    assert observation.process_discovered_namespace_event is first


def test_an_unchanged_listing_wakes_nobody() -> None:
    """A re-list of 1,000 namespaces must not make kopf's orchestrator revise 1,000 times."""
    namespace_listing.install()
    insights = references.Insights()
    insights.namespaces.add(references.NamespaceName("team-a"))
    woken: list[bool] = []

    async def go() -> None:
        async def waiter() -> None:
            async with insights.revised:
                await insights.revised.wait()
                woken.append(True)

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        await observation.process_discovered_namespace_event(
            raw_event=listed("team-a"), namespaces=PATTERNS, insights=insights
        )
        await asyncio.sleep(0)
        task.cancel()

    asyncio.run(go())
    assert woken == []


def test_the_operator_process_installs_it_when_its_handlers_load() -> None:
    code = (
        "import whatsapp_operator.run.handlers\n"
        "from kopf._core.reactor import observation\n"
        "assert getattr(observation.process_discovered_namespace_event, "
        "'_waop_serves_listings', False)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
