"""API callers by User-Agent: how many calls each made, and when the first and last were.

Two operator processes must never both be calling GREEN-API (a leader handover): the
operator names its process in its User-Agent, and `GET /admin/clients` tells whether the
old process's last call ended before the new one's first call began, on this emulator's
clock (wall time, as the timeline's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Enough for any test; bounded whatever a client sends as its User-Agent.
MAX_CLIENTS = 1000


@dataclass
class Client:
    """One User-Agent's calls: their count, per method too, and their time span."""

    calls: int = 0
    first: float = 0.0
    last: float = 0.0
    methods: dict[str, int] = field(default_factory=dict)


class ClientLog:
    """Calls per User-Agent."""

    def __init__(self) -> None:
        self.clients: dict[str, Client] = {}

    def count(self, agent: str, method: str, began: float, ended: float) -> None:
        """One call of `method` by `agent`, received at `began` and answered at `ended`."""
        found = self.clients.get(agent)
        if found is None:
            if len(self.clients) >= MAX_CLIENTS:
                return
            found = self.clients[agent] = Client(first=began, last=ended)
        found.calls += 1
        found.first = min(found.first, began)
        found.last = max(found.last, ended)
        found.methods[method] = found.methods.get(method, 0) + 1

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Per User-Agent: calls, first (arrival of the first call), last (end of the last)."""
        return {
            agent: {
                "calls": found.calls,
                "first": found.first,
                "last": found.last,
                "methods": dict(found.methods),
            }
            for agent, found in self.clients.items()
        }
