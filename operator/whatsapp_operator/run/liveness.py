"""What `/healthz` answers: alive while standing by, and while the reconcile loop can work.

A process whose Kubernetes calls hang is alive as a process but dead as an operator: its
Lease thread could keep renewing while no object is handled. So a Kubernetes call in
flight for longer than `stuck_seconds` (every call has a shorter timeout, so only a
call its timeout failed to end stays that long) makes the answer 503; on a leader the
watchdog (`run/leadership.py`) then releases the Lease and ends the process.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from typing import Any

from whatsapp_operator.adapters.kubecalls import KubeCalls


class Role(enum.Enum):
    """Whether this process works on objects (the leader, or the only process) or waits."""

    STANDBY = "standby"
    LEADER = "leader"


class Liveness:
    """The process's health as `/healthz` reports it; thread-safe."""

    def __init__(
        self,
        calls: KubeCalls,
        stuck_seconds: float,
        *,
        role: Role = Role.LEADER,
        on_role: Callable[[Role], None] = lambda _role: None,
    ) -> None:
        self.calls = calls
        self.stuck_seconds = stuck_seconds
        self._on_role = on_role
        self._role = role
        self._started = threading.Event()
        on_role(role)

    @property
    def role(self) -> Role:
        """STANDBY while waiting for the Lease, LEADER once working."""
        return self._role

    def lead(self) -> None:
        """This process holds the Lease now (kopf starts next)."""
        self._role = Role.LEADER
        self._on_role(Role.LEADER)

    def started(self) -> None:
        """kopf has run its startup handlers: objects are being handled."""
        self._started.set()

    def stuck(self) -> str | None:
        """Why the loop is stuck (a Kubernetes call past the bound), or None."""
        oldest = self.calls.oldest()
        if oldest is None or oldest[0] < self.stuck_seconds:
            return None
        seconds, what = oldest
        return (
            f"a Kubernetes call ({what}) has been in flight for {seconds:.0f} s "
            f"(bound {self.stuck_seconds:g} s)"
        )

    def check(self) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body of `/healthz`."""
        if self._role is Role.STANDBY:
            return 200, {"role": "standby", "status": "ok"}
        if not self._started.is_set():
            return 503, {"role": "leader", "status": "starting"}
        problem = self.stuck()
        if problem is not None:
            return 503, {"role": "leader", "status": "stuck", "problem": problem}
        return 200, {"role": "leader", "status": "ok"}
