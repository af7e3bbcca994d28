"""The network steps: the allow-list, DNS, and a TCP (and for https a TLS) handshake.

The handshake sends no HTTP request: it shows whether the operator's machine can reach
the host and trusts its certificate (with the same trust store as the operator's
client), separately from whether GREEN-API accepts the credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable

import httpx

from whatsapp_operator.adapters.greenapi.proxy import ProxyPolicy
from whatsapp_operator.check.report import Status, Step
from whatsapp_operator.endpoints import AllowList, Endpoint, UrlRejected

# A certificate this close to its end is worth a warning.
CERT_WARN_DAYS = 14
_DAY = 86400.0


def allow_list_step(
    allowed: AllowList, url: str, field: str, name: str
) -> tuple[Step, Endpoint | None]:
    """Whether the operator would send a request to `url` at all; nothing is contacted."""
    try:
        endpoint = allowed.check(url, field)
    except UrlRejected as exc:
        return Step(name, Status.FAIL, f"{exc}; no request was sent to it"), None
    return Step(name, Status.OK, f"{endpoint.origin} is in the operator's allow-list"), endpoint


def proxied(policy: ProxyPolicy, url: str) -> bool:
    """Whether the operator's client would reach `url` through a forward proxy."""
    return policy.for_url(url) is not None


async def dns_step(endpoint: Endpoint, timeout: float) -> Step:
    """Whether the host name resolves here, and to what."""
    if endpoint.ip_literal:
        return Step("dns", Status.OK, f"{endpoint.host} is an IP address; nothing to resolve")
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            found = await loop.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except TimeoutError:
        return Step("dns", Status.FAIL, f"{endpoint.host} did not resolve within {timeout:g} s")
    except socket.gaierror as exc:
        return Step("dns", Status.FAIL, f"{endpoint.host} does not resolve: {exc.strerror}")
    addresses = sorted({str(info[4][0]) for info in found})
    shown = ", ".join(addresses[:4]) + (" ..." if len(addresses) > 4 else "")
    return Step("dns", Status.OK, f"{endpoint.host} resolves to {shown}")


def _connection_failure(endpoint: Endpoint, exc: OSError) -> str:
    where = f"{endpoint.host}:{endpoint.port}"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the TCP connection (nothing listens there, or a firewall)"
    return f"cannot open a TCP connection to {where}: {exc.strerror or type(exc).__name__}"


async def handshake_step(
    endpoint: Endpoint,
    timeout: float,
    context: ssl.SSLContext | None = None,
    clock: Callable[[], float] = time.time,
) -> Step:
    """Open a TCP connection (and a TLS session for https) and close it again."""
    where = f"{endpoint.host}:{endpoint.port}"
    tls = endpoint.scheme == "https"
    name = "handshake"
    context = context or (httpx.create_ssl_context() if tls else None)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                endpoint.host,
                endpoint.port,
                ssl=context if tls else None,
                server_hostname=endpoint.host if tls else None,
            )
    except TimeoutError:
        return Step(name, Status.FAIL, f"no connection to {where} within {timeout:g} s")
    except ssl.SSLCertVerificationError as exc:
        return Step(
            name,
            Status.FAIL,
            f"the TLS certificate of {where} is not trusted: {exc.verify_message}. The "
            "operator refuses it too (a proxy that intercepts TLS needs its CA in the trust "
            "store, SSL_CERT_FILE)",
        )
    except ssl.SSLError as exc:
        return Step(name, Status.FAIL, f"TLS handshake with {where} failed: {exc.reason or exc}")
    except OSError as exc:
        return Step(name, Status.FAIL, _connection_failure(endpoint, exc))
    try:
        if not tls:
            return Step(
                name,
                Status.OK,
                f"TCP connection to {where} made; plain http, no TLS (the allow-list admits it)",
            )
        return _tls_verdict(writer, where, clock())
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        del reader


def _tls_verdict(writer: asyncio.StreamWriter, where: str, now: float) -> Step:
    tls_object = writer.get_extra_info("ssl_object")
    version = tls_object.version() if tls_object is not None else "TLS"
    certificate = tls_object.getpeercert() if tls_object is not None else None
    not_after = (certificate or {}).get("notAfter")
    if not isinstance(not_after, str):
        return Step(
            "handshake", Status.OK, f"{version} handshake with {where}; certificate trusted"
        )
    ends = ssl.cert_time_to_seconds(not_after)
    days = (ends - now) / _DAY
    detail = f"{version} handshake with {where}; certificate trusted, valid until {not_after}"
    if days < CERT_WARN_DAYS:
        return Step("handshake", Status.WARN, f"{detail}: {max(days, 0):.0f} days left")
    return Step("handshake", Status.OK, detail)
