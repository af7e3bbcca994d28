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

from whatsapp_operator import __version__, constants
from whatsapp_operator.decide.linking import secret_name
from whatsapp_operator.kubectl.resources import INSTANCE, Kind
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
    """The few reads and writes the plugin makes, in one namespace (lists: also in all)."""

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
        api = client.ApiClient(configuration)
        # The field manager of the plugin's writes (annotations), from the User-Agent.
        api.user_agent = f"{constants.PLUGIN_FIELD_MANAGER}/{__version__}"
        return cls(api, chosen)

    def _call(self, what: str, call: Callable[[], Any], *, namespaced: bool = True) -> Any:
        try:
            return call()
        except ApiException as exc:
            if exc.status == 404:
                where = f"in namespace {self.namespace}" if namespaced else "(cluster-scoped)"
                raise PluginError(f"{what}: not found {where}") from exc
            if exc.status in (401, 403):
                raise PluginError(
                    f"{what}: not allowed ({exc.status}); your RBAC does not permit this"
                ) from exc
            raise PluginError(f"{what}: {exc.status} {exc.reason}") from exc

    def get(self, name: str) -> dict[str, Any]:
        """The WhatsAppInstance `name` as a plain mapping; PluginError when it cannot be read."""
        return self.get_object(INSTANCE, name)

    def get_object(self, kind: Kind, name: str) -> dict[str, Any]:
        """The object `name` of `kind` (in the namespace when the kind is namespaced)."""
        objects = client.CustomObjectsApi(self.api)
        what = f"{kind.kind.lower()} {name}"
        if kind.namespaced:
            found = self._call(
                what,
                lambda: objects.get_namespaced_custom_object(
                    constants.GROUP, constants.VERSION, self.namespace, kind.plural, name
                ),
            )
        else:
            found = self._call(
                what,
                lambda: objects.get_cluster_custom_object(
                    constants.GROUP, constants.VERSION, kind.plural, name
                ),
                namespaced=False,
            )
        return cast(dict[str, Any], found)

    def list_objects(
        self, kind: Kind, *, all_namespaces: bool = False, selector: str | None = None
    ) -> dict[str, Any]:
        """The API server's list of `kind` (in the namespace, or all), filtered there by the
        label `selector`."""
        objects = client.CustomObjectsApi(self.api)
        extra: dict[str, Any] = {"label_selector": selector} if selector else {}
        what = f"listing {kind.plural}"
        if all_namespaces or not kind.namespaced:
            found = self._call(
                what,
                lambda: objects.list_cluster_custom_object(
                    constants.GROUP, constants.VERSION, kind.plural, **extra
                ),
            )
        else:
            found = self._call(
                what,
                lambda: objects.list_namespaced_custom_object(
                    constants.GROUP, constants.VERSION, self.namespace, kind.plural, **extra
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

    def names(self, kind: Kind) -> list[str]:
        """The names of the objects of `kind` in the namespace (all, for a cluster kind)."""
        found = self.list_objects(kind)
        return sorted(str(o["metadata"]["name"]) for o in found.get("items") or [])

    def namespaces(self) -> list[str]:
        """The names of the namespaces the user may list."""
        core = client.CoreV1Api(self.api)
        found = self._call("listing namespaces", core.list_namespace)
        return sorted(str(n.metadata.name) for n in found.items)

    def events(self, name: str, kind: Kind = INSTANCE) -> list[dict[str, Any]]:
        """The Events about the object `name` of `kind`, as plain mappings (for a
        cluster-scoped kind, from every namespace)."""
        core = client.CoreV1Api(self.api)
        fields = f"involvedObject.name={name}"
        if kind.namespaced:
            found = self._call(
                f"events of {name}",
                lambda: core.list_namespaced_event(self.namespace, field_selector=fields),
            )
        else:
            found = self._call(
                f"events of {name}",
                lambda: core.list_event_for_all_namespaces(field_selector=fields),
            )
        events = [
            cast(dict[str, Any], self.api.sanitize_for_serialization(e))  # type: ignore[no-untyped-call]
            for e in found.items
        ]
        return [
            e for e in events if (e.get("involvedObject") or {}).get("kind") in (None, kind.kind)
        ]


@dataclass(frozen=True)
class LinkingSecret:
    """A linking Secret's decoded data and when its codes were last refreshed."""

    data: dict[str, bytes]
    refreshed_at: str
