"""Nothing below the side-effect gate re-sends a request.

aiohttp re-sends a GET, PUT or DELETE once when the connection fails before an answer
(`ServerDisconnectedError`, `ClientOSError`). GREEN-API's reboot and logout are GETs that
act on the instance: a server that performs one and then drops the connection must see
it exactly once, and the caller must be told the outcome is unknown, so that the gate
observes before anything is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from whatsapp_operator.adapters.greenapi import ClientOptions, GreenApi
from whatsapp_operator.endpoints import AllowList
from whatsapp_operator.run.effects import Result, classify
from whatsapp_operator.wire import errors as gerr

ID = 7105000902
TOKEN = "5e4d3c2b1a09f8e7d6c5b4a3f3a9c1e07b5d4e2a9c8b7a6f"
LOOPBACK = AllowList(["http://127.0.0.1:*"])
ANSWER = b'{"stateInstance": "authorized"}'


class PerformThenDrop:
    """A raw HTTP/1.1 server: counts each request by method; the acting ones are
    performed (counted) and then the connection is closed without an answer."""

    def __init__(self, acting: tuple[str, ...]) -> None:
        self.acting = acting
        # Close with a reset (RST: aiohttp's ClientOSError) instead of a FIN (its
        # ServerDisconnectedError); aiohttp re-sends on either.
        self.reset = False
        self.requests: Counter[str] = Counter()
        self.connections = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                path = head.split(b" ", 2)[1].decode()
                method = path.split("/")[2]
                self.requests[method] += 1
                if method in self.acting:
                    if self.reset:
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    return  # performed; the answer never comes
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
                )
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[PerformThenDrop]:
    running = PerformThenDrop(acting=("reboot", "logout"))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def api() -> AsyncIterator[GreenApi]:
    options = ClientOptions(read_timeout=5.0, connect_timeout=2.0)
    async with GreenApi(options, allowed=LOOPBACK) as client:
        yield client


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
@pytest.mark.parametrize("action", ["reboot", "logout"])
async def test_an_action_dropped_after_it_was_performed_is_sent_once(
    api: GreenApi, server: PerformThenDrop, action: str, reset: bool
) -> None:
    server.reset = reset
    instance = api.instance(api_url=server.url, id_instance=ID, token=TOKEN)

    with pytest.raises(gerr.TransportFailure) as caught:
        await getattr(instance, action)()

    assert server.requests[action] == 1
    assert not caught.value.request_not_sent
    assert classify(caught.value) is Result.UNKNOWN
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
@pytest.mark.parametrize("action", ["reboot", "logout"])
async def test_an_action_on_a_reused_pooled_connection_is_sent_once(
    api: GreenApi, server: PerformThenDrop, action: str, reset: bool
) -> None:
    server.reset = reset
    # A read first leaves a kept-alive connection in the pool; the action reuses it,
    # which is the case aiohttp treats as a stale connection worth one more try.
    instance = api.instance(api_url=server.url, id_instance=ID, token=TOKEN)
    await instance.get_state()
    assert server.connections == 1

    with pytest.raises(gerr.TransportFailure) as caught:
        await getattr(instance, action)()

    assert server.requests[action] == 1
    assert server.requests["getStateInstance"] == 1
    assert classify(caught.value) is Result.UNKNOWN


async def test_a_read_dropped_by_the_server_is_retried_only_by_the_client_policy(
    api: GreenApi, server: PerformThenDrop
) -> None:
    # A read is safe to repeat, and the client's own policy (max_attempts, backoff)
    # repeats it; the transport adds no attempts of its own.
    # (getStateInstance is the routine poll, retried by the poll's own schedule instead.)
    server.acting = ("getSettings",)
    instance = api.instance(api_url=server.url, id_instance=ID, token=TOKEN)

    with pytest.raises(gerr.TransportFailure):
        await instance.get_settings()

    assert server.requests["getSettings"] == api.options.max_attempts
