"""Each room's window, once a program is in several rooms (irssi's windows, weechat's
buffers): a room's chatter (its lines, joins and leaves, offers) is kept in its window, shown
while the room is in front, and waits there while it is behind, its lines marked in the status
bar; of those, what is for you (private messages, lines naming you, your own) is shown at once
whichever room is in front, and stays in its room's window and in the one it was read in.
What is not a room's chatter (errors, notices, answers to commands) is shown at once and kept
in the window in front, and in its room's (trial 59: a /who typed in ops was in dev's window
too). Trials 52-55 read two rooms' chatter interleaved on one screen, where irssi users expect
a window a room.

The lines printed are kept here, a bounded number per room, for the screen to be drawn anew
(Ctrl-L, a switch of rooms, ``fg``): a busy room behind pushes out its own lines only.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Collection, Iterable, Iterator
from typing import Generic, Protocol, TypeVar


class Shown(Protocol):
    @property
    def of(self) -> str:
        """The room the line is of ("": the program's)."""

    @property
    def chatter(self) -> bool:
        """Kept in its room's window alone, once there are several."""

    @property
    def urgent(self) -> bool:
        """Of its room's chatter, shown at once from behind too."""


L = TypeVar("L", bound=Shown)


CARRIED = 10  # lines of a room that failed carried into the window in front, at most


class Windows(Generic[L]):
    """The latest ``most`` lines of each room's chatter, and of everything else."""

    def __init__(self, most: int) -> None:
        self._most = most
        self._count = itertools.count()
        self._shared: deque[tuple[int, L]] = deque(maxlen=most)
        self._chatter: dict[str, deque[tuple[int, L]]] = {}
        # Where each window begins: what was printed before its room was opened (but of the
        # room itself) is not its, nor anything before its last /clear. Trial 58: the notices
        # of rooms opened and left before came back in a window cleared, and in one opened
        # since, at each Ctrl-L and switch of rooms.
        self._opened: dict[str, int] = {}
        self._cleared: dict[str, int] = {}  # (a room left: begun anew if joined again)
        self._wiped: dict[str, int] = {}  # (``/clear``: what is before it is scrollback only)

    def add(self, line: L, front: str = "") -> None:
        """Keep ``line`` in its room's window if it is a room's chatter, and in the window in
        front, ``front``, where it was shown: a line for you from a room behind stays there
        too (trial 58: a line naming alice, read in dev, was gone from dev once she had been
        to ops), and so does an answer to a command, an error or a notice, as in irssi (trial
        59: a /who typed in ops, and "lines you type go to the room ops now", were in dev's
        window too). Only what came before any room was in front is every window's."""
        n = next(self._count)
        chatter = bool(line.chatter and line.of)
        if not chatter and not front:
            self._shared.append((n, line))
            return
        seen_in = front if front and (not chatter or line.urgent) else ""
        for room in dict.fromkeys(room for room in (line.of, seen_in) if room):
            self._window(room).append((n, line))

    def _window(self, room: str) -> deque[tuple[int, L]]:
        kept = self._chatter.get(room)
        if kept is None:
            kept = self._chatter[room] = deque(maxlen=self._most)
        return kept

    def view(self, front: str, *, scrollback: bool = False) -> list[L]:
        """What the window of ``front`` shows, oldest first: its chatter, and the rest; with
        ``scrollback``, what its last ``/clear`` left out too."""
        lines: Iterator[tuple[int, L]] = heapq.merge(
            self._shared, self._chatter.get(front, ()), key=lambda kept: kept[0]
        )
        cleared, opened = self._cleared.get(front, 0), self._opened.get(front, 0)
        if not scrollback:
            cleared = max(cleared, self._wiped.get(front, 0))
        return [line for n, line in lines if n >= cleared and (n >= opened or line.of == front)]

    def clear(self, front: str) -> None:
        """``/clear``: the window in front is empty, as irssi's, but PageUp still reaches what
        it had (trial 69: "nothing older here"); the others keep what they show (trial 57's
        /clear in one room lost another's private messages)."""
        self._wiped[front] = next(self._count)

    def keep_only(
        self, rooms: Collection[str], failed: Collection[str] = (), front: str = ""
    ) -> None:
        """The lines of rooms left go with them (joined again, a room's window begins anew:
        review 60's showed its lines from before, a /clear's too); a room new here opens its
        window (the first room's shows what came before it too). Of a room ``failed`` (a join
        that did not get in, a room lost), what was not its chatter goes on in the window of
        ``front``: why it failed, and what was tried (trial 62: a /join's reason went with its
        window, and "you are not in the room qa" was all there was to read)."""
        for room in [room for room in self._chatter if room not in rooms]:
            lines = self._chatter.pop(room)
            if room in failed and front in rooms:
                self._carry(lines, front)
        for room in [room for room in self._opened if room not in rooms]:
            del self._opened[room]
            self._cleared[room] = next(self._count)
            self._wiped.pop(room, None)
        while len(self._cleared) > self._most:  # (rooms left long ago: their lines are gone)
            del self._cleared[min(self._cleared, key=self._cleared.__getitem__)]
        for room in rooms:
            if room not in self._opened:
                self._opened[room] = next(self._count) if self._opened else 0

    def _carry(self, lines: Iterable[tuple[int, L]], front: str) -> None:
        """The last ``CARRIED`` of ``lines`` that are not chatter into the window of ``front``,
        after its own, once: a room lost after a long stay had hundreds of answers and notices,
        which pushed the front room's own lines out, and those from before the front room was
        opened were not shown in it (review 62)."""
        said = [line for _, line in lines if not line.chatter][-CARRIED:]
        moved = {id(line) for line in said}  # (those shown in both are kept once, in order)
        window = self._window(front)
        own = [kept for kept in window if id(kept[1]) not in moved]
        window.clear()
        window.extend([*own, *((next(self._count), line) for line in said)])


def shown_now(line: Shown, front: str, rooms: Collection[str]) -> bool:
    """Whether ``line`` is printed as it comes, ``front`` being the room in front."""
    at_once = not line.chatter or line.urgent or line.of == front
    return at_once or len(rooms) < 2 or line.of not in rooms
