"""Which forward proxy, if any, a GREEN-API call goes through: the one place that decides.

The HTTP transport and the QR WebSocket both ask `ProxyPolicy.for_url` with the target's
URL, so a call is proxied or not by the same rule whatever carries it. The rule is the
usual environment convention: `HTTP_PROXY` for http:// and ws:// targets, `HTTPS_PROXY`
for https:// and wss:// ones, `ALL_PROXY` for either when the specific one is unset (the
lower-case spelling wins over the upper-case one, as in curl), and `NO_PROXY` lists the
hosts reached directly (`*`, host names, domain suffixes such as `.example.com` or
`example.com`, IP addresses, each optionally with `:port`; no CIDR ranges).

The allow-list is about the target (GREEN-API), never the proxy: the proxy is chosen by
whoever runs the process, not by a namespace user. Credentials in a proxy URL are sent
to the proxy only; `Proxy.url` and every message name the proxy without them, and
the password is registered for redaction in case anything quotes it anyway.
"""

from __future__ import annotations

import base64
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from whatsapp_operator.redaction import register_secret

# The scheme a proxy variable is chosen by, for each target scheme.
_BY_TARGET = {"http": "http", "ws": "http", "https": "https", "wss": "https"}
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


class ProxyConfigError(ValueError):
    """A proxy variable the operator cannot honour; the message names no credentials."""


@dataclass(frozen=True)
class Proxy:
    """A forward proxy: where it is, and how to authenticate to it."""

    url: str  # scheme://host:port, no credentials: the form a log line may name
    configured: str  # as configured, credentials included (for clients that parse them)
    authorization: str | None  # the Proxy-Authorization value, when credentials were given


def _parse_proxy(value: str, variable: str) -> Proxy:
    configured = value if "://" in value else f"http://{value}"
    try:
        parts = urllib.parse.urlsplit(configured)
        port = parts.port
    except ValueError:
        raise ProxyConfigError(f"{variable} is not a proxy URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProxyConfigError(
            f"{variable} must be an http:// or https:// proxy URL with a host "
            f"(scheme {parts.scheme!r} is not supported)"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    url = f"{parts.scheme}://{host}:{port or _DEFAULT_PORTS[parts.scheme]}"
    authorization = None
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        register_secret(password)
        register_secret(urllib.parse.quote(password, safe=""))
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        authorization = f"Basic {pair}"
        register_secret(pair)
    return Proxy(url=url, configured=configured, authorization=authorization)


def _bypassed(no_proxy: str, host: str, port: int) -> bool:
    """Whether NO_PROXY names `host` (exactly, or as a parent domain), on any port or `port`."""
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if entry == "*":
            return True
        if not entry:
            continue
        entry_port = ""
        if entry.startswith("["):  # [v6]:port or [v6]
            name, _bracket, rest = entry[1:].partition("]")
            entry_port = rest.lstrip(":")
        elif entry.count(":") == 1:  # name:port or v4:port
            name, _colon, entry_port = entry.partition(":")
        else:  # a name, a v4 address or a bare v6 address
            name = entry
        if entry_port and entry_port != str(port):
            continue
        name = name.removeprefix("*").lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _variable(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    for key in (name.lower(), name.upper()):
        value = environ.get(key, "").strip()
        if value:
            return key, value
    return None


class ProxyPolicy:
    """The environment's proxy settings, read once; `for_url` answers per target."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._proxies: dict[str, Proxy] = {}
        fallback = _variable(env, "all_proxy")
        for scheme in ("http", "https"):
            found = _variable(env, f"{scheme}_proxy") or fallback
            if found is not None:
                self._proxies[scheme] = _parse_proxy(found[1], found[0])
        no_proxy = _variable(env, "no_proxy")
        self._no_proxy = no_proxy[1] if no_proxy is not None else ""
        self._decided: dict[tuple[str, str, int], Proxy | None] = {}

    @classmethod
    def direct(cls) -> ProxyPolicy:
        """A policy that sends every call directly (the environment is not consulted)."""
        return cls({})

    @property
    def proxies(self) -> tuple[Proxy, ...]:
        """The configured proxies, for a startup log line."""
        return tuple(self._proxies.values())

    def for_url(self, url: str) -> Proxy | None:
        """The proxy for a call to `url` (http, https, ws or wss), or None to go direct."""
        parts = urllib.parse.urlsplit(url)
        scheme = _BY_TARGET.get(parts.scheme)
        if scheme is None or scheme not in self._proxies:
            return None
        host = parts.hostname or ""
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        key = (scheme, host, port)
        if key not in self._decided:
            bypass = _bypassed(self._no_proxy, host, port)
            self._decided[key] = None if bypass else self._proxies[scheme]
        return self._decided[key]
