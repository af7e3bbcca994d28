"""Prometheus metrics: what a person watching a fleet of accounts wants on a dashboard.

Fleet-wide series have bounded label values (method names, outcome reasons, states), so
their cardinality stays flat however many accounts the operator runs. The per-object
series for alerting (`decide/signals.py`) carry namespace and name, one set per object
this process handles, removed when the object goes.
"""

from __future__ import annotations

import platform
import threading
from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from whatsapp_operator import __version__
from whatsapp_operator.decide.signals import Sample, object_samples
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


class ObjectSeries(Collector):
    """The per-object series, made at each scrape from one dict of samples per object.

    A labelled `Gauge` keeps a child object (value, lock, labels) per series: about 20
    series per instance made it the largest part of the operator's steady heap (11 MiB for
    1,000 instances, memray). Here an object's samples are kept as `object_samples` returns
    them and turned into families only when scraped, from the HTTP server's thread.
    """

    def __init__(self, families: Mapping[str, tuple[str, tuple[str, ...]]]) -> None:
        self._families = dict(families)
        self._objects: dict[tuple[str, str, str], Mapping[Sample, float]] = {}
        # Scrapes run in the exporter's thread; objects change on the event loop.
        self._lock = threading.Lock()

    def put(self, key: tuple[str, str, str], samples: Mapping[Sample, float]) -> None:
        """Publish `samples` as the object's series, replacing the ones it had."""
        with self._lock:
            self._objects[key] = samples

    def drop(self, key: tuple[str, str, str]) -> None:
        """Remove every series of the object."""
        with self._lock:
            self._objects.pop(key, None)

    def series(self) -> int:
        """How many series are published."""
        with self._lock:
            return sum(len(samples) for samples in self._objects.values())

    def _empty(self) -> dict[str, GaugeMetricFamily]:
        return {
            metric: GaugeMetricFamily(f"{PREFIX}_{metric}", text, labels=labels)
            for metric, (text, labels) in self._families.items()
        }

    def describe(self) -> Iterable[Metric]:
        """The families, without samples (the registry checks names with it)."""
        return list(self._empty().values())

    def collect(self) -> Iterable[Metric]:
        """Every object's series as they stand at this scrape."""
        with self._lock:
            objects = list(self._objects.values())
        families = self._empty()
        for samples in objects:
            for sample, value in samples.items():
                families[sample.metric].add_metric([v for _k, v in sample.labels], value)
        return list(families.values())


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
        self.greenapi_seconds = Histogram(
            f"{PREFIX}_greenapi_request_duration_seconds",
            "GREEN-API request latency by method and outcome (one attempt, answer read)",
            ["method", "outcome"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        build_info = Gauge(
            f"{PREFIX}_build_info",
            "Always 1: the operator's version and Python's",
            ["version", "python_version"],
            registry=r,
        )
        build_info.labels(version=__version__, python_version=platform.python_version()).set(1)
        who = ("namespace", "name")
        self._objects = ObjectSeries(
            {
                "resource_condition": (
                    "1 for the status each condition of an object has, 0 for the other two",
                    ("kind", *who, "condition", "status"),
                ),
                "instance_state": (
                    "1 for the GREEN-API state a WhatsAppInstance is in (one series per instance)",
                    (*who, "state"),
                ),
                "instance_state_since_timestamp_seconds": (
                    "Since when a WhatsAppInstance has been in its state (Unix seconds)",
                    who,
                ),
                "instance_linking_started_timestamp_seconds": (
                    "When the open linking window of an unlinked WhatsAppInstance began "
                    "(Unix seconds; absent while linked or not linking)",
                    who,
                ),
                "instance_plan_expires_timestamp_seconds": (
                    "When a partner-mode WhatsAppInstance's GREEN-API plan expires "
                    "(Unix seconds; absent while unknown)",
                    who,
                ),
                "instance_webhooks_queued": (
                    "Notifications waiting in a WhatsAppInstance's incoming queue "
                    "(getWebhooksCount; only while webhookUrl is set)",
                    who,
                ),
                "instance_messages_queued": (
                    "Messages waiting in a WhatsAppInstance's outgoing queue "
                    "(getMessagesCount; only while webhookUrl is set)",
                    who,
                ),
                "instance_queues_read_timestamp_seconds": (
                    "When a WhatsAppInstance's queue counts were last read (Unix seconds)",
                    who,
                ),
                "profile_instances": (
                    "WhatsAppInstances that use a WhatsAppSettingsProfile",
                    who,
                ),
                "profile_updated_instances": (
                    "WhatsAppInstances that have a profile's current revision",
                    who,
                ),
                "profile_rollout_paused": (
                    "1 while a profile's rollout is paused on an instance that did not come back",
                    who,
                ),
            }
        )
        r.register(self._objects)
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

    def greenapi_call(self, method: str, outcome: str, seconds: float) -> None:
        """Count one GREEN-API request by method and outcome, and how long it took."""
        labels = {"method": method.lower(), "outcome": outcome}
        self.greenapi_requests.labels(**labels).inc()
        self.greenapi_seconds.labels(**labels).observe(seconds)

    def observe_object(
        self, kind: str, namespace: str, name: str, status: Mapping[str, Any] | None
    ) -> None:
        """Publish what an object's stored status says; drop its series that no longer hold."""
        state = state_label(str((status or {}).get("state") or ""))
        samples = object_samples(kind, namespace, name, status, state)
        self._objects.put((kind, namespace, name), samples)

    def forget_object(self, kind: str, namespace: str, name: str) -> None:
        """The object is gone (or another process handles it now): remove its series."""
        self._objects.drop((kind, namespace, name))

    def object_series(self) -> int:
        """How many per-object series are published (bounded by the objects handled)."""
        return self._objects.series()

    def set_leader(self, leading: bool) -> None:
        """Show whether this process leads (or runs without an election) or stands by."""
        self.leader.set(1 if leading else 0)

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
