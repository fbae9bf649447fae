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
from pathlib import Path

import trio

from peerchat import commands, events
from peerchat.addresses import format_addr, is_loopback
from peerchat.files import typed_path
from peerchat.membership import Member
from peerchat.node import Node
from peerchat.protocol import MAX_REASON
from peerchat.safe_text import has_unsafe
from peerchat.tracker_address import StartupError

# Makes the node of a room: (room name, its address or None for the local network, the name to
# go by there or None for the program's, how it reports events). Raises StartupError when the
# room cannot be had (its data dir is in use).
Emit = Callable[[events.Event], None]
NodeMaker = Callable[[str, tuple[str, int] | None, str | None, Emit], Node]
Show = Callable[[events.Event, str], None]
# Keeps the rooms joined with /join now, each with its address if it was given one, for a
# start after a crash or a kill to join them again.
Joined = list[tuple[str, tuple[str, int] | None, str | None]]  # room, address, name there
Remember = Callable[[Joined], None]

MAX_ROOMS = 16
PARTED = "parted"  # the goodbye of /part: the program goes on in its other rooms

log = logging.getLogger(__name__)


class Rooms:
    def __init__(
        self,
        nursery: trio.Nursery,
        make: NodeMaker | None,
        show: Show,
        *,
        leave_lone_first: bool = False,
        remember: Remember | None = None,
    ) -> None:
        """``leave_lone_first``: a room joined leaves behind the first room, when that is one
        on this computer without a name where the user is alone (a person moving on from the
        default room; a bot's rooms stay as it made them). ``remember``: told of the rooms
        joined with ``/join`` whenever they change; none at ``/quit``."""
        self._nursery = nursery
        self._make = make
        self._show = show
        self._leave_lone_first = leave_lone_first
        self.nodes: dict[str, Node] = {}  # room name -> its node, in the order joined
        self.first = ""  # the room the program started in
        self.ended = trio.Event()  # the last room has ended
        self._quitting = False  # the program ends: its rooms end without a word each
        self._keeping_rooms = False  # and they are joined again at the next start
        self._parted: set[str] = set()  # rooms left by /part: each says so, the last one too
        self._finding = False  # a /list listens to the network
        self._alone: set[str] = set()  # rooms left as nobody else was there (``_leave_if_alone``)
        self._remember = remember
        # Joined with /join (from the moment it is typed: a trial's kill while it was joining
        # forgot it): room -> (its address, the name the user goes by there)
        self._joined: dict[str, tuple[tuple[str, int] | None, str]] = {}
        self._moving: dict[str, tuple[tuple[str, int], str]] = {}  # room -> (address, name)
        self.rejoining: tuple[str, ...] = ()  # rooms ``rejoin`` joins again, in their order
        self.away: str | None = None  # /away's message, in every room

    def get(self, room: str) -> Node | None:
        return self.nodes.get(room)

    def start(self, room: str, node: Node, *, first: bool = False) -> None:
        """Run ``node`` for ``room``; a first room that cannot start ends the program."""
        self.nodes[room] = node
        node.files.elsewhere = lambda: self._taken_but_by(node)
        node.files.saved_elsewhere = lambda sha256, size: self._saved_but_by(node, sha256, size)
        if self.away is not None:  # (a room joined while away)
            node.talk.set_away(self.away)
        if first:
            self.first = room
        self._nursery.start_soon(self._run, room, node, first)

    def _taken_but_by(self, node: Node) -> set[Path]:
        """The files the fetches of every room but ``node``'s write or keep (``Files.taken``):
        rooms share a downloads directory."""
        return {
            p for other in self.nodes.values() if other is not node for p in other.files.taken()
        }

    def _saved_but_by(self, node: Node, sha256: bytes, size: int) -> list[tuple[str, int]]:
        """Where each room but ``node``'s saved these bytes last (``Store.saved_at``)."""
        others = (other for other in self.nodes.values() if other is not node)
        return list(filter(None, (other.store.saved_at(sha256, size) for other in others)))

    async def _run(self, room: str, node: Node, first: bool) -> None:
        failed = False
        try:
            await node.run()
        except Exception as exc:
            if first:
                raise
            failed = True
            why = _startup_error(exc)
            if why is None:  # a later room's failure ends it alone
                log.error("the room %s ended with an internal error", room, exc_info=exc)
                why = StartupError(f"internal error ({type(exc).__name__})")
            what = "stay in" if node.reporting else "join"
            self._show(events.Error(f"cannot {what} the room {room}: {why}"), room)
        finally:
            del self.nodes[room]
            if node.data_dir is not None and (node.started.is_set() or room == self.first):
                node.data_dir.close()  # (the first room's holds the input history)
            elif node.data_dir is not None:  # never in: nothing kept is worth keeping
                node.data_dir.discard()
            moving = self._moving.pop(room, None) if not self._quitting else None
            # The program's end needs no line a room; the end of a last room /part left does
            # (a user saw the program end without a word).
            if moving is None and not self._quitting and (self.nodes or room in self._parted):
                alone = room in self._alone
                left = events.RoomLeft(room, joined=node.reporting, alone=alone, failed=failed)
                self._show(left, room)
            self._parted.discard(room)
            self._alone.discard(room)
            if self._joined.pop(room, False) is not False and not self._quitting:
                self._keep_joined()  # (left: not rejoined; at /quit none is, said at once)
            if moving is not None:  # for the room of its name at another address
                self._show(events.RoomLeft(room, moved_to=format_addr(*moving[0])), room)
                try:
                    self.join(room, moving[0], room, moving[1])
                except Exception as exc:  # (in a finally: nothing may end the program here)
                    log.error("cannot join the room %s", room, exc_info=exc)
                    why = f"cannot join the room {room}: internal error ({type(exc).__name__})"
                    self._show(events.Error(why), room)
            if not self.nodes:
                self.ended.set()

    def join(
        self, room: str, addr: tuple[str, int] | None, typed_in: str, username: str | None = None
    ) -> None:
        """``/join``, typed in the room ``typed_in``: start a node for ``room``, under the name
        the user goes by where it was typed, as an IRC client joins under its nick of the
        moment (a user's /nick was forgotten). For a room here already, nothing happens; but
        at an address none of its members has, this node leaves it for the room of that name
        there (two rooms of one name: a trial's newcomer, in the wrong one, was told "already
        in dev" and could not get to the other)."""
        here = self.nodes.get(room)
        if here is not None and addr is not None and not here.started.is_set():
            self._show(events.Error(f"still joining {room}: try again once in"), typed_in)
            return
        if here is not None and addr is not None:
            if not _in_room_at(here, addr):
                self._moving[room] = (addr, here.username)
                self.part(room)
            else:
                where = format_addr(*addr)
                self._show(events.Error(f"already in {room}: {where} is in it too"), typed_in)
            return
        if here is not None:
            return
        why = ""
        if self._make is None:
            why = "a standalone tracker is in one room only"
        elif len(self.nodes) >= MAX_ROOMS:
            why = f"at most {MAX_ROOMS} rooms at once"
        else:
            try:
                name = username or self._name_in(typed_in)
                node = self._make(room, addr, name, self._reporter(room))
            except StartupError as exc:
                why = str(exc)
        if why:
            self._show(events.Error(f"cannot join the room {room}: {why}"), room)
            self._show(events.RoomLeft(room, joined=False, failed=True), room)
            self._joined.pop(room, None)
            self._keep_joined()  # (one rejoined is not joined again)
            return
        self._joined[room] = (addr, node.username)
        self._keep_joined()
        self.start(room, node)

    def _name_in(self, room: str) -> str | None:
        here = self.nodes.get(room)
        return None if here is None else here.username

    def _reporter(self, room: str) -> Emit:
        def report(event: events.Event) -> None:
            ready = type(event) is events.Ready
            if isinstance(event, events.Renamed) and room in self._joined:
                node = self.nodes.get(room)
                if node is not None and event.member.node_id == node.node_id:
                    self._joined[room] = (self._joined[room][0], event.member.username)
                    self._keep_joined()  # (a trial's /nick in a joined room was lost at a kill)
            self._show(event, room)
            if ready and room != self.first and self._leave_lone_first:
                self._leave_if_alone(self.first)

        return report

    def _leave_if_alone(self, room: str) -> None:
        """Leave ``room`` if it is on this computer, has no name and nobody else in it, nor
        anyone away, nor a file of the user's on offer: a user trial's /join from the
        default room kept it, every line then tagged with the room it came from, the status
        bar listing a room of one."""
        node = self.nodes.get(room)
        if node is None or not node.started.is_set() or node.room_name:
            return
        if not is_loopback(node.me.host):
            return
        others = [m for m in node.members if m.chat]  # (the members: the others)
        if others or node.links.unreachable() or node.files.offering():
            return  # (offers there wait for whoever comes: a review)
        self._alone.add(room)
        self.part(room)

    def rooms_for(self, room: str, command: commands.Command) -> list[str]:
        """The rooms ``command``, typed with ``room`` in front, is for: ``/files`` is for each
        with an offer to list (offer numbers are the program's: a user's fetch in the room
        behind was missing from it; trial 70 read "no files are offered here" of every room
        behind), or the room in front when none has; the rest for one or none
        (``room_for``)."""
        if isinstance(command, commands.ListFiles):
            return [r for r, node in self.nodes.items() if node.files.lists_any()] or [room]
        target = self.room_for(room, command)
        return [] if target is None else [target]

    def room_for(self, room: str, command: commands.Command) -> str | None:
        """The room ``command``, typed with ``room`` in front, is for; None when it is for
        none, said why."""
        match command:
            case commands.GetFile(id=str() as name):  # by a file's name: the room in front's,
                # else the one room behind that has it (review 68: the first in order)
                having = [r for r, node in self.nodes.items() if node.files.named(name)]
                if room in having or not having:
                    return room  # (which says none is, if none is)
                if len(having) == 1:
                    return having[0]
                rooms = ", ".join(having)
                said = f"a file called {name} is offered in {rooms}: /room ROOM first, or /get ID"
                self._show(events.Error(said), room)
                return None
            case commands.GetFile(id=id) | commands.CancelFile(id=id):
                # An offer's number is the program's: it names one offer, whichever room it
                # came in (a user's "/get 1" fetched another room's offer 1).
                offering = (r for r, node in self.nodes.items() if node.files.numbered(id))
                return next(offering, room)
            case (
                commands.Private(to=name) | commands.Whois(name=name) | commands.Ignore(name=name)
            ) if name:  # (each room has its own key for one person: its own ignores)
                return self._where_named(room, name)
            case commands.Unignore(name=name):  # (trial 73: typed in another room than the
                # one it was ignored in, it said only "not ignored here")
                here = self.nodes.get(room)
                if here is None or here.ignored_key(name) is not None:
                    return room
                ignoring = [r for r, node in self.nodes.items() if node.ignored_key(name)]
                if not ignoring:
                    return room  # which says so
                where = ignoring[0]
                said = f"{name} is ignored in {', '.join(ignoring)}, not here (/room {where} first)"
                self._show(events.Error(said), room)
                return None
            case commands.Who(room=name) if name:  # (a trial's "/names ops" in dev: dev's)
                named = [r for r, node in self.nodes.items() if name in (r, node.room_name)]
                if not named:
                    self._show(events.Error(f"not in a room {name}; /rooms lists yours"), room)
                return named[0] if named else None
            case commands.SendFile(words=words):
                name, _, rest = words.partition(" ")
                if rest.strip() and typed_path(rest).exists() and not typed_path(words).exists():
                    return self._where_named(room, name)  # "/send bob PATH"
        return room

    def _where_named(self, room: str, name: str) -> str | None:
        """A name names one member of a room: one that only a room behind has is pointed at
        (a user typed "/msg ben" in the wrong room), and so is one away from this room and in
        a room behind now (a user trial's /msg waited for a return to a room that one had
        left, while it was in another); the command goes nowhere."""
        here = self.nodes.get(room)
        yours = here is not None and name.casefold() == here.username.casefold()
        if here is None or yours or here.talk.namesakes(name):
            return room
        away = bool(here.talk.addressee(name))  # cut off, and awaited here
        has = (
            r
            for r, node in self.nodes.items()
            if r != room and (node.talk.namesakes(name) if away else node.talk.addressee(name))
        )
        where = next(has, None)
        if where is None:
            return room  # which says nobody has the name, or waits for the one away
        if away:
            said = f"{name} is unreachable in {room}, and in {where} now (/room {where} first)"
        else:
            said = f"nobody called {name} is in {room}; {name} is in {where} (/room {where} first)"
        self._show(events.Error(said), room)
        return None

    def uploads(self, room: str = "") -> list[tuple[Member, str, int]]:
        """The fetches of this program's files its rooms (or ``room``) serve now
        (``Files.uploads``)."""
        return [u for node in self._in(room) for u in node.files.uploads()]

    def fetched_now(self, id: int) -> list[tuple[str, int]]:
        """Who fetches this program's offer ``id`` now, and how far (``Files.fetched_now``)."""
        return [f for node in self._in("") for f in node.files.fetched_now(id)]

    def fetching(self, room: str = "") -> list[tuple[str, int]]:
        """The fetches its rooms (or ``room``) make now (``Files.fetching``)."""
        return [d for node in self._in(room) for d in node.files.fetching()]

    def _in(self, room: str) -> list[Node]:
        return [node for name, node in self.nodes.items() if not room or name == room]

    def find(self, typed_in: str) -> None:
        """``/list``, typed in the room ``typed_in``: the rooms on the local network, said there
        once the network was listened to; one search at a time."""
        if self._finding:
            self._show(events.Error("looking on the local network already"), typed_in)
            return
        self._finding = True
        self._nursery.start_soon(self._find, typed_in)

    async def _find(self, typed_in: str) -> None:
        from peerchat.discovery import open_lan  # (zeroconf only for those who use it: RSS)

        try:
            async with open_lan("") as lan:
                found, private, beside = await lan.rooms(commands.FIND_ROOMS_SECONDS)
        except StartupError as exc:
            self._show(events.Error(str(exc)), typed_in)
            return
        finally:
            self._finding = False
        beside_open = tuple(beside.items())
        self._show(events.RoomsFound(tuple(found), private=private, beside=beside_open), typed_in)

    def set_away(self, message: str, typed_in: str) -> None:
        """``/away MESSAGE``, typed in the room ``typed_in``: away in every room, joined now
        or later; ``/away`` alone: back."""
        was, self.away = self.away, message or None
        for node in self.nodes.values():
            node.talk.set_away(self.away)
        self._show(events.Away(self.away, changed=bool(message) or was is not None), typed_in)

    def part(self, room: str, message: str = "") -> None:
        """``/part``: leave ``room`` with a goodbye."""
        node = self.nodes.get(room)
        if node is not None:
            self._parted.add(room)
            node.quit(goodbye(PARTED, message))

    def quit(self, message: str = "", *, keep_rooms: bool = False) -> None:
        """Leave every room: none is joined again at the next start, unless ``keep_rooms``
        (and once asked to keep them, a later quit keeps them too: a closed terminal ends its
        program by a SIGHUP and by its prompt's read, in either order, a review found)."""
        self._keeping_rooms |= keep_rooms
        self._quitting = True
        if self._joined and not self._keeping_rooms:
            self._joined.clear()
            self._keep_joined()
        for node in list(self.nodes.values()):
            node.quit(goodbye("quit", message))

    def _keep_joined(self) -> None:
        if self._remember is not None:
            self._remember([(room, addr, name) for room, (addr, name) in self._joined.items()])

    def rejoin(self, rooms: Joined) -> None:
        """Join ``rooms`` again (``remember``'s, of a run that ended without ``/quit``: a
        trial's member, killed and restarted, came back in its first room only, while the
        others' went on showing it as away), once the first room is in: it stays in front."""
        first = self.nodes.get(self.first)
        self.rejoining = tuple(room for room, _, _ in rooms)
        if rooms and first is not None and self._make is not None:
            self._nursery.start_soon(self._rejoin_once_in, first, rooms)

    async def _rejoin_once_in(self, first: Node, rooms: Joined) -> None:
        await first.started.wait()
        for room, addr, name in rooms:
            first_name = self._name_in(self.first)  # (None: the first room ended meanwhile)
            if room not in self.nodes and not self._quitting and first_name is not None:
                self.join(room, addr, self.first, name)  # under the name it had there last


def _in_room_at(node: Node, addr: tuple[str, int]) -> bool:
    """Whether ``addr`` is where ``node``'s room is: its home, or a member's address."""
    places = [node.home, *((m.host, m.port) for m in (node.me, *node.members))]
    host, port = addr
    # (a review: "localhost:5000" at a room at 127.0.0.1:5000 moved it to itself)
    return any(p == port and (h == host or is_loopback(h) and is_loopback(host)) for h, p in places)


def goodbye(kind: str, message: str) -> str:
    """The reason a goodbye gives: how one left and what one said with it, cut to what a
    peer takes; a message with characters peers refuse in a reason is left out."""
    said = " ".join(message.split())
    if not said or has_unsafe(said):
        return kind
    return f"{kind}: {said}"[:MAX_REASON]


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
