"""Partner mode against a real API server and the emulator: create, link, restore, rotate.

Every wait polls with a deadline.
"""

from __future__ import annotations

import base64
from typing import Any

from kubernetes import client

from support.kube_helpers import (
    action_stamp,
    condition,
    events_for,
    has_condition,
    put_secret,
    read_secret,
    wait_for,
)
from tests.e2e.operator.harness import (
    OperatorProcess,
    Secrets,
    assert_no_leaks,
    ready_and_synced,
    scrape,
    value,
)
from tests.e2e.partner.conftest import (
    PARTNER,
    PartnerEmulator,
    PartnerScene,
    instance_id_of,
    wait_gone,
)
from whatsapp_operator import constants

SETTINGS = {"stateWebhook": True, "incomingWebhook": False, "delaySendMessagesMilliseconds": 1500}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def reasons(scene: PartnerScene, name: str) -> list[tuple[str, str]]:
    return [(e["type"], e["reason"]) for e in events_for(scene.api, scene.namespace, name)]


def created_instance(scene: PartnerScene, name: str, timeout: float = 30.0) -> dict[str, Any]:
    """The resource once its instance-id annotation is there."""
    return scene.instances.wait(
        name, lambda obj: instance_id_of(obj) is not None, "instance-id annotation", timeout
    )


def test_create_ready_settings_linked(scene: PartnerScene, emulator: PartnerEmulator) -> None:
    scene.partner()
    scene.wait_partner("True", "CredentialsValid")
    creates_before = emulator.partner_calls("createInstance")
    name = "shop"
    scene.create_partnered(name, settings=SETTINGS, connectionSecret={"name": "shop-conn"})

    obj = scene.instances.wait(name, ready_and_synced, "Ready=True and Synced=True", 90)
    annotations = obj["metadata"]["annotations"]
    id_instance = instance_id_of(obj)
    assert id_instance is not None
    assert constants.ANNOTATION_CREATE_PENDING not in annotations
    assert annotations[constants.ANNOTATION_CREATED_AT]
    assert obj["status"]["instanceId"] == id_instance
    assert obj["status"]["apiUrl"] == emulator.url
    assert emulator.partner_calls("createInstance") == creates_before + 1

    created = emulator.instance(id_instance)
    assert created["name"] == scene.marker(obj)
    assert [i["idInstance"] for i in scene.ours()] == [id_instance]
    # The settings went with createInstance: nothing was left to set afterwards.
    assert created["setSettingsLog"] == []
    applied = created["settings"]
    assert (applied["stateWebhook"], applied["incomingWebhook"]) == ("yes", "no")
    assert applied["delaySendMessagesMilliseconds"] == 1500

    token = created["apiTokenInstance"]
    owned = read_secret(scene.api, scene.namespace, scene.owned_token(name))
    assert owned == {"apiTokenInstance": token.encode()}
    owner_refs = scene.api.sanitize_for_serialization(
        client.CoreV1Api(scene.api)
        .read_namespaced_secret(scene.owned_token(name), scene.namespace)
        .metadata.owner_references
    )
    assert [(r["kind"], r["uid"]) for r in owner_refs] == [(constants.KIND, obj["metadata"]["uid"])]
    connection = read_secret(scene.api, scene.namespace, "shop-conn")
    assert connection is not None
    assert connection["idInstance"] == str(id_instance).encode()
    assert connection["apiUrl"] == emulator.url.encode()
    assert connection["apiTokenInstance"] == token.encode()

    linking = wait_for(
        lambda: read_secret(scene.api, scene.namespace, f"{name}-linking"),
        "linking Secret",
        30,
    )
    assert linking["qr.png"].startswith(PNG_SIGNATURE)
    scene.leaks.add("QR code of shop", base64.b64encode(linking["qr.png"]).decode())
    emulator.scan(id_instance, "79001112233")
    linked = scene.instances.wait_condition(name, "Authorized", "True", timeout=40)
    assert linked["status"]["account"]["phone"] == "79001112233"
    assert has_condition(linked, "Ready", "True")
    assert ("Normal", "InstanceDeleted") not in reasons(scene, name)
    assert emulator.partner_calls("createInstance") == creates_before + 1


def test_slow_creation_reports_creating_then_ready(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    emulator.patch_config({"timings": {"creationSeconds": 8}})
    scene.partner()
    scene.create_partnered("slow")
    seen: list[str] = []

    def creating(obj: dict[str, Any]) -> bool:
        seen.append(conditions_line(obj))
        return (obj.get("status") or {}).get("state") == "creating" and has_condition(
            obj, "Reconciling", "True", "Creating"
        )

    obj = scene.instances.wait("slow", creating, "state creating, Reconciling=True", 20)
    assert condition(obj, "Stalled")["status"] == "False"  # type: ignore[index]
    assert condition(obj, "Ready")["status"] != "True"  # type: ignore[index]
    done = scene.instances.wait(
        "slow",
        lambda o: (
            (o.get("status") or {}).get("state") == "notAuthorized"
            and has_condition(o, "Ready", "True")
        ),
        "notAuthorized and Ready",
        30,
    )
    assert has_condition(done, "Stalled", "False")
    assert len(scene.ours()) == 1
    assert not any("Stalled=True" in line for line in seen), seen


def conditions_line(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    parts = [f"{c['type']}={c['status']}/{c['reason']}" for c in status.get("conditions") or []]
    return f"state={status.get('state')!r} " + " ".join(parts)


def test_unauthorized_while_creating_is_still_creating(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    emulator.patch_config(
        {"timings": {"creationSeconds": 8}, "variants": {"creationResponse": "unauthorized"}}
    )
    scene.partner()
    scene.create_partnered("early")
    seen: list[str] = []

    def creating(obj: dict[str, Any]) -> bool:
        seen.append(conditions_line(obj))
        return (obj.get("status") or {}).get("state") == "creating"

    scene.instances.wait("early", creating, "state creating", 20)
    done = scene.instances.wait(
        "early",
        lambda o: (
            seen.append(conditions_line(o)) is None
            and (o.get("status") or {}).get("state") == "notAuthorized"
            and has_condition(o, "Ready", "True")
        ),
        "notAuthorized and Ready",
        30,
    )
    assert has_condition(done, "Stalled", "False")
    assert not any("Stalled=True" in line or "TokenRejected" in line for line in seen), seen
    assert ("Warning", "TokenRejected") not in reasons(scene, "early")
    assert len(scene.ours()) == 1


def test_two_resources_created_at_once_get_two_instances(scene: PartnerScene) -> None:
    scene.partner()
    scene.create_partnered("twin-a")
    scene.create_partnered("twin-b")
    a = scene.instances.wait("twin-a", ready_and_synced, "Ready and Synced", 90)
    b = scene.instances.wait("twin-b", ready_and_synced, "Ready and Synced", 90)
    ids = {instance_id_of(a), instance_id_of(b)}
    assert None not in ids
    assert len(ids) == 2
    live = {i["idInstance"]: i["name"] for i in scene.ours()}
    assert live == {instance_id_of(a): scene.marker(a), instance_id_of(b): scene.marker(b)}


def partner_ready_series(operator: OperatorProcess, scene: PartnerScene, status: str) -> bool:
    """Whether /metrics says the partner's Ready condition is `status` (what the
    WhatsAppPartnerCredentialsFailing alert reads)."""
    labels = {"kind": constants.PARTNER_KIND, "namespace": scene.namespace, "name": PARTNER}
    ready = {**labels, "condition": "Ready"}
    return (
        value(scrape(operator), "whatsapp_operator_resource_condition", **ready, status=status) == 1
    )


def test_wrong_partner_token_stalls_then_recovers_with_one_instance(
    scene: PartnerScene, emulator: PartnerEmulator, operator: OperatorProcess
) -> None:
    wrong = "gac." + "0" * 48
    scene.leaks.add("the wrong partner token", wrong)
    scene.partner(token=wrong)
    partner = scene.wait_partner("True", "PartnerTokenRejected", kind="Stalled")
    assert has_condition(partner, "Ready", "False", "PartnerTokenRejected")
    wait_for(lambda: partner_ready_series(operator, scene, "False"), "Ready=False in /metrics", 30)
    creates_before = emulator.partner_calls("createInstance")

    scene.create_partnered("denied")
    stalled = scene.instances.wait_condition(
        "denied", "Stalled", "True", "PartnerTokenRejected", timeout=30
    )
    assert has_condition(stalled, "Ready", "False")
    assert scene.ours() == []
    # The look-up for an instance of an earlier incarnation is refused first, so a wrong
    # token never reaches createInstance.
    assert emulator.partner_calls("createInstance") == creates_before

    scene.partner_secret()  # the right token
    scene.wait_partner("True", "CredentialsValid")
    wait_for(lambda: partner_ready_series(operator, scene, "True"), "Ready=True in /metrics", 30)
    obj = scene.instances.wait("denied", ready_and_synced, "Ready and Synced", 60)
    assert has_condition(obj, "Stalled", "False")
    live = scene.ours()
    assert [i["idInstance"] for i in live] == [instance_id_of(obj)]
    assert live[0]["name"] == scene.marker(obj)
    assert emulator.partner_calls("createInstance") == creates_before + 1


def test_restore_without_status_adopts_instead_of_creating(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    scene.partner()
    name = "keep"
    scene.create_partnered(name, connectionSecret={"name": "keep-conn"})
    before = scene.instances.wait(name, ready_and_synced, "Ready and Synced", 90)
    id_instance = instance_id_of(before)
    # A backup: metadata as saved (annotations included), spec; never status or uid.
    saved_annotations = dict(before["metadata"]["annotations"])
    assert saved_annotations[constants.ANNOTATION_INSTANCE_ID] == str(id_instance)
    saved_spec = before["spec"]
    live_before = [i["idInstance"] for i in scene.ours()]
    creates_before = emulator.partner_calls("createInstance")

    scene.instances.delete(name)  # deletionPolicy Orphan (the default)
    wait_gone(scene, name)
    assert emulator.instance(id_instance)["deleted"] is False

    scene.instances.create(name, saved_spec, saved_annotations)
    after = scene.instances.wait(name, ready_and_synced, "Ready and Synced", 90)
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    assert after["status"]["instanceId"] == id_instance
    assert instance_id_of(after) == id_instance
    assert [i["idInstance"] for i in scene.ours()] == live_before
    assert emulator.partner_calls("createInstance") == creates_before
    # The Secrets the operator owns follow the new object (the old ones were collected).
    token = emulator.instance(id_instance)["apiTokenInstance"]

    def secrets_rewritten() -> bool:
        owned = read_secret(scene.api, scene.namespace, scene.owned_token(name))
        connection = read_secret(scene.api, scene.namespace, "keep-conn")
        return bool(
            owned
            and connection
            and owned["apiTokenInstance"] == token.encode()
            and connection["apiTokenInstance"] == token.encode()
        )

    wait_for(secrets_rewritten, "token and connection Secrets of the restored object", 60)
    final = scene.instances.wait(name, ready_and_synced, "still Ready", 10)
    assert has_condition(final, "Stalled", "False")


def test_token_rotation_in_adopt_mode(scene: PartnerScene, emulator: PartnerEmulator) -> None:
    name = "rot"
    id_instance = scene.seed(name)
    scene.create(name)
    scene.ready(name)
    old = scene.tokens[name]
    new = emulator.rotate_token(id_instance, old)
    scene.leaks.add("rotated token", new)
    put_secret(scene.api, scene.namespace, f"{name}-token", {"apiTokenInstance": new})
    # A reconcile after the new token is in place proves it works: ask for one, wait for it.
    request = action_stamp()
    scene.instances.annotate(name, {constants.ANNOTATION_RECONCILE: request})
    obj = scene.instances.wait(
        name,
        lambda o: (
            (o.get("status") or {}).get("handledActions", {}).get("reconcile") == request
            and has_condition(o, "Ready", "True")
        ),
        "a reconcile with the rotated token, Ready",
        40,
    )
    assert has_condition(obj, "Stalled", "False")

    wrong = "f" * 50
    put_secret(scene.api, scene.namespace, f"{name}-token", {"apiTokenInstance": wrong})
    scene.instances.annotate(name, {constants.ANNOTATION_RECONCILE: action_stamp()})
    stalled = scene.instances.wait_condition(name, "Stalled", "True", "TokenRejected", timeout=40)
    assert has_condition(stalled, "Ready", "False")


def test_token_rotation_of_a_created_instance(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    scene.partner()
    name = "prot"
    scene.create_partnered(name)
    obj = scene.instances.wait(name, ready_and_synced, "Ready and Synced", 90)
    id_instance = instance_id_of(obj)
    assert id_instance is not None
    old = emulator.instance(id_instance)["apiTokenInstance"]
    new = emulator.rotate_token(id_instance, old)
    scene.leaks.add("rotated token of a created instance", new)
    put_secret(scene.api, scene.namespace, scene.owned_token(name), {"apiTokenInstance": new})
    request = action_stamp()
    scene.instances.annotate(name, {constants.ANNOTATION_RECONCILE: request})
    after = scene.instances.wait(
        name,
        lambda o: (
            (o.get("status") or {}).get("handledActions", {}).get("reconcile") == request
            and has_condition(o, "Ready", "True")
        ),
        "a reconcile with the rotated token, Ready",
        40,
    )
    assert after["status"]["state"] == "notAuthorized"
    assert len(scene.ours()) == 1


def test_wrong_owned_token_after_creation_is_token_rejected(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    """Creation is visibly over (notAuthorized seen); a 401 now is the token, not creation."""
    scene.partner()
    name = "pwrong"
    scene.create_partnered(name)
    obj = scene.instances.wait(name, ready_and_synced, "Ready and Synced", 90)
    assert obj["status"]["state"] == "notAuthorized"
    wrong = "e" * 50
    put_secret(scene.api, scene.namespace, scene.owned_token(name), {"apiTokenInstance": wrong})
    request = action_stamp()
    scene.instances.annotate(name, {constants.ANNOTATION_RECONCILE: request})
    scene.instances.wait(
        name,
        lambda o: (o.get("status") or {}).get("handledActions", {}).get("reconcile") == request,
        "the reconcile after the wrong token",
        40,
    )
    latest = scene.instances.get(name)
    assert has_condition(latest, "Stalled", "True", "TokenRejected"), conditions_line(latest)


def test_no_secret_in_logs_events_or_resources(
    scene: PartnerScene,
    emulator: PartnerEmulator,
    operator: OperatorProcess,
    leaks: Secrets,
) -> None:
    """Runs last in the module: every token and QR code seen so far, searched everywhere."""
    scene.partner()
    scene.create_partnered("last")
    scene.instances.wait("last", ready_and_synced, "Ready and Synced", 90)
    scene.remember_tokens()
    assert any("partner token" in label for label in leaks.values)
    assert sum(label.startswith("token of k8s:") for label in leaks.values) >= 8
    partner = scene.get_partner(PARTNER)
    leaks.archive[f"WhatsAppPartner in {scene.namespace}"] = str(partner)
    assert_no_leaks(leaks, operator, emulator, scene.api, scene.namespace)
