"""Why a reconcile could not finish, in words a person can act on.

Maps the errors of GREEN-API, Kubernetes and provisioning to one `Failure`
(reason, message, whether a person must act) and the least wait the other side
asked for. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from whatsapp_operator.decide.conditions import Failure
from whatsapp_operator.ports import IntentNotRecorded, KubeError, ProvisioningFailure
from whatsapp_operator.reasons import Reason
from whatsapp_operator.wire import errors as gerr


@dataclass(frozen=True)
class Setback:
    """A failure and the least wait before the next attempt (None: backoff alone decides)."""

    failure: Failure
    retry_after: float | None = None


def from_greenapi(
    error: gerr.GreenApiError, token_hint: str, api_url: str, instance_id: int
) -> Setback:
    """An instance API error, worded for the resource it happened to."""
    if isinstance(error, gerr.EndpointNotAllowed):
        failure = Failure(Reason.API_URL_NOT_ALLOWED, error.message, permanent=True)
    elif isinstance(error, gerr.TokenRejected):
        failure = Failure(
            Reason.TOKEN_REJECTED,
            f"GREEN-API rejected the token from {token_hint} (401); put the "
            f"instance's apiTokenInstance there",
            permanent=True,
        )
    elif isinstance(error, gerr.InstanceRejected):
        failure = Failure(
            Reason.INSTANCE_REJECTED,
            f"GREEN-API rejected instance {instance_id} at {api_url} (403); check "
            f"spec.instance.id and spec.instance.apiUrl",
            permanent=True,
        )
    elif isinstance(error, gerr.InstanceDeleted):
        failure = Failure(
            Reason.INSTANCE_DELETED,
            f"GREEN-API says instance {instance_id} is deleted",
            permanent=True,
        )
    elif isinstance(error, gerr.InstanceExpired):
        failure = Failure(
            Reason.INSTANCE_EXPIRED,
            f"GREEN-API says the plan of instance {instance_id} has expired; renew "
            "it in the GREEN-API console",
            permanent=True,
        )
    elif isinstance(error, gerr.QuotaExceeded):
        # The quota renews: wait its window out rather than stop for good.
        failure = Failure(Reason.QUOTA_EXCEEDED, error.message, permanent=False)
    elif isinstance(error, gerr.RequestRejected):
        failure = Failure(
            Reason.SETTINGS_REJECTED,
            f"GREEN-API rejected the settings: {error.message}",
            permanent=True,
        )
    elif isinstance(error, gerr.MethodRejected):
        failure = Failure(Reason.API_MISMATCH, f"{error.message}; check spec.instance.apiUrl", True)
    elif isinstance(error, gerr.RateLimited):
        failure = Failure(Reason.RATE_LIMITED, error.message, permanent=False)
    else:
        failure = Failure(
            Reason.GREEN_API_UNAVAILABLE, error.message, permanent=not error.retryable
        )
    return Setback(failure, error.retry_after if error.retryable else None)


def from_partner(error: gerr.GreenApiError) -> Setback:
    """A partner API error (createInstance, getInstances, deleteInstanceAccount)."""
    if isinstance(error, gerr.EndpointNotAllowed):
        failure = Failure(Reason.API_URL_NOT_ALLOWED, error.message, permanent=True)
    elif isinstance(error, gerr.PartnerTokenRejected):
        failure = Failure(
            Reason.PARTNER_TOKEN_REJECTED,
            "GREEN-API rejected the partner token of the referenced WhatsAppPartner",
            permanent=True,
        )
    elif isinstance(error, gerr.PartnerError) and not error.retryable:
        failure = Failure(Reason.PARTNER_ERROR, error.message, permanent=True)
    else:
        failure = Failure(
            Reason.GREEN_API_UNAVAILABLE, error.message, permanent=not error.retryable
        )
    return Setback(failure, error.retry_after if error.retryable else None)


def partner_check_reason(error: gerr.GreenApiError) -> Reason:
    """Why a partner's credentials check failed for good: the error's own reason when the
    catalog has it (TokenRejected, PartnerTokenRejected, ...), else as `from_partner` says."""
    try:
        return Reason(error.reason)
    except ValueError:
        return from_partner(error).failure.reason


def from_kube(error: KubeError) -> Setback:
    """A Kubernetes API error; after a conflict (409), look again in two seconds."""
    # A conflict means someone else wrote the object just now: look again soon.
    return Setback(
        Failure(error.reason, error.message, permanent=not error.retryable),
        2.0 if error.status == 409 else None,
    )


def from_provisioning(error: ProvisioningFailure) -> Setback:
    """A failure to settle the instance's identity, with the wait it asked for."""
    return Setback(Failure(error.reason, error.message, error.permanent), error.retry_after)


def from_intent(error: IntentNotRecorded) -> Setback:
    """A write not attempted because its intent could not be recorded: worth retrying."""
    return Setback(Failure(Reason.INTENT_NOT_RECORDED, error.message, permanent=False))


def describe_invalid(error: ValidationError, limit: int = 3) -> str:
    """Which fields a resource breaks and how, without their values (they may be anything)."""
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:limit]:
        where = ".".join(str(part) for part in item["loc"]) or "the resource"
        parts.append(f"{where}: {item['msg'][:200]}")
    more = len(error.errors()) - limit
    suffix = f" (and {more} more)" if more > 0 else ""
    return "The resource does not match the API: " + "; ".join(parts) + suffix
