"""Which of a node's fetches may send a chunk now: all at once while its uplink keeps up, one
at a time, in turn, while it does not. No I/O, no clocks read here.

The fetches one member serves share its uplink. On a slow one, the TCP connections they run
over fight for it, and one can lose for long: of three fetches at 1 Mbit/s, one got next to
nothing for a minute, and its link, whose pings waited behind its chunks, was dropped as
silent four times, each time the room's tracker changing on that side (trial 51, 2 of 3 runs).
Once two fetches are slow to be acknowledged within ``TOGETHER`` s of each other (the uplink,
not one fetcher's own link), they take turns of ``TURN`` s, in the order they asked: the links
of those waiting carry nothing but chat and pings meanwhile. Turns go on for ``TURNS_FOR`` s
after the last slow acknowledgement, of two fetches or of the one whose turn it is.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

TURN = 2.0  # seconds a fetch sends while the others wait
TURNS_FOR = 30.0
TOGETHER = 5.0


class Uplink:
    def __init__(self) -> None:
        self._slow: dict[Hashable, float] = {}  # fetch -> when it was last slow (lately)
        self._until = -math.inf  # fetches take turns until then
        self._holder: Hashable | None = None  # whose turn it is
        self._turn_from = -math.inf
        self._waiting: dict[Hashable, None] = {}  # fetches waiting for a turn, in order

    def slow(self, fetch: Hashable, now: float) -> None:
        """``fetch``'s chunks were acknowledged late (its window shrank)."""
        self._slow = {f: t for f, t in self._slow.items() if now - t <= TOGETHER}
        self._slow[fetch] = now
        if len(self._slow) > 1 or (fetch == self._holder and now < self._until):
            self._until = now + TURNS_FOR

    def may_send(self, fetch: Hashable, now: float) -> bool:
        """Whether ``fetch`` may send a chunk now; one that may not is asked again later, and
        its turn comes."""
        if now >= self._until:  # the uplink keeps up: everyone sends
            self._holder, self._waiting = None, {}
            return True
        if self._waiting and (self._holder is None or now - self._turn_from >= TURN):
            self._pass(now)
        if self._holder is None:
            self._holder, self._turn_from = fetch, now
        if fetch == self._holder:
            return True
        self._waiting.setdefault(fetch, None)
        return False

    def gone(self, fetch: Hashable) -> None:
        """``fetch`` ended: it neither sends nor waits."""
        self._slow.pop(fetch, None)
        self._waiting.pop(fetch, None)
        if fetch == self._holder:
            self._holder = None

    def _pass(self, now: float) -> None:
        """The turn goes to the fetch that waited longest; the one whose turn it was waits
        last."""
        before, self._holder = self._holder, next(iter(self._waiting))
        del self._waiting[self._holder]
        self._turn_from = now
        if before is not None:
            self._waiting[before] = None
