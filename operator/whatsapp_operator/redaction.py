"""Keep GREEN-API credentials out of every log line this process writes.

GREEN-API puts the instance token in the URL path (`/waInstance{id}/{method}/{token}`)
and the partner token likewise (`/partner/{method}/{token}`). Libraries log URLs
(httpx at INFO, websockets at DEBUG), so URL shapes are scrubbed by pattern, and
every secret the process learns (tokens, QR payloads, pairing codes) is registered
here and scrubbed by value, wherever it shows up.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

MASK = "***"

_URL_SECRETS = re.compile(
    r"(?P<head>/waInstance\d+/[A-Za-z]+/)(?P<secret>[^/\s?#'\"<>]+)"
    r"|(?P<phead>/partner/[A-Za-z]+/)(?P<psecret>[^/\s?#'\"<>]+)",
)
# Registered secrets shorter than this are not scrubbed by value: masking every
# occurrence of a 3-character string would shred ordinary log text.
_MIN_SECRET_LENGTH = 6


class _SecretRegistry:
    """Copy-on-write set: readers (every log record) never take the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: frozenset[str] = frozenset()

    def add(self, value: str) -> None:
        with self._lock:
            if value not in self.values:
                self.values = self.values | {value}


_registry = _SecretRegistry()


def register_secret(value: str) -> None:
    """Scrub `value` from every log line from now on (process-wide)."""
    if len(value) >= _MIN_SECRET_LENGTH:
        _registry.add(value)


def redact(text: str) -> str:
    """Return `text` with credential-bearing URL segments and known secrets masked."""
    text = _URL_SECRETS.sub(_mask_match, text)
    for secret in _registry.values:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _mask_match(match: re.Match[str]) -> str:
    head = match.group("head") or match.group("phead")
    return f"{head}{MASK}"


class RedactingFilter(logging.Filter):
    """Rewrites a record's message in place so no handler ever sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
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
