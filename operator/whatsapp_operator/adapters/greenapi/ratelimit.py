"""Client-side pacing at GREEN-API's documented per-instance, per-method rates.

The service answers 429 when an instance exceeds a method's rate. Pacing our own
calls below that rate means the project never causes a 429 itself; the ones that
remain (ISS#771 reports phantom 429s) are retried by the client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# Requests per second per instance (D:api/ratelimiter). Methods that are not
# listed (getAuthorizationCode, GetStateInstanceHistory, updateApiToken) have no
# documented limit; they get the account methods' 1 rps to stay on the safe side.
DOCUMENTED_RATES: dict[str, float] = {
    "getsettings": 1.0,
    "setsettings": 1.0,
    "getstateinstance": 1.0,
    "getstatusinstance": 1.0,
    "reboot": 1.0,
    "logout": 1.0,
    "getwasettings": 1.0,
    "scanqrcode": 1.0,
    "qr": 3.0,
}
DEFAULT_RATE = 1.0
# Partner methods have no documented limit; pace them per partner token anyway,
# because createInstance bills and getInstances returns every instance.
PARTNER_RATE = 2.0
# Requests spaced exactly 1/rate apart can arrive closer than that after network
# jitter; a margin keeps them under the limit as the server measures it.
SAFETY_MARGIN = 1.1


class RateLimiter:
    """Spaces calls sharing a key at least `SAFETY_MARGIN / rate` seconds apart.

    One instance per process; keys are (host, instance or partner, method). The
    state per key is one float, so it scales to thousands of instances.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        margin: float = SAFETY_MARGIN,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._margin = margin
        self._next_slot: dict[tuple[str, str, str], float] = {}

    @staticmethod
    def rate_for(method: str) -> float:
        """The documented requests per second for `method` (1 when undocumented)."""
        return DOCUMENTED_RATES.get(method.lower(), DEFAULT_RATE)

    def reserve(self, key: tuple[str, str, str], rate: float) -> float:
        """Book the next free slot for `key`; return how long to wait for it."""
        now = self._clock()
        slot = max(now, self._next_slot.get(key, now))
        self._next_slot[key] = slot + self._margin / rate
        self._forget_stale(now)
        return slot - now

    def completed(self, key: tuple[str, str, str], rate: float) -> None:
        """A call for `key` just ended: the next one waits a full interval from now.

        A request can wait for a connection after its slot came up; at the server
        it then arrives late, and the next request, sent on its own slot, too soon.
        """
        self._next_slot[key] = max(
            self._next_slot.get(key, 0.0), self._clock() + self._margin / rate
        )

    async def acquire(self, key: tuple[str, str, str], rate: float) -> None:
        """Wait for the next free slot for `key` at `rate` calls per second."""
        delay = self.reserve(key, rate)
        if delay > 0:
            await self._sleep(delay)

    def _forget_stale(self, now: float) -> None:
        # Keeps memory bounded when instances come and go: a slot in the past
        # carries no information.
        if len(self._next_slot) > 10_000:
            self._next_slot = {k: v for k, v in self._next_slot.items() if v > now}
