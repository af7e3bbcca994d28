"""What a reconcile refuses to do: reach an endpoint outside the allow-list, or act on a
resource its models cannot read. Both end in Stalled with the field named, and nothing read
or sent."""

from __future__ import annotations

from tests.unit.test_reconciler import (
    API_URL,
    HOOK_TOKEN,
    World,
    conditions,
    make_body,
    world,
)

__all__ = ["world"]  # the fixture, shared with the reconciler's own tests


async def test_an_api_url_outside_the_allow_list_reads_no_secret_and_sends_nothing(
    world: World,
) -> None:
    world.factory.refused.add("http://169.254.169.254")
    body = make_body(
        {"webhookUrlTokenSecretRef": {"name": "hook", "key": "token"}},
        instance={
            "id": 1101000001,
            "apiUrl": "http://169.254.169.254",
            "tokenSecretRef": {"name": "wa-token"},
        },
    )
    outcome = await world.run(body)
    assert world.secrets.reads == []
    assert world.factory.requests == []
    assert world.api.calls == []
    found = conditions(outcome)
    assert found["Stalled"] == ("True", "ApiUrlNotAllowed")
    assert found["Ready"][0] == "False"
    assert "spec.instance.apiUrl" in outcome.status.last_error
    assert ("Warning", "ApiUrlNotAllowed") in [(e.type, e.reason) for e in outcome.events]
    assert HOOK_TOKEN not in outcome.status.last_error
    # No instance to poll: only an edit helps, and an edit wakes it; a slow safety net.
    assert outcome.requeue_after >= 270


async def test_a_media_url_outside_the_allow_list_is_refused_too(world: World) -> None:
    world.factory.refused.add("https://internal.example")
    body = make_body(
        instance={
            "id": 1101000001,
            "apiUrl": API_URL,
            "mediaUrl": "https://internal.example",
            "tokenSecretRef": {"name": "wa-token"},
        },
    )
    outcome = await world.run(body)
    assert world.secrets.reads == []
    assert conditions(outcome)["Stalled"] == ("True", "ApiUrlNotAllowed")
    assert "spec.instance.mediaUrl" in outcome.status.last_error


async def test_a_resource_the_models_refuse_is_stalled_naming_the_field(world: World) -> None:
    body = make_body()
    body["spec"]["intervals"] = {"stateSeconds": "soon"}
    outcome = await world.run(body)
    assert world.secrets.reads == []
    assert world.factory.requests == []
    found = conditions(outcome)
    assert found["Stalled"] == ("True", "InvalidSpec")
    assert found["Ready"][0] == "False"
    assert "spec.intervals.stateSeconds" in outcome.status.last_error
    assert "soon" not in outcome.status.last_error  # values are not echoed
    assert outcome.status_patch is not None
    assert outcome.status.observed_generation == 1
    # Rechecked slowly: only an edit (which wakes it) can fix it.
    assert outcome.requeue_after >= 600
