"""Which of a member's drops and returns a screen tells: a link that is cut and made again
and again must not fill every screen (attack round 44: one key that linked and cut put
"dropped out" and "is back" on each member's screen 2.4 times a second)."""

from __future__ import annotations

import enum
import math
from collections.abc import Hashable

FLAPS_TOLD = 3  # a member's drops told within FLAPPING_FOR s before the rest go unsaid
FLAPPING_FOR = 60.0  # seconds
MEMBERS_KEPT = 1024  # members whose drops are remembered, at most


class Told(enum.Enum):
    SAID = "said"
    UNSAID = "unsaid"
    LAST = "said, and the last said while it goes on"


class Flaps:
    """A member's drops (each dialled again) within ``FLAPPING_FOR`` s: past ``FLAPS_TOLD``,
    its drops and returns go unsaid till it has not dropped for ``FLAPPING_FOR`` s. A leave
    for good is no drop: it is always said."""

    def __init__(self) -> None:
        self._drops: dict[Hashable, list[float]] = {}  # the last FLAPS_TOLD, oldest first
        self._unsaid_till: dict[Hashable, float] = {}

    def dropped(self, member: Hashable, now: float) -> Told:
        times = [*self._drops.pop(member, ())[1 - FLAPS_TOLD :], now]
        self._drops[member] = times  # (last in the dict: the oldest members go first)
        if len(self._drops) > MEMBERS_KEPT:
            oldest = next(iter(self._drops))
            del self._drops[oldest]
            self._unsaid_till.pop(oldest, None)
        if self.unsaid(member, now):
            self._unsaid_till[member] = now + FLAPPING_FOR
            return Told.UNSAID
        if len(times) == FLAPS_TOLD and now - times[0] < FLAPPING_FOR:
            self._unsaid_till[member] = now + FLAPPING_FOR
            return Told.LAST
        return Told.SAID

    def unsaid(self, member: Hashable, now: float) -> bool:
        """Whether the member's drops and returns go unsaid at ``now``."""
        return now < self._unsaid_till.get(member, -math.inf)

    def gone(self, member: Hashable) -> None:
        """The member is taken to have quit, as told: its flapping is over, and a return
        is told (trial 75: "seems to have quit", then nothing as it came back)."""
        self._drops.pop(member, None)
        self._unsaid_till.pop(member, None)
