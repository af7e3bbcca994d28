"""The rollout gate: in the operator process, who may apply a profile revision right now.

One book per WhatsAppSettingsProfile. The profile's loop seeds it from its instances'
statuses (so a restarted operator knows who is in flight before anyone starts); each
instance reconcile reports its own record after every cycle and asks for a slot
before a settings write that brings a profile revision it does not have yet. The
decisions are `decide.rollout`'s; the book only keeps the members and who waits.
Admission and its bookkeeping happen without an await in between, so two reconciles
can never both take the last slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from whatsapp_operator.decide.rollout import Member, Progress, may_start, progress

Key = tuple[str, str]  # (namespace, profile name)


@dataclass
class Book:
    """One profile's members, the instances waiting for a slot, and the profile's wake-up."""

    revision: str = ""
    max_unavailable: int | str = "10%"
    seeded: bool = False
    members: dict[str, Member] = field(default_factory=dict)
    # Admitted, but the instance has not reported since: its status may not show it yet.
    admitted: set[str] = field(default_factory=set)
    waiting: dict[str, Callable[[], None]] = field(default_factory=dict)
    wake_profile: Callable[[], None] | None = None

    def progress(self) -> Progress:
        """The rollout's progress as the book knows it."""
        return progress(self.revision, list(self.members.values()), self.max_unavailable)

    def _wake_waiting(self) -> None:
        """Wake as many waiting instances as there are free slots (they ask again)."""
        state = self.progress()
        if state.paused:
            return
        free = state.limit - len(state.in_flight)
        for name in sorted(self.waiting)[: max(0, free)]:
            self.waiting[name]()


class RolloutGate:
    """Every profile's book, for the life of the process."""

    def __init__(self) -> None:
        self.books: dict[Key, Book] = {}

    def book(self, key: Key) -> Book:
        """The book of profile `key` (created empty, not seeded)."""
        return self.books.setdefault(key, Book())

    def seed(
        self,
        key: Key,
        *,
        revision: str,
        max_unavailable: int | str,
        members: list[Member],
        wake_profile: Callable[[], None],
    ) -> Progress:
        """Take the profile's members (their statuses for those not heard from in this
        process) and return the progress."""
        book = self.book(key)
        # This process writes every instance's status, so what an instance reported here
        # is at least as fresh as its status; statuses fill in the ones not heard from
        # yet (after a restart: everyone).
        known = {m.name: book.members.get(m.name, m) for m in members}
        book.admitted &= known.keys()
        book.members = known
        book.revision = revision
        book.max_unavailable = max_unavailable
        book.seeded = True
        book.wake_profile = wake_profile
        book.waiting = {n: w for n, w in book.waiting.items() if n in known}
        book._wake_waiting()
        return book.progress()

    def admit(self, key: Key, member: Member, revision: str, wake: Callable[[], None]) -> bool:
        """Whether `member` may write now; if so it holds a slot from this moment."""
        book = self.book(key)
        if not book.seeded or book.revision != revision:
            # The profile's loop has not looked at this revision yet: it wakes us when it has.
            book.waiting[member.name] = wake
            if book.wake_profile is not None:
                book.wake_profile()
            return False
        book.members[member.name] = member
        if not may_start(book.progress(), member):
            book.waiting[member.name] = wake
            return False
        book.waiting.pop(member.name, None)
        book.members[member.name] = Member(member.name, member.revision, revision, "")
        book.admitted.add(member.name)
        if book.wake_profile is not None:
            book.wake_profile()
        return True

    def report(self, key: Key, member: Member) -> None:
        """An instance's record after its cycle; frees its slot when it is back."""
        book = self.books.get(key)
        if book is None:
            return
        before = book.members.get(member.name)
        book.admitted.discard(member.name)
        book.members[member.name] = member
        if before != member:
            if not member.in_flight:
                book._wake_waiting()
            if book.wake_profile is not None:
                book.wake_profile()

    def leave(self, key: Key, name: str) -> None:
        """`name` no longer uses the profile (its reference changed, or it was deleted)."""
        book = self.books.get(key)
        if book is None:
            return
        book.admitted.discard(name)
        book.waiting.pop(name, None)
        if book.members.pop(name, None) is not None:
            book._wake_waiting()
            if book.wake_profile is not None:
                book.wake_profile()

    def drop(self, key: Key) -> None:
        """Forget profile `key` (it was deleted)."""
        book = self.books.pop(key, None)
        if book is not None:
            book._wake_waiting()
