"""The partner APIs: GREEN-API partner credentials for creating instances.

`WhatsAppPartner` serves its own namespace; `ClusterWhatsAppPartner` (cluster-scoped,
like cert-manager's ClusterIssuer) serves the namespaces its `namespaceSelector`
selects. Both may allow adopting instances the operator did not create for the
adopting resource (`allowAdoption`); without it, a resource only ever gets the
instance created for it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from whatsapp_operator.api.base import (
    SECRET_KEY_PATTERN,
    SECRET_NAME_PATTERN,
    ApiModel,
    ObservedModel,
    SecretKeyRef,
    cel,
    url_field,
)
from whatsapp_operator.api.status import CONDITIONS, Condition

# Label keys and values as Kubernetes validates them: an optional DNS prefix, a name.
_LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"


def _config(*rules: dict[str, Any]) -> ConfigDict:
    return ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        json_schema_extra={"x-kubernetes-validations": list(rules)},
    )


class SelectorOperator(StrEnum):
    """The operators of a label selector requirement (as in metav1.LabelSelector)."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(ApiModel):
    """One matchExpressions entry: a label key, an operator and (for In/NotIn) values."""

    model_config = _config(
        cel(
            "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
            "values must be non-empty for In and NotIn, and absent for Exists and DoesNotExist",
        )
    )

    key: str = Field(max_length=317, pattern=_LABEL_KEY, description="The label key.")
    operator: SelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[str] | None = Field(
        default=None,
        max_length=64,
        description="Label values for In and NotIn.",
        json_schema_extra={"items": {"type": "string", "maxLength": 63, "pattern": _LABEL_VALUE}},
    )


class LabelSelector(ApiModel):
    """A standard Kubernetes label selector: every matchLabels pair and every
    matchExpressions requirement must hold; an empty selector selects everything.
    """

    match_labels: dict[str, str] | None = Field(
        default=None,
        max_length=64,
        description="Labels that must be present with exactly these values.",
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None,
        max_length=64,
        description="Requirements that must all hold.",
    )


class AdoptionPolicy(ApiModel):
    """Which instances of the partner account resources may adopt (take over) through this
    partner, beyond the one the operator created for each resource. Each given field
    narrows: with both, an adoption needs a listed id and a selected namespace.
    """

    model_config = _config(
        cel(
            "has(self.instanceIds) || has(self.namespaceSelector)",
            "allowAdoption needs instanceIds or namespaceSelector (or both)",
        )
    )

    instance_ids: list[int] | None = Field(
        default=None,
        max_length=1000,
        description=(
            "Instances (idInstance) that may be adopted. Absent: any instance of the account, "
            "from the namespaces namespaceSelector selects."
        ),
        json_schema_extra={"items": {"type": "integer", "minimum": 1, "maximum": 9_999_999_999}},
    )
    namespace_selector: LabelSelector | None = Field(
        default=None,
        description=(
            "Namespaces whose resources may adopt (an empty selector: every namespace that may "
            "use the partner). Absent: every namespace that may use the partner."
        ),
    )


class PartnerTokenSecretRef(SecretKeyRef):
    """A key of a Secret in the partner's namespace that holds the GREEN-API partner token."""

    key: str = Field(
        default="partnerToken",
        min_length=1,
        max_length=253,
        pattern=SECRET_KEY_PATTERN,
        description="Key inside the Secret that holds the partner token.",
    )


class ClusterPartnerTokenSecretRef(PartnerTokenSecretRef):
    """The partner token's Secret for a ClusterWhatsAppPartner: a name, a key and a namespace."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=SECRET_NAME_PATTERN,
        description="Name of the Secret, in `namespace`.",
    )
    namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description=(
            "Namespace of the Secret. Default: the operator's own namespace "
            "(WAOP_OPERATOR_NAMESPACE, or the pod's service account namespace)."
        ),
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
    plan_check_seconds: int = Field(
        default=10800,
        ge=60,
        le=86400,
        description=(
            "How often the instances' plans (tariff, expiry) are read for the instances that "
            "use this partner: one getInstances per partner and period, shared by all of them."
        ),
    )
    allow_adoption: AdoptionPolicy | None = Field(
        default=None,
        description=(
            "Instances of the account that resources may adopt through this partner (their "
            "token is copied into the resource's namespace; deletionPolicy Delete deletes "
            "them). Absent: a resource only gets the instance the operator created for it."
        ),
    )


class ClusterWhatsAppPartnerSpec(WhatsAppPartnerSpec):
    """GREEN-API partner credentials that WhatsAppInstances in the selected namespaces may use."""

    token_secret_ref: ClusterPartnerTokenSecretRef = Field(
        description="Secret holding the partner token (gac.…), in a namespace of its own.",
    )
    namespace_selector: LabelSelector = Field(
        description=(
            "Namespaces whose WhatsAppInstances may use these credentials (`{}`: every "
            "namespace). Others are refused with Stalled=True PartnerNotAllowed."
        ),
    )


class WhatsAppPartnerStatus(ObservedModel):
    """Whether GREEN-API accepts the partner token, and how many live instances it lists."""

    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this status was computed for."
    )
    conditions: list[Condition] = CONDITIONS
    instances: int | None = Field(default=None, description="Live (not deleted) instances.")
    last_error: str = Field(default="", description="The last failure's message; empty when none.")


class WhatsAppPartner(ObservedModel):
    """The whole WhatsAppPartner as the operator reads it (metadata kept as a plain mapping)."""

    api_version: str
    kind: str
    metadata: dict[str, Any]
    spec: WhatsAppPartnerSpec
    status: WhatsAppPartnerStatus = Field(default_factory=WhatsAppPartnerStatus)


class ClusterWhatsAppPartner(ObservedModel):
    """The whole ClusterWhatsAppPartner as the operator reads it."""

    api_version: str
    kind: str
    metadata: dict[str, Any]
    spec: ClusterWhatsAppPartnerSpec
    status: WhatsAppPartnerStatus = Field(default_factory=WhatsAppPartnerStatus)
