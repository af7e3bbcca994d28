"""Secrets as the core uses them: the values read, the owner written, the store's calls.

`adapters.kube.Kube` implements every protocol here; each step asks for the narrowest
one it needs, so a test's fake implements only that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from whatsapp_operator import constants

if TYPE_CHECKING:
    from pydantic import SecretStr

# A Secret by (namespace, name).
SecretKey = tuple[str, str]


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


@dataclass(frozen=True)
class SecretApply:
    """An owned Secret as it is to be written (created or updated)."""

    namespace: str
    name: str
    # Never in a repr: a token or a code.
    data: Mapping[str, bytes] = field(repr=False)
    owner: Owner
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SecretRemoval:
    """An owned Secret to delete (only if the object owns it in `role`)."""

    namespace: str
    name: str
    owner_uid: str
    role: str


class SecretReader(Protocol):
    """Reads one key of a Secret (an instance's token, a partner's token)."""

    async def read_secret_key(self, namespace: str, name: str, key: str) -> SecretValue: ...


class SecretWriter(Protocol):
    """Creates or updates a Secret the operator owns (a token, the linking codes)."""

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


class SecretStore(SecretReader, SecretWriter, Protocol):
    """Secrets as the operator uses them: read referenced ones, write and delete owned ones."""

    async def delete_secret(
        self, namespace: str, name: str, *, owner_uid: str, role: str
    ) -> bool: ...


class SecretRechecker(Protocol):
    """Re-reads Secrets by name and reports the ones that moved (run/secret_recheck.py)."""

    async def recheck_secrets(
        self, wanted: set[SecretKey], keep: set[SecretKey] | None = None
    ) -> list[SecretKey]: ...
