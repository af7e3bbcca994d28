"""One URL grammar for admission and code, and the allow-list on top of it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from whatsapp_operator.api.resource import InstanceRef
from whatsapp_operator.endpoints import (
    DEFAULT_ALLOWED,
    URL_PATTERN,
    AllowList,
    UrlRejected,
    parse_url,
)

REJECTED = {
    "http://127.0.0.1:99999": "port must be a number from 1 to 65535",
    "http://127.0.0.1:0": "port must be a number from 1 to 65535",
    "http://:8080": "must name a host",
    "http://[::1": "must be scheme://host",
    "http://a\x0bb.example": "whitespace, control or non-ASCII",
    "http://a\u00a0b.example": "whitespace, control or non-ASCII",
    "https://api.green-api.com\u2028": "whitespace, control or non-ASCII",
    "http://user:pass@api.green-api.com": "user info",
    "https://api.green-api.com/?x=1": "query string",
    "https://api.green-api.com/#top": "query string or a fragment",
    "ftp://api.green-api.com": "must start with http:// or https://",
    "file:///etc/passwd": "must start with http:// or https://",
    "https://-bad-.example": "must be scheme://host",
    "https://bad..example": "must be scheme://host",
    "https://[fe80::zz]": "must be scheme://host",
}


@pytest.mark.parametrize(("url", "why"), REJECTED.items())
def test_the_grammar_rejects_with_the_rule_broken(url: str, why: str) -> None:
    with pytest.raises(UrlRejected, match=re.escape(why)):
        parse_url(url)
    # pydantic (Rust regex, as the API server's RE2) refuses the same strings.
    with pytest.raises(ValidationError):
        InstanceRef(api_url=url)


def test_a_bracket_that_is_not_an_ipv6_address_is_refused_by_the_code() -> None:
    # The schema admits hex digits and colons in brackets; only the code knows IPv6.
    InstanceRef(api_url="http://[1:2:3:4:5:6:7:8:9]")
    with pytest.raises(UrlRejected, match="not an IPv6 address"):
        parse_url("http://[1:2:3:4:5:6:7:8:9]")


@pytest.mark.parametrize(
    ("url", "origin", "ip"),
    [
        ("https://7105.api.greenapi.com", "https://7105.api.greenapi.com:443", False),
        ("https://API.Green-API.com/", "https://api.green-api.com:443", False),
        ("http://127.0.0.1:8080/base/", "http://127.0.0.1:8080", True),
        ("http://[::1]:80", "http://[::1]:80", True),
    ],
)
def test_an_admitted_url_is_parsed(url: str, origin: str, ip: bool) -> None:
    endpoint = parse_url(url)
    assert (endpoint.origin, endpoint.ip_literal) == (origin, ip)
    InstanceRef(api_url=url)


URL_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))


@given(st.text(URL_CHARS, max_size=40).map(lambda tail: "http://" + tail))
def test_python_and_the_schema_regex_agree_on_any_string(url: str) -> None:
    schema_ok = True
    try:
        InstanceRef(api_url=url)
    except ValidationError:
        schema_ok = False
    assert schema_ok == (re.fullmatch(URL_PATTERN, url) is not None)
    if not schema_ok:
        with pytest.raises(UrlRejected):
            parse_url(url)


ALLOWED = AllowList(["http://127.0.0.1:8080", "https://*.api.greenapi.com", "http://[::1]:*"])


@pytest.mark.parametrize(
    ("url", "admitted"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.0.0.1:8081", False),
        ("https://127.0.0.1:8080", False),
        ("http://localhost:8080", False),
        ("https://7105.api.greenapi.com", True),
        ("https://7105.api.greenapi.com:8443", False),
        ("http://7105.api.greenapi.com", False),
        ("https://a.b.api.greenapi.com", False),
        ("https://api.greenapi.com", False),
        ("https://evil-api.greenapi.com", False),
        ("https://api.greenapi.com.evil.example", False),
        ("http://[::1]:9", True),
        ("http://169.254.169.254", False),
        ("http://kubernetes.default.svc", False),
    ],
)
def test_the_allow_list_admits_exactly_its_entries(url: str, admitted: bool) -> None:
    if admitted:
        ALLOWED.check(url, "spec.instance.apiUrl")
    else:
        with pytest.raises(UrlRejected, match=r"^spec\.instance\.apiUrl "):
            ALLOWED.check(url, "spec.instance.apiUrl")


def test_the_default_list_is_green_apis_own_https_hosts() -> None:
    default = AllowList()
    assert default.entries == DEFAULT_ALLOWED
    for url in (
        "https://api.green-api.com",
        "https://7103.api.greenapi.com",
        "https://7103.media.greenapi.com",
    ):
        default.check(url, "apiUrl")
    for url in ("http://api.green-api.com", "http://127.0.0.1:8080", "https://10.0.0.1"):
        with pytest.raises(UrlRejected):
            default.check(url, "apiUrl")


@pytest.mark.parametrize(
    "entry", ["127.0.0.1:8080", "http://*.10.0.0.1", "http://u@h", "https://h/x?y", "https://*"]
)
def test_a_malformed_allow_list_entry_is_refused(entry: str) -> None:
    with pytest.raises(UrlRejected, match="allow-list entry"):
        AllowList([entry])
