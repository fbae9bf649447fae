"""History read together, shown together, in the order it was said. No I/O, no clocks.

What a node shows as history comes over several links at once: what a frozen node reads from
its old links as it wakes, what several members send back. Each link brings its messages in
their authors' order, but the links come in whatever order the loop reads them (a user saw
three lines of three people in reverse). So history is gathered for a moment and handed out
in the order it was said (``said_order``). Any other event first hands out what was gathered
(``Node.emit``), so that history still comes before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable
from typing import Protocol, TypeVar

from peerchat.events import MessageReceived

GATHER = 0.25  # seconds a run of history is gathered: links bring theirs up to ~0.1 s apart
HELD_MOST = 5.0  # seconds a run read as a freeze ended waits for the rejoin's history, at most
HELD_STEPS = round(HELD_MOST / GATHER)  # that wait, in steps of the loop running (``Node``)


class Said(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def lamport(self) -> int: ...
    @property
    def time(self) -> float: ...


S = TypeVar("S", bound=Said)


def said_order(said: Iterable[S], author: Callable[[S], Hashable]) -> list[S]:
    """By the authors' clocks, each author's messages in its own order, then by Lamport time.

    Not by Lamport time first: the two sides of a partition count on their own, so a line said
    ten seconds later on the quieter side has the lower time and would come among the other
    side's, the clock jumping back and forth. A clock that goes back (or lies) moves only its
    owner's lines: each counts as said no earlier than the author's line before it. A reply
    from a clock behind by more than the time it took to answer comes above what it answers;
    Lamport order never did that, but scrambled every partition."""
    by_author = sorted(said, key=lambda m: (author(m), m.seq))
    keyed: list[tuple[float, int, int, S]] = []
    previous: Hashable = object()
    clock = -math.inf
    for n, m in enumerate(by_author):
        if (who := author(m)) != previous:
            previous, clock = who, -math.inf
        clock = max(clock, m.time)
        keyed.append((clock, m.lamport, n, m))
    keyed.sort(key=lambda k: k[:3])
    return [m for *_, m in keyed]


class HistoryRun:
    def __init__(self) -> None:
        self._events: list[MessageReceived] = []
        self.number = 0  # of the run being gathered: a timer set for an earlier one is stale

    def __bool__(self) -> bool:
        return bool(self._events)

    def add(self, event: MessageReceived) -> bool:
        """Keep ``event`` for the run; True when it begins one (time to set the timer)."""
        self._events.append(event)
        return len(self._events) == 1

    def take(self) -> list[MessageReceived]:
        """The run so far, in the order it was said; the next ``add`` begins another."""
        run, self._events = self._events, []
        self.number += 1
        return said_order(run, lambda e: e.sender.node_id)
