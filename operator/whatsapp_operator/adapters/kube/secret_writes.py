"""Secrets the operator owns: created, updated and deleted only when the object owns them
in the same role, fenced by resourceVersion so a Secret changed after the check is left.
"""

from __future__ import annotations

import base64
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from whatsapp_operator import constants
from whatsapp_operator.adapters.kube.client import _convert, _run
from whatsapp_operator.adapters.kube.secrets import SecretCache
from whatsapp_operator.adapters.ownership import check_owned
from whatsapp_operator.ports import KubeError, Owner


class SecretWrites(SecretCache):
    """Writes of owned Secrets; each drops the cached copy so a read sees what was written."""

    async def _read_for_write(self, namespace: str, name: str) -> Any | None:
        """The Secret as it is now (never the cache), or None when it does not exist."""
        return await self._get_secret(namespace, name, purpose="write")

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
        # What this object reads back (the token Secret it created) must be what it wrote.
        self.forget_secret(namespace, name)
        try:
            await self._create_or_patch(namespace, name, body, owner.uid, role)
        finally:
            self.forget_secret(namespace, name)

    async def _create_or_patch(
        self, namespace: str, name: str, body: Any, owner_uid: str, role: str
    ) -> None:
        what = f"Secret {namespace}/{name}"
        metadata = body["metadata"]
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
        check_owned(current, what, owner_uid, role)
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
        check_owned(current, what, owner_uid, role)
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
