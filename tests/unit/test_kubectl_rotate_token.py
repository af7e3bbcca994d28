"""`kubectl whatsapp rotate-token NAME`: asks by annotation, waits, and says what came of it."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from typing import Any, cast

from tests.unit.test_kubectl_plugin_more import complete
from whatsapp_operator import constants
from whatsapp_operator.kubectl import plugin
from whatsapp_operator.kubectl.cluster import Kube
from whatsapp_operator.kubectl.view import Output

ANNOTATION = constants.ACTION_ANNOTATIONS[constants.Action.ROTATE_TOKEN]
SECRET_LOOKING = "rotatedTOKEN0001SUPERSECRET"


class FakeKube:
    """One WhatsAppInstance; `operator` plays the operator when the request is patched in."""

    def __init__(self, operator: Callable[[dict[str, Any], str], None]) -> None:
        self.obj: dict[str, Any] = {
            "metadata": {
                "name": "shop",
                "namespace": "team-a",
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "annotations": {},
            },
            "spec": {"partnerRef": {"name": "gapi"}, "connectionSecret": {"name": "shop-conn"}},
            "status": {"state": "authorized"},
        }
        self.operator = operator
        self.patches: list[dict[str, Any]] = []

    def get(self, name: str) -> dict[str, Any]:
        assert name == "shop"
        return copy.deepcopy(self.obj)

    def patch(self, name: str, body: dict[str, Any]) -> None:
        self.patches.append(body)
        annotations = body["metadata"]["annotations"]
        self.obj["metadata"]["annotations"].update(annotations)
        if ANNOTATION in annotations:
            value = annotations[ANNOTATION]
            status = self.obj["status"]
            status.setdefault("handledActions", {})["rotate-token"] = value
            self.operator(status, value)


def run(operator: Callable[[dict[str, Any], str], None]) -> tuple[int, str, FakeKube]:
    kube = FakeKube(operator)
    stream = io.StringIO()
    args = plugin.build_parser().parse_args(["rotate-token", "shop", "--timeout", "5"])
    code = plugin.HANDLERS[args.command](cast(Kube, kube), args, Output(stream))
    return code, stream.getvalue(), kube


def test_a_rotation_asks_once_by_annotation_and_names_both_secrets() -> None:
    def rotated(status: dict[str, Any], value: str) -> None:
        status["tokenRotation"] = {"lastRotatedAt": value}

    code, text, kube = run(rotated)
    assert code == 0
    assert len(kube.patches) == 1
    value = kube.patches[0]["metadata"]["annotations"][ANNOTATION]
    assert f"New token issued at {value}" in text
    assert "the connection Secret shop-conn" in text
    assert "rotate-token handled" in text


def test_a_refused_rotation_exits_1_with_the_reason() -> None:
    def refused(status: dict[str, Any], value: str) -> None:
        status["tokenRotation"] = {"refused": "Token rotation needs partnerRef: ..."}

    code, text, _ = run(refused)
    assert code == 1
    assert "Refused: Token rotation needs partnerRef" in text


def test_a_refusal_by_greenapi_exits_1() -> None:
    def refused(status: dict[str, Any], value: str) -> None:
        status["tokenRotation"] = {"lastRefusedAt": value, "lastRotatedAt": "2025-01-01T00:00:00Z"}

    code, text, _ = run(refused)
    assert code == 1
    assert "token is unchanged" in text


def test_a_lost_answer_says_the_token_is_being_recovered() -> None:
    def pending(status: dict[str, Any], value: str) -> None:
        status["tokenRotation"] = {"pendingSince": value}

    code, text, _ = run(pending)
    assert code == 0
    assert "recovering the new token" in text
    assert SECRET_LOOKING not in text


def test_rotate_token_completes_and_is_documented() -> None:
    assert complete("ro") == ["rotate-token"]
    help_text = plugin.build_parser().format_help()
    assert "rotate-token" in help_text


def test_an_operator_that_does_not_answer_exits_1() -> None:
    kube = FakeKube(lambda status, value: None)
    kube.patch = lambda name, body: kube.patches.append(body)  # type: ignore[method-assign]
    stream = io.StringIO()
    args = plugin.build_parser().parse_args(["rotate-token", "shop", "--timeout", "0"])
    assert plugin.cmd_action(cast(Kube, kube), args, Output(stream)) == 1
    assert "gave up" in stream.getvalue()
