"""Kubernetes access for the operator: the only module that imports the `kubernetes` client.

The official client is synchronous; calls run in worker threads so the event
loop (kopf's watches, GREEN-API calls) never blocks on the API server. Library
exceptions become `KubeError`s here, with the retry decision attached.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import SecretStr

from whatsapp_operator import constants
from whatsapp_operator.ports import (
    KubeError,
    Owner,
    SecretKeyMissing,
    SecretNotFound,
    SecretNotOwned,
    SecretValue,
)
from whatsapp_operator.redaction import register_secret

log = logging.getLogger(__name__)

T = TypeVar("T")

# The client logs request and response bodies at DEBUG, Secret data included.
logging.getLogger("kubernetes.client.rest").setLevel(logging.INFO)


async def _run(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`call(*args)` in a worker thread; a broken or refused connection becomes a KubeError.

    The client raises ApiException for answers, but urllib3 and socket errors for
    answers that never came (an API server restarting or overloaded); those are
    transient, and must reach the reconcile as such, not as a crash.
    """
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise KubeError(
            f"the API server could not be reached ({type(exc).__name__})", retryable=True
        ) from None


def load_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """In-cluster credentials when running in a Pod, else the kubeconfig (or KUBECONFIG)."""
    configuration = client.Configuration()
    if kubeconfig is None:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException:
            config.load_kube_config(client_configuration=configuration)
    else:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    # Many instances reconcile concurrently; the default pool of 4 would serialize them.
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


def _convert(exc: ApiException, what: str) -> KubeError:
    status = exc.status
    if status in (401, 403):
        # An RBAC gap must show in the log too, not only in one object's status.
        log.warning("%s: the API server refused the operator (%s); check its RBAC", what, status)
    if status == 404:
        return KubeError(f"{what}: not found", status=404, retryable=False)
    if status in (401, 403):
        return KubeError(
            f"{what}: the operator is not allowed ({status}); check its RBAC",
            status=status,
            retryable=False,
        )
    if status == 422:
        return KubeError(f"{what}: rejected by the API server (422)", status=422, retryable=False)
    return KubeError(f"{what}: API server answered {status}", status=status)


def _ownership_problem(secret: Any, owner_uid: str, role: str) -> str:
    """Why this Secret is not the object's to write or delete; "" when it is."""
    metadata = secret.metadata
    labels: dict[str, str] = (metadata.labels if metadata is not None else None) or {}
    if labels.get(constants.LABEL_MANAGED_BY) != constants.MANAGED_BY:
        return f"it lacks the label {constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"
    references = (metadata.owner_references if metadata is not None else None) or []
    if not any(ref.controller is True and ref.uid == owner_uid for ref in references):
        return f"it has no controller ownerReference to this {constants.KIND} (uid {owner_uid})"
    found = labels.get(constants.LABEL_SECRET_ROLE, "")
    if found != role:
        return f"its label {constants.LABEL_SECRET_ROLE} is {found!r}, not {role!r}"
    return ""


def _check_owned(secret: Any, what: str, owner_uid: str, role: str) -> None:
    problem = _ownership_problem(secret, owner_uid, role)
    if problem:
        raise SecretNotOwned(
            f"{what} exists and is not the operator's to change: {problem}. "
            "Use another Secret name, or delete that Secret if nothing else needs it",
            retryable=False,
        )


class Kube:
    """The operator's Kubernetes API calls, run in worker threads; referenced Secrets cached."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._api_client = api_client
        self._core = client.CoreV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)
        # Referenced Secrets, cached until the Secret watch reports a change
        # (`forget_secret`): a settled fleet then reads nothing from the API server.
        self._secrets: dict[tuple[str, str], Any] = {}
        # Bumped by every change notice, so a read that raced a change is not cached.
        self._secret_epochs: dict[tuple[str, str], int] = {}

    def forget_secret(self, namespace: str, name: str) -> None:
        """Drop the cached Secret `namespace/name` (it changed); the next read fetches it."""
        key = (namespace, name)
        self._secrets.pop(key, None)
        self._secret_epochs[key] = self._secret_epochs.get(key, 0) + 1

    def close(self) -> None:
        """Close the API client's connections."""
        self._api_client.close()

    async def read_secret_key(self, namespace: str, name: str, key: str) -> SecretValue:
        """One key of a Secret, trimmed and registered for redaction, with the Secret's version.

        Raises `SecretNotFound` when the Secret is absent, `SecretKeyMissing` when the key is
        absent, empty or not UTF-8, and `KubeError` for other API failures.
        """
        what = f"Secret {namespace}/{name}"
        cache_key = (namespace, name)
        secret: Any = self._secrets.get(cache_key)
        if secret is None:
            epoch = self._secret_epochs.get(cache_key, 0)
            try:
                secret = await _run(self._core.read_namespaced_secret, name, namespace)
            except ApiException as exc:
                if exc.status == 404:
                    raise SecretNotFound(
                        f"{what} does not exist", status=404, retryable=False
                    ) from None
                raise _convert(exc, what) from None
            if self._secret_epochs.get(cache_key, 0) == epoch:
                self._secrets[cache_key] = secret
        data = secret.data or {}
        if key not in data:
            raise SecretKeyMissing(f"{what} has no key {key!r}", retryable=False)
        try:
            value = base64.b64decode(data[key], validate=True).decode("utf-8").strip()
        except (binascii.Error, UnicodeDecodeError):
            raise SecretKeyMissing(
                f"{what} key {key!r} is not UTF-8 text", retryable=False
            ) from None
        if not value:
            raise SecretKeyMissing(f"{what} key {key!r} is empty", retryable=False)
        register_secret(value)
        version = secret.metadata.resource_version if secret.metadata else None
        return SecretValue(SecretStr(value), version or "")

    async def _read_for_write(self, namespace: str, name: str) -> Any | None:
        """The Secret as it is now (never the cache), or None when it does not exist."""
        try:
            return await _run(self._core.read_namespaced_secret, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _convert(exc, f"Secret {namespace}/{name}") from None

    async def apply_secret(
        self,
        namespace: str,
        name: str,
        *,
        data: dict[str, bytes],
        owner: Owner,
        labels: dict[str, str],
        annotations: dict[str, str],
    ) -> None:
        """Create the Secret, or update one this object owns in the same role.

        `labels` must carry the role (`constants.LABEL_SECRET_ROLE`); the managed-by
        label is always written. An existing Secret without the managed-by label, the
        role, and a controller ownerReference to `owner` raises `SecretNotOwned` and is
        left as it is.
        """
        role = labels.get(constants.LABEL_SECRET_ROLE, "")
        if not role:
            raise ValueError("apply_secret needs a role label")
        encoded = {key: base64.b64encode(value).decode() for key, value in data.items()}
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": namespace,
            "labels": {**labels, constants.LABEL_MANAGED_BY: constants.MANAGED_BY},
            "annotations": annotations,
            "ownerReferences": [owner.reference()],
        }
        body: Any = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": metadata,
            "data": encoded,
        }
        what = f"Secret {namespace}/{name}"
        try:
            await _run(self._core.create_namespaced_secret, namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise _convert(exc, what) from None
        else:
            return
        current = await self._read_for_write(namespace, name)
        if current is None:
            raise KubeError(f"{what} was deleted meanwhile; retrying", status=404)
        _check_owned(current, what, owner.uid, role)
        # The patch applies only to the Secret that was checked: one replaced or relabelled
        # since then has another resourceVersion, and the API server answers 409.
        metadata["resourceVersion"] = current.metadata.resource_version
        try:
            await _run(self._core.patch_namespaced_secret, name, namespace, body)
        except ApiException as exc:
            if exc.status == 409:
                raise KubeError(
                    f"{what} changed meanwhile; retrying", status=409, retryable=True
                ) from None
            raise _convert(exc, what) from None

    async def delete_secret(self, namespace: str, name: str, *, owner_uid: str, role: str) -> bool:
        """Delete the Secret if the object with `owner_uid` owns it in `role`.

        True when something was deleted, False when it was absent already. A Secret
        the object does not own raises `SecretNotOwned` and stays.
        """
        what = f"Secret {namespace}/{name}"
        current = await self._read_for_write(namespace, name)
        if current is None:
            return False
        _check_owned(current, what, owner_uid, role)
        # Preconditions: a Secret replaced or changed after the check is not deleted.
        options = client.V1DeleteOptions(
            preconditions=client.V1Preconditions(
                uid=current.metadata.uid, resource_version=current.metadata.resource_version
            )
        )
        try:
            await _run(self._core.delete_namespaced_secret, name, namespace, body=options)
        except ApiException as exc:
            if exc.status == 404:
                return False
            if exc.status == 409:
                raise KubeError(
                    f"{what} changed meanwhile; not deleted, retrying", status=409, retryable=True
                ) from None
            raise _convert(exc, what) from None
        return True

    async def patch_status(
        self, namespace: str, name: str, status: dict[str, Any], plural: str = constants.PLURAL
    ) -> None:
        """Merge-patch the status subresource (keys set to None are removed)."""
        try:
            await _run(
                self._custom.patch_namespaced_custom_object_status,
                constants.GROUP,
                constants.VERSION,
                namespace,
                plural,
                name,
                {"status": status},
            )
        except ApiException as exc:
            raise _convert(exc, f"{plural} {namespace}/{name} status") from None

    async def read_partner(self, namespace: str, name: str) -> dict[str, Any]:
        """The WhatsAppPartner `namespace/name` as a mapping; `KubeError` when it cannot be read."""
        what = f"{constants.PARTNER_KIND} {namespace}/{name}"
        try:
            body = await _run(
                self._custom.get_namespaced_custom_object,
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.PARTNER_PLURAL,
                name,
            )
        except ApiException as exc:
            raise _convert(exc, what) from None
        return cast(dict[str, Any], body)

    async def read_cluster_partner(self, name: str) -> dict[str, Any]:
        """The ClusterWhatsAppPartner `name` as a mapping; `KubeError` when it cannot be read."""
        what = f"{constants.CLUSTER_PARTNER_KIND} {name}"
        try:
            body = await _run(
                self._custom.get_cluster_custom_object,
                constants.GROUP,
                constants.VERSION,
                constants.CLUSTER_PARTNER_PLURAL,
                name,
            )
        except ApiException as exc:
            raise _convert(exc, what) from None
        return cast(dict[str, Any], body)

    async def namespace_labels(self, namespace: str) -> dict[str, str]:
        """The labels of `namespace` (a partner's namespaceSelector is matched against them).

        A namespace that does not exist has none; other failures raise `KubeError`.
        """
        try:
            found = await _run(self._core.read_namespace, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return {}
            raise _convert(exc, f"Namespace {namespace}") from None
        return dict(found.metadata.labels or {}) if found.metadata else {}

    async def patch_cluster_status(self, name: str, status: dict[str, Any], plural: str) -> None:
        """Merge-patch the status subresource of a cluster-scoped object."""
        try:
            await _run(
                self._custom.patch_cluster_custom_object_status,
                constants.GROUP,
                constants.VERSION,
                plural,
                name,
                {"status": status},
            )
        except ApiException as exc:
            raise _convert(exc, f"{plural} {name} status") from None

    async def patch_annotations(
        self,
        namespace: str,
        name: str,
        annotations: dict[str, str | None],
        resource_version: str | None = None,
    ) -> None:
        """Merge-patch annotations (None removes one); with a resourceVersion, only if unchanged."""
        metadata: dict[str, Any] = {"annotations": annotations}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        what = f"{constants.KIND} {namespace}/{name} annotations"
        try:
            await _run(
                self._custom.patch_namespaced_custom_object,
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.PLURAL,
                name,
                {"metadata": metadata},
            )
        except ApiException as exc:
            if exc.status == 409:
                raise KubeError(
                    f"{what}: the object changed meanwhile; retrying", status=409, retryable=True
                ) from None
            raise _convert(exc, what) from None
