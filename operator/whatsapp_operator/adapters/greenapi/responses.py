"""Pure mapping of raw HTTP answers to results or to the error taxonomy.

Kept free of I/O so that every documented answer (and every odd one) can be
tested as data, including with generated inputs.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from whatsapp_operator.redaction import redact
from whatsapp_operator.wire import errors

# Plain-text 400 bodies, matched by substring as the service's wording drifts
# (D:api/common-errors; FORK). Order matters: "starting or not authorized" is
# about authorization, "starting process" about a reboot.
_STATE_400: tuple[tuple[str, type[errors.GreenApiError]], ...] = (
    ("not authorized", errors.InstanceNotAuthorized),
    ("starting process", errors.InstanceStarting),
    ("expired", errors.InstanceExpired),
    ("deleted", errors.InstanceDeleted),
    ("starting", errors.InstanceStarting),
)
_MAX_BODY_IN_MESSAGE = 120
_BACKOFF_STATUSES = frozenset({499, 500, 502, 503, 504})


def body_excerpt(text: str) -> str:
    """A short, single-line, scrubbed piece of a body, safe for messages."""
    flat = " ".join(text.split())
    if len(flat) > _MAX_BODY_IN_MESSAGE:
        flat = flat[:_MAX_BODY_IN_MESSAGE] + "…"
    return redact(flat)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), if usable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or seconds < 0:  # unusable, or already past
        return 0.0
    return min(seconds, 3600.0)


def error_for_status(
    *,
    method: str,
    instance_id: int | None,
    status: int,
    body: str,
    headers: Mapping[str, str],
    rate: float,
) -> errors.GreenApiError | None:
    """The error an HTTP status means, or None for 2xx."""
    if 200 <= status < 300:
        return None
    where = f"{method} on instance {instance_id}" if instance_id is not None else method
    excerpt = body_excerpt(body)

    def make(
        error_type: type[errors.GreenApiError], message: str, retry_after: float | None = None
    ) -> errors.GreenApiError:
        return error_type(
            message, method=method, instance_id=instance_id, status=status, retry_after=retry_after
        )

    if status == 401:
        return make(errors.TokenRejected, f"{where}: GREEN-API rejected the token (401)")
    if status == 403:
        return make(
            errors.InstanceRejected, f"{where}: GREEN-API rejected the instance id or host (403)"
        )
    if status in (404, 405):
        return make(
            errors.MethodRejected,
            f"{where}: GREEN-API does not know this method or verb ({status})",
        )
    if status == 429:
        delay = parse_retry_after(headers.get("retry-after"))
        return make(
            errors.RateLimited,
            f"{where}: rate limited by GREEN-API (429)",
            delay if delay is not None else 1.0 / rate,
        )
    if status == 466:
        return make(errors.QuotaExceeded, f"{where}: plan quota exceeded (466): {excerpt}")
    if status == 400:
        lowered = body.lower()
        for needle, error_type in _STATE_400:
            if needle in lowered:
                return make(error_type, f"{where}: {excerpt} (400)")
        return make(errors.RequestRejected, f"{where}: request rejected (400): {excerpt}")
    if status in _BACKOFF_STATUSES or status >= 500:
        return make(errors.ServiceUnavailable, f"{where}: GREEN-API answered {status}")
    return make(errors.UnexpectedResponse, f"{where}: unexpected status {status}: {excerpt}")


def decode_json(method: str, instance_id: int | None, status: int, body: str) -> object:
    """The JSON in `body`; `UnexpectedResponse` when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        # No excerpt: an answer that is not JSON came from something other than GREEN-API's
        # JSON API, and reading it back into the status would make the operator a reader
        # of whatever that endpoint returns.
        raise errors.UnexpectedResponse(
            f"{method}: answer is not JSON ({len(body)} characters, status {status})",
            method=method,
            instance_id=instance_id,
            status=status,
        ) from None


def partner_error(method: str, payload: object) -> errors.PartnerError | None:
    """The partner API's HTTP-200 error body `{code, description}`, if that is what this is."""
    if not isinstance(payload, dict) or "code" not in payload:
        return None
    code = payload.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    description = payload.get("description")
    text = body_excerpt(description) if isinstance(description, str) else ""
    message = f"{method}: partner API error {code}: {text}".rstrip(": ")
    if code == 401:
        return errors.PartnerTokenRejected(message, code=code, method=method)
    if code == 404:
        return errors.PartnerInstanceNotFound(message, code=code, method=method)
    if code == 429 or code >= 500:
        # Waiting can help; how long is the caller's backoff, the service named no time.
        return errors.PartnerError(message, code=code, method=method, retryable=True)
    return errors.PartnerError(message, code=code, method=method)


def parse_model(
    model_name: str, method: str, instance_id: int | None, build: Any, payload: object, status: int
) -> Any:
    """`build(payload)`, or UnexpectedResponse naming the fields that did not match."""
    try:
        return build(payload)
    except (ValidationError, ValueError, TypeError) as exc:
        fields = ""
        if isinstance(exc, ValidationError):
            fields = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors())
        raise errors.UnexpectedResponse(
            f"{method}: answer does not match {model_name}" + (f" ({fields})" if fields else ""),
            method=method,
            instance_id=instance_id,
            status=status,
        ) from None
