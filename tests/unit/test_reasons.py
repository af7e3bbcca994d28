"""One catalog of reasons: every reason the code can produce is in it and documented."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from whatsapp_operator.decide import failures
from whatsapp_operator.ports import KubeError, ProvisioningFailure
from whatsapp_operator.reasons import CONDITIONS, EVENTS, FAILURES, Reason
from whatsapp_operator.wire import errors as gerr

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "whatsapp_operator"
REFERENCE = ROOT / "docs" / "reference.md"


def test_every_reason_is_in_the_catalog() -> None:
    assert set(Reason) == set(FAILURES) | set(EVENTS) | CONDITIONS
    # CONDITIONS holds the reasons that are neither a failure nor an Event, and only those.
    assert not CONDITIONS & (set(FAILURES) | set(EVENTS))


def test_every_reason_is_documented() -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    missing = [reason.value for reason in Reason if f"`{reason.value}`" not in reference]
    assert missing == []


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
