"""The leader's watchdog, Kubernetes call bounds and liveness (issue 22, defects 5 and 8).

A renewal hung in a Lease request used to delay the renew-deadline check until it
returned; Kubernetes calls had no timeout and were re-sent by urllib3; nothing noticed a
loop whose Kubernetes I/O was stuck.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from kubernetes import client

from tests.unit.test_lease import Clock, MemoryLease, SteppingStop, elector
from whatsapp_operator.adapters.kube import KubeTimeouts, load_api_client
from whatsapp_operator.adapters.kubecalls import KubeCalls
from whatsapp_operator.config import OperatorConfig
from whatsapp_operator.ports.kubernetes import LeaseRecord
from whatsapp_operator.run.leadership import Watchdog, run_as_leader
from whatsapp_operator.run.liveness import Liveness, Role


class HangingLease(MemoryLease):
    """A Lease whose reads hang (a request the API server never answers) while `hang` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = threading.Event()
        self.hanging = threading.Event()
        self.release_hang = threading.Event()

    def read(self) -> LeaseRecord | None:
        if self.hang.is_set():
            self.hanging.set()
            self.release_hang.wait(30)
        return super().read()


def poll(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_the_watchdog_ends_a_leader_whose_renewal_hangs_past_the_deadline() -> None:
    lease, clock = HangingLease(), Clock()
    leader = elector(lease, clock)
    assert leader.acquire(SteppingStop(clock, lease))
    lease.hang.set()
    renewal = threading.Thread(target=leader.renew_once, daemon=True)
    renewal.start()
    assert lease.hanging.wait(5)
    ended: list[str] = []
    watchdog = Watchdog(leader, None, ended.append, tick=0.01)
    watchdog.start()
    try:
        clock.now = 9.9
        time.sleep(0.1)  # several ticks of the watchdog: none may end the process yet
        assert ended == []
        clock.now = 10.0  # the renew deadline, with the renewal still hung
        poll(lambda: ended)
        assert "not renewed within 10 s" in ended[0]
        assert renewal.is_alive()  # it did not wait for the hung request
    finally:
        watchdog.stop()
        lease.release_hang.set()


def test_a_leader_resumed_past_its_deadline_ends_on_sigcont() -> None:
    lease, clock = MemoryLease(), Clock()
    ended: list[str] = []
    at_kill: list[list[str]] = []

    def operate(stop: threading.Event) -> None:
        clock.now = 60.0  # stopped (SIGSTOP) for a minute
        os.kill(os.getpid(), signal.SIGCONT)
        at_kill.append(list(ended))
        stop.set()

    config = OperatorConfig(lease_namespace="ops", liveness=None)
    leader = elector(lease, clock)
    assert run_as_leader(config, operate, elector=leader, end_process=ended.append) == 0
    # The handler ran before the next line of the resumed thread.
    assert at_kill == [at_kill[0]]
    assert at_kill[0], "SIGCONT did not end the leader"
    assert "not renewed" in at_kill[0][0]
    assert signal.getsignal(signal.SIGCONT) is signal.SIG_DFL


def test_a_stuck_leader_releases_the_lease_then_ends() -> None:
    lease, clock = MemoryLease(), Clock()
    leader = elector(lease, clock)
    assert leader.acquire(SteppingStop(clock, lease))
    calls_clock = Clock()
    liveness = Liveness(KubeCalls(calls_clock), stuck_seconds=120)
    liveness.started()
    ended: list[str] = []
    watchdog = Watchdog(leader, liveness, ended.append, tick=0.01, linger=0.0)
    watchdog.start()
    with liveness.calls.track("GET /apis/example/v1/things"):
        calls_clock.now = 119.0
        time.sleep(0.1)
        assert ended == []
        assert lease.stored is not None
        assert lease.stored.holder == "me"
        calls_clock.now = 121.0
        poll(lambda: ended)
    watchdog.stop()
    assert "stuck" in ended[0]
    assert "GET /apis/example/v1/things" in ended[0]
    assert lease.stored is not None
    assert lease.stored.holder is None  # released before the end, for a standby


def test_liveness_turns_unhealthy_after_the_bound() -> None:
    clock = Clock()
    roles: list[Role] = []
    liveness = Liveness(
        KubeCalls(clock), stuck_seconds=120, role=Role.STANDBY, on_role=roles.append
    )
    assert liveness.check() == (200, {"role": "standby", "status": "ok"})
    liveness.lead()
    assert liveness.check()[0] == 503  # kopf not started yet
    liveness.started()
    assert liveness.check() == (200, {"role": "leader", "status": "ok"})
    with liveness.calls.track("PATCH /apis/x"):
        clock.now = 119.9
        assert liveness.check()[0] == 200
        clock.now = 120.0
        status, body = liveness.check()
        assert status == 503
        assert body["status"] == "stuck"
        assert "PATCH /apis/x" in body["problem"]
    assert liveness.check()[0] == 200  # the call ended
    assert roles == [Role.STANDBY, Role.LEADER]


class SilentServer:
    """A TCP server that accepts and reads, and never answers: a hung API server."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            data += chunk
        self.requests.append(data.split(b"\r\n", 1)[0])

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def kubeconfig_for(tmp_path: Path, port: int) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\n"
        "users:\n- name: u\n  user: {}\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n"
    )
    return str(path)


def test_kube_calls_time_out_are_sent_once_and_are_tracked(
    silent: SilentServer, tmp_path: Path
) -> None:
    calls = KubeCalls()
    api = load_api_client(
        kubeconfig_for(tmp_path, silent.port),
        timeouts=KubeTimeouts(connect=1.0, read=0.5),
        calls=calls,
    )
    assert api.configuration.retries is False
    seen: list[tuple[float, str] | None] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.CoreV1Api(api).read_namespace("team-a")
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    poll(lambda: silent.requests)
    seen.append(calls.oldest())
    worker.join(10)
    assert not worker.is_alive(), "the call did not time out"
    assert len(errors) == 1
    assert isinstance(errors[0], urllib3.exceptions.ReadTimeoutError)
    # One request, never re-sent (urllib3's default would have sent it 4 times).
    assert silent.requests == [b"GET /api/v1/namespaces/team-a HTTP/1.1"]
    assert len(silent.accepted) == 1
    assert seen[0] is not None
    assert seen[0][1] == "GET /api/v1/namespaces/team-a"
    assert calls.oldest() is None


def test_lease_calls_are_single_attempts_with_their_own_timeout(
    silent: SilentServer, tmp_path: Path
) -> None:
    from whatsapp_operator.adapters.lease import LeaseStore, LeaseUnavailable

    api = load_api_client(kubeconfig_for(tmp_path, silent.port))
    store = LeaseStore(api, "ops", "lease", timeout=(1.0, 0.3))
    with pytest.raises(LeaseUnavailable):
        store.read()
    assert len(silent.requests) == 1
