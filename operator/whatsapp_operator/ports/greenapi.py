"""What the core needs from GREEN-API: the side effects it names and the calls it makes.

`adapters.greenapi` implements these; each step asks for the narrowest protocol it
needs (deletion only logs out, linking only reads codes), so a test's fake is small.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pydantic import SecretStr

    from whatsapp_operator.wire.models import (
        AuthorizationCode,
        CreatedInstance,
        PartnerInstance,
        QrFrame,
        QueueClearResult,
        Settings,
        StateReport,
        WaSettings,
    )


class Effect(StrEnum):
    """The GREEN-API calls that change something outside the cluster."""

    CREATE_INSTANCE = "createInstance"
    SET_SETTINGS = "setSettings"
    REBOOT = "reboot"
    LOGOUT = "logout"
    DELETE_INSTANCE = "deleteInstanceAccount"
    UPDATE_API_TOKEN = "updateApiToken"  # noqa: S105 - a method name, not a credential
    CLEAR_WEBHOOKS_QUEUE = "clearWebhooksQueue"
    CLEAR_MESSAGES_QUEUE = "clearMessagesQueue"


class InstanceApi(Protocol):
    """The instance API calls a reconcile makes."""

    async def get_state(self) -> StateReport: ...
    async def get_settings(self) -> Settings: ...
    async def set_settings(self, settings: Settings) -> bool: ...
    async def get_wa_settings(self) -> WaSettings: ...
    async def reboot(self) -> bool: ...
    async def logout(self) -> bool: ...
    async def update_api_token(self) -> SecretStr: ...
    async def qr(self) -> QrFrame: ...
    def scan_qr_code(self) -> AsyncIterator[QrFrame]: ...
    async def get_authorization_code(self, phone_number: int) -> AuthorizationCode: ...
    async def get_webhooks_count(self) -> int: ...
    async def get_messages_count(self) -> int: ...
    async def clear_webhooks_queue(self) -> QueueClearResult: ...
    async def clear_messages_queue(self) -> QueueClearResult: ...


class LinkingApi(Protocol):
    """The instance API calls linking makes."""

    async def qr(self) -> QrFrame: ...

    def scan_qr_code(self) -> AsyncIterator[QrFrame]: ...

    async def get_authorization_code(self, phone_number: int) -> AuthorizationCode: ...


class InstanceLogout(Protocol):
    """The instance API calls a deletion makes."""

    async def get_state(self) -> StateReport: ...

    async def logout(self) -> bool: ...


class InstanceFactory(Protocol):
    """Makes an instance API client for a deletion."""

    def __call__(
        self, *, api_url: str, id_instance: int, token: SecretStr | str
    ) -> InstanceLogout: ...


class PartnerApi(Protocol):
    """The partner API calls provisioning and deletion make."""

    async def create_instance(
        self, *, name: str | None = None, settings: Settings | None = None
    ) -> CreatedInstance: ...

    async def get_instances(self) -> list[PartnerInstance]: ...

    async def delete_instance(self, id_instance: int) -> bool: ...


class PartnerFactory(Protocol):
    """Makes a partner API client."""

    def partner(self, *, api_url: str, token: SecretStr | str) -> PartnerApi: ...

    def admit(self, url: str, field: str) -> None:
        """EndpointNotAllowed unless the operator's allow-list admits `url` (named `field`)."""


class GreenApiFactory(PartnerFactory, Protocol):
    """Hands out instance and partner API clients."""

    def instance(
        self, *, api_url: str, id_instance: int, token: SecretStr | str
    ) -> InstanceApi: ...
