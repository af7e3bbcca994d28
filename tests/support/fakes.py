"""In-memory collaborators for `run.reconcile.Reconciler` (no network, no cluster).

* `FakeInstanceApi` implements the reconciler's `InstanceApi` protocol: it records every
  call, can be told to raise any `greenapi.errors` exception per method, and (by default)
  applies setSettings to what getSettings answers, like GREEN-API eventually does.
* `FakeGreenApiFactory` hands out that one instance and records the credentials asked for.
* `FakeSecrets` implements `SecretsApi` (read_secret_key, apply_secret, delete_secret).
* `FixedClock` is the reconciler's clock; tests move it explicitly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr

from whatsapp_operator import constants
from whatsapp_operator.ports import (
    KubeError,
    Owner,
    SecretKeyMissing,
    SecretNotFound,
    SecretNotOwned,
    SecretValue,
)
from whatsapp_operator.wire.errors import EndpointNotAllowed, GreenApiError, TransportFailure
from whatsapp_operator.wire.models import (
    AuthorizationCode,
    InstanceState,
    QrFrame,
    QrKind,
    QueueClearResult,
    Settings,
    StateReport,
    WaSettings,
)

# A 1x1 PNG, base64: what GREEN-API's qrCode frames carry.
PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Call:
    method: str
    args: tuple[Any, ...] = ()


@dataclass
class FakeInstanceApi:
    state: InstanceState = InstanceState.AUTHORIZED
    raw_state: str | None = None
    settings: Settings = field(default_factory=Settings)
    wa: WaSettings = field(
        default_factory=lambda: WaSettings(phone="79001234567", device_id="dev-1", avatar="")
    )
    # setSettings changes what getSettings answers (False: GREEN-API "drops" the write).
    apply_writes: bool = True
    # method name -> exception raised by that method (until removed)
    errors: dict[str, GreenApiError] = field(default_factory=dict)
    qr_frames: list[QrFrame] = field(
        default_factory=lambda: [
            QrFrame(kind=QrKind.QR_CODE, raw_type="qrCode", image_png_base64=SecretStr(PNG_BASE64))
        ]
    )
    pairing_code: str = "ABCD-1234"
    # every call, failed ones included
    calls: list[Call] = field(default_factory=list)
    # setSettings bodies that were accepted (did not raise)
    writes: list[Settings] = field(default_factory=list)
    # Methods that take effect but whose answer never arrives (the client times out).
    lose_answers: set[str] = field(default_factory=set)
    # The queues: counts, and leftTime answers for the next clears (once-a-minute limit).
    webhooks_count: int = 0
    messages_count: int = 0
    clear_left_time: dict[str, int] = field(default_factory=dict)
    # Tokens updateApiToken issued, in order (each one made the one before it dead).
    issued_tokens: list[str] = field(default_factory=list)

    def _enter(self, method: str, *args: Any) -> None:
        self.calls.append(Call(method, args))
        error = self.errors.get(method)
        if error is not None:
            raise error

    def _answer(self, method: str) -> None:
        if method in self.lose_answers:
            raise TransportFailure(f"{method}: GREEN-API did not answer in time", method=method)

    def called(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def get_state(self) -> StateReport:
        self._enter("get_state")
        return StateReport(state=self.state, raw=self.raw_state or self.state.value)

    async def get_settings(self) -> Settings:
        self._enter("get_settings")
        return self.settings

    async def set_settings(self, settings: Settings) -> bool:
        self._enter("set_settings", settings)
        self.writes.append(settings)
        if self.apply_writes:
            self.settings = self.settings.model_copy(update=settings.present())
        self._answer("set_settings")
        return True

    async def get_wa_settings(self) -> WaSettings:
        self._enter("get_wa_settings")
        return self.wa

    async def reboot(self) -> bool:
        self._enter("reboot")
        self._answer("reboot")
        return True

    async def logout(self) -> bool:
        self._enter("logout")
        self._answer("logout")
        return True

    async def update_api_token(self) -> SecretStr:
        self._enter("update_api_token")
        token = f"rotatedTOKEN{len(self.issued_tokens) + 1:04d}SUPERSECRET"
        self.issued_tokens.append(token)
        self._answer("update_api_token")
        return SecretStr(token)

    async def qr(self) -> QrFrame:
        self._enter("qr")
        return self.qr_frames[0]

    async def scan_qr_code(self) -> AsyncIterator[QrFrame]:
        self._enter("scan_qr_code")
        for frame in self.qr_frames:
            yield frame
        # A real socket stays open until its window ends; stay open until cancelled.
        await asyncio.Event().wait()

    async def get_authorization_code(self, phone_number: int) -> AuthorizationCode:
        self._enter("get_authorization_code", phone_number)
        return AuthorizationCode(status=True, code=SecretStr(self.pairing_code))

    async def get_webhooks_count(self) -> int:
        self._enter("get_webhooks_count")
        return self.webhooks_count

    async def get_messages_count(self) -> int:
        self._enter("get_messages_count")
        return self.messages_count

    async def clear_webhooks_queue(self) -> QueueClearResult:
        return self._clear("clear_webhooks_queue")

    async def clear_messages_queue(self) -> QueueClearResult:
        return self._clear("clear_messages_queue")

    def _clear(self, method: str) -> QueueClearResult:
        self._enter(method)
        left = self.clear_left_time.pop(method, None)
        if left is not None:
            return QueueClearResult.model_validate(
                {"isCleared": False, "reason": "Too many requests", "leftTime": left}
            )
        if method == "clear_webhooks_queue":
            self.webhooks_count = 0
        else:
            self.messages_count = 0
        self._answer(method)
        return QueueClearResult.model_validate({"isCleared": True})


@dataclass
class FakeGreenApiFactory:
    api: FakeInstanceApi = field(default_factory=FakeInstanceApi)
    # (api_url, id_instance, token text) per `instance` call
    requests: list[tuple[str, int, str]] = field(default_factory=list)

    # URLs `admit` refuses, as the operator's allow-list would
    refused: set[str] = field(default_factory=set)

    def instance(
        self, *, api_url: str, id_instance: int, token: SecretStr | str
    ) -> FakeInstanceApi:
        self.admit(api_url, "apiUrl")
        text = token.get_secret_value() if isinstance(token, SecretStr) else token
        self.requests.append((api_url, id_instance, text))
        return self.api

    def admit(self, url: str, field: str) -> None:
        if url in self.refused:
            raise EndpointNotAllowed(f"{field} is not in the allow-list")


@dataclass
class AppliedSecret:
    namespace: str
    name: str
    data: dict[str, bytes]
    owner: Owner
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass
class FakeSecrets:
    """Secrets in memory, with the ownership rule of `Kube.apply_secret`/`delete_secret`.

    Secrets given with `put` belong to someone else unless `owner` names this object's uid
    and role; those written through `apply_secret` belong to their owner in their role.
    """

    # (namespace, name) -> (data, resourceVersion)
    store: dict[tuple[str, str], tuple[dict[str, str], str]] = field(default_factory=dict)

    reads: list[tuple[str, str, str]] = field(default_factory=list)
    applied: list[AppliedSecret] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    # Secrets the operator wrote (the linking Secret) and that still exist.
    written: dict[tuple[str, str], AppliedSecret] = field(default_factory=dict)
    # (namespace, name) -> (owner uid, role) of every Secret that exists; None: not ours.
    owners: dict[tuple[str, str], tuple[str, str] | None] = field(default_factory=dict)
    # Annotations the operator wrote on WhatsAppInstances: (namespace, name) -> merged.
    object_annotations: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    annotation_patches: list[dict[str, str | None]] = field(default_factory=list)
    # Set to make the next annotation patches fail as the API server would.
    annotation_error: KubeError | None = None

    def put(
        self,
        namespace: str,
        name: str,
        data: dict[str, str],
        version: str = "1",
        *,
        owner: tuple[str, str] | None = None,
    ) -> None:
        self.store[(namespace, name)] = (dict(data), version)
        self.owners.setdefault((namespace, name), owner)

    async def read_secret_key(self, namespace: str, name: str, key: str) -> SecretValue:
        self.reads.append((namespace, name, key))
        what = f"Secret {namespace}/{name}"
        if (namespace, name) not in self.store:
            raise SecretNotFound(f"{what} does not exist", status=404, retryable=False)
        data, version = self.store[(namespace, name)]
        if not data.get(key):
            raise SecretKeyMissing(f"{what} has no key {key!r}", retryable=False)
        return SecretValue(SecretStr(data[key]), version)

    def _check_owned(self, namespace: str, name: str, uid: str, role: str) -> None:
        key = (namespace, name)
        if key in self.owners and self.owners[key] != (uid, role):
            raise SecretNotOwned(
                f"Secret {namespace}/{name} exists and is not the operator's to change",
                retryable=False,
            )

    async def apply_secret(
        self,
        namespace: str,
        name: str,
        *,
        data: dict[str, bytes],
        owner: Owner,
        labels: dict[str, str],
        annotations: dict[str, str],
    ) -> None:
        role = labels[constants.LABEL_SECRET_ROLE]
        self._check_owned(namespace, name, owner.uid, role)
        secret = AppliedSecret(namespace, name, data, owner, labels, annotations)
        self.applied.append(secret)
        self.written[(namespace, name)] = secret
        self.owners[(namespace, name)] = (owner.uid, role)

    async def patch_annotations(
        self,
        namespace: str,
        name: str,
        annotations: dict[str, str | None],
        resource_version: str | None = None,
    ) -> None:
        """Merge the annotations into the object's (None removes one), like `Kube`."""
        if self.annotation_error is not None:
            raise self.annotation_error
        self.annotation_patches.append(dict(annotations))
        merged = self.object_annotations.setdefault((namespace, name), {})
        for key, value in annotations.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value

    async def delete_secret(self, namespace: str, name: str, *, owner_uid: str, role: str) -> bool:
        """Delete if present and owned; True when something was deleted (like `Kube`)."""
        self._check_owned(namespace, name, owner_uid, role)
        self.deleted.append((namespace, name))
        self.owners.pop((namespace, name), None)
        self.store.pop((namespace, name), None)
        return self.written.pop((namespace, name), None) is not None
