"""Every write the operator's loops make to Kubernetes goes through here.

Who asks, and when:

- the runner (`instances`, and the partner and profile steps), after a step: status,
  finalizers, the Events it returned (posted through kopf by `handlers`);
- the reconcile, at the end of its cycle, before its report: the Secrets it hands out
  or takes back (`SecretApply`, `SecretRemoval`, returned by its steps as data);
- the gate, around a GREEN-API write: intents in status, the operator's own
  annotations, the create marker, the instance id and the token Secret (`journal`,
  `creation`);
- a linking session, between reconciles: the current QR or pairing code.

The Lease (`leadership`) and kopf's Event posting are the only other writers; a test
(`tests/unit/test_kubernetes_writes.py`) keeps it so. A write never carries a secret
into a log line: Secret data is only ever in the request's body.
"""

from __future__ import annotations

from typing import Any, Protocol

from whatsapp_operator import constants
from whatsapp_operator.ports.secrets import SecretApply, SecretRemoval, SecretStore, SecretWriter


class Annotating(Protocol):
    """Merge-patches an object's annotations (None removes one)."""

    async def patch_annotations(
        self,
        namespace: str,
        name: str,
        annotations: dict[str, str | None],
        resource_version: str | None = None,
    ) -> None: ...


class FencedWrites(Protocol):
    """Writes to a WhatsAppInstance's metadata that must find the resourceVersion it was
    read at (its status goes through `status_patch` with a resourceVersion)."""

    async def annotate_at(
        self, namespace: str, name: str, annotations: dict[str, str | None], resource_version: str
    ) -> str: ...

    async def set_finalizers(
        self, namespace: str, name: str, finalizers: list[str], resource_version: str
    ) -> dict[str, Any]: ...


class StatusWrites(Protocol):
    """Status of the kinds written unfenced (partners, profiles; cluster-scoped ones too)."""

    async def patch_status(
        self,
        namespace: str,
        name: str,
        status: dict[str, Any],
        plural: str = constants.PLURAL,
        resource_version: str | None = None,
    ) -> str: ...

    async def patch_cluster_status(
        self, name: str, status: dict[str, Any], plural: str
    ) -> None: ...


# ------------------------------------------------------------------ Secrets


async def put_secret(store: SecretWriter, request: SecretApply) -> None:
    """Create or update a Secret the object owns."""
    await store.apply_secret(
        request.namespace,
        request.name,
        data=dict(request.data),
        owner=request.owner,
        labels=dict(request.labels),
        annotations=dict(request.annotations),
    )


async def remove_secret(store: SecretStore, request: SecretRemoval) -> bool:
    """Delete a Secret the object owns; False when it was absent already."""
    return await store.delete_secret(
        request.namespace, request.name, owner_uid=request.owner_uid, role=request.role
    )


# ------------------------------------------------------------------ objects


async def annotate(
    store: Annotating,
    namespace: str,
    name: str,
    changes: dict[str, str | None],
    *,
    resource_version: str | None = None,
) -> None:
    """Merge-patch annotations; with `resource_version`, only on an unchanged object."""
    await store.patch_annotations(namespace, name, changes, resource_version=resource_version)


async def annotate_fenced(
    store: FencedWrites, namespace: str, name: str, changes: dict[str, str | None], version: str
) -> str:
    """Merge-patch a WhatsAppInstance's annotations at `version`; the new resourceVersion."""
    return await store.annotate_at(namespace, name, changes, version)


async def finalizers(
    store: FencedWrites, namespace: str, name: str, wanted: list[str], version: str
) -> dict[str, Any]:
    """Set a WhatsAppInstance's finalizers at `version`; the stored list and version."""
    return await store.set_finalizers(namespace, name, wanted, version)


async def status_patch(
    store: StatusWrites,
    plural: str,
    namespace: str,
    name: str,
    patch: dict[str, Any],
    *,
    resource_version: str | None = None,
) -> str:
    """Merge-patch the status subresource of any kind (`namespace` empty: cluster-scoped);
    with `resource_version`, only if the object is unchanged since (409 when stale). The
    new resourceVersion, when the API server gives it."""
    if not namespace:
        await store.patch_cluster_status(name, patch, plural)
        return ""
    return await store.patch_status(
        namespace, name, patch, plural=plural, resource_version=resource_version
    )
