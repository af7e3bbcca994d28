"""Referenced Secrets without a Secret watch: cached, re-read by name, changes reported.

The cache holds only Secrets some object references, a recheck reports exactly the
ones that appeared, changed or went, and the operator's own writes never leave a
stale copy behind. Uses the in-memory CoreV1Api of `test_kube_secrets`.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.unit.test_kube_secrets import NS, FakeCore, apply
from whatsapp_operator.adapters.kube import Kube
from whatsapp_operator.ports import KubeError, SecretNotFound
from whatsapp_operator.run.secret_recheck import recheck_once

KEY = (NS, "shop-token")


@pytest.fixture
def reads() -> Counter[str]:
    """Secret GETs by purpose, as the operator's metric counts them."""
    return Counter()


@pytest.fixture
def core() -> FakeCore:
    return FakeCore()


@pytest.fixture
def kube(core: FakeCore, reads: Counter[str]) -> Kube:
    def count(purpose: str) -> None:
        reads[purpose] += 1

    kube = Kube(client.ApiClient(client.Configuration()), on_secret_read=count)
    kube._core = core  # type: ignore[assignment]
    return kube


async def token(kube: Kube) -> str:
    value = await kube.read_secret_key(NS, "shop-token", "apiTokenInstance")
    return value.value.get_secret_value()


async def test_a_referenced_secret_is_read_once_then_served_from_the_cache(
    kube: Kube, core: FakeCore, reads: Counter[str]
) -> None:
    core.put("shop-token", data={"apiTokenInstance": b"one"})
    assert [await token(kube) for _ in range(3)] == ["one"] * 3
    assert reads == {"reconcile": 1}


async def test_recheck_reports_a_change_and_refreshes_the_cache(
    kube: Kube, core: FakeCore, reads: Counter[str]
) -> None:
    core.put("shop-token", data={"apiTokenInstance": b"one"})
    await token(kube)
    assert await kube.recheck_secrets({KEY}) == []  # unchanged

    core.put("shop-token", data={"apiTokenInstance": b"two"})
    assert await kube.recheck_secrets({KEY}) == [KEY]
    assert await token(kube) == "two"
    assert reads == {"reconcile": 1, "recheck": 2}  # the new value came with the recheck


async def test_recheck_reports_a_secret_that_appeared_or_went(kube: Kube, core: FakeCore) -> None:
    with pytest.raises(SecretNotFound):
        await token(kube)
    assert await kube.recheck_secrets({KEY}) == []
    core.put("shop-token", data={"apiTokenInstance": b"one"})
    assert await kube.recheck_secrets({KEY}) == [KEY]
    del core.objects[KEY]
    assert await kube.recheck_secrets({KEY}) == [KEY]
    with pytest.raises(SecretNotFound):
        await token(kube)


async def test_a_secret_never_read_is_not_reported_on_its_first_recheck(
    kube: Kube, core: FakeCore
) -> None:
    core.put("shop-token", data={"apiTokenInstance": b"one"})
    assert await kube.recheck_secrets({KEY}) == []
    assert kube.cached_secrets() == 1


async def test_the_cache_holds_only_secrets_still_referenced(kube: Kube, core: FakeCore) -> None:
    for index in range(5):
        core.put(f"s{index}", data={"k": b"v"})
        await kube.read_secret_key(NS, f"s{index}", "k")
    assert kube.cached_secrets() == 5
    assert await kube.recheck_secrets({(NS, "s0")}) == []
    assert kube.cached_secrets() == 1
    assert await kube.recheck_secrets(set()) == []
    assert kube.cached_secrets() == 0


async def test_a_failed_read_is_skipped_and_tried_again(
    kube: Kube, core: FakeCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    core.put("shop-token", data={"apiTokenInstance": b"one"})
    await token(kube)
    real = core.read_namespaced_secret

    def unavailable(name: str, namespace: str) -> client.V1Secret:
        raise ApiException(status=503, reason="Unavailable")

    monkeypatch.setattr(core, "read_namespaced_secret", unavailable)
    core.put("shop-token", data={"apiTokenInstance": b"two"})
    assert await kube.recheck_secrets({KEY}) == []
    monkeypatch.setattr(core, "read_namespaced_secret", real)
    assert await kube.recheck_secrets({KEY}) == [KEY]


async def test_the_operators_own_write_leaves_no_stale_copy(kube: Kube, core: FakeCore) -> None:
    await apply(kube, "shop-token", "token", b"first")
    assert await token(kube) == "first"
    await apply(kube, "shop-token", "token", b"second")
    assert await token(kube) == "second"
    # Its own write is not "a change someone made": nobody is woken for it.
    assert await kube.recheck_secrets({KEY}) == []


async def test_recheck_once_wakes_the_readers_of_changed_secrets_only(
    kube: Kube, core: FakeCore
) -> None:
    core.put("a", data={"k": b"1"})
    core.put("b", data={"k": b"1"})
    readers = {(NS, "a"): 2, (NS, "b"): 1}
    for key in readers:
        await kube.read_secret_key(*key, "k")
    woken: list[tuple[str, str]] = []

    def wake(namespace: str, name: str) -> int:
        woken.append((namespace, name))
        return readers[(namespace, name)]

    core.put("a", data={"k": b"2"})
    assert await recheck_once(kube, lambda: set(readers), wake) == 2
    assert woken == [(NS, "a")]


def test_a_rejected_write_names_the_fields_never_the_values() -> None:
    from whatsapp_operator.adapters.kube import client as kube_module

    value = "x" * 70
    body = {
        "kind": "Status",
        "message": f'Secret "s" is invalid: metadata.labels: Invalid value: "{value}"',
        "details": {
            "causes": [{"field": "metadata.labels", "message": f'Invalid value: "{value}"'}]
        },
    }
    exc = ApiException(status=422, reason="Unprocessable Entity")
    exc.body = json.dumps(body)
    error = kube_module._convert(exc, "Secret ns/s")
    assert isinstance(error, KubeError)
    assert error.message == "Secret ns/s: rejected by the API server (422): invalid metadata.labels"
    assert value not in error.message


async def test_kept_secrets_stay_cached_without_being_read_again(
    kube: Kube, core: FakeCore, reads: Counter[str]
) -> None:
    """Token Secrets are kept for reconciles but not re-read while idle (a 401 re-reads them)."""
    core.put("s0", data={"k": b"v"})
    core.put("hook", data={"k": b"v"})
    await kube.read_secret_key(NS, "s0", "k")
    await kube.read_secret_key(NS, "hook", "k")
    assert await kube.recheck_secrets({(NS, "hook")}, keep={(NS, "s0")}) == []
    assert reads == {"reconcile": 2, "recheck": 1}  # only the rechecked one
    assert kube.cached_secrets() == 2
