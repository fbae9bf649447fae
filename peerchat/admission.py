"""Who may hold a connection to this node, and how refusals are logged. No I/O, no clocks.

Every connection takes a ``Slot``: accepted ones through ``enter`` (which may refuse), dialled
ones through ``dialled`` (never refused: this node chose to dial a member). A slot is *pending*
until its peer is known to be a member of the room; pending slots are capped in all and per
remote address, so that strangers can take only so many, and all slots together stay below the
descriptor limit, so that accepting a member never fails for want of one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from peerchat.addresses import address_key
from peerchat.bounded import keep_latest


@dataclass(frozen=True, slots=True)
class Limits:
    connections: int
    pending: int
    pending_per_address: int


class Slot:
    """One connection's place; ``member()`` once its peer is in the room, ``leave()`` at the end."""

    def __init__(self, admission: Admission, address: str | None, member_at: str = "") -> None:
        self._admission = admission
        self._address = address  # None: not pending (dialled, or already a member)
        self._member_at = member_at  # a member's address, counted (``Admission.members_at``)
        self._open = True

    def member(self) -> None:
        if self._address is not None and self._open:
            address, self._address = self._address, None
            self._admission._unpend(address)
            self._member_at = self._admission._member_at(address)

    def leave(self) -> None:
        """Give the place back; more calls do nothing, so every path out may call it."""
        if self._open:
            if self._address is not None:
                self._admission._unpend(self._address)
                self._address = None
            self._open = False
            self._admission._leave(self._member_at)

    @property
    def pending(self) -> bool:
        return self._address is not None


class Admission:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open = 0
        self.pending = 0
        self._per_address: Counter[str] = Counter()
        self._members: Counter[str] = Counter()  # links to members, by their address

    def enter(self, address: str) -> Slot | str:
        """A slot for a connection accepted from ``address``, or why there is none."""
        limits = self.limits
        if self.open >= limits.connections:
            return f"{self.open} connections open, the most this node keeps"
        if self.pending >= limits.pending:
            return f"{self.pending} connections from non-members, the most this node keeps"
        if self._per_address[address] >= limits.pending_per_address:
            return f"{limits.pending_per_address} connections from non-members at {address}"
        self.open += 1
        self.pending += 1
        self._per_address[address] += 1
        return Slot(self, address)

    def dialled(self, address: str = "") -> Slot:
        """A slot for a connection this node makes, to a member at ``address``."""
        self.open += 1
        return Slot(self, None, self._member_at(address) if address else "")

    def members_at(self, address: str) -> int:
        """Links to members at ``address``, however it is written."""
        return self._members[address_key(address)]

    def _member_at(self, address: str) -> str:
        key = address_key(address)
        self._members[key] += 1
        return key

    def _unpend(self, address: str) -> None:
        self.pending -= 1
        self._per_address[address] -= 1
        if not self._per_address[address]:
            del self._per_address[address]

    def _leave(self, member_at: str) -> None:
        self.open -= 1
        if member_at:
            self._members[member_at] -= 1
            if not self._members[member_at]:
                del self._members[member_at]


class Pace:
    """Up to ``burst`` at once, then one per ``interval`` seconds (a token bucket)."""

    def __init__(self, interval: float, burst: int = 1) -> None:
        self._interval, self._burst = interval, burst
        self._tokens = float(burst)
        self._at: float | None = None

    def allows(self, now: float, count: int = 1) -> bool:
        """Whether ``count`` more may go now (and they are counted if so). An interval of 0
        lets everything go."""
        if self._interval <= 0:
            return True
        self._refill(now)
        if self._tokens < count:
            return False
        self._tokens -= count
        return True

    def owe(self, now: float, count: int) -> float:
        """Take ``count`` now, into debt if need be: the seconds until the debt is paid off (0
        when there is none). A reader that waits so takes no more than the pace allows."""
        if self._interval <= 0:
            return 0.0
        self._refill(now)
        self._tokens -= count
        return max(0.0, -self._tokens * self._interval)

    def _refill(self, now: float) -> None:
        if self._at is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._at) / self._interval)
        self._at = now


class Paces:
    """A ``Pace`` for each of up to ``most`` keys, the one longest unused forgotten first. Keyed
    by a member's node id, a pace outlives the member's links: kept by link, it began anew
    with each, and a member linking again hundreds of times a second renamed itself and offered
    files as often (attack round 10)."""

    def __init__(self, interval: float, burst: int = 1, most: int = 1024) -> None:
        self._interval, self._burst, self._most = interval, burst, most
        self._paces: dict[object, Pace] = {}

    def allows(self, key: object, now: float, count: int = 1) -> bool:
        """Whether ``count`` more may go now for ``key`` (and they are counted if so)."""
        return self._pace(key).allows(now, count)

    def forget(self, key: object) -> None:
        """``key`` begins anew: its next one goes."""
        self._paces.pop(key, None)

    def owe(self, key: object, now: float, count: int) -> float:
        """``Pace.owe`` for ``key``."""
        return self._pace(key).owe(now, count)

    def _pace(self, key: object) -> Pace:
        paces = self._paces
        pace = paces.get(key)
        if pace is not None and next(reversed(paces)) == key:
            return pace  # used last already: as every frame of a busy link asks (read_pace)
        return keep_latest(paces, key, pace or Pace(self._interval, self._burst), self._most)


class RefusalLog:
    """Refusals under a flood would write a log line each: up to ``burst`` lines at once, then
    one per ``interval``, each with the count of those left out before it."""

    def __init__(self, interval: float, burst: int = 1) -> None:
        self._pace = Pace(interval, burst)
        self._held = 0

    def note(self, now: float) -> int | None:
        """None: say nothing now. Otherwise log this refusal, and the returned number of others
        left out since the last line."""
        if not self._pace.allows(now):
            self._held += 1
            return None
        held, self._held = self._held, 0
        return held
