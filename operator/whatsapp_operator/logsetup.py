"""Process logging: one handler on the root logger, redacting every record."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from whatsapp_operator.redaction import protect_handlers, protect_loggers


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("k8s_obj", "k8s_skip"):
            value = getattr(record, key, None)
            if isinstance(value, dict) and value.get("name"):
                entry["object"] = f"{value.get('namespace', '')}/{value['name']}"
        if record.exc_text or record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    level: str = "INFO", log_format: str = "text", *, quiet_kopf: bool = True
) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
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
