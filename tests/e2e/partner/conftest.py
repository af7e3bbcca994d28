"""Fixtures for partner mode end to end: the operator creates and deletes GREEN-API instances.

Per module: one emulator subprocess that accepts a random partner token (`--partner-token`)
and one operator subprocess watching `<prefix>-*`, both as in `tests/e2e/operator/` (whose
harness is reused by import). Per test: a fresh namespace (`scene`) holding the partner
token Secret; `scene.partner()` adds the WhatsAppPartner. After each test the namespace's
resources are deleted (the operator must release them), faults and emulator variants are
reset, and no GREEN-API call may have been answered 429.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.emulator_process import start_emulator_process, stop_emulator_process
from support.kube_helpers import (
    conditions_summary,
    create_namespace,
    delete_namespace,
    has_condition,
    put_secret,
    wait_for,
)
from tests.e2e.operator.harness import (
    EMULATOR_ARGS,
    FAST_INTERVALS,
    Emulator,
    OperatorProcess,
    Scenario,
    Secrets,
    remember,
)
from whatsapp_operator import constants
from whatsapp_operator.emulator.config import Timings, Variants
from whatsapp_operator.run.provisioning import instance_name, owned_token_secret

PARTNER = "gapi"
PARTNER_SECRET = "gapi-credentials"
# What each test starts from (tests change them at run time with PATCH /admin/config).
EMULATOR_DEFAULTS = {
    "timings": {"creationSeconds": 1.0},
    "variants": {"creationResponse": Variants().creation_response},
}
assert Timings().creation_seconds != 1.0  # the default is minutes; tests want one second


class PartnerEmulator(Emulator):
    """The harness's emulator client plus what partner tests need."""

    def instances(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/instances")
        return result

    def patch_config(self, patch: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", "/config", patch)
        return result

    def partner_calls(self, method: str) -> int:
        """Partner API calls of `method` (lower case) over the emulator's life, any outcome."""
        per_method = self.counters().get("partner", {})
        return int(per_method.get(method.lower(), {}).get("total", 0))

    def rotate_token(self, id_instance: int, token: str) -> str:
        """updateApiToken with the current token; the new token."""
        response = self.http.get(f"/waInstance{id_instance}/updateApiToken/{token}")
        assert response.status_code == 200, response.text
        new: str = response.json()["apiTokenInstance"]
        return new


@dataclass
class PartnerScene(Scenario):
    """A namespace with the module's partner token in a Secret."""

    partner_token: str = ""

    @property
    def objects(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def green(self) -> PartnerEmulator:
        assert isinstance(self.emulator, PartnerEmulator)
        return self.emulator

    def partner_secret(self, token: str | None = None) -> None:
        put_secret(
            self.api,
            self.namespace,
            PARTNER_SECRET,
            {"partnerToken": token if token is not None else self.partner_token},
        )

    def partner(self, name: str = PARTNER, *, token: str | None = None) -> dict[str, Any]:
        """The partner token Secret and a WhatsAppPartner pointing at the emulator."""
        self.partner_secret(token)
        body = {
            "apiVersion": constants.API_VERSION,
            "kind": constants.PARTNER_KIND,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "apiUrl": self.emulator.url,
                "tokenSecretRef": {"name": PARTNER_SECRET},
                "checkSeconds": 30,
            },
        }
        created: dict[str, Any] = self.objects.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, self.namespace, constants.PARTNER_PLURAL, body
        )
        return created

    def get_partner(self, name: str = PARTNER) -> dict[str, Any]:
        found: dict[str, Any] = self.objects.get_namespaced_custom_object(
            constants.GROUP, constants.VERSION, self.namespace, constants.PARTNER_PLURAL, name
        )
        return found

    def wait_partner(
        # Generous: a just-started operator's namespace watch can stay silent until
        # kopf's inactivity timeout (70 s) reconnects it, and only then does it see a
        # namespace created meanwhile (seen in a clean-clone run: 70 s + 20 s).
        self,
        status: str,
        reason: str,
        kind: str = "Ready",
        timeout: float = 150.0,
    ) -> dict[str, Any]:
        latest: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            nonlocal latest
            latest = self.get_partner()
            return latest if has_condition(latest, kind, status, reason) else None

        return wait_for(
            check,
            f"{self.namespace}/{PARTNER}: {kind}={status} reason {reason}",
            timeout,
            describe=lambda: conditions_summary(latest) if latest else "(not read)",
        )

    def partner_spec(self, **overrides: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "partnerRef": {"name": PARTNER},
            "instance": {"apiUrl": self.emulator.url},
            "intervals": dict(FAST_INTERVALS),
        }
        spec.update(overrides)
        return spec

    def create_partnered(
        self, name: str, *, annotations: dict[str, str] | None = None, **spec: Any
    ) -> dict[str, Any]:
        return self.instances.create(name, self.partner_spec(**spec), annotations)

    def marker(self, obj: dict[str, Any]) -> str:
        """The GREEN-API instance name the operator gives this resource's instance."""
        metadata = obj["metadata"]
        return instance_name(self.namespace, metadata["name"], metadata["uid"])

    def ours(self, *, live_only: bool = True) -> list[dict[str, Any]]:
        """Emulator instances created for this namespace (by their name)."""
        prefix = f"k8s:{self.namespace}/"
        return [
            i
            for i in self.green.instances()
            if i["name"].startswith(prefix) and not (live_only and i["deleted"])
        ]

    def remember_tokens(self) -> None:
        for item in self.ours(live_only=False):
            self.leaks.add(f"token of {item['name']}", item["apiTokenInstance"])

    def owned_token(self, name: str) -> str:
        return owned_token_secret(name)


def instance_id_of(obj: dict[str, Any]) -> int | None:
    value = (obj["metadata"].get("annotations") or {}).get(constants.ANNOTATION_INSTANCE_ID)
    return int(value) if value else None


def wait_gone(scene: Scenario, name: str, timeout: float = 30.0) -> None:
    def gone() -> bool:
        try:
            scene.instances.get(name)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    wait_for(gone, f"{scene.namespace}/{name} deleted", timeout)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def partner_token(leaks: Secrets) -> str:
    token = "gac." + secrets.token_hex(24)
    leaks.add("the partner token", token)
    return token


@pytest.fixture(scope="module")
def emulator(partner_token: str) -> Iterator[PartnerEmulator]:
    running = start_emulator_process(*EMULATOR_ARGS, "--partner-token", partner_token)
    wrapped = PartnerEmulator(running)
    try:
        yield wrapped
    finally:
        wrapped.close()
        stop_emulator_process(running)


@pytest.fixture
def scene(
    request: pytest.FixtureRequest,
    api: client.ApiClient,
    emulator: PartnerEmulator,
    operator: OperatorProcess,
    module_prefix: str,
    leaks: Secrets,
    partner_token: str,
    _namespace_numbers: Iterator[int],
) -> Iterator[PartnerScene]:
    """A fresh namespace watched by the module's operator, with the partner token Secret."""
    assert operator.process.poll() is None, "the operator process has exited"
    namespace = f"{module_prefix}-{next(_namespace_numbers)}"
    item = request.node
    remember(item, operator, emulator, namespace)
    emulator.patch_config(EMULATOR_DEFAULTS)
    throttled_before = emulator.too_many_requests()
    create_namespace(api, namespace)
    current = PartnerScene(
        api=api, namespace=namespace, emulator=emulator, leaks=leaks, partner_token=partner_token
    )
    yield current
    current.remember_tokens()
    leaks.keep(api, namespace)
    emulator.clear_faults()
    emulator.patch_config(EMULATOR_DEFAULTS)
    stuck = current.instances.delete_all_and_wait(timeout=45)
    delete_namespace(api, namespace)
    throttled = emulator.too_many_requests()
    assert throttled == throttled_before, f"GREEN-API answered 429: {throttled}"
    assert not stuck, f"the operator did not release (finalizer) {stuck} within 45 s"
    assert operator.process.poll() is None, "the operator process exited during the test"
