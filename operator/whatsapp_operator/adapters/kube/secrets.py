"""Referenced Secrets, cached: read by key, rechecked on a timer, prefetched by LIST.

There is no Secret watch (it would need list/watch on every Secret). A namespace with
many referenced Secrets not read yet is read with one paginated LIST, each page bounded
in bytes, instead of a GET per Secret.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from kubernetes.client.exceptions import ApiException
from pydantic import SecretStr

from whatsapp_operator.adapters.kube.client import KubeBase, _convert, _run
from whatsapp_operator.adapters.ownership import version_of
from whatsapp_operator.ports import KubeError, SecretKeyMissing, SecretNotFound, SecretValue
from whatsapp_operator.redaction import register_secret

log = logging.getLogger(__name__)

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


class SecretCache(KubeBase):
    """Reads of referenced Secrets through a cache that rechecks and LIST prefetches keep."""

    def _init_secrets(
        self, on_secret_read: Callable[[str], None] | None, *, list_secrets: bool
    ) -> None:
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
