"""Process logging: one handler on the root logger, redacting every record.

A line about one object names it in both formats: JSON lines get an `object` field
(`{kind, namespace, name, uid}`), text lines a `[namespace/name]` prefix. The object
comes from the `k8s_ref` that kopf's `ObjectLogger` attaches to its records, or from
`object_logger`, which attaches the same for the operator's own loggers.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

from whatsapp_operator.redaction import protect_handlers, protect_loggers

# kopf's record attribute for the object a line is about (kopf/_core/actions/loggers.py);
# the operator's own object lines use it too, so one code path formats both.
OBJECT_ATTRIBUTE = "k8s_ref"
_OBJECT_KEYS = ("kind", "namespace", "name", "uid")


def object_of(record: logging.LogRecord) -> dict[str, str] | None:
    """The object a record is about (kind, namespace, name, uid where known), or None."""
    ref = getattr(record, OBJECT_ATTRIBUTE, None)
    if not isinstance(ref, dict) or not ref.get("name"):
        return None
    return {key: str(ref[key]) for key in _OBJECT_KEYS if ref.get(key)}


class ObjectLogAdapter(logging.LoggerAdapter[logging.Logger]):
    """Adds the object to every record, and keeps any `extra` given per call."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Add the object to the record's `extra`, keeping what the call passed."""
        # The stock adapter replaces a call's `extra` with its own; merge them instead.
        kwargs["extra"] = {**(kwargs.get("extra") or {}), **(self.extra or {})}
        return msg, kwargs


def object_logger(
    logger: logging.Logger,
    namespace: str,
    name: str,
    *,
    kind: str | None = None,
    uid: str | None = None,
) -> ObjectLogAdapter:
    """`logger`, with every line naming the object `namespace/name` (both log formats)."""
    ref = {"kind": kind, "namespace": namespace, "name": name, "uid": uid}
    return ObjectLogAdapter(logger, {OBJECT_ATTRIBUTE: ref})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, object, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        obj = object_of(record)
        if obj is not None:
            entry["object"] = obj
        if record.exc_text or record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The plain format, with `[namespace/name]` before the message of an object's line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The record's line, prefixed with `[namespace/name]` when it is about an object."""
        obj = object_of(record)
        if obj is None:
            return super().formatMessage(record)
        where = f"{obj['namespace']}/{obj['name']}" if obj.get("namespace") else obj["name"]
        # A copy: other handlers must see the record's message as it was.
        prefixed = logging.makeLogRecord(record.__dict__)
        prefixed.message = f"[{where}] {record.message}"
        return super().formatMessage(prefixed)


def configure_logging(
    level: str = "INFO", log_format: str = "text", *, quiet_kopf: bool = True
) -> None:
    """Install the one root handler (text or JSON), redacting, at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    protect_handlers([handler])
    protect_loggers()
    # Request lines carry credentials in their URL; keep them out even at DEBUG.
    for noisy in ("httpx", "httpcore", "websockets", "kubernetes.client.rest", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if quiet_kopf:
        # kopf logs every watch event at DEBUG and each handler run at INFO.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
