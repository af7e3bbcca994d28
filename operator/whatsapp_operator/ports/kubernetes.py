"""What the core needs from the Kubernetes API besides Secrets: the objects it reads
(partners, profiles, instances, namespace labels), the annotations it writes, the Lease.

`adapters.kube.Kube` and `adapters.lease.LeaseStore` implement these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from whatsapp_operator.ports.secrets import SecretReader, SecretStore, SecretWriter


class ObjectStore(SecretReader, SecretWriter, Protocol):
    """The Kubernetes calls provisioning makes."""

    async def read_partner(self, namespace: str, name: str) -> dict[str, Any]: ...

    async def read_cluster_partner(self, name: str) -> dict[str, Any]: ...

    async def namespace_labels(self, namespace: str) -> dict[str, str]: ...

    async def patch_annotations(
        self,
        namespace: str,
        name: str,
        annotations: dict[str, str | None],
        resource_version: str | None = None,
    ) -> None: ...


class SecretsApi(ObjectStore, SecretStore, Protocol):
    """The Kubernetes calls a reconcile makes: Secrets, the partner, annotations."""


class ProfileReader(Protocol):
    """Reads the WhatsAppSettingsProfile an instance refers to."""

    async def read_profile(self, namespace: str, name: str) -> dict[str, Any]: ...


class InstanceLister(Protocol):
    """Lists the WhatsAppInstances of a namespace."""

    async def list_instances(self, namespace: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says, as read from the API server."""

    holder: str | None
    lease_seconds: int
    renew_time: datetime | None
    transitions: int
    version: str

    @property
    def free(self) -> bool:
        """Nobody holds it (never taken, or released on a clean shutdown)."""
        return not self.holder


class Lease(Protocol):
    """The Lease's storage (adapters.lease.LeaseStore), called from the election's thread."""

    namespace: str
    name: str

    def read(self) -> LeaseRecord | None: ...

    def create(self, identity: str, lease_seconds: int, now: datetime) -> LeaseRecord: ...

    def write(
        self,
        read: LeaseRecord,
        holder: str | None,
        lease_seconds: int,
        now: datetime,
        *,
        acquired: bool,
    ) -> LeaseRecord: ...
