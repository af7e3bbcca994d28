"""Who reads what: the index that answers "whom does this change wake" without a scan.

Each object's loop reads other objects: Secrets (its token, a webhook token, a partner
token), a WhatsAppPartner, a WhatsAppSettingsProfile. When one of them changes, the objects
that read it must run again at once. Scanning every object's memory for each change costs
O(objects) per change, and a Secret recheck round asked the same of every object twice.
Here each object's references are recorded when its step ends (what that step read), so a
change finds its readers in O(readers).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

Key = tuple[str, str]  # namespace ("" for a cluster-scoped object) and name


class Read(StrEnum):
    """What kind of thing an object reads."""

    SECRET = "Secret"  # noqa: S105 - a kind of reference, not a credential
    # The subset of SECRET re-read on a timer: those whose change nothing else reveals.
    RECHECKED_SECRET = "RecheckedSecret"  # noqa: S105 - as SECRET
    PARTNER = "Partner"
    PROFILE = "Profile"


Ref = tuple[Read, Key]


class Dependents:
    """Objects (by uid) indexed by what they read."""

    def __init__(self) -> None:
        self._readers: dict[Read, dict[Key, set[str]]] = {read: {} for read in Read}
        self._reads: dict[str, frozenset[Ref]] = {}

    def record(self, uid: str, refs: Iterable[Ref]) -> None:
        """`uid` now reads exactly `refs`."""
        new = frozenset(refs)
        old = self._reads.get(uid, frozenset())
        if new == old:
            return
        for read, key in old - new:
            readers = self._readers[read][key]
            readers.discard(uid)
            if not readers:
                del self._readers[read][key]
        for read, key in new - old:
            self._readers[read].setdefault(key, set()).add(uid)
        if new:
            self._reads[uid] = new
        else:
            del self._reads[uid]

    def forget(self, uid: str) -> None:
        """`uid` is gone: it reads nothing."""
        self.record(uid, ())

    def readers(self, read: Read, key: Key) -> frozenset[str]:
        """The objects that read `key`."""
        return frozenset(self._readers[read].get(key, ()))

    def keys(self, read: Read) -> set[Key]:
        """Everything of kind `read` that some object reads."""
        return set(self._readers[read])

    def __len__(self) -> int:
        """How many objects read anything."""
        return len(self._reads)
