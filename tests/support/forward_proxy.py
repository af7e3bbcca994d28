"""A small forward proxy on loopback that counts what goes through it.

It speaks the two forms a client uses: `CONNECT host:port` (a tunnel: https targets, and
WebSockets) and absolute-URI requests (`GET http://host:port/path`, plain http targets).
Each absolute-URI request is forwarded with `Connection: close` and its connection ends
with the answer, so every request is counted. It records the target of each, and the
`Proxy-Authorization` header it was given. Only loopback targets are forwarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


@dataclass
class Passage:
    """One request through the proxy: a CONNECT or an absolute-URI request."""

    kind: str  # "CONNECT" or the request's method
    target: str  # host:port
    path: str  # the absolute-URI request's path ("" for a CONNECT)
    authorization: str | None


@dataclass
class ForwardProxy:
    """Start with `await proxy.start()`; `url` is then `http://127.0.0.1:<port>`."""

    passages: list[Passage] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def connects(self) -> list[Passage]:
        """The CONNECT tunnels opened."""
        return [p for p in self.passages if p.kind == "CONNECT"]

    @property
    def requests(self) -> list[Passage]:
        """The absolute-URI requests forwarded."""
        return [p for p in self.passages if p.kind != "CONNECT"]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = [line for line in lines[1:] if line]
        auth = next(
            (h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("proxy-auth")),
            None,
        )
        try:
            if method == "CONNECT":
                await self._tunnel(target, auth, reader, writer)
            elif target.startswith("http://"):
                await self._forward(method, target, headers, auth, reader, writer)
            else:
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _upstream(self, target: str) -> tuple[str, int]:
        host, _colon, port = target.rpartition(":")
        if host not in _LOOPBACK:
            raise ValueError(f"the test proxy forwards to loopback only, not {host}")
        return host.strip("[]"), int(port)

    async def _tunnel(
        self,
        target: str,
        auth: str | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.passages.append(Passage("CONNECT", target, "", auth))
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream(target))
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await self._pipe_both(reader, writer, up_reader, up_writer)

    async def _forward(
        self,
        method: str,
        url: str,
        headers: list[str],
        auth: str | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        rest = url[len("http://") :]
        target, _slash, path = rest.partition("/")
        self.passages.append(Passage(method, target, "/" + path, auth))
        length = next(
            (int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length")),
            0,
        )
        body = await reader.readexactly(length) if length else b""
        kept = [
            h for h in headers if not h.lower().startswith(("proxy-", "connection", "keep-alive"))
        ]
        up_reader, up_writer = await asyncio.open_connection(*self._upstream(target))
        request = f"{method} /{path} HTTP/1.1\r\n" + "".join(f"{h}\r\n" for h in kept)
        up_writer.write(request.encode("latin-1") + b"Connection: close\r\n\r\n" + body)
        await up_writer.drain()
        # The answer is relayed as it comes until the server closes (Connection: close).
        while chunk := await up_reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        up_writer.close()

    async def _pipe_both(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            with contextlib.suppress(ConnectionError, OSError):
                sink.write_eof()

        tasks = [
            asyncio.create_task(pipe(reader, up_writer)),
            asyncio.create_task(pipe(up_reader, writer)),
        ]
        self._tasks.update(tasks)
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._tasks.difference_update(tasks)
            up_writer.close()


@contextlib.contextmanager
def forward_proxy_in_thread() -> Iterator[ForwardProxy]:
    """A `ForwardProxy` on its own event loop in a thread, for synchronous (end-to-end) tests.

    `passages` is appended to by that thread only; read a copy (`list(proxy.passages)`).
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="forward-proxy", daemon=True)
    thread.start()
    proxy = ForwardProxy()
    try:
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(timeout=10)
        yield proxy
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
