"""A burst of first reads in one namespace is one paginated LIST, not a GET per Secret.

After a restart every object needs its token once; with `expect_secret` announced from
the watch, the Kube adapter reads a namespace's expected Secrets with one LIST (a few
pages), and falls back to single GETs where a LIST is not worth it or not allowed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from whatsapp_operator.adapters.kube import LIST_AT, Kube
from whatsapp_operator.adapters.kube import secrets as kube_module
from whatsapp_operator.ports import SecretNotFound

NS = "fleet"


class Page:
    """What the client returns with `_preload_content=False`: urllib3's response, whose body
    is read whole (`data`) or in parts (`read(amt)`), then its connection released or
    closed. Records how many bytes of the body were read."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.body = json.dumps(document).encode()
        self.read_bytes = 0
        self.released = False
        self.closed = False

    @property
    def data(self) -> bytes:
        self.read_bytes = len(self.body)
        return self.body

    def read(self, amt: int | None = None) -> bytes:
        end = len(self.body) if amt is None else self.read_bytes + amt
        chunk = self.body[self.read_bytes : end]
        self.read_bytes += len(chunk)
        return chunk

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        self.released = True


class ListingCore:
    """CoreV1Api's Secret reads: GET by name and a LIST paginated by `limit`/`_continue`."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.pages: list[Page] = []
        self.limits: list[int] = []
        self.refuse_list = False
        # Runs while a LIST is answered, to simulate a change racing it.
        self.during_list: Any = None
        self._version = 100

    def put(self, name: str, token: str, padding: int = 0) -> None:
        self._version += 1
        data = {"token": base64.b64encode(token.encode()).decode()}
        if padding:
            data["blob"] = base64.b64encode(b"x" * padding).decode()
        self.objects[name] = {
            "metadata": {"name": name, "namespace": NS, "resourceVersion": str(self._version)},
            "data": data,
        }

    def read_namespaced_secret(self, name: str, namespace: str) -> client.V1Secret:
        self.calls.append(f"get {name}")
        body = self.objects.get(name)
        if body is None:
            raise ApiException(status=404, reason="Not Found")
        return client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=name, namespace=namespace, resource_version=body["metadata"]["resourceVersion"]
            ),
            data=dict(body["data"]),
        )

    def list_namespaced_secret(self, namespace: str, **kwargs: Any) -> Page:
        self.calls.append("list")
        self.limits.append(kwargs["limit"])
        assert kwargs["_preload_content"] is False
        if self.refuse_list:
            raise ApiException(status=403, reason="Forbidden")
        if self.during_list is not None:
            self.during_list()
            self.during_list = None
        names = sorted(self.objects)
        start = int(kwargs.get("_continue") or 0)
        chunk = names[start : start + kwargs["limit"]]
        more = start + len(chunk) < len(names)
        page = Page(
            {
                "metadata": {"continue": str(start + len(chunk)) if more else ""},
                "items": [self.objects[name] for name in chunk],
            }
        )
        self.pages.append(page)
        return page


@pytest.fixture
def core() -> ListingCore:
    return ListingCore()


@pytest.fixture
def kube(core: ListingCore, monkeypatch: pytest.MonkeyPatch) -> Kube:
    monkeypatch.setattr(kube_module, "LIST_PAGE", 7)
    kube = Kube(client.ApiClient(client.Configuration()))
    kube._core = core  # type: ignore[assignment]
    return kube


async def read_all(kube: Kube, names: list[str]) -> list[str]:
    values = await asyncio.gather(*(kube.read_secret_key(NS, name, "token") for name in names))
    return [value.value.get_secret_value() for value in values]


async def test_a_burst_of_expected_reads_is_one_paginated_list(
    kube: Kube, core: ListingCore
) -> None:
    fleet = [f"token-{i}" for i in range(20)]
    for name in fleet:
        core.put(name, f"value of {name}")
    for i in range(5):
        core.put(f"unrelated-{i}", "not wanted")
    for name in fleet:
        kube.expect_secret(NS, name)

    assert await read_all(kube, fleet) == [f"value of {name}" for name in fleet]

    # 25 Secrets in pages of 7: one LIST of four pages, no GET; every page released.
    assert core.calls == ["list"] * 4
    assert all(page.released for page in core.pages)
    # Unrelated Secrets are not kept; the read ones serve later reads from the cache.
    assert kube.cached_secrets() == len(fleet)
    await read_all(kube, fleet)
    assert core.calls == ["list"] * 4


async def test_a_few_expected_reads_are_plain_gets(kube: Kube, core: ListingCore) -> None:
    few = [f"token-{i}" for i in range(LIST_AT - 1)]
    for name in few:
        core.put(name, name)
        kube.expect_secret(NS, name)

    await read_all(kube, few)

    assert sorted(core.calls) == sorted(f"get {name}" for name in few)


async def test_unexpected_reads_never_list(kube: Kube, core: ListingCore) -> None:
    names = [f"token-{i}" for i in range(LIST_AT * 2)]
    for name in names:
        core.put(name, name)

    await read_all(kube, names)

    assert "list" not in core.calls


async def test_list_refused_falls_back_to_gets_and_is_not_retried(
    kube: Kube, core: ListingCore
) -> None:
    core.refuse_list = True
    first = [f"a-{i}" for i in range(LIST_AT)]
    later = [f"b-{i}" for i in range(LIST_AT)]
    for name in first + later:
        core.put(name, name)
    for name in first:
        kube.expect_secret(NS, name)

    assert await read_all(kube, first) == first
    for name in later:
        kube.expect_secret(NS, name)
    assert await read_all(kube, later) == later

    assert core.calls.count("list") == 1
    assert sorted(c for c in core.calls if c != "list") == sorted(
        f"get {name}" for name in first + later
    )


async def test_a_secret_rotated_during_the_list_is_read_again(
    kube: Kube, core: ListingCore
) -> None:
    names = [f"token-{i}" for i in range(LIST_AT)]
    for name in names:
        core.put(name, "old")
        kube.expect_secret(NS, name)

    def rotate() -> None:
        core.put("token-3", "new")
        kube.forget_secret(NS, "token-3")

    core.during_list = rotate

    values = await read_all(kube, names)

    assert values[3] == "new"
    assert core.calls.count("get token-3") == 1


async def test_an_expected_secret_missing_from_the_list_is_confirmed_by_a_get(
    kube: Kube, core: ListingCore
) -> None:
    names = [f"token-{i}" for i in range(LIST_AT)]
    for name in names[1:]:
        core.put(name, name)
    for name in names:
        kube.expect_secret(NS, name)

    with pytest.raises(SecretNotFound):
        await kube.read_secret_key(NS, names[0], "token")

    assert core.calls == ["list", "get token-0"]
    assert await read_all(kube, names[1:]) == names[1:]
    assert core.calls == ["list", "get token-0"]


async def test_a_page_of_large_secrets_is_never_read_past_the_byte_bound(
    kube: Kube, core: ListingCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Secrets of ~4 KB in pages of 7 (~28 KB) against a 10 KB bound: a page over it is
    # dropped unread past the bound, and the LIST goes on from there in smaller pages.
    bound = 10_000
    monkeypatch.setattr(kube_module, "LIST_PAGE_BYTES", bound, raising=False)
    fleet = [f"token-{i:02d}" for i in range(12)]
    for name in fleet:
        core.put(name, f"value of {name}", padding=3000)
    for i in range(5):
        core.put(f"unrelated-{i}", "not wanted", padding=3000)
    for name in fleet:
        kube.expect_secret(NS, name)

    assert await read_all(kube, fleet) == [f"value of {name}" for name in fleet]

    assert max(page.read_bytes for page in core.pages) <= bound + 1
    over = [page for page in core.pages if len(page.body) > bound]
    assert over  # the case under test happened
    # A page dropped half-read closes its connection (unread bytes cannot be reused).
    assert all(page.closed for page in over)
    assert all(page.released for page in core.pages)
    # Every Secret still came from the LIST: no GET, and only the expected ones kept.
    assert [c for c in core.calls if c != "list"] == []
    assert core.limits[0] == 7
    assert min(core.limits) < 7
    assert kube.cached_secrets() == len(fleet)


async def test_a_secret_larger_than_the_bound_ends_the_list_and_is_read_by_get(
    kube: Kube, core: ListingCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_module, "LIST_PAGE_BYTES", 2_000, raising=False)
    names = [f"token-{i}" for i in range(LIST_AT)]
    for name in names:
        core.put(name, name, padding=3000 if name == "token-2" else 0)
        kube.expect_secret(NS, name)

    assert await read_all(kube, names) == names

    assert max(page.read_bytes for page in core.pages) <= 2_001
    # token-2 cannot be listed within the bound: it and those after it are read by GET.
    gets = sorted(c for c in core.calls if c.startswith("get"))
    assert "get token-2" in gets
    assert "get token-0" not in gets


async def test_a_secret_announced_while_the_list_runs_is_served_by_it(
    kube: Kube, core: ListingCore
) -> None:
    # After a restart, objects keep arriving while the first LIST is under way; their
    # Secrets, on pages not read yet, come from that LIST instead of a GET each.
    early = [f"a-{i:02d}" for i in range(LIST_AT)]
    late = [f"z-{i:02d}" for i in range(LIST_AT)]
    for name in early + late:
        core.put(name, name)
    for name in early:
        kube.expect_secret(NS, name)

    announced = threading.Event()

    def announce() -> None:  # while the LIST's first page is being answered
        for name in late:
            kube.expect_secret(NS, name)
        announced.set()

    core.during_list = announce
    first = asyncio.ensure_future(read_all(kube, early))
    assert await asyncio.to_thread(announced.wait, 10.0)
    assert await read_all(kube, late) == late
    assert await first == early

    assert [c for c in core.calls if c != "list"] == []
    assert core.calls.count("list") == 3  # 16 Secrets, pages of 7: one LIST


async def test_pages_grow_back_once_the_large_secrets_are_passed(
    kube: Kube, core: ListingCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube_module, "LIST_PAGE_BYTES", 10_000, raising=False)
    for i in range(4):
        core.put(f"a-large-{i}", "large", padding=3000)
    fleet = [f"token-{i:02d}" for i in range(40)]
    for name in fleet:
        core.put(name, name)
        kube.expect_secret(NS, name)

    assert await read_all(kube, fleet) == fleet

    # Shrunk to 1 for the large Secrets, then back up to 7 for the small ones.
    assert min(core.limits) == 1
    assert core.limits[-1] == 7


async def test_a_reader_arriving_while_its_secret_is_being_listed_waits_for_the_list(
    kube: Kube, core: ListingCore
) -> None:
    # After a restart, reconciles start one after another; those that start while the
    # LIST that holds their Secret is under way take it from that LIST, not by a GET.
    names = [f"token-{i:02d}" for i in range(LIST_AT * 2)]
    for name in names:
        core.put(name, name)
        kube.expect_secret(NS, name)
    listing = threading.Event()
    core.during_list = listing.set

    first = asyncio.ensure_future(kube.read_secret_key(NS, names[0], "token"))
    assert await asyncio.to_thread(listing.wait, 10.0)
    assert await read_all(kube, names[1:]) == names[1:]
    assert (await first).value.get_secret_value() == names[0]

    assert [c for c in core.calls if c != "list"] == []
