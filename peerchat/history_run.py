"""History read together, shown together, in the order it was said. No I/O, no clocks.

What a node shows as history comes over several links at once: what a frozen node reads from
its old links as it wakes, what several members send back. Each link brings its messages in
their authors' order, but the links come in whatever order the loop reads them (a user saw
three lines of three people in reverse). So history is gathered for a moment and handed out
sorted by Lamport time, then the sender's clock: every author's order holds, and a reply comes
after what it answers. Any other event first hands out what was gathered (``Node.emit``), so
that history still comes before it.
"""

from __future__ import annotations

from peerchat.events import MessageReceived

GATHER = 0.02  # seconds a run of history is gathered before it is shown


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
        return sorted(run, key=lambda e: (e.lamport, e.time))
