"""What the operator promises beyond the schema, as the reference states it.

Prose sections of docs/reference.md: how side effects are gated, and what the
operator will and will not send where. Kept beside the API because they are part
of its contract; the allow-list's default comes from the code that enforces it.
"""

from __future__ import annotations

from whatsapp_operator.endpoints import DEFAULT_ALLOWED

SIDE_EFFECTS = """\
## Side effects: what the operator promises

Every write to GREEN-API (createInstance, setSettings, reboot, logout,
deleteInstanceAccount) goes through one gate, at most once per desired state:

- **Intent first.** Before setSettings, a reboot or a logout, the operator records
  what it is about to do in status (`lastApplied`, `handledActions`,
  `lastAutoReboot`); before createInstance, the marker annotation. If that record
  cannot be written, the call is not made (`IntentNotRecorded`, retried later).
- **Outcomes: done, not sent, unknown.** An answer that proves nothing was done
  (429, 4xx, connection refused) leaves the write to be tried again after a backoff.
  An answer that never came (timeout, 5xx) counts as sent: the operator observes
  before doing anything else: getSettings after the settle window
  (`ApplyUnconfirmed`), getInstances for the marker (`CreateResultPending`). A
  reboot or logout without an answer is not repeated.
- **Budget.** One setSettings per desired state that GREEN-API takes, plus the one
  documented re-apply when it drops settings; then `SettingsNotApplied`. A write
  without an answer whose values, a settle window later, are not in getSettings did
  not reach them (and cost no reboot): it is sent again, each time only after that
  observation, at most 6 times (`status.lastApplied.unanswered`).
- **Creation never twice by itself.** A marker whose instance is not listed within
  the listing grace (`WAOP_CREATE_LISTING_GRACE`, default 600 s) stops with
  `CreateResultUnknown`; a person checks the console and either annotates
  `instance-id`, or sets `confirm-create` to the marker's value to create anew.
- **Deletion.** A deletion waits for a creation in flight and deletes what it made;
  an unlisted marker is looked up for the grace. When the partner or its Secret is
  already gone (a deleted namespace takes them first), the credentials the operator
  last read for that partner are used. Without any, the resource is let go after 3
  attempts with a `DeletionAbandoned` Warning naming the instance left behind, so
  namespace deletion always finishes.
- **Backoff.** Transient failures back off per object, exponentially with full
  jitter from 2 s, reset on success, capped at the object's `stateSeconds` (10 s to
  5 minutes; deletion: 5 minutes), so a failing service never gets more calls than a
  healthy one and an object notices its recovery within one poll interval;
  Retry-After and the 466 quota hour are honoured even above the cap. A Stalled
  resource with no instance to poll (a refused creation, a missing Secret, an
  endpoint outside the allow-list) is not asked about again on a timer but every
  ~5 minutes as a safety net: what can fix it (an edit, its partner's status, a
  referenced Secret's change) wakes it at once.
- **Actions in time order.** An action annotation's value is the time of the
  request, an RFC 3339 timestamp with a time zone. The action is performed only when
  that time is later than the last performed one of its kind and than the object's
  creation, so a re-applied older value (a GitOps self-heal, a rollback, a restored
  manifest) performs nothing, however often it comes back. What was performed is in
  `status.handledActions` and, for reboot and logout, in the operator's own
  `<action>-performed-at` annotation, which outlives a lost status and which neither
  `kubectl apply` nor Argo CD removes (no manifest holds it). Any other value is
  refused at admission by the shipped ValidatingAdmissionPolicy, or, where it is not
  installed, gets an `ActionValueInvalid` Warning and nothing is performed. A new
  request stamped by a clock behind the last performed one is not performed either:
  `kubectl whatsapp` always stamps later than the last request it can see.
"""

SECURITY = """\
## Endpoints and Secrets: what a resource can make the operator do

- **Where requests go.** Only to an `apiUrl`/`mediaUrl` (of the instance, or of its
  WhatsAppPartner) that the operator-wide allow-list covers (`--allowed-api-url`,
  `WAOP_ALLOWED_API_URLS`, the chart's `allowedApiUrls`). Anything else is
  `Stalled=True ApiUrlNotAllowed` before any Secret of the resource is read and
  before any connection is opened. Entries are `scheme://host[:port]`; `*.` stands for
  exactly one DNS label, `:*` for any port; IP literals only when listed.
- **The URL grammar** is the same for admission (schema pattern plus CEL rules) and the
  operator: `http(s)://host[:port][/path]`, ASCII only, ports 1-65535, no user info,
  query or fragment. A resource the API server admits but the models refuse is
  `Stalled=True InvalidSpec`, naming the field.
- **Bounded calls.** Answers are read up to 1 MiB; each request has a whole-call
  deadline (`WAOP_GREENAPI_DEADLINE`, 30 s), each reconcile one too
  (`WAOP_RECONCILE_DEADLINE`, 180 s, then a `ReconcileDeadlineExceeded` Warning); one
  namespace holds at most half of the reconcile slots (`--namespace-concurrency`).
- **Secrets.** References name Secrets of the resource's own namespace only (there is no
  namespace field).

The default allow-list (GREEN-API's own hosts over https):
"""


def security_section() -> list[str]:
    """The endpoints section of the reference, with the default allow-list from the code."""
    return [*SECURITY.splitlines(), "", *(f"- `{entry}`" for entry in DEFAULT_ALLOWED)]
