"""Scale benchmark: the operator and the kopf floor side by side, in one run.

Run: `.venv/bin/python benchmarks/operator_scale.py [--instances 100[,1000,...]]
[--phases idle,edit,restart] [--skip-floor] [--webhook-url URL] [--output report.md]
[--profile-memory tracemalloc|memray]`

For each size N and each operator (the real one, then the trivial kopf operator of
`floor_operator.py`), on a fresh control plane and a fresh emulator of its own: N token
Secrets, N authorized emulator instances and N WhatsAppInstances (three settings that
differ from GREEN-API's defaults, and with `--webhook-url` a webhookUrl, which makes the
operator watch each instance's queues too) exist before the operator starts, as after a
restart.
Then the phases: converge (always), idle, edit, restart. docs/performance.md says what
each figure means and how it is measured; the table goes to stdout and to `--output`.
Everything listens on 127.0.0.1; the load is bounded by N (at most 10,000).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import signal
import sys
import time
from pathlib import Path

from pacing import FLOOR_CALL_SECONDS, Timings, inherent_wait, mean_wait
from rig import FAST_EMULATOR, ROOT, Rig
from scale_phases import Figures, PhaseRunner, Plan
from scale_report import Column, add_memory_slopes, render

from whatsapp_operator.devtools.process import ManagedProcess

NAMESPACE = "bench"
FIRST_ID = 7105100000
MAX_INSTANCES = 10_000
PHASES = ("idle", "edit", "restart")
# FAST_EMULATOR's values, for the inherent-wait formula.
STARTING_SECONDS, APPLY_SECONDS = 1.0, 2.0


def _sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or any(not 1 <= n <= MAX_INSTANCES for n in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be within 1..{MAX_INSTANCES:,}")
    return sizes


def _phases(text: str) -> frozenset[str]:
    chosen = frozenset(part for part in text.split(",") if part)
    if not chosen <= set(PHASES):
        raise argparse.ArgumentTypeError(f"phases are {', '.join(PHASES)} (converge always runs)")
    return chosen


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=_sizes, default=[100], help="sizes, comma-separated")
    parser.add_argument("--phases", type=_phases, default=frozenset(PHASES))
    parser.add_argument("--skip-floor", action="store_true", help="run the operator only")
    parser.add_argument("--idle", type=float, default=90.0, help="idle window in seconds")
    parser.add_argument("--state-seconds", type=int, default=30)
    parser.add_argument("--settle-seconds", type=int, default=5)
    parser.add_argument("--edits", type=int, default=200, help="objects edited (at most N)")
    parser.add_argument("--edit-spacing", type=float, default=0.02, help="seconds between edits")
    parser.add_argument("--restart-samples", type=int, default=20)
    parser.add_argument("--restart-spread", type=float, default=10.0, help="seconds")
    parser.add_argument(
        "--webhook-url",
        default="",
        help="give every instance this webhookUrl, so the operator also watches its queues "
        "(getWebhooksCount, getMessagesCount: WebhookDelivery)",
    )
    parser.add_argument("--output", type=Path, help="also write the markdown report here")
    parser.add_argument("--profile-memory", choices=("tracemalloc", "memray"))
    return parser.parse_args(argv)


def spec(args: argparse.Namespace) -> dict[str, object]:
    """Each WhatsAppInstance's spec, less its instance reference."""
    settings: dict[str, object] = {
        "incomingWebhook": True,
        "outgoingWebhook": True,
        "delaySendMessagesMilliseconds": 1000,
    }
    if args.webhook_url:
        settings["webhookUrl"] = args.webhook_url
    return {
        "settings": settings,
        "intervals": {
            "stateSeconds": args.state_seconds,
            "settingsSeconds": 300,
            "settleSeconds": args.settle_seconds,
        },
    }


class Launcher:
    """Builds the process for one start of an operator (0: first start, 1: the restart)."""

    def __init__(self, rig: Rig, kind: str, args: argparse.Namespace) -> None:
        self.rig, self.kind, self.args = rig, kind, args
        self.reports: list[Path] = []

    def __call__(self, start: int) -> ManagedProcess:
        name = f"{self.kind}-{start}"
        if self.kind == "floor":
            floor = str(ROOT / "benchmarks" / "floor_operator.py")
            argv = [sys.executable, "-m", "kopf", "run", "--standalone"]
            return self.rig.process(name, [*argv, "--namespace", NAMESPACE, floor])
        report = self.rig.logs / f"{name}-memory"
        if self.args.profile_memory == "tracemalloc":
            self.reports.append(report)
            wrapper = str(ROOT / "benchmarks" / "traced_operator.py")
            prefix = [sys.executable, wrapper]
            env = {"WAOP_TRACEMALLOC_REPORT": str(report)}
            return self.rig.operator(NAMESPACE, name, prefix=prefix, env=env)
        if self.args.profile_memory == "memray":
            binary = report.with_suffix(".bin")
            self.reports.append(binary)
            # Every Python object, not only the arenas pymalloc maps: what holds memory, by line.
            prefix = [sys.executable, "-m", "memray", "run", "-q", "--trace-python-allocators"]
            prefix += ["-o", str(binary)]
            return self.rig.operator(
                NAMESPACE, name, prefix=[*prefix, "-m", "whatsapp_operator.cli"]
            )
        return self.rig.operator(NAMESPACE, name)

    def converged(self, process: ManagedProcess) -> None:
        """A tracemalloc dump right after the burst, when the heap is at its largest."""
        if self.args.profile_memory == "tracemalloc" and process.pid is not None:
            os.kill(process.pid, signal.SIGUSR1)


def run_one(kind: str, n: int, args: argparse.Namespace) -> tuple[Figures, list[Path], Path]:
    """One operator at one size on a fresh rig: every chosen phase."""
    with Rig(f"waop-scale-{kind}-{n}-", FAST_EMULATOR) as rig:
        rig.namespace(NAMESPACE)
        ids = rig.adopted_fleet(NAMESPACE, n, FIRST_ID, spec(args), state="authorized")
        plan = Plan(
            n=n,
            phases=args.phases,
            idle_seconds=args.idle,
            state_seconds=args.state_seconds,
            edits=args.edits,
            edit_spacing=args.edit_spacing,
            restart_samples=args.restart_samples,
            restart_spread=args.restart_spread,
            real_operator=kind == "operator",
        )
        launcher = Launcher(rig, kind, args)
        runner = PhaseRunner(rig, NAMESPACE, ids, plan, launcher, launcher.converged)
        print(f"[{kind} N={n}] converging (logs in {rig.logs})", flush=True)
        runner.converge()
        for phase in PHASES:
            if phase in args.phases:
                print(f"[{kind} N={n}] {phase}", flush=True)
                getattr(runner, {"edit": "edit_latency"}.get(phase, phase))()
        figures = runner.finish()
    return figures, launcher.reports, rig.logs


def derive(kind: str, n: int, figures: Figures, timings: Timings) -> None:
    """Rates from the converge time and the inherent wait."""
    values = figures.values
    inherent = inherent_wait(timings) if kind == "operator" else FLOOR_CALL_SECONDS
    values["inherent_s"] = inherent
    converge = values["converge_s"]
    values["converge_rate"] = n / converge
    beyond = converge - inherent
    values["rate_beyond"] = n / beyond if beyond > 0 else math.nan


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    args = parse_args(argv)
    if args.profile_memory == "memray" and importlib.util.find_spec("memray") is None:
        print("memray is not installed: .venv/bin/pip install -e '.[bench]'", file=sys.stderr)
        return 2
    timings = Timings(STARTING_SECONDS, APPLY_SECONDS, args.settle_seconds, args.state_seconds)
    inherent_wait(timings)  # refuse timings the formula does not cover before any work
    kinds = ["operator"] if args.skip_floor else ["operator", "floor"]
    columns: list[Column] = []
    for n in args.instances:
        for kind in kinds:
            figures, reports, logs = run_one(kind, n, args)
            derive(kind, n, figures, timings)
            columns.append(Column(kind, n, figures))
            for report in reports:
                print(f"[{kind} N={n}] memory report: {report}* (logs in {logs})", flush=True)
    add_memory_slopes(columns)
    preamble = (
        f"# Scale benchmark ({time.strftime('%Y-%m-%d %H:%M')})\n\n"
        f"Phases: converge, {', '.join(sorted(args.phases)) or 'nothing else'}; "
        f"idle window {args.idle:g} s; stateSeconds {args.state_seconds}, settleSeconds "
        f"{args.settle_seconds}; emulator starting {STARTING_SECONDS:g} s, settings applied "
        f"after {APPLY_SECONDS:g} s; inherent wait {inherent_wait(timings):.2f} s at most "
        f"({mean_wait(timings):.2f} s on average); edits: {args.edits} objects "
        f"{args.edit_spacing * 1000:g} ms apart; restart samples: {args.restart_samples} over "
        f"{args.restart_spread:g} s. Each column ran on a fresh control plane and emulator."
    )
    report = render(columns, preamble)
    print(report)
    if args.output is not None:
        args.output.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
