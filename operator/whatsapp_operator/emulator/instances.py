"""Per-instance state, computed lazily from timestamps.

No instance owns a task or a timer: every read first calls `Instance.settle(now)`, which turns
elapsed deadlines (creation done, starting over, settings due) into state changes and history
entries. That keeps 5,000+ instances at the cost of their dicts.
"""

from __future__ import annotations

import math
import random
import string
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from whatsapp_operator.emulator.settings import default_settings

STABLE_STATES = frozenset({"notAuthorized", "authorized", "blocked", "sleepMode", "yellowCard"})
HISTORY_LIMIT = 1000
SET_SETTINGS_LOG_LIMIT = 100
PAIRING_ALPHABET = string.ascii_uppercase + string.digits


@dataclass
class PendingSettings:
    """Accepted settings values that take effect at `apply_at` (lifecycle time)."""

    apply_at: float
    values: dict[str, Any]


@dataclass
class SetSettingsCall:
    """One setSettings call that passed validation, as the client sent it (admin journal)."""

    at: float
    body: dict[str, Any]
    dropped: bool


@dataclass
class PairingCode:
    """A pairing code issued for `phone`, usable until `expires_at`."""

    code: str
    phone: str
    expires_at: float


@dataclass
class Quota:
    """An exhausted Developer-plan quota: calls of `methods` (all when empty) are answered 466."""

    methods: frozenset[str]
    used: int
    total: int


@dataclass
class Instance:
    """One emulated instance: identity, state and its deadlines, settings, history and faults."""

    id_instance: int
    token: str
    created_at: float
    ready_at: float
    qr_secret: str
    name: str = ""
    stable_state: str = "notAuthorized"
    starting_until: float | None = None
    # Why the instance is starting: only a setSettings restart keeps handing out QR codes
    # (variant `qr_while_starting`); "reboot", "forced" and "wrongCode" do not.
    starting_reason: str = ""
    # When getInstances starts listing it (the listing-lag fault); None means at once.
    listed_at: float | None = None
    ready_recorded: bool = False
    phone: str = ""
    deleted_at: float | None = None
    settings: dict[str, Any] = field(default_factory=default_settings)
    pending: list[PendingSettings] = field(default_factory=list)
    # Accepted setSettings bodies, oldest first, so tests can prove what a client wrote.
    set_settings_log: deque[SetSettingsCall] = field(
        default_factory=lambda: deque(maxlen=SET_SETTINGS_LOG_LIMIT)
    )
    history: deque[tuple[str, float, str]] = field(
        default_factory=lambda: deque(maxlen=HISTORY_LIMIT)
    )
    pairing: PairingCode | None = None
    wrong_code_entered: bool = False
    drop_next_settings: int = 0
    refuse_next_auth_codes: int = 0
    stale_auth: bool = False
    quota: Quota | None = None
    # The plan (getInstances' tariff, expirationDate, isExpired): None renews itself, always
    # a month ahead; past `expires_at` every instance method answers 400 "expired".
    tariff: str = "PARTNER_23"
    expires_at: float | None = None
    # Tokens updateApiToken replaced, and the calls made with them since: a client that
    # keeps using a rotated token shows here (counted, never logged).
    old_tokens: list[str] = field(default_factory=list)
    stale_token_calls: int = 0
    # Bumped on every externally visible change so WebSocket sessions can wake up.
    version: int = 0

    def settle(self, now: float) -> None:
        """Turn every deadline that has passed by `now` into the state it leads to."""
        if not self.ready_recorded and now >= self.ready_at:
            self.ready_recorded = True
            self._record(self.stable_state, self.ready_at)
        if self.starting_until is not None and now >= self.starting_until:
            ended = self.starting_until
            self.starting_until = None
            self._record(self.stable_state, ended)
        if self.pending and self.pending[0].apply_at <= now:
            due = [p for p in self.pending if p.apply_at <= now]
            self.pending = [p for p in self.pending if p.apply_at > now]
            for item in due:
                self.settings.update(item.values)

    def expired(self, now: float) -> bool:
        """Whether the plan has lapsed at `now`."""
        return self.expires_at is not None and now >= self.expires_at

    def creating(self, now: float) -> bool:
        """Whether the instance is still being created at `now`."""
        return now < self.ready_at

    def state(self, now: float) -> str:
        """The value getStateInstance reports (`creating` stands for the `null` body)."""
        self.settle(now)
        if self.creating(now):
            return "creating"
        if self.starting_until is not None:
            return "starting"
        return self.stable_state

    @property
    def wid(self) -> str:
        """The linked account's `phone@c.us`, or "" when no phone is linked."""
        return f"{self.phone}@c.us" if self.stable_state != "notAuthorized" and self.phone else ""

    def start(self, now: float, seconds: float, reason: str = "reboot") -> None:
        """Enter `starting` (reboot); `math.inf` means stuck until something else happens."""
        self.settle(now)
        if self.starting_until is None:
            self._record("starting", now)
        self.starting_until = now + seconds if math.isfinite(seconds) else math.inf
        self.starting_reason = reason
        self.version += 1
        if seconds == 0:
            self.settle(now)

    def set_stable(self, now: float, state: str, phone: str | None = None) -> None:
        """Enter the stable `state` at `now`, ending any start; notAuthorized forgets the phone."""
        self.settle(now)
        self.starting_until = None
        if state == "notAuthorized":
            self.phone = ""
            self.pairing = None
            self.wrong_code_entered = False
        elif phone is not None:
            self.phone = phone
        self.stable_state = state
        self._record(state, now)
        self.version += 1

    def _record(self, state: str, when: float) -> None:
        if self.history and self.history[-1][0] == state:
            return
        self.history.append((state, when, self.phone if state != "notAuthorized" else ""))


def format_time(seconds: float) -> str:
    """GREEN-API's zone-less `2022-06-03T18:39:44` (emulated in UTC)."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


NOT_DELETED_TIME = "0001-01-01T00:00:00"


class Registry:
    """All instances by id, plus the id/token/secret factories (seeded for replayable runs)."""

    def __init__(self, rng: random.Random, id_prefix: str) -> None:
        self._rng = rng
        self._id_prefix = id_prefix
        self.by_id: dict[int, Instance] = {}

    def new_id(self) -> int:
        """A fresh 10-digit instance id beginning with the configured prefix."""
        digits = 10 - len(self._id_prefix)
        while True:
            candidate = int(self._id_prefix + str(self._rng.randrange(10**digits)).zfill(digits))
            if candidate not in self.by_id:
                return candidate

    def new_token(self) -> str:
        """A fresh 50-character hexadecimal API token."""
        return f"{self._rng.getrandbits(200):050x}"

    def new_secret(self) -> str:
        """A fresh secret for an instance's QR payloads."""
        return f"{self._rng.getrandbits(128):032x}"

    def new_pairing_code(self) -> str:
        """A fresh 8-character pairing code (capital letters and digits)."""
        return "".join(self._rng.choice(PAIRING_ALPHABET) for _ in range(8))

    def new_phone(self, id_instance: int) -> str:
        """The phone an instance links as unless told otherwise: 7900 and the id's last 7 digits."""
        return "7900" + str(id_instance)[-7:]

    def add(
        self,
        *,
        now: float,
        creation_seconds: float,
        id_instance: int | None = None,
        token: str | None = None,
        name: str = "",
    ) -> Instance:
        """Register a new instance, ready `creation_seconds` after `now`.

        The id and token are generated unless given; KeyError for an id already taken.
        """
        if id_instance is not None and id_instance in self.by_id:
            raise KeyError(id_instance)
        instance = Instance(
            id_instance=id_instance if id_instance is not None else self.new_id(),
            token=token or self.new_token(),
            created_at=now,
            ready_at=now + creation_seconds,
            qr_secret=self.new_secret(),
            name=name,
        )
        self.by_id[instance.id_instance] = instance
        return instance
