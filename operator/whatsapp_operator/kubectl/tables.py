"""`list` rows, partner and profile summaries, and `-o json|yaml` as kubectl prints them.

Pure functions over plain object dicts; nothing here talks to a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import yaml

from whatsapp_operator import constants
from whatsapp_operator.api.resource import LinkingPhase
from whatsapp_operator.kubectl.view import (
    condition,
    conditions_lines,
    events_lines,
    parse_moment,
    span,
)

FORMATS = ("wide", "json", "yaml")
# Phases in which a window is open and codes are (about to be) handed out.
OPEN_PHASES = (LinkingPhase.WAITING, LinkingPhase.CODE_READY)


def dump(document: dict[str, Any], fmt: str) -> str:
    """`document` as `kubectl get -o json|yaml` prints one (JSON indented by 4)."""
    if fmt == "json":
        return json.dumps(document, indent=4)
    return yaml.safe_dump(document, default_flow_style=False, sort_keys=True).rstrip("\n")


def as_list(response: dict[str, Any]) -> dict[str, Any]:
    """The API server's list as kubectl prints it: a `v1` `List` of the objects."""
    return {
        "apiVersion": "v1",
        "items": list(response.get("items") or []),
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }


def short_age(text: str | None, now: datetime) -> str:
    """kubectl's AGE column: `45s`, `12m`, `5h`, `3d` (`<unknown>` without a time)."""
    moment = parse_moment(text or "")
    if moment is None:
        return "<unknown>"
    return span(max(0, int((now - moment).total_seconds())))


def _condition_cell(obj: dict[str, Any], kind: str) -> str:
    return str((condition(obj, kind) or {}).get("status") or "-")


def linking_cell(obj: dict[str, Any], now: datetime) -> str:
    """The linking phase, with the time left while the window is open (`CodeReady 8m`)."""
    linking = (obj.get("status") or {}).get("linking") or {}
    phase = str(linking.get("phase") or "")
    if not phase:
        return "-"
    ends = parse_moment(str(linking.get("windowEndsAt") or ""))
    if phase in OPEN_PHASES and ends is not None:
        left = max(0, int((ends - now).total_seconds()))
        return f"{phase} {span(left)}"
    return phase


def instance_rows(
    items: Sequence[dict[str, Any]], now: datetime, *, all_namespaces: bool, wide: bool
) -> list[list[str]]:
    """The rows of `kubectl whatsapp list`, header first, sorted by namespace and name."""
    header = ["NAME", "STATE", "PHONE", "READY", "SYNCED", "LINKING", "AGE"]
    if wide:
        header += ["INSTANCE", "PAUSED", "REASON"]
    if all_namespaces:
        header = ["NAMESPACE", *header]
    rows = [header]
    ordered = sorted(
        items,
        key=lambda o: ((o.get("metadata") or {}).get("namespace", ""), o["metadata"]["name"]),
    )
    for obj in ordered:
        metadata = obj.get("metadata") or {}
        status = obj.get("status") or {}
        phone = ((status.get("account") or {}).get("phone")) or ""
        row = [
            str(metadata.get("name", "")),
            str(status.get("state") or "-"),
            f"+{phone}" if phone else "-",
            _condition_cell(obj, constants.ConditionType.READY),
            _condition_cell(obj, constants.ConditionType.SYNCED),
            linking_cell(obj, now),
            short_age(metadata.get("creationTimestamp"), now),
        ]
        if wide:
            instance = status.get("instanceId") or (
                (obj.get("spec") or {}).get("instance") or {}
            ).get("id")
            paused = constants.is_paused(metadata.get("annotations") or {})
            reason = (condition(obj, constants.ConditionType.READY) or {}).get("reason")
            row += [str(instance or "-"), "yes" if paused else "no", str(reason or "-")]
        if all_namespaces:
            row = [str(metadata.get("namespace", "")), *row]
        rows.append(row)
    return rows


def format_rows(rows: list[list[str]]) -> str:
    """Rows as kubectl's columns (3 spaces between them, no indent)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    )


def _generation_line(obj: dict[str, Any]) -> str:
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    if observed is None:
        return "Observed:   not yet (the operator has not reported)"
    behind = "" if observed == generation else "; the operator has not caught up"
    return f"Observed:   generation {observed} of {generation}{behind}"


def _head(obj: dict[str, Any], kind: str) -> list[str]:
    metadata = obj.get("metadata") or {}
    where = f"namespace {metadata['namespace']}" if metadata.get("namespace") else "cluster-scoped"
    return [f"{kind}: {metadata.get('name')}  ({where})", _generation_line(obj)]


def format_partner(obj: dict[str, Any], events: Sequence[dict[str, Any]], now: datetime) -> str:
    """A WhatsAppPartner or ClusterWhatsAppPartner: credentials, instances, conditions."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ref = spec.get("tokenSecretRef") or {}
    secret = str(ref.get("name") or "-")
    if ref.get("namespace"):
        secret = f"{ref['namespace']}/{secret}"
    lines = _head(obj, str(obj.get("kind") or constants.PARTNER_KIND))
    lines.append(f"API URL:    {spec.get('apiUrl') or '-'}")
    lines.append(f"Credentials: Secret {secret} (checked every {spec.get('checkSeconds', '?')} s)")
    if "namespaceSelector" in spec:
        lines.append(f"Serves:     namespaces matching {json.dumps(spec['namespaceSelector'])}")
    instances = status.get("instances")
    lines.append(f"Instances:  {'-' if instances is None else instances} live")
    if status.get("lastError"):
        lines.append(f"Last error: {status['lastError']}")
    lines += conditions_lines(status)
    lines += events_lines(events, now)
    return "\n".join(lines)


def format_profile(obj: dict[str, Any], events: Sequence[dict[str, Any]], now: datetime) -> str:
    """A WhatsAppSettingsProfile: revision, rollout progress, conditions."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    lines = _head(obj, str(obj.get("kind") or constants.PROFILE_KIND))
    if spec.get("settingsProfile"):
        lines.append(f"Based on:   {spec['settingsProfile']} (built-in)")
    lines.append(f"Revision:   {status.get('revision') or '-'}")
    total, updated = int(status.get("total") or 0), int(status.get("updated") or 0)
    stalled = (condition(obj, constants.ConditionType.STALLED) or {}).get("status") == "True"
    progress = "paused" if status.get("failed") else ("done" if updated >= total else "rolling")
    if stalled and not status.get("failed"):
        progress = "stalled"
    lines.append(
        f"Rollout:    {updated}/{total} instances updated ({progress}), "
        f"at most {status.get('maxUnavailable', 0)} at a time"
    )
    in_flight = status.get("inFlight") or []
    lines.append(f"In flight:  {', '.join(in_flight) if in_flight else '-'}")
    if status.get("failed"):
        lines.append(f"Failed:     {status['failed']} did not come back; the rollout holds")
    lines += conditions_lines(status)
    lines += events_lines(events, now)
    return "\n".join(lines)
