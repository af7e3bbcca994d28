"""Capacity benchmark of the GREEN-API emulator: 5,000 instances, bounded loopback load.

Run: `.venv/bin/python benchmarks/emulator_capacity.py [--instances 5000] [--requests 30000]`

The emulator runs as a real subprocess (`whatsapp-operator emulator`) with creation delays off
and rate limits scaled by 1000x: the token buckets still run (their cost is part of the
figure) but the documented 1 rps per instance and method would turn a load test into a 429
test. Load mix per request, on a random instance: 45% getStateInstance, 45% getSettings,
10% qr (qr renders a real PNG once per instance and rotation, so it dominates CPU when it
is a large share; pairing clients only poll it for a minute or two).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp

PARTNER_TOKEN = "gac.benchmarkpartnertoken000000000000000000000000"
ROOT = Path(__file__).resolve().parents[1]


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "whatsapp_operator.cli",
            "emulator",
            "--port",
            "0",
            "--partner-token",
            PARTNER_TOKEN,
            "--creation-seconds",
            "0",
            "--rate-limit-scale",
            "1000",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    found: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for line in iter(stdout.readline, ""):
            match = re.fullmatch(r"GREEN-API emulator listening on (http://\S+)\n", line)
            if match:
                found.append(match.group(1))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(20)
    if not found:
        process.kill()
        raise SystemExit("emulator did not start within 20 s")
    return process, found[0]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def seed(
    client: aiohttp.ClientSession, base: str, count: int, concurrency: int
) -> list[tuple[int, str]]:
    created: list[tuple[int, str]] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with semaphore:
            async with client.post(
                f"{base}/partner/createInstance/{PARTNER_TOKEN}", json={"name": f"bench-{index}"}
            ) as response:
                body = await response.json()
            created.append((body["idInstance"], body["apiTokenInstance"]))

    await asyncio.gather(*(one(i) for i in range(count)))
    return created


async def load(
    client: aiohttp.ClientSession,
    base: str,
    instances: list[tuple[int, str]],
    requests: int,
    concurrency: int,
) -> tuple[list[float], int, float]:
    rng = random.Random(7)
    plan = [
        (
            rng.choice(instances),
            rng.choices(["getStateInstance", "getSettings", "qr"], [45, 45, 10])[0],
        )
        for _ in range(requests)
    ]
    latencies: list[float] = []
    errors = 0
    cursor = iter(plan)

    async def worker() -> None:
        nonlocal errors
        for (id_instance, token), method in cursor:
            started = time.perf_counter()
            try:
                async with client.get(
                    f"{base}/waInstance{id_instance}/{method}/{token}"
                ) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - started


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


async def main_async(args: argparse.Namespace) -> None:
    process, base = start_emulator()
    try:
        # aiohttp's client, not httpx: httpx's per-request overhead made the client, not the
        # emulator, the bottleneck on a 2-core machine.
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
            started = time.perf_counter()
            instances = await seed(client, base, args.instances, args.concurrency)
            seed_seconds = time.perf_counter() - started
            async with client.get(f"{base}/admin/health") as response:
                held = (await response.json())["instances"]
            latencies, errors, duration = await load(
                client, base, instances, args.requests, args.concurrency
            )
        latencies.sort()
        print(f"instances held:   {held}")
        print(
            f"seed time:        {seed_seconds:.2f} s "
            f"({args.instances / seed_seconds:.0f} creates/s)"
        )
        print(f"requests:         {len(latencies)} (concurrency {args.concurrency})")
        print(f"duration:         {duration:.2f} s")
        print(f"requests/s:       {len(latencies) / duration:.0f}")
        print(
            "latency ms:       "
            f"p50 {percentile(latencies, 0.50) * 1000:.1f}  "
            f"p95 {percentile(latencies, 0.95) * 1000:.1f}  "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f}  "
            f"mean {statistics.fmean(latencies) * 1000:.1f}"
        )
        print(f"errors:           {errors}")
        print(f"emulator RSS:     {rss_mib(process.pid):.1f} MiB")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=30000)
    parser.add_argument("--concurrency", type=int, default=50)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
