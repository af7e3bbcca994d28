"""`Kube.apply_secret` / `delete_secret` touch only Secrets this object owns.

The official client is replaced by an in-memory CoreV1Api that keeps the API server's
rules that matter here: create answers 409 for an existing name, a patch or delete
carrying a resourceVersion/uid precondition answers 409 when the Secret changed.
"""

from __future__ import annotations

import base64
import copy
import itertools
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from whatsapp_operator import constants
from whatsapp_operator.adapters.kube import Kube
from whatsapp_operator.ports import KubeError, Owner, SecretNotOwned

NS = "team-k"
NAME = "shop"
UID = "0b6c8a9e-1111-2222-3333-444455556666"
OTHER_UID = "9f9f9f9f-0000-0000-0000-000000000000"
TOKEN = "tokSUPERSECRETvalue0123456789"


def labels(role: str) -> dict[str, str]:
    return {
        constants.LABEL_MANAGED_BY: "whatsapp-operator",
        constants.LABEL_INSTANCE_NAME: NAME,
        constants.LABEL_SECRET_ROLE: role,
    }


def owner_reference(uid: str, *, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.KIND,
        "name": NAME,
        "uid": uid,
        "controller": controller,
    }


class FakeCore:
    """The part of CoreV1Api that Kube uses for Secrets, with preconditions enforced."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[str] = []
        self._versions = itertools.count(100)
        self._uids = itertools.count(1)
        # Runs once between Kube's read and its write, to simulate a concurrent change.
        self.before_write: Any = None

    def put(
        self,
        name: str,
        *,
        labels: dict[str, str] | None = None,
        owners: list[dict[str, Any]] | None = None,
        data: dict[str, bytes] | None = None,
    ) -> dict[str, Any]:
        body = {
            "metadata": {
                "name": name,
                "namespace": NS,
                "uid": f"secret-uid-{next(self._uids)}",
                "resourceVersion": str(next(self._versions)),
                "labels": dict(labels or {}),
                "annotations": {},
                "ownerReferences": list(owners or []),
            },
            "data": {k: base64.b64encode(v).decode() for k, v in (data or {}).items()},
        }
        self.objects[(NS, name)] = body
        return body

    def _hook(self) -> None:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook()

    def read_namespaced_secret(self, name: str, namespace: str) -> client.V1Secret:
        self.calls.append("read")
        body = self.objects.get((namespace, name))
        if body is None:
            raise ApiException(status=404, reason="Not Found")
        meta = body["metadata"]
        return client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta["uid"],
                resource_version=meta["resourceVersion"],
                labels=dict(meta["labels"]) or None,
                annotations=dict(meta["annotations"]) or None,
                owner_references=[
                    client.V1OwnerReference(
                        api_version=ref["apiVersion"],
                        kind=ref["kind"],
                        name=ref["name"],
                        uid=ref["uid"],
                        controller=ref.get("controller"),
                    )
                    for ref in meta["ownerReferences"]
                ]
                or None,
            ),
            data=dict(body["data"]) or None,
        )

    def create_namespaced_secret(self, namespace: str, body: dict[str, Any]) -> None:
        self.calls.append("create")
        name = body["metadata"]["name"]
        if (namespace, name) in self.objects:
            raise ApiException(status=409, reason="AlreadyExists")
        self._hook()
        stored = copy.deepcopy(body)
        stored["metadata"]["uid"] = f"secret-uid-{next(self._uids)}"
        stored["metadata"]["resourceVersion"] = str(next(self._versions))
        self.objects[(namespace, name)] = stored

    def patch_namespaced_secret(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        self.calls.append("patch")
        self._hook()
        current = self.objects.get((namespace, name))
        if current is None:
            raise ApiException(status=404, reason="Not Found")
        meta = body.get("metadata", {})
        expected = meta.get("resourceVersion")
        if expected is not None and expected != current["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        for key in ("labels", "annotations"):
            current["metadata"][key].update(meta.get(key) or {})
        for ref in meta.get("ownerReferences") or []:
            if all(r["uid"] != ref["uid"] for r in current["metadata"]["ownerReferences"]):
                current["metadata"]["ownerReferences"].append(ref)
        current["data"].update(body.get("data") or {})
        current["metadata"]["resourceVersion"] = str(next(self._versions))

    def delete_namespaced_secret(
        self, name: str, namespace: str, body: client.V1DeleteOptions | None = None
    ) -> None:
        self.calls.append("delete")
        self._hook()
        current = self.objects.get((namespace, name))
        if current is None:
            raise ApiException(status=404, reason="Not Found")
        preconditions = body.preconditions if body is not None else None
        if preconditions is not None:
            meta = current["metadata"]
            if preconditions.uid is not None and preconditions.uid != meta["uid"]:
                raise ApiException(status=409, reason="Conflict")
            version = preconditions.resource_version
            if version is not None and version != meta["resourceVersion"]:
                raise ApiException(status=409, reason="Conflict")
        del self.objects[(namespace, name)]


@pytest.fixture
def core() -> FakeCore:
    return FakeCore()


@pytest.fixture
def kube(core: FakeCore) -> Kube:
    kube = Kube(client.ApiClient(client.Configuration()))
    kube._core = core  # type: ignore[assignment]
    return kube


async def apply(kube: Kube, name: str, role: str, value: bytes = TOKEN.encode()) -> None:
    await kube.apply_secret(
        NS,
        name,
        data={"apiTokenInstance": value},
        owner=Owner(NAME, UID),
        labels=labels(role),
        annotations={},
    )


def stored_data(core: FakeCore, name: str) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in core.objects[(NS, name)]["data"].items()}


async def test_apply_creates_a_new_secret_owned_by_the_object(kube: Kube, core: FakeCore) -> None:
    await apply(kube, "shop-conn", "connection")
    meta = core.objects[(NS, "shop-conn")]["metadata"]
    assert meta["labels"] == labels("connection")
    assert meta["ownerReferences"][0]["uid"] == UID
    assert meta["ownerReferences"][0]["controller"] is True


async def test_apply_updates_a_secret_it_owns(kube: Kube, core: FakeCore) -> None:
    core.put(
        "shop-conn",
        labels=labels("connection"),
        owners=[owner_reference(UID)],
        data={"apiTokenInstance": b"old"},
    )
    await apply(kube, "shop-conn", "connection")
    assert stored_data(core, "shop-conn") == {"apiTokenInstance": TOKEN.encode()}


@pytest.mark.parametrize(
    ("secret_labels", "owners", "problem"),
    [
        pytest.param({}, [], "managed-by", id="a user's Secret"),
        pytest.param(
            {constants.LABEL_MANAGED_BY: "someone-else"}, [], "managed-by", id="other manager"
        ),
        pytest.param(labels("connection"), [], "ownerReference", id="labelled, no owner"),
        pytest.param(
            labels("connection"),
            [owner_reference(OTHER_UID)],
            "ownerReference",
            id="owned by another object",
        ),
        pytest.param(
            labels("connection"),
            [owner_reference(UID, controller=False)],
            "ownerReference",
            id="not the controller",
        ),
        pytest.param(labels("token"), [owner_reference(UID)], "role", id="own token Secret"),
    ],
)
async def test_apply_refuses_a_secret_it_does_not_own(
    kube: Kube,
    core: FakeCore,
    secret_labels: dict[str, str],
    owners: list[dict[str, Any]],
    problem: str,
) -> None:
    core.put("users-token", labels=secret_labels, owners=owners, data={"token": b"precious"})
    before = copy.deepcopy(core.objects[(NS, "users-token")])
    with pytest.raises(SecretNotOwned) as caught:
        await apply(kube, "users-token", "connection")
    error = caught.value
    assert isinstance(error, KubeError)
    assert error.reason == "SecretNotOwned"
    assert not error.retryable
    assert f"Secret {NS}/users-token" in error.message
    assert problem in error.message
    assert "precious" not in error.message
    assert TOKEN not in error.message
    assert core.objects[(NS, "users-token")] == before
    assert "patch" not in core.calls


async def test_apply_does_not_patch_a_secret_replaced_after_the_check(
    kube: Kube, core: FakeCore
) -> None:
    core.put("shop-conn", labels=labels("connection"), owners=[owner_reference(UID)])

    def replace_with_a_foreign_secret() -> None:
        core.put("shop-conn", data={"token": b"precious"})

    core.before_write = replace_with_a_foreign_secret
    with pytest.raises(KubeError) as caught:
        await apply(kube, "shop-conn", "connection")
    assert caught.value.retryable
    assert stored_data(core, "shop-conn") == {"token": b"precious"}


async def test_delete_removes_an_owned_secret(kube: Kube, core: FakeCore) -> None:
    core.put("shop-linking", labels=labels("linking"), owners=[owner_reference(UID)])
    assert await kube.delete_secret(NS, "shop-linking", owner_uid=UID, role="linking")
    assert (NS, "shop-linking") not in core.objects


async def test_delete_of_an_absent_secret_is_fine(kube: Kube, core: FakeCore) -> None:
    assert not await kube.delete_secret(NS, "shop-linking", owner_uid=UID, role="linking")


@pytest.mark.parametrize(
    ("secret_labels", "owners"),
    [
        pytest.param({}, [], id="a user's Secret"),
        pytest.param(labels("linking"), [owner_reference(OTHER_UID)], id="another object's"),
        pytest.param(labels("connection"), [owner_reference(UID)], id="another role"),
    ],
)
async def test_delete_refuses_a_secret_it_does_not_own(
    kube: Kube, core: FakeCore, secret_labels: dict[str, str], owners: list[dict[str, Any]]
) -> None:
    core.put("shop-linking", labels=secret_labels, owners=owners)
    with pytest.raises(SecretNotOwned) as caught:
        await kube.delete_secret(NS, "shop-linking", owner_uid=UID, role="linking")
    assert f"Secret {NS}/shop-linking" in caught.value.message
    assert (NS, "shop-linking") in core.objects
    assert "delete" not in core.calls


async def test_delete_spares_a_secret_replaced_after_the_check(kube: Kube, core: FakeCore) -> None:
    core.put("shop-linking", labels=labels("linking"), owners=[owner_reference(UID)])

    def replace_with_a_foreign_secret() -> None:
        core.put("shop-linking", data={"token": b"precious"})

    core.before_write = replace_with_a_foreign_secret
    with pytest.raises(KubeError) as caught:
        await kube.delete_secret(NS, "shop-linking", owner_uid=UID, role="linking")
    assert caught.value.retryable
    assert stored_data(core, "shop-linking") == {"token": b"precious"}


async def test_a_broken_connection_is_a_retryable_kube_error() -> None:
    # An API server that hangs up mid-answer (restarting, overloaded) raised urllib3's
    # ProtocolError straight through the reconcile, which then looked like a crash.
    import urllib3

    from whatsapp_operator.adapters.kube import client as kube_module

    def broken() -> None:
        raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")

    with pytest.raises(KubeError) as raised:
        await kube_module._run(broken)
    assert raised.value.retryable
    assert "could not be reached" in raised.value.message
