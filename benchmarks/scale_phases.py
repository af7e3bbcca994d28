"""The phases of the scale benchmark, for one operator (the real one or the kopf floor)
and one fleet size, on a rig of its own. See docs/performance.md for what each figure
means and how it is measured.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import apimetrics
from fleet_watch import FleetWatch
from rig import GROUP, PLURAL, VERSION, Rig, admin, emulator_calls, proc_status, timeline

from whatsapp_operator.devtools.polling import wait_until
from whatsapp_operator.devtools.process import ManagedProcess

# The setting every edit changes; each round writes a value no earlier round wrote.
EDITED = "delaySendMessagesMilliseconds"


@dataclass(frozen=True)
class Plan:
    """What to run: sizes, windows and which optional phases."""

    n: int
    phases: frozenset[str]
    idle_seconds: float
    state_seconds: int
    edits: int
    edit_spacing: float
    restart_samples: int
    restart_spread: float
    real_operator: bool


@dataclass
class Edit:
    """One spec edit: which object, when it was sent, the generation it made."""

    name: str
    id_instance: int
    sent: float
    generation: int


@dataclass
class Figures:
    """What one run measured: table values by row name, plus detail lines."""

    values: dict[str, Any] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile `q` (0-100) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class Bracket:
    """Everything counted before a phase, to take differences after it."""

    def __init__(self, run: PhaseRunner) -> None:
        self.run = run
        self.requests = apimetrics.scrape(run.rig.cluster)
        self.own = Counter(run.api.sent)
        self.calls = emulator_calls(run.rig.url)
        self.modified = Counter(run.fleet.modified)
        self.events = run.events()
        running = run.process is not None and run.process.running()
        self.cpu = run.proc()["cpu"] if running else 0.0
        self.wall = time.time()

    def requests_made(self) -> Counter[tuple[str, str, str]]:
        """API requests by others than the benchmark since the bracket opened."""
        after = apimetrics.scrape(self.run.rig.cluster)
        return apimetrics.phase_requests(self.requests, after, self.own, self.run.api.sent)

    def writes(self, exclude: frozenset[str] = frozenset()) -> int:
        """MODIFIED events since the bracket opened, on objects not in `exclude`."""
        now = self.run.fleet.modified
        return sum(now[k] - self.modified[k] for k in now if k not in exclude)

    def calls_made(self) -> Counter[str]:
        """GREEN-API calls by method since the bracket opened."""
        return emulator_calls(self.run.rig.url) - self.calls


class PhaseRunner:
    """Runs the phases in order on one rig: converge, then idle, edit and restart."""

    def __init__(
        self,
        rig: Rig,
        namespace: str,
        ids: list[int],
        plan: Plan,
        start: Callable[[int], ManagedProcess],
        on_converged: Callable[[ManagedProcess], None] = lambda _p: None,
    ) -> None:
        self.rig, self.namespace, self.ids, self.plan = rig, namespace, ids, plan
        assert rig.api is not None
        self.api = rig.api
        self.start = start
        self.on_converged = on_converged
        self.fleet = FleetWatch(self.api, namespace)
        self.process: ManagedProcess | None = None
        self.figures = Figures()
        self.rounds = 0

    # -- helpers --------------------------------------------------------------

    def proc(self) -> dict[str, float]:
        """CPU and memory figures of the running operator process."""
        assert self.process is not None
        assert self.process.pid is not None
        return proc_status(self.process.pid)

    def events(self) -> int:
        """How many Events the namespace holds now (one LIST)."""
        raw = self.rig.core.list_namespaced_event(self.namespace, _preload_content=False)
        return len(json.loads(raw.data)["items"])

    def wait_settled(self, what: str) -> None:
        """Wait until every object is Ready and Synced for its generation."""
        n = self.plan.n
        timeout = 300 + n * 0.5
        wait_until(lambda: self.fleet.all_converged(n), what, timeout=timeout, interval=0.2)

    def record_requests(self, phase: str, requests: Counter[tuple[str, str, str]]) -> None:
        """API requests per object for `phase`: the total in the table, the kinds in details."""
        n = self.plan.n
        self.figures.values[f"api_{phase}"] = sum(requests.values()) / n
        self.figures.details[f"API requests per object, {phase}"] = apimetrics.describe(requests, n)

    # -- phases ---------------------------------------------------------------

    def converge(self) -> None:
        """Start with N objects present; time until all are Ready and Synced."""
        bracket = Bracket(self)
        self.process = self.start(0)
        started = time.monotonic()
        self.process.start()
        self.wait_settled("every object Ready and Synced")
        values = self.figures.values
        values["converge_s"] = time.monotonic() - started
        memory = self.proc()
        values["rss_burst_mib"] = memory["VmRSS"] / 1024
        values["hwm_burst_mib"] = memory["VmHWM"] / 1024
        self.record_requests("converge", bracket.requests_made())
        self.on_converged(self.process)

    def idle(self) -> None:
        """A window with nothing changing: writes, Events, GREEN-API calls, CPU, poll spread."""
        bracket = Bracket(self)
        time.sleep(self.plan.idle_seconds)  # the measured window itself, not a wait
        end = time.time()
        cpu = self.proc()["cpu"] - bracket.cpu
        calls = bracket.calls_made()
        values = self.figures.values
        values["idle_writes"] = bracket.writes()
        values["idle_events"] = self.events() - bracket.events
        values["idle_cpu_pct"] = 100 * cpu / (end - bracket.wall)
        polls = calls.get("getstateinstance", 0)
        values["idle_calls"] = sum(v for k, v in calls.items() if k != "429")
        values["idle_cpu_ms_per_poll"] = 1000 * cpu / polls if polls else math.nan
        values["idle_spread"] = self.spread(bracket.wall, end)
        self.record_requests("idle", bracket.requests_made())
        self.figures.details["GREEN-API calls in the idle window"] = json.dumps(
            dict(sorted(calls.items())), sort_keys=True
        )

    def spread(self, since: float, until: float) -> float:
        """getStateInstance polls per second over whole seconds in the window: max / mean."""
        first, last = math.ceil(since), math.floor(until)
        seconds = timeline(self.rig.url, "getStateInstance", first, last)
        whole = max(1, last - first)
        mean = sum(seconds.values()) / whole
        return max(seconds.values()) / mean if mean else math.nan

    def edit_latency(self) -> None:
        """M settled objects edited ~20 ms apart: edit -> setSettings, edit -> status."""
        self.wait_settled("every object settled before the edits")
        m = min(self.plan.n, self.plan.edits)
        picks = [i * self.plan.n // m for i in range(m)]
        slots = [i * self.plan.edit_spacing for i in range(m)]
        edits = self.send_edits(picks, slots)
        self.report_edits("edit", edits)

    def restart(self) -> None:
        """Restart with N settled objects: writes caused, requests, first polls, serving edits."""
        self.wait_settled("every object settled before the restart")
        assert self.process is not None
        self.process.stop(timeout=60)
        self.process = None
        bracket = Bracket(self)
        self.process = self.start(1)
        started = time.time()
        self.process.start()
        k = min(self.plan.n, self.plan.restart_samples)
        picks = [(2 * i + 1) * self.plan.n // (2 * k) for i in range(k)]
        slots = [i * self.plan.restart_spread / max(1, k - 1) for i in range(k)]
        edits = self.send_edits(picks, slots)
        window = 1.2 * self.plan.state_seconds
        time.sleep(max(0.0, started + window - time.time()))  # the measured window itself
        self.report_edits("restart", edits)
        values = self.figures.values
        values["restart_writes"] = bracket.writes(exclude=frozenset(e.name for e in edits))
        values["rss_restart_mib"] = self.proc()["VmRSS"] / 1024
        self.record_requests("restart", bracket.requests_made())
        if self.plan.real_operator:
            self.first_polls(started, window)

    def first_polls(self, started: float, window: float) -> None:
        """getStateInstance per second after the restart, and when all N had one."""
        first = math.floor(started)
        seconds = timeline(self.rig.url, "getStateInstance", first, started + window)
        histogram = [seconds.get(first + s, 0) for s in range(math.ceil(window))]
        total, everyone = 0, math.nan
        for offset, count in enumerate(histogram):
            total += count
            if total >= self.plan.n:
                everyone = offset + 1
                break
        self.figures.values["restart_all_polled_s"] = everyone
        self.figures.details["getStateInstance per second after the restart"] = ", ".join(
            str(count) for count in histogram
        )

    # -- edits ----------------------------------------------------------------

    def send_edits(self, picks: list[int], slots: list[float]) -> list[Edit]:
        """Patch EDITED on the picked objects, each at its slot (seconds from now)."""
        self.rounds += 1
        value = 1000 + 50 * self.rounds
        began = time.time()
        edits = []
        for index, slot in zip(picks, slots, strict=True):
            time.sleep(max(0.0, began + slot - time.time()))  # pacing the load, not waiting
            name = f"wa-{index}"
            sent = time.time()
            patched = self.rig.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                name,
                {"spec": {"settings": {EDITED: value}}},
            )
            generation = int(patched["metadata"]["generation"])
            edits.append(Edit(name, self.ids[index], sent, generation))
        self.edited_value = value
        return edits

    def report_edits(self, phase: str, edits: list[Edit]) -> None:
        """Edit -> status showing the generation (both operators), and -> setSettings (real)."""
        deadline = 120 + len(edits)
        wait_until(
            lambda: all(self.fleet.observed_since(e.name, e.generation) for e in edits),
            f"status of the {phase} edits",
            timeout=deadline,
            interval=0.2,
        )
        status = [(self.fleet.observed_since(e.name, e.generation) or 0) - e.sent for e in edits]
        self.put_latencies(f"{phase}_status", status)
        if self.plan.real_operator:
            self.put_latencies(f"{phase}_setsettings", self.settings_latencies(edits, deadline))

    def settings_latencies(self, edits: list[Edit], deadline: float) -> list[float]:
        """Edit -> the emulator's setSettings journal entry carrying the edited value."""
        first = min(e.sent for e in edits)
        wait_until(
            lambda: (
                sum(timeline(self.rig.url, "setSettings", first, math.inf).values()) >= len(edits)
            ),
            "setSettings for every edit",
            timeout=deadline,
            interval=0.5,
        )
        latencies = []
        for e in edits:
            log = admin(self.rig.url, f"/admin/instances/{e.id_instance}")["setSettingsLog"]
            arrivals = [
                float(c["at"])
                for c in log
                if float(c["at"]) >= e.sent and c["body"].get(EDITED) == self.edited_value
            ]
            if arrivals:
                latencies.append(min(arrivals) - e.sent)
        return latencies

    def put_latencies(self, row: str, latencies: list[float]) -> None:
        """p50 / p99 / max of `latencies` (seconds) under `row`."""
        values = self.figures.values
        values[f"{row}_p50"] = percentile(latencies, 50)
        values[f"{row}_p99"] = percentile(latencies, 99)
        values[f"{row}_max"] = max(latencies, default=math.nan)
        values[f"{row}_count"] = len(latencies)

    def finish(self) -> Figures:
        """Whole-run figures; stops the fleet watch."""
        self.figures.values["greenapi_429"] = emulator_calls(self.rig.url).get("429", 0)
        self.fleet.stop()
        return self.figures
