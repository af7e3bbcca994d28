"""The check's Kubernetes reads (Secrets, WhatsAppInstances, profiles, partners), with the
user's kubeconfig or in-cluster credentials. Reads only; errors name the object, never a value.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from whatsapp_operator import constants


class InputError(Exception):
    """An input the check could not read; the message names it and carries no secret."""


def _why(exc: ApiException) -> str:
    if exc.status == 404:
        return "not found"
    if exc.status in (401, 403):
        return f"not allowed ({exc.status}): your RBAC does not permit reading it"
    return f"{exc.status} {exc.reason}"


class KubeReader:
    """The few reads the check makes."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api

    @classmethod
    def connect(cls, kubeconfig: str | None, context: str | None) -> KubeReader:
        """From the kubeconfig (or the pod's service account when there is none)."""
        configuration = client.Configuration()
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        except (config.ConfigException, OSError) as exc:
            if kubeconfig or context:
                raise InputError(f"cannot load the kubeconfig: {exc}") from None
            try:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except config.ConfigException:
                raise InputError(f"cannot load the kubeconfig: {exc}") from None
        return cls(client.ApiClient(configuration))

    @staticmethod
    def _call(what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ApiException as exc:
            raise InputError(f"{what}: {_why(exc)}") from None

    def secret_key(self, namespace: str, name: str, key: str) -> tuple[str, str]:
        """The value of `key` in Secret namespace/name, and the Secret's resourceVersion."""
        core = client.CoreV1Api(self.api)
        what = f"Secret {namespace}/{name}"
        found = self._call(what, lambda: core.read_namespaced_secret(name, namespace))
        data = found.data or {}
        if key not in data:
            raise InputError(f"{what} has no key {key!r}")
        value = base64.b64decode(data[key]).decode("utf-8", errors="replace").strip()
        if not value:
            raise InputError(f"{what} key {key!r} is empty")
        return value, str(found.metadata.resource_version or "")

    def custom(self, plural: str, namespace: str | None, name: str) -> dict[str, Any]:
        """A custom object of this project's group."""
        objects = client.CustomObjectsApi(self.api)
        where = f"{namespace}/{name}" if namespace else name
        what = f"{plural} {where}"
        if namespace is None:
            found = self._call(
                what,
                lambda: objects.get_cluster_custom_object(
                    constants.GROUP, constants.VERSION, plural, name
                ),
            )
        else:
            found = self._call(
                what,
                lambda: objects.get_namespaced_custom_object(
                    constants.GROUP, constants.VERSION, namespace, plural, name
                ),
            )
        return cast(dict[str, Any], found)
