"""Fault injection rules and call counters."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from whatsapp_operator.emulator.config import FaultRule


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one call: delay it, drop it, answer an error status, or lose its answer."""

    latency_ms: float = 0.0
    drop: bool = False
    status: int | None = None
    # Set when the answer is to be withheld (after the call took effect) for this long.
    lose_answer_ms: float | None = None


NO_FAULT = FaultDecision()


class FaultInjector:
    """Decides, with its own random source, which faults each call gets from the rules."""

    def __init__(self, rules: list[FaultRule], rng: random.Random) -> None:
        self._rng = rng
        self.rules: list[FaultRule] = list(rules)

    def decide(self, method: str, id_instance: int | None) -> FaultDecision:
        """Combine every matching rule: latencies add up, the first drop, error or lost
        answer wins (a lost answer needs the call to run, so it never joins a drop or error)."""
        if not self.rules:
            return NO_FAULT
        latency = 0.0
        drop = False
        status: int | None = None
        lose_answer_ms: float | None = None
        for rule in self.rules:
            if rule.method != "*" and rule.method.lower() != method:
                continue
            if rule.instance_id is not None and rule.instance_id != id_instance:
                continue
            latency += rule.latency_ms
            if not drop and status is None and lose_answer_ms is None:
                if rule.drop_rate and self._rng.random() < rule.drop_rate:
                    drop = True
                elif rule.error_rate and self._rng.random() < rule.error_rate:
                    status = rule.status
                elif rule.lose_answer_rate and self._rng.random() < rule.lose_answer_rate:
                    lose_answer_ms = rule.lose_answer_ms
        return FaultDecision(
            latency_ms=latency, drop=drop, status=status, lose_answer_ms=lose_answer_ms
        )


class Counters:
    """Calls per instance (or `partner`/`unknown`), method and outcome (status or `dropped`)."""

    def __init__(self) -> None:
        self._counts: defaultdict[tuple[str, str, str], int] = defaultdict(int)

    def count(self, scope: str, method: str, outcome: str) -> None:
        """Count one call of `method` in `scope` with `outcome`."""
        self._counts[(scope, method, outcome)] += 1

    def clear(self) -> None:
        """Forget every count."""
        self._counts.clear()

    def snapshot(self, scope: str | None = None) -> dict[str, Any]:
        """The counts as scope -> method -> outcome (plus `total`), for one scope or all."""
        tree: dict[str, Any] = {}
        for (owner, method, outcome), value in sorted(self._counts.items()):
            if scope is not None and owner != scope:
                continue
            per_method = tree.setdefault(owner, {}).setdefault(method, {"total": 0})
            per_method["total"] += value
            per_method[outcome] = value
        return tree
