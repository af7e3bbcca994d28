"""Kubernetes access for the operator: the only package that imports the `kubernetes` client.

`Kube` is every call the operator makes, by concern: `client` (loading the client
with timeouts, running calls in worker threads, errors), `secrets` (the cache of
referenced Secrets and its LIST prefetch), `secret_writes` (owned Secrets), `objects`
(status, finalizers, annotations), `lookups` (partners, profiles, namespace labels).
"""

from __future__ import annotations

from collections.abc import Callable

from kubernetes import client

from whatsapp_operator.adapters.kube.client import KubeTimeouts, load_api_client
from whatsapp_operator.adapters.kube.lookups import Lookups
from whatsapp_operator.adapters.kube.objects import ObjectWrites
from whatsapp_operator.adapters.kube.secret_writes import SecretWrites
from whatsapp_operator.adapters.kube.secrets import LIST_AT, CachedSecret

__all__ = ["LIST_AT", "CachedSecret", "Kube", "KubeTimeouts", "load_api_client"]


class Kube(SecretWrites, ObjectWrites, Lookups):
    """The operator's Kubernetes API calls, run in worker threads; referenced Secrets cached."""

    def __init__(
        self,
        api_client: client.ApiClient,
        on_secret_read: Callable[[str], None] | None = None,
        *,
        list_secrets: bool = True,
    ) -> None:
        super().__init__(api_client)
        self._init_secrets(on_secret_read, list_secrets=list_secrets)
        self._init_profiles()
