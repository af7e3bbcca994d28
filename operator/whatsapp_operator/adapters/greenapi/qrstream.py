"""GREEN-API's scanqrcode WebSocket as an async stream of `QrFrame`s.

The service pushes a `qrCode` frame per new code and ends the session with one
final frame (`accountData` after a scan, `alreadyLogged`, `timeoutExpired` after
100 s, or `error`). The stream yields that final frame and then stops.

The socket goes through the proxy the caller passes (the HTTP calls' rule, proxy.py),
never one websockets picks from the environment itself, and follows no redirect: the
token is in the path, and the allow-list admitted this URL only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from whatsapp_operator.adapters.greenapi import responses
from whatsapp_operator.adapters.greenapi.agent import user_agent
from whatsapp_operator.adapters.greenapi.proxy import Proxy
from whatsapp_operator.adapters.greenapi.ratelimit import RateLimiter
from whatsapp_operator.redaction import protect_loggers
from whatsapp_operator.wire import errors
from whatsapp_operator.wire.models import QrFrame, QrKind

_FINAL_KINDS = frozenset(
    {QrKind.ACCOUNT_DATA, QrKind.ALREADY_LOGGED, QrKind.TIMEOUT_EXPIRED, QrKind.ERROR}
)
# websockets logs the request line (token included) at DEBUG on this logger.
_WS_LOGGER = "whatsapp_operator.adapters.greenapi.websocket"
_METHOD = "scanqrcode"
# A QR PNG is a few kilobytes; anything far larger is not a GREEN-API frame.
_MAX_FRAME_BYTES = 2 * 1024 * 1024


class _NoRedirects(connect):
    """websockets' `connect` that treats a redirect as the refusal it is here."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        # websockets follows up to 10 redirects, cross-origin included; the token in the
        # path would go wherever a 3xx points, past the allow-list. The 3xx is raised as
        # an `InvalidStatus`, mapped below like any refused upgrade.
        return exc


async def stream_qr_frames(
    ws_url: str,
    *,
    instance_id: int,
    limiter: RateLimiter,
    limiter_key: tuple[str, str, str],
    open_timeout: float,
    proxy: Proxy | None = None,
) -> AsyncIterator[QrFrame]:
    """Yield the frames of the scanqrcode WebSocket at `ws_url`, stopping after a final frame.

    Paced by `limiter`; through `proxy` when given, else directly. Failures raise
    `GreenApiError`s: the upgrade's status mapped as for HTTP (a redirect included),
    `TransportFailure` for a closed, failed or unopened socket, `UnexpectedResponse` for a
    frame that is not a QR frame.
    """
    protect_loggers((_WS_LOGGER,))
    await limiter.acquire(limiter_key, RateLimiter.rate_for(_METHOD))
    where = f"{_METHOD} on instance {instance_id}"
    try:
        async with _NoRedirects(
            ws_url,
            proxy=proxy.configured if proxy is not None else None,
            open_timeout=open_timeout,
            logger=logging.getLogger(_WS_LOGGER),
            max_size=_MAX_FRAME_BYTES,
            # Stopping a linking session must be prompt; a peer slow to answer the
            # closing handshake would otherwise hold it for the 10 s default.
            close_timeout=1.0,
            user_agent_header=user_agent(),
        ) as socket:
            async for message in socket:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                try:
                    frame = QrFrame.from_wire(json.loads(text))
                except ValueError:
                    raise errors.UnexpectedResponse(
                        f"{where}: frame is not a QR frame: {responses.body_excerpt(text)}",
                        method=_METHOD,
                        instance_id=instance_id,
                    ) from None
                yield frame
                if frame.kind in _FINAL_KINDS:
                    return
    except InvalidStatus as exc:
        status = exc.response.status_code
        body = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
        error = responses.error_for_status(
            method=_METHOD,
            instance_id=instance_id,
            status=status,
            body=body,
            headers={k.lower(): v for k, v in exc.response.headers.raw_items()},
            rate=RateLimiter.rate_for(_METHOD),
        ) or errors.UnexpectedResponse(
            f"{where}: WebSocket upgrade refused with {status}",
            method=_METHOD,
            instance_id=instance_id,
            status=status,
        )
        raise error from None
    except ConnectionClosed as exc:
        raise errors.TransportFailure(
            f"{where}: WebSocket closed before a final frame (code {exc.code})",
            method=_METHOD,
            instance_id=instance_id,
        ) from None
    except TimeoutError:
        raise errors.TransportFailure(
            f"{where}: WebSocket did not open in time",
            method=_METHOD,
            instance_id=instance_id,
            request_not_sent=True,
        ) from None
    except (OSError, WebSocketException) as exc:
        # `from None`: these exceptions may quote the URI, which holds the token.
        raise errors.TransportFailure(
            f"{where}: WebSocket failed ({type(exc).__name__})",
            method=_METHOD,
            instance_id=instance_id,
            request_not_sent=isinstance(exc, OSError),
        ) from None
