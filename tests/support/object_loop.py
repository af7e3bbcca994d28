"""Reconcile and poll like an object's loop does: the memory each step returns is kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from whatsapp_operator.run.cycle import Outcome
from whatsapp_operator.run.journal import Annotator, StatusRecorder
from whatsapp_operator.run.memory import Live, Memory
from whatsapp_operator.run.reconcile import Reconciler


class Holder(Protocol):
    """A test's stand-in for an object's loop entry."""

    memory: Memory
    live: Live


async def reconcile_in(
    holder: Holder,
    reconciler: Reconciler,
    body: dict[str, Any],
    wake: Callable[[], None],
    record: StatusRecorder | None = None,
    annotate: Annotator | None = None,
) -> Outcome:
    """One whole reconcile; the holder keeps the memory it returns."""
    outcome = await reconciler.reconcile(body, holder.memory, holder.live, wake, record, annotate)
    holder.memory = outcome.memory
    return outcome


async def poll_in(holder: Holder, reconciler: Reconciler) -> float | None:
    """One quiet poll; the holder keeps the memory it returns. None: reconcile it whole."""
    polled = await reconciler.poll(holder.memory, holder.live)
    holder.memory = polled.memory
    return polled.delay
