"""Names that the cluster sees: API group, kinds, annotations, condition types."""

from __future__ import annotations

from enum import StrEnum

GROUP = "whatsapp-operator.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "WhatsAppInstance"
PLURAL = "whatsappinstances"
SINGULAR = "whatsappinstance"
SHORT_NAMES = ("wai", "wa")
CATEGORIES = ("whatsapp", "all-whatsapp")

FINALIZER = f"{GROUP}/finalizer"
FIELD_MANAGER = "whatsapp-operator"

# Actions by annotation: each is performed once per distinct value and echoed in status.
ANNOTATION_RECONCILE = f"{GROUP}/reconcile-requested-at"
ANNOTATION_REBOOT = f"{GROUP}/reboot-requested-at"
ANNOTATION_LOGOUT = f"{GROUP}/logout-requested-at"
ANNOTATION_RELINK = f"{GROUP}/relink-requested-at"
ANNOTATION_PAUSED = f"{GROUP}/paused"
ACTION_ANNOTATIONS = {
    "reconcile": ANNOTATION_RECONCILE,
    "reboot": ANNOTATION_REBOOT,
    "logout": ANNOTATION_LOGOUT,
    "relink": ANNOTATION_RELINK,
}

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_INSTANCE_NAME = f"{GROUP}/instance"
LABEL_SECRET_ROLE = f"{GROUP}/role"


class ConditionType(StrEnum):
    READY = "Ready"
    SYNCED = "Synced"
    AUTHORIZED = "Authorized"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
