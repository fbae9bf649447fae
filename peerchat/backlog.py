"""What the screen still has to show, kept short enough that the screen never lags far behind.

Pure: no I/O, no clock. Lines come in with ``add(item, now)`` and go out in batches with
``take(now)``; ``now`` is any monotonic time in seconds, passed in by the caller.

Two kinds of line:

- messages (``add(..., sender=name)``) may be skipped: when the screen falls more than
  ``max_lag`` behind, or the backlog holds more than it may, the older ones are folded into one
  count per sender and shown as a single summary line each (``Skipped``); but each sender's
  newest ``keep_each`` are spared, as far as ``keep_newest`` spared lines and a quarter of
  ``max_chars`` go, so that one member's flood cannot fold away everybody else's lines;
- everything else (joins, leaves, tracker changes, member lists, errors, local notices;
  ``sender=None``) is never dropped, and keeps its place among the summaries.

Memory stays bounded: past ``max_messages`` messages or ``max_chars`` characters of their text,
the oldest messages are counted instead of kept, at once, whatever the screen is doing. Lines
that are never dropped are not capped: they come at the pace of joins and leaves, which the node
bounds, and the screen takes them all in the next batches.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

# A reader who is more than this far behind has lost the thread: show the newest instead (s).
MAX_LAG = 1.0
# Messages held at most; a flood beyond this is counted, not kept, so memory stays bounded.
MAX_MESSAGES = 10_000
# Characters of message text held at most: 10,000 messages of 16 KiB would be gigabytes.
MAX_CHARS = 2_000_000
# Lines per redraw: a redraw costs about a millisecond, so 500 lines each still make tens of
# thousands a second, and a keypress waits for at most one such block (25 KB of output).
MAX_BATCH = 500
# Characters per redraw, so that a batch of long messages is as quick to write as short ones.
MAX_BATCH_CHARS = 50_000
# Messages kept when collapsing: about two screens, the context a reader needs to follow on.
KEEP_NEWEST = 50
# Each sender's newest messages spared when collapsing (attack round 42: a member's flood of
# long lines folded another's line away, every time, for as long as it went on).
KEEP_EACH = 3

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Skipped:
    """``count`` messages from ``sender`` that were not shown: one summary line."""

    sender: str
    count: int


class _Counts:
    """A run of skipped messages, counted per sender in order of first appearance."""

    __slots__ = ("per_sender",)

    def __init__(self) -> None:
        self.per_sender: dict[str, int] = {}

    def add(self, sender: str) -> None:
        self.per_sender[sender] = self.per_sender.get(sender, 0) + 1


# A line waiting to be shown: (arrival time, item, sender or None, size in characters).
_Entry = tuple[float, T, str | None, int]
# A line already folded: (arrival time, an item never dropped, or a run of skipped messages,
# or a message spared, with its size).
_Folded = tuple[float, T | _Counts, int | None]


class Backlog(Generic[T]):
    """Lines waiting for the screen, oldest first. See the module docstring."""

    def __init__(
        self,
        *,
        max_lag: float = MAX_LAG,
        max_messages: int = MAX_MESSAGES,
        max_chars: int = MAX_CHARS,
        max_batch: int = MAX_BATCH,
        max_batch_chars: int = MAX_BATCH_CHARS,
        keep_newest: int = KEEP_NEWEST,
        keep_each: int = KEEP_EACH,
    ) -> None:
        self.max_lag = max_lag
        self.max_messages = max_messages
        self.max_chars = max_chars
        self.max_batch = max_batch
        self.max_batch_chars = max_batch_chars
        self.keep_newest = keep_newest
        self.keep_each = keep_each
        self._folded: deque[_Folded[T]] = deque()  # older than everything in _waiting
        self._waiting: deque[_Entry[T]] = deque()
        self._messages = 0  # messages in _waiting
        self._chars = 0  # characters of those messages
        self._per_sender: dict[str, int] = {}  # of those, each sender's
        self._spared = 0  # messages spared in _folded
        self._spared_chars = 0  # characters of those

    def __len__(self) -> int:
        """Entries waiting (a run of skipped messages counts as one)."""
        return len(self._folded) + len(self._waiting)

    @property
    def messages(self) -> int:
        """Messages held in full (not yet skipped or shown)."""
        return self._messages

    def add(self, item: T, now: float, *, sender: str | None = None, size: int = 0) -> bool:
        """Queue one line: a message from ``sender`` (may be skipped), or with ``sender=None``
        a line that is always shown. ``size``: its length in characters. True when the
        backlog was empty before, which is when the printer needs waking."""
        was_empty = not self._folded and not self._waiting
        self._waiting.append((now, item, sender, size))
        if sender is not None:
            self._messages += 1
            self._chars += size
            self._per_sender[sender] = self._per_sender.get(sender, 0) + 1
            while self._messages > self.max_messages or self._chars > self.max_chars:
                self._fold_oldest()
        return was_empty

    def take(self, now: float) -> list[tuple[float, T | Skipped]]:
        """The next lines to show, oldest first, each with its arrival time. When the oldest
        has waited longer than ``max_lag``, all but the newest ``keep_newest`` messages are
        skipped first. At most about ``max_batch`` lines; empty when nothing waits."""
        if self._lagging(now):
            while self._messages > self.keep_newest:
                self._fold_oldest()
        lines: list[tuple[float, T | Skipped]] = []
        self._take_folded(lines)
        self._take_waiting(lines)
        return lines

    def _take_folded(self, lines: list[tuple[float, T | Skipped]]) -> None:
        # A run of counts is one line per sender, and is never split across batches.
        while self._folded and len(lines) < self.max_batch:
            arrived, folded, spared = self._folded.popleft()
            if isinstance(folded, _Counts):
                lines.extend((arrived, Skipped(s, n)) for s, n in folded.per_sender.items())
            else:
                lines.append((arrived, folded))
            if spared is not None:
                self._spared -= 1
                self._spared_chars -= spared

    def _take_waiting(self, lines: list[tuple[float, T | Skipped]]) -> None:
        chars = 0
        while self._waiting and len(lines) < self.max_batch and chars < self.max_batch_chars:
            arrived, item, sender, size = self._waiting.popleft()
            if sender is not None:
                self._gone(sender, size)
            lines.append((arrived, item))
            chars += size

    def _lagging(self, now: float) -> bool:
        if self._folded:
            return now - self._folded[0][0] > self.max_lag
        return bool(self._waiting) and now - self._waiting[0][0] > self.max_lag

    def _gone(self, sender: str, size: int) -> None:
        """A message of ``sender`` is no longer waiting."""
        self._messages -= 1
        self._chars -= size
        left = self._per_sender.pop(sender) - 1
        if left:
            self._per_sender[sender] = left

    def _fold_oldest(self) -> None:
        """Move the oldest waiting line to the folded part: a message becomes a count, but
        one of its sender's newest, which is spared while there is room for it."""
        arrived, item, sender, size = self._waiting.popleft()
        if sender is None:
            self._folded.append((arrived, item, None))
            return
        self._gone(sender, size)
        if (
            self._per_sender.get(sender, 0) < self.keep_each
            and self._spared < self.keep_newest
            and self._spared_chars + size <= self.max_chars // 4
        ):
            self._spared += 1
            self._spared_chars += size
            self._folded.append((arrived, item, size))
            return
        if self._folded and isinstance(self._folded[-1][1], _Counts):
            self._folded[-1][1].add(sender)
        else:
            counts = _Counts()
            counts.add(sender)
            self._folded.append((arrived, counts, None))
