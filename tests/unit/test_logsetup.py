"""Every per-object log line names its object, in the text and the JSON format (issue 13, #10).

Records come from kopf's own `ObjectLogger` (which carries `k8s_ref`) and from the
operator's `logsetup.object_logger`; they are formatted by the handler that
`configure_logging` installs, so the test sees exactly what the process prints.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from whatsapp_operator import constants, logsetup
from whatsapp_operator.redaction import register_secret

NS = "team-a"
NAME = "sales"
UID = "0b5c6d2e-1234-5678-9abc-def012345678"
BODY = {
    "apiVersion": constants.API_VERSION,
    "kind": constants.KIND,
    "metadata": {"name": NAME, "namespace": NS, "uid": UID},
}


@pytest.fixture
def configured() -> Iterator[None]:
    """configure_logging for the test; the root logger's handlers and levels come back after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    objects = logging.getLogger("kopf.objects")
    saved_objects = objects.level
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    objects.setLevel(saved_objects)


def capture(log_format: str) -> io.StringIO:
    """Configure logging in `log_format` and point its one handler at a buffer."""
    logsetup.configure_logging("INFO", log_format, quiet_kopf=False)
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    return stream


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def kopf_logger() -> kopf.ObjectLogger:
    return kopf.ObjectLogger(body=kopf.Body(BODY), settings=kopf.OperatorSettings())


def our_logger() -> Any:
    return logsetup.object_logger(
        logging.getLogger("whatsapp_operator.test"), NS, NAME, kind=constants.KIND, uid=UID
    )


LOGGERS = [pytest.param(kopf_logger, id="kopf ObjectLogger"), pytest.param(our_logger, id="ours")]


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize("make", LOGGERS)
def test_json_lines_carry_the_object(make: Any) -> None:
    stream = capture("json")
    make().info("Handler %s succeeded", "run_instance")
    (line,) = lines(stream)
    entry = json.loads(line)
    assert entry["message"] == "Handler run_instance succeeded"
    assert entry["object"] == {
        "kind": constants.KIND,
        "namespace": NS,
        "name": NAME,
        "uid": UID,
    }


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize("make", LOGGERS)
def test_text_lines_carry_namespace_and_name(make: Any) -> None:
    stream = capture("text")
    make().warning("Handler %s failed", "run_instance")
    (line,) = lines(stream)
    assert line.endswith(f": [{NS}/{NAME}] Handler run_instance failed")


@pytest.mark.usefixtures("configured")
def test_a_cluster_scoped_object_is_named_without_a_namespace() -> None:
    stream = capture("text")
    logsetup.object_logger(logging.getLogger("whatsapp_operator.test"), "", "global").info("hi")
    (line,) = lines(stream)
    assert line.endswith(": [global] hi")


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_lines_without_an_object_are_unchanged(log_format: str) -> None:
    stream = capture(log_format)
    logging.getLogger("whatsapp_operator.test").info("plain %d", 1)
    (line,) = lines(stream)
    if log_format == "json":
        entry = json.loads(line)
        assert "object" not in entry
        assert entry["message"] == "plain 1"
    else:
        assert line.endswith("whatsapp_operator.test: plain 1")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_extra_given_per_call_is_merged_with_the_object() -> None:
    logger = logging.getLogger("whatsapp_operator.test.extra")
    handler = Records()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logsetup.object_logger(logger, NS, NAME).info("created", extra={"instance_id": 7})
    finally:
        logger.removeHandler(handler)
    (record,) = handler.records
    assert record.instance_id == 7
    assert logsetup.object_of(record) == {"namespace": NS, "name": NAME}


@pytest.mark.usefixtures("configured")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_are_still_masked_on_object_lines(log_format: str) -> None:
    secret = "tokLOGSUPERSECRET0123456789"
    register_secret(secret)
    stream = capture(log_format)
    our_logger().info("token %s", secret)
    kopf_logger().info("token %s", secret)
    output = stream.getvalue()
    assert secret not in output
    assert output.count("***") == 2


@pytest.mark.usefixtures("configured")
def test_an_exception_on_an_object_line_is_kept() -> None:
    stream = capture("json")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        our_logger().exception("failed")
    entry = json.loads(lines(stream)[0])
    assert entry["object"]["name"] == NAME
    assert "RuntimeError: boom" in entry["exception"]
