"""`whatsapp-operator check`: the pure parts (verdicts, wording, redaction, usage)."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from whatsapp_operator.api.resource import LastApplied, ManagementPolicy
from whatsapp_operator.check import command
from whatsapp_operator.check.inputs import (
    Inputs,
    UsageError,
    flag_desired,
    parse_secret_ref,
    read_token_file,
    settings_from,
)
from whatsapp_operator.check.main import main, resolve
from whatsapp_operator.check.managed import NOT_SET, SET, Desired, managed_step, shown
from whatsapp_operator.check.report import (
    CheckReport,
    Status,
    Step,
    Target,
    format_text,
    render,
    scrub,
)
from whatsapp_operator.check.runner import inputs_step
from whatsapp_operator.decide.plan import DesiredSettings
from whatsapp_operator.redaction import MASK
from whatsapp_operator.timestamps import format_time
from whatsapp_operator.wire.models import InstanceState, Settings

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HOOK = "hook-token-value-123"
TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef01"


def report_of(*statuses: Status) -> CheckReport:
    report = CheckReport(Target("flags", "https://api.green-api.com", 7105000001))
    for number, status in enumerate(statuses):
        report.add(Step(f"s{number}", status, "detail"))
    return report


@pytest.mark.parametrize(
    ("statuses", "verdict", "code"),
    [
        ((Status.OK, Status.OK), Status.OK, 0),
        ((Status.OK, Status.SKIP), Status.OK, 0),
        ((Status.OK, Status.WARN, Status.SKIP), Status.WARN, 0),
        ((Status.WARN, Status.FAIL, Status.OK), Status.FAIL, 1),
    ],
)
def test_verdict_and_exit_code(statuses: tuple[Status, ...], verdict: Status, code: int) -> None:
    report = report_of(*statuses)
    assert report.verdict is verdict
    assert report.exit_code == code


def test_text_and_json_forms() -> None:
    report = report_of(Status.OK, Status.FAIL)
    text = format_text(report)
    assert text.splitlines()[0].startswith(
        "Checking instance 7105000001 at https://api.green-api.com"
    )
    assert "FAIL  s1" in text
    assert text.endswith(
        "Result: FAIL (1 failed, 0 warned, 0 skipped). Nothing was changed on GREEN-API."
    )
    document = json.loads(render(report, "json", ()))
    assert document["result"] == "FAIL"
    assert document["exitCode"] == 1
    assert [s["status"] for s in document["steps"]] == ["OK", "FAIL"]


def test_scrub_masks_given_secrets_of_any_length_and_token_urls() -> None:
    text = "a abc b /waInstance1/getSettings/zzzzzzzz c"
    cleaned = scrub(text, ["abc"])
    assert "abc" not in cleaned
    assert "zzzzzzzz" not in cleaned
    assert MASK in cleaned


def test_render_never_prints_a_secret_that_reached_a_detail() -> None:
    report = report_of()
    report.add(Step("token", Status.FAIL, f"oops {TOKEN} and {HOOK}"))
    for output in ("text", "json"):
        printed = render(report, output, [TOKEN, HOOK])
        assert TOKEN not in printed
        assert HOOK not in printed


def desired(values: dict[str, object], **kwargs: object) -> Desired:
    return Desired(DesiredSettings(values, "7"), **kwargs)  # type: ignore[arg-type]


def observed(**values: object) -> Settings:
    return Settings.model_validate(values)


def test_in_sync_is_ok() -> None:
    step = managed_step(
        desired({"incoming_webhook": True}),
        observed(incomingWebhook="yes"),
        InstanceState.AUTHORIZED,
        NOW,
    )
    assert step.status is Status.OK
    assert "the 1 managed keys match" in step.detail
    assert step.changes == ()


def test_would_change_names_keys_and_values_but_never_a_webhook_token() -> None:
    step = managed_step(
        desired({"incoming_webhook": True, "webhook_url_token": SecretStr(HOOK), "auto_typing": 2}),
        observed(incomingWebhook="no", webhookUrlToken="old-token-value", autoTyping=2),
        InstanceState.AUTHORIZED,
        NOW,
    )
    assert step.status is Status.WARN
    assert "one setSettings" in step.detail
    assert [(c.field, c.current, c.desired) for c in step.changes] == [
        ("incomingWebhook", "false", "true"),
        ("webhookUrlToken", SET, SET),
    ]
    assert HOOK not in repr(step)
    assert "old-token-value" not in repr(step)


def test_a_token_that_is_not_set_yet_shows_as_such() -> None:
    assert shown("webhook_url_token", None) == NOT_SET
    assert shown("webhook_url_token", SecretStr("")) == NOT_SET
    assert shown("webhook_url_token", SecretStr("x")) == SET
    assert shown("webhook_url", "") == '""'


@pytest.mark.parametrize(
    ("kwargs", "state", "words"),
    [
        ({"policy": ManagementPolicy.OBSERVE}, InstanceState.AUTHORIZED, "only report"),
        ({"paused": True}, InstanceState.AUTHORIZED, "paused"),
        ({}, InstanceState.STARTING, "the instance is starting"),
    ],
)
def test_what_the_operator_would_not_do(
    kwargs: dict[str, object], state: InstanceState, words: str
) -> None:
    step = managed_step(desired({"incoming_webhook": True}, **kwargs), observed(), state, NOW)
    assert step.status is Status.WARN
    assert words in step.detail
    assert [c.field for c in step.changes] == ["incomingWebhook"]


def test_a_recent_write_is_waited_for() -> None:
    wanted = desired({"incoming_webhook": True})
    applied = LastApplied(
        time=format_time(NOW - timedelta(seconds=30)),
        fields=["incomingWebhook"],
        hash=wanted.settings.hash,
        attempts=1,
        confirmed=False,
    )
    step = managed_step(
        desired({"incoming_webhook": True}, last_applied=applied),
        observed(),
        InstanceState.AUTHORIZED,
        NOW,
    )
    assert "waits for GREEN-API to apply them" in step.detail


def test_parse_secret_ref() -> None:
    ref = parse_secret_ref("team/creds", "apiTokenInstance", "--token-secret")
    assert (ref.namespace, ref.name, ref.key) == ("team", "creds", "apiTokenInstance")
    assert parse_secret_ref("team/creds:tok", "x", "--token-secret").key == "tok"
    for bad in ("creds", "/creds", "team/", "a/b/c"):
        with pytest.raises(UsageError, match="NAMESPACE/NAME"):
            parse_secret_ref(bad, "x", "--token-secret")


def test_token_file_from_stdin_and_empty() -> None:
    assert read_token_file("-", io.StringIO(f"  {TOKEN}\n")) == TOKEN
    with pytest.raises(UsageError, match="empty"):
        read_token_file("-", io.StringIO("\n"))


def test_profile_settings_in_the_flag_form() -> None:
    spec = settings_from("Recommended", None)
    found = flag_desired(spec)
    assert found is not None
    assert found.settings.values["incoming_webhook"] is True
    assert found.uncompared == ()


def args_of(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    command.register(commands)
    return parser.parse_args(["check", *argv])


@pytest.mark.parametrize(
    "argv",
    [
        (),
        ("--id", "7105000001"),
        ("--id", "7105000001", "--token-file", "a", "--token-secret", "ns/n"),
        ("--instance", "ns/n", "--id", "7105000001"),
        ("--instance", "justname"),
        ("--id", "7105000001", "--token-file", "-", "--partner-token-file", "-"),
    ],
)
def test_usage_errors(argv: tuple[str, ...]) -> None:
    with pytest.raises(UsageError):
        resolve(args_of(*argv), io.StringIO(TOKEN))


def test_usage_error_exits_2_without_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    args = args_of("--id", "7105000001", "--token-file", "-", "--settings-file", "/nonexistent")
    code = main(args, io.StringIO(TOKEN), io.StringIO(), io.StringIO())
    assert code == 2


def test_flag_form_defaults_to_the_dedicated_host() -> None:
    inputs = resolve(args_of("--id", "7105000001", "--token-file", "-"), io.StringIO(TOKEN))
    assert inputs.api_url == "https://7105.api.greenapi.com"
    assert inputs.token == TOKEN
    assert TOKEN in inputs.secrets
    step = inputs_step(inputs)
    assert step.status is Status.OK
    assert TOKEN not in step.detail


def test_inputs_that_could_not_be_read_fail() -> None:
    inputs = Inputs("WhatsAppInstance a/b", "", None, problems=["Secret a/t: not found"])
    assert inputs_step(inputs).status is Status.FAIL


def test_the_plugin_runs_the_check_for_the_resource_in_its_namespace() -> None:
    from whatsapp_operator.kubectl import plugin
    from whatsapp_operator.kubectl.cluster import Kube

    args = plugin.build_parser().parse_args(
        ["--context", "prod", "check", "wa", "-o", "json", "--allowed-api-url", "https://x.io"]
    )
    kube = Kube(api=None, namespace="team")  # type: ignore[arg-type]
    argv = plugin.check_argv(kube, args)
    assert argv[1:4] == ["-m", "whatsapp_operator.cli", "check"]
    assert argv[4:] == [
        "--instance", "team/wa", "-o", "json", "--context", "prod",
        "--allowed-api-url", "https://x.io",
    ]  # fmt: skip
    assert plugin.HANDLERS["check"] is plugin.cmd_check
