"""Which instances of a partner account a resource may take over. Pure.

Through a partner, a WhatsAppInstance gets the token of an instance (copied into
its namespace) and, with deletionPolicy Delete, deletes it. So a resource may
only stand for the instance the operator created for it, found by the creation
marker (the instance name `k8s:<namespace>/<name>#<uid prefix>`, any uid: a
restored resource keeps its instance), unless the partner's `allowAdoption`
permits the instance for the resource's namespace.

The same marker lets a resource re-created from its manifest (a new uid, no
annotations, no status) find the live instance made for an earlier incarnation
instead of creating a second one (`rebind_candidates`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from whatsapp_operator.api.partner import AdoptionPolicy, LabelSelector
from whatsapp_operator.decide.selectors import describe, selects
from whatsapp_operator.wire.models import PartnerInstance

__all__ = [
    "Verdict",
    "adoption_allowed",
    "conflicting_id",
    "made_for",
    "marker_base",
    "namespace_allowed",
    "namespace_refusal",
    "ownership",
    "rebind_candidates",
]


def marker_base(namespace: str, name: str) -> str:
    """The start of every creation marker of the resource `namespace/name`.

    Kubernetes names hold no `/` or `#`, so the prefix names exactly one resource.
    """
    return f"k8s:{namespace}/{name}#"


def made_for(instance_name: str | None, namespace: str, name: str) -> bool:
    """Whether an instance of this name was created by the operator for `namespace/name`."""
    return bool(instance_name) and str(instance_name).startswith(marker_base(namespace, name))


def rebind_candidates(
    instances: Iterable[PartnerInstance], namespace: str, name: str
) -> list[PartnerInstance]:
    """The live instances made for `namespace/name` under any uid, by id.

    Markers are whole (never shortened), so the longest namespace and name still
    name exactly one resource. Deleted instances stay listed for months: they are
    history, not something to bind to.
    """
    found = [i for i in instances if not i.deleted and made_for(i.name, namespace, name)]
    return sorted(found, key=lambda i: i.id_instance)


def adoption_allowed(
    policy: AdoptionPolicy | None, instance_id: int, namespace_labels: Mapping[str, str]
) -> bool:
    """Whether the partner's allowAdoption lets the namespace take over `instance_id`.

    Each field the policy gives narrows; a policy with neither allows nothing.
    """
    if policy is None or (policy.instance_ids is None and policy.namespace_selector is None):
        return False
    if policy.instance_ids is not None and instance_id not in policy.instance_ids:
        return False
    return policy.namespace_selector is None or selects(policy.namespace_selector, namespace_labels)


def namespace_allowed(selector: LabelSelector | None, namespace_labels: Mapping[str, str]) -> bool:
    """Whether a partner serves a namespace (None: a WhatsAppPartner, its own namespace only)."""
    return selector is None or selects(selector, namespace_labels)


def namespace_refusal(partner: str, namespace: str, selector: LabelSelector) -> str:
    """Why `namespace` may not use the ClusterWhatsAppPartner `partner`, for a condition."""
    return (
        f"ClusterWhatsAppPartner {partner} does not serve namespace {namespace}: its "
        f"namespaceSelector ({describe(selector)}) does not select it"
    )


@dataclass(frozen=True)
class Verdict:
    """Whether a resource may stand for an instance, and in words why (or why not)."""

    owned: bool
    why: str
    # False: the partner account does not list the instance at all (nothing of it to use).
    listed: bool = True


def ownership(
    *,
    instance_id: int,
    listed_name: str | None,
    namespace: str,
    name: str,
    partner: str,
    policy: AdoptionPolicy | None,
    namespace_labels: Mapping[str, str],
) -> Verdict:
    """May `namespace/name` use `instance_id` through `partner`?

    `listed_name` is the instance's name in the partner's getInstances (None: not
    listed, or not looked up because the policy already decides).
    """
    if adoption_allowed(policy, instance_id, namespace_labels):
        return Verdict(True, f"{partner} allows adopting instance {instance_id}")
    if made_for(listed_name, namespace, name):
        return Verdict(True, f"instance {instance_id} was created for this resource")
    where = (
        f"is named {listed_name!r}, not created for this resource"
        if listed_name
        else "is not listed by the partner account"
    )
    return Verdict(
        False,
        f"Instance {instance_id} {where}, and {partner} does not allow adopting it "
        "(spec.allowAdoption): its token is not copied and nothing is written or deleted",
        listed=bool(listed_name),
    )


def conflicting_id(spec_id: int | None, recorded_id: int | None) -> bool:
    """Whether spec names another instance than the one the operator recorded for the resource.

    The recorded id (annotation or status) is the one the operator created or adopted;
    a different spec id got past admission (an older CRD) and must not be acted on.
    """
    return spec_id is not None and recorded_id is not None and spec_id != recorded_id
