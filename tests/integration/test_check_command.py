"""`whatsapp-operator check` as a user runs it, against the emulator over real loopback HTTP.

The command runs as a subprocess (its own event loop and process, as on a person's
machine) while the in-process emulator answers on this test's loop. Every test also
proves that no token reaches stdout or stderr, and the emulator's counters show which
GREEN-API methods were called: read methods only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from support.emulator_admin import PARTNER_TOKEN, EmulatorAdmin
from whatsapp_operator.emulator import RunningEmulator

ID = 7105000931
TOKEN = "c1b0474542144e0ead529eb4861ca5f583c346eb00564f64a7"
WRONG_TOKEN = "ffffffffffffffffffffffffffffffffffffffffffffffff00"
HOOK_TOKEN = "hook-secret-value-0123456789"
PHONE = "79001234567"
LOOPBACK = "http://127.0.0.1:*"
READ_METHODS = {
    "getstateinstance",
    "getsettings",
    "getwasettings",
    "getwebhookscount",
    "getmessagescount",
    "getinstances",
}
SETTINGS = {
    "webhookUrl": "https://hooks.example.com/in",
    "webhookUrlToken": HOOK_TOKEN,
    "incomingWebhook": "yes",
    "stateWebhook": "yes",
}


async def check(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """Run the command; its exit code, stdout and stderr."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("WAOP_ALLOWED_API_URLS", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "whatsapp_operator.cli",
        "check",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def steps(stdout: str) -> dict[str, dict[str, Any]]:
    document = json.loads(stdout)
    return {step["name"]: step for step in document["steps"]}


def assert_no_secret(*texts: str) -> None:
    for secret in (TOKEN, WRONG_TOKEN, PARTNER_TOKEN, HOOK_TOKEN):
        for text in texts:
            assert secret not in text


@pytest.fixture
async def seeded(emulator_admin: EmulatorAdmin) -> EmulatorAdmin:
    await emulator_admin.seed(
        idInstance=ID, apiTokenInstance=TOKEN, state="authorized", phone=PHONE, settings=SETTINGS
    )
    await emulator_admin.reset_counters()
    return emulator_admin


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    return path


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "webhookUrl: https://hooks.example.com/in\nincomingWebhook: true\nstateWebhook: true\n",
        encoding="utf-8",
    )
    return path


async def called(admin: EmulatorAdmin) -> set[str]:
    counters: dict[str, Any] = await admin.counters()
    return {method for scope in counters.values() for method in scope}


async def test_a_healthy_instance_is_all_ok_and_only_read(
    emulator: RunningEmulator, seeded: EmulatorAdmin, token_file: Path, settings_file: Path
) -> None:
    code, out, err = await check(
        "--api-url", emulator.url, "--id", str(ID), "--token-file", str(token_file),
        "--settings-file", str(settings_file), "--partner-token-file", "-",
        "--partner-api-url", emulator.url, "--allowed-api-url", LOOPBACK, "-o", "json",
        stdin=PARTNER_TOKEN,
    )  # fmt: skip
    assert code == 0, out + err
    found = steps(out)
    assert json.loads(out)["result"] == "OK"
    assert {name: s for name, s in found.items() if s["status"] != "OK"} == {}
    assert found["queues"]["detail"].startswith("0 notifications waiting")
    assert found["state"]["detail"].startswith("authorized")
    assert PHONE in found["wa-settings"]["detail"]
    assert "webhookUrlToken <set>" in found["settings"]["detail"]
    assert f"instance {ID} listed" in found["partner"]["detail"]
    assert "3 managed keys match" in found["managed"]["detail"]
    methods = await called(seeded)
    assert methods, methods
    assert methods <= READ_METHODS, methods
    assert_no_secret(out, err)


async def test_notifications_piling_up_are_a_warning_with_both_counts(
    emulator: RunningEmulator, seeded: EmulatorAdmin, token_file: Path
) -> None:
    await seeded.webhook_receiver(ID, failing=True, ratePerSecond=0)
    await seeded.queue_notifications(ID, 7)
    await seeded.queue_messages(ID, 2)
    code, out, err = await check(
        "--api-url", emulator.url, "--id", str(ID), "--token-file", str(token_file),
        "--allowed-api-url", LOOPBACK, "-o", "json",
    )  # fmt: skip
    assert code == 0, out + err
    queues = steps(out)["queues"]
    assert queues["status"] == "WARN"
    assert queues["detail"].startswith("7 notifications waiting for delivery, ")
    assert "webhook receiver is down" in queues["detail"]
    assert (await seeded.queues(ID))["incoming"] == 7  # read, never cleared


async def test_the_keys_it_would_change_are_named_without_values_of_secrets(
    emulator: RunningEmulator, seeded: EmulatorAdmin, token_file: Path, tmp_path: Path
) -> None:
    wanted = tmp_path / "wanted.yaml"
    wanted.write_text("incomingWebhook: false\nkeepOnlineStatus: true\n", encoding="utf-8")
    code, out, err = await check(
        "--api-url", emulator.url, "--id", str(ID), "--token-file", str(token_file),
        "--settings-file", str(wanted), "--allowed-api-url", LOOPBACK,
    )  # fmt: skip
    assert code == 0, out + err
    assert "WARN  managed" in out
    assert "incomingWebhook: true -> false" in out
    assert "keepOnlineStatus: false -> true" in out
    assert "Nothing was changed on GREEN-API" in out
    assert (await called(seeded)) <= READ_METHODS
    assert (await seeded.instance(ID))["setSettingsLog"] == []
    assert_no_secret(out, err)


async def test_a_wrong_token_fails_as_rejected(
    emulator: RunningEmulator, seeded: EmulatorAdmin
) -> None:
    code, out, err = await check(
        "--api-url", emulator.url, "--id", str(ID), "--token-file", "-",
        "--allowed-api-url", LOOPBACK, "-o", "json",
        stdin=WRONG_TOKEN,
    )  # fmt: skip
    assert code == 1, out + err
    found = steps(out)
    assert found["token"]["status"] == "FAIL"
    assert "token rejected" in found["token"]["detail"]
    assert found["handshake"]["status"] == "OK"
    assert {found[name]["status"] for name in ("settings", "managed", "wa-settings")} == {"SKIP"}
    assert (await called(seeded)) == {"getstateinstance"}
    assert_no_secret(out, err)


async def test_a_wrong_partner_token_fails(
    emulator: RunningEmulator, seeded: EmulatorAdmin, token_file: Path
) -> None:
    code, out, err = await check(
        "--api-url", emulator.url, "--id", str(ID), "--token-file", str(token_file),
        "--partner-token-file", "-", "--partner-api-url", emulator.url,
        "--allowed-api-url", LOOPBACK,
        stdin="gac.wrongpartnertoken000000000000000000000000000",
    )  # fmt: skip
    assert code == 1, out + err
    assert "FAIL  partner      partner token rejected" in out
    assert "gac.wrongpartnertoken" not in out + err
    assert_no_secret(out, err)


@pytest.fixture
async def listener() -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP server that only counts the connections it is offered."""
    accepted: list[int] = []

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()
        await server.wait_closed()


async def test_a_host_off_the_allow_list_fails_and_is_never_contacted(
    listener: tuple[str, list[int]], token_file: Path
) -> None:
    url, accepted = listener
    code, out, err = await check(
        "--api-url", url, "--id", str(ID), "--token-file", str(token_file), "-o", "json"
    )  # fmt: skip
    assert code == 1, out + err
    found = steps(out)
    assert found["allow-list"]["status"] == "FAIL"
    assert "not in the operator's allow-list" in found["allow-list"]["detail"]
    assert {found[name]["status"] for name in ("dns", "handshake", "token", "state")} == {"SKIP"}
    assert accepted == []
    assert_no_secret(out, err)


async def test_a_closed_port_fails_at_the_handshake(token_file: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, _err = await check(
        "--api-url", f"http://127.0.0.1:{port}", "--id", str(ID), "--token-file",
        str(token_file), "--allowed-api-url", LOOPBACK,
    )  # fmt: skip
    assert code == 1
    assert "FAIL  handshake" in out
    assert "refused the TCP connection" in out
    assert "SKIP  token" in out


async def test_usage_errors_exit_2(token_file: Path) -> None:
    code, _out, err = await check("--id", str(ID))
    assert code == 2
    assert "exactly one of --token-file and --token-secret" in err
    code, _out, err = await check("--instance", "ns/name", "--id", str(ID))
    assert code == 2
    code, _out, err = await check("--id", str(ID), "--token-file", str(token_file) + ".missing")
    assert code == 2
    assert "cannot read the token file" in err
