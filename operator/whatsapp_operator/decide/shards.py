"""Sharding by label selector: which objects a process owns.

The API server filters the operator's watches by the shard selector (kopf's
`settings.watching.label_selectors`), so a shard never even sees most objects of the
others. WhatsAppSettingsProfiles are the exception: every shard follows them (they are few)
because the rollout gate of a shard needs the profile of its own instances, but only the
shard whose selector matches a profile's labels writes its status. That needs the selector
evaluated here, with Kubernetes' syntax: `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
`k notin (a,b)`, `k`, `!k`, joined by commas (all must hold).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_SET = re.compile(r"^(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_KEY = re.compile(r"^[^\s!=(),]+$")


class SelectorInvalid(ValueError):
    """The text is not a label selector."""


@dataclass(frozen=True)
class Requirement:
    """One term of a selector: `key op values`."""

    key: str
    op: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def holds(self, labels: Mapping[str, str]) -> bool:
        """Whether `labels` satisfy this term (a missing key satisfies `!=` and `notin`)."""
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        present = self.key in labels and labels[self.key] in self.values
        return present if self.op == "in" else not present


def _terms(text: str) -> list[str]:
    """Split at the commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0 or depth > 1:
            raise SelectorInvalid(f"unbalanced parentheses in {text!r}")
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise SelectorInvalid(f"unbalanced parentheses in {text!r}")
    return [*terms, current]


def _requirement(term: str) -> Requirement:
    term = term.strip()
    matched = _SET.match(term)
    if matched:
        values = frozenset(v.strip() for v in matched["values"].split(",") if v.strip())
        return Requirement(matched["key"], matched["op"], values)
    for op, kind in (("!=", "notin"), ("==", "in"), ("=", "in")):
        key, found, value = term.partition(op)
        if found:
            key, value = key.strip(), value.strip()
            if not _KEY.match(key) or not re.match(r"^[^\s!=(),]*$", value):
                raise SelectorInvalid(f"not a selector term: {term!r}")
            return Requirement(key, kind, frozenset({value}))
    if term.startswith("!") and _KEY.match(term[1:].strip()):
        return Requirement(term[1:].strip(), "!exists")
    if _KEY.match(term):
        return Requirement(term, "exists")
    raise SelectorInvalid(f"not a selector term: {term!r}")


def parse_selector(text: str) -> tuple[Requirement, ...]:
    """The terms of a label selector; empty text selects everything."""
    if not text.strip():
        return ()
    return tuple(_requirement(term) for term in _terms(text))


def selects(requirements: tuple[Requirement, ...], labels: Mapping[str, str] | None) -> bool:
    """Whether an object with `labels` is selected (every term holds)."""
    found = labels or {}
    return all(requirement.holds(found) for requirement in requirements)


def owns(shard_selector: str, labels: Mapping[str, str] | None) -> bool:
    """Whether the process with `shard_selector` owns an object with `labels`.

    An invalid selector is refused at start-up, so it is not expected here.
    """
    return selects(parse_selector(shard_selector), labels)
