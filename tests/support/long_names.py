"""Valid resource names of a given length, for the tests of names past 63 characters."""

from __future__ import annotations


def long_name(length: int) -> str:
    """A valid name of `length` characters, with dots (a DNS subdomain, as Kubernetes allows)."""
    parts, total = [], 0
    while total < length:
        part = "l" * min(40, length - total - (1 if parts else 0))
        parts.append(part)
        total = len(".".join(parts))
    name = ".".join(parts)
    assert len(name) == length, name
    return name
