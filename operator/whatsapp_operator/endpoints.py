"""Which GREEN-API endpoints the operator may talk to.

Two layers, one grammar. `URL_PATTERN` is what the CRDs admit (the API server checks
it with RE2, pydantic with Rust's regex, this module with Python's `re`); it is
written in plain ASCII classes so the three engines agree on every string, which
`\\s` and friends do not. `AllowList` is the operator-wide policy on top: a URL the
schema admits is still refused unless an entry of the list covers its scheme, host
and port, so a namespace user cannot point the operator, and the Secrets it reads,
at a host of their choosing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

_LABEL = r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
_HOST = rf"({_LABEL}(\.{_LABEL})*|\[[0-9A-Fa-f:.]{{2,45}}\])"
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_PATH = r"(/[-A-Za-z0-9._~/]*)?"

# No userinfo, no query, no fragment, no whitespace of any kind, ports 1-65535.
URL_PATTERN = rf"^https?://{_HOST}(:{_PORT})?{_PATH}$"
_URL = re.compile(URL_PATTERN)
_ENTRY = re.compile(rf"^(https?)://(\*\.)?{_HOST}(:({_PORT}|\*))?/?$")

# GREEN-API's own hosts (the console's apiUrl/mediaUrl, the universal hosts of both
# domains, and the partner API), https only.
DEFAULT_ALLOWED = (
    "https://api.green-api.com",
    "https://media.green-api.com",
    "https://api.greenapi.com",
    "https://media.greenapi.com",
    "https://*.api.greenapi.com",
    "https://*.media.greenapi.com",
    "https://*.api.green-api.com",
    "https://*.media.green-api.com",
)

_DEFAULT_PORTS = {"http": 80, "https": 443}


class UrlRejected(ValueError):
    """A URL outside the grammar or the allow-list; the message names the rule, never a secret."""


@dataclass(frozen=True)
class Endpoint:
    """The parts of an http(s) URL that decide where a request goes."""

    scheme: str
    host: str  # lower case; an IPv6 literal without its brackets
    port: int
    path: str
    ip_literal: bool

    @property
    def origin(self) -> str:
        """scheme://host:port, as a person reads it in a message (no path)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_url(url: str) -> Endpoint:
    """The endpoint of `url`, or UrlRejected saying which rule it breaks."""
    match = _URL.fullmatch(url)
    if match is None:
        raise UrlRejected(_why_not(url))
    scheme, rest = url.split("://", 1)
    authority, slash, path = rest.partition("/")
    host, port = _split_authority(authority)
    ip_literal = _is_ip(host)
    if host.startswith("["):
        host = host[1:-1]
        if not ip_literal:
            raise UrlRejected("the host in brackets is not an IPv6 address")
    return Endpoint(
        scheme=scheme,
        host=host.lower(),
        port=port if port is not None else _DEFAULT_PORTS[scheme],
        path=(slash + path).rstrip("/"),
        ip_literal=ip_literal,
    )


def _why_not(url: str) -> str:
    """The most specific rule `url` breaks, for the condition a person reads."""
    if not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    rest = url.split("://", 1)[1]
    if "@" in rest:
        return "must not carry user info (user:password@)"
    if "?" in rest or "#" in rest:
        return "must not have a query string or a fragment"
    if any(not (33 <= ord(char) < 127) for char in url):
        return "must not contain whitespace, control or non-ASCII characters"
    authority = rest.partition("/")[0]
    if not authority or authority.startswith(":"):
        return "must name a host"
    if re.search(r":[^:\]]*$", authority) and not re.search(rf":{_PORT}$", authority):
        return "port must be a number from 1 to 65535"
    return "must be scheme://host[:port][/path] with a DNS name or IP address as the host"


def _split_authority(authority: str) -> tuple[str, int | None]:
    if authority.startswith("["):
        end = authority.index("]") + 1
        host, port = authority[:end], authority[end + 1 :]
    else:
        host, _colon, port = authority.partition(":")
    return host, int(port) if port else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class _Entry:
    scheme: str
    host: str
    wildcard: bool  # `*.` stands for exactly one DNS label
    port: int | None  # None: any port

    def covers(self, endpoint: Endpoint) -> bool:
        if endpoint.scheme != self.scheme:
            return False
        if self.port is not None and endpoint.port != self.port:
            return False
        if not self.wildcard:
            return endpoint.host == self.host
        label, dot, rest = endpoint.host.partition(".")
        return bool(label and dot) and rest == self.host and not endpoint.ip_literal


class AllowList:
    """The endpoints the operator may send a request to; everything else is refused."""

    def __init__(self, entries: Iterable[str] = DEFAULT_ALLOWED) -> None:
        self.entries = tuple(entries)
        self._parsed = tuple(_parse_entry(entry) for entry in self.entries)

    def __repr__(self) -> str:
        return f"AllowList({', '.join(self.entries)})"

    def check(self, url: str, field: str) -> Endpoint:
        """The endpoint of `url` if the grammar and the list admit it, else UrlRejected."""
        try:
            endpoint = parse_url(url)
        except UrlRejected as exc:
            raise UrlRejected(f"{field} {exc}") from None
        if not any(entry.covers(endpoint) for entry in self._parsed):
            raise UrlRejected(
                f"{field} {endpoint.origin} is not in the operator's allow-list of GREEN-API "
                "endpoints; ask the operator's administrators to add it (--allowed-api-url)"
            )
        return endpoint


def _parse_entry(entry: str) -> _Entry:
    match = _ENTRY.fullmatch(entry)
    if match is None:
        raise UrlRejected(
            f"allow-list entry {entry!r} is not scheme://host[:port] (host may start with '*.', "
            "port may be '*')"
        )
    scheme, rest = entry.rstrip("/").split("://", 1)
    wildcard = rest.startswith("*.")
    host, port_text = (rest[2:] if wildcard else rest), ""
    if host.startswith("["):
        end = host.index("]") + 1
        host, port_text = host[1 : end - 1], host[end + 1 :]
    elif ":" in host:
        host, port_text = host.split(":", 1)
    port = None if port_text == "*" else int(port_text or _DEFAULT_PORTS[scheme])
    if wildcard and _is_ip(host):
        raise UrlRejected(f"allow-list entry {entry!r}: '*.' cannot precede an IP address")
    return _Entry(scheme, host.lower(), wildcard, port)
