"""The kubectl plugin's cluster access, with the user's own kubeconfig and context.

Only the reads and writes the plugin makes, in one namespace; API errors become
`PluginError`s worded for the person at the terminal (RBAC decides who may read
the linking codes, so a 403 says so).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from whatsapp_operator import constants
from whatsapp_operator.decide.linking import secret_name
from whatsapp_operator.kubectl.view import PluginError


def _load_kube_config(
    kubeconfig: str | None, context: str | None, configuration: client.Configuration
) -> None:
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, context=context, client_configuration=configuration
    )


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace of the chosen (or current) context, `default` when it names none."""
    contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
        config_file=kubeconfig
    )
    chosen: dict[str, Any] | None = current
    if context is not None:
        chosen = next((c for c in contexts if c.get("name") == context), None)
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"


@dataclass
class Kube:
    """The few reads and writes the plugin makes, in one namespace."""

    api: client.ApiClient
    namespace: str

    @classmethod
    def connect(cls, kubeconfig: str | None, context: str | None, namespace: str | None) -> Kube:
        """A client from the kubeconfig and context, in `namespace` (default: the context's).

        PluginError when the kubeconfig cannot be loaded.
        """
        configuration = client.Configuration()
        try:
            _load_kube_config(kubeconfig, context, configuration)
            chosen = namespace or _context_namespace(kubeconfig, context)
        except (config.ConfigException, OSError) as exc:
            raise PluginError(f"cannot load the kubeconfig: {exc}") from exc
        return cls(client.ApiClient(configuration), chosen)

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ApiException as exc:
            if exc.status == 404:
                raise PluginError(f"{what}: not found in namespace {self.namespace}") from exc
            if exc.status in (401, 403):
                raise PluginError(
                    f"{what}: not allowed ({exc.status}); your RBAC does not permit this"
                ) from exc
            raise PluginError(f"{what}: {exc.status} {exc.reason}") from exc

    def get(self, name: str) -> dict[str, Any]:
        """The WhatsAppInstance `name` as a plain mapping; PluginError when it cannot be read."""
        objects = client.CustomObjectsApi(self.api)
        found = self._call(
            f"whatsappinstance {name}",
            lambda: objects.get_namespaced_custom_object(
                constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL, name
            ),
        )
        return cast(dict[str, Any], found)

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (the client sends merge-patch for dict bodies on custom objects)."""
        objects = client.CustomObjectsApi(self.api)
        patched = self._call(
            f"patching whatsappinstance {name}",
            lambda: objects.patch_namespaced_custom_object(
                constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL, name, body
            ),
        )
        return cast(dict[str, Any], patched)

    def linking_secret(self, name: str) -> LinkingSecret | None:
        """The linking Secret of instance `name`, None when absent; PluginError if unreadable."""
        core = client.CoreV1Api(self.api)
        secret = secret_name(name)
        try:
            found = core.read_namespaced_secret(secret, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status in (401, 403):
                raise PluginError(
                    f"reading Secret {secret}: not allowed ({exc.status}); whoever can read "
                    "it can link a phone, so RBAC must grant `get` on it"
                ) from exc
            raise PluginError(f"reading Secret {secret}: {exc.status} {exc.reason}") from exc
        data = {k: base64.b64decode(v) for k, v in (found.data or {}).items()}
        annotations = dict((found.metadata and found.metadata.annotations) or {})
        return LinkingSecret(
            data=data, refreshed_at=annotations.get(constants.ANNOTATION_REFRESHED_AT, "")
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        """The Events about the WhatsAppInstance `name`, as plain mappings."""
        core = client.CoreV1Api(self.api)
        found = self._call(
            f"events of {name}",
            lambda: core.list_namespaced_event(
                self.namespace, field_selector=f"involvedObject.name={name}"
            ),
        )
        events = [
            cast(dict[str, Any], self.api.sanitize_for_serialization(e))  # type: ignore[no-untyped-call]
            for e in found.items
        ]
        return [
            e
            for e in events
            if (e.get("involvedObject") or {}).get("kind") in (None, constants.KIND)
        ]


@dataclass(frozen=True)
class LinkingSecret:
    """A linking Secret's decoded data and when its codes were last refreshed."""

    data: dict[str, bytes]
    refreshed_at: str
