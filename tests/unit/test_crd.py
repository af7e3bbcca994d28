"""The committed CRD is generated from the models, and is a structural schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from whatsapp_operator.api.crd import (
    CLUSTER_PARTNER_CRD_FILE_NAME,
    CRD_FILE_NAME,
    PARTNER_CRD_FILE_NAME,
    build_crd,
    render_cluster_partner_crd_yaml,
    render_crd_yaml,
    render_partner_crd_yaml,
)
from whatsapp_operator.wire.models import Settings

REPO = Path(__file__).resolve().parents[2]
CRD_PATH = REPO / "crds" / CRD_FILE_NAME
REGENERATE = "whatsapp-operator crd --output-dir crds"


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    return build_crd()


@pytest.fixture(scope="module")
def version(crd: dict[str, Any]) -> dict[str, Any]:
    versions: list[dict[str, Any]] = crd["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


@pytest.fixture(scope="module")
def schema(version: dict[str, Any]) -> dict[str, Any]:
    root: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return root


def walk(node: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node (a dict) with its path; property names are not schema keys."""
    if not isinstance(node, dict):
        return
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")
    for key in ("allOf", "oneOf", "anyOf"):
        for index, child in enumerate(node.get(key, [])):
            yield from walk(child, f"{path}.{key}[{index}]")


def test_committed_crd_is_generated() -> None:
    assert CRD_PATH.read_text() == render_crd_yaml(), (
        f"{CRD_PATH.relative_to(REPO)} differs from the models; regenerate it with `{REGENERATE}`"
    )


def test_rendered_yaml_round_trips(crd: dict[str, Any]) -> None:
    assert yaml.safe_load(render_crd_yaml()) == crd


def test_identity(crd: dict[str, Any], version: dict[str, Any]) -> None:
    assert crd["metadata"]["name"] == "whatsappinstances.whatsapp-operator.io"
    assert crd["spec"]["names"]["kind"] == "WhatsAppInstance"
    assert crd["spec"]["scope"] == "Namespaced"
    assert version["served"]
    assert version["storage"]
    assert version["subresources"] == {"status": {}}


def test_schema_is_structural(schema: dict[str, Any]) -> None:
    problems = []
    for path, node in walk(schema):
        for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "title", "$defs", "definitions"):
            if forbidden in node:
                problems.append(f"{path}: has {forbidden}")
        if "properties" in node and node.get("type") != "object":
            problems.append(f"{path}: has properties but type {node.get('type')!r}")
        if "properties" in node and node.get("additionalProperties") is not None:
            problems.append(f"{path}: properties together with additionalProperties")
        if "items" in node and node.get("type") != "array":
            problems.append(f"{path}: has items but type {node.get('type')!r}")
        if (
            path != "$.metadata"
            and "type" not in node
            and not node.get("x-kubernetes-int-or-string")
        ):
            problems.append(f"{path}: no type")
        if "enum" in node and "type" not in node:
            problems.append(f"{path}: enum without type")
        if node.get("type") == "object" and not (
            "properties" in node
            or "additionalProperties" in node
            or node.get("x-kubernetes-preserve-unknown-fields")
            or path == "$.metadata"
        ):
            problems.append(f"{path}: object that the API server would prune empty")
        if "default" in node and node["default"] is None:
            problems.append(f"{path}: default null")
    assert problems == []


def test_printer_columns(version: dict[str, Any]) -> None:
    columns = {column["name"]: column for column in version["additionalPrinterColumns"]}
    for name in ("State", "Phone", "Ready", "Synced", "Age"):
        assert name in columns
        assert columns[name].get("priority", 0) == 0, name
    assert columns["Message"]["priority"] == 1
    assert columns["State"]["jsonPath"] == ".status.state"
    assert columns["Phone"]["jsonPath"] == ".status.account.phone"
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Synced"]["jsonPath"] == '.status.conditions[?(@.type=="Synced")].status'
    assert columns["Age"]["type"] == "date"


def test_status_conditions_are_a_map_keyed_by_type(schema: dict[str, Any]) -> None:
    status = schema["properties"]["status"]
    conditions = status["properties"]["conditions"]
    assert conditions["type"] == "array"
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert {"type", "status", "reason", "lastTransitionTime"} <= set(item["required"])
    assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert "observedGeneration" in item["properties"]
    assert "observedGeneration" in status["properties"]


def test_instance_id_is_immutable_and_adopt_or_create(schema: dict[str, Any]) -> None:
    spec = schema["properties"]["spec"]
    instance = spec["properties"]["instance"]
    rules = [v["rule"] for v in instance.get("x-kubernetes-validations", [])]
    assert "!has(oldSelf.id) || (has(self.id) && self.id == oldSelf.id)" in rules
    spec_rules = {v["rule"]: v["message"] for v in spec.get("x-kubernetes-validations", [])}
    assert "has(self.instance.id) || has(self.partnerRef)" in spec_rules
    assert "has(self.instance.tokenSecretRef) || has(self.partnerRef)" in spec_rules


def test_instance_id_cannot_be_added_after_creation(schema: dict[str, Any]) -> None:
    instance = schema["properties"]["spec"]["properties"]["instance"]
    rules = [v["rule"] for v in instance.get("x-kubernetes-validations", [])]
    assert "has(oldSelf.id) || !has(self.id)" in rules


def test_committed_cluster_partner_crd_is_generated() -> None:
    path = REPO / "crds" / CLUSTER_PARTNER_CRD_FILE_NAME
    assert path.read_text() == render_cluster_partner_crd_yaml(), (
        f"{path.relative_to(REPO)} differs from the models; regenerate it with `{REGENERATE}`"
    )
    crd = yaml.safe_load(path.read_text())
    assert crd["spec"]["scope"] == "Cluster"
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert "namespaceSelector" in spec["required"]
    assert "namespace" in spec["properties"]["tokenSecretRef"]["properties"]


def test_committed_partner_crd_is_generated() -> None:
    path = REPO / "crds" / PARTNER_CRD_FILE_NAME
    assert path.read_text() == render_partner_crd_yaml(), (
        f"{path.relative_to(REPO)} differs from the models; regenerate it with `{REGENERATE}`"
    )


def test_spec_is_required_and_token_only_by_reference(schema: dict[str, Any]) -> None:
    assert schema["required"] == ["spec"]
    instance = schema["properties"]["spec"]["properties"]["instance"]
    assert "tokenSecretRef" in instance["properties"]
    for path, _node in walk(schema):
        leaf = path.rsplit(".", 1)[-1].lower()
        assert leaf not in ("token", "apitokeninstance", "webhookurltoken"), path


def test_settings_are_green_api_wire_names(schema: dict[str, Any]) -> None:
    settings = schema["properties"]["spec"]["properties"]["settings"]["properties"]
    wire_names = {field.alias or name for name, field in Settings.model_fields.items()}
    unknown = set(settings) - wire_names - {"webhookUrlTokenSecretRef"}
    assert unknown == set()
    assert "webhookUrlTokenSecretRef" in settings
    # Read-only and credential-bearing keys are never managed.
    assert not {"wid", "proxyInstance", "webhookUrlToken"} & set(settings)


def test_section_defaults_are_spelled_out(schema: dict[str, Any]) -> None:
    spec = schema["properties"]["spec"]["properties"]
    assert spec["authorization"]["default"] == {
        "method": "QRCode",
        "windowMinutes": 10,
        "requiredForReadiness": False,
    }
    assert spec["intervals"]["default"] == {
        "stateSeconds": 60,
        "settingsSeconds": 300,
        "settleSeconds": 300,
    }
    assert spec["managementPolicy"]["default"] == "Manage"
    assert spec["settings"]["default"] == {}


@pytest.mark.parametrize(
    ("other", "other_field"),
    [
        ("self.instance.tokenSecretRef", "instance.tokenSecretRef.name"),
        ("self.settings.webhookUrlTokenSecretRef", "settings.webhookUrlTokenSecretRef.name"),
    ],
)
def test_connection_secret_may_not_be_a_referenced_secret(
    schema: dict[str, Any], other: str, other_field: str
) -> None:
    """Otherwise the operator would be asked to write over the Secret it reads a token from."""
    spec = schema["properties"]["spec"]
    rules = {v["rule"]: v["message"] for v in spec.get("x-kubernetes-validations", [])}
    rule = (
        f"!has(self.connectionSecret) || !has({other}) "
        f"|| self.connectionSecret.name != {other}.name"
    )
    assert rule in rules
    assert f"connectionSecret.name must differ from {other_field}" in rules[rule]


@pytest.mark.parametrize(
    "kind",
    ["WhatsAppInstance", "WhatsAppPartner", "ClusterWhatsAppPartner", "WhatsAppSettingsProfile"],
)
def test_every_status_field_is_described_for_kubectl_explain(kind: str) -> None:
    """`kubectl explain <kind>.status` prints the descriptions; an empty one says nothing."""
    from whatsapp_operator.api.crd import crd_files

    crds = [yaml.safe_load(text) for text in crd_files().values()]
    (found,) = [c for c in crds if c["spec"]["names"]["kind"] == kind]
    status = found["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    undescribed = [
        path
        for path, node in walk(status, "status")
        if path != "status" and not path.endswith(("[]", "{}")) and not node.get("description")
    ]
    assert undescribed == [], f"{kind}: describe these status fields: {undescribed}"
