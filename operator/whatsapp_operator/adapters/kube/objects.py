"""Writes to our custom objects: status (fenced by resourceVersion), finalizers, annotations."""

from __future__ import annotations

from typing import Any, cast

import urllib3
from kubernetes.client.exceptions import ApiException

from whatsapp_operator import constants
from whatsapp_operator.adapters.kube.client import KubeBase, _convert, _run, _version_in
from whatsapp_operator.ports import KubeError


class ObjectWrites(KubeBase):
    """Status, finalizer and annotation patches of WhatsAppInstances (and partners' status)."""

    async def patch_status(
        self,
        namespace: str,
        name: str,
        status: dict[str, Any],
        plural: str = constants.PLURAL,
        resource_version: str | None = None,
    ) -> str:
        """Merge-patch the status subresource (keys set to None are removed); the new
        resourceVersion.

        With `resource_version`, only if the object is unchanged since: a writer holding
        a stale object gets a retryable KubeError with status 409 and must re-read.
        """
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}

        def patch() -> str:
            # The answer is the whole object; plain JSON, not the client's models, and
            # only its resourceVersion is kept.
            response = self._custom.patch_namespaced_custom_object_status(
                constants.GROUP,
                constants.VERSION,
                namespace,
                plural,
                name,
                body,
                _preload_content=False,
            )
            assert isinstance(response, urllib3.HTTPResponse)
            try:
                return _version_in(response.data)
            finally:
                response.release_conn()

        what = f"{plural} {namespace}/{name} status"
        try:
            return await _run(patch)
        except ApiException as exc:
            if exc.status == 409:
                raise KubeError(
                    f"{what}: the object changed meanwhile; re-reading", status=409
                ) from None
            raise _convert(exc, what) from None

    async def read_instance(self, namespace: str, name: str) -> dict[str, Any]:
        """The WhatsAppInstance as stored now (a fenced write was refused, or its watch
        reported it gone); `KubeError` (404 included) when it cannot be read."""
        return await self._get(constants.KIND, constants.PLURAL, namespace, name)

    async def annotate_at(
        self, namespace: str, name: str, annotations: dict[str, str | None], resource_version: str
    ) -> str:
        """Merge-patch a WhatsAppInstance's annotations if it is unchanged since
        `resource_version` (409 otherwise); the new resourceVersion."""
        stored = await self._patch_metadata(
            namespace, name, {"annotations": annotations}, resource_version, "annotations"
        )
        return str((stored.get("metadata") or {}).get("resourceVersion") or "")

    async def set_finalizers(
        self, namespace: str, name: str, finalizers: list[str], resource_version: str
    ) -> dict[str, Any]:
        """Replace a WhatsAppInstance's finalizers if it is unchanged since `resource_version`.

        Returns the stored finalizers and resourceVersion. A 409 (changed meanwhile) is
        retryable: the next watch event brings the current list.
        """
        stored = await self._patch_metadata(
            namespace, name, {"finalizers": finalizers}, resource_version, "finalizers"
        )
        kept = stored.get("metadata", {})
        return {
            "finalizers": kept.get("finalizers") or [],
            "resourceVersion": kept.get("resourceVersion"),
        }

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
        await self._patch_metadata(
            namespace, name, {"annotations": annotations}, resource_version, "annotations"
        )

    async def _patch_metadata(
        self,
        namespace: str,
        name: str,
        metadata: dict[str, Any],
        resource_version: str | None,
        what: str,
    ) -> dict[str, Any]:
        """Merge-patch a WhatsAppInstance's metadata; with a resourceVersion, only if unchanged.

        A 409 (changed meanwhile) is retryable: the next watch event brings the current body.
        """
        if resource_version:
            metadata = {**metadata, "resourceVersion": resource_version}
        described = f"{constants.KIND} {namespace}/{name} {what}"
        try:
            stored = await _run(
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
                    f"{described}: the object changed meanwhile; retrying",
                    status=409,
                    retryable=True,
                ) from None
            raise _convert(exc, described) from None
        return cast(dict[str, Any], stored)
