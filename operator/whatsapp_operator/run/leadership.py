"""Leader election for `whatsapp-operator run --leader-elect`: wait as a standby, then lead.

A standby makes no GREEN-API call and writes nothing but the Lease: `acquire` blocks
before kopf starts. The leader renews from a thread of its own (`Renewer`); when it finds
the Lease in someone else's hands it calls `on_lost`, which ends the process at once
(client-go's convention: the pod restarts as a standby). The renew deadline is kept by a
`Watchdog` of its own, on the monotonic clock: whatever the renewal thread is doing (a
Lease request can hang), the process ends once the deadline has passed since the last
renewal, before the Lease can expire for a standby. The same watchdog ends a leader whose
Kubernetes calls are stuck (run/liveness.py), releasing the Lease first. A clean shutdown
releases the Lease, so a standby takes over without waiting for it to expire. The
decisions are `decide.lease`'s.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from whatsapp_operator.adapters.kube import KubeTimeouts, load_api_client
from whatsapp_operator.adapters.lease import LeaseConflict, LeaseStore, LeaseUnavailable
from whatsapp_operator.config import OperatorConfig
from whatsapp_operator.decide.lease import (
    LeaderMove,
    Observation,
    StandbyMove,
    Timings,
    leader_move,
    next_attempt_in,
    observe,
    renew_overdue,
    standby_move,
)
from whatsapp_operator.ports.kubernetes import Lease, LeaseRecord
from whatsapp_operator.run.liveness import Liveness

log = logging.getLogger(__name__)


# A Lease read or write that did not happen; the standby tries again, the leader too until
# its renew deadline.
_LEASE_ERRORS = (LeaseConflict, LeaseUnavailable)


def _wall() -> datetime:
    return datetime.now(UTC)


class Elector:
    """One process's part in the election for one Lease."""

    def __init__(
        self,
        lease: Lease,
        identity: str,
        timings: Timings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _wall,
    ) -> None:
        self.lease = lease
        self.identity = identity
        self.timings = timings
        self._clock = clock
        self._wall = wall
        self.held: LeaseRecord | None = None
        self.renewed_at = 0.0

    def acquire(self, stop: threading.Event) -> bool:
        """Block until this process holds the Lease (True) or `stop` is set (False)."""
        seen: Observation | None = None
        waiting_for: str | None = None
        while not stop.is_set():
            started = self._clock()
            try:
                record = self.lease.read()
                seen = observe(seen, record, started) if record is not None else None
                move = standby_move(self.identity, seen, started)
                if move is StandbyMove.CREATE:
                    self._took(
                        self.lease.create(self.identity, self.timings.lease_seconds, self._wall()),
                        started,
                    )
                    return True
                if move is StandbyMove.TAKE and seen is not None:
                    self._took(
                        self.lease.write(
                            seen.record,
                            self.identity,
                            self.timings.lease_seconds,
                            self._wall(),
                            acquired=seen.record.holder != self.identity,
                        ),
                        started,
                    )
                    return True
                holder = seen.record.holder if seen is not None else None
                if holder != waiting_for:
                    log.info("Standby: %s leads (Lease %s); waiting", holder, self._where())
                    waiting_for = holder
            except _LEASE_ERRORS as exc:
                log.info("Standby: %s; trying again", exc)
            stop.wait(self.timings.retry_seconds)
        return False

    def overdue(self) -> bool:
        """Whether the renew deadline has passed since the last renewal, on this clock."""
        return renew_overdue(self.renewed_at, self._clock(), self.timings)

    def _took(self, record: LeaseRecord, started: float) -> None:
        self.held = record
        self.renewed_at = started
        log.info("Leading as %s (Lease %s)", self.identity, self._where())

    def renew_once(self) -> LeaderMove | None:
        """One renewal attempt: RENEW done, LOST (someone else holds it), None (failed)."""
        started = self._clock()
        try:
            record = self.lease.read()
            if leader_move(self.identity, record) is LeaderMove.LOST:
                self.held = record
                return LeaderMove.LOST
            assert record is not None
            self.held = self.lease.write(
                record, self.identity, self.timings.lease_seconds, self._wall(), acquired=False
            )
        except _LEASE_ERRORS as exc:
            log.warning("Could not renew Lease %s: %s", self._where(), exc)
            return None
        self.renewed_at = started
        return LeaderMove.RENEW

    def keep(self, stop: threading.Event, on_lost: Callable[[str], None]) -> None:
        """Renew until `stop` is set; call `on_lost(why)` when leadership is gone."""
        renewed = True
        while not stop.wait(next_attempt_in(renewed, self.timings)):
            move = self.renew_once()
            if stop.is_set():
                return
            if move is LeaderMove.LOST:
                holder = self.held.holder if self.held is not None else None
                on_lost(f"Lease {self._where()} is held by {holder} now")
                return
            renewed = move is LeaderMove.RENEW
            if not renewed and renew_overdue(self.renewed_at, self._clock(), self.timings):
                on_lost(
                    f"Lease {self._where()} not renewed within "
                    f"{self.timings.renew_deadline_seconds:g} s"
                )
                return

    def release(self) -> None:
        """Clear the holder so that a standby takes over at once (best effort)."""
        try:
            record = self.lease.read()
            if record is None or record.holder != self.identity:
                return
            self.lease.write(record, None, self.timings.lease_seconds, self._wall(), acquired=False)
        except _LEASE_ERRORS as exc:
            log.warning("Could not release Lease %s: %s (it expires by itself)", self._where(), exc)
            return
        log.info("Released Lease %s", self._where())

    def _where(self) -> str:
        return f"{self.lease.namespace}/{self.lease.name}"


class Renewer:
    """The leader's renewal thread, started after `acquire` and stopped before `release`."""

    def __init__(self, elector: Elector, on_lost: Callable[[str], None]) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=elector.keep, args=(self._stop, on_lost), name="lease renewal", daemon=True
        )

    def start(self) -> None:
        """Start renewing in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing; waits for a renewal in flight (bounded by the request timeout)."""
        self._stop.set()
        self._thread.join()


class Watchdog:
    """Ends the leader's process when the renew deadline passes or its Kubernetes I/O is stuck.

    A thread of its own that only reads the clock: a renewal hung in a Lease request, a
    busy event loop or stuck worker threads cannot delay it. `check` also runs from the
    SIGCONT handler, so a leader stopped (SIGSTOP) past its deadline ends as soon as it
    is resumed, before its event loop sends anything.
    """

    def __init__(
        self,
        elector: Elector,
        liveness: Liveness | None,
        end_process: Callable[[str], None],
        *,
        tick: float = 0.1,
        linger: float = 1.0,
    ) -> None:
        self._elector = elector
        self._liveness = liveness
        self._exit = end_process
        self._tick = tick
        # How long /healthz answers 503 before a stuck leader gives up the Lease, so that
        # whoever looks (a probe, a person) sees why it goes.
        self._linger = linger
        self._stop = threading.Event()
        self._giving_up: threading.Thread | None = None
        self._thread = threading.Thread(target=self._run, name="leader watchdog", daemon=True)

    def start(self) -> None:
        """Start watching (right after the Lease was won)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (a clean shutdown, before the renewal stops)."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            self.check()

    def check(self) -> None:
        """End the process if the renew deadline has passed; give up if the loop is stuck."""
        if self._stop.is_set():
            return
        timings = self._elector.timings
        if self._elector.overdue():
            self._exit(
                f"Lease {self._elector.lease.namespace}/{self._elector.lease.name} not "
                f"renewed within {timings.renew_deadline_seconds:g} s"
            )
            return
        if self._liveness is None or self._giving_up is not None:
            return
        problem = self._liveness.stuck()
        if problem is not None:
            # In a thread: releasing takes Lease requests, and the deadline must still be
            # kept meanwhile.
            self._giving_up = threading.Thread(
                target=self._give_up, args=(problem,), name="giving up", daemon=True
            )
            self._giving_up.start()

    def _give_up(self, problem: str) -> None:
        log.error("The reconcile loop is stuck: %s; giving up the Lease", problem)
        self._stop.wait(self._linger)
        self._elector.release()
        self._exit(f"the reconcile loop is stuck: {problem}")


def new_identity() -> str:
    """The pod's name (HOSTNAME) plus a random suffix: a restarted pod is a new candidate."""
    host = os.environ.get("HOSTNAME") or socket.gethostname()
    return f"{host}_{secrets.token_hex(4)}"


def exit_at_once(why: str) -> None:
    """Leadership is gone: stop every piece of work now, by ending the process non-zero.

    Nothing is cancelled gracefully: a handler still running could write after a standby
    took over. The pod restarts and stands by.
    """
    log.error("Lost leadership: %s; exiting so that two processes never lead", why)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def timings_of(config: OperatorConfig) -> Timings:
    """The election's durations from the configuration."""
    return Timings(
        lease_seconds=config.lease_seconds,
        renew_deadline_seconds=config.lease_renew_deadline_seconds,
        renew_seconds=config.lease_renew_seconds,
        retry_seconds=config.lease_retry_seconds,
    )


def run_as_leader(
    config: OperatorConfig,
    operate: Callable[[threading.Event], None],
    *,
    elector: Elector | None = None,
    liveness: Liveness | None = None,
    end_process: Callable[[str], None] = exit_at_once,
) -> int:
    """Stand by until this process holds the Lease, run `operate`, then release the Lease.

    `operate` gets the event that SIGTERM and SIGINT set until it installs handlers of its
    own: a stop requested between winning the Lease and kopf listening for signals must
    still be a clean stop that releases the Lease, not the default handler's kill.
    Returns the exit code: 0 after a clean stop (as standby or leader), 2 for a bad setup.
    A lost Lease never returns: `end_process` (`exit_at_once`) ends the process. `liveness`
    learns the role, and tells the watchdog when the loop is stuck.
    """
    namespace = config.election_namespace
    timings = timings_of(config)
    problems = timings.problems()
    if not namespace or problems:
        why = "; ".join(problems) or (
            "leader election needs the Lease's namespace: --lease-namespace, "
            "WAOP_LEASE_NAMESPACE or WAOP_OPERATOR_NAMESPACE"
        )
        print(why, file=sys.stderr)
        return 2
    if elector is None:
        # Each request bounded well inside the renew deadline, so that a failed renewal
        # is retried in time; a hung one is the watchdog's.
        bound = min(5.0, timings.renew_deadline_seconds / 4)
        store = LeaseStore(
            load_api_client(config.kubeconfig, timeouts=KubeTimeouts(bound, bound)),
            namespace,
            config.lease_name,
            timeout=(bound, bound),
        )
        elector = Elector(store, new_identity(), timings)
    stop = threading.Event()
    watchdogs: list[Watchdog] = []
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }

    def resumed(*_: object) -> None:
        for watchdog in watchdogs:
            watchdog.check()

    previous[signal.SIGCONT] = signal.signal(signal.SIGCONT, resumed)
    try:
        return _stand_by_then_lead(elector, stop, operate, liveness, end_process, watchdogs)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stand_by_then_lead(
    elector: Elector,
    stop: threading.Event,
    operate: Callable[[threading.Event], None],
    liveness: Liveness | None,
    end_process: Callable[[str], None],
    watchdogs: list[Watchdog],
) -> int:
    log.info(
        "Standing by for Lease %s/%s as %s",
        elector.lease.namespace,
        elector.lease.name,
        elector.identity,
    )
    if not elector.acquire(stop):
        log.info("Stopped while standing by")
        return 0
    watchdog = Watchdog(elector, liveness, end_process)
    watchdog.start()
    watchdogs.append(watchdog)
    if liveness is not None:
        liveness.lead()
    renewer = Renewer(elector, end_process)
    renewer.start()
    try:
        operate(stop)
    finally:
        # The watchdog first: once renewals stop, the deadline would end a clean stop.
        watchdog.stop()
        renewer.stop()
        elector.release()
    return 0
