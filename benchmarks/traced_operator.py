"""The operator under tracemalloc, for `operator_scale.py --profile-memory tracemalloc`.

Run as `python -X tracemalloc=25 benchmarks/traced_operator.py run --namespace ...`: the
arguments are the operator's (`whatsapp-operator run ...`). The top 30 allocation sites,
by traceback and by line, are written to `$WAOP_TRACEMALLOC_REPORT` (numbered `.1.txt`,
`.2.txt`, ...) on SIGUSR1 and when the process exits.
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

from whatsapp_operator.cli import main

TOP = 30
_numbers = itertools.count(1)


def dump(reason: str) -> None:
    """Write the current top allocation sites to the next numbered report file."""
    if not tracemalloc.is_tracing():
        return
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    current, peak = tracemalloc.get_traced_memory()
    path = Path(f"{os.environ['WAOP_TRACEMALLOC_REPORT']}.{next(_numbers)}.txt")
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
        tracemalloc.start(25)
    signal.signal(signal.SIGUSR1, _on_signal)
    atexit.register(dump, "exit")
    sys.exit(main(sys.argv[1:]))
