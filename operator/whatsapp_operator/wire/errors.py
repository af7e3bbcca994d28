"""What went wrong talking to GREEN-API, and whether trying again can help.

Every error carries its retry decision, so callers never re-derive it from
status codes::

    GreenApiError                      retryable: can waiting help? retry_after: a floor
    ├── TokenRejected                  401: wrong apiTokenInstance            permanent
    ├── InstanceRejected               403: wrong idInstance or host          permanent
    ├── MethodRejected                 404: wrong verb or unknown method      permanent
    ├── RateLimited                    429: Retry-After or the method's rate  retryable
    ├── QuotaExceeded                  466: Developer-plan quota              retryable, hours
    ├── ServiceUnavailable             5xx, 502, 499                          retryable, backoff
    ├── TransportFailure               timeout, refused, reset, deadline      retryable, backoff
    ├── ResponseTooLarge               an answer over the size limit          retryable, backoff
    ├── EndpointNotAllowed             apiUrl outside the allow-list          permanent, unsent
    ├── UnexpectedResponse             a body that is not the documented one  retryable, backoff
    ├── InstanceStarting               400 "starting"                         retryable, seconds
    ├── InstanceNotAuthorized          400 "not authorized"                   retryable, a minute
    ├── InstanceExpired                400 "expired"                          retryable, minutes
    ├── InstanceDeleted                400 "deleted"                          permanent
    ├── RequestRejected                400 anything else (validation)         permanent
    └── PartnerError                   partner API {code, description}
        ├── PartnerTokenRejected       code 401                               permanent
        └── PartnerInstanceNotFound    code 404                               permanent

Messages name the method, the instance id and the status; never a URL, a token,
a QR code or a pairing code.
"""

from __future__ import annotations

import random
from typing import ClassVar

# Backoff for errors whose cause is on the other side: base * 2**attempt, capped,
# with full jitter so many instances failing together do not retry together.
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0


def backoff_delay(
    attempt: int,
    *,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
    rng: random.Random | None = None,
) -> float:
    """Full-jitter exponential backoff: uniform in [base/2, min(cap, base * 2**attempt)]."""
    ceiling = min(cap, base * (2 ** max(0, attempt)))
    floor = min(base / 2, ceiling)
    return (rng or random).uniform(floor, ceiling)


class GreenApiError(Exception):
    """Base class.

    `retryable` says whether waiting can help; `retry_after` is the least wait
    the service asked for (Retry-After, a documented rate or window), or None
    when the caller's own backoff decides alone.
    """

    reason: ClassVar[str] = "GreenApiError"
    transient: ClassVar[bool] = False
    default_retry_after: ClassVar[float | None] = None

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        instance_id: int | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.instance_id = instance_id
        self.status = status
        self.retry_after = retry_after if retry_after is not None else self.default_retry_after
        self.retryable = self.transient if retryable is None else retryable

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(method={self.method!r}, instance_id={self.instance_id!r}, "
            f"status={self.status!r}, retry_after={self.retry_after!r}, message={self.message!r})"
        )


class TokenRejected(GreenApiError):
    """401: GREEN-API rejected the apiTokenInstance."""

    reason = "TokenRejected"


class InstanceRejected(GreenApiError):
    """403: GREEN-API rejected the instance id or the host."""

    reason = "InstanceRejected"


class MethodRejected(GreenApiError):
    """404 or 405: GREEN-API does not know the method or the verb."""

    reason = "MethodRejected"


class RateLimited(GreenApiError):
    """429: too many calls; wait for Retry-After or the method's documented rate."""

    reason = "RateLimited"
    transient = True
    default_retry_after = 1.0


class QuotaExceeded(GreenApiError):
    """466: the monthly Developer-plan quota is used up; nothing helps for hours."""

    reason = "QuotaExceeded"
    transient = True
    default_retry_after = 3600.0


class ServiceUnavailable(GreenApiError):
    """5xx or 499: GREEN-API is failing for now; back off and try again."""

    reason = "ServiceUnavailable"
    transient = True


class TransportFailure(GreenApiError):
    """No usable answer. `request_not_sent` is True when the service cannot have acted."""

    reason = "TransportFailure"
    transient = True

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        instance_id: int | None = None,
        request_not_sent: bool = False,
    ) -> None:
        super().__init__(message, method=method, instance_id=instance_id)
        self.request_not_sent = request_not_sent


class ResponseTooLarge(GreenApiError):
    """The answer grew past the operator's size limit; the rest was not read."""

    reason = "ResponseTooLarge"
    transient = True


class EndpointNotAllowed(GreenApiError):
    """The URL is outside the operator's allow-list or grammar; nothing was sent."""

    reason = "ApiUrlNotAllowed"


class UnexpectedResponse(GreenApiError):
    """An answer that is not the documented one (status or body); back off and try again."""

    reason = "UnexpectedResponse"
    transient = True


class InstanceStarting(GreenApiError):
    """The instance is rebooting; GREEN-API says it takes up to 5 minutes."""

    reason = "InstanceStarting"
    transient = True
    default_retry_after = 15.0


class InstanceNotAuthorized(GreenApiError):
    """No phone is linked; only a person can change that, so check back slowly."""

    reason = "InstanceNotAuthorized"
    transient = True
    default_retry_after = 60.0


class InstanceExpired(GreenApiError):
    """The plan has expired (also seen briefly right after creation, ISS#197)."""

    reason = "InstanceExpired"
    transient = True
    default_retry_after = 300.0


class InstanceDeleted(GreenApiError):
    """400 "deleted": the instance no longer exists."""

    reason = "InstanceDeleted"


class RequestRejected(GreenApiError):
    """A 400 that names no state: our request was invalid, resending it cannot help."""

    reason = "RequestRejected"


class PartnerError(GreenApiError):
    """The partner API reports errors as HTTP 200 with `{code, description}`."""

    reason = "PartnerError"

    def __init__(
        self,
        message: str,
        *,
        code: int,
        method: str = "",
        retry_after: float | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(
            message, method=method, status=code, retry_after=retry_after, retryable=retryable
        )
        self.code = code


class PartnerTokenRejected(PartnerError):
    """Partner API code 401: the partner token was rejected."""

    reason = "PartnerTokenRejected"


class PartnerInstanceNotFound(PartnerError):
    """Partner API code 404: no such instance under this partner."""

    reason = "PartnerInstanceNotFound"
