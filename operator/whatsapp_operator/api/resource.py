"""The WhatsAppInstance API (v1alpha1) as pydantic models: the one source of truth.

The CRD in `crds/` is generated from these models (`whatsapp_operator.api.crd`), so
admission (OpenAPI schema + CEL) and the operator validate the same shape. Field
names under `spec.settings` are GREEN-API's own, so its documentation applies;
values are Kubernetes-style (booleans instead of "yes"/"no", a Secret reference
instead of an inline webhook token).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from whatsapp_operator.api.base import (
    OBJECT_NAME_PATTERN,
    ApiModel,
    AuthorizationMethod,
    ObservedModel,
    SecretKeyRef,
    TokenSecretRef,
    cel,
    url_field,
)
from whatsapp_operator.api.lifecycle import PlanSpec, TokenRotationSpec
from whatsapp_operator.api.partner import (
    AdoptionPolicy,
    ClusterWhatsAppPartner,
    ClusterWhatsAppPartnerSpec,
    LabelSelector,
    PartnerTokenSecretRef,
    WhatsAppPartner,
    WhatsAppPartnerSpec,
    WhatsAppPartnerStatus,
)
from whatsapp_operator.api.profile import (
    BUILT_IN_PROFILES,
    ProfileRef,
    RolloutSpec,
    SettingsProfileName,
    WhatsAppSettingsProfile,
    WhatsAppSettingsProfileSpec,
    WhatsAppSettingsProfileStatus,
)
from whatsapp_operator.api.queues import QueuesSpec, QueuesStatus
from whatsapp_operator.api.settings import SettingsSpec
from whatsapp_operator.api.status import (
    Account,
    Condition,
    FieldDrift,
    LastApplied,
    LinkingPhase,
    LinkingStatus,
    ProfileRollout,
    WhatsAppInstanceStatus,
)

# The API in one import; the models live in base, settings, status and partner.
__all__ = [
    "BUILT_IN_PROFILES",
    "Account",
    "AdoptionPolicy",
    "ApiModel",
    "AuthorizationMethod",
    "AuthorizationSpec",
    "AutoHealSpec",
    "ClusterWhatsAppPartner",
    "ClusterWhatsAppPartnerSpec",
    "Condition",
    "ConnectionSecretSpec",
    "DeletionPolicy",
    "FieldDrift",
    "InstanceRef",
    "IntervalsSpec",
    "LabelSelector",
    "LastApplied",
    "LinkingPhase",
    "LinkingStatus",
    "ManagementPolicy",
    "ObservedModel",
    "PartnerKind",
    "PartnerRef",
    "PartnerTokenSecretRef",
    "ProfileRef",
    "ProfileRollout",
    "QueuesSpec",
    "QueuesStatus",
    "RolloutSpec",
    "SecretKeyRef",
    "SettingsProfileName",
    "SettingsSpec",
    "TokenSecretRef",
    "WhatsAppInstance",
    "WhatsAppInstanceSpec",
    "WhatsAppInstanceStatus",
    "WhatsAppPartner",
    "WhatsAppPartnerSpec",
    "WhatsAppPartnerStatus",
    "WhatsAppSettingsProfile",
    "WhatsAppSettingsProfileSpec",
    "WhatsAppSettingsProfileStatus",
]


class InstanceRef(ApiModel):
    """Which GREEN-API instance this resource manages, and how to reach it."""

    id: int | None = Field(
        default=None,
        ge=1,
        le=9_999_999_999,
        description=(
            "idInstance (1 to 10 digits) of an existing instance to adopt. Leave it out with "
            "partnerRef to have the operator create one. With partnerRef, the partner must "
            "allow adopting it (allowAdoption). Set only at creation; immutable."
        ),
    )
    api_url: str | None = url_field(
        None,
        "apiUrl from the GREEN-API console; must be in the operator's allow-list. Default: "
        "https://{first 4 digits of id}.api.greenapi.com (the dedicated host convention).",
    )
    media_url: str | None = url_field(
        None,
        "mediaUrl from the GREEN-API console (file uploads only); must be in the operator's "
        "allow-list.",
    )
    token_secret_ref: TokenSecretRef | None = Field(
        default=None,
        description=(
            "Secret holding the instance's apiTokenInstance (the token is never in spec). "
            "Required when adopting; with partnerRef the operator keeps the token in a Secret "
            "it owns."
        ),
    )


class ManagementPolicy(StrEnum):
    """Manage: keep GREEN-API equal to the spec. Observe: report drift, never write."""

    MANAGE = "Manage"
    OBSERVE = "Observe"


class AuthorizationSpec(ApiModel):
    """How a phone gets linked while the instance is not authorized."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.method != 'PhoneNumber' || has(self.phoneNumber)",
                    "authorization.phoneNumber is required when method is PhoneNumber",
                )
            ]
        },
    )

    method: AuthorizationMethod = Field(
        default=AuthorizationMethod.QR_CODE,
        description="QRCode: a QR PNG in a Secret. PhoneNumber: a pairing code in a Secret.",
    )
    phone_number: str | None = Field(
        default=None,
        pattern=r"^[1-9][0-9]{6,14}$",
        description="International format, digits only, no + or 00 (e.g. 79001234567).",
    )
    window_minutes: int = Field(
        default=10,
        ge=1,
        le=120,
        description="How long codes are handed out; restart with the relink annotation.",
    )
    required_for_readiness: bool = Field(
        default=False,
        description="Ready waits for a linked phone (a GitOps rollout then waits for a person).",
    )


class IntervalsSpec(ApiModel):
    """How often GREEN-API is asked, and how long a settings write is given to show."""

    state_seconds: int = Field(
        default=60,
        ge=10,
        le=3600,
        description="How often getStateInstance is polled (jittered).",
    )
    settings_seconds: int = Field(
        default=300,
        ge=60,
        le=86400,
        description="How often getSettings is compared with spec (jittered).",
    )
    settle_seconds: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="How long GREEN-API may take to apply setSettings before drift is judged.",
    )


class AutoHealSpec(ApiModel):
    """Reboot an instance stuck in `starting`, as GREEN-API advises, at most once per cooldown."""

    enabled: bool = Field(
        default=False,
        description="Reboot an instance stuck in `starting` (GREEN-API's advice).",
    )
    starting_minutes: int = Field(
        default=10,
        ge=5,
        le=1440,
        description="How long `starting` is tolerated before a reboot.",
    )
    cooldown_minutes: int = Field(
        default=30,
        ge=5,
        le=10080,
        description="Minimum time between two automatic reboots.",
    )


def _defaults(model: type[ApiModel]) -> JsonDict:
    """A section's defaults, spelled out: the API server does not default inside defaults."""
    dumped: JsonDict = model().model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


class PartnerKind(StrEnum):
    """Which kind of partner a partnerRef names."""

    WHATSAPP_PARTNER = "WhatsAppPartner"
    CLUSTER_WHATSAPP_PARTNER = "ClusterWhatsAppPartner"


class PartnerRef(ApiModel):
    """The partner whose credentials create and delete the instance: a WhatsAppPartner in
    the same namespace, or a ClusterWhatsAppPartner that selects this namespace.
    """

    kind: PartnerKind = Field(
        default=PartnerKind.WHATSAPP_PARTNER,
        description=(
            "WhatsAppPartner (in the same namespace) or ClusterWhatsAppPartner (cluster-scoped; "
            "its namespaceSelector must select this namespace)."
        ),
    )
    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=OBJECT_NAME_PATTERN,
        description="Name of the WhatsAppPartner (same namespace) or ClusterWhatsAppPartner.",
    )


class DeletionPolicy(StrEnum):
    """What deleting the resource does to the GREEN-API instance: Orphan keeps it, Delete
    removes it.
    """

    ORPHAN = "Orphan"
    DELETE = "Delete"


class ConnectionSecretSpec(ApiModel):
    """A Secret the operator writes for applications: idInstance, apiUrl, mediaUrl,
    apiTokenInstance.
    """

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=OBJECT_NAME_PATTERN,
        description=(
            "Secret the operator writes for applications: idInstance, apiUrl, mediaUrl, "
            "apiTokenInstance."
        ),
    )


class WhatsAppInstanceSpec(ApiModel):
    """The WhatsApp account on GREEN-API and the settings it must have."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.instance.id) || has(self.partnerRef)",
                    "set instance.id to adopt an existing instance, or partnerRef to create one",
                ),
                cel(
                    "has(self.instance.tokenSecretRef) || has(self.partnerRef)",
                    "instance.tokenSecretRef is required unless partnerRef is set",
                ),
                cel(
                    "self.deletionPolicy != 'Delete' || has(self.partnerRef)",
                    "deletionPolicy Delete needs partnerRef (deleting uses the partner API)",
                ),
                # The operator writes the connection Secret; naming a Secret it reads a
                # token from would ask it to overwrite that token.
                cel(
                    "!has(self.connectionSecret) || !has(self.instance.tokenSecretRef) "
                    "|| self.connectionSecret.name != self.instance.tokenSecretRef.name",
                    "connectionSecret.name must differ from instance.tokenSecretRef.name "
                    "(the operator writes the connection Secret; it would overwrite the token)",
                ),
                # A lost updateApiToken answer is only recoverable through the partner, and
                # the operator never writes a token Secret the user owns.
                cel(
                    "!has(self.tokenRotation) || (has(self.partnerRef) "
                    "&& !has(self.instance.tokenSecretRef))",
                    "tokenRotation needs partnerRef and the operator's own token Secret (no "
                    "instance.tokenSecretRef): a token whose rotation lost its answer can only "
                    "be recovered through the partner, and a Secret you own is not rewritten",
                ),
                cel(
                    "!has(self.connectionSecret) || !has(self.settings.webhookUrlTokenSecretRef) "
                    "|| self.connectionSecret.name != self.settings.webhookUrlTokenSecretRef.name",
                    "connectionSecret.name must differ from settings.webhookUrlTokenSecretRef.name "
                    "(the operator writes the connection Secret; it would overwrite the webhook "
                    "token)",
                ),
                cel(
                    "!has(self.queues) || !has(self.queues.checkSeconds) "
                    "|| self.queues.checkSeconds >= 2 * self.intervals.stateSeconds",
                    "queues.checkSeconds must be at least twice intervals.stateSeconds (each "
                    "check reads two counts: at most one extra call per state poll)",
                ),
            ]
        },
    )

    instance: InstanceRef = Field(
        default_factory=InstanceRef,
        json_schema_extra={
            "default": {},
            "x-kubernetes-validations": [
                cel(
                    "!has(oldSelf.id) || (has(self.id) && self.id == oldSelf.id)",
                    "instance.id is immutable once set",
                ),
                # Without an id the operator creates the instance (partnerRef): an id added
                # later would name another instance, which deletion would then delete.
                cel(
                    "has(oldSelf.id) || !has(self.id)",
                    "instance.id cannot be added after creation: this resource's instance is "
                    "the one the operator creates through partnerRef",
                ),
            ],
        },
        description="The GREEN-API instance and its credentials.",
    )
    partner_ref: PartnerRef | None = Field(
        default=None,
        description=(
            "Partner credentials (a WhatsAppPartner in this namespace, or a "
            "ClusterWhatsAppPartner selecting it) used to create the instance when instance.id "
            "is not set, and to delete it with deletionPolicy Delete. With instance.id: adopt "
            "that instance through the partner, which its allowAdoption must permit."
        ),
    )
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.ORPHAN,
        description=(
            "Orphan (default): deleting the resource leaves the GREEN-API instance alone (it "
            "costs money and holds a linked phone). Delete: log out, then delete the instance."
        ),
    )
    connection_secret: ConnectionSecretSpec | None = Field(
        default=None,
        description=(
            "Write a Secret with connection details for applications. The operator creates "
            "it, and updates only a Secret it created for this resource; it must not be a "
            "Secret the resource reads a token from."
        ),
    )
    management_policy: ManagementPolicy = Field(
        default=ManagementPolicy.MANAGE,
        description="Manage: correct drift. Observe: only report, never write to GREEN-API.",
    )
    settings_profile: SettingsProfileName | None = Field(
        default=None,
        description=(
            "A built-in settings profile under spec.settings. Recommended: GREEN-API's "
            "recommended parameters (see the profile's content below). Default: none."
        ),
    )
    settings_profile_ref: ProfileRef | None = Field(
        default=None,
        description=(
            "A WhatsAppSettingsProfile in this namespace whose settings apply under "
            "spec.settings (precedence: built-in profile < this profile < spec.settings). "
            "Changes to it are rolled out a few instances at a time."
        ),
    )
    settings: SettingsSpec = Field(
        default_factory=SettingsSpec,
        json_schema_extra={"default": _defaults(SettingsSpec)},
        description="Settings to keep equal on GREEN-API (sparse); they override the profiles.",
    )
    authorization: AuthorizationSpec = Field(
        default_factory=AuthorizationSpec,
        json_schema_extra={"default": _defaults(AuthorizationSpec)},
        description="Linking a phone.",
    )
    intervals: IntervalsSpec = Field(
        default_factory=IntervalsSpec,
        json_schema_extra={"default": _defaults(IntervalsSpec)},
        description="Polling cadence.",
    )
    auto_heal: AutoHealSpec = Field(
        default_factory=AutoHealSpec,
        json_schema_extra={"default": _defaults(AutoHealSpec)},
        description="Automatic reboot of an instance stuck in `starting`.",
    )
    plan: PlanSpec = Field(
        default_factory=PlanSpec,
        json_schema_extra={"default": _defaults(PlanSpec)},
        description="Warnings about the plan's expiry (partner mode; status.plan).",
    )
    token_rotation: TokenRotationSpec | None = Field(
        default=None,
        description=(
            "Issue a new instance token on a schedule. Partner mode with the operator's own "
            "token Secret only (no instance.tokenSecretRef): a lost answer is recovered "
            "through the partner's getInstances."
        ),
    )
    queues: QueuesSpec = Field(
        default_factory=QueuesSpec,
        json_schema_extra={"default": _defaults(QueuesSpec)},
        description="GREEN-API's incoming and outgoing queues: WebhookDelivery and clearing.",
    )


# ---------------------------------------------------------------- status


class WhatsAppInstance(ObservedModel):
    """The whole object as the operator reads it (metadata kept as a plain mapping)."""

    api_version: str
    kind: str
    metadata: dict[str, Any]
    spec: WhatsAppInstanceSpec
    status: WhatsAppInstanceStatus = Field(default_factory=WhatsAppInstanceStatus)


# ---------------------------------------------------------------- WhatsAppPartner
