"""Operator configuration: flags first, then WAOP_* environment variables, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from whatsapp_operator.endpoints import DEFAULT_ALLOWED

LogFormat = Literal["text", "json"]


def _env_list(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name, "")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


# Mounted into every pod with a service account token: the pod's namespace.
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _own_namespace() -> str | None:
    """WAOP_OPERATOR_NAMESPACE, else the pod's namespace; None outside a cluster."""
    named = os.environ.get("WAOP_OPERATOR_NAMESPACE", "").strip()
    if named:
        return named
    try:
        return _SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


@dataclass(frozen=True)
class OperatorConfig:
    """The operator's settings; each defaults to its environment variable (WAOP_*, KUBECONFIG)."""

    # Empty: watch the whole cluster.
    namespaces: tuple[str, ...] = field(default_factory=lambda: _env_list("WAOP_NAMESPACES"))
    # Peering lets a second replica wait instead of double-handling; standalone skips it.
    peering: str | None = field(default_factory=lambda: os.environ.get("WAOP_PEERING") or None)
    log_format: LogFormat = field(
        default_factory=lambda: "json" if os.environ.get("WAOP_LOG_FORMAT") == "json" else "text"
    )
    log_level: str = field(default_factory=lambda: os.environ.get("WAOP_LOG_LEVEL", "INFO"))
    liveness: str | None = field(
        default_factory=lambda: (
            os.environ.get("WAOP_LIVENESS", "http://0.0.0.0:8080/healthz") or None
        )
    )
    # host:port of the Prometheus endpoint; empty: no endpoint.
    metrics: str | None = field(default_factory=lambda: os.environ.get("WAOP_METRICS") or None)
    # Upper bound on reconciles running at once (each holds GREEN-API connections).
    concurrency: int = field(default_factory=lambda: int(os.environ.get("WAOP_CONCURRENCY", "32")))
    kubeconfig: str | None = field(default_factory=lambda: os.environ.get("KUBECONFIG") or None)
    greenapi_read_timeout: float = field(
        default_factory=lambda: float(os.environ.get("WAOP_GREENAPI_TIMEOUT", "20"))
    )
    # Whether linkPreview/enableLidMode are sent as JSON booleans or "yes"/"no".
    lenient_bool_style: Literal["yesno", "json"] = field(
        default_factory=lambda: (
            "json" if os.environ.get("WAOP_LENIENT_BOOL_STYLE") == "json" else "yesno"
        )
    )
    verbose_kopf: bool = field(default_factory=lambda: _env_bool("WAOP_VERBOSE_KOPF", False))
    # How long a createInstance without a known result is looked up in getInstances before
    # a person is asked (CreateResultUnknown); GREEN-API may list a new instance late.
    create_listing_grace_seconds: float = field(
        default_factory=lambda: float(os.environ.get("WAOP_CREATE_LISTING_GRACE", "600"))
    )
    # How long a deletion (deletionPolicy Delete) whose partner credentials are gone waits
    # for them before the resource is let go, leaving its instance (a DeletionAbandoned
    # Warning names it). Other failures never let a resource go on their own.
    deletion_abandon_after_seconds: float = field(
        default_factory=lambda: float(os.environ.get("WAOP_DELETION_ABANDON_AFTER", "3600"))
    )
    # How often the Secrets that objects reference are re-read to notice a change (there
    # is no Secret watch): one GET per referenced Secret per interval.
    secret_recheck_seconds: float = field(
        default_factory=lambda: float(os.environ.get("WAOP_SECRET_RECHECK_SECONDS", "15"))
    )
    # Read many referenced Secrets of one namespace with one paginated LIST (a restart of a
    # big fleet) instead of a GET each; needs `list` on secrets. Off: GETs by name only.
    list_secrets: bool = field(default_factory=lambda: _env_bool("WAOP_LIST_SECRETS", True))
    # How often freed C heap is given back to the system (glibc malloc_trim); 0: never.
    heap_trim_seconds: float = field(
        default_factory=lambda: float(os.environ.get("WAOP_HEAP_TRIM_SECONDS", "30"))
    )

    # The GREEN-API endpoints requests may go to (endpoints.AllowList entries); a resource
    # naming any other apiUrl is stalled before a Secret is read or a connection opened.
    allowed_api_urls: tuple[str, ...] = field(
        default_factory=lambda: _env_list("WAOP_ALLOWED_API_URLS") or DEFAULT_ALLOWED
    )
    # Reconcile slots one namespace may hold at once (0: half of `concurrency`), so one
    # namespace's slow endpoint cannot take every slot from the others.
    namespace_concurrency: int = field(
        default_factory=lambda: int(os.environ.get("WAOP_NAMESPACE_CONCURRENCY", "0"))
    )
    # Whole-call deadline of one GREEN-API request (connect, send, every byte of the answer):
    # a server that drips a byte before each read timeout cannot hold a slot longer.
    greenapi_deadline: float = field(
        default_factory=lambda: float(os.environ.get("WAOP_GREENAPI_DEADLINE", "30"))
    )
    # Deadline of one whole reconcile, retries included.
    reconcile_deadline: float = field(
        default_factory=lambda: float(os.environ.get("WAOP_RECONCILE_DEADLINE", "180"))
    )

    # Read timeout of one Kubernetes API call (connecting: 5 s); calls are never re-sent
    # by the client. kopf's watches keep their own timeouts.
    kube_timeout_seconds: float = field(
        default_factory=lambda: float(os.environ.get("WAOP_KUBE_TIMEOUT_SECONDS", "30"))
    )
    # A Kubernetes call in flight this long means the loop is stuck: /healthz answers 503
    # and a leader gives up its Lease and exits.
    liveness_stuck_seconds: float = field(
        default_factory=lambda: float(os.environ.get("WAOP_LIVENESS_STUCK_SECONDS", "120"))
    )

    @property
    def namespace_slots(self) -> int:
        """Reconcile slots one namespace may hold at once."""
        if self.namespace_concurrency > 0:
            return min(self.namespace_concurrency, self.concurrency)
        return max(1, self.concurrency // 2)

    # Where a ClusterWhatsAppPartner's token Secret is when its reference names no namespace.
    operator_namespace: str | None = field(default_factory=_own_namespace)

    # Leader election (run --leader-elect): replicas wait as standbys on this Lease.
    leader_elect: bool = field(default_factory=lambda: _env_bool("WAOP_LEADER_ELECT", False))
    lease_name: str = field(
        default_factory=lambda: os.environ.get("WAOP_LEASE_NAME") or "whatsapp-operator"
    )
    # Empty: the operator's own namespace (operator_namespace).
    lease_namespace: str | None = field(
        default_factory=lambda: os.environ.get("WAOP_LEASE_NAMESPACE") or None
    )
    lease_seconds: int = field(
        default_factory=lambda: int(os.environ.get("WAOP_LEASE_DURATION_SECONDS", "15"))
    )
    lease_renew_deadline_seconds: float = field(
        default_factory=lambda: float(os.environ.get("WAOP_LEASE_RENEW_DEADLINE_SECONDS", "10"))
    )
    lease_renew_seconds: float = field(
        default_factory=lambda: float(os.environ.get("WAOP_LEASE_RENEW_SECONDS", "5"))
    )
    lease_retry_seconds: float = field(
        default_factory=lambda: float(os.environ.get("WAOP_LEASE_RETRY_SECONDS", "2"))
    )
    # Sharding: a label selector (Kubernetes syntax) the API server applies to the list and
    # watch of every kind the operator handles; empty: everything.
    shard_selector: str = field(
        default_factory=lambda: os.environ.get("WAOP_SHARD_SELECTOR", "").strip()
    )
    # Whether this process checks ClusterWhatsAppPartners; with namespace shards, exactly
    # one shard should.
    cluster_partners: bool = field(default_factory=lambda: _env_bool("WAOP_CLUSTER_PARTNERS", True))

    @property
    def election_namespace(self) -> str | None:
        """Where the leader-election Lease lives: lease_namespace, else the operator's own."""
        return self.lease_namespace or self.operator_namespace

    @property
    def clusterwide(self) -> bool:
        """Whether the whole cluster is watched (no namespace given)."""
        return not self.namespaces
