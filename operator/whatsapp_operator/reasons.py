"""Every reason the operator writes into a condition or an Event, in one catalog.

`Reason` names them; `FAILURES` and `EVENTS` say what each means, whether a
person must act (failures) and which Event type carries it (events);
`CONDITIONS` holds the reasons only conditions carry (their meaning is in the
condition tables of `decide/conditions.py`, `decide/queues.py` and the runners
of partners and profiles). It sits below `ports` in the layers so that every
failure type can carry a `Reason`; a test fails when code produces a reason
that is not in it, or spells one as a string in `decide/` or `run/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


# ruff: noqa: S105 - reason names such as "TokenRejected" are not credentials
class Reason(StrEnum):
    """Failure, event and condition reasons: the values status, Events and docs show."""

    TOKEN_REJECTED = "TokenRejected"
    INSTANCE_REJECTED = "InstanceRejected"
    INSTANCE_DELETED = "InstanceDeleted"
    INSTANCE_EXPIRED = "InstanceExpired"
    QUOTA_EXCEEDED = "QuotaExceeded"
    SETTINGS_REJECTED = "SettingsRejected"
    API_MISMATCH = "ApiMismatch"
    RATE_LIMITED = "RateLimited"
    GREEN_API_UNAVAILABLE = "GreenApiUnavailable"
    PARTNER_TOKEN_REJECTED = "PartnerTokenRejected"
    PARTNER_ERROR = "PartnerError"
    PARTNER_REF_MISSING = "PartnerRefMissing"
    PARTNER_NOT_FOUND = "PartnerNotFound"
    INSTANCE_NOT_FOUND = "InstanceNotFound"
    INSTANCE_NOT_OWNED = "InstanceNotOwned"
    INSTANCE_ID_CONFLICT = "InstanceIdConflict"
    PARTNER_NOT_ALLOWED = "PartnerNotAllowed"
    CREATE_RESULT_AMBIGUOUS = "CreateResultAmbiguous"
    CREATE_REJECTED = "CreateRejected"
    CREATE_RESULT_PENDING = "CreateResultPending"
    CREATE_IN_FLIGHT = "CreateInFlight"
    CREATE_RESULT_UNKNOWN = "CreateResultUnknown"
    INTENT_NOT_RECORDED = "IntentNotRecorded"
    TOKEN_UNAVAILABLE = "TokenUnavailable"
    CREATION_HELD = "CreationHeld"
    SECRET_NOT_FOUND = "SecretNotFound"
    SECRET_KEY_MISSING = "SecretKeyMissing"
    SECRET_NOT_OWNED = "SecretNotOwned"
    KUBERNETES_ERROR = "KubernetesError"
    API_URL_NOT_ALLOWED = "ApiUrlNotAllowed"
    INVALID_SPEC = "InvalidSpec"
    RECONCILE_DEADLINE_EXCEEDED = "ReconcileDeadlineExceeded"
    SETTINGS_NOT_APPLIED = "SettingsNotApplied"
    DRIFT_DETECTED = "DriftDetected"
    SETTINGS_IN_SYNC = "SettingsInSync"
    AUTHORIZED = "Authorized"
    ACCOUNT_BLOCKED = "AccountBlocked"
    YELLOW_CARD = "YellowCard"
    AUTHORIZATION_LOST = "AuthorizationLost"
    RECOVERED = "Recovered"
    LINKING_WINDOW_EXPIRED = "LinkingWindowExpired"
    LINKING_CODE_READY = "LinkingCodeReady"
    REBOOTED = "Rebooted"
    LOGGED_OUT = "LoggedOut"
    AUTO_REBOOTED = "AutoRebooted"
    DELETION_FAILED = "DeletionFailed"
    DELETION_ORPHANED = "DeletionOrphaned"
    DELETION_ABANDONED = "DeletionAbandoned"
    DELETION_UNVERIFIED = "DeletionUnverified"
    DELETION_RETRYING = "DeletionRetrying"
    DELETION_CREDENTIALS_GONE = "DeletionCredentialsGone"
    REBOOT_UNCONFIRMED = "RebootUnconfirmed"
    LOGOUT_UNCONFIRMED = "LogoutUnconfirmed"
    ACTION_VALUE_INVALID = "ActionValueInvalid"
    CREDENTIALS_VALID = "CredentialsValid"
    SETTINGS_APPLIED = "SettingsApplied"
    SETTINGS_REAPPLIED = "SettingsReapplied"
    DRIFT_CORRECTED = "DriftCorrected"
    SETTINGS_UNCONFIRMED = "SettingsUnconfirmed"
    PROFILE_NOT_FOUND = "ProfileNotFound"
    ROLLOUT_PAUSED = "RolloutPaused"
    ROLLOUT_COMPLETE = "RolloutComplete"
    REBOUND = "Rebound"
    PLAN_EXPIRING = "PlanExpiring"
    TOKEN_ROTATED = "TokenRotated"
    TOKEN_RECOVERED = "TokenRecovered"
    TOKEN_NOT_RECOVERED = "TokenNotRecovered"
    TOKEN_ROTATION_REFUSED = "TokenRotationRefused"
    TOKEN_ROTATION_FAILED = "TokenRotationFailed"
    TOKEN_ROTATION_UNCONFIRMED = "TokenRotationUnconfirmed"
    TOKEN_ROTATION_PENDING = "TokenRotationPending"
    QUEUE_CLEARED = "QueueCleared"
    QUEUE_CLEAR_DEFERRED = "QueueClearDeferred"
    QUEUE_CLEAR_UNCONFIRMED = "QueueClearUnconfirmed"
    QUEUES_CLEARED = "QueuesCleared"
    WEBHOOK_DELIVERY_FAILING = "WebhookDeliveryFailing"
    # Conditions only (see CONDITIONS). Authorized:
    NOT_AUTHORIZED = "NotAuthorized"
    BLOCKED = "Blocked"
    STARTING = "Starting"
    SLEEP_MODE = "SleepMode"
    CREATING = "Creating"
    UNKNOWN_STATE = "UnknownState"
    STATE_UNKNOWN = "StateUnknown"
    # Synced:
    IN_SYNC = "InSync"
    APPLYING_SETTINGS = "ApplyingSettings"
    REAPPLYING_SETTINGS = "ReapplyingSettings"
    CORRECTING_DRIFT = "CorrectingDrift"
    WAITING_FOR_INSTANCE = "WaitingForInstance"
    WAITING_FOR_ROLLOUT = "WaitingForRollout"
    DRIFTED = "Drifted"
    RECONCILE_PAUSED = "ReconcilePaused"
    SETTINGS_UNKNOWN = "SettingsUnknown"
    APPLY_FAILED = "ApplyFailed"
    APPLY_UNCONFIRMED = "ApplyUnconfirmed"
    # Stalled, Reconciling, Ready:
    NOT_STALLED = "NotStalled"
    STALLED = "Stalled"
    RETRYING_AFTER_ERROR = "RetryingAfterError"
    CONVERGED = "Converged"
    AWAITING_AUTHORIZATION = "AwaitingAuthorization"
    OBSERVING = "Observing"
    READY = "Ready"
    # WebhookDelivery:
    DELIVERING = "Delivering"
    QUEUE_DRAINING = "QueueDraining"
    QUEUE_RISING = "QueueRising"
    QUEUE_GROWING = "QueueGrowing"
    QUEUE_NOT_READ = "QueueNotRead"
    # A WhatsAppSettingsProfile's rollout:
    ROLLING_OUT = "RollingOut"
    ROLLED_OUT = "RolledOut"


@dataclass(frozen=True)
class FailureReason:
    """A failure reason: `permanence` as documented, `text` for the reference."""

    permanence: str
    text: str


@dataclass(frozen=True)
class EventReason:
    """An Event reason: its type and when it is posted."""

    type: Literal["Normal", "Warning"]
    text: str


FAILURES: dict[Reason, FailureReason] = {
    Reason.TOKEN_REJECTED: FailureReason(
        "permanent", "GREEN-API rejected the apiTokenInstance (401)."
    ),
    Reason.INSTANCE_REJECTED: FailureReason(
        "permanent", "GREEN-API rejected the instance id or apiUrl (403)."
    ),
    Reason.INSTANCE_DELETED: FailureReason("permanent", "GREEN-API says the instance is deleted."),
    Reason.INSTANCE_EXPIRED: FailureReason(
        "permanent", "The instance's plan has expired; renew it."
    ),
    Reason.QUOTA_EXCEEDED: FailureReason(
        "transient",
        "The GREEN-API plan's quota is exhausted (466); retried after its hour, not before.",
    ),
    Reason.SETTINGS_REJECTED: FailureReason("permanent", "GREEN-API rejected the settings (400)."),
    Reason.API_MISMATCH: FailureReason(
        "permanent", "GREEN-API does not know the method; check the apiUrl."
    ),
    Reason.RATE_LIMITED: FailureReason("transient", "GREEN-API rate-limited the operator (429)."),
    Reason.GREEN_API_UNAVAILABLE: FailureReason(
        "transient (permanent for a non-retryable partner error)",
        "GREEN-API could not be reached or answered with an error.",
    ),
    Reason.PARTNER_TOKEN_REJECTED: FailureReason(
        "permanent", "GREEN-API rejected the partner token."
    ),
    Reason.PARTNER_ERROR: FailureReason("permanent", "The partner API refused the request."),
    Reason.PARTNER_REF_MISSING: FailureReason(
        "permanent", "Creating or deleting an instance needs spec.partnerRef."
    ),
    Reason.PARTNER_NOT_FOUND: FailureReason(
        "permanent", "The referenced WhatsAppPartner does not exist."
    ),
    Reason.INSTANCE_NOT_FOUND: FailureReason(
        "permanent", "The partner account does not list the instance."
    ),
    Reason.INSTANCE_NOT_OWNED: FailureReason(
        "permanent",
        "Through partnerRef, the resource names an instance the operator did not create for it "
        "(creation marker), and the partner's allowAdoption does not permit it: no token is "
        "copied, nothing is written or deleted. Also a Warning when deletion leaves it in place.",
    ),
    Reason.INSTANCE_ID_CONFLICT: FailureReason(
        "permanent",
        "spec.instance.id names another instance than the one the operator created or adopted "
        "for this resource (recorded in the instance-id annotation or status); nothing is done "
        "to either until they agree.",
    ),
    Reason.PARTNER_NOT_ALLOWED: FailureReason(
        "permanent",
        "The ClusterWhatsAppPartner's namespaceSelector does not select the resource's "
        "namespace: nothing is created, adopted or deleted through it.",
    ),
    Reason.CREATE_RESULT_AMBIGUOUS: FailureReason(
        "permanent",
        "Several live instances carry this resource's creation marker (after a lost answer, or "
        "for a resource re-created under its earlier name); keep one by annotation.",
    ),
    Reason.CREATE_REJECTED: FailureReason(
        "permanent", "The partner API refused to create the instance."
    ),
    Reason.CREATE_RESULT_PENDING: FailureReason(
        "transient",
        "createInstance got no answer, or its instance is not listed yet: the marker's name is "
        "looked up in getInstances for the listing grace; nothing is created meanwhile.",
    ),
    Reason.CREATE_IN_FLIGHT: FailureReason(
        "transient", "A createInstance of this operator is still running."
    ),
    Reason.CREATE_RESULT_UNKNOWN: FailureReason(
        "permanent",
        "createInstance was attempted but nothing with the marker's name was listed within the "
        "grace. Annotate instance-id if it exists; confirm-create=<marker> to create anew.",
    ),
    Reason.INTENT_NOT_RECORDED: FailureReason(
        "transient",
        "A write to GREEN-API was held because its intent could not be written to status.",
    ),
    Reason.TOKEN_UNAVAILABLE: FailureReason(
        "transient", "The instance was created but its token is not listed yet."
    ),
    Reason.CREATION_HELD: FailureReason(
        "transient",
        "No instance yet, and writes are held (paused, being deleted, or managementPolicy "
        "Observe).",
    ),
    Reason.SECRET_NOT_FOUND: FailureReason("permanent", "A referenced Secret does not exist."),
    Reason.DELETION_RETRYING: FailureReason(
        "transient",
        "Being deleted (deletionPolicy Delete) and deleting the GREEN-API instance failed (any "
        "GREEN-API or Kubernetes error, a partner 401/403/404 included); retried with backoff "
        "until it succeeds, spec.deletionPolicy is set to Orphan or the `abandon-deletion` "
        "annotation is set.",
    ),
    Reason.DELETION_CREDENTIALS_GONE: FailureReason(
        "permanent",
        "Being deleted, and the partner or its token Secret is gone (no copy read earlier): "
        "retried until they return, else let go after `WAOP_DELETION_ABANDON_AFTER` with a "
        "`DeletionAbandoned` Warning naming the instance left in place.",
    ),
    Reason.SECRET_KEY_MISSING: FailureReason(
        "permanent", "A referenced Secret key is missing, empty or not UTF-8."
    ),
    Reason.SECRET_NOT_OWNED: FailureReason(
        "permanent",
        "A Secret the operator would write or delete exists and is not its own for this resource "
        "(managed-by label, controller ownerReference, role label); the message names it.",
    ),
    Reason.PROFILE_NOT_FOUND: FailureReason(
        "permanent",
        "The WhatsAppSettingsProfile named in settingsProfileRef does not exist; nothing is "
        "written until it does or the reference is removed.",
    ),
    Reason.KUBERNETES_ERROR: FailureReason(
        "transient (permanent for 404/403/422)", "The Kubernetes API server failed the request."
    ),
    Reason.API_URL_NOT_ALLOWED: FailureReason(
        "permanent",
        "An apiUrl or mediaUrl (of the instance, or of its WhatsAppPartner) is outside the "
        "operator's allow-list of GREEN-API endpoints; nothing was sent and no Secret was read.",
    ),
    Reason.INVALID_SPEC: FailureReason(
        "permanent",
        "The resource cannot be read as the API defines it (a field the schema let through); "
        "the message names the field.",
    ),
    Reason.TOKEN_ROTATION_PENDING: FailureReason(
        "transient",
        "updateApiToken got no answer: the old token may be dead and the new one unknown. The "
        "new one is looked up in the partner's getInstances before anything else; the old one "
        "is not used meanwhile (a TokenNotRecovered Warning says when the lookup fails).",
    ),
    Reason.RECONCILE_DEADLINE_EXCEEDED: FailureReason(
        "transient",
        "One reconcile ran past the operator's per-reconcile deadline (a slow endpoint); it was "
        "cut off and is retried with backoff.",
    ),
}

EVENTS: dict[Reason, EventReason] = {
    Reason.SETTINGS_NOT_APPLIED: EventReason(
        "Warning", "Settings sent to GREEN-API twice (answered or not) were not applied."
    ),
    Reason.DRIFT_DETECTED: EventReason("Warning", "Settings drifted (managementPolicy Observe)."),
    Reason.SETTINGS_IN_SYNC: EventReason(
        "Normal", "Settings are in sync again after drift or a re-apply (not after our own write)."
    ),
    Reason.AUTHORIZED: EventReason("Normal", "A phone was linked."),
    Reason.ACCOUNT_BLOCKED: EventReason("Warning", "WhatsApp banned the number."),
    Reason.YELLOW_CARD: EventReason("Warning", "Sending is suspended for suspected spam."),
    Reason.AUTHORIZATION_LOST: EventReason("Warning", "The linked phone is no longer authorized."),
    Reason.RECOVERED: EventReason("Normal", "Stalled is no longer True."),
    Reason.LINKING_WINDOW_EXPIRED: EventReason(
        "Normal", "The linking window ended without a linked phone."
    ),
    Reason.LINKING_CODE_READY: EventReason("Normal", "A QR code or pairing code is ready."),
    Reason.REBOOTED: EventReason("Normal", "Rebooted the instance on request (annotation)."),
    Reason.LOGGED_OUT: EventReason(
        "Normal", "Logged the linked phone out (annotation, or before deletion)."
    ),
    Reason.AUTO_REBOOTED: EventReason(
        "Warning", "The instance was stuck starting; rebooted it (autoHeal)."
    ),
    Reason.INSTANCE_DELETED: EventReason(
        "Normal", "Deleted the GREEN-API instance (deletionPolicy Delete)."
    ),
    Reason.DELETION_FAILED: EventReason(
        "Warning", "Deleting the GREEN-API instance failed; retrying."
    ),
    Reason.DELETION_ORPHANED: EventReason(
        "Warning", "The resource is paused: the instance was left in place."
    ),
    Reason.DELETION_ABANDONED: EventReason(
        "Warning",
        "The resource was let go without its GREEN-API instance: its partner credentials "
        "(partner or token Secret) stayed gone for `WAOP_DELETION_ABANDON_AFTER`, or a person "
        "set the `abandon-deletion` annotation; the message names the instance left in place.",
    ),
    Reason.INSTANCE_NOT_OWNED: EventReason(
        "Warning",
        "Deletion left an instance in place: it was not created for this resource and the "
        "partner does not allow adopting it.",
    ),
    Reason.DELETION_UNVERIFIED: EventReason(
        "Warning",
        "A creation marker was never listed by GREEN-API within the grace; the resource was let "
        "go and the message names the marker to look for.",
    ),
    Reason.REBOOT_UNCONFIRMED: EventReason(
        "Warning", "A requested reboot or logout got no usable answer; it is not sent again."
    ),
    Reason.LOGOUT_UNCONFIRMED: EventReason(
        "Warning", "A requested reboot or logout got no usable answer; it is not sent again."
    ),
    Reason.ACTION_VALUE_INVALID: EventReason(
        "Warning",
        "An action annotation's value is not an RFC 3339 timestamp with a time zone; the "
        "action was not performed (posted once per value).",
    ),
    Reason.CREDENTIALS_VALID: EventReason(
        "Normal", "WhatsAppPartner: GREEN-API accepted the partner token."
    ),
    Reason.SETTINGS_APPLIED: EventReason(
        "Normal", "Settings outcome `Apply`: sent the differing keys."
    ),
    Reason.SETTINGS_REAPPLIED: EventReason(
        "Warning", "GREEN-API did not apply the settings within the settle window; sent once more."
    ),
    Reason.DRIFT_CORRECTED: EventReason(
        "Warning", "Settings changed outside the operator; restored them."
    ),
    Reason.SETTINGS_UNCONFIRMED: EventReason(
        "Warning", "setSettings got no answer; checked with getSettings before sending again."
    ),
    Reason.ROLLOUT_PAUSED: EventReason(
        "Warning",
        "WhatsAppSettingsProfile: an instance did not come back from applying the profile; "
        "the rollout holds (the message names it).",
    ),
    Reason.ROLLOUT_COMPLETE: EventReason(
        "Normal", "WhatsAppSettingsProfile: every instance has the current revision."
    ),
    Reason.REBOUND: EventReason(
        "Normal",
        "Partner mode: a resource re-created without its record (a new uid, no instance-id "
        "annotation, no status) took over the one live instance made for its namespace/name "
        "instead of creating one; the message names the id and that instance's marker. For a "
        "fresh instance instead, delete the resource with deletionPolicy Delete before "
        "re-applying it, or give the new resource another name.",
    ),
    Reason.PLAN_EXPIRING: EventReason(
        "Warning",
        "Partner mode: the instance's plan expires within spec.plan.warnDaysBefore days (also "
        "Ready's reason while Ready is True); once per expiry date. Once it lapses: Stalled "
        "InstanceExpired.",
    ),
    Reason.TOKEN_ROTATED: EventReason(
        "Normal",
        "A new instance token was issued (updateApiToken) and written to the token Secret and "
        "the connection Secret.",
    ),
    Reason.TOKEN_RECOVERED: EventReason(
        "Normal",
        "updateApiToken got no answer, and the new token was recovered from the partner's "
        "getInstances and written to both Secrets; the old one is not used again.",
    ),
    Reason.TOKEN_NOT_RECOVERED: EventReason(
        "Warning",
        "updateApiToken got no answer and the new token could not be read from the partner's "
        "getInstances; retried, and the old token is not used meanwhile.",
    ),
    Reason.TOKEN_ROTATION_REFUSED: EventReason(
        "Warning",
        "A rotation was requested for a resource whose token cannot be rotated safely (no "
        "partnerRef, or a token Secret the user owns); status.tokenRotation.refused says why.",
    ),
    Reason.TOKEN_ROTATION_FAILED: EventReason(
        "Warning",
        "GREEN-API refused updateApiToken; the token is unchanged (the schedule tries again "
        "after `every`; a request by annotation is not repeated).",
    ),
    Reason.TOKEN_ROTATION_UNCONFIRMED: EventReason(
        "Warning",
        "updateApiToken got no answer and, five minutes on, the partner still lists the old "
        "token: the rotation did not happen and the old token stays in use; the next "
        "scheduled attempt waits spec.tokenRotation.every.",
    ),
    Reason.QUEUE_CLEARED: EventReason(
        "Normal",
        "Cleared a queue on request (annotation); the message says how many items were dropped.",
    ),
    Reason.QUEUE_CLEAR_DEFERRED: EventReason(
        "Normal",
        "GREEN-API clears a queue at most once a minute and refused this one with its "
        "`leftTime`: the clear is tried again after it (not a failure).",
    ),
    Reason.QUEUE_CLEAR_UNCONFIRMED: EventReason(
        "Warning", "A queue clear got no usable answer; it is not sent again."
    ),
    Reason.QUEUES_CLEARED: EventReason(
        "Normal",
        "spec.queues.clearOnAccountChange: the linked number changed or was blocked, and both "
        "queues were cleared once; the message names the change and the items dropped.",
    ),
    Reason.WEBHOOK_DELIVERY_FAILING: EventReason(
        "Warning",
        "WebhookDelivery turned False: the incoming queue kept growing for longer than "
        "spec.queues.growthWindowSeconds while webhookUrl is set.",
    ),
}

# Reasons only conditions carry (neither a failure nor an Event); the reference documents each
# in its condition's table.
CONDITIONS: frozenset[Reason] = frozenset(
    {
        Reason.NOT_AUTHORIZED,
        Reason.BLOCKED,
        Reason.STARTING,
        Reason.SLEEP_MODE,
        Reason.CREATING,
        Reason.UNKNOWN_STATE,
        Reason.STATE_UNKNOWN,
        Reason.IN_SYNC,
        Reason.APPLYING_SETTINGS,
        Reason.REAPPLYING_SETTINGS,
        Reason.CORRECTING_DRIFT,
        Reason.WAITING_FOR_INSTANCE,
        Reason.WAITING_FOR_ROLLOUT,
        Reason.DRIFTED,
        Reason.RECONCILE_PAUSED,
        Reason.SETTINGS_UNKNOWN,
        Reason.APPLY_FAILED,
        Reason.APPLY_UNCONFIRMED,
        Reason.NOT_STALLED,
        Reason.STALLED,
        Reason.RETRYING_AFTER_ERROR,
        Reason.CONVERGED,
        Reason.AWAITING_AUTHORIZATION,
        Reason.OBSERVING,
        Reason.READY,
        Reason.DELIVERING,
        Reason.QUEUE_DRAINING,
        Reason.QUEUE_RISING,
        Reason.QUEUE_GROWING,
        Reason.QUEUE_NOT_READ,
        Reason.ROLLING_OUT,
        Reason.ROLLED_OUT,
    }
)
