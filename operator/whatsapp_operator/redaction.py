"""Keep GREEN-API credentials out of every log line this process writes.

GREEN-API puts the instance token in the URL path (`/waInstance{id}/{method}/{token}`)
and the partner token likewise (`/partner/{method}/{token}`). Libraries log URLs
(httpx at INFO, websockets at DEBUG), so URL shapes are scrubbed by pattern, and
every secret the process learns (tokens, QR payloads, pairing codes) is registered
here and scrubbed by value, wherever it shows up. Tokens stay registered; QR payloads
and pairing codes only while they can be used, so the registry stays bounded.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable

MASK = "***"

_URL_SECRETS = re.compile(
    r"(?P<head>/waInstance\d+/[A-Za-z]+/)(?P<secret>[^/\s?#'\"<>]+)"
    r"|(?P<phead>/partner/[A-Za-z]+/)(?P<psecret>[^/\s?#'\"<>]+)",
)
# Registered secrets shorter than this are not scrubbed by value: masking every
# occurrence of a 3-character string would shred ordinary log text.
_MIN_SECRET_LENGTH = 6


# Short-lived values (QR images, pairing codes) registered at once, at most: a safety net
# should expiry and forgetting ever fall behind; the oldest registrations go first.
MAX_SHORT_LIVED = 1024
# Up to this many values, searching the line for each is cheaper than scanning windows.
_SCAN_THRESHOLD = 64


class SecretRegistry:
    """Values to scrub from log lines: long-lived ones (tokens) and short-lived ones.

    A token stays registered for the life of the process. A short-lived value (a QR
    image, a pairing code) is registered with a `ttl` and dropped when it expires or is
    forgotten, so a process that links phones for months does not collect every code
    it ever saw. Copy-on-write: readers (every log record) never take the lock.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_short_lived: int = MAX_SHORT_LIVED
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._max_short_lived = max_short_lived
        self._permanent: frozenset[str] = frozenset()
        # value -> expiry on `clock`, oldest registration first.
        self._short_lived: dict[str, float] = {}
        self._next_expiry = math.inf
        self.values: frozenset[str] = frozenset()
        # The same values by length, for scanning a line in one pass per length; the
        # permanent ones kept up to date on each add, so an add costs one length group.
        self._by_length: dict[int, frozenset[str]] = {}
        self._permanent_by_length: dict[int, frozenset[str]] = {}

    def add(self, value: str, *, ttl: float | None = None) -> None:
        """Register `value`: for good, or for `ttl` seconds (a renewed ttl replaces the old)."""
        if ttl is None and value in self._permanent:
            return  # every reconcile re-registers its token: keep that O(1)
        with self._lock:
            if ttl is None:
                self._short_lived.pop(value, None)
                self._permanent = self._permanent | {value}
                group = self._permanent_by_length.get(len(value), frozenset())
                self._permanent_by_length[len(value)] = group | {value}
            elif value not in self._permanent:
                self._short_lived.pop(value, None)
                self._short_lived[value] = self._clock() + ttl
                while len(self._short_lived) > self._max_short_lived:
                    del self._short_lived[next(iter(self._short_lived))]
            self._publish()

    def forget(self, value: str) -> None:
        """Stop scrubbing a short-lived value; a long-lived one stays."""
        with self._lock:
            if self._short_lived.pop(value, None) is not None:
                self._publish()

    def current(self) -> frozenset[str]:
        """The values to scrub now (expired short-lived values are dropped here)."""
        if self._clock() >= self._next_expiry:
            with self._lock:
                self._publish()
        return self.values

    def size(self) -> int:
        """How many values are scrubbed now."""
        return len(self.current())

    def redact(self, text: str) -> str:
        """`text` with every registered value masked."""
        values = self.current()
        if len(values) <= _SCAN_THRESHOLD:
            found: Iterable[str] = [secret for secret in values if secret in text]
        else:
            # Thousands of tokens: look up each window of the line per distinct length
            # (a few), instead of searching the line once per token.
            found = self._windows_in(text)
        for secret in sorted(found, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def _windows_in(self, text: str) -> set[str]:
        found: set[str] = set()
        for length, group in self._by_length.items():
            for start in range(len(text) - length + 1):
                window = text[start : start + length]
                if window in group:
                    found.add(window)
        return found

    def _publish(self) -> None:
        now = self._clock()
        expired = [value for value, expiry in self._short_lived.items() if expiry <= now]
        for value in expired:
            del self._short_lived[value]
        self._next_expiry = min(self._short_lived.values(), default=math.inf)
        self.values = self._permanent | frozenset(self._short_lived)
        by_length = dict(self._permanent_by_length)
        for value in self._short_lived:
            by_length[len(value)] = by_length.get(len(value), frozenset()) | {value}
        self._by_length = by_length


_registry = SecretRegistry()


def register_secret(value: str, *, ttl: float | None = None) -> None:
    """Scrub `value` from every log line (process-wide): for good, or for `ttl` seconds.

    Tokens are registered for good. Short-lived codes (QR images, pairing codes) pass
    the time they stay usable, so the registry forgets them afterwards.
    """
    if len(value) >= _MIN_SECRET_LENGTH:
        _registry.add(value, ttl=ttl)


def forget_secret(value: str) -> None:
    """Stop scrubbing a short-lived value now (its window ended); tokens are kept."""
    _registry.forget(value)


def registered_count() -> int:
    """How many values are scrubbed at present (bounded for short-lived ones)."""
    return _registry.size()


def redact(text: str) -> str:
    """Return `text` with credential-bearing URL segments and known secrets masked."""
    return _registry.redact(_URL_SECRETS.sub(_mask_match, text))


def _mask_match(match: re.Match[str]) -> str:
    head = match.group("head") or match.group("phead")
    return f"{head}{MASK}"


class RedactingFilter(logging.Filter):
    """Rewrites a record's message in place so no handler ever sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets in the record's message and traceback; never drop the record."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            # Formatting the traceback here lets the scrubbed text replace the raw one.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()

# Logger filters are not inherited by child loggers, so every library logger
# that may print a request line is named explicitly.
LIBRARY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "websockets",
    "websockets.client",
    "websockets.protocol",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.server",
)


def protect_loggers(names: Iterable[str] = LIBRARY_LOGGERS) -> None:
    """Attach the redacting filter to the given loggers (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def protect_handlers(handlers: Iterable[logging.Handler]) -> None:
    """Attach the redacting filter to handlers, which see records of every logger."""
    for handler in handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
