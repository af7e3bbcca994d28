"""Who may use which partner credentials, and for which instances.

A WhatsAppInstance reaches a partner account through `spec.partnerRef`: a
WhatsAppPartner of its own namespace, or a ClusterWhatsAppPartner whose
namespaceSelector selects its namespace (else `PartnerNotAllowed`). Through it,
the resource may only stand for the instance the operator created for it (the
creation marker), or one the partner's allowAdoption permits (else
`InstanceNotOwned`): its token would be copied into the resource's namespace,
and deletionPolicy Delete would delete it. The decisions are in
`decide/ownership.py`; this module reads what they need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr

from whatsapp_operator import constants
from whatsapp_operator.api.partner import (
    AdoptionPolicy,
    ClusterWhatsAppPartner,
    LabelSelector,
    WhatsAppPartner,
)
from whatsapp_operator.api.resource import PartnerKind, PartnerRef, WhatsAppInstance
from whatsapp_operator.decide import ownership
from whatsapp_operator.ports import KubeError, ProvisioningFailure, SecretNotFound
from whatsapp_operator.ports.greenapi import PartnerFactory
from whatsapp_operator.ports.kubernetes import ObjectStore
from whatsapp_operator.reasons import Reason
from whatsapp_operator.run.identity import Partner, object_log
from whatsapp_operator.timestamps import parse_time

__all__ = ["Partner", "PartnerAccess", "partner_key"]


def partner_key(namespace: str, ref: PartnerRef) -> tuple[str, str]:
    """How the objects using a partner remember it: (namespace, name), "" for a cluster one."""
    if ref.kind is PartnerKind.CLUSTER_WHATSAPP_PARTNER:
        return ("", ref.name)
    return (namespace, ref.name)


def _display(namespace: str, ref: PartnerRef) -> str:
    if ref.kind is PartnerKind.CLUSTER_WHATSAPP_PARTNER:
        return f"{constants.CLUSTER_PARTNER_KIND} {ref.name}"
    return f"{constants.PARTNER_KIND} {namespace}/{ref.name}"


@dataclass(frozen=True)
class _Credentials:
    """What a partner resolved to: where its API is, its token, and its rules."""

    api_url: str
    token: SecretStr
    allow_adoption: AdoptionPolicy | None
    namespace_selector: LabelSelector | None
    plan_check_seconds: float = 10800.0


class PartnerAccess:
    """Resolves a resource's partnerRef and checks what the resource may do through it."""

    def __init__(
        self,
        store: ObjectStore,
        partners: PartnerFactory,
        listing_grace: timedelta,
        operator_namespace: str | None = None,
    ) -> None:
        self.store = store
        self.partners = partners
        self.listing_grace = listing_grace
        self.operator_namespace = operator_namespace
        # Partner credentials last read, by partner key: deletion's fallback.
        self._last_read: dict[tuple[str, str], tuple[str, SecretStr]] = {}
        # (object uid, instance id) this process created or verified: one getInstances
        # per object and process, not one per reconcile. Deletion always checks afresh.
        self._owned: set[tuple[str, int]] = set()

    def remember_owned(self, uid: str, instance_id: int) -> None:
        """Record that the object `uid` stands for `instance_id` (the operator created it)."""
        self._owned.add((uid, instance_id))

    async def partner_for(
        self, obj: WhatsAppInstance, namespace: str, *, for_deletion: bool = False
    ) -> Partner:
        """The partner API of the object's partnerRef, if its namespace may use it.

        `for_deletion`: when the partner or its Secret is gone (a namespace being deleted
        takes them first), the credentials this process last read for it are used, so
        the instance is still deleted rather than left billed.
        """
        ref = obj.spec.partner_ref
        if ref is None:
            raise ProvisioningFailure(
                Reason.PARTNER_REF_MISSING,
                "spec.partnerRef is needed to create or delete instances",
                permanent=True,
            )
        key = partner_key(namespace, ref)
        try:
            credentials = await self._credentials(namespace, ref)
        except (ProvisioningFailure, SecretNotFound) as exc:
            remembered = self._last_read.get(key)
            if not for_deletion or remembered is None:
                raise
            object_log(namespace, obj.metadata.get("name")).warning(
                "partner credentials gone (%s); deleting with the ones last read", exc
            )
            api_url, secret = remembered
            return Partner(
                _display(namespace, ref), self.partners.partner(api_url=api_url, token=secret)
            )
        self._last_read[key] = (credentials.api_url, credentials.token)
        labels: Mapping[str, str] = {}
        policy = credentials.allow_adoption
        if credentials.namespace_selector is not None or (
            policy is not None and policy.namespace_selector is not None
        ):
            labels = await self.store.namespace_labels(namespace)
        # Checked on every use, deletion included: a namespace the partner no longer
        # selects cannot delete through it either (the remembered credentials are only
        # for a partner that is gone).
        if not ownership.namespace_allowed(credentials.namespace_selector, labels):
            assert credentials.namespace_selector is not None
            raise ProvisioningFailure(
                Reason.PARTNER_NOT_ALLOWED,
                ownership.namespace_refusal(ref.name, namespace, credentials.namespace_selector),
                permanent=True,
            )
        return Partner(
            _display(namespace, ref),
            self.partners.partner(api_url=credentials.api_url, token=credentials.token),
            policy,
            labels,
            credentials.plan_check_seconds,
        )

    async def _credentials(self, namespace: str, ref: PartnerRef) -> _Credentials:
        what = _display(namespace, ref)
        try:
            if ref.kind is PartnerKind.CLUSTER_WHATSAPP_PARTNER:
                body = await self.store.read_cluster_partner(ref.name)
            else:
                body = await self.store.read_partner(namespace, ref.name)
        except KubeError as exc:
            if exc.status == 404:
                raise ProvisioningFailure(
                    Reason.PARTNER_NOT_FOUND,
                    f"{what} does not exist"
                    + (
                        ""
                        if ref.kind is PartnerKind.CLUSTER_WHATSAPP_PARTNER
                        else " (partner credentials are only usable from their own namespace)"
                    ),
                    permanent=True,
                ) from None
            raise
        if ref.kind is PartnerKind.CLUSTER_WHATSAPP_PARTNER:
            cluster = ClusterWhatsAppPartner.model_validate(body)
            # Before anything else, the token above all: an endpoint outside the
            # allow-list gets nothing.
            self.partners.admit(cluster.spec.api_url, f"{what} spec.apiUrl")
            secret_ref = cluster.spec.token_secret_ref
            secret_namespace = secret_ref.namespace or self.operator_namespace
            if not secret_namespace:
                raise ProvisioningFailure(
                    Reason.SECRET_NOT_FOUND,
                    f"{what}: spec.tokenSecretRef.namespace is not set and the operator's own "
                    "namespace is unknown (set WAOP_OPERATOR_NAMESPACE)",
                    permanent=True,
                )
            token = await self.store.read_secret_key(
                secret_namespace, secret_ref.name, secret_ref.key
            )
            return _Credentials(
                cluster.spec.api_url,
                token.value,
                cluster.spec.allow_adoption,
                cluster.spec.namespace_selector,
                float(cluster.spec.plan_check_seconds),
            )
        partner = WhatsAppPartner.model_validate(body)
        token_ref = partner.spec.token_secret_ref
        self.partners.admit(partner.spec.api_url, f"{what} spec.apiUrl")
        token = await self.store.read_secret_key(namespace, token_ref.name, token_ref.key)
        return _Credentials(
            partner.spec.api_url,
            token.value,
            partner.spec.allow_adoption,
            None,
            float(partner.spec.plan_check_seconds),
        )

    async def check_owned(
        self,
        obj: WhatsAppInstance,
        namespace: str,
        name: str,
        instance_id: int,
        now: datetime,
    ) -> None:
        """Raise `ProvisioningFailure` (InstanceNotOwned) unless `obj` may use `instance_id`.

        Verified once per object and process; the partner is read (and its namespace
        rules applied) only when this process has not verified the pair yet.
        """
        uid = str(obj.metadata.get("uid") or "")
        if (uid, instance_id) in self._owned:
            return
        partner = await self.partner_for(obj, namespace)
        verdict = await self.verdict(partner, obj, namespace, name, instance_id, now)
        if not verdict.owned:
            raise ProvisioningFailure(Reason.INSTANCE_NOT_OWNED, verdict.why, permanent=True)
        self._owned.add((uid, instance_id))

    async def verdict(
        self,
        partner: Partner,
        obj: WhatsAppInstance,
        namespace: str,
        name: str,
        instance_id: int,
        now: datetime,
    ) -> ownership.Verdict:
        """Whether `obj` may use `instance_id` through `partner`, asked afresh.

        An instance this resource created recently may not be listed yet: that raises a
        transient `ProvisioningFailure` for the listing grace instead of a verdict.
        """
        if ownership.adoption_allowed(
            partner.allow_adoption, instance_id, partner.namespace_labels
        ):
            return ownership.Verdict(True, f"{partner.name} allows adopting {instance_id}")
        listed = [i for i in await partner.api.get_instances() if i.id_instance == instance_id]
        listed_name = listed[0].name if listed else None
        if not listed and self._recently_created(obj, now):
            raise ProvisioningFailure(
                Reason.CREATE_RESULT_PENDING,
                f"Instance {instance_id} is not listed by {partner.name} yet; waiting for "
                "GREEN-API to list it before using it",
                permanent=False,
                retry_after=15.0,
            )
        return ownership.ownership(
            instance_id=instance_id,
            listed_name=listed_name,
            namespace=namespace,
            name=name,
            partner=partner.name,
            policy=partner.allow_adoption,
            namespace_labels=partner.namespace_labels,
        )

    def _recently_created(self, obj: WhatsAppInstance, now: datetime) -> bool:
        annotations: dict[str, Any] = dict(obj.metadata.get("annotations") or {})
        raw = annotations.get(constants.ANNOTATION_CREATED_AT)
        try:
            created = parse_time(str(raw)) if raw else None
        except ValueError:
            created = None
        return created is not None and now - created < self.listing_grace
