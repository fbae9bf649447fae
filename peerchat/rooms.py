"""Several rooms in one program: one node per room, each with its own tracker, members,
history, data dir and secret, all in the program's nursery.

The front end names the room each command is for; ``/join ROOM [HOST:PORT]`` starts a node for
another room (found on the local network when no address is given), ``/part`` ends one. The
first room's failure to start ends the program, as it always has; a later room's is reported
and the others go on. The program ends when its last room has ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import trio

from peerchat import commands, events
from peerchat.node import Node
from peerchat.protocol import MAX_REASON
from peerchat.safe_text import has_unsafe
from peerchat.tracker_address import StartupError

# Makes the node of a room: (room name, its address or None for the local network, how it
# reports events). Raises StartupError when the room cannot be had (its data dir is in use).
NodeMaker = Callable[[str, tuple[str, int] | None, Callable[[events.Event], None]], Node]
Show = Callable[[events.Event, str], None]

MAX_ROOMS = 16
PARTED = "parted"  # the goodbye of /part: the program goes on in its other rooms

log = logging.getLogger(__name__)


class Rooms:
    def __init__(self, nursery: trio.Nursery, make: NodeMaker | None, show: Show) -> None:
        self._nursery = nursery
        self._make = make
        self._show = show
        self.nodes: dict[str, Node] = {}  # room name -> its node, in the order joined
        self.first = ""  # the room the program started in
        self.ended = trio.Event()  # the last room has ended
        self._quitting = False  # the program ends: its rooms end without a word each
        self._parted: set[str] = set()  # rooms left by /part: each says so, the last one too

    def get(self, room: str) -> Node | None:
        return self.nodes.get(room)

    def start(self, room: str, node: Node, *, first: bool = False) -> None:
        """Run ``node`` for ``room``; a first room that cannot start ends the program."""
        self.nodes[room] = node
        if first:
            self.first = room
        self._nursery.start_soon(self._run, room, node, first)

    async def _run(self, room: str, node: Node, first: bool) -> None:
        try:
            await node.run()
        except Exception as exc:
            if first:
                raise
            why = _startup_error(exc)
            if why is None:  # a later room's failure ends it alone
                log.error("the room %s ended with an internal error", room, exc_info=exc)
                why = StartupError(f"internal error ({type(exc).__name__})")
            what = "stay in" if node.reporting else "join"
            self._show(events.Error(f"cannot {what} the room {room}: {why}"), room)
        finally:
            del self.nodes[room]
            if node.data_dir is not None:
                node.data_dir.close()
            # The program's end needs no line a room; the end of a last room /part left does
            # (a user saw the program end without a word).
            if not self._quitting and (self.nodes or room in self._parted):
                self._show(events.RoomLeft(room, joined=node.reporting), room)
            self._parted.discard(room)
            if not self.nodes:
                self.ended.set()

    def join(self, room: str, addr: tuple[str, int] | None) -> None:
        """``/join``: start a node for ``room`` (nothing happens for a room already here)."""
        if room in self.nodes:
            return
        why = ""
        if self._make is None:
            why = "a standalone tracker is in one room only"
        elif len(self.nodes) >= MAX_ROOMS:
            why = f"at most {MAX_ROOMS} rooms at once"
        else:
            try:
                node = self._make(room, addr, lambda event: self._show(event, room))
            except StartupError as exc:
                why = str(exc)
        if why:
            self._show(events.Error(f"cannot join the room {room}: {why}"), room)
            self._show(events.RoomLeft(room, joined=False), room)
            return
        self.start(room, node)

    def misdirected(self, room: str, command: commands.Command) -> bool:
        """Whether ``command``, typed in ``room``, names a member or an offer that room lacks
        and another room has; if so, says which (a user's ``/get 3`` and ``/msg ben`` were
        meant for the room behind)."""
        asked = _asked_for(command)
        here = self.nodes.get(room)
        if asked is None or here is None or asked.has(here):
            return False
        there = [other for other, node in self.nodes.items() if other != room and asked.has(node)]
        if not there:
            return False
        where = there[0]
        said = f"{asked.lacking} {room}; {asked.noun} is in {where} (/room {where} first)"
        self._show(events.Error(said), room)
        return True

    def part(self, room: str, message: str = "") -> None:
        """``/part``: leave ``room`` with a goodbye."""
        node = self.nodes.get(room)
        if node is not None:
            self._parted.add(room)
            node.quit(goodbye(PARTED, message))

    def quit(self, message: str = "") -> None:
        """Leave every room."""
        self._quitting = True
        for node in list(self.nodes.values()):
            node.quit(goodbye("quit", message))


def goodbye(kind: str, message: str) -> str:
    """The reason a goodbye gives: how one left and what one said with it, cut to what a
    peer takes; a message with characters peers refuse in a reason is left out."""
    said = " ".join(message.split())
    if not said or has_unsafe(said):
        return kind
    return f"{kind}: {said}"[:MAX_REASON]


class _Asked(NamedTuple):
    has: Callable[[Node], bool]  # whether a room's node has it
    lacking: str  # the error's start, to which the room is added
    noun: str  # what it is called in the hint


def _asked_for(command: commands.Command) -> _Asked | None:
    """The member or offer ``command`` names, if any."""
    match command:
        case commands.Private(to=name) | commands.Whois(name=name):
            return _Asked(
                lambda node: node.talk.addressee(name) is not None,
                f"nobody called {name} is in",
                name,
            )
        case commands.GetFile(id=id):
            return _Asked(
                lambda node: node.files.numbered(id),
                f"no file is offered as {id} in",
                f"offer {id}",
            )
    return None


def _startup_error(exc: BaseException) -> StartupError | None:
    """The reason a room could not be had, inside the groups nurseries wrap errors in."""
    if isinstance(exc, StartupError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _startup_error(inner)
            if found is not None:
                return found
    return None
