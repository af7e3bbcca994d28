"""Partner mode over the account's life: a plan about to expire is warned about and one that
lapses stalls the instance; a token rotation whose answer is lost ends with the new token in
both Secrets and the old one unused, and rotation is refused at admission for a token Secret
the user owns.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.kube_helpers import action_stamp, events_for, has_condition, wait_for
from tests.e2e.operator.harness import ready_and_synced
from tests.e2e.partner.conftest import PartnerEmulator, PartnerScene, instance_id_of
from whatsapp_operator import constants
from whatsapp_operator.run.provisioning import TOKEN_KEY

THREE_DAYS = 3 * 86400


def reasons(scene: PartnerScene, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in events_for(scene.api, scene.namespace, name) if e["reason"] == reason]


def secret_value(scene: PartnerScene, name: str, key: str) -> str:
    secret = client.CoreV1Api(scene.api).read_namespaced_secret(name, scene.namespace)
    return base64.b64decode(secret.data[key]).decode()


def adopt_with_plan(scene: PartnerScene, emulator: PartnerEmulator, name: str, **plan: Any) -> int:
    """An authorized instance with `plan`, adopted through the partner by resource `name`."""
    id_instance = scene.seed(name, state="authorized")
    emulator.set_plan(id_instance, **plan)
    scene.partner()
    scene.objects.patch_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        scene.namespace,
        constants.PARTNER_PLURAL,
        "gapi",
        {"spec": {"allowAdoption": {"instanceIds": [id_instance]}}},
    )
    scene.instances.create(
        name, scene.partner_spec(instance={"id": id_instance, "apiUrl": emulator.url})
    )
    return id_instance


def test_a_plan_that_expires_in_three_days_gets_plan_expiring(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    adopt_with_plan(scene, emulator, "shop", expiresInSeconds=THREE_DAYS)
    obj = scene.instances.wait(
        "shop",
        lambda o: has_condition(o, "Ready", "True", "PlanExpiring"),
        "Ready=True PlanExpiring",
        60,
    )
    plan = obj["status"]["plan"]
    assert plan["known"] is True
    assert plan["expiring"] is True
    assert plan["expired"] is False
    assert plan["tariff"] == "PARTNER_23"
    assert "expires at" in plan["message"]
    warnings = wait_for(lambda: reasons(scene, "shop", "PlanExpiring"), "a PlanExpiring Event", 30)
    assert warnings[0]["type"] == "Warning"


def test_a_plan_that_lapses_stalls_with_instance_expired(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    adopt_with_plan(scene, emulator, "lapse", expiresInSeconds=30)
    obj = scene.instances.wait(
        "lapse",
        lambda o: has_condition(o, "Stalled", "True", "InstanceExpired"),
        "Stalled=True InstanceExpired",
        90,
    )
    assert obj["status"]["plan"]["expired"] is True
    assert has_condition(obj, "Ready", "False", "InstanceExpired")


def test_token_rotation_is_refused_at_admission_for_a_token_secret_you_own(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    spec = scene.partner_spec(
        instance={"id": 7105000999, "apiUrl": emulator.url, "tokenSecretRef": {"name": "mine"}},
        tokenRotation={"every": "720h"},
    )
    with pytest.raises(ApiException) as caught:
        scene.instances.create("owned", spec)
    assert caught.value.status == 422, caught.value.body
    message = json.loads(caught.value.body)["message"]
    assert "tokenRotation needs partnerRef and the operator's own token Secret" in message
    assert "a Secret you own is not rewritten" in message


def test_a_rotation_whose_answer_is_lost_recovers_the_new_token_into_both_secrets(
    scene: PartnerScene, emulator: PartnerEmulator
) -> None:
    scene.partner()
    scene.create_partnered("rot", connectionSecret={"name": "rot-conn"})
    obj = scene.instances.wait("rot", ready_and_synced, "Ready and Synced", 90)
    id_instance = instance_id_of(obj)
    assert id_instance is not None
    old = emulator.instance(id_instance)["apiTokenInstance"]
    scene.leaks.add("the rotated-out token", old)
    assert secret_value(scene, "rot-conn", "apiTokenInstance") == old

    # The token changes at GREEN-API, and the connection drops without an answer.
    emulator.set_faults([{"method": "updateApiToken", "loseAnswerRate": 1, "loseAnswerMs": 200}])
    scene.instances.annotate("rot", {constants.ANNOTATION_ROTATE_TOKEN: action_stamp()})
    recovered = scene.instances.wait(
        "rot",
        lambda o: (
            bool((o["status"].get("tokenRotation") or {}).get("lastRotatedAt"))
            and not (o["status"].get("tokenRotation") or {}).get("pendingSince")
        ),
        "the rotation recovered",
        60,
    )
    emulator.clear_faults()
    seen = emulator.instance(id_instance)
    assert seen["tokenGeneration"] == 1
    assert emulator.counters()[str(id_instance)]["updateapitoken"] == {"total": 1, "lost": 1}
    new = seen["apiTokenInstance"]
    assert new != old
    scene.leaks.add("the new token", new)
    assert secret_value(scene, scene.owned_token("rot"), TOKEN_KEY) == new
    assert secret_value(scene, "rot-conn", "apiTokenInstance") == new
    assert reasons(scene, "rot", "TokenRecovered")
    assert recovered["status"]["handledActions"]["rotate-token"]

    # The operator goes on polling, with the new token only.
    polls = emulator.calls(id_instance, "getstateinstance")
    wait_for(
        lambda: emulator.calls(id_instance, "getstateinstance") >= polls + 2 or None,
        "two more state polls",
        60,
    )
    assert emulator.instance(id_instance)["staleTokenCalls"] == 0
    assert has_condition(scene.instances.get("rot"), "Ready", "True")
