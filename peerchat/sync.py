"""Whom to ask for which author's missing messages. No I/O: fed what peers hold, it returns the
requests to send.

Each linked peer tells what it holds (``protocol.Summary``: per author, the last message it has
in order); live messages raise that figure for their author. When a peer holds more of an author
than this node has shown, the node asks it for the rest (``Want``), one request per author at a
time, so the same messages are not fetched from every member at once. An answer ends with a
``Skip``; then the author is planned again, and whoever holds more still is asked next. A gap is
so filled from any member that has it, not only from its author, and a peer that goes away
leaves its requests to the others. Only when every peer that claimed more was asked and the gap
is still there does the node stop waiting for it. A peer that let a request time out is asked
for that author again, while it stays linked, only when no other peer holds more: one claiming
more than anyone, and never answering, held a gap open for as long as it liked (an attack).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

Shown = Callable[[str], int | None]  # an author's last message shown here; None: never heard


def beyond(asked: dict[str, int], asker: str, shown: Shown) -> dict[str, int]:
    """The answer to a peer's question: a summary that does not name the peer itself (it went
    out after a departure, or while members are away from it) says what it holds of a few
    authors (as does a whole one of authors this node's own summaries leave out). Those of
    which this node holds more are told, with how far (never the asker's own lines, nor an
    author never heard here): a peer cut off from an author learns who has the rest. The
    asker, behind, never answers the answer, and it is no longer than the question."""
    return {
        author: mine
        for author, seq in asked.items()
        if author != asker and (mine := shown(author)) is not None and mine > seq
    }


class Turns:
    """A few of a list at a time, in turn: where the last ones ended, round again at its end
    (the list may change between two turns; each gets its turn while it stays)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._at = 0

    def take(self, items: list[str]) -> list[str]:
        if not items:
            return []
        at = self._at % len(items)
        taken = (items[at:] + items[:at])[: self._size]
        self._at = at + len(taken)
        return taken


class Request(NamedTuple):
    peer: str
    author: str
    after: int


class Puller:
    def __init__(self, me: str, shown: Shown) -> None:
        self._me = me
        self._shown = shown
        self._held: dict[str, dict[str, int]] = {}  # peer -> author -> its last in order
        self._asked: dict[str, Request] = {}  # author -> the request out for it
        self._tried: dict[str, set[str]] = {}  # author -> peers that lacked some of a gap
        self._failed: dict[str, set[str]] = {}  # author -> peers that let a request time out

    def summary(self, peer: str, heads: dict[str, int]) -> list[Request]:
        """``peer`` holds ``heads`` (for these authors; what it told of others stands)."""
        held = self._held.setdefault(peer, {})
        shown = self._shown
        ahead = []  # only these can need a request: a room in step plans nothing at all
        for author, seq in heads.items():
            mine = shown(author)
            if mine is None:  # never heard: never asked for, so not kept (a peer's claims of
                continue  # made-up authors would otherwise pile up in memory)
            if seq > held.get(author, 0):
                held[author] = seq
            if seq > mine:
                ahead.append(author)
        return self._plan(ahead)

    def seen(self, peer: str, author: str, seq: int) -> list[Request]:
        """``peer`` sent us ``author``'s message ``seq`` (live): it holds at least that much."""
        held = self._held.setdefault(peer, {})
        mine = self._shown(author)
        if mine is None or seq <= held.get(author, 0) or seq <= mine:
            return []
        held[author] = seq
        return self._plan((author,))

    def answered(self, peer: str, author: str, upto: int) -> tuple[list[Request], int | None]:
        """``peer`` sent all it has of ``author``'s messages up to ``upto``. Returns whom to
        ask next and, when nobody else holds what is still missing below ``upto``, the number
        up to which to stop waiting (else None)."""
        asked = self._asked.get(author)
        if asked is None or asked.peer != peer:
            return [], None
        del self._asked[author]
        upto = min(upto, self._held.get(peer, {}).get(author, 0))  # no more than it claimed
        if upto > asked.after and (self._shown(author) or 0) >= upto:  # progress, no gap
            self._tried.pop(author, None)
            return self._plan((author,)), None
        # It lacked some of what it claimed (or sent nothing at all): its claim is not believed
        # past what we have now, and the others are tried first.
        self._held[peer][author] = min(upto, self._shown(author) or 0)
        self._tried.setdefault(author, set()).add(peer)
        requests = self._plan((author,))
        if requests:
            return requests, None
        del self._tried[author]
        return [], upto

    def timed_out(self, peer: str, author: str) -> None:
        """``peer`` was asked for ``author``'s messages and sent none in time: asked for them
        again, while it stays linked, only when nobody else holds more."""
        self._failed.setdefault(author, set()).add(peer)

    def again(self, author: str) -> list[Request]:
        """Plan ``author`` anew (after the node stopped waiting for part of a gap)."""
        return self._plan((author,))

    def forget(self, author: str) -> None:
        """``author`` is forgotten (``shown`` knows it no more): so is what peers hold of it."""
        for held in self._held.values():
            held.pop(author, None)
        self._asked.pop(author, None)
        self._tried.pop(author, None)
        self._failed.pop(author, None)

    def gone(self, peer: str) -> list[Request]:
        """``peer`` is no longer linked: what it was asked for goes to others."""
        self._held.pop(peer, None)
        for peers in (*self._tried.values(), *self._failed.values()):
            peers.discard(peer)
        self._failed = {author: peers for author, peers in self._failed.items() if peers}
        mine = [a for a, r in self._asked.items() if r.peer == peer]
        for author in mine:
            del self._asked[author]
        out = self._plan(mine)
        for author in mine:
            if author not in self._asked and self._tried.pop(author, None):
                out += self._plan((author,))  # only tried peers are left: ask them once more
        return out

    @property
    def idle(self) -> bool:
        """Nothing asked and not yet answered."""
        return not self._asked

    def asked_of(self, author: str) -> str | None:
        """The peer asked for ``author``'s messages, if any."""
        asked = self._asked.get(author)
        return None if asked is None else asked.peer

    def _plan(self, authors: Iterable[str]) -> list[Request]:
        out = []
        for author in authors:
            if author == self._me or author in self._asked:
                continue
            shown = self._shown(author)
            if shown is None:  # never heard: not owed to us (a newcomer has history instead)
                continue
            tried = self._tried.get(author, set())
            failed = self._failed.get(author, set())
            best = self._best(author, shown, tried | failed) or self._best(author, shown, tried)
            if best is not None:
                self._asked[author] = request = Request(best, author, shown)
                out.append(request)
        return out

    def _best(self, author: str, shown: int, passed_over: set[str]) -> str | None:
        """The peer, but those ``passed_over``, that holds the most of ``author`` past
        ``shown`` (the author itself, of equals)."""
        best, most = None, shown
        for peer, held in self._held.items():
            seq = held.get(author, 0)
            if peer in passed_over:
                continue
            if seq > most or (seq == most and seq > shown and peer == author):
                best, most = peer, seq
        return best
