"""The operator under tracemalloc, for `operator_scale.py --profile-memory tracemalloc`.

Run as `python benchmarks/traced_operator.py run --namespace ...`: the arguments are the
operator's (`whatsapp-operator run ...`). Tracing starts after the imports, keeping
`FRAMES` frames per allocation: `-X tracemalloc=25` would trace the imports too, which then
take minutes on a busy 2-core machine, and what they allocate is the same at any size.
The top 30 allocation sites, by line and by traceback, are written to
`$WAOP_TRACEMALLOC_REPORT` (numbered `.1.txt`, `.2.txt`, ...) on SIGUSR1 and at exit.
"""

from __future__ import annotations

import atexit
import itertools
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

# Imported before tracing starts: the operator imports these lazily, and under tracemalloc
# the kubernetes client's models alone take half a minute to import.
import whatsapp_operator.commands
import whatsapp_operator.run.handlers  # noqa: F401
from whatsapp_operator.cli import main

TOP = 30
# Frames kept per allocation (WAOP_TRACEMALLOC_FRAMES). The cost grows with the depth of
# kopf's asyncio stacks: at 10 or 25 frames a 10-object operator made no progress for
# minutes on a busy 2-core machine; at 1 it ran normally.
FRAMES = int(os.environ.get("WAOP_TRACEMALLOC_FRAMES", "1"))
_numbers = itertools.count(1)


def dump(reason: str) -> None:
    """Write the current top allocation sites to the next numbered report file."""
    if not tracemalloc.is_tracing():
        return
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    current, peak = tracemalloc.get_traced_memory()
    prefix = os.environ.get("WAOP_TRACEMALLOC_REPORT", "tracemalloc-report")
    path = Path(f"{prefix}.{next(_numbers)}.txt")
    lines = [f"# {reason}: traced {current / 2**20:.1f} MiB now, {peak / 2**20:.1f} MiB peak"]
    lines.append(f"\n## top {TOP} by line")
    lines += [str(stat) for stat in snapshot.statistics("lineno")[:TOP]]
    lines.append(f"\n## top {TOP} by traceback")
    for stat in snapshot.statistics("traceback")[:TOP]:
        lines.append(f"{stat.size / 1024:.1f} KiB in {stat.count} blocks")
        lines += [f"    {line}" for line in stat.traceback.format()]
    path.write_text("\n".join(lines) + "\n")


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    dump("SIGUSR1")


if __name__ == "__main__":
    if not tracemalloc.is_tracing():
        tracemalloc.start(FRAMES)
    signal.signal(signal.SIGUSR1, _on_signal)
    atexit.register(dump, "exit")
    sys.exit(main(sys.argv[1:]))
