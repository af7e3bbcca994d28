"""What the operator's core needs from the outside world, without importing it.

The error tree of Kubernetes and provisioning failures, the value types that
cross the boundary (`SecretValue`, `Owner`), the vocabulary of side effects and
the `SecretStore` protocol that `adapters.kube.Kube` implements. No third-party
import at run time: `decide/` and `run/` depend on this module, never on the
`kubernetes` client itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from whatsapp_operator import constants
from whatsapp_operator.reasons import Reason

if TYPE_CHECKING:
    from pydantic import SecretStr


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


class Effect(StrEnum):
    """The GREEN-API calls that change something outside the cluster."""

    CREATE_INSTANCE = "createInstance"
    SET_SETTINGS = "setSettings"
    REBOOT = "reboot"
    LOGOUT = "logout"
    DELETE_INSTANCE = "deleteInstanceAccount"
    UPDATE_API_TOKEN = "updateApiToken"  # noqa: S105 - a method name, not a credential
    CLEAR_WEBHOOKS_QUEUE = "clearWebhooksQueue"
    CLEAR_MESSAGES_QUEUE = "clearMessagesQueue"


class IntentNotRecorded(Exception):
    """The intent could not be written to the object, so the call was not made."""

    def __init__(self, effect: Effect, cause: Exception) -> None:
        message = f"{effect.value} not attempted: its intent could not be recorded ({cause})"
        super().__init__(message)
        self.effect = effect
        self.cause = cause
        self.message = message


@dataclass(frozen=True)
class SecretValue:
    """One value read from a Secret, and the Secret's version when it was read."""

    value: SecretStr
    # The Secret's resourceVersion: changes whenever its data may have changed.
    version: str


@dataclass(frozen=True)
class Owner:
    """The WhatsAppInstance that owns a Secret (garbage-collected with it)."""

    name: str
    uid: str

    def reference(self) -> dict[str, Any]:
        """The controller ownerReference that ties a Secret to this object."""
        return {
            "apiVersion": constants.API_VERSION,
            "kind": constants.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


class SecretReader(Protocol):
    """Reads one key of a Secret."""

    async def read_secret_key(self, namespace: str, name: str, key: str) -> SecretValue: ...


class SecretStore(SecretReader, Protocol):
    """Secrets as the operator uses them: read referenced ones, write and delete owned ones."""

    async def apply_secret(
        self,
        namespace: str,
        name: str,
        *,
        data: dict[str, bytes],
        owner: Owner,
        labels: dict[str, str],
        annotations: dict[str, str],
    ) -> None: ...

    async def delete_secret(
        self, namespace: str, name: str, *, owner_uid: str, role: str
    ) -> bool: ...
