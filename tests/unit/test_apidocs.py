"""docs/reference.md is generated, current, and covers the CRDs and the condition reasons."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from whatsapp_operator.api.crd import build_cluster_partner_crd, build_crd, build_partner_crd
from whatsapp_operator.decide.conditions import Facts, Failure, desired_conditions
from whatsapp_operator.decide.plan import SettingsOutcome
from whatsapp_operator.devtools.apidocs import render_reference
from whatsapp_operator.wire.models import InstanceState

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "docs" / "reference.md"
REGENERATE = "python -m whatsapp_operator.devtools.apidocs > docs/reference.md"


@pytest.fixture(scope="module")
def document() -> str:
    return render_reference()


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    root: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return root


def _leaves(node: dict[str, Any], path: str) -> Iterator[str]:
    """Leaf JSON paths, walked independently of apidocs (items `[]`, map values `.<key>`)."""
    children: list[tuple[str, dict[str, Any]]] = [
        (f"{path}.{name}", child) for name, child in node.get("properties", {}).items()
    ]
    if isinstance(node.get("items"), dict):
        children.append((f"{path}[]", node["items"]))
    if isinstance(node.get("additionalProperties"), dict):
        children.append((f"{path}.<key>", node["additionalProperties"]))
    if not children:
        yield path
    for child_path, child in children:
        yield from _leaves(child, child_path)


def test_reference_is_up_to_date(document: str) -> None:
    assert REFERENCE.exists(), f"docs/reference.md is missing; run `{REGENERATE}`"
    assert REFERENCE.read_text(encoding="utf-8") == document, (
        f"docs/reference.md is out of date; run `{REGENERATE}`"
    )


def test_header_tells_how_to_regenerate(document: str) -> None:
    assert f"`{REGENERATE}`" in document.splitlines()[2]


@pytest.mark.parametrize(
    "build",
    [build_crd, build_partner_crd, build_cluster_partner_crd],
    ids=["instance", "partner", "cluster-partner"],
)
def test_every_spec_leaf_is_documented(build: Any, document: str) -> None:
    crd: dict[str, Any] = build()
    spec = _schema(crd)["properties"]["spec"]
    leaves = list(_leaves(spec, "spec"))
    assert leaves
    missing = [path for path in leaves if f"| `{path}` |" not in document]
    assert not missing, f"spec fields missing from docs/reference.md: {missing}"


@pytest.mark.parametrize(
    "build",
    [build_crd, build_partner_crd, build_cluster_partner_crd],
    ids=["instance", "partner", "cluster-partner"],
)
def test_every_status_leaf_is_documented(build: Any, document: str) -> None:
    crd: dict[str, Any] = build()
    status = _schema(crd)["properties"]["status"]
    missing = [path for path in _leaves(status, "status") if f"| `{path}` |" not in document]
    assert not missing, f"status fields missing from docs/reference.md: {missing}"


def _validations(node: dict[str, Any]) -> Iterator[dict[str, str]]:
    yield from node.get("x-kubernetes-validations", [])
    for child in node.get("properties", {}).values():
        yield from _validations(child)
    if isinstance(node.get("items"), dict):
        yield from _validations(node["items"])


def test_every_cel_rule_is_documented(document: str) -> None:
    rules = [
        rule
        for build in (build_crd, build_partner_crd, build_cluster_partner_crd)
        for rule in _validations(_schema(build())["properties"]["spec"])
    ]
    assert rules
    for rule in rules:
        assert rule["rule"].replace("|", "\\|") in document
        assert rule["message"] in document


_FAILURES: tuple[Failure | None, ...] = (
    None,
    Failure("GreenApiUnavailable", "GREEN-API is down", permanent=False),
    Failure("TokenRejected", "GREEN-API rejected the token", permanent=True),
)


def test_every_producible_condition_reason_is_documented(document: str) -> None:
    reasons: set[str] = set()
    for state, outcome, failure, required in itertools.product(
        [None, *InstanceState], SettingsOutcome, _FAILURES, (False, True)
    ):
        facts = Facts(
            generation=1,
            state=state,
            raw_state="weird" if state is InstanceState.UNKNOWN else None,
            settings=outcome,
            differing=("webhookUrl",),
            failure=failure,
            require_authorization=required,
            linking_hint="scan the QR code",
            phone="79001234567",
        )
        for _status, reason, _message in desired_conditions(facts).values():
            reasons.add(reason)
    # The sample reaches every reason table in conditions.py.
    assert {"Ready", "Observing", "AwaitingAuthorization", "StateUnknown", "NotStalled"} <= reasons
    missing = sorted(reason for reason in reasons if f"`{reason}`" not in document)
    assert not missing, f"condition reasons missing from docs/reference.md: {missing}"


def test_condition_types_annotations_and_plan_events_are_documented(document: str) -> None:
    from whatsapp_operator import constants
    from whatsapp_operator.decide.events import PLAN_EVENTS

    names = [kind.value for kind in constants.ConditionType]
    names += list(constants.ACTION_ANNOTATIONS.values())
    names += [
        constants.ANNOTATION_PAUSED,
        constants.ANNOTATION_PAIR_PHONE,
        constants.ANNOTATION_INSTANCE_ID,
        constants.ANNOTATION_CREATE_PENDING,
        constants.ANNOTATION_CREATED_AT,
    ]
    names += [reason for _kind, reason, _message in PLAN_EVENTS.values()]
    missing = [name for name in names if f"`{name}`" not in document]
    assert not missing, f"missing from docs/reference.md: {missing}"


def test_every_kubernetes_failure_reason_is_documented(document: str) -> None:
    from whatsapp_operator.ports import KubeError

    reasons = {KubeError.reason} | {kind.reason for kind in KubeError.__subclasses__()}
    missing = sorted(reason for reason in reasons if f"`{reason}`" not in document)
    assert not missing, f"KubeError reasons missing from docs/reference.md: {missing}"
