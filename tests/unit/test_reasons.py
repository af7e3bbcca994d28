"""One catalog of reasons: every reason the code can produce is in it and documented."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from whatsapp_operator.decide import failures
from whatsapp_operator.ports import KubeError, ProvisioningFailure
from whatsapp_operator.reasons import EVENTS, FAILURES, Reason
from whatsapp_operator.wire import errors as gerr

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "whatsapp_operator"
REFERENCE = ROOT / "docs" / "reference.md"
# Constructors whose reason argument must come from the catalog, with its position.
REASON_ARGUMENT = {"Failure": 0, "ProvisioningFailure": 0, "Event": 1}


def test_every_reason_is_in_the_catalog() -> None:
    assert set(Reason) == set(FAILURES) | set(EVENTS)


def test_every_reason_is_documented() -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    missing = [reason.value for reason in Reason if f"`{reason.value}`" not in reference]
    assert missing == []


def literal_reasons(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        index = REASON_ARGUMENT.get(name)
        if index is None:
            continue
        argument = node.args[index] if len(node.args) > index else None
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}({argument.value!r})")
    return found


def test_no_reason_is_spelled_as_a_string_literal() -> None:
    layers = [PACKAGE / "decide", PACKAGE / "run"]
    found = [
        hit for layer in layers for path in layer.rglob("*.py") for hit in literal_reasons(path)
    ]
    assert found == []


def test_a_literal_reason_is_caught(tmp_path: Path) -> None:
    probe = PACKAGE / "decide" / "conditions.py"
    text = probe.read_text(encoding="utf-8") + '\n_PROBE = Failure("Made up", "x", False)\n'
    copy = tmp_path / "probe.py"
    copy.write_text(text, encoding="utf-8")
    assert literal_reasons.__name__
    tree_hits = [
        node
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Failure"
    ]
    assert any(isinstance(n.args[0], ast.Constant) for n in tree_hits)


def all_subclasses(kind: type) -> list[type]:
    found = []
    for sub in kind.__subclasses__():
        found += [sub, *all_subclasses(sub)]
    return found


def test_kubernetes_failure_reasons_are_in_the_catalog() -> None:
    reasons = {KubeError.reason} | {kind.reason for kind in all_subclasses(KubeError)}
    assert reasons <= {reason.value for reason in FAILURES}


@pytest.mark.parametrize("kind", all_subclasses(gerr.GreenApiError))
def test_every_green_api_error_maps_to_a_catalogued_failure(kind: type) -> None:
    error = kind("boom", code=500) if issubclass(kind, gerr.PartnerError) else kind("boom")
    for setback in (
        failures.from_greenapi(error, "Secret ns/x key k", "https://h", 1),
        failures.from_partner(error),
    ):
        assert setback.failure.reason in {reason.value for reason in FAILURES}
        if isinstance(error, gerr.QuotaExceeded | gerr.RateLimited | gerr.ServiceUnavailable):
            # Waiting helps: never Stalled (466 was once both permanent and retryable).
            assert not setback.failure.permanent
            assert setback.retry_after == error.retry_after


def test_provisioning_failures_raised_in_run_use_catalogued_reasons() -> None:
    assert issubclass(ProvisioningFailure, Exception)
    for path in (PACKAGE / "run").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ProvisioningFailure":
                reason = node.args[0]
                assert isinstance(reason, ast.Attribute), f"{path}:{node.lineno}"
                assert reason.attr in Reason.__members__, f"{path}:{node.lineno}"
