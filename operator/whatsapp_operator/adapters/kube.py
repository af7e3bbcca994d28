"""Kubernetes access for the operator: the only module that imports the `kubernetes` client.

The official client is synchronous; calls run in worker threads so the event
loop (kopf's watches, GREEN-API calls) never blocks on the API server. Library
exceptions become `KubeError`s here, with the retry decision attached.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import SecretStr

from whatsapp_operator import constants
from whatsapp_operator.adapters.kubecalls import KubeCalls
from whatsapp_operator.adapters.ownership import check_owned, version_of
from whatsapp_operator.ports import (
    KubeError,
    Owner,
    SecretKeyMissing,
    SecretNotFound,
    SecretValue,
)
from whatsapp_operator.redaction import register_secret

log = logging.getLogger(__name__)

T = TypeVar("T")

# A namespace with at least this many referenced Secrets not read yet (a restart, or the
# first start, of a fleet) is read with one paginated LIST instead of a GET per Secret.
LIST_AT = 8
LIST_PAGE = 250
# A page's body is read up to this many bytes. Secrets hold up to 1 MiB each (Helm
# releases come close), so 250 of them can make a page of hundreds of MiB, more than
# the pod's memory limit once parsed. A page past the bound is dropped unread and asked
# again in pages of a quarter the size, growing back once pages are small again; a single
# Secret past it ends the LIST (its readers GET). A page then takes at most this bound of
# memory, parsed.
LIST_PAGE_BYTES = 8 * 1024 * 1024
_LIST_SHRINK = 4
_READ_CHUNK = 256 * 1024


@dataclass(frozen=True)
class CachedSecret:
    """What reads need of a Secret: its data (base64, as stored) and its resourceVersion.

    Kept instead of the client's model object, which is several times larger.
    """

    data: dict[str, str]
    version: str


def _cached(secret: Any) -> CachedSecret:
    return CachedSecret(dict(secret.data or {}), version_of(secret))


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


class Kube:
    """The operator's Kubernetes API calls, run in worker threads; referenced Secrets cached."""

    def __init__(
        self,
        api_client: client.ApiClient,
        on_secret_read: Callable[[str], None] | None = None,
        *,
        list_secrets: bool = True,
    ) -> None:
        self._api_client = api_client
        self._core = client.CoreV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)
        # Referenced Secrets only, as last read. There is no Secret watch (it would need
        # list/watch on every Secret): `recheck_secrets` re-reads them on a timer, keeps
        # this cache fresh and drops what nothing references any more.
        self._secrets: dict[tuple[str, str], CachedSecret] = {}
        # The resourceVersion last seen per referenced Secret; "" for absent.
        self._versions: dict[tuple[str, str], str] = {}
        # Bumped by `forget_secret`, so a read that raced it is not cached.
        self._secret_epochs: dict[tuple[str, str], int] = {}
        # Counts Secret reads by purpose ("reconcile", "recheck", "list"): their cost is measured.
        self._on_secret_read = on_secret_read or (lambda _purpose: None)
        self._profiles: dict[tuple[str, str], dict[str, Any]] = {}
        self._profile_epochs: dict[tuple[str, str], int] = {}
        # Per namespace, referenced Secrets announced (`expect_secret`) but not read yet,
        # and the LIST under way for them; `_list_refused` after a 403 (RBAC without list).
        self._expected: dict[str, set[str]] = {}
        self._listing: dict[str, asyncio.Future[None]] = {}
        # The names the LIST under way (per namespace) is reading, for readers that come
        # once it has begun.
        self._listed: dict[str, set[str]] = {}
        self._list_refused = not list_secrets

    def forget_secret(self, namespace: str, name: str) -> None:
        """Drop the cached Secret `namespace/name`; the next read fetches it."""
        key = (namespace, name)
        self._secrets.pop(key, None)
        self._versions.pop(key, None)
        self._secret_epochs[key] = self._secret_epochs.get(key, 0) + 1

    def expect_secret(self, namespace: str, name: str) -> None:
        """`namespace/name` will be read soon: many such in one namespace are LISTed at once."""
        if (namespace, name) not in self._secrets:
            self._expected.setdefault(namespace, set()).add(name)

    def cached_secrets(self) -> int:
        """How many Secrets the cache holds (only referenced ones)."""
        return len(self._secrets)

    def close(self) -> None:
        """Close the API client's connections."""
        self._api_client.close()

    async def _get_secret(self, namespace: str, name: str, purpose: str) -> Any | None:
        """The Secret as it is now, or None when it does not exist."""
        self._on_secret_read(purpose)
        try:
            return await _run(self._core.read_namespaced_secret, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _convert(exc, f"Secret {namespace}/{name}") from None

    async def recheck_secrets(
        self, wanted: set[tuple[str, str]], keep: set[tuple[str, str]] | None = None
    ) -> list[tuple[str, str]]:
        """Re-read the `wanted` Secrets; those that appeared, changed or went since last seen.

        Cache entries of Secrets neither wanted nor in `keep` are dropped (`keep`: still
        read by reconciles, but not re-read here). A Secret never read before is not
        reported (its readers have not used it yet). A read that fails is skipped: the
        next recheck tries again.
        """
        retained = wanted | (keep or set())
        for key in [key for key in self._versions if key not in retained]:
            self._versions.pop(key, None)
            self._secrets.pop(key, None)
        for key in [key for key in self._secrets if key not in retained]:
            self._secrets.pop(key, None)
        self._secret_epochs = {k: v for k, v in self._secret_epochs.items() if k in retained}
        for namespace, names in list(self._expected.items()):
            names.intersection_update([name for name in names if (namespace, name) in retained])
            if not names:
                del self._expected[namespace]
        changed: list[tuple[str, str]] = []
        for key in sorted(wanted):
            epoch = self._secret_epochs.get(key, 0)
            try:
                secret = await self._get_secret(*key, purpose="recheck")
            except KubeError as exc:
                log.debug("Secret %s/%s not rechecked: %s", *key, exc.message)
                continue
            if self._secret_epochs.get(key, 0) != epoch:
                continue
            before = self._versions.get(key)
            now = version_of(secret)
            self._remember(key, _cached(secret) if secret is not None else None)
            if before is not None and before != now:
                changed.append(key)
        return changed

    def _remember(self, key: tuple[str, str], secret: CachedSecret | None) -> None:
        self._versions[key] = secret.version if secret is not None else ""
        if secret is None:
            self._secrets.pop(key, None)
        else:
            self._secrets[key] = secret

    def _worth_listing(self, namespace: str, name: str) -> bool:
        if self._list_refused:
            return False
        if name in self._listed.get(namespace, ()):
            return True  # the LIST under way will bring it: a GET now would be a second read
        if name not in self._expected.get(namespace, ()):
            return False
        return namespace in self._listing or len(self._expected[namespace]) >= LIST_AT

    async def _prefetch(self, namespace: str) -> None:
        """The namespace's expected Secrets, read by one LIST shared by every waiting reader."""
        listing = self._listing.get(namespace)
        if listing is None:
            listing = asyncio.ensure_future(self._list_expected(namespace))
            self._listing[namespace] = listing
            listing.add_done_callback(lambda _done: self._listing.pop(namespace, None))
        try:
            await asyncio.shield(listing)
        except KubeError as exc:
            # The readers fall back to a GET each; the next burst tries a LIST again.
            log.debug("Secrets of %s not listed: %s", namespace, exc.message)

    async def _list_expected(self, namespace: str) -> None:
        names = self._listed[namespace] = self._expected.pop(namespace, set())
        try:
            await self._list_names(namespace, names)
        finally:
            self._listed.pop(namespace, None)

    async def _list_names(self, namespace: str, names: set[str]) -> None:
        epochs = {name: self._secret_epochs.get((namespace, name), 0) for name in names}
        found: dict[str, CachedSecret] = {}
        page_token: str | None = None
        limit = LIST_PAGE
        self._on_secret_read("list")
        while True:
            # Secrets announced since the LIST began (objects still arriving after a
            # restart) are served too when their page is still to come. Their epochs are
            # taken before the page is read, so a change racing the read is caught below.
            late = {
                name: self._secret_epochs.get((namespace, name), 0)
                for name in self._expected.get(namespace, ())
            }
            try:
                page, size = await _run(self._list_page, namespace, page_token, limit)
            except ApiException as exc:
                if exc.status == 403:
                    self._list_refused = True
                    log.warning(
                        "Listing Secrets is not allowed (RBAC without list on secrets): "
                        "each referenced Secret is read on its own"
                    )
                raise _convert(exc, f"Secrets of {namespace}") from None
            if page is None:
                if limit == 1:
                    # One Secret alone is past the bound: the rest are read by GET.
                    log.info(
                        "A Secret of %s is larger than the %d byte LIST page bound: "
                        "the Secrets not listed yet are read one by one",
                        namespace,
                        LIST_PAGE_BYTES,
                    )
                    break
                # The same position again (the continue token still holds), smaller pages.
                limit = max(1, limit // _LIST_SHRINK)
                continue
            for item in page.get("items") or []:
                metadata = item.get("metadata") or {}
                name = metadata.get("name")
                if name not in names and name in late:
                    names.add(name)
                    epochs[name] = late[name]
                    self._expected.get(namespace, set()).discard(name)
                if name in names:
                    version = str(metadata.get("resourceVersion") or "")
                    found[name] = CachedSecret(dict(item.get("data") or {}), version)
            page_token = (page.get("metadata") or {}).get("continue") or None
            if page_token is None:
                break
            if size <= LIST_PAGE_BYTES // _LIST_SHRINK:
                # Past the large Secrets: pages grow back, so small ones cost few requests.
                limit = min(LIST_PAGE, limit * 2)
        for name in names:
            key = (namespace, name)
            # A Secret forgotten meanwhile (a rotation) is read again; an absent one is
            # not cached as absent: its reader GETs it, in case it has just been created.
            if self._secret_epochs.get(key, 0) == epochs[name] and name in found:
                self._remember(key, found[name])

    def _list_page(
        self, namespace: str, page_token: str | None, limit: int
    ) -> tuple[dict[str, Any] | None, int]:
        """One page of the LIST as plain JSON (None when its body is past LIST_PAGE_BYTES),
        and the bytes read."""
        # Decoded as plain JSON: the client's models for a page of Secrets cost far more.
        kwargs: dict[str, Any] = {"limit": limit, "_preload_content": False}
        if page_token:
            kwargs["_continue"] = page_token
        response: Any = self._core.list_namespaced_secret(namespace, **kwargs)
        try:
            body = bytearray()
            while True:
                # At most one byte past the bound is ever read.
                chunk = response.read(min(_READ_CHUNK, LIST_PAGE_BYTES + 1 - len(body)))
                if not chunk:
                    break
                body += chunk
                if len(body) > LIST_PAGE_BYTES:
                    response.close()  # the rest stays unread: the connection cannot be reused
                    return None, len(body)
            return cast(dict[str, Any], json.loads(body)), len(body)
        finally:
            response.release_conn()

    async def read_secret_key(self, namespace: str, name: str, key: str) -> SecretValue:
        """One key of a Secret, trimmed and registered for redaction, with the Secret's version.

        Raises `SecretNotFound` when the Secret is absent, `SecretKeyMissing` when the key is
        absent, empty or not UTF-8, and `KubeError` for other API failures.
        """
        what = f"Secret {namespace}/{name}"
        cache_key = (namespace, name)
        secret = self._secrets.get(cache_key)
        if secret is None and self._worth_listing(namespace, name):
            await self._prefetch(namespace)
            secret = self._secrets.get(cache_key)
        if secret is None:
            self._expected.get(namespace, set()).discard(name)
            epoch = self._secret_epochs.get(cache_key, 0)
            read = await self._get_secret(namespace, name, purpose="reconcile")
            secret = _cached(read) if read is not None else None
            if self._secret_epochs.get(cache_key, 0) == epoch:
                self._remember(cache_key, secret)
            if secret is None:
                raise SecretNotFound(f"{what} does not exist", status=404, retryable=False)
        data = secret.data
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
        return SecretValue(SecretStr(value), secret.version)

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

    async def read_partner(self, namespace: str, name: str) -> dict[str, Any]:
        """The WhatsAppPartner `namespace/name` as a mapping; `KubeError` when it cannot be read."""
        return await self._get(constants.PARTNER_KIND, constants.PARTNER_PLURAL, namespace, name)

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
