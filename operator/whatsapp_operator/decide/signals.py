"""Per-object signals for alerting: what an object's stored status says, as metric samples.

Computed from the status the API server holds (what `kubectl get` shows), so a restarted
operator publishes the same series as soon as its watch lists the objects, and a series
exists exactly while its object does: cardinality is bounded by the number of objects.
Timestamps are published as Unix seconds (`time() - x` in PromQL is an age), never as ages
the operator would have to keep updating.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from whatsapp_operator import constants

CONDITION_STATUSES = ("True", "False", "Unknown")
# Linking phases during which nobody is linked yet and a person is expected to act.
_LINKING_OPEN = frozenset({"Waiting", "CodeReady", "Expired"})


@dataclass(frozen=True, slots=True)
class Sample:
    """One series: the metric (its name after the `whatsapp_operator_` prefix) and labels."""

    metric: str
    labels: tuple[tuple[str, str], ...]


def object_samples(
    kind: str, namespace: str, name: str, status: Mapping[str, Any] | None, state_label: str
) -> dict[Sample, float]:
    """Every series one object contributes, with its value.

    `state_label` is the instance's state mapped onto the bounded label set (metrics.py).
    """
    status = status or {}
    who = (("namespace", namespace), ("name", name))
    samples: dict[Sample, float] = {}
    for condition in status.get("conditions") or []:
        kind_of = str(condition.get("type") or "")
        if not kind_of:
            continue
        for value in CONDITION_STATUSES:
            labels = (("kind", kind), *who, ("condition", kind_of), ("status", value))
            samples[Sample("resource_condition", labels)] = float(condition.get("status") == value)
    if kind == constants.KIND:
        samples.update(_instance_samples(who, status, state_label))
    elif kind == constants.PROFILE_KIND:
        samples[Sample("profile_instances", who)] = float(status.get("total") or 0)
        samples[Sample("profile_updated_instances", who)] = float(status.get("updated") or 0)
        samples[Sample("profile_rollout_paused", who)] = float(bool(status.get("failed")))
    return samples


def _instance_samples(
    who: tuple[tuple[str, str], ...], status: Mapping[str, Any], state_label: str
) -> dict[Sample, float]:
    samples = {Sample("instance_state", (*who, ("state", state_label))): 1.0}
    since = _seconds(status.get("stateSince"))
    if since is not None:
        samples[Sample("instance_state_since_timestamp_seconds", who)] = since
    plan = status.get("plan") or {}
    expires = _seconds(plan.get("expiresAt")) if plan.get("known") else None
    if expires is not None:
        samples[Sample("instance_plan_expires_timestamp_seconds", who)] = expires
    linking = status.get("linking") or {}
    started = _seconds(linking.get("windowStartedAt"))
    if linking.get("phase") in _LINKING_OPEN and started is not None:
        samples[Sample("instance_linking_started_timestamp_seconds", who)] = started
    queues = status.get("queues") or {}
    read_at = _seconds(queues.get("readAt"))
    if read_at is not None:
        # Only while the counts are read (webhookUrl set): an absent series is "not watched".
        samples[Sample("instance_webhooks_queued", who)] = float(queues.get("incoming") or 0)
        samples[Sample("instance_messages_queued", who)] = float(queues.get("outgoing") or 0)
        samples[Sample("instance_queues_read_timestamp_seconds", who)] = read_at
    return samples


def _seconds(text: object) -> float | None:
    """Unix seconds of an RFC 3339 timestamp in status; None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
