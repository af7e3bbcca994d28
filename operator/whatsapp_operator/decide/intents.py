"""Intents whose record failed: the one way a held-back call is remembered.

Before a write to GREEN-API its intent is merge-patched into status. When that patch
gets no answer, the call is not made, but the patch may have landed: read back as
"done" it would lose the call (a reboot or a queue clear never made, a token rotation
recovered that never happened). So the process remembers each such intent, under the
key of what it is for, and reads status as if it had not landed until a record for the
same thing succeeds. Requested actions, token rotations and clearOnAccountChange all
go through here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from whatsapp_operator.decide.statusdiff import apply_merge_patch

_ABSENT = object()


@dataclass(frozen=True)
class Unsent:
    """An intent patch whose record failed, and the patch that takes it back."""

    key: str
    intent: str  # JSON, so the value stays immutable
    before: str

    @classmethod
    def of(cls, key: str, patch: Mapping[str, Any], stored: Mapping[str, Any]) -> Unsent:
        """The intent `patch` as recorded over `stored` (the status before it)."""
        return cls(
            key,
            json.dumps(patch, sort_keys=True),
            json.dumps(_restoring(patch, stored), sort_keys=True),
        )


def _restoring(patch: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that puts back what `patch` changed in `stored`."""
    back: dict[str, Any] = {}
    for key, value in patch.items():
        old = stored.get(key, _ABSENT) if isinstance(stored, Mapping) else _ABSENT
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            back[key] = _restoring(value, old)
        else:
            back[key] = None if old is _ABSENT else old
    return back


def _shows(doc: Any, patch: Mapping[str, Any]) -> bool:
    """Whether `doc` holds every value `patch` sets (None: absent)."""
    if not isinstance(doc, Mapping):
        return False
    for key, value in patch.items():
        if isinstance(value, Mapping):
            if not _shows(doc.get(key), value):
                return False
        elif value is None:
            if doc.get(key) is not None:
                return False
        elif doc.get(key, _ABSENT) != value:
            return False
    return True


def taken_back(status: Mapping[str, Any], unsent: Iterable[Unsent]) -> dict[str, Any]:
    """`status` as if no unsent intent it still shows had landed.

    An intent shown only in part was written over since: the status has moved on and
    stands as it is.
    """
    result = dict(status)
    for item in unsent:
        if _shows(result, json.loads(item.intent)):
            result = apply_merge_patch(result, json.loads(item.before))
    return result


def settled(unsent: Iterable[Unsent], key: str) -> tuple[Unsent, ...]:
    """The unsent intents once a record for `key` has succeeded."""
    return tuple(item for item in unsent if item.key != key)


def held(unsent: Iterable[Unsent], item: Unsent) -> tuple[Unsent, ...]:
    """The unsent intents once `item`'s record failed (it replaces one of its key)."""
    return (*settled(unsent, item.key), item)
