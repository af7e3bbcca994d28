"""Redaction of URL-borne credentials and the client-side pacing arithmetic."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_operator.adapters.greenapi.ratelimit import RateLimiter
from whatsapp_operator.redaction import MASK, RedactingFilter, redact, register_secret

TOKEN_CHARS = st.text(alphabet="0123456789abcdef", min_size=10, max_size=60)


@given(
    st.integers(min_value=1, max_value=9_999_999_999),
    TOKEN_CHARS,
    st.sampled_from(["getSettings", "qr", "scanqrcode", "setSettings"]),
)
def test_instance_urls_are_masked(instance_id: int, token: str, method: str) -> None:
    url = f"https://7103.api.greenapi.com/waInstance{instance_id}/{method}/{token}"
    line = f'HTTP Request: GET {url} "HTTP/1.1 200 OK"'
    cleaned = redact(line)
    assert token not in cleaned
    assert f"/waInstance{instance_id}/{method}/{MASK}" in cleaned


@given(TOKEN_CHARS)
def test_partner_urls_are_masked(token: str) -> None:
    cleaned = redact(f"POST http://127.0.0.1:7010/partner/createInstance/gac.{token}")
    assert token not in cleaned


def test_registered_secrets_are_masked_anywhere() -> None:
    register_secret("pairing-CODE-1234")
    assert redact("code is pairing-CODE-1234 now") == f"code is {MASK} now"


def test_short_values_are_not_registered() -> None:
    register_secret("no")
    assert redact("no way") == "no way"


def test_filter_rewrites_args_and_tracebacks() -> None:
    token = "f" * 50
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        "HTTP Request: %s %s",
        ("GET", f"http://h/waInstance1/qr/{token}"),
        None,
    )
    try:
        raise RuntimeError(f"/waInstance1/qr/{token}")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    assert token not in record.getMessage()
    assert record.exc_text is not None
    assert token not in record.exc_text


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reservations_are_spaced_by_rate_with_margin() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, margin=1.1)
    key = ("h", "1", "getsettings")
    assert limiter.reserve(key, 1.0) == 0.0
    assert limiter.reserve(key, 1.0) == pytest.approx(1.1)
    assert limiter.reserve(key, 1.0) == pytest.approx(2.2)
    # Another method or another instance is independent.
    assert limiter.reserve(("h", "1", "qr"), 3.0) == 0.0
    assert limiter.reserve(("h", "2", "getsettings"), 1.0) == 0.0
    clock.now += 10
    assert limiter.reserve(key, 1.0) == 0.0


def test_next_call_waits_a_full_interval_after_a_late_one_ends() -> None:
    # The 429 seen after an API-server outage: a request that waited 0.8 s for a pooled
    # connection reached GREEN-API late, and the next, on its own slot, 0.3 s after it.
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, margin=1.1)
    key = ("h", "1", "getstateinstance")
    assert limiter.reserve(key, 1.0) == 0.0
    clock.now += 0.8  # queued for a connection, then sent and answered
    limiter.completed(key, 1.0)
    assert limiter.reserve(key, 1.0) == pytest.approx(1.1)


def test_documented_rates() -> None:
    assert RateLimiter.rate_for("qr") == 3.0
    assert RateLimiter.rate_for("GetSettings") == 1.0
    assert RateLimiter.rate_for("getAuthorizationCode") == 1.0
