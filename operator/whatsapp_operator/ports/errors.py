"""The failures the core tells apart: Kubernetes, Secrets, provisioning, unrecorded intents.

Adapters raise them and `decide/` maps them to reasons, so neither side imports the
other's client library.
"""

from __future__ import annotations

from typing import ClassVar

from whatsapp_operator.ports.greenapi import Effect
from whatsapp_operator.reasons import Reason


class KubeError(Exception):
    """An API-server failure. `retryable` is False when only a person can fix it."""

    reason: ClassVar[Reason] = Reason.KUBERNETES_ERROR

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable


class SecretNotFound(KubeError):
    """A referenced Secret does not exist."""

    reason = Reason.SECRET_NOT_FOUND


class SecretKeyMissing(KubeError):
    """A referenced Secret lacks the key, or its value is empty or not UTF-8."""

    reason = Reason.SECRET_KEY_MISSING


class SecretNotOwned(KubeError):
    """A Secret the operator would write or delete belongs to someone else (or another role)."""

    reason = Reason.SECRET_NOT_OWNED


class ProvisioningFailure(Exception):
    """The instance's identity cannot be settled now. `permanent`: a person must act."""

    def __init__(
        self, reason: Reason, message: str, *, permanent: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


class IntentNotRecorded(Exception):
    """The intent could not be written to the object, so the call was not made."""

    def __init__(self, effect: Effect, cause: Exception) -> None:
        message = f"{effect.value} not attempted: its intent could not be recorded ({cause})"
        super().__init__(message)
        self.effect = effect
        self.cause = cause
        self.message = message
