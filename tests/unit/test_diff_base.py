"""The lean diff base: kopf's essence, without copying status and managedFields first."""

from __future__ import annotations

import copy
from typing import Any

import kopf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whatsapp_operator import constants
from whatsapp_operator.run import diff_base
from whatsapp_operator.run.diff_base import LeanDiffBaseStorage

KEY = "last-handled-configuration"


def _body() -> dict[str, Any]:
    return {
        "apiVersion": f"{constants.GROUP}/{constants.VERSION}",
        "kind": "WhatsAppInstance",
        "metadata": {
            "name": "sales",
            "namespace": "team-a",
            "uid": "u-1",
            "resourceVersion": "42",
            "generation": 3,
            "labels": {"team": "a"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": '{"spec":{}}',
                f"{constants.GROUP}/relink": "2026-12-06T10:00:00Z",
                "other.kopf.dev/last-handled-configuration": "{}",
                "note": "kept",
            },
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"settings": {"delaySendMessagesMilliseconds": 500}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "queues": {}},
    }


def _kopf_and_lean(body: dict[str, Any], extra: list[Any] | None = None) -> tuple[Any, Any]:
    kopf_own = kopf.AnnotationsDiffBaseStorage(prefix=constants.GROUP, key=KEY)
    lean = LeanDiffBaseStorage(prefix=constants.GROUP, key=KEY)
    return (
        kopf_own.build(body=kopf.Body(copy.deepcopy(body)), extra_fields=extra),
        lean.build(body=kopf.Body(body), extra_fields=extra),
    )


def test_the_essence_is_kopfs() -> None:
    expected, built = _kopf_and_lean(_body())
    assert built == expected
    assert "status" not in built
    assert built["metadata"]["annotations"]["note"] == "kept"
    assert built["spec"] == _body()["spec"]


def test_status_and_managed_fields_are_not_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    real = copy.deepcopy

    def watching(value: Any, memo: Any = None) -> Any:
        seen.append(value)
        return real(value, memo)

    monkeypatch.setattr(copy, "deepcopy", watching)
    body = _body()
    LeanDiffBaseStorage(prefix=constants.GROUP, key=KEY).build(body=kopf.Body(body))
    copied = [value for value in seen if isinstance(value, dict)]
    assert copied, "kopf copies the essence"
    for value in copied:
        assert "status" not in value
        assert value is not body["metadata"]
        assert "managedFields" not in str(value)
        assert "last-applied-configuration" not in str(value)


@pytest.mark.parametrize(
    "extra",
    [["status.conditions"], ["metadata.generation"], [("status", "queues")], ["spec.settings"]],
)
def test_fields_a_handler_names_are_kept_as_kopf_keeps_them(extra: list[Any]) -> None:
    expected, built = _kopf_and_lean(_body(), extra)
    assert built == expected


def test_a_ofdrs_owner_still_marks_the_key() -> None:
    body = _body()
    body["kind"] = "ReplicaSet"
    body["metadata"]["ownerReferences"] = [{"kind": "Deployment", "name": "d"}]
    expected, built = _kopf_and_lean(body)
    assert built == expected


_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
_tree = st.recursive(
    _leaf,
    lambda inner: st.dictionaries(st.text(min_size=1, max_size=4), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    spec=_tree,
    status=_tree,
    labels=st.dictionaries(st.text(min_size=1, max_size=4), st.text(max_size=4), max_size=2),
    annotations=st.dictionaries(
        st.sampled_from(
            [
                "note",
                "kubectl.kubernetes.io/last-applied-configuration",
                f"{constants.GROUP}/last-handled-configuration",
                "x.kopf.zalando.org/last-handled-configuration",
            ]
        ),
        st.text(max_size=4),
        max_size=3,
    ),
)
def test_any_body_gives_kopfs_essence(
    spec: Any, status: Any, labels: dict[str, str], annotations: dict[str, str]
) -> None:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Thing", "spec": spec, "status": status}
    body["metadata"] = {"name": "n", "labels": labels, "annotations": annotations}
    expected, built = _kopf_and_lean(body)
    assert built == expected


def test_a_metadata_field_named_by_a_handler_falls_back_to_kopfs_build() -> None:
    assert diff_base._names_dropped_fields(["metadata.generation"])
    assert diff_base._names_dropped_fields([("status", "x")])
    assert not diff_base._names_dropped_fields(["metadata.labels.team", "spec.a"])
