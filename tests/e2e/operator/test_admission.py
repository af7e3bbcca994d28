"""Invalid WhatsAppInstances never reach the operator: the API server refuses them.

The CRD's OpenAPI schema and CEL rules are generated from the same pydantic
models the operator uses; here a real API server enforces them. The action
annotations, which a CRD's rules cannot see, are checked by the
ValidatingAdmissionPolicy of manifests/admission.yaml. No operator runs.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.kube_helpers import Instances, create_namespace, delete_namespace, wait_for
from whatsapp_operator import constants

ADMISSION = Path(__file__).resolve().parents[3] / "manifests" / "admission.yaml"


@pytest.fixture(scope="module")
def instances(api: client.ApiClient) -> Iterator[Instances]:
    namespace = f"waop-admission-{secrets.token_hex(3)}"
    create_namespace(api, namespace)
    try:
        yield Instances(api, namespace)
    finally:
        delete_namespace(api, namespace)


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "instance": {
            "id": 7105000101,
            "apiUrl": "http://127.0.0.1:9",
            "tokenSecretRef": {"name": "token"},
        },
    }
    base.update(overrides)
    return base


def rejected(instances: Instances, name: str, body_spec: dict[str, Any], **kwargs: Any) -> str:
    """Create and expect a 422; return the API server's message."""
    with pytest.raises(ApiException) as caught:
        instances.create(name, body_spec, **kwargs)
    assert caught.value.status == 422, caught.value.body
    message: str = json.loads(caught.value.body)["message"]
    return message


INVALID = [
    (
        "delay-below-minimum",
        spec(settings={"delaySendMessagesMilliseconds": 100}),
        [
            "spec.settings.delaySendMessagesMilliseconds",
            "should be greater than or equal to 500",
        ],
    ),
    (
        "auto-typing-out-of-range",
        spec(settings={"autoTyping": 9}),
        ["spec.settings.autoTyping", "should be less than or equal to 4"],
    ),
    (
        "phone-method-without-number",
        spec(authorization={"method": "PhoneNumber"}),
        ["authorization.phoneNumber is required when method is PhoneNumber"],
    ),
    (
        "state-poll-too-often",
        spec(intervals={"stateSeconds": 5}),
        ["spec.intervals.stateSeconds", "should be greater than or equal to 10"],
    ),
    (
        "webhook-not-http",
        spec(settings={"webhookUrl": "ftp://example.com/hook"}),
        ["webhookUrl must be empty or an http(s) URL"],
    ),
    (
        "unknown-policy",
        spec(managementPolicy="Enforce"),
        ["spec.managementPolicy", 'supported values: "Manage", "Observe"'],
    ),
    (
        "settings-bool-as-string",
        spec(settings={"stateWebhook": "yes"}),
        ["spec.settings.stateWebhook", "must be of type boolean"],
    ),
    (
        "connection-secret-is-the-token-secret",
        spec(connectionSecret={"name": "token"}),
        ["connectionSecret.name must differ from instance.tokenSecretRef.name"],
    ),
    (
        "connection-secret-is-the-webhook-token-secret",
        spec(
            connectionSecret={"name": "hook"},
            settings={"webhookUrlTokenSecretRef": {"name": "hook", "key": "token"}},
        ),
        ["connectionSecret.name must differ from settings.webhookUrlTokenSecretRef.name"],
    ),
]


@pytest.mark.parametrize(("case", "body_spec", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_spec_is_rejected_with_a_clear_message(
    instances: Instances, case: str, body_spec: dict[str, Any], expected: list[str]
) -> None:
    message = rejected(instances, case, body_spec)
    for part in expected:
        assert part in message, message
    assert instances.list() == []


def test_instance_id_is_immutable(instances: Instances) -> None:
    instances.create("immutable", spec())
    with pytest.raises(ApiException) as caught:
        instances.patch("immutable", {"spec": {"instance": {"id": 7105000102}}})
    assert caught.value.status == 422
    assert "instance.id is immutable once set" in json.loads(caught.value.body)["message"]
    # Other fields of the same object stay editable.
    patched = instances.patch("immutable", {"spec": {"settings": {"stateWebhook": True}}})
    assert patched["spec"]["instance"]["id"] == 7105000101
    assert patched["spec"]["settings"] == {"stateWebhook": True}
    instances.delete("immutable")


def test_unknown_settings_field_is_pruned_or_rejected_strictly(instances: Instances) -> None:
    body_spec = spec(settings={"stateWebhook": True, "noSuchSetting": True})
    # Default field validation (Warn): the structural schema prunes the unknown key.
    created = instances.create("pruned", body_spec)
    assert created["spec"]["settings"] == {"stateWebhook": True}
    assert "noSuchSetting" not in instances.get("pruned")["spec"]["settings"]
    instances.delete("pruned")
    # Strict field validation (kubectl's default): the request is refused naming the field.
    with pytest.raises(ApiException) as caught:
        instances.create("strict", body_spec, field_validation="Strict")
    assert caught.value.status in (400, 422), caught.value.body
    assert 'unknown field "spec.settings.noSuchSetting"' in json.loads(caught.value.body)["message"]


def test_defaults_are_filled_in(instances: Instances) -> None:
    created = instances.create("defaults", spec())
    filled = created["spec"]
    assert filled["managementPolicy"] == "Manage"
    assert filled["instance"]["tokenSecretRef"]["key"] == "apiTokenInstance"
    assert filled["intervals"] == {"stateSeconds": 60, "settingsSeconds": 300, "settleSeconds": 300}
    assert filled["authorization"]["method"] == "QRCode"
    instances.delete("defaults")


@pytest.fixture
def action_policy(api: client.ApiClient) -> Iterator[None]:
    """manifests/admission.yaml installed, and removed afterwards."""
    admission = client.AdmissionregistrationV1Api(api)
    policy, binding = yaml.safe_load_all(ADMISSION.read_text(encoding="utf-8"))
    admission.create_validating_admission_policy(policy)
    admission.create_validating_admission_policy_binding(binding)
    try:
        yield
    finally:
        admission.delete_validating_admission_policy_binding(binding["metadata"]["name"])
        admission.delete_validating_admission_policy(policy["metadata"]["name"])


def test_action_annotations_must_be_timestamps_with_a_zone(
    instances: Instances, action_policy: None
) -> None:
    logout = constants.ANNOTATION_LOGOUT
    # Held before the policy existed: the object stays writable (the operator adds its
    # finalizer and annotations), the value stays refused by the operator itself.
    instances.create("held", spec(), annotations={logout: "manual-1"})

    def refusal() -> str | None:
        try:
            instances.create("probe", spec(), annotations={logout: "manual-1"})
        except ApiException as error:
            if error.status == 422:
                return str(json.loads(error.body)["message"])
            raise
        instances.delete("probe")  # the API server has not loaded the policy yet
        return None

    message = wait_for(refusal, "the admission policy to refuse logout-requested-at: manual-1")
    assert logout in message, message
    assert "RFC 3339 timestamp with a time zone" in message, message
    assert "probe" not in [item["metadata"]["name"] for item in instances.list()]

    for value in ("2024-05-01T10:00:00", "2024-05-01", "1767355000", "2024-05-01 10:00:00Z"):
        with pytest.raises(ApiException) as caught:
            instances.create("refused", spec(), annotations={constants.ANNOTATION_REBOOT: value})
        assert caught.value.status == 422, value
        assert constants.ANNOTATION_REBOOT in json.loads(caught.value.body)["message"]

    instances.create("stamped", spec(), annotations={logout: "2026-05-01T10:00:00Z"})
    instances.annotate("stamped", {logout: "2026-05-01T12:30:00.5+02:00"})
    with pytest.raises(ApiException) as caught:
        instances.annotate("stamped", {logout: "manual-2"})
    assert caught.value.status == 422
    assert instances.get("stamped")["metadata"]["annotations"][logout] == (
        "2026-05-01T12:30:00.5+02:00"
    )

    # The held value may stay; it may not be replaced by another such value.
    instances.annotate("held", {constants.ANNOTATION_LOGOUT_PERFORMED: "2026-05-01T10:00:00Z"})
    with pytest.raises(ApiException) as caught:
        instances.annotate("held", {logout: "manual-2"})
    assert caught.value.status == 422
    for name in ("held", "stamped"):
        instances.delete(name)
