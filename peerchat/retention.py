"""When the message store is pruned: every ``interval``, and at once when it passes its bounds
by a tenth (a burst could pile up an hour's traffic). A prune that cannot bring the store back
under them, as each author in the room keeps its newest share, is not run again at once, but
after the store grows by another tenth: attack round 51's 160 keys, each with a batch spared,
held the store past its bound, and every node they reached pruned twice a second, its loop
stalled up to 1.7 s each time."""

from __future__ import annotations

from dataclasses import dataclass, field

from peerchat.batch import MAX_ITEMS


@dataclass
class Retention:
    """The prune's schedule, fed the store's size after each prune (no I/O, no clock)."""

    keep_messages: int
    keep_bytes: int
    interval: float
    next_at: float = -float("inf")  # the first is due at once
    _count_at: int = field(init=False)
    _bytes_at: int = field(init=False)

    def __post_init__(self) -> None:
        self._count_at, self._bytes_at = self._grown(0, 0)

    def due(self, now: float, count: int, size: int) -> bool:
        """Whether to prune now, the store holding ``count`` messages of ``size`` bytes."""
        return now >= self.next_at or count > self._count_at or size > self._bytes_at

    def pruned(self, now: float, count: int, size: int) -> None:
        """A prune left ``count`` messages of ``size`` bytes."""
        self.next_at = now + self.interval
        self._count_at, self._bytes_at = self._grown(count, size)

    def _grown(self, count: int, size: int) -> tuple[int, int]:
        """Past what, in messages and bytes, the store is pruned before its time: its bounds
        and a tenth (a whole batch at least), or what the last prune left and as much again."""
        more = max(self.keep_messages // 10, MAX_ITEMS)
        more_bytes = self.keep_bytes // 10
        at_least = (self.keep_messages + more, self.keep_bytes + more_bytes)
        return max(at_least[0], count + more), max(at_least[1], size + more_bytes)
