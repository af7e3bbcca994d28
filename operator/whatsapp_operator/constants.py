"""Names that the cluster sees: API group, kinds, annotations, condition types."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

GROUP = "whatsapp-operator.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "WhatsAppInstance"
PLURAL = "whatsappinstances"
SINGULAR = "whatsappinstance"
SHORT_NAMES = ("wai", "wa")
CATEGORIES = ("whatsapp", "all-whatsapp")

PARTNER_KIND = "WhatsAppPartner"
PARTNER_PLURAL = "whatsapppartners"
PARTNER_SINGULAR = "whatsapppartner"
PARTNER_SHORT_NAMES = ("wap",)

PROFILE_KIND = "WhatsAppSettingsProfile"
PROFILE_PLURAL = "whatsappsettingsprofiles"
PROFILE_SINGULAR = "whatsappsettingsprofile"
PROFILE_SHORT_NAMES = ("wasp",)
CLUSTER_PARTNER_KIND = "ClusterWhatsAppPartner"
CLUSTER_PARTNER_PLURAL = "clusterwhatsapppartners"
CLUSTER_PARTNER_SINGULAR = "clusterwhatsapppartner"
CLUSTER_PARTNER_SHORT_NAMES = ("cwap",)

# kopf's finalizer, which older versions' daemons put on partners and profiles; kopf
# removes it from objects none of its handlers needs one for (every kind now), so it is
# still named for kopf to find. WhatsAppInstances, whose finalizer the operator manages
# itself, use their own.
FINALIZER = f"{GROUP}/finalizer"
INSTANCE_FINALIZER = f"{GROUP}/delete-instance"

# Partner mode bookkeeping on the WhatsAppInstance. The id lives in an annotation so that
# it survives a backup restored without status; the pending marker is written (with a
# resourceVersion precondition) before createInstance, so a crash can never lose track of
# a billed instance: on restart the marker's name is looked up in getInstances.
ANNOTATION_INSTANCE_ID = f"{GROUP}/instance-id"
ANNOTATION_CREATE_PENDING = f"{GROUP}/create-pending"
ANNOTATION_CREATED_AT = f"{GROUP}/created-at"
# When the pending marker was written: bounds the wait for GREEN-API to list the instance.
ANNOTATION_CREATE_PENDING_SINCE = f"{GROUP}/create-pending-since"
# A person's answer to CreateResultUnknown: set to the marker's value to create anew.
ANNOTATION_CONFIRM_CREATE = f"{GROUP}/confirm-create"
# The field manager of the operator's writes (managedFields): the API server takes it from
# the User-Agent (adapters/kube/client.py).
FIELD_MANAGER = "whatsapp-operator"
# The kubectl plugin's, as kubectl's own is "kubectl".
PLUGIN_FIELD_MANAGER = "kubectl-whatsapp"

# Actions by annotation. The value is when the action was requested, an RFC 3339 timestamp
# with a zone; it is performed once, and only when later than the last one performed
# (`decide/actions.py`). What was performed is echoed in status.
ANNOTATION_RECONCILE = f"{GROUP}/reconcile-requested-at"
ANNOTATION_REBOOT = f"{GROUP}/reboot-requested-at"
ANNOTATION_LOGOUT = f"{GROUP}/logout-requested-at"
ANNOTATION_RELINK = f"{GROUP}/relink-requested-at"
# Issue a new instance token now (partner mode, operator-owned token Secret only).
ANNOTATION_ROTATE_TOKEN = f"{GROUP}/rotate-token-requested-at"
ANNOTATION_PAUSED = f"{GROUP}/paused"
ANNOTATION_CLEAR_WEBHOOKS_QUEUE = f"{GROUP}/clear-webhooks-queue-requested-at"
ANNOTATION_CLEAR_MESSAGES_QUEUE = f"{GROUP}/clear-messages-queue-requested-at"
# Link by pairing code for this phone (digits, international format) instead of what
# spec.authorization says: a request a GitOps sync leaves alone, since no manifest holds it.
ANNOTATION_PAIR_PHONE = f"{GROUP}/pair-phone-number"
# A person's decision to end a deletion that cannot finish ("true"): the resource goes
# and its GREEN-API instance stays (named in a DeletionAbandoned Warning).
ANNOTATION_ABANDON_DELETION = f"{GROUP}/abandon-deletion"
# On the linking Secret: when its code was last refreshed (read by the kubectl plugin).
ANNOTATION_REFRESHED_AT = f"{GROUP}/refreshed-at"


def is_paused(annotations: Mapping[str, str]) -> bool:
    """The one reading of the pause annotation, shared by the operator and the plugin."""
    return annotations.get(ANNOTATION_PAUSED, "").strip().lower() in ("true", "yes", "1")


class Action(StrEnum):
    """What a person can ask for by annotation; echoed in `status.handledActions`."""

    RECONCILE = "reconcile"
    REBOOT = "reboot"
    LOGOUT = "logout"
    RELINK = "relink"
    ROTATE_TOKEN = "rotate-token"  # noqa: S105 - an action name, not a credential
    CLEAR_WEBHOOKS_QUEUE = "clearWebhooksQueue"
    CLEAR_MESSAGES_QUEUE = "clearMessagesQueue"


ACTION_ANNOTATIONS: dict[Action, str] = {
    Action.RECONCILE: ANNOTATION_RECONCILE,
    Action.REBOOT: ANNOTATION_REBOOT,
    Action.LOGOUT: ANNOTATION_LOGOUT,
    Action.RELINK: ANNOTATION_RELINK,
    Action.ROTATE_TOKEN: ANNOTATION_ROTATE_TOKEN,
    Action.CLEAR_WEBHOOKS_QUEUE: ANNOTATION_CLEAR_WEBHOOKS_QUEUE,
    Action.CLEAR_MESSAGES_QUEUE: ANNOTATION_CLEAR_MESSAGES_QUEUE,
}

# Written by the operator once a requested write to GREEN-API (reboot, logout, token
# rotation, a queue clear) was made: the request's value.
# Status can be lost (a restore that keeps metadata); this survives it, and neither
# `kubectl apply` nor Argo CD removes an annotation that no manifest they applied held.
PERFORMED_ANNOTATIONS: dict[Action, str] = {
    Action.REBOOT: f"{GROUP}/reboot-performed-at",
    Action.LOGOUT: f"{GROUP}/logout-performed-at",
    Action.ROTATE_TOKEN: f"{GROUP}/rotate-token-performed-at",
    Action.CLEAR_WEBHOOKS_QUEUE: f"{GROUP}/clear-webhooks-queue-performed-at",
    Action.CLEAR_MESSAGES_QUEUE: f"{GROUP}/clear-messages-queue-performed-at",
}
ANNOTATION_REBOOT_PERFORMED = PERFORMED_ANNOTATIONS[Action.REBOOT]
ANNOTATION_LOGOUT_PERFORMED = PERFORMED_ANNOTATIONS[Action.LOGOUT]

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
# The value of LABEL_MANAGED_BY on every Secret the operator writes; with a controller
# ownerReference it is what lets the operator change or delete a Secret at all.
MANAGED_BY = "whatsapp-operator"
LABEL_INSTANCE_NAME = f"{GROUP}/instance"
LABEL_SECRET_ROLE = f"{GROUP}/role"
# Values of LABEL_SECRET_ROLE: the role is part of ownership, so one of an object's
# Secrets can never be written or deleted in place of another.
ROLE_TOKEN = "token"  # noqa: S105 - a label value, not a credential
ROLE_CONNECTION = "connection"
ROLE_LINKING = "linking"


class ConditionType(StrEnum):
    """The types of the conditions in a resource's status."""

    READY = "Ready"
    SYNCED = "Synced"
    AUTHORIZED = "Authorized"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    WEBHOOK_DELIVERY = "WebhookDelivery"
