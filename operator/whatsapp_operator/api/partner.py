"""The WhatsAppPartner API: GREEN-API partner credentials for creating instances."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from whatsapp_operator.api.base import (
    SECRET_KEY_PATTERN,
    ApiModel,
    ObservedModel,
    SecretKeyRef,
    url_field,
)
from whatsapp_operator.api.status import Condition


class PartnerTokenSecretRef(SecretKeyRef):
    """A key of a Secret in the partner's namespace that holds the GREEN-API partner token."""

    key: str = Field(
        default="partnerToken",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
        description="Key inside the Secret that holds the partner token.",
    )


class WhatsAppPartnerSpec(ApiModel):
    """GREEN-API partner credentials that WhatsAppInstances in this namespace may use."""

    api_url: str = url_field(
        "https://api.green-api.com",
        "partnerApiUrl from the GREEN-API console; must be in the operator's allow-list.",
    )
    token_secret_ref: PartnerTokenSecretRef = Field(
        description="Secret holding the partner token (gac.…). Never in spec.",
    )
    check_seconds: int = Field(
        default=300,
        ge=30,
        le=86400,
        description="How often the credentials are checked (one getInstances call).",
    )


class WhatsAppPartnerStatus(ObservedModel):
    """Whether GREEN-API accepts the partner token, and how many live instances it lists."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    instances: int | None = Field(default=None, description="Live (not deleted) instances.")
    last_error: str = ""


class WhatsAppPartner(ObservedModel):
    """The whole WhatsAppPartner as the operator reads it (metadata kept as a plain mapping)."""

    api_version: str
    kind: str
    metadata: dict[str, Any]
    spec: WhatsAppPartnerSpec
    status: WhatsAppPartnerStatus = Field(default_factory=WhatsAppPartnerStatus)
