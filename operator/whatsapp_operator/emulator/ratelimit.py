"""Per instance and method token buckets with GREEN-API's documented rates."""

from __future__ import annotations

import time
from collections.abc import Mapping

# D:api/ratelimiter; methods are keyed in lower case because routing is case-insensitive.
DOCUMENTED_RPS: Mapping[str, float] = {
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


class RateLimiter:
    """Token buckets whose capacity equals one second of rate (at least one request).

    Buckets are two floats in a dict, created on first use, so idle instances cost nothing.
    """

    def __init__(
        self,
        *,
        enabled: bool,
        scale: float,
        overrides: Mapping[str, float],
        partner_rps: float | None,
    ) -> None:
        self.enabled = enabled
        self._rates = {k: v * scale for k, v in DOCUMENTED_RPS.items()}
        self._rates.update({k.lower(): v * scale for k, v in overrides.items()})
        self._partner_rps = partner_rps
        self._buckets: dict[tuple[int | str, str], list[float]] = {}

    def rate_for(self, method: str) -> float | None:
        """The requests per second allowed for `method`, or None when it is not limited."""
        return self._rates.get(method)

    def allow(self, key: int | str, method: str) -> bool:
        """Take a token for `method` from the bucket of `key` (an instance id or a partner token).

        False when the bucket is empty, i.e. the call is to be answered 429.
        """
        rate = self._partner_rps if isinstance(key, str) else self._rates.get(method)
        if rate is None or (isinstance(key, int) and not self.enabled):
            return True
        capacity = max(1.0, rate)
        now = time.monotonic()
        bucket = self._buckets.get((key, method))
        if bucket is None:
            self._buckets[(key, method)] = [capacity - 1.0, now]
            return True
        tokens = min(capacity, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def forget(self, key: int | str) -> None:
        """Drop every bucket of `key`."""
        for bucket_key in [k for k in self._buckets if k[0] == key]:
            del self._buckets[bucket_key]
