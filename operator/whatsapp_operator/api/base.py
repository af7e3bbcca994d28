"""The building blocks of the API models: base classes, CEL rules, Secret references."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict


class ApiModel(BaseModel):
    """Our own API: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class ObservedModel(ApiModel):
    """What the cluster hands back (status, whole objects): unknown fields are tolerated,
    so an older operator reads what a newer one wrote."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


def cel(rule: str, message: str) -> JsonDict:
    """One x-kubernetes-validations entry (CEL), checked by the API server at admission."""
    return {"rule": rule, "message": message}


class SecretKeyRef(ApiModel):
    """A key of a Secret in the resource's own namespace."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Name of the Secret, in the same namespace as the WhatsAppInstance.",
    )
    key: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key inside the Secret.",
    )


class TokenSecretRef(SecretKeyRef):
    """A key of a Secret in the resource's namespace that holds the instance's apiTokenInstance."""

    key: str = Field(
        default="apiTokenInstance",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key inside the Secret that holds the apiTokenInstance.",
    )


URL_PATTERN = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"


class AuthorizationMethod(StrEnum):
    """How a phone is linked: by scanning a QR code, or by a pairing code for a phone number."""

    QR_CODE = "QRCode"
    PHONE_NUMBER = "PhoneNumber"
