"""GREEN-API calls and forward proxies from the environment, against a real proxy on loopback.

HTTP_PROXY/HTTPS_PROXY (and lower case) apply to every GREEN-API call, HTTP and the QR
WebSocket alike, NO_PROXY exempts a host, the allow-list is checked against the target
(never the proxy), proxy credentials never reach a log line or an error, and the
WebSocket follows no redirect.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import shutil
import ssl
import subprocess
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from support.emulator_admin import PARTNER_TOKEN, EmulatorAdmin
from support.forward_proxy import ForwardProxy
from whatsapp_operator.adapters.greenapi import ClientOptions, GreenApi, QrKind
from whatsapp_operator.adapters.greenapi.proxy import ProxyPolicy
from whatsapp_operator.emulator import RunningEmulator
from whatsapp_operator.endpoints import AllowList
from whatsapp_operator.wire import errors as gerr

ID = 7105000903
TOKEN = "9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a3f3a9c1e07b5d4e2a"
PROXY_USER = "egress"
PROXY_PASSWORD = "Pr0xyPassw0rdNotForLogs"
_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
)


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    running = ForwardProxy()
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def seeded(emulator_admin: EmulatorAdmin) -> EmulatorAdmin:
    await emulator_admin.seed(idInstance=ID, apiTokenInstance=TOKEN)
    return emulator_admin


@contextlib.contextmanager
def environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> Iterator[None]:
    """Only `variables` of the proxy variables set, while a client is built."""
    with monkeypatch.context() as patch:
        for name in _VARIABLES:
            patch.delenv(name, raising=False)
        for name, value in variables.items():
            patch.setenv(name, value)
        yield


def client_with(monkeypatch: pytest.MonkeyPatch, allowed: AllowList, **variables: str) -> GreenApi:
    with environment(monkeypatch, **variables):
        return GreenApi(ClientOptions(read_timeout=5.0, connect_timeout=2.0), allowed=allowed)


async def every_kind_of_call(api: GreenApi, url: str) -> list[str]:
    """An instance read, a write, a partner call and the QR WebSocket; the HTTP methods."""
    instance = api.instance(api_url=url, id_instance=ID, token=TOKEN)
    await instance.get_state()
    await instance.get_settings()
    stream = instance.scan_qr_code()
    try:
        first = await anext(stream)
        assert first.kind is QrKind.QR_CODE
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    await instance.reboot()
    await api.partner(api_url=url, token=PARTNER_TOKEN).get_instances()
    return ["getStateInstance", "getSettings", "reboot", "getInstances"]


def host_port(url: str) -> str:
    return url.split("://", 1)[1]


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_every_call_goes_through_the_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    proxy: ForwardProxy,
    variable: str,
) -> None:
    allowed = AllowList([emulator.url])  # the target only: the proxy is not on it
    async with client_with(monkeypatch, allowed, **{variable: proxy.url}) as api:
        methods = await every_kind_of_call(api, emulator.url)

    target = host_port(emulator.url)
    assert [p.path.split("/")[2] for p in proxy.requests if "waInstance" in p.path] == [
        m for m in methods if m != "getInstances"
    ]
    assert len(proxy.requests) == len(methods)
    assert {p.target for p in proxy.passages} == {target}
    # The WebSocket is a tunnel through the same proxy.
    assert len(proxy.connects) == 1


async def test_no_proxy_names_the_hosts_reached_directly(
    monkeypatch: pytest.MonkeyPatch,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    proxy: ForwardProxy,
) -> None:
    allowed = AllowList([emulator.url])
    async with client_with(
        monkeypatch, allowed, HTTP_PROXY=proxy.url, NO_PROXY="example.com, 127.0.0.1"
    ) as api:
        await every_kind_of_call(api, emulator.url)

    assert proxy.passages == []


async def test_a_target_off_the_allow_list_is_refused_before_any_proxy(
    monkeypatch: pytest.MonkeyPatch,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    proxy: ForwardProxy,
) -> None:
    # Allowing the proxy's address does not allow what is behind it.
    allowed = AllowList([proxy.url])
    async with client_with(monkeypatch, allowed, HTTP_PROXY=proxy.url) as api:
        with pytest.raises(gerr.EndpointNotAllowed):
            api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)

    assert proxy.passages == []


async def test_proxy_credentials_reach_the_proxy_and_no_log_line(
    monkeypatch: pytest.MonkeyPatch,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    proxy: ForwardProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    port = proxy.url.rsplit(":", 1)[1]
    configured = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{port}"
    allowed = AllowList(["http://127.0.0.1:*"])
    async with client_with(monkeypatch, allowed, HTTP_PROXY=configured) as api:
        await every_kind_of_call(api, emulator.url)
        # A proxy that is not there: the failure names neither the password nor the token.
        await proxy.stop()
        instance = api.instance(api_url=emulator.url, id_instance=ID, token=TOKEN)
        with pytest.raises(gerr.TransportFailure) as caught:
            await instance.get_state()

    expected = "Basic " + base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    assert proxy.passages
    assert caught.value.request_not_sent  # the proxy was not reached: nothing was sent
    assert [(p.kind, p.authorization) for p in proxy.passages] == [
        (p.kind, expected) for p in proxy.passages
    ]
    texts = [
        caplog.text,
        str(caught.value),
        repr(caught.value),
        "".join(traceback.format_exception(caught.value)),
    ]
    for text in texts:
        assert PROXY_PASSWORD not in text
        assert TOKEN not in text


class Redirector:
    """Answers every request with a cross-origin 302 to `location` + the same path."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.hits = 0
        self.url = ""

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.redirect)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return runner

    async def redirect(self, request: web.Request) -> web.Response:
        self.hits += 1
        raise web.HTTPFound(self.location + request.path)


async def test_the_websocket_follows_no_redirect(
    monkeypatch: pytest.MonkeyPatch,
    emulator: RunningEmulator,
    seeded: EmulatorAdmin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The redirect points at the real scanqrcode endpoint, which would answer: a client
    # that followed it would stream QR frames with the token sent to another origin.
    redirector = Redirector("ws" + emulator.url.removeprefix("http"))
    runner = await redirector.start()
    try:
        await seeded.reset_counters()
        allowed = AllowList(["http://127.0.0.1:*"])
        async with client_with(monkeypatch, allowed) as api:
            instance = api.instance(api_url=redirector.url, id_instance=ID, token=TOKEN)
            with pytest.raises(gerr.GreenApiError) as caught:
                await anext(instance.scan_qr_code(open_timeout=5.0))  # a frame: followed
        counters = await seeded.counters()
    finally:
        await runner.cleanup()

    assert redirector.hits == 1
    assert "scanqrcode" not in str(counters).lower()
    assert TOKEN not in str(caught.value)
    assert TOKEN not in caplog.text


def test_the_policy_reads_each_variable_and_no_proxy_form() -> None:
    policy = ProxyPolicy(
        {
            "HTTPS_PROXY": "http://upper:3128",
            "https_proxy": "lower:3128",
            "HTTP_PROXY": "http://plain:8080",
            "no_proxy": ".internal.example, exact.example:8443, [::1], 10.0.0.7",
        }
    )
    via_lower = policy.for_url("https://api.green-api.com/waInstance1/getStateInstance/t")
    assert via_lower is not None
    assert via_lower.url == "http://lower:3128"
    assert policy.for_url("wss://api.green-api.com/ws") == via_lower
    plain = policy.for_url("ws://api.green-api.com/ws")
    assert plain is not None
    assert plain.url == "http://plain:8080"
    assert policy.for_url("https://a.internal.example/x") is None
    assert policy.for_url("https://internal.example/x") is None
    assert policy.for_url("https://exact.example:8443/x") is None
    assert policy.for_url("https://exact.example/x") is not None
    assert policy.for_url("https://[::1]:443/x") is None
    assert policy.for_url("http://10.0.0.7/x") is None
    assert policy.for_url("http://10.0.0.70/x") is not None
    assert ProxyPolicy({"NO_PROXY": "*", "HTTP_PROXY": "p:1"}).for_url("http://x/y") is None
    assert ProxyPolicy({}).for_url("https://api.green-api.com/") is None
    with pytest.raises(ValueError, match="ALL_PROXY"):
        ProxyPolicy({"ALL_PROXY": "socks5://user:secret@proxy:1080"})


class TlsGreenApi:
    """An https/wss stand-in for GREEN-API with a self-signed certificate for 127.0.0.1."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.paths: list[str] = []
        self.url = ""

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_get(f"/waInstance{ID}/getStateInstance/{TOKEN}", self.state)
        app.router.add_get(f"/waInstance{ID}/scanqrcode/{TOKEN}", self.scan)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.context)
        await site.start()
        self.url = f"https://127.0.0.1:{runner.addresses[0][1]}"
        return runner

    async def state(self, request: web.Request) -> web.Response:
        self.paths.append("getStateInstance")
        return web.json_response({"stateInstance": "authorized"})

    async def scan(self, request: web.Request) -> web.WebSocketResponse:
        self.paths.append("scanqrcode")
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        frame = {"type": "alreadyLogged", "message": "instance account already authorized"}
        await socket.send_str(json.dumps(frame))
        await socket.close()
        return socket


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_https_calls_and_the_wss_socket_tunnel_through_https_proxy(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, certificate: tuple[Path, Path]
) -> None:
    # GREEN-API's real case: https and wss targets, HTTPS_PROXY, each a CONNECT tunnel
    # inside which TLS is checked against the target's certificate.
    cert, key = certificate
    server = TlsGreenApi(cert, key)
    runner = await server.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the stand-in, for both clients
    try:
        allowed = AllowList(["https://127.0.0.1:*"])
        async with client_with(monkeypatch, allowed, HTTPS_PROXY=proxy.url) as api:
            instance = api.instance(api_url=server.url, id_instance=ID, token=TOKEN)
            await instance.get_state()
            await instance.get_state()
            kinds = [frame.kind async for frame in instance.scan_qr_code(open_timeout=5.0)]
    finally:
        await runner.cleanup()

    assert kinds == [QrKind.ALREADY_LOGGED]
    assert server.paths == ["getStateInstance", "getStateInstance", "scanqrcode"]
    # One tunnel for the pooled HTTP connection (both calls), one for the WebSocket.
    assert [p.target for p in proxy.connects] == [host_port(server.url)] * 2
    assert proxy.requests == []
