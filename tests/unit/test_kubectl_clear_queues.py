"""`kubectl whatsapp clear-webhooks-queue|clear-messages-queue NAME`: one request by annotation."""

from __future__ import annotations

import copy
import io
from typing import Any, cast

import pytest

from whatsapp_operator import constants
from whatsapp_operator.kubectl import plugin
from whatsapp_operator.kubectl.cluster import Kube
from whatsapp_operator.kubectl.view import Output


class FakeKube:
    """One WhatsAppInstance; the operator handles a request as soon as it is patched in."""

    def __init__(self) -> None:
        self.obj: dict[str, Any] = {
            "metadata": {
                "name": "shop",
                "namespace": "team-a",
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "annotations": {},
            },
            "status": {"state": "authorized"},
        }
        self.patches: list[dict[str, Any]] = []

    def get(self, name: str) -> dict[str, Any]:
        assert name == "shop"
        return copy.deepcopy(self.obj)

    def patch(self, name: str, body: dict[str, Any]) -> None:
        self.patches.append(body)
        annotations = body["metadata"]["annotations"]
        self.obj["metadata"]["annotations"].update(annotations)
        for action, annotation in constants.ACTION_ANNOTATIONS.items():
            if annotation in annotations:
                handled = self.obj["status"].setdefault("handledActions", {})
                handled[action.value] = annotations[annotation]


@pytest.mark.parametrize(
    ("command", "action"),
    [
        ("clear-webhooks-queue", constants.Action.CLEAR_WEBHOOKS_QUEUE),
        ("clear-messages-queue", constants.Action.CLEAR_MESSAGES_QUEUE),
    ],
)
def test_a_queue_clear_is_asked_once_by_its_annotation(
    command: str, action: constants.Action
) -> None:
    kube = FakeKube()
    stream = io.StringIO()
    args = plugin.build_parser().parse_args([command, "shop", "--timeout", "5"])
    code = plugin.HANDLERS[args.command](cast(Kube, kube), args, Output(stream))
    assert code == 0, stream.getvalue()
    assert [list(p["metadata"]["annotations"]) for p in kube.patches] == [
        [constants.ACTION_ANNOTATIONS[action]]
    ]
    assert f"{action.value} handled" in stream.getvalue()
