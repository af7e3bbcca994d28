"""Error mapping: every documented answer gets the right class and retry decision."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_operator.adapters.greenapi.responses import (
    error_for_status,
    parse_retry_after,
    partner_error,
)
from whatsapp_operator.wire import errors

TOKEN = "c1b0474542144e0ead529eb4861ca5f583c346eb00564f64a7"


def classify(
    status: int, body: str = "", headers: dict[str, str] | None = None, rate: float = 1.0
) -> errors.GreenApiError | None:
    return error_for_status(
        method="getSettings",
        instance_id=1101000001,
        status=status,
        body=body,
        headers=headers or {},
        rate=rate,
    )


@pytest.mark.parametrize(
    ("status", "body", "error_type", "retryable"),
    [
        (401, "Unauthorized", errors.TokenRejected, False),
        (403, "Forbidden", errors.InstanceRejected, False),
        (404, "Not Found", errors.MethodRejected, False),
        (429, "Too Many Requests", errors.RateLimited, True),
        (466, '{"invokeStatus": {"status": "QUOTE_EXCEEDED"}}', errors.QuotaExceeded, True),
        (500, "Internal Server Error", errors.ServiceUnavailable, True),
        (502, "Bad Gateway", errors.ServiceUnavailable, True),
        (499, "Client Closed Request", errors.ServiceUnavailable, True),
        (400, "instance in starting process try later", errors.InstanceStarting, True),
        (400, "Instance is starting or not authorized", errors.InstanceNotAuthorized, True),
        (400, "instance account not authorized", errors.InstanceNotAuthorized, True),
        (
            400,
            "Instance account is expired. Renew your instance from personal area",
            errors.InstanceExpired,
            True,
        ),
        (400, "Instance is deleted", errors.InstanceDeleted, False),
        (400, "Bad Request Validation failed", errors.RequestRejected, False),
        (400, "Unexpected token _ in JSON at position 12", errors.RequestRejected, False),
        (418, "teapot", errors.UnexpectedResponse, True),
    ],
)
def test_documented_statuses(status: int, body: str, error_type: type, retryable: bool) -> None:
    error = classify(status, body)
    assert type(error) is error_type
    assert error is not None
    assert error.retryable is retryable
    assert error.status == status
    assert "getSettings on instance 1101000001" in str(error)


def test_success_is_not_an_error() -> None:
    assert classify(200, "{}") is None
    assert classify(204) is None


def test_429_uses_retry_after_header_then_method_rate() -> None:
    with_header = classify(429, headers={"retry-after": "7"})
    assert with_header is not None
    assert with_header.retry_after == 7.0
    qr_rate = classify(429, rate=3.0)
    assert qr_rate is not None
    assert qr_rate.retry_after == pytest.approx(1 / 3)


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("99999") == 3600.0


@given(st.text(max_size=300))
def test_any_400_body_maps_to_some_400_error(body: str) -> None:
    error = classify(400, body)
    assert error is not None
    assert error.status == 400
    assert "\n" not in str(error)


@given(st.integers(min_value=100, max_value=599), st.text(max_size=200))
def test_token_in_a_body_never_reaches_the_message(status: int, prefix: str) -> None:
    # A misbehaving proxy may echo the request line; the registered token is scrubbed.
    from whatsapp_operator.redaction import register_secret

    register_secret(TOKEN)
    error = classify(status, f"{prefix} GET /waInstance1101000001/getSettings/{TOKEN} {TOKEN}")
    if error is not None:
        assert TOKEN not in str(error)
        assert TOKEN not in repr(error)


@pytest.mark.parametrize(
    ("payload", "error_type"),
    [
        ({"code": 401, "description": "Unauthorized"}, errors.PartnerTokenRejected),
        ({"code": 404, "description": "Not found"}, errors.PartnerInstanceNotFound),
        ({"code": 500, "description": "Internal"}, errors.PartnerError),
    ],
)
def test_partner_errors_in_http_200(payload: dict[str, object], error_type: type) -> None:
    error = partner_error("deleteInstanceAccount", payload)
    assert type(error) is error_type


@pytest.mark.parametrize(
    "payload",
    [{"deleteInstanceAccount": True}, [], {"code": "x"}, {"code": True}, None],
)
def test_partner_success_bodies_are_not_errors(payload: object) -> None:
    assert partner_error("deleteInstanceAccount", payload) is None


def test_partner_500_is_retryable_401_is_not() -> None:
    assert partner_error("getInstances", {"code": 500})
    retryable = partner_error("getInstances", {"code": 500})
    permanent = partner_error("getInstances", {"code": 401})
    assert retryable is not None
    assert retryable.retryable
    assert permanent is not None
    assert not permanent.retryable


@given(st.integers(min_value=0, max_value=50), st.integers(min_value=0, max_value=2**32))
def test_backoff_stays_within_bounds(attempt: int, seed: int) -> None:
    delay = errors.backoff_delay(attempt, base=2.0, cap=300.0, rng=random.Random(seed))
    assert 1.0 <= delay <= 300.0
    assert delay <= 2.0 * 2**attempt
