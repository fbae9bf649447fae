"""How many of a room's joins, leaves, returns and renames a screen tells one by one: 295
throwaway keys that joined and dropped out from one address put 590 lines on a screen in 15 s,
and the chat among them went by unread (attack round 46). Headless mode reports each; ``/who``
tells who is in."""

from __future__ import annotations

import math
from typing import NamedTuple

from peerchat.admission import Pace

AT_ONCE = 20  # told at once, and then
EVERY = 1.0  # one every this many seconds
SUMMED_EVERY = 10.0  # seconds between two lines that count the ones untold
QUIET = 3.0  # seconds without a join or leave that end a wave: its untold are counted then
WARNED_EVERY = 60.0  # seconds between two lines that say the rest go untold


class Verdict(NamedTuple):
    """Whether one of a room's joins or leaves is told, and what is said beside it."""

    said: bool  # this one is told
    untold_before: int  # how many before it went untold: said just before it
    warn: bool  # this one is the first past the pace: say so after it


TOLD = Verdict(True, 0, False)  # as any other line


class MemberLines:
    """A room's joins, leaves, returns and renames: ``AT_ONCE`` told, then one every ``EVERY``
    s (so a trickle is always told: review 64's one a 9 s kept a sliding wave going, and hid
    every real join after it); the first past the pace says that the rest go untold, and how many
    did is said beside the next one told, every ``SUMMED_EVERY`` s at most, or once the wave
    is over (``settle``: trial 65 read the count only with a join told minutes later)."""

    def __init__(self) -> None:
        self._pace = Pace(EVERY, AT_ONCE)
        self._untold = 0
        self._summed_at = -math.inf
        self._warned_at = -math.inf
        self._last_at = -math.inf

    def settles_at(self) -> float | None:
        """When the untold are counted if no join or leave comes first; None: none are."""
        if not self._untold:
            return None
        return max(self._last_at + QUIET, self._summed_at + SUMMED_EVERY)

    def settle(self, now: float) -> int:
        """How many went untold, if it is time to say so (then they are counted as said)."""
        at = self.settles_at()
        if at is None or now < at:
            return 0
        untold, self._untold, self._summed_at = self._untold, 0, now
        return untold

    def tell(self, now: float) -> Verdict:
        self._last_at = now
        if self._pace.allows(now):
            if self._untold and now - self._summed_at >= SUMMED_EVERY:
                untold, self._untold, self._summed_at = self._untold, 0, now
                return Verdict(True, untold, False)
            return TOLD
        if now - self._warned_at >= WARNED_EVERY:
            self._warned_at = now
            return Verdict(True, 0, True)
        self._untold += 1
        return Verdict(False, 0, False)
