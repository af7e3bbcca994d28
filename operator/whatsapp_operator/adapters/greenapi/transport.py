"""httpx's transport interface on aiohttp's connection pool.

The GREEN-API client speaks httpx (requests, responses, timeouts, exceptions); only the
connection pool underneath is aiohttp's, the HTTP stack kopf already runs in this
process. Measured on the project's 2-core machine (`benchmarks/http_client_cost.py`):
one getStateInstance through httpx's own transport (httpcore on anyio) costs 1.6 ms of
CPU alone and 3.1 ms with 16 in flight, most of it in the pool's bookkeeping (it checks
every idle connection for readability on each request); aiohttp alone costs 0.18 to
0.35 ms, and httpx on top of it 0.62 to 0.67 ms. At a thousand polled instances that
difference is most of the operator's idle CPU.

What this transport guarantees the client: aiohttp's errors arrive as the matching
httpx exceptions (connect failures as `ConnectError`, so the caller knows nothing was
sent), their messages carry no URL (GREEN-API puts the token in the path), the body is
streamed so the caller's byte limit stops a large answer early, and an answer not read
to the end closes its connection instead of returning it to the pool, a request is sent
at most once (aiohttp's own re-send on a dropped connection is switched off, so a reboot
or logout that the server performed before the connection dropped is reported as an
unknown outcome, never repeated here). Redirects are not
followed, cookies are not kept, and bodies are decoded by httpx, not here. Proxies are
this transport's: httpx applies no environment proxy once a transport is passed to it, so
each request asks `ProxyPolicy` (proxy.py, shared with the QR WebSocket) for its target.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import aiohttp
import httpx
from yarl import URL

from whatsapp_operator.adapters.greenapi.proxy import ProxyPolicy

# An idle connection is closed after this long (httpx's default keep-alive expiry).
KEEPALIVE_SECONDS = 5.0
CHUNK_BYTES = 64 * 1024


class _LostAfterSending(aiohttp.ClientConnectionError):
    """The connection failed after the request may have gone out; `cause` is aiohttp's error.

    Not a `ClientOSError` nor a `ServerDisconnectedError`: those are what aiohttp re-sends a
    GET, PUT or DELETE on by itself, and a GREEN-API reboot or logout is a GET that acts.
    """

    def __init__(self, cause: aiohttp.ClientError) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause


async def _never_resend(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Middleware: a lost connection reaches the caller instead of aiohttp's one re-send.

    aiohttp (3.x, `ClientSession._request`) repeats an idempotent method once when the
    handler raises `ServerDisconnectedError` or `ClientOSError` other than a connect
    failure, assuming a stale kept-alive connection; the server may well have acted.
    Whether to repeat is the client's and the gate's decision, above this transport.
    """
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # nothing was sent: aiohttp does not re-send these either
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        raise _LostAfterSending(exc) from exc


def _translate(exc: Exception, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception for an aiohttp failure; the message names only the failure's type."""
    if isinstance(exc, _LostAfterSending):
        exc = exc.cause
    what = f"GREEN-API connection failed ({type(exc).__name__})"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(what, request=request)
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        # The proxy was not reached, or refused the tunnel: nothing reached GREEN-API.
        return httpx.ProxyError(what, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(what, request=request)
    if isinstance(exc, TimeoutError):  # aiohttp's socket read timeout
        return httpx.ReadTimeout(what, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(what, request=request)
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed status line or header
        return httpx.RemoteProtocolError(what, request=request)
    return httpx.ReadError(what, request=request)


class _Body(httpx.AsyncByteStream):
    """An aiohttp answer's body as httpx reads it; closed early, the connection goes."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request
        self._finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(CHUNK_BYTES):
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _translate(exc, self._request) from None
        self._finished = True

    async def aclose(self) -> None:
        if self._finished:
            self._response.release()  # read to the end: the connection can be reused
        else:
            self._response.close()  # unread bytes would corrupt the next answer


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests through one aiohttp session, opened on first use."""

    def __init__(
        self,
        *,
        max_connections: int,
        verify: ssl.SSLContext | None = None,
        proxies: ProxyPolicy | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._verify = verify
        self._proxies = proxies or ProxyPolicy.direct()
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Opened inside the running event loop (aiohttp binds the session to it).
        if self._session is None or self._session.closed:
            context = self._verify if self._verify is not None else httpx.create_ssl_context()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections,
                    keepalive_timeout=KEEPALIVE_SECONDS,
                    ssl=context,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                # httpx has set every header it sends; aiohttp adds none of its own.
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None),
                trust_env=False,
                middlewares=(_never_resend,),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request`; the answer's head now, its body streamed as the caller reads it."""
        session = self._open()
        timeouts = request.extensions.get("timeout") or {}
        content = await request.aread()
        headers = request.headers.multi_items()
        proxy = self._proxies.for_url(str(request.url))
        proxy_headers = None
        if proxy is not None and proxy.authorization:
            credentials = ("Proxy-Authorization", proxy.authorization)
            if request.url.scheme == "https":
                proxy_headers = dict([credentials])  # on the CONNECT that opens the tunnel
            else:
                # A plain-http request goes to the proxy itself, which strips the header;
                # aiohttp puts proxy_headers only on a CONNECT.
                headers.append(credentials)
        try:
            response = await session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=content or None,
                allow_redirects=False,
                proxy=proxy.url if proxy is not None else None,
                proxy_headers=proxy_headers,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=timeouts.get("connect"),
                    sock_read=timeouts.get("read"),
                ),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _translate(exc, request) from None
        reason = (response.reason or "").encode()
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    async def aclose(self) -> None:
        """Close the session and every pooled connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None
