"""The leader-election Lease (coordination.k8s.io/v1) read and written with the official client.

Synchronous on purpose: the standby waits before kopf's event loop exists, and the leader
renews from a thread of its own, so a busy or blocked event loop cannot delay a renewal.
Every write is a replace carrying the resourceVersion last read (optimistic concurrency):
of two writers, one gets `LeaseConflict`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from whatsapp_operator.ports.kubernetes import LeaseRecord


class LeaseConflict(Exception):
    """Someone else wrote the Lease since it was read (409), or created it first."""


class LeaseUnavailable(Exception):
    """The Lease could not be read or written (API server unreachable, refused, 5xx)."""


class LeaseStore:
    """One Lease, by namespace and name."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str,
        timeout: tuple[float, float] = (5.0, 5.0),
    ) -> None:
        self._api = client.CoordinationV1Api(api)
        self.namespace = namespace
        self.name = name
        # (connect, read) of every request, each sent once (the client has no retries,
        # `load_api_client`). The watchdog in run/leadership.py ends a leader whose renewal
        # hangs anyway; these bounds let a renewal that merely failed be retried in time.
        self._timeout = timeout

    def read(self) -> LeaseRecord | None:
        """The Lease as stored now; None when it does not exist."""
        try:
            lease = self._api.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=self._timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise LeaseUnavailable(
                f"reading Lease {self._where()}: HTTP {exc.status} {exc.reason}"
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise LeaseUnavailable(f"reading Lease {self._where()}: {type(exc).__name__}") from None
        return _record(lease)

    def create(self, identity: str, lease_seconds: int, now: datetime) -> LeaseRecord:
        """Create the Lease held by `identity`; LeaseConflict if it exists already."""
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
            spec=client.V1LeaseSpec(
                holder_identity=identity,
                lease_duration_seconds=lease_seconds,
                acquire_time=now,
                renew_time=now,
                lease_transitions=0,
            ),
        )
        return self._write(
            "creating",
            lambda: self._api.create_namespaced_lease(
                self.namespace, body, _request_timeout=self._timeout
            ),
        )

    def write(
        self,
        read: LeaseRecord,
        holder: str | None,
        lease_seconds: int,
        now: datetime,
        *,
        acquired: bool,
    ) -> LeaseRecord:
        """Replace the Lease read as `read`: `holder` (None releases it) renewed at `now`.

        `acquired`: the holder changes hands here (acquireTime and the transition count move).
        """
        transitions = read.transitions + 1 if acquired and not read.free else read.transitions
        spec = client.V1LeaseSpec(
            holder_identity=holder,
            lease_duration_seconds=lease_seconds,
            renew_time=now,
            lease_transitions=transitions,
        )
        if acquired:
            spec.acquire_time = now
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(
                name=self.name, namespace=self.namespace, resource_version=read.version
            ),
            spec=spec,
        )
        return self._write(
            "writing",
            lambda: self._api.replace_namespaced_lease(
                self.name, self.namespace, body, _request_timeout=self._timeout
            ),
        )

    def _write(self, doing: str, call: Callable[[], client.V1Lease]) -> LeaseRecord:
        try:
            return _record(call())
        except ApiException as exc:
            if exc.status == 409:
                raise LeaseConflict(f"{doing} Lease {self._where()}: changed meanwhile") from None
            raise LeaseUnavailable(
                f"{doing} Lease {self._where()}: HTTP {exc.status} {exc.reason}"
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise LeaseUnavailable(f"{doing} Lease {self._where()}: {type(exc).__name__}") from None

    def _where(self) -> str:
        return f"{self.namespace}/{self.name}"


def _record(lease: client.V1Lease) -> LeaseRecord:
    spec = lease.spec or client.V1LeaseSpec()
    return LeaseRecord(
        holder=spec.holder_identity or None,
        lease_seconds=int(spec.lease_duration_seconds or 0),
        renew_time=spec.renew_time,
        transitions=int(spec.lease_transitions or 0),
        version=str(lease.metadata.resource_version if lease.metadata else ""),
    )
