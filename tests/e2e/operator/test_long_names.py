"""Every valid resource name works: 64 and 253 characters, past the 63 of a label value.

Each Secret the operator writes carries the instance's name as a label, and the linking
Secret's name is derived from it; both used to break past 63 (label) and 247 (name)
characters, silently: linking stayed at "fetching a code" while the resource was Ready.
"""

from __future__ import annotations

import base64

import pytest
from kubernetes import client

from support.kube_helpers import has_condition, put_secret, wait_for
from support.long_names import long_name
from tests.e2e.operator.harness import FAST_INTERVALS, Emulator, OperatorProcess, Scenario
from whatsapp_operator import constants
from whatsapp_operator.decide.linking import secret_name
from whatsapp_operator.names import instance_selector, label_value

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("length", [64, 253])
def test_a_long_named_instance_links_by_qr_code_and_is_ready(
    scenario: Scenario, emulator: Emulator, operator: OperatorProcess, length: int
) -> None:
    name = long_name(length)
    log_start = operator.log_size()
    id_instance = scenario.seed(name)
    token_secret = f"token-{length}"
    put_secret(
        scenario.api, scenario.namespace, token_secret, {"apiTokenInstance": scenario.tokens[name]}
    )
    scenario.instances.create(
        name,
        {
            "instance": {
                "id": id_instance,
                "apiUrl": emulator.url,
                "tokenSecretRef": {"name": token_secret},
            },
            "settings": {"stateWebhook": True},
            "intervals": dict(FAST_INTERVALS),
        },
    )
    scenario.ready(name)

    linking_name = secret_name(name)
    assert len(linking_name) <= 253

    def linking_secret() -> client.V1Secret | None:
        found = client.CoreV1Api(scenario.api).list_namespaced_secret(
            scenario.namespace, label_selector=instance_selector(name)
        )
        return found.items[0] if found.items else None

    secret = wait_for(linking_secret, f"the linking Secret labelled for {name[:20]}...", 45)
    assert secret.metadata.name == linking_name
    labels = secret.metadata.labels
    assert labels[constants.LABEL_INSTANCE_NAME] == label_value(name)
    assert labels[constants.LABEL_SECRET_ROLE] == constants.ROLE_LINKING
    png = base64.b64decode(secret.data["qr.png"])
    assert png.startswith(PNG_SIGNATURE)
    scenario.leaks.add(f"QR code of the {length}-character name", secret.data["qr.png"])
    obj = scenario.instances.wait(
        name,
        lambda o: (o["status"].get("linking") or {}).get("phase") == "CodeReady",
        "linking phase CodeReady",
    )
    assert has_condition(obj, "Ready", "True")

    emulator.scan(id_instance, "79001112233")
    obj = scenario.instances.wait_condition(name, "Authorized", "True", "Authorized", timeout=45)
    assert has_condition(obj, "Ready", "True")
    wait_for(lambda: linking_secret() is None, "the linking Secret deleted after the scan", 20)
    assert "not written" not in operator.log_tail(log_start)
