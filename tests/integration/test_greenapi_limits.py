"""The client's limits against real sockets: answer size, whole-call deadline, allow-list.

A hostile or broken endpoint on a listed host must cost one request slot for a
bounded time and bounded memory, and an unlisted one must not even be connected to.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from pydantic import SecretStr

from whatsapp_operator.adapters.greenapi import ClientOptions, GreenApi
from whatsapp_operator.endpoints import AllowList
from whatsapp_operator.wire import errors as gerr

TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef01"
ID = 7105000902
Reply = Callable[[asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Stub:
    """A raw HTTP server on loopback that answers every request with `reply`."""

    reply: Reply
    connections: int = 0
    server: asyncio.Server | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            await self.reply(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def stub() -> AsyncIterator[Stub]:
    async def nothing(writer: asyncio.StreamWriter) -> None:
        raise AssertionError("no reply set")

    running = Stub(nothing)
    running.server = await asyncio.start_server(running.handle, "127.0.0.1", 0)
    try:
        yield running
    finally:
        running.server.close()


def client(stub: Stub, **options: float) -> GreenApi:
    return GreenApi(
        ClientOptions(max_attempts=1, **options),  # type: ignore[arg-type]
        allowed=AllowList([stub.url]),
    )


async def test_a_body_over_the_size_limit_is_not_read(stub: Stub) -> None:
    async def endless(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        for _ in range(1600):  # 100 MiB if anyone read it all
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()

    stub.reply = endless
    async with client(stub) as api:
        instance = api.instance(api_url=stub.url, id_instance=ID, token=SecretStr(TOKEN))
        with pytest.raises(gerr.ResponseTooLarge, match="1048576 byte limit") as caught:
            await instance.get_settings()
    assert caught.value.retryable
    assert TOKEN not in str(caught.value)


async def test_a_declared_length_over_the_limit_is_refused_before_reading(stub: Stub) -> None:
    async def declared(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n{")
        await writer.drain()
        await asyncio.sleep(30)

    stub.reply = declared
    async with client(stub) as api:
        instance = api.instance(api_url=stub.url, id_instance=ID, token=SecretStr(TOKEN))
        with pytest.raises(gerr.ResponseTooLarge, match="104857600 bytes"):
            await instance.get_state()


async def test_a_dripping_answer_is_cut_off_at_the_whole_call_deadline(stub: Stub) -> None:
    async def drip(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):  # each byte well inside the per-read timeout
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.2)

    stub.reply = drip
    async with client(stub, read_timeout=1.0, deadline=2.0) as api:
        instance = api.instance(api_url=stub.url, id_instance=ID, token=SecretStr(TOKEN))
        with pytest.raises(
            gerr.TransportFailure, match="within the 2 s request deadline"
        ) as caught:
            await instance.get_state()
    assert caught.value.retryable
    assert not caught.value.request_not_sent  # a write may have been taken: observe first


async def test_an_unlisted_endpoint_is_never_connected_to(stub: Stub) -> None:
    async def ok(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()

    stub.reply = ok
    async with GreenApi(ClientOptions(), allowed=AllowList(["http://127.0.0.1:1"])) as api:
        with pytest.raises(gerr.EndpointNotAllowed, match="not in the operator's allow-list"):
            api.instance(api_url=stub.url, id_instance=ID, token=SecretStr(TOKEN))
        with pytest.raises(gerr.EndpointNotAllowed):
            api.partner(api_url=stub.url, token=SecretStr("gac.partner"))
    assert stub.connections == 0


async def test_a_non_json_answer_is_not_read_back_into_the_message(stub: Stub) -> None:
    page = b"<html>internal metadata service: secret-role-credentials</html>"

    async def html(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(page), page))
        await writer.drain()

    stub.reply = html
    async with client(stub) as api:
        instance = api.instance(api_url=stub.url, id_instance=ID, token=SecretStr(TOKEN))
        with pytest.raises(gerr.UnexpectedResponse) as caught:
            await instance.get_settings()
    assert "credentials" not in caught.value.message
    assert "not JSON" in caught.value.message
