"""Reconcile slots shared fairly between namespaces.

A plain semaphore hands slots out first come, first served: one namespace whose
endpoint answers slowly can hold every slot and stall the whole cluster's
reconciles. Here a namespace holds at most its share, and a freed slot goes to
the waiting namespace that holds the fewest (the longest waiting among equals),
so each namespace keeps making progress whatever the others do.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FairSlots:
    """At most `capacity` holders at once, at most `per_namespace` from one namespace."""

    def __init__(self, capacity: int, per_namespace: int) -> None:
        if capacity < 1 or per_namespace < 1:
            raise ValueError("capacity and per_namespace must be at least 1")
        self.capacity = capacity
        self.per_namespace = min(per_namespace, capacity)
        self._held: Counter[str] = Counter()
        self._total = 0
        # Per namespace, its waiters in arrival order: (arrival number, future).
        self._waiting: dict[str, deque[tuple[int, asyncio.Future[None]]]] = {}
        self._arrivals = itertools.count()

    def held(self, namespace: str) -> int:
        """Slots `namespace` holds now."""
        return self._held[namespace]

    @property
    def in_use(self) -> int:
        """Slots held now, all namespaces together."""
        return self._total

    @asynccontextmanager
    async def hold(self, namespace: str) -> AsyncIterator[None]:
        """Wait for a slot for `namespace`, hold it for the block, then hand it on."""
        await self._acquire(namespace)
        try:
            yield
        finally:
            self._release(namespace)

    async def _acquire(self, namespace: str) -> None:
        if not self._waiting and self._grantable(namespace):
            self._grant(namespace)
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(namespace, deque()).append((next(self._arrivals), granted))
        self._dispatch()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(namespace)  # granted just as the waiter was cancelled
            else:
                self._forget(namespace, granted)
            raise

    def _grantable(self, namespace: str) -> bool:
        return self._total < self.capacity and self._held[namespace] < self.per_namespace

    def _grant(self, namespace: str) -> None:
        self._held[namespace] += 1
        self._total += 1

    def _release(self, namespace: str) -> None:
        self._held[namespace] -= 1
        if not self._held[namespace]:
            del self._held[namespace]
        self._total -= 1
        self._dispatch()

    def _forget(self, namespace: str, granted: asyncio.Future[None]) -> None:
        queue = self._waiting.get(namespace)
        if queue is None:
            return
        for item in list(queue):
            if item[1] is granted:
                queue.remove(item)
        if not queue:
            del self._waiting[namespace]
        self._dispatch()

    def _dispatch(self) -> None:
        while self._total < self.capacity:
            candidates = [
                (self._held[namespace], queue[0][0], namespace)
                for namespace, queue in self._waiting.items()
                if self._held[namespace] < self.per_namespace
            ]
            if not candidates:
                return
            _held, _arrival, namespace = min(candidates)
            queue = self._waiting[namespace]
            _number, granted = queue.popleft()
            if not queue:
                del self._waiting[namespace]
            if granted.done():  # cancelled while waiting
                continue
            self._grant(namespace)
            granted.set_result(None)
