"""Batches received past a gap, waiting to be stored once all of them is shown. No I/O.

The store never holds a message past a gap (after a crash, what it lacks is then exactly what
follows each author's last), so a batch that arrives early waits here. A member can send live
batches far past its own numbers and never fill the gap: what waits is bounded, per author by
messages (as many as the chat log holds back) and in all by bytes. Past the bound in all, the
author holding the most lets its latest batch go. What is let go is fetched again with the gap,
so the chat log must let go of the same messages: ``add`` says which.
"""

from __future__ import annotations

from peerchat.batch import Batch


class Unstored:
    def __init__(self, per_author: int, max_bytes: int) -> None:
        self._per_author = per_author  # messages
        self._max_bytes = max_bytes
        self._waiting: dict[str, list[Batch]] = {}
        self._bytes: dict[str, int] = {}
        self._total = 0

    def add(self, b: Batch) -> list[tuple[str, int]]:
        """Keep ``b`` until it is shown. Returns what is let go, ``b`` itself perhaps: (author,
        its first message) for each batch, whose messages from there on must be fetched
        again."""
        waiting = self._waiting.get(b.author, [])
        same = [w for w in waiting if w.first == b.first]
        if same and same[0].data == b.data:
            return []  # a copy of one waiting
        if same or sum(len(w.items) for w in waiting) + len(b.items) > self._per_author:
            # Two batches at one number (the author signed both: the gap's fetch settles
            # which is kept), or too many: this one goes, with every later one waiting, since
            # the chat log lets go of their messages too.
            self._remove(b.author, [w for w in waiting if w.first >= b.first])
            return [(b.author, b.first)]
        self._waiting[b.author] = [*waiting, b]
        self._bytes[b.author] = self._bytes.get(b.author, 0) + len(b.data)
        self._total += len(b.data)
        let_go = []
        while self._total > self._max_bytes:
            largest = max(self._bytes, key=self._bytes.__getitem__)
            latest = max(self._waiting[largest], key=lambda w: w.first)
            self._remove(largest, [latest])
            let_go.append((largest, latest.first))
        return let_go

    def take_shown(self, author: str, shown: int) -> list[Batch]:
        """``author``'s waiting batches that are shown in full now: removed and returned."""
        waiting = self._waiting.get(author)
        if not waiting:
            return []
        ready = [w for w in waiting if w.last <= shown]
        self._remove(author, ready)
        return ready

    def forget(self, author: str) -> None:
        """``author`` is gone, and the chat log forgot what its batches waited behind."""
        self._remove(author, self._waiting.get(author, []))

    @property
    def size(self) -> int:
        """Bytes of batch data waiting, in all."""
        return self._total

    def _remove(self, author: str, batches: list[Batch]) -> None:
        if not batches:
            return
        gone = {id(b) for b in batches}
        rest = [w for w in self._waiting[author] if id(w) not in gone]
        freed = sum(len(b.data) for b in batches)
        self._total -= freed
        if rest:
            self._waiting[author] = rest
            self._bytes[author] -= freed
        else:
            del self._waiting[author]
            del self._bytes[author]
