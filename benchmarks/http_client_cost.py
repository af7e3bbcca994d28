"""CPU per getStateInstance call: the operator's client, bare httpx, and a raw lower bound.

Run: `.venv/bin/python benchmarks/http_client_cost.py [--calls 3000] [--instances 64]`

A quiet poll of an idle instance is one getStateInstance and a comparison, so the CPU
of one call through the HTTP stack is most of what a poll costs. This measures the
process CPU time (not wall time) per call against the emulator on loopback, sequential
and with 16 calls in flight, for:

* the operator's `InstanceClient.get_state` (allow-list, rate limiter, whole-call
  deadline, byte-capped streaming read, typed parsing, metrics callback): httpx's API on
  aiohttp's connection pool (`adapters/greenapi/transport.py`, what the operator runs),
  and the same client on httpx's own transport (httpcore), as before;
* a bare `httpx.AsyncClient.get` of the same URL, on httpcore and on aiohttp's pool
  (httpx alone, without the operator's client around it);
* HTTP/1.1 written by hand on asyncio streams over a pool of keep-alive connections
  (no parsing beyond Content-Length and the JSON body): what the exchange costs
  without an HTTP library, the lower bound of any client.

The emulator runs as its own process with rate limits scaled by 1000 (its CPU is not
counted). docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from emulator_capacity import start_emulator

from whatsapp_operator.adapters.greenapi.client import ClientOptions, GreenApi
from whatsapp_operator.adapters.greenapi.transport import AiohttpTransport
from whatsapp_operator.endpoints import AllowList

FIRST_ID = 7105900000


def admin(url: str, path: str, body: Any) -> None:
    request = urllib.request.Request(
        f"{url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


async def cpu_per_call(
    call: Callable[[int], Awaitable[None]], calls: int, in_flight: int
) -> tuple[float, float]:
    """(ms of process CPU per call, calls per second) for `calls` calls, `in_flight` at once."""
    await asyncio.gather(*(call(i) for i in range(2 * in_flight)))  # warm the pools
    slots = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with slots:
            await call(i)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return 1000 * cpu / calls, calls / wall


class RawPool:
    """Keep-alive HTTP/1.1 connections on asyncio streams: GET, Content-Length, JSON."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self, size: int) -> None:
        for _ in range(size):
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def get_json(self, path: str) -> Any:
        reader, writer = await self.idle.get()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await reader.readexactly(length)
        self.idle.put_nowait((reader, writer))
        return json.loads(body)


async def run(calls: int, instances: int) -> None:
    process, url = start_emulator()
    try:
        ids = [FIRST_ID + i for i in range(instances)]
        tokens = {i: f"{i:x}benchmarktoken0123456789abcdef0123456789ab" for i in ids}
        for i in ids:
            seed = {"idInstance": i, "apiTokenInstance": tokens[i], "state": "authorized"}
            admin(url, "/admin/instances", seed)
        green_api = GreenApi(ClientOptions(), allowed=AllowList((url,)))
        clients = [green_api.instance(api_url=url, id_instance=i, token=tokens[i]) for i in ids]
        on_httpcore = GreenApi(
            ClientOptions(),
            allowed=AllowList((url,)),
            transport=httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=100)),
        )
        httpcore_clients = [
            on_httpcore.instance(api_url=url, id_instance=i, token=tokens[i]) for i in ids
        ]
        bare = httpx.AsyncClient()
        bare_on_aiohttp = httpx.AsyncClient(transport=AiohttpTransport(max_connections=100))
        host, port = url.removeprefix("http://").split(":")
        raw = RawPool(host, int(port))
        await raw.open(32)

        def path(k: int) -> str:
            i = ids[k % instances]
            return f"/waInstance{i}/getStateInstance/{tokens[i]}"

        async def operator_client(k: int) -> None:
            await clients[k % instances].get_state()

        async def operator_on_httpcore(k: int) -> None:
            await httpcore_clients[k % instances].get_state()

        async def bare_httpx(k: int) -> None:
            (await bare.get(f"{url}{path(k)}")).raise_for_status()

        async def bare_httpx_on_aiohttp(k: int) -> None:
            (await bare_on_aiohttp.get(f"{url}{path(k)}")).raise_for_status()

        async def raw_streams(k: int) -> None:
            assert (await raw.get_json(path(k)))["stateInstance"]

        print(f"{calls:,} getStateInstance calls over {instances} instances, emulator on loopback")
        print("| client | in flight | CPU ms per call | calls/s |\n|---|---:|---:|---:|")
        for in_flight in (1, 16):
            for label, call in (
                ("operator client: httpx on aiohttp's pool (what runs)", operator_client),
                ("operator client: httpx's own transport (httpcore)", operator_on_httpcore),
                ("bare httpx.AsyncClient.get, httpcore", bare_httpx),
                ("bare httpx.AsyncClient.get, aiohttp's pool", bare_httpx_on_aiohttp),
                ("HTTP/1.1 by hand on asyncio streams", raw_streams),
            ):
                ms, rate = await cpu_per_call(call, calls, in_flight)
                print(f"| {label} | {in_flight} | {ms:.3f} | {rate:,.0f} |", flush=True)
        await bare.aclose()
        await bare_on_aiohttp.aclose()
        await green_api.aclose()
        await on_httpcore.aclose()
    finally:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--instances", type=int, default=64)
    args = parser.parse_args()
    if not 1 <= args.calls <= 100_000 or not 1 <= args.instances <= 1000:
        parser.error("--calls within 1..100000, --instances within 1..1000")
    asyncio.run(run(args.calls, args.instances))


if __name__ == "__main__":
    main()
