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
  A record whose answer never came may have landed all the same: the process
  remembers that its call was not made and reads status as if the record had not
  landed, so a requested reboot, logout or queue clear, a token rotation and
  clearOnAccountChange's clears are made once on the next reconcile. A restart in
  between loses that one call; it never makes one twice.
  The record and the status carry the object's resourceVersion as a precondition:
  a process holding a stale copy is refused, re-reads and plans again.
- **Outcomes: done, not sent, unknown.** An answer that proves nothing was done
  (429, 4xx, connection refused) leaves the write to be tried again after a backoff.
  An answer that never came (timeout, 5xx) counts as sent: the operator observes
  before doing anything else: getSettings after the settle window
  (`ApplyUnconfirmed`), getInstances for the marker (`CreateResultPending`). A
  reboot or logout without an answer is not repeated.
- **Budget.** At most two setSettings per desired state reach GREEN-API, whatever
  mix of answers, lost answers and 5xx occurs: the write, and one re-apply a settle
  window later if its values are not in getSettings (GREEN-API documents that it
  drops settings, and a 5xx may come from a write that rebooted the instance and
  dropped them, so an unanswered write counts like an answered one). Then
  `Stalled=True SettingsNotApplied` reports the drift until the desired values change
  or a person requests a reconcile (`status.lastApplied.attempts`, `unanswered`).
- **Creation never twice by itself.** A marker whose instance is not listed within
  the listing grace (`WAOP_CREATE_LISTING_GRACE`, default 600 s) stops with
  `CreateResultUnknown`; a person checks the console and either annotates
  `instance-id`, or sets `confirm-create` to the marker's value to create anew.
- **One instance per namespace/name, across incarnations.** A resource re-created
  with no record of its instance (no `instance-id` annotation, no status: a namespace
  deleted with `deletionPolicy: Orphan`, a rebuilt cluster, and Git re-applies it)
  first looks in getInstances for live instances made for the same namespace/name
  (any uid): one is re-bound (`Rebound` event), several stall with
  `CreateResultAmbiguous`, none is created only then. Holds for instances GREEN-API
  already lists, and for one cluster per partner account.
- **Nothing re-sent below the gate.** The HTTP transport never repeats a request by
  itself (a dropped connection after a reboot was sent is an unknown outcome, not a
  second reboot), and the Kubernetes client sends each request once with a timeout
  (connect 5 s, read `WAOP_KUBE_TIMEOUT_SECONDS`, default 30).
- **One writer per object.** A leader exits once its renew deadline (10 s) has passed
  since its last renewal, checked by a watchdog thread on the monotonic clock whatever
  its other threads do, so it is gone before the Lease (15 s) can pass to a standby;
  this holds unless the host's clocks stop without the process (a VM paused as a
  whole). A leader whose Kubernetes calls are stuck past
  `WAOP_LIVENESS_STUCK_SECONDS` (120) fails `/healthz`, releases the Lease and exits.
  A WhatsAppInstance relabelled to another shard is stopped by the old shard before
  its next side effect, and its linking Secret is kept; writes are fenced by
  resourceVersion (above). Exactly one process checks ClusterWhatsAppPartners (the
  one run with `--cluster-partners`).
- **No lost changes.** A change that arrives while a reconcile runs (spec, action
  annotation, profile, rotated Secret) starts a whole reconcile as soon as the running
  one ends.
- **Deletion.** A deletion waits for a creation in flight and deletes what it made;
  an unlisted marker is looked up for the grace. When the partner or its Secret is
  already gone (a deleted namespace takes them first), the credentials the operator
  last read for that partner are used. A failed deletion keeps the resource (its
  finalizer) and is retried with backoff (up to 5 minutes apart) for as long as it
  fails, saying why in a `DeletionFailed` Warning, `status.lastError` and
  `Reconciling=True DeletionRetrying`: a partner 401 (a token rotation), an RBAC 403,
  a 404 or 400 of the partner call and any 5xx never let it go. It ends without the
  instance only when (a) the partner or its token Secret is not found and no copy was
  read earlier (`Stalled=True DeletionCredentialsGone`), for
  `WAOP_DELETION_ABANDON_AFTER` seconds (default 3600) from the deletion's start, so
  a namespace deletion still finishes; or (b) a person sets the
  `whatsapp-operator.io/abandon-deletion: "true"` annotation (or switches
  `deletionPolicy` to `Orphan`). Both post a `DeletionAbandoned` Warning naming the
  instance left in place (its id, never a token).
- **Backoff.** While GREEN-API fails, an instance's calls stay at or below its normal
  poll rate: only the first failure after a success is retried soon (1-2 s), and the
  poll after the failures end comes that much later; every later failure waits at
  least `stateSeconds`, growing with jitter to twice it, so an object notices the
  recovery within two poll intervals. The state poll (getStateInstance) is never
  retried inside a call; other reads are, at most 3 attempts within 5 s. Retry-After
  (429) and the 466 quota hour are honoured above all of it. Other failures back off
  exponentially with full jitter from 2 s to 5 minutes (deletion too), reset on
  success. A Stalled
  resource with no instance to poll (a refused creation, a missing Secret, an
  endpoint outside the allow-list) is not asked about again on a timer but every
  ~5 minutes as a safety net: what can fix it (an edit, its partner's status, a
  referenced Secret's change) wakes it at once.
- **Actions in time order.** An action annotation's value is the time of the
  request, an RFC 3339 timestamp with a time zone. The action is performed only when
  that time is later than the last performed one of its kind and than the object's
  creation, so a re-applied older value (a GitOps self-heal, a rollback, a restored
  manifest) performs nothing, however often it comes back. What was performed is in
  `status.handledActions` and, for every write to GREEN-API an annotation requests
  (reboot, logout, token rotation, the two queue clears), in the operator's own
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
  deadline (`WAOP_GREENAPI_DEADLINE`, 30 s), each reconcile one too (an instance's, a
  partner's or a profile's check: `WAOP_RECONCILE_DEADLINE`, 180 s, then a
  `ReconcileDeadlineExceeded` Warning); every kind shares the reconcile slots
  (`--concurrency`), and one namespace holds at most half of them
  (`--namespace-concurrency`).
- **Secrets.** References name Secrets of the resource's own namespace only (there is no
  namespace field).

The default allow-list (GREEN-API's own hosts over https):
"""


def security_section() -> list[str]:
    """The endpoints section of the reference, with the default allow-list from the code."""
    return [*SECURITY.splitlines(), "", *(f"- `{entry}`" for entry in DEFAULT_ALLOWED)]
