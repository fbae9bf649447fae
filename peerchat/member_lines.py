"""How many of a room's joins, leaves and returns a screen tells one by one: 295 throwaway keys
that joined and dropped out from one address put 590 lines on a screen in 15 s, and the chat
among them went by unread (attack round 46). Headless mode reports each; ``/who`` tells who is
in."""

from __future__ import annotations

import math
from typing import NamedTuple

from peerchat.admission import Pace

AT_ONCE = 20  # told at once, and then
EVERY = 1.0  # one every this many seconds
SUMMED_EVERY = 10.0  # seconds between two lines that count the ones untold
WARNED_EVERY = 60.0  # seconds between two lines that say the rest go untold


class Verdict(NamedTuple):
    """Whether one of a room's joins or leaves is told, and what is said beside it."""

    said: bool  # this one is told
    untold_before: int  # how many before it went untold: said just before it
    warn: bool  # this one is the first past the pace: say so after it


TOLD = Verdict(True, 0, False)  # as any other line


class MemberLines:
    """A room's joins, leaves and returns: ``AT_ONCE`` told, then one every ``EVERY`` s (so a
    trickle is always told: review 64's one a 9 s kept a sliding wave going, and hid every
    real join after it); the first past the pace says that the rest go untold, and how many
    did is said beside the next one told, every ``SUMMED_EVERY`` s at most."""

    def __init__(self) -> None:
        self._pace = Pace(EVERY, AT_ONCE)
        self._untold = 0
        self._summed_at = -math.inf
        self._warned_at = -math.inf

    def tell(self, now: float) -> Verdict:
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
