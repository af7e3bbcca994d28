"""What it costs to find whom a change wakes, per change, at N objects.

Every object reads its token Secret (one per object), one in ten a webhook token Secret that
is re-read on a timer, and all share a handful of partners and profiles. Measured:

- a Secret change (`wake_referencing`), a partner change, a profile change: the lookup that
  decides whom to wake, with the wake itself;
- one Secret-recheck round's two questions (`rechecked_secrets`, `referenced_secrets`).

`--scan` measures the same questions answered by scanning every object's memory, which is
what the runtime did before the dependents index; both run in one process, one after the
other, so the two columns compare on the same machine state.

    python benchmarks/wake_lookup.py --objects 1000 10000
"""

from __future__ import annotations

import argparse
import timeit
from dataclasses import replace
from typing import Any, cast

from whatsapp_operator.config import OperatorConfig
from whatsapp_operator.metrics import Metrics
from whatsapp_operator.run.runtime import Entry, Runtime

Key = tuple[str, str]


def build(objects: int) -> Runtime:
    nothing = cast(Any, None)
    runtime = Runtime(
        config=OperatorConfig(),
        green_api=nothing,
        kube=nothing,
        reconciler=nothing,
        partners=nothing,
        metrics=Metrics(),
        profiles=nothing,
    )
    for i in range(objects):
        uid = f"uid-{i}"
        namespace = f"team-{i % 50}"
        entry = runtime.entries[uid] = Entry()
        rechecked = {(namespace, f"hook-{i}")} if i % 10 == 0 else set()
        entry.memory = replace(
            entry.memory,
            referenced_secrets=frozenset({(namespace, f"token-{i}"), *rechecked}),
            rechecked_secrets=frozenset(rechecked),
            partner=(namespace, "gapi"),
            profile=(namespace, "base"),
        )
        runtime.reindex(uid)
    return runtime


class Scan:
    """The questions answered as before the index: a pass over every object."""

    def __init__(self, runtime: Runtime) -> None:
        self.entries = runtime.entries

    def wake_referencing(self, namespace: str, name: str) -> int:
        woken = 0
        for entry in self.entries.values():
            if (namespace, name) in entry.memory.referenced_secrets:
                entry.wake()
                woken += 1
        return woken

    def wake_partner_users(self, namespace: str, name: str) -> None:
        for entry in self.entries.values():
            if entry.memory.partner == (namespace, name):
                entry.wake()

    def wake_profile_users(self, namespace: str, name: str) -> None:
        for entry in self.entries.values():
            if entry.memory.profile == (namespace, name):
                entry.wake()

    def rechecked_secrets(self) -> set[Key]:
        return {key for entry in self.entries.values() for key in entry.memory.rechecked_secrets}

    def referenced_secrets(self) -> set[Key]:
        return {key for entry in self.entries.values() for key in entry.memory.referenced_secrets}


def per_call_us(statement: Any, number: int) -> float:
    return min(timeit.repeat(statement, number=number, repeat=5)) / number * 1e6


def measure(target: Any, objects: int) -> dict[str, float]:
    number = max(10, 100_000 // objects)
    return {
        "Secret change": per_call_us(lambda: target.wake_referencing("team-7", "token-7"), number),
        "partner change": per_call_us(lambda: target.wake_partner_users("team-7", "gapi"), number),
        "profile change": per_call_us(lambda: target.wake_profile_users("team-7", "base"), number),
        "recheck round": per_call_us(
            lambda: (target.rechecked_secrets(), target.referenced_secrets()), max(3, number // 10)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    print(f"{'objects':>8} {'question':<16} {'scan (µs)':>11} {'index (µs)':>11} {'ratio':>7}")
    for objects in args.objects:
        runtime = build(objects)
        scan = measure(Scan(runtime), objects)
        index = measure(runtime, objects)
        for question, before in scan.items():
            after = index[question]
            ratio = before / after
            print(f"{objects:>8} {question:<16} {before:>11.1f} {after:>11.1f} {ratio:>6.1f}x")


if __name__ == "__main__":
    main()
