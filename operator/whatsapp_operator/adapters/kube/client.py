"""The Kubernetes API client: loading it with timeouts, running calls off the event loop,
and turning the library's exceptions into `KubeError`s with the retry decision attached.

The official client is synchronous; calls run in worker threads so the event loop
(kopf's watches, GREEN-API calls) never blocks on the API server. This package is the
only place that imports the `kubernetes` client.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from whatsapp_operator import __version__, constants
from whatsapp_operator.adapters.kubecalls import KubeCalls
from whatsapp_operator.ports import KubeError

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


def _version_in(data: bytes) -> str:
    """The resourceVersion of an object returned as JSON ("" when it has none)."""
    try:
        decoded = json.loads(data)
    except ValueError:
        return ""
    metadata = decoded.get("metadata") if isinstance(decoded, dict) else None
    return str((metadata or {}).get("resourceVersion") or "")


@dataclass(frozen=True)
class KubeTimeouts:
    """Bounds of one Kubernetes request: connecting, and each read of the answer."""

    connect: float = 5.0
    read: float = 30.0

    @property
    def request_timeout(self) -> tuple[float, float]:
        """The client's `_request_timeout` form: (connect, read)."""
        return (self.connect, self.read)


class _BoundedApiClient(client.ApiClient):
    """The client with a timeout on every call that names none, and calls counted in flight.

    Without a timeout, a connection the API server (or a proxy) stops answering holds a
    worker thread forever; once all of them hang, the operator stops without a trace.
    """

    def __init__(
        self, configuration: client.Configuration, timeouts: KubeTimeouts, calls: KubeCalls
    ) -> None:
        super().__init__(configuration)
        # The API server names a write's field manager after the User-Agent when the request
        # names none: the status and annotations the operator owns show as
        # "whatsapp-operator" in managedFields (not the client's "OpenAPI-Generator"), and
        # audit logs tell its requests apart.
        self.user_agent = f"{constants.FIELD_MANAGER}/{__version__}"
        self.timeouts = timeouts
        self.calls = calls

    def call_api(
        self,
        method: str,
        url: str,
        header_params: Any = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> Any:
        path = urlsplit(url).path
        with self.calls.track(f"{method} {path}"):
            return super().call_api(
                method,
                url,
                header_params,
                body,
                post_params,
                _request_timeout or self.timeouts.request_timeout,
            )


def load_api_client(
    kubeconfig: str | None = None,
    *,
    timeouts: KubeTimeouts | None = None,
    calls: KubeCalls | None = None,
) -> client.ApiClient:
    """In-cluster credentials when running in a Pod, else the kubeconfig (or KUBECONFIG).

    Every call gets `timeouts` unless it names its own, and is sent once: urllib3's
    default `Retry(3)` would re-send a request that timed out, multiplying its bound by
    four and repeating writes nobody asked to repeat. Callers retry where they decide to.
    """
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
    configuration.retries = False
    return _BoundedApiClient(configuration, timeouts or KubeTimeouts(), calls or KubeCalls())


def _invalid_fields(exc: ApiException) -> list[str]:
    """The field paths a 422 names (`metadata.labels`), never the values it quotes.

    The causes' messages repeat the rejected value, which may be Secret data.
    """
    try:
        details = json.loads(exc.body or "{}").get("details") or {}
        causes = details.get("causes") or []
        return sorted({str(c["field"]) for c in causes if isinstance(c, dict) and c.get("field")})
    except (ValueError, TypeError, AttributeError):
        return []


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
        fields = _invalid_fields(exc)
        detail = f": invalid {', '.join(fields)}" if fields else ""
        return KubeError(
            f"{what}: rejected by the API server (422){detail}", status=422, retryable=False
        )
    return KubeError(f"{what}: API server answered {status}", status=status)


class KubeBase:
    """The API groups every part of `Kube` calls, and the reads they share."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._api_client = api_client
        self._core = client.CoreV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)

    def close(self) -> None:
        """Close the API client's connections."""
        self._api_client.close()

    async def _get(self, kind: str, plural: str, namespace: str, name: str) -> dict[str, Any]:
        """One of our custom objects by name, as a mapping; `KubeError` when unreadable."""
        try:
            body = await _run(
                self._custom.get_namespaced_custom_object,
                constants.GROUP,
                constants.VERSION,
                namespace,
                plural,
                name,
            )
        except ApiException as exc:
            raise _convert(exc, f"{kind} {namespace}/{name}") from None
        return cast(dict[str, Any], body)
