"""Reads of what an instance refers to: partners, profiles (cached), namespace labels,
and the instances a profile's rollout lists."""

from __future__ import annotations

from typing import Any, cast

from kubernetes.client.exceptions import ApiException

from whatsapp_operator import constants
from whatsapp_operator.adapters.kube.client import KubeBase, _convert, _run


class Lookups(KubeBase):
    """Partners, cluster partners, profiles, namespace labels and instance lists."""

    def _init_profiles(self) -> None:
        self._profiles: dict[tuple[str, str], dict[str, Any]] = {}
        self._profile_epochs: dict[tuple[str, str], int] = {}

    async def read_partner(self, namespace: str, name: str) -> dict[str, Any]:
        """The WhatsAppPartner `namespace/name` as a mapping; `KubeError` when it cannot be read."""
        return await self._get(constants.PARTNER_KIND, constants.PARTNER_PLURAL, namespace, name)

    async def read_profile(self, namespace: str, name: str) -> dict[str, Any]:
        """The WhatsAppSettingsProfile `namespace/name`, cached until its watch reports a
        change (`forget_profile`); `KubeError` (404 included) when it cannot be read."""
        key = (namespace, name)
        cached = self._profiles.get(key)
        if cached is not None:
            return cached
        epoch = self._profile_epochs.get(key, 0)
        body = await self._get(constants.PROFILE_KIND, constants.PROFILE_PLURAL, namespace, name)
        if self._profile_epochs.get(key, 0) == epoch:
            self._profiles[key] = body
        return body

    def forget_profile(self, namespace: str, name: str) -> None:
        """Drop the cached WhatsAppSettingsProfile `namespace/name` (it changed)."""
        key = (namespace, name)
        self._profiles.pop(key, None)
        self._profile_epochs[key] = self._profile_epochs.get(key, 0) + 1

    async def list_instances(self, namespace: str) -> list[dict[str, Any]]:
        """Every WhatsAppInstance in `namespace` (a profile's rollout reads their status)."""
        try:
            listed = await _run(
                self._custom.list_namespaced_custom_object,
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.PLURAL,
            )
        except ApiException as exc:
            raise _convert(exc, f"{constants.KIND} list in {namespace}") from None
        return cast(list[dict[str, Any]], cast(dict[str, Any], listed).get("items", []))

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
