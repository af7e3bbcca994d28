"""Writes the Argo CD health-check testdata from the operator's own status code.

Every `testdata/*.yaml` object carries a status built by the same pure functions the
operator uses on a live cluster (`conditions.desired_conditions`, `merge_conditions`,
`WhatsAppInstanceStatus` / `WhatsAppPartnerStatus` dumped by alias; for
ClusterWhatsAppPartner and WhatsAppSettingsProfile, their reconcilers themselves, see
`reconciled_testdata.py`), so the shapes, reasons and messages are the real ones. Run from
the repository root after changing the status contract:

    .venv/bin/python deploy/argocd/generate_testdata.py

`tests/unit/test_argocd_health.py` fails when the files are out of date.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from whatsapp_operator.api.resource import (
    Account,
    AuthorizationMethod,
    LinkingPhase,
    LinkingStatus,
    WhatsAppInstanceStatus,
    WhatsAppPartnerStatus,
)
from whatsapp_operator.constants import (
    API_VERSION,
    CLUSTER_PARTNER_KIND,
    KIND,
    PARTNER_KIND,
    PROFILE_KIND,
    ConditionType,
)
from whatsapp_operator.decide.conditions import (
    FALSE,
    TRUE,
    UNKNOWN,
    Facts,
    Failure,
    desired_conditions,
    merge_conditions,
)
from whatsapp_operator.decide.linking import _hint
from whatsapp_operator.decide.plan import SettingsOutcome
from whatsapp_operator.wire.models import InstanceState

HERE = Path(__file__).resolve().parent / "whatsapp-operator.io"
NOW = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)
STAMP = "2026-05-04T10:00:00Z"
ID = 7105000001
API_URL = "https://7105.api.greenapi.com"
PHONE = "79001234567"
SETTINGS = {"webhookUrl": "https://hooks.example.com/whatsapp", "incomingWebhook": "yes"}
LINKING_SECRET = "sales-linking"  # noqa: S105 (a Secret name)


def _metadata(name: str, generation: int) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "sales",
        "generation": generation,
        "uid": "6f1c2b7e-3d41-4b8a-9a55-0c1d2e3f4a5b",
        "resourceVersion": "48213",
        "creationTimestamp": "2026-05-04T09:58:12Z",
        "finalizers": ["whatsapp-operator.io/finalizer"],
        "annotations": {"whatsapp-operator.io/instance-id": str(ID)},
    }


def _instance(
    name: str,
    *,
    generation: int = 1,
    observed: int | None = None,
    required: bool = False,
    status: dict[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": _metadata(name, generation),
        "spec": {
            "instance": {"id": ID, "apiUrl": API_URL},
            "tokenSecretRef": {"name": "sales-greenapi"},
            "authorization": {"method": "QRCode", "requiredForReadiness": required},
            "settings": {
                "webhookUrl": SETTINGS["webhookUrl"],
                "incomingWebhook": True,
            },
        },
    }
    if status is not None:
        body["status"] = status
    return body


def _instance_status(
    *,
    generation: int,
    state: InstanceState | None,
    settings: SettingsOutcome,
    failure: Failure | None = None,
    required: bool = False,
    differing: tuple[str, ...] = (),
) -> dict[str, Any]:
    linking = None
    hint = ""
    account = None
    if state is InstanceState.NOT_AUTHORIZED:
        hint = _hint(AuthorizationMethod.QR_CODE, LINKING_SECRET)
        linking = LinkingStatus(
            phase=LinkingPhase.CODE_READY,
            method=AuthorizationMethod.QR_CODE,
            secret_name=LINKING_SECRET,
            window_started_at="2026-05-04T09:58:20Z",
            window_ends_at="2026-05-04T10:08:20Z",
            refreshed_at="2026-05-04T09:59:50Z",
            message=hint,
        )
    elif state is InstanceState.AUTHORIZED:
        account = Account(phone=PHONE, wid=f"{PHONE}@c.us", device_id="3A1F2B")
        linking = LinkingStatus(
            phase=LinkingPhase.LINKED,
            method=AuthorizationMethod.QR_CODE,
            message="A phone is linked",
        )
    facts = Facts(
        generation=generation,
        state=state,
        raw_state=state.value if state is not None else None,
        settings=settings,
        differing=differing,
        failure=failure,
        require_authorization=required,
        linking_hint=hint,
        phone=account.phone if account else "",
    )
    conditions = merge_conditions([], desired_conditions(facts), generation, NOW)
    status = WhatsAppInstanceStatus(
        observed_generation=generation,
        conditions=conditions,
        instance_id=ID,
        api_url=API_URL,
        state=state.value if state is not None else "",
        state_since=STAMP if state is not None else "",
        account=account,
        observed_settings=dict(SETTINGS) if settings is not SettingsOutcome.UNOBSERVED else {},
        linking=linking,
        last_error=failure.message if failure else "",
    )
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def _partner(name: str, *, generation: int = 1, status: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": PARTNER_KIND,
        "metadata": {
            key: value for key, value in _metadata(name, generation).items() if key != "annotations"
        },
        "spec": {
            "apiUrl": "https://api.green-api.com",
            "tokenSecretRef": {"name": "greenapi-partner", "key": "partnerToken"},
            "checkSeconds": 300,
        },
    }
    if status is not None:
        body["status"] = status
    return body


def _partner_status(
    generation: int,
    ready: tuple[str, str, str],
    *,
    reconciling: tuple[str, str, str] = (FALSE, "Converged", ""),
    stalled: tuple[str, str, str] = (FALSE, "NotStalled", ""),
    instances: int | None = None,
) -> dict[str, Any]:
    # The same assembly as whatsapp_operator.run.partners.PartnerReconciler.reconcile.
    conditions = merge_conditions(
        [],
        {
            ConditionType.READY: ready,
            ConditionType.RECONCILING: reconciling,
            ConditionType.STALLED: stalled,
        },
        generation,
        NOW,
    )
    status = WhatsAppPartnerStatus(
        observed_generation=generation,
        conditions=conditions,
        instances=instances,
        last_error="" if ready[0] == TRUE else ready[2],
    )
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def instance_objects() -> dict[str, dict[str, Any]]:
    s = _instance_status
    token = Failure(
        "TokenRejected",
        "GREEN-API rejected the token from Secret sales/sales-greenapi key apiTokenInstance "
        "(401); put the instance's apiTokenInstance there",
        permanent=True,
    )
    rate = Failure(
        "RateLimited", "GREEN-API answered 429 Too Many Requests; retrying in 30 s", False
    )
    in_sync, apply = SettingsOutcome.IN_SYNC, SettingsOutcome.APPLY
    authorized, not_authorized = InstanceState.AUTHORIZED, InstanceState.NOT_AUTHORIZED
    return {
        "no-status": _instance("sales", status=None),
        "stale-generation": _instance(
            "sales", generation=3, status=s(generation=2, state=authorized, settings=in_sync)
        ),
        "authorized": _instance(
            "sales", status=s(generation=1, state=authorized, settings=in_sync)
        ),
        "not-authorized": _instance(
            "sales", status=s(generation=1, state=not_authorized, settings=in_sync)
        ),
        "not-authorized-required": _instance(
            "sales",
            required=True,
            status=s(generation=1, state=not_authorized, settings=in_sync, required=True),
        ),
        "applying-settings": _instance(
            "sales",
            generation=2,
            status=s(generation=2, state=authorized, settings=apply, differing=("webhookUrl",)),
        ),
        "creating": _instance(
            "sales",
            status=s(
                generation=1,
                state=InstanceState.CREATING,
                settings=SettingsOutcome.WAITING_FOR_STATE,
                differing=("webhookUrl", "incomingWebhook"),
            ),
        ),
        "starting": _instance(
            "sales", status=s(generation=1, state=InstanceState.STARTING, settings=in_sync)
        ),
        "sleep-mode": _instance(
            "sales", status=s(generation=1, state=InstanceState.SLEEP_MODE, settings=in_sync)
        ),
        "rate-limited": _instance(
            "sales",
            status=s(generation=1, state=None, settings=SettingsOutcome.UNOBSERVED, failure=rate),
        ),
        "token-rejected": _instance(
            "sales",
            status=s(generation=1, state=None, settings=SettingsOutcome.UNOBSERVED, failure=token),
        ),
        "blocked": _instance(
            "sales", status=s(generation=1, state=InstanceState.BLOCKED, settings=in_sync)
        ),
        "yellow-card": _instance(
            "sales", status=s(generation=1, state=InstanceState.YELLOW_CARD, settings=in_sync)
        ),
        "settings-rejected": _instance(
            "sales",
            status=s(
                generation=1,
                state=authorized,
                settings=SettingsOutcome.REJECTED,
                differing=("webhookUrl",),
            ),
        ),
        "observe-drift": _instance(
            "sales",
            status=s(
                generation=1,
                state=authorized,
                settings=SettingsOutcome.OBSERVED_DRIFT,
                differing=("incomingWebhook",),
            ),
        ),
        "paused": _instance(
            "sales",
            status=s(
                generation=1,
                state=authorized,
                settings=SettingsOutcome.PAUSED,
                differing=("webhookUrl",),
            ),
        ),
    }


def partner_objects() -> dict[str, dict[str, Any]]:
    secret = "Secret sales/greenapi-partner key partnerToken"  # noqa: S105 (a name)
    rejected = f"GREEN-API rejected the partner token in {secret}"
    unavailable = "GREEN-API answered 503 Service Unavailable"
    missing = "Secret sales/greenapi-partner not found"
    return {
        "no-status": _partner("greenapi", status=None),
        "stale-generation": _partner(
            "greenapi",
            generation=2,
            status=_partner_status(
                1,
                (
                    TRUE,
                    "CredentialsValid",
                    "GREEN-API accepted the partner token (3 live instances)",
                ),
                instances=3,
            ),
        ),
        "healthy": _partner(
            "greenapi",
            status=_partner_status(
                1,
                (
                    TRUE,
                    "CredentialsValid",
                    "GREEN-API accepted the partner token (3 live instances)",
                ),
                instances=3,
            ),
        ),
        "token-rejected": _partner(
            "greenapi",
            status=_partner_status(
                1,
                (FALSE, "PartnerTokenRejected", rejected),
                stalled=(TRUE, "PartnerTokenRejected", rejected),
            ),
        ),
        "secret-not-found": _partner(
            "greenapi",
            status=_partner_status(
                1,
                (FALSE, "SecretNotFound", missing),
                stalled=(TRUE, "SecretNotFound", missing),
            ),
        ),
        "unavailable": _partner(
            "greenapi",
            status=_partner_status(
                1,
                (UNKNOWN, "GreenApiUnavailable", unavailable),
                reconciling=(TRUE, "RetryingAfterError", unavailable),
            ),
        ),
    }


def _sibling(name: str) -> ModuleType:
    # By path: this script runs as a file (and the tests load it that way), not as a package.
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rendered() -> dict[Path, str]:
    """Path -> file text for every testdata object."""
    reconciled = _sibling("reconciled_testdata")
    files: dict[Path, str] = {}
    for kind, objects in (
        (KIND, instance_objects()),
        (PARTNER_KIND, partner_objects()),
        (CLUSTER_PARTNER_KIND, reconciled.cluster_partner_objects()),
        (PROFILE_KIND, reconciled.profile_objects()),
    ):
        for name, body in objects.items():
            text = yaml.safe_dump(body, sort_keys=False, width=100)
            files[HERE / kind / "testdata" / f"{name}.yaml"] = text
    return files


def main() -> None:
    for path, text in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path)


if __name__ == "__main__":
    main()
