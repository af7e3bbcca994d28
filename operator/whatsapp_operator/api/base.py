"""The building blocks of the API models: base classes, CEL rules, Secret references."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from whatsapp_operator.endpoints import URL_PATTERN

# What the API server accepts as a Secret name (a DNS subdomain) and as a data key
# (`.`, `..` and names starting with `..` are refused), as plain regular expressions
# so the schema and pydantic agree.
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
# Object names (Secrets, partners, profiles): a DNS subdomain, so `a..b` is refused here too.
OBJECT_NAME_PATTERN = rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$"
SECRET_NAME_PATTERN = OBJECT_NAME_PATTERN
SECRET_KEY_PATTERN = r"^([-_a-zA-Z0-9][-._a-zA-Z0-9]*|\.[-_a-zA-Z0-9][-._a-zA-Z0-9]*)$"  # noqa: S105


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
        pattern=SECRET_NAME_PATTERN,
        description="Name of the Secret, in the same namespace as the WhatsAppInstance.",
    )
    key: str = Field(
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
        description="Key inside the Secret.",
    )


class TokenSecretRef(SecretKeyRef):
    """A key of a Secret in the resource's namespace that holds the instance's apiTokenInstance."""

    key: str = Field(
        default="apiTokenInstance",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
        description="Key inside the Secret that holds the apiTokenInstance.",
    )


def url_field(default: str | None, description: str) -> Any:
    """An http(s) endpoint field: the grammar of `endpoints.URL_PATTERN`, plus CEL rules that
    name the broken rule for the common mistakes (the pattern alone only says "should match")."""
    return Field(
        default=default,
        max_length=2048,
        pattern=URL_PATTERN,
        description=description,
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.startsWith('https://') || self.startsWith('http://')",
                    "must start with http:// or https://",
                ),
                cel("!self.contains('@')", "must not carry user info (user:password@)"),
                cel(
                    "!self.contains('?') && !self.contains('#')",
                    "must not have a query string or a fragment",
                ),
            ]
        },
    )


class AuthorizationMethod(StrEnum):
    """How a phone is linked: by scanning a QR code, or by a pairing code for a phone number."""

    QR_CODE = "QRCode"
    PHONE_NUMBER = "PhoneNumber"
