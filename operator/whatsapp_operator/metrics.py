"""Prometheus metrics: what a person watching a fleet of accounts wants on a dashboard.

Label values are bounded (method names, outcome reasons, states), never object names
or ids, so cardinality stays flat however many accounts the operator runs.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from whatsapp_operator.wire.models import InstanceState

PREFIX = "whatsapp_operator"

# Values of the `state` label: GREEN-API's documented states (and `creating`), `unknown`
# before the first answer, and `other` for anything else, so a state string nobody
# documented can never add a time series.
STATE_OTHER = "other"
STATE_NONE = "unknown"
STATE_LABELS = frozenset(
    {state.value for state in InstanceState if state is not InstanceState.UNKNOWN}
    | {STATE_NONE, STATE_OTHER}
)


def state_label(state: str) -> str:
    """The label value for an instance state as status shows it (raw when unknown)."""
    if not state:
        return STATE_NONE
    return state if state in STATE_LABELS else STATE_OTHER


class Metrics:
    """The operator's Prometheus metrics, in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.greenapi_requests = Counter(
            f"{PREFIX}_greenapi_requests",
            "GREEN-API requests by method and outcome",
            ["method", "outcome"],
            registry=r,
        )
        self.reconcile_seconds = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "Duration of one reconcile",
            ["kind"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.instances = Gauge(
            f"{PREFIX}_instances", "WhatsAppInstances by GREEN-API state", ["state"], registry=r
        )
        self.settings_writes = Counter(
            f"{PREFIX}_settings_writes",
            "setSettings decisions by outcome (applied, unconfirmed, "
            "reapplied, drift_corrected, failed, rejected)",
            ["outcome"],
            registry=r,
        )
        self.drift_corrections = Counter(
            f"{PREFIX}_drift_corrections", "Out-of-band setting changes corrected", registry=r
        )
        self.errors = Counter(
            f"{PREFIX}_reconcile_errors",
            "Reconciles that ended in an error, by reason",
            ["reason"],
            registry=r,
        )
        self.secret_reads = Counter(
            f"{PREFIX}_secret_reads",
            "Secret GETs sent to the API server, by purpose (reconcile: a cache miss; "
            "recheck: the timed re-read of referenced Secrets; write: before a write)",
            ["purpose"],
            registry=r,
        )
        self.leader = Gauge(
            f"{PREFIX}_leader",
            "1 on the process that works on objects (the leader), 0 on a standby",
            registry=r,
        )
        self._states: dict[str, str] = {}
        self._shown: set[str] = set()

    def serve(self, host: str, port: int) -> None:
        """Serve the metrics over HTTP at `host:port`, in a background thread."""
        start_http_server(port, addr=host, registry=self.registry)

    def set_leader(self, leading: bool) -> None:
        """Show whether this process leads (or runs without an election) or stands by."""
        self.leader.set(1 if leading else 0)

    def greenapi_call(self, method: str, outcome: str) -> None:
        """Count one GREEN-API request by method and outcome."""
        self.greenapi_requests.labels(method=method.lower(), outcome=outcome).inc()

    def secret_read(self, purpose: str) -> None:
        """Count one Secret GET sent to the API server."""
        self.secret_reads.labels(purpose=purpose).inc()

    def set_state(self, uid: str, state: str) -> None:
        """Count the instance `uid` in `state` (mapped onto `STATE_LABELS`)."""
        label = state_label(state)
        if self._states.get(uid) != label:
            self._states[uid] = label
            self._publish()

    def forget(self, uid: str) -> None:
        """Stop counting the instance `uid` in any state."""
        if self._states.pop(uid, None) is not None:
            self._publish()

    def _publish(self) -> None:
        counts = Tally(self._states.values())
        # A state nobody is in any more must read 0, not keep its last value.
        for state in self._shown | set(counts):
            self.instances.labels(state=state).set(counts.get(state, 0))
        self._shown |= set(counts)
