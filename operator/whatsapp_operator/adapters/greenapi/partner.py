"""The GREEN-API partner API client: createInstance, deleteInstanceAccount, getInstances.

`{partnerApiUrl}/partner/{method}/{partnerToken}`; errors come inside HTTP 200 bodies
as `{code, description}`. Created instances' tokens are registered for redaction.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import SecretStr

from whatsapp_operator.adapters.greenapi import responses
from whatsapp_operator.adapters.greenapi.ratelimit import PARTNER_RATE
from whatsapp_operator.redaction import register_secret
from whatsapp_operator.wire import errors
from whatsapp_operator.wire.models import (
    CreatedInstance,
    DeleteInstanceResult,
    PartnerInstance,
    Settings,
    WireBoolStyle,
)

HttpVerb = Literal["GET", "POST", "DELETE"]


class Requester(Protocol):
    """`GreenApi.request`: one paced, timed, classified HTTP call."""

    async def __call__(
        self,
        *,
        url: str,
        verb: HttpVerb,
        method: str,
        instance_id: int | None,
        limiter_key: tuple[str, str, str],
        rate: float,
        idempotent: bool,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, str]: ...


class PartnerClient:
    """The partner API: `{partnerApiUrl}/partner/{method}/{partnerToken}`."""

    def __init__(
        self,
        request: Requester,
        lenient_bool_style: WireBoolStyle,
        api_url: str,
        token: SecretStr,
    ) -> None:
        self._request = request
        self._lenient_bool_style = lenient_bool_style
        self.api_url = api_url
        self._token = token

    def __repr__(self) -> str:
        return f"PartnerClient(api_url={self.api_url!r})"

    async def _call(
        self,
        method: str,
        verb: HttpVerb,
        *,
        body: dict[str, Any] | None = None,
        idempotent: bool,
    ) -> object:
        url = f"{self.api_url}/partner/{method}/{self._token.get_secret_value()}"
        # The partner key is the token's tail: enough to tell accounts apart
        # inside this process without keeping the whole secret as a dict key.
        key = (self.api_url, "partner:" + self._token.get_secret_value()[-6:], method.lower())
        status, text = await self._request(
            url=url,
            verb=verb,
            method=method,
            instance_id=None,
            limiter_key=key,
            rate=PARTNER_RATE,
            idempotent=idempotent,
            body=body,
        )
        payload = responses.decode_json(method, None, status, text)
        error = responses.partner_error(method, payload)
        if error is not None:
            raise error
        return payload

    async def create_instance(
        self, *, name: str | None = None, settings: Settings | None = None
    ) -> CreatedInstance:
        """createInstance. Bills and is not idempotent: never repeated by this client."""
        body: dict[str, Any] = {}
        if settings is not None:
            body.update(settings.to_wire(lenient_bool_style=self._lenient_bool_style))
        if name is not None:
            body["name"] = name
        payload = await self._call("createInstance", "POST", body=body, idempotent=False)
        result: CreatedInstance = responses.parse_model(
            "CreatedInstance", "createInstance", None, CreatedInstance.model_validate, payload, 200
        )
        register_secret(result.api_token_instance.get_secret_value())
        return result

    async def delete_instance(self, id_instance: int) -> bool:
        """deleteInstanceAccount; a 404 code raises PartnerInstanceNotFound."""
        payload = await self._call(
            "deleteInstanceAccount", "POST", body={"idInstance": id_instance}, idempotent=True
        )
        result: DeleteInstanceResult = responses.parse_model(
            "deleteInstanceAccount",
            "deleteInstanceAccount",
            id_instance,
            DeleteInstanceResult.model_validate,
            payload,
            200,
        )
        return result.delete_instance_account

    async def get_instances(self) -> list[PartnerInstance]:
        """getInstances: the partner's instances (deleted ones marked `deleted`)."""
        payload = await self._call("getInstances", "GET", idempotent=True)
        if not isinstance(payload, list):
            raise errors.UnexpectedResponse(
                "getInstances: answer is not a list", method="getInstances", status=200
            )
        instances = [
            responses.parse_model(
                "PartnerInstance", "getInstances", None, PartnerInstance.model_validate, item, 200
            )
            for item in payload
        ]
        for item in instances:
            if item.api_token_instance is not None:
                register_secret(item.api_token_instance.get_secret_value())
        return instances
