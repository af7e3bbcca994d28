"""A tenant's broken endpoint costs that tenant, not the cluster.

On a host the allow-list admits, one namespace points instances at a server that drips a
byte a second (each read well inside the read timeout) and at one that streams a 100 MB
body. With few reconcile slots, those resources must fail with an error that names the
limit (the whole-call deadline, the answer size limit) while the instances of another
namespace keep converging: the slow namespace holds at most its share of the slots.
"""

from __future__ import annotations

import os
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from support.kube_helpers import Instances, create_namespace, delete_namespace, put_secret, wait_for
from tests.e2e.operator.harness import (
    FAST_INTERVALS,
    Emulator,
    OperatorProcess,
    Scenario,
    module_operator,
    ready_and_synced,
)
from whatsapp_operator.devtools.cluster import KubeCluster

NEIGHBOURS = int(os.environ.get("WAOP_E2E_SLOW_NEIGHBOURS", "50"))
DRIPPING = 6
CONCURRENCY = 4
DEADLINE_SECONDS = 6
HUNDRED_MB = 100 * 1024 * 1024


class BadServer(socketserver.ThreadingTCPServer):
    """Answers `/drip/...` one byte a second and `/big/...` with an endless 100 MB body."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.sent: dict[str, list[int]] = {"drip": [], "big": []}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(socketserver.StreamRequestHandler):
    server: BadServer

    def handle(self) -> None:
        request_line = self.rfile.readline().decode("latin-1")
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        kind = "big" if "/big/" in request_line else "drip"
        sent = 0
        try:
            if kind == "big":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
                self.wfile.write(b"Transfer-Encoding: chunked\r\n\r\n")
                chunk = b" " * 65536
                while sent < HUNDRED_MB:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
            else:
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                stop = threading.Event()
                while sent < 100000 and not stop.wait(1.0):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    sent += 1
        except OSError:
            pass  # the operator hung up: that is the point
        finally:
            with self.server.lock:
                self.server.sent[kind].append(sent)


@pytest.fixture(scope="module")
def bad_server() -> Iterator[BadServer]:
    server = BadServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def operator(
    kube_cluster: KubeCluster,
    module_prefix: str,
    emulator: Emulator,
    bad_server: BadServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """Few slots and a short whole-call deadline, so starving would show quickly."""
    env = {
        "WAOP_ALLOWED_API_URLS": f"{emulator.url},{bad_server.url}",
        "WAOP_CONCURRENCY": str(CONCURRENCY),
        "WAOP_GREENAPI_DEADLINE": str(DEADLINE_SECONDS),
    }
    with module_operator(kube_cluster.kubeconfig, module_prefix, tmp_path_factory, env) as running:
        yield running


@pytest.fixture
def slow_namespace(api: client.ApiClient, module_prefix: str) -> Iterator[Instances]:
    name = f"{module_prefix}-slow"
    create_namespace(api, name)
    put_secret(api, name, "token", {"apiTokenInstance": "f" * 50})
    instances = Instances(api, name)
    try:
        yield instances
    finally:
        instances.delete_all_and_wait(timeout=60)
        delete_namespace(api, name)


def last_error(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("lastError") or "")


def test_a_slow_namespace_fails_on_its_limits_while_another_converges(
    scenario: Scenario, slow_namespace: Instances, bad_server: BadServer
) -> None:
    def hostile_spec(path: str) -> dict[str, Any]:
        return {
            "instance": {
                "id": 7105_888_001,
                "apiUrl": f"{bad_server.url}{path}",
                "tokenSecretRef": {"name": "token"},
            },
            "intervals": dict(FAST_INTERVALS),
        }

    for number in range(DRIPPING):
        slow_namespace.create(f"drip-{number}", hostile_spec("/drip"))
    slow_namespace.create("big", hostile_spec("/big"))
    names = [f"neighbour-{number:02d}" for number in range(NEIGHBOURS)]
    for name in names:
        scenario.seed(name)
        scenario.create(name, settings={"stateWebhook": True})

    def converged() -> list[str]:
        objs = scenario.instances.list()
        done = [o["metadata"]["name"] for o in objs if ready_and_synced(o)]
        return done if len(done) == NEIGHBOURS else []

    wait_for(
        converged,
        f"{NEIGHBOURS} neighbours Ready and Synced beside a dripping namespace",
        timeout=300,
        interval=1.0,
        describe=lambda: str(
            sorted(
                o["metadata"]["name"] for o in scenario.instances.list() if not ready_and_synced(o)
            )
        ),
    )

    def failed_on(name: str, words: str) -> bool:
        obj = slow_namespace.get(name)
        return words in last_error(obj)

    for number in range(DRIPPING):
        wait_for(
            lambda number=number: failed_on(f"drip-{number}", "request deadline"),
            f"drip-{number} failing on the request deadline",
            timeout=120,
            describe=lambda number=number: last_error(slow_namespace.get(f"drip-{number}")),
        )
    wait_for(
        lambda: failed_on("big", "byte limit"),
        "big failing on the answer size limit",
        timeout=120,
        describe=lambda: last_error(slow_namespace.get("big")),
    )
    with bad_server.lock:
        # Each dripping answer was cut off long before its 100000 bytes, and no 100 MB body
        # was read to its end.
        assert bad_server.sent["drip"]
        assert max(bad_server.sent["drip"]) < 100
        assert bad_server.sent["big"]
        assert max(bad_server.sent["big"]) < HUNDRED_MB
    for name in names:
        assert len(scenario.emulator.set_settings_log(scenario.ids[name])) == 1, name
