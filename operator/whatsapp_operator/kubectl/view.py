"""What the kubectl plugin shows and asks: annotation patches and the status view.

Pure functions over plain object dicts, shared by the plugin's subcommands and the
link page; nothing here talks to a cluster.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from whatsapp_operator import constants
from whatsapp_operator.api.resource import AuthorizationMethod, LinkingPhase
from whatsapp_operator.decide.actions import latest
from whatsapp_operator.decide.linking import PHONE_PATTERN as LINKING_PHONE
from whatsapp_operator.timestamps import format_time

PHONE_PATTERN = re.compile(r"^[1-9][0-9]{6,14}$")


class PluginError(Exception):
    """A failure explained to the user (printed without a traceback, exit 1)."""


@dataclass
class Output:
    """Where the plugin writes what the user reads."""

    stream: TextIO

    @property
    def tty(self) -> bool:
        """Whether the stream is a terminal."""
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def say(self, text: str = "") -> None:
        """Write `text` and a newline, at once."""
        print(text, file=self.stream, flush=True)

    def clear(self) -> None:
        """Clear the screen, on a terminal only."""
        if self.tty:
            self.stream.write("\x1b[2J\x1b[H")
            self.stream.flush()


def now_value(*previous: str | None, clock: Callable[[], float] = time.time) -> str:
    """The current time as an action annotation's value (RFC 3339, UTC, whole seconds),
    always later than each of `previous` that is a timestamp: the operator performs only
    a request later than the last one, so a clock behind must not make it a no-op."""
    moment = datetime.fromtimestamp(int(clock()), UTC)
    last = latest(previous)
    if last is not None and last >= moment:
        moment = last.replace(microsecond=0) + timedelta(seconds=1)
    return format_time(moment)


def annotation_patch(annotation: str, value: str) -> dict[str, Any]:
    """The merge patch that sets `annotation` to `value`."""
    return {"metadata": {"annotations": {annotation: value}}}


def action_patch(action: str, value: str) -> dict[str, Any]:
    """The merge patch that requests `action` (reboot, logout, reconcile) with stamp `value`."""
    return annotation_patch(constants.ACTION_ANNOTATIONS[constants.Action(action)], value)


def relink_patch(value: str) -> dict[str, Any]:
    """The merge patch that requests a new linking window, stamped `value`."""
    return annotation_patch(constants.ANNOTATION_RELINK, value)


def normalize_phone(text: str) -> str:
    """Digits only, international format without + or 00, as spec.authorization wants it."""
    digits = re.sub(r"[\s\-().]", "", text).removeprefix("+")
    if digits.startswith("00"):
        digits = digits[2:]
    if not PHONE_PATTERN.match(digits):
        raise PluginError(
            f"{text!r} is not a phone number in international format (e.g. 79001234567)"
        )
    return digits


def pair_patch(obj: dict[str, Any], phone: str) -> dict[str, Any] | None:
    """The spec merge patch that selects pairing by `phone`, or None when it is already set."""
    authorization = (obj.get("spec") or {}).get("authorization") or {}
    if (
        authorization.get("method") == AuthorizationMethod.PHONE_NUMBER
        and authorization.get("phoneNumber") == phone
    ):
        return None
    return {
        "spec": {
            "authorization": {
                "method": AuthorizationMethod.PHONE_NUMBER.value,
                "phoneNumber": phone,
            }
        }
    }


def pair_request_patch(phone: str | None, relink: str | None) -> dict[str, Any]:
    """The merge patch that asks for pairing codes for `phone` (None: back to the spec) by
    annotation, and a new linking window stamped `relink` (None: no new window)."""
    annotations: dict[str, Any] = {constants.ANNOTATION_PAIR_PHONE: phone}
    if relink is not None:
        annotations[constants.ANNOTATION_RELINK] = relink
    return {"metadata": {"annotations": annotations}}


def pause_patch(paused: bool) -> dict[str, Any]:
    """The merge patch that pauses writes (the value the operator reads as paused) or
    removes the annotation."""
    return {"metadata": {"annotations": {constants.ANNOTATION_PAUSED: "true" if paused else None}}}


def pair_request(obj: dict[str, Any]) -> str | None:
    """The phone of a valid pair-phone-number annotation (what the operator follows), or None."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    phone = str(annotations.get(constants.ANNOTATION_PAIR_PHONE) or "").strip()
    return phone if LINKING_PHONE.match(phone) else None


def pairing_phone(obj: dict[str, Any]) -> str | None:
    """The phone the operator hands out pairing codes for (the annotation, else the spec),
    or None when it links by QR code."""
    requested = pair_request(obj)
    if requested is not None:
        return requested
    authorization = (obj.get("spec") or {}).get("authorization") or {}
    if authorization.get("method") == AuthorizationMethod.PHONE_NUMBER:
        return str(authorization.get("phoneNumber") or "") or None
    return None


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The condition of type `kind` in the object's status, or None."""
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return None


def is_authorized(obj: dict[str, Any]) -> bool:
    """Whether the object's Authorized condition is True."""
    return (condition(obj, constants.ConditionType.AUTHORIZED) or {}).get("status") == "True"


def phone_of(obj: dict[str, Any]) -> str:
    """The linked phone number as +DIGITS, or "(unknown number)"."""
    phone = str(((obj.get("status") or {}).get("account") or {}).get("phone") or "")
    return f"+{phone}" if phone else "(unknown number)"


def linking_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's `status.linking`, empty when absent."""
    return dict((obj.get("status") or {}).get("linking") or {})


def action_value(obj: dict[str, Any], action: constants.Action) -> str:
    """A new request's value for `action` on `obj`: now, and later than its last request,
    the last one performed (in status or the operator's annotation) and its creation."""
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    record = constants.PERFORMED_ANNOTATIONS.get(action)
    return now_value(
        annotations.get(constants.ACTION_ANNOTATIONS[action]),
        handled(obj, action),
        annotations.get(record) if record else None,
        # A request in the second the resource was created would not be later than it.
        metadata.get("creationTimestamp"),
    )


def handled(obj: dict[str, Any], action: str) -> str | None:
    """The stamp of the last handled `action` in status, or None."""
    value = ((obj.get("status") or {}).get("handledActions") or {}).get(action)
    return None if value is None else str(value)


def parse_moment(text: str) -> datetime | None:
    """An RFC 3339 time as an aware datetime (UTC when it has no zone), None if not one."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def age(text: str | None, now: datetime) -> str:
    """`3m ago`-style age of an RFC 3339 time ('' when unknown)."""
    moment = parse_moment(text or "")
    if moment is None:
        return ""
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return f"in {span(-seconds)}"
    return f"{span(seconds)} ago"


def span(seconds: int) -> str:
    """A duration as kubectl shortens it: `90s`, `12m`, `5h`, `3d`."""
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Rows as indented, aligned columns (the first row is the header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in rows
    ]


def _event_time(event: dict[str, Any]) -> str:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        if event.get(key):
            return str(event[key])
    return str((event.get("metadata") or {}).get("creationTimestamp") or "")


def format_status(
    obj: dict[str, Any], events: Sequence[dict[str, Any]], now: datetime | None = None
) -> str:
    """A readable summary of one WhatsAppInstance and its recent Events."""
    now = now or datetime.now(UTC)
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    lines = [f"Name:       {metadata.get('name')}  (namespace {metadata.get('namespace')})"]
    state = status.get("state") or "unknown"
    since = status.get("stateSince") or ""
    when = f" since {since} ({age(since, now)})" if since else ""
    lines.append(f"State:      {state}{when}")
    account = status.get("account") or {}
    lines.append(f"Phone:      {'+' + account['phone'] if account.get('phone') else '-'}")
    instance = status.get("instanceId") or ((obj.get("spec") or {}).get("instance") or {}).get("id")
    lines.append(f"Instance:   {instance or '-'}")
    profile = profile_line(obj)
    if profile:
        lines.append(f"Profile:    {profile}")
    annotations = metadata.get("annotations") or {}
    if constants.is_paused(annotations):
        lines.append("Paused:     yes (reads go on, writes to GREEN-API stop)")
    requested = pair_request(obj)
    if requested is not None:
        lines.append(
            f"Pairing:    pairing codes for +{requested} "
            f"(annotation {constants.ANNOTATION_PAIR_PHONE}, not spec.authorization)"
        )

    lines += conditions_lines(status)
    lines += _drift_and_applied_lines(status, now)
    lines += _linking_lines(status, now)
    lines += events_lines(events, now)
    return "\n".join(lines)


def profile_line(obj: dict[str, Any]) -> str:
    """The settings profiles in use (built-in, referenced) and where the rollout stands."""
    spec = obj.get("spec") or {}
    parts = []
    if spec.get("settingsProfile"):
        parts.append(f"{spec['settingsProfile']} (built-in)")
    ref = (spec.get("settingsProfileRef") or {}).get("name")
    if ref:
        record = (obj.get("status") or {}).get("settingsProfile") or {}
        detail = ""
        if record.get("failed"):
            detail = f"; applying {record.get('applying')} failed: {record['failed']}"
        elif record.get("applying"):
            detail = f"; applying {record['applying']}"
        elif record.get("revision"):
            detail = f"; has {record['revision']}"
        parts.append(f"WhatsAppSettingsProfile {ref}{detail}")
    return ", then ".join(parts)


def conditions_lines(status: dict[str, Any]) -> list[str]:
    """The `Conditions:` table of a status (any kind)."""
    lines = ["Conditions:"]
    conditions = status.get("conditions") or []
    if conditions:
        rows = [["TYPE", "STATUS", "REASON", "MESSAGE"]]
        rows += [
            [
                str(c.get("type", "")),
                str(c.get("status", "")),
                str(c.get("reason", "")),
                str(c.get("message", "")),
            ]
            for c in conditions
        ]
        lines += table(rows)
    else:
        lines.append("  (none yet: the operator has not reported)")
    return lines


def _drift_and_applied_lines(status: dict[str, Any], now: datetime) -> list[str]:
    lines: list[str] = []
    drift = status.get("drift") or []
    if drift:
        lines.append("Drift:")
        rows = [["FIELD", "DESIRED", "OBSERVED", "SINCE"]]
        rows += [
            [
                str(d.get("field", "")),
                str(d.get("desired", "")),
                str(d.get("observed", "")),
                str(d.get("since", "")),
            ]
            for d in drift
        ]
        lines += table(rows)
    else:
        lines.append("Drift:      none")

    applied = status.get("lastApplied")
    if applied:
        fields = ", ".join(applied.get("fields") or []) or "-"
        outcome = "confirmed" if applied.get("confirmed") else "not yet confirmed"
        if applied.get("rejected"):
            outcome = "rejected by GREEN-API"
        lines.append(
            f"Last applied: {applied.get('time', '')} ({age(applied.get('time'), now)}): "
            f"{fields}; {outcome}, attempts {applied.get('attempts', 1)}"
        )
    else:
        lines.append("Last applied: never")
    return lines


def _linking_lines(status: dict[str, Any], now: datetime) -> list[str]:
    lines: list[str] = []
    linking = status.get("linking") or {}
    if linking:
        parts = [str(linking.get("phase", ""))]
        if linking.get("method"):
            parts.append(f"method {linking['method']}")
        if linking.get("secretName"):
            parts.append(f"Secret {linking['secretName']}")
        if linking.get("refreshedAt"):
            parts.append(f"refreshed {age(linking['refreshedAt'], now)}")
        if linking.get("windowEndsAt") and linking.get("phase") in (
            LinkingPhase.WAITING,
            LinkingPhase.CODE_READY,
        ):
            parts.append(f"window ends {age(linking['windowEndsAt'], now)}")
        lines.append("Linking:    " + ", ".join(parts))
        if linking.get("message"):
            lines.append(f"            {linking['message']}")
    else:
        lines.append("Linking:    -")

    actions = status.get("handledActions") or {}
    if actions:
        lines.append(
            "Handled actions: " + ", ".join(f"{k}={v}" for k, v in sorted(actions.items()))
        )
    else:
        lines.append("Handled actions: none")
    if status.get("lastError"):
        lines.append(f"Last error: {status['lastError']}")
    return lines


def events_lines(events: Sequence[dict[str, Any]], now: datetime) -> list[str]:
    """The `Events:` table: the last 10, oldest first, with repeat counts."""
    recent = sorted(events, key=_event_time)[-10:]
    lines = ["Events:"]
    if recent:
        rows = [["LAST SEEN", "TYPE", "REASON", "MESSAGE"]]
        for event in recent:
            count = event.get("count") or 1
            seen = age(_event_time(event), now) + (f" (x{count})" if count > 1 else "")
            rows.append(
                [
                    seen,
                    str(event.get("type", "")),
                    str(event.get("reason", "")),
                    str(event.get("message", "")),
                ]
            )
        lines += table(rows)
    else:
        lines.append("  (none)")
    return lines


def rotation_outcome(obj: dict[str, Any], value: str) -> tuple[bool, str]:
    """What came of the rotate-token request stamped `value` (handled already): whether it
    went through or is under way, and what to tell the user. Never shows a token."""
    rotation = (obj.get("status") or {}).get("tokenRotation") or {}
    if rotation.get("refused"):
        return False, f"Refused: {rotation['refused']}"
    connection = ((obj.get("spec") or {}).get("connectionSecret") or {}).get("name")
    where = "the operator's token Secret" + (
        f" and the connection Secret {connection}" if connection else ""
    )
    if rotation.get("pendingSince"):
        return True, (
            f"updateApiToken sent at {rotation['pendingSince']} got no answer; the operator "
            "is recovering the new token from the partner's getInstances and makes no "
            "instance call meanwhile. `kubectl whatsapp status` shows when it is done."
        )
    rotated, refused = rotation.get("lastRotatedAt") or "", rotation.get("lastRefusedAt") or ""
    if refused and refused >= value and refused >= rotated:
        return False, (
            "GREEN-API refused updateApiToken or it did not take effect: the token is "
            "unchanged (see the TokenRotationFailed or TokenRotationUnconfirmed Event)."
        )
    if rotated and rotated >= value:
        return True, f"New token issued at {rotated}, written to {where}."
    return True, "Handled; status.tokenRotation shows no new rotation yet."
