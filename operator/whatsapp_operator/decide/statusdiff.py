"""JSON merge patches (RFC 7386) between two status documents, both ways.

One diff for both kinds: a status is written only when it changed, and the
patch removes what is gone (a key set to null), nested maps included, so a
status patched in several steps (an intent first, the report after) ends equal
to the document the reconcile computed.
"""

from __future__ import annotations

from typing import Any


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The smallest merge patch that turns `old` into `new`; None when they are equal."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            nested = merge_patch(before, value)
            if nested is not None:
                patch[key] = nested
        elif key not in old or before != value:
            patch[key] = value
    for key in old.keys() - new.keys():
        patch[key] = None
    return patch or None


def apply_merge_patch(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`doc` as the API server stores it after `patch` (a new dict; inputs untouched)."""
    result = dict(doc)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            before = result.get(key)
            result[key] = apply_merge_patch(before if isinstance(before, dict) else {}, value)
        else:
            result[key] = value
    return result
