"""Testdata for ClusterWhatsAppPartner and WhatsAppSettingsProfile, by running their reconcilers.

Loaded by `generate_testdata.py`. Each status here is what `PartnerReconciler.reconcile` /
`ProfileReconciler.reconcile` write onto an object that had none, with stand-ins only for
the I/O (the Secret read, the partner API's answer, the list of instances): conditions,
reasons and messages come from the operator's code path itself, the same one a live
cluster runs.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from whatsapp_operator.api.profile import WhatsAppSettingsProfileSpec
from whatsapp_operator.constants import API_VERSION, CLUSTER_PARTNER_KIND, PROFILE_KIND
from whatsapp_operator.decide.profiles import profile_revision
from whatsapp_operator.decide.statusdiff import apply_merge_patch
from whatsapp_operator.endpoints import AllowList, UrlRejected
from whatsapp_operator.ports import KubeError, SecretNotFound, SecretValue
from whatsapp_operator.run.partners import PartnerReconciler
from whatsapp_operator.run.profile_rollout import ProfileReconciler
from whatsapp_operator.run.rollout_gate import RolloutGate
from whatsapp_operator.wire import errors as gerr
from whatsapp_operator.wire.models import PartnerInstance

NOW = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)
OPERATOR_NAMESPACE = "whatsapp-operator"
PROFILE = "sales-defaults"
MEMBERS = ("sales-eu", "sales-uk", "sales-us")
SETTINGS = {"webhookUrl": "https://hooks.example.com/whatsapp", "incomingWebhook": True}
EARLIER_SETTINGS = {"webhookUrl": "https://hooks.example.com/wa", "incomingWebhook": True}


def _metadata(name: str, generation: int, namespace: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata.update(
        {
            "generation": generation,
            "uid": "0b7d5e2a-91c4-4f6e-8d3b-7a2c1e9f5d40",
            "resourceVersion": "48377",
            "creationTimestamp": "2026-05-04T09:57:40Z",
        }
    )
    return metadata


def _with_status(body: dict[str, Any], status: dict[str, Any] | None) -> dict[str, Any]:
    if status is not None:
        body["status"] = status
    return body


# ---- ClusterWhatsAppPartner --------------------------------------------------------------


class _Secrets:
    """The partner token's Secret: present, or missing the way the kube adapter says so."""

    def __init__(self, present: bool) -> None:
        self.present = present

    async def read_secret_key(self, namespace: str, name: str, key: str) -> SecretValue:
        if not self.present:
            raise SecretNotFound(
                f"Secret {namespace}/{name} does not exist", status=404, retryable=False
            )
        return SecretValue(SecretStr("gac.placeholder"), "1")


class _PartnerApi:
    def __init__(self, error: gerr.GreenApiError | None) -> None:
        self.error = error

    async def get_instances(self) -> list[PartnerInstance]:
        if self.error is not None:
            raise self.error
        listed = [
            PartnerInstance.model_validate({"idInstance": 7105000000 + n, "name": f"i{n}"})
            for n in range(4)
        ]
        return [*listed[:3], listed[3].model_copy(update={"deleted": True})]


class _Partners:
    """The partner client factory, with the operator's default allow-list."""

    def __init__(self, error: gerr.GreenApiError | None) -> None:
        self.error = error
        self.allowed = AllowList()

    def partner(self, *, api_url: str, token: SecretStr | str) -> _PartnerApi:
        return _PartnerApi(self.error)

    def admit(self, url: str, field: str) -> None:
        # As the GREEN-API client does: a URL the allow-list refuses is never contacted.
        try:
            self.allowed.check(url, field)
        except UrlRejected as exc:
            raise gerr.EndpointNotAllowed(str(exc)) from None


def _cluster_partner(generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": CLUSTER_PARTNER_KIND,
        "metadata": _metadata("greenapi", generation, None),
        "spec": {
            "apiUrl": "https://api.green-api.com",
            "tokenSecretRef": {
                "name": "greenapi-partner",
                "key": "partnerToken",
                "namespace": OPERATOR_NAMESPACE,
            },
            "namespaceSelector": {"matchLabels": {"whatsapp-operator.io/partner": "greenapi"}},
            "checkSeconds": 300,
            **spec,
        },
    }


def _checked(
    body: dict[str, Any], *, secret: bool = True, error: gerr.GreenApiError | None = None
) -> dict[str, Any]:
    """`body` with the status the partner reconciler writes after one check."""
    reconciler = PartnerReconciler(
        _Partners(error),  # type: ignore[arg-type]
        _Secrets(secret),
        random.Random(0),
        operator_namespace=OPERATOR_NAMESPACE,
    )
    outcome = asyncio.run(reconciler.reconcile(body, NOW))
    return _with_status(body, apply_merge_patch({}, outcome.status_patch or {}))


def cluster_partner_objects() -> dict[str, dict[str, Any]]:
    """ClusterWhatsAppPartner testdata, by case name."""
    rejected = gerr.PartnerTokenRejected(
        "getInstances: partner API error 401", code=401, method="getInstances"
    )
    down = gerr.ServiceUnavailable("getInstances: GREEN-API answered 503", status=503)
    stale = _checked(_cluster_partner())
    stale["metadata"]["generation"] = 2
    # An object stored under an older CRD that did not require namespaceSelector yet.
    unselected = _cluster_partner()
    del unselected["spec"]["namespaceSelector"]
    return {
        "no-status": _cluster_partner(),
        "healthy": _checked(_cluster_partner()),
        "stale-generation": stale,
        "unavailable": _checked(_cluster_partner(), error=down),
        "token-rejected": _checked(_cluster_partner(), error=rejected),
        "secret-not-found": _checked(_cluster_partner(), secret=False),
        "api-url-not-allowed": _checked(_cluster_partner(apiUrl="https://partner.example.net")),
        "invalid-spec": _checked(unselected),
    }


# ---- WhatsAppSettingsProfile -------------------------------------------------------------


class _Instances:
    """The namespace's WhatsAppInstances, or the API server failing to list them."""

    def __init__(self, items: list[dict[str, Any]] | None) -> None:
        self.items = items

    async def list_instances(self, namespace: str) -> list[dict[str, Any]]:
        if self.items is None:
            # The kube adapter's wording for a 5xx answer to the list call.
            raise KubeError(f"WhatsAppInstance list in {namespace}: API server answered 503")
        return self.items


def _profile(generation: int, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": PROFILE_KIND,
        "metadata": _metadata(PROFILE, generation, "sales"),
        "spec": {
            "settingsProfile": "Recommended",
            "settings": settings,
            "rollout": {"maxUnavailable": 1},
        },
    }


def _revision(settings: dict[str, Any]) -> str:
    spec = WhatsAppSettingsProfileSpec.model_validate(_profile(1, settings)["spec"])
    return profile_revision(spec)


def _member(name: str, **record: Any) -> dict[str, Any]:
    """An instance using the profile, with its part in the rollout as its status records it."""
    return {
        "apiVersion": API_VERSION,
        "kind": "WhatsAppInstance",
        "metadata": {"name": name, "namespace": "sales"},
        "spec": {"settingsProfileRef": {"name": PROFILE}},
        "status": {"settingsProfile": {"name": PROFILE, **record}},
    }


def _rolled(
    generation: int, settings: dict[str, Any], items: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """The profile with the status its reconciler writes after one look at `items`."""
    body = _profile(generation, settings)
    reconciler = ProfileReconciler(_Instances(items), RolloutGate())
    wake: Callable[[], None] = lambda: None  # noqa: E731 (no other look is coming)
    outcome = asyncio.run(reconciler.reconcile(body, NOW, wake))
    return _with_status(body, outcome.document)


def profile_objects() -> dict[str, dict[str, Any]]:
    """WhatsAppSettingsProfile testdata, by case name: a change of webhookUrl rolling out."""
    new, old = _revision(SETTINGS), _revision(EARLIER_SETTINGS)
    eu, uk, us = MEMBERS
    since = "2026-05-04T09:59:10Z"
    everyone_new = [_member(name, revision=new) for name in MEMBERS]
    moving = [
        _member(eu, revision=new),
        _member(uk, revision=old, applying=new, applyingSince=since, wasAuthorized=True),
        _member(us, revision=old),
    ]
    failed = "not back (Synced and linked) within 10 min"
    stuck = [
        _member(eu, revision=new),
        _member(
            uk,
            revision=old,
            applying=new,
            applyingSince="2026-05-04T09:48:30Z",
            wasAuthorized=True,
            failed=failed,
        ),
        _member(us, revision=old),
    ]
    stale = _rolled(1, EARLIER_SETTINGS, [_member(name, revision=old) for name in MEMBERS])
    stale["metadata"]["generation"] = 2
    stale["spec"]["settings"] = dict(SETTINGS)
    return {
        "no-status": _profile(1, SETTINGS),
        "rolled-out": _rolled(2, SETTINGS, everyone_new),
        "no-instances": _rolled(1, SETTINGS, []),
        "stale-generation": stale,
        "rolling-out": _rolled(2, SETTINGS, moving),
        "rollout-paused": _rolled(2, SETTINGS, stuck),
        "list-failed": _rolled(2, SETTINGS, None),
    }
