"""The httpx transport on aiohttp's pool, against real loopback servers.

What the GREEN-API client relies on: connections are reused after an answer read to the
end and dropped after one read in part; a refused connection is httpx's ConnectError (so
nothing was sent); no failure message carries the URL (the token is in the path);
compressed bodies are decoded once, by httpx.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from whatsapp_operator.adapters.greenapi.transport import AiohttpTransport

TOKEN = "f3a9c1e07b5d4e2a9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a3"


class Server:
    """An aiohttp server that counts the TCP connections it accepted."""

    def __init__(self) -> None:
        self.connections = 0
        self.url = ""

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/small/{token}", self.small)
        app.router.add_get("/big/{token}", self.big)
        app.router.add_get("/gzip/{token}", self.gzipped)
        app.router.add_get("/cut/{token}", self.cut)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return runner

    def _count(self, request: web.Request) -> None:
        transport = request.transport
        if transport is not None and not getattr(transport, "_counted", False):
            transport._counted = True  # type: ignore[attr-defined]
            self.connections += 1

    async def small(self, request: web.Request) -> web.Response:
        self._count(request)
        return web.json_response({"stateInstance": "authorized"})

    async def big(self, request: web.Request) -> web.StreamResponse:
        self._count(request)
        response = web.StreamResponse()
        response.content_length = 4 * 1024 * 1024
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"x" * 65536)
        return response

    async def gzipped(self, request: web.Request) -> web.Response:
        self._count(request)
        body = gzip.compress(b'{"stateInstance": "authorized"}')
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async def cut(self, request: web.Request) -> web.StreamResponse:
        self._count(request)
        response = web.StreamResponse()
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b"partial")
        assert request.transport is not None
        request.transport.close()
        return response


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    running = Server()
    runner = await running.start()
    try:
        yield running
    finally:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=AiohttpTransport(max_connections=4))
    try:
        yield client
    finally:
        await client.aclose()


async def test_connections_are_reused_after_answers_read_to_the_end(
    server: Server, http: httpx.AsyncClient
) -> None:
    for _ in range(5):
        response = await http.get(f"{server.url}/small/{TOKEN}")
        assert response.json() == {"stateInstance": "authorized"}
    assert server.connections == 1


async def test_an_answer_read_in_part_closes_its_connection(
    server: Server, http: httpx.AsyncClient
) -> None:
    async with http.stream("GET", f"{server.url}/big/{TOKEN}") as response:
        async for chunk in response.aiter_bytes():
            assert chunk
            break  # the caller's byte limit stops here
    # The rest of the 4 MiB was never read: the next request needs a new connection.
    assert (await http.get(f"{server.url}/small/{TOKEN}")).status_code == 200
    assert server.connections == 2


async def test_compressed_bodies_are_decoded_once(server: Server, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{server.url}/gzip/{TOKEN}")
    assert response.json() == {"stateInstance": "authorized"}


async def test_refused_connection_is_connect_error_without_the_url(
    http: httpx.AsyncClient,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError) as caught:
        await http.get(f"http://127.0.0.1:{port}/waInstance1/getStateInstance/{TOKEN}")
    assert TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def test_answer_cut_short_is_a_protocol_error_without_the_url(
    server: Server, http: httpx.AsyncClient
) -> None:
    with pytest.raises(httpx.TransportError) as caught:
        await http.get(f"{server.url}/cut/{TOKEN}")
    assert isinstance(caught.value, httpx.RemoteProtocolError | httpx.ReadError)
    assert TOKEN not in str(caught.value)


async def test_read_timeout_is_httpx_read_timeout(http: httpx.AsyncClient) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accept, read nothing, answer nothing

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await http.get(
                f"http://127.0.0.1:{port}/waInstance1/getStateInstance/{TOKEN}",
                timeout=httpx.Timeout(0.3, connect=2.0),
            )
        assert TOKEN not in str(caught.value)
    finally:
        for writer in accepted:
            writer.close()
        listener.close()
        await listener.wait_closed()
