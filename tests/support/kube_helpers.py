"""Small, synchronous helpers over the official `kubernetes` client for end-to-end tests.

Everything that waits polls with a deadline (`wait_for`); nothing sleeps to wait.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from whatsapp_operator import constants

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition was not met before its deadline (an assertion failure, not an error)."""


_last_stamp: list[datetime] = []


def action_stamp(offset_seconds: float = 0.0) -> str:
    """An action annotation's value: now (plus `offset_seconds`) as RFC 3339 UTC with
    microseconds, later than any this process made before (the operator performs only a
    request later than the last one)."""
    moment = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    if offset_seconds == 0.0 and _last_stamp and moment <= _last_stamp[0]:
        moment = _last_stamp[0] + timedelta(microseconds=1)
    if offset_seconds == 0.0:
        _last_stamp[:] = [moment]
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def wait_for(
    condition: Callable[[], T | None],
    what: str,
    timeout: float = 30.0,
    interval: float = 0.2,
    describe: Callable[[], str] | None = None,
) -> T:
    """Call `condition` until it returns something truthy; return that.

    On timeout, raise `WaitTimeout` naming `what` and, if given, `describe()`
    (typically the object's current status), so the failure explains itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            detail = ""
            if describe is not None:
                try:
                    detail = f"\nlast seen: {describe()}"
                except Exception as exc:  # diagnostics must not hide the timeout
                    detail = f"\n(describe failed: {exc!r})"
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The status condition of type `kind`, or None."""
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return None


def has_condition(obj: dict[str, Any], kind: str, status: str, reason: str | None = None) -> bool:
    """Whether condition `kind` has `status` (and `reason`) for the object's current generation."""
    found = condition(obj, kind)
    if found is None or found.get("status") != status:
        return False
    if reason is not None and found.get("reason") != reason:
        return False
    generation = obj["metadata"].get("generation")
    return found.get("observedGeneration") == generation and (
        (obj.get("status") or {}).get("observedGeneration") == generation
    )


def conditions_summary(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    parts = [
        f"{c.get('type')}={c.get('status')}/{c.get('reason')} ({c.get('message')!r})"
        for c in status.get("conditions") or []
    ]
    return (
        f"generation={obj['metadata'].get('generation')} "
        f"observedGeneration={status.get('observedGeneration')} state={status.get('state')!r} "
        f"lastError={status.get('lastError')!r} conditions: " + "; ".join(parts)
    )


def create_namespace(api: client.ApiClient, name: str) -> None:
    client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
    )


def delete_namespace(api: client.ApiClient, name: str) -> None:
    try:
        client.CoreV1Api(api).delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


def put_secret(api: client.ApiClient, namespace: str, name: str, data: dict[str, str]) -> None:
    """Create the Secret, or replace its data if it exists."""
    core = client.CoreV1Api(api)
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name=name, namespace=namespace),
        type="Opaque",
        string_data=data,
    )
    try:
        core.create_namespaced_secret(namespace, body)
    except ApiException as error:
        if error.status != 409:
            raise
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        core.patch_namespaced_secret(name, namespace, {"data": encoded})


def read_secret(api: client.ApiClient, namespace: str, name: str) -> dict[str, bytes] | None:
    """The Secret's decoded data, or None when it does not exist."""
    try:
        secret = client.CoreV1Api(api).read_namespaced_secret(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}


def list_events(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    """Every core/v1 Event in the namespace, as plain JSON-like dicts."""
    events = client.CoreV1Api(api).list_namespaced_event(namespace)
    return [api.sanitize_for_serialization(e) for e in events.items]


def events_for(api: client.ApiClient, namespace: str, name: str) -> list[dict[str, Any]]:
    return [
        e
        for e in list_events(api, namespace)
        if e.get("involvedObject", {}).get("kind") == constants.KIND
        and e.get("involvedObject", {}).get("name") == name
    ]


def wait_event(
    api: client.ApiClient, namespace: str, name: str, kind: str, reason: str, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """The events of `name` with this type and reason, once there is one.

    Events are posted apart from the status write that goes with them (kopf queues them), so
    a test that has seen a condition must still wait for its event.
    """
    return wait_for(
        lambda: [
            e
            for e in events_for(api, namespace, name)
            if (e["type"], e["reason"]) == (kind, reason)
        ],
        f"{kind} event {reason} for {name}",
        timeout,
        describe=lambda: str([(e["type"], e["reason"]) for e in events_for(api, namespace, name)]),
    )


class Instances:
    """WhatsAppInstances of one namespace (plain dicts, as the API server returns them)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.objects = client.CustomObjectsApi(api)
        self.namespace = namespace

    def _args(self) -> tuple[str, str, str, str]:
        return constants.GROUP, constants.VERSION, self.namespace, constants.PLURAL

    def body(
        self, name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": name, "namespace": self.namespace}
        if annotations:
            metadata["annotations"] = annotations
        return {
            "apiVersion": constants.API_VERSION,
            "kind": constants.KIND,
            "metadata": metadata,
            "spec": spec,
        }

    def create(
        self,
        name: str,
        spec: dict[str, Any],
        annotations: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        created: dict[str, Any] = self.objects.create_namespaced_custom_object(
            *self._args(), self.body(name, spec, annotations), **kwargs
        )
        return created

    def get(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.objects.get_namespaced_custom_object(*self._args(), name)
        return found

    def list(self) -> list[dict[str, Any]]:
        found: dict[str, Any] = self.objects.list_namespaced_custom_object(*self._args())
        return list(found["items"])

    def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (the client picks merge-patch for dict bodies on custom objects)."""
        patched: dict[str, Any] = self.objects.patch_namespaced_custom_object(
            *self._args(), name, patch
        )
        return patched

    def annotate(self, name: str, annotations: dict[str, str | None]) -> dict[str, Any]:
        return self.patch(name, {"metadata": {"annotations": annotations}})

    def delete(self, name: str) -> None:
        try:
            self.objects.delete_namespaced_custom_object(*self._args(), name)
        except ApiException as error:
            if error.status != 404:
                raise

    def wait(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Poll the object until `predicate(obj)` holds; return that version of it."""
        latest: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            nonlocal latest
            latest = self.get(name)
            return latest if predicate(latest) else None

        return wait_for(
            check,
            f"{self.namespace}/{name}: {what}",
            timeout,
            describe=lambda: conditions_summary(latest) if latest else "(not read)",
        )

    def wait_condition(
        self,
        name: str,
        kind: str,
        status: str,
        reason: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        want = f"{kind}={status}" + (f" reason {reason}" if reason else "")
        return self.wait(name, lambda obj: has_condition(obj, kind, status, reason), want, timeout)

    def delete_all_and_wait(self, timeout: float = 30.0) -> list[str]:
        """Delete every instance and wait for them to be gone (the operator drops its finalizer).

        Returns the names that were still there at the deadline, after stripping their
        finalizers so the namespace can go.
        """
        for obj in self.list():
            self.delete(obj["metadata"]["name"])
        try:
            wait_for(lambda: not self.list(), f"{self.namespace}: instances deleted", timeout)
        except WaitTimeout:
            stuck = [obj["metadata"]["name"] for obj in self.list()]
            for name in stuck:
                self.patch(name, {"metadata": {"finalizers": None}})
            return stuck
        return []
