"""Sending and fetching files over the encrypted links: the trio side of ``transfer``.

``/send [NAME] PATH`` hashes the file (a megabyte at a time, between checkpoints) and offers it
to the chatting members, or to one; nothing is sent until a member asks (``/get ID``). The sender
then streams the file in chunks over the link to that member, each chunk only once the link's
queue is empty: a chat message waits behind one chunk at most, and the sender holds one chunk in
memory per fetch. The receiver writes each chunk to ``NAME.peerchat-part`` (``transfer.PART``)
in the downloads directory and renames it once the whole file checks; after a cut it asks for
the rest when the link is back. A fetch that stops (the sender left, this program ended) keeps
its ``.peerchat-part`` and a note in the room's store of how far it is: a ``/get`` of the same
bytes from the same member goes on from there (``_take_up``).
A member who comes (back) is offered what is on offer for it; one that leaves (says goodbye)
takes its offers along, and one withdrawn is gone for everyone. Offers live as long as the
program that makes them: they are not stored.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import logging
import math
import os
import random
import re
import secrets
import shlex
import shutil
import stat
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import trio

from peerchat import dirs, events, transfer
from peerchat.admission import Paces, RefusalLog
from peerchat.bounded import keep_latest
from peerchat.connection import Connection
from peerchat.handshake import OPEN_ROOM
from peerchat.membership import Member
from peerchat.names import marked, shown_name
from peerchat.protocol import (
    FILE_WINDOW,
    MAX_OFFERS,
    FileAck,
    FileChunk,
    FileGet,
    FileGone,
    FileOffer,
    FileOffers,
    FileStop,
    ProtocolViolation,
    valid_file_name,
)
from peerchat.talk import chatting
from peerchat.transfer import PART, Download, local_name, numbered, sha256, size_text

if TYPE_CHECKING:
    from peerchat.node import Node

log = logging.getLogger(__name__)

HASH_PIECE = 1 << 20  # bytes hashed between two checkpoints when offering
# A file still being read for its checksum after this long is said to be (seconds): said of
# every file of 256 MiB or more, the word and the offer came a moment apart (trial 73 F9).
READ_TOLD_AFTER = 0.5
# Bytes fetched between two notes in the store of how far a fetch is: a fetch ended by a kill
# goes on from the last note (what came after it is fetched again).
KEEP_EVERY = 8 << 20
MAX_OFFERS_HEARD = 10 * MAX_OFFERS  # offers from others remembered; the oldest go first
MAX_OFFERS_FROM_ONE = MAX_OFFERS  # of which from one member: none can push the others' out
MAX_SERVING = 4  # fetches one link may have running at this node at once
MAX_SERVING_ADDRESS = MAX_SERVING  # and the links of one address (but loopback) together
MAX_SERVING_ALL = 16  # and all links together (each holds a file open)
MAX_STOPPED = 64  # fetches given up whose chunks still on the way are let pass unread
MAX_WITHDRAWN = 64  # offers withdrawn, remembered for a /get of them
MAX_REMEMBERED = 1024  # how far each fetcher was sent, and whom the user was told of: at most
FILE_ACK_EVERY = transfer.ACK_EVERY
# A fetch whose window stays full this long is dropped (told "busy": it may ask again): a
# fetcher that never acknowledges must not hold a serving slot for good. Only an
# acknowledgement of FILE_ACK_EVERY more bytes (as a fetcher sends them) counts: one that
# acknowledges a byte now and then holds it no longer.
FILE_STALL = 30.0
# A fetch from a linked sender that sends nothing for this long is asked for again, and after as
# long again ends (what came is kept). Longer than FILE_STALL: the sender ends a stalled serving
# first, with a "busy" that tells this end when to ask again.
FETCH_QUIET = 60.0
# With every slot taken, a fetch that acknowledged nothing for this long makes room for another,
FILE_IDLE = 5.0
# and failing one, the fetch served longest, for this long at least: it is told "busy" and goes
# on from where it is later. Fetches that went on, however slowly, held every slot for hours.
FILE_TURN = 60.0
# A fetch its sender is too busy for waits this long before it asks again, twice as long after
# each "busy" in a row (up to BUSY_WAIT_MOST), give or take a quarter: fetchers turned away
# together do not all come back at once.
BUSY_WAIT = 5.0
BUSY_WAIT_MOST = 60.0
# A member is served one offer at most SERVED_MOST times its size (and a window) within
# SERVED_OVER seconds of its first chunk, and the members at one address (but this computer's)
# SERVED_ADDRESS_MOST times, keys costing nothing (a review); asked for more, each is told
# "busy" until they are over. Counted as a fetch begins: one that began goes to its end.
# An honest fetch takes a file once, and its resumes go on from where they stopped: 4 keys
# asking for a 64 MiB file from the start again before each end were served 5.3 GB in 30 s,
# which on a real uplink is all of it (attack round 29).
SERVED_MOST = 3
SERVED_ADDRESS_MOST = 8
SERVED_OVER = 600.0
# Offers taken from one member: MAX_OFFERS at once, then one every OFFER_EVERY seconds. Each is a
# line on screen, and so is its withdrawal: a member offering and withdrawing in a loop would
# flood every screen in the room.
OFFER_EVERY = 0.6


@dataclass(frozen=True, slots=True)
class _Mine:
    path: Path
    name: str
    size: int
    sha256: bytes
    to: str | None  # the one member it was offered to (node id)
    stamp: Stamp  # the file as it was hashed: a fetch finds out if it has changed since


@dataclass(frozen=True, slots=True)
class _Heard:
    sender: str  # node id
    name: str  # its username when it offered
    offer: FileOffer


@dataclass
class _Fetch:
    id: int
    download: Download
    part: Path  # where the bytes go until the whole file checks
    final: Path
    out: BinaryIO
    sender: str  # its username, for the user
    noted: int = 0  # how far the store says it is (``KEEP_EVERY``)
    acked: int = 0  # what the sender was last told this node holds
    busy: int = 0  # "busy" answers since the last chunk: the next wait is longer
    later: trio.CancelScope | None = None  # the wait to ask again, after a "busy"
    heard_at: float = field(default_factory=trio.current_time)  # last chunk, or last asked
    asked_again: bool = False  # asked again after ``FILE_STALL`` s without a chunk
    trickled: bool = False  # only small chunks came since ``heard_at``: they do not count
    waited: bool = False  # the user was told it waits for its sender (``_waiting``)
    # Asked for again after a wait, from here: said to go on once a chunk comes (a trial read
    # "going on from 12%", then "no longer offers it", from a sender that had restarted)
    going_on_from: int | None = None


@dataclass
class _Serving:
    """One fetch this node serves: how far the fetcher has acknowledged."""

    who: str  # the fetcher's node id
    scope: trio.CancelScope
    acked: int
    moved: trio.Event = field(default_factory=trio.Event)  # set when an ack comes
    acked_at: float = field(default_factory=trio.current_time)  # when ``moved_from`` was set
    moved_from: int = 0  # what was acknowledged at ``acked_at``
    reported_at: float = -math.inf  # when the user was last told how far it is
    since: float = field(default_factory=trio.current_time)  # asked for (first, if again)
    turn_from: float = field(default_factory=trio.current_time)  # served (first, if again)
    progressed: bool = False  # FILE_ACK_EVERY acknowledged since
    start: int = 0  # where it was asked for from
    sent: int = 0  # where the chunks sent so far end
    window: transfer.SendWindow = field(default_factory=transfer.SendWindow)
    acks: transfer.LinkAcks = field(kw_only=True)  # how far its fetcher's word may count
    claimed: tuple[int, int] = (0, 0)  # the furthest acknowledgement, and when it said it came


class Files:
    def __init__(self, node: Node, downloads: Path | None, ids: Iterator[int]) -> None:
        """``ids`` numbers the offers heard and made, in every room of the program: ``/get 1``
        in one room fetched the other room's offer 1 (a user trial)."""
        self.node = node
        self._downloads = downloads  # None: the platform's, looked up at the first need
        self._mine: dict[int, _Mine] = {}
        # Offer numbers start at random: a fetch resumed after this node restarted (same id)
        # must not get another file under an old number.
        self._last_offer = secrets.randbelow(2**40)
        self._heard: dict[int, _Heard] = {}  # local id -> an offer from a member
        self._heard_ids: dict[tuple[str, int], int] = {}  # (sender, offer) -> local id
        self._own: dict[int, int] = {}  # local id -> this node's offer number
        self._ids = ids
        self._fetches: dict[tuple[str, int], _Fetch] = {}  # (sender, offer) -> running fetch
        self._saved: dict[int, str] = {}  # local id -> where its last fetch was saved
        self._withdrawn: dict[int, str] = {}  # local id -> whose offer of what it was (the latest)
        self._comparing: set[int] = set()  # offers whose name is saved already: the same bytes?
        self._serving: dict[tuple[Connection, int], _Serving] = {}
        self._stopped: collections.deque[tuple[str, int]] = collections.deque(maxlen=MAX_STOPPED)
        # How far this node sent an offer to a member without a gap from its start, over
        # whatever links (``_cover``): what the member can acknowledge holding. Kept by member,
        # not link: tables by link held every link that ever served, with its unread bytes
        # (attack round 10: 3,200 links made anew, +226 MiB).
        self._covered: dict[tuple[str, int], int] = {}
        self._reported_at: dict[tuple[str, int], float] = {}  # (``_report``)
        self._told_offers: weakref.WeakSet[Connection] = weakref.WeakSet()  # (``on_offers``)
        self._cooling: dict[tuple[str, int], float] = {}  # (member, offer) -> until (``_cool``)
        # What the program's other rooms' fetches write or keep (``Rooms.start``; ``taken``)
        self.elsewhere: Callable[[], set[Path]] = set
        # Where another of its rooms saved these bytes (``Store.saved_at``; ``Rooms.start``):
        # rooms share a downloads directory (trial 73: a file saved in dev, offered in ops, was
        # not said to be had there)
        self.saved_elsewhere: Callable[[bytes, int], list[tuple[str, int]]] = _saved_nowhere
        self._served: dict[tuple[str, int], tuple[int, float]] = {}  # -> (bytes, since when)
        # (member, offer) -> (its turn's start, when it stopped): asked again soon, the turn
        # goes on (attack round 19: a stop and a get every 50 s began a new turn each time)
        self._stopped_turns: dict[tuple[str, int], tuple[float, float]] = {}
        # (member, offer) asked for: asked again, the window it sets going is read at the
        # member's pace (attack round 20: a get again every 0.5 ms kept a core busy sealing)
        self._asked: dict[tuple[str, int], None] = {}
        # Whom the user was told has which offer (once each: fetching an empty file in a loop
        # must not print a line a fetch).
        self._told_fetched: dict[tuple[str, int], None] = {}
        self._offers_paced = Paces(OFFER_EVERY, MAX_OFFERS)  # by member
        # Offers are hashed one at a time, in the order typed: hashed side by side, a small
        # file typed after a big one took the lower number (a user trial).
        self._to_offer: collections.deque[tuple[Path, Member | None]] = collections.deque()
        self._too_fast = RefusalLog(interval=10.0)
        self._turned_away = RefusalLog(interval=10.0)

    # -- offering -----------------------------------------------------------------------------

    def send(self, words: str) -> None:
        """``/send [NAME] PATH``: NAME when the first word is a member's name, or the name of
        one away now (offered on its return, as ``/msg`` is sent then)."""
        node = self.node
        name, _, rest = words.partition(" ")
        member = node.talk.addressee(name) if rest.strip() else None
        path = typed_path(rest if member is not None else words)
        if not rest.strip() and not path.exists() and node.talk.addressee(name) is not None:
            # A member's name alone (trial 55 read "cannot offer bob: No such file")
            node.emit(events.Error(f"usage: /send [NAME] PATH: which file for {name}?"))
            return
        named = member is None and rest.strip() and typed_path(rest).exists()
        if named and not path.exists():  # a file after a name nobody here has
            if name.casefold() == node.me.username.casefold():
                node.emit(events.Error("that is you; /send PATH offers it to the room"))
            else:
                node.emit(events.Error(f"{node.talk.not_found(name)} (/who lists them)"))
            return
        if member is not None:
            unsure = node.talk.unconfirmed(name, member, "/send")
            if unsure is not None:
                node.emit(events.Error(unsure))
                return
        if any(path.absolute() == waiting.absolute() for waiting, _ in self._to_offer):
            node.emit(events.Error(f"{path.name} is being read to be offered already"))
            return
        self._to_offer.append((path, member))
        if len(self._to_offer) == 1:
            node.nursery.start_soon(self._offer_each)
        elif (size := _size_of(path)) is not None:
            node.emit(events.FileReading(path.name, size, behind=len(self._to_offer) - 1))

    async def _offer_each(self) -> None:
        while self._to_offer:
            try:
                await self._offer(*self._to_offer[0])
            finally:
                self._to_offer.popleft()

    async def _offer(self, path: Path, to: Member | None) -> None:
        node = self.node
        try:
            size, digest, stamp = await self._read(path)
        except OSError as exc:
            node.emit(events.Error(f"cannot offer {path}: {exc.strerror or exc}{_from(path)}"))
            return
        name = local_name(path.name)
        if len(self._mine) >= MAX_OFFERS:
            node.emit(events.Error(f"you offer {MAX_OFFERS} files already; /cancel some first"))
            return
        if not valid_file_name(name):
            node.emit(events.Error(f"cannot offer {path}: not a file name others can use"))
            return
        same = _Mine(path, name, size, digest, to.node_id if to else None, stamp)
        again = next(
            (id for id, n in self._own.items() if _same_offer(self._mine.get(n), same)), None
        )
        if again is not None:  # a user offered one file four times, and the room saw four
            self._mine[self._own[again]] = same  # the same bytes, touched or moved since
            node.emit(events.Error(f"you offer {name} already (ID {again}; /files lists it)"))
            return
        self._last_offer += 1
        n = self._last_offer
        self._mine[n] = same
        id = next(self._ids)
        self._own[id] = n
        for conn in node.links.conns.values():
            if conn.member is not None and n in self._offers_for(conn.member):
                self._offer_to(conn, n)
        away = to is not None and to.node_id not in node.links.conns  # (a trial was not told)
        node.emit(events.FileOffered(node.me, id, name, size, to, own=True, away=away))

    async def _read(self, path: Path) -> tuple[int, bytes, Stamp]:
        """``_hash_file``, said on the screen when it takes more than a moment. (The word
        waits in the node's nursery: in one of its own, the read's errors came wrapped.)"""
        said = trio.CancelScope()
        self.node.nursery.start_soon(self._say_read, path, said)
        try:
            return await _hash_file(path)
        finally:
            said.cancel()

    async def _say_read(self, path: Path, said: trio.CancelScope) -> None:
        with said:
            await trio.sleep(READ_TOLD_AFTER)
            if said.cancel_called:  # read as it woke (review 70: said after the offer)
                return
            if (size := _size_of(path)) is not None:
                self.node.emit(events.FileReading(path.name, size))

    def _offers_for(self, member: Member) -> list[int]:
        """This node's offers that ``member`` may have: none unless both chat."""
        if not (member.chat and self.node.settings.chat):
            return []
        return [n for n, mine in self._mine.items() if mine.to in (None, member.node_id)]

    def _offer_to(self, conn: Connection, n: int) -> None:
        mine = self._mine[n]
        conn.send(FileOffer(n, mine.name, mine.size, mine.sha256, mine.to is not None))

    def on_offer(self, conn: Connection, message: FileOffer) -> None:
        sender = chatting(conn)
        key = (sender.node_id, message.offer)
        if key in self._heard_ids:  # offered again as the link came back: heard already
            return
        now = trio.current_time()
        if not self._offers_paced.allows(sender.node_id, now):
            if (held := self._too_fast.note(now)) is not None:
                log.info("%s offers files too fast: %d offers let pass", conn.peer, held + 1)
            return
        theirs = self._heard_from(sender.node_id)
        if len(theirs) >= MAX_OFFERS_FROM_ONE and not self._make_room(theirs):
            return
        if len(self._heard) >= MAX_OFFERS_HEARD and not self._make_room(self._most_offered()):
            return
        id = next(self._ids)
        self._heard[id] = _Heard(sender.node_id, sender.username, message)
        self._heard_ids[key] = id
        to = self.node.me if message.private else None
        saved = self._had(message)
        if saved:
            self._saved[id] = saved
        # Part of it kept from a fetch that stopped (its sender killed): said with the offer,
        # which otherwise read as anew (trial 53).
        store = self.node.store
        stopped = None if saved else store.kept_fetch(sender.node_id, message.sha256, message.size)
        kept = stopped[1] if stopped is not None and _holds_at_least(*stopped) else 0
        offered = events.FileOffered(
            sender, id, message.name, message.size, to, saved=saved, kept=kept
        )
        self.node.after_ready(offered)  # a newcomer hears of offers as it gets in

    def _called(self, node_id: str, then: str) -> str:
        """What the sender ``node_id`` is called now, if here, else ``then`` (trial 78: /files
        and "saved as" said "from bob" of robert, renamed since)."""
        member = self.node.members.get(node_id)
        if member is None:
            return then
        talk = self.node.talk  # (marked as the screen marks it: review 75)
        return marked(member.username, node_id) if talk.shown_marked(member) else member.username

    def _where_saved(self, id: int, offer: FileOffer) -> str:
        """Where offer ``id``'s bytes are saved: where its fetch saved them, unless moved or
        deleted since (a user trial), else where any was (``_had``; trial 76: fetched meanwhile
        in another room; review 73: ``/files`` said so, and ``/get`` fetched it again)."""
        saved = self._saved.get(id, "")
        return saved if saved and _holds(saved, offer.size) else self._had(offer)

    def _had(self, offer: FileOffer) -> str:
        """Where this room saved the offer's bytes, else another (review 71: its own record of
        a copy moved since hid the other's), if they are there still under its name: the same
        bytes under another are another file (an empty __init__.py is no empty.txt)."""
        records = (self.node.store.saved_at(offer.sha256, offer.size),)
        records += tuple(self.saved_elsewhere(offer.sha256, offer.size))
        name = local_name(offer.name)
        return next(
            (
                path
                for path, mtime_ns in filter(None, records)
                if _holds(path, offer.size, mtime_ns) and _named_so(Path(path).name, name)
            ),
            "",
        )

    # -- fetching -----------------------------------------------------------------------------

    def numbered(self, id: int) -> bool:
        """Whether ``id`` numbers an offer here, heard or made."""
        return id in self._heard or id in self._own

    def get_named(self, name: str) -> None:
        """``/get NAME``: the one offer heard of a file called ``name``, in any case (offer
        numbers are each program's own: trial 71's sender said "/get 1" to the room, which
        was another file for the others)."""
        found = self.named(name)
        if len({(self._heard[id].offer.sha256, self._heard[id].offer.size) for id in found}) == 1:
            self.get(found[0])  # (one file, whoever offers it: review 68)
            return
        if not found and name[:1] in "\"'" and shell_word(name) is None:  # (trial 75)
            said = f"no file called {name} is offered here (a quote is not closed?)"
        elif not found:
            said = f"no file called {name} is offered here; /files lists the offers"
        else:
            which = ", ".join(f"{id} from {self._sender_shown(id, found)}" for id in found[:5])
            which += f" and {len(found) - 5} more" if len(found) > 5 else ""
            said = f"{len(found)} offers are of a file called {name}: /get ID, one of {which}"
        self.node.emit(events.Error(said))

    def _sender_shown(self, id: int, among: list[int]) -> str:
        """The sender of offer ``id`` as a screen shows it, marked with its key where another
        of ``among`` is offered under its name too (attack round 55: "1 from robert, 2 from
        robert")."""
        heard = self._heard[id]
        twice = any(
            self._heard[i].name == heard.name and self._heard[i].sender != heard.sender
            for i in among
        )
        return marked(heard.name, heard.sender) if twice else shown_name(heard.name, heard.sender)

    def named(self, name: str) -> list[int]:
        """The offers heard of a file called ``name``, in any case, or as a shell would read
        it (trial 74: ``/send`` took ``"my notes.txt"``, ``/get`` did not), or as it is offered
        (trial 77: ``it's "q".txt``, offered as ``it's _q_.txt``), oldest first."""
        typed = {name, shell_word(name) or name}
        # (not a name with nothing of it left, saved as "download": review 74's "/get ..")
        offered = {saved for n in typed if (saved := local_name(n)) != local_name("")}
        wanted = {n.casefold() for n in typed | offered}
        return [id for id, heard in self._heard.items() if heard.offer.name.casefold() in wanted]

    def lists_any(self) -> bool:
        """Whether ``/files`` has an offer to list here, heard or made."""
        return bool(self._heard or self._own)

    @property
    def downloads(self) -> Path:
        """Where fetched files go: as given, or the user's downloads folder."""
        if self._downloads is None:
            self._downloads = dirs.downloads()
        return self._downloads

    @downloads.setter
    def downloads(self, path: Path) -> None:
        self._downloads = path

    def get(self, id: int, *, compared: bool = False, kept: bool = True) -> None:
        """``/get ID``: fetch an offered file into the downloads directory; unless a file of
        its name and size is there, which is hashed first (``compared`` then). A fetch of the
        same bytes from the same member that stopped before (``kept``) goes on from there."""
        node = self.node
        heard = self._heard.get(id)
        if heard is None and id in self._own:
            node.emit(events.Error(f"{id} is your own offer (/cancel {id} withdraws it)"))
            return
        if heard is None and id in self._withdrawn:
            node.emit(events.Error(f"{id} was {self._withdrawn[id]}, no longer on offer"))
            return
        if heard is None:
            node.emit(events.Error(f"no file offered as {id}; the offers show their numbers"))
            return
        key = (heard.sender, heard.offer.offer)
        if key in self._fetches or id in self._comparing:
            node.emit(events.Error(f"{heard.offer.name} is being fetched already"))
            return
        offer = heard.offer
        if saved := self._where_saved(id, offer):
            self._have_it(offer.name, saved)
            return
        namesake = self.downloads / local_name(offer.name)
        if not compared and _holds(namesake, offer.size):
            # Offered anew (after a restart, say): a user trial's second copy of the same bytes.
            self._comparing.add(id)
            node.nursery.start_soon(self._get_unless_had, id, namesake, offer.sha256)
            return
        stopped = node.store.kept_fetch(heard.sender, offer.sha256, offer.size) if kept else None
        if (no_room := self._no_room_for(offer, stopped[1] if stopped else 0)) is not None:
            node.emit(events.Error(no_room))
            return
        if stopped is not None:
            self._comparing.add(id)
            node.nursery.start_soon(self._take_up, id, heard, Path(stopped[0]), stopped[1])
            return
        self._drop_other_version(heard.sender, offer)
        try:
            final = self._free_path(local_name(offer.name))
            part = final.with_name(final.name + PART)
            out = _open_held(part, private=node.settings.psk != OPEN_ROOM)
        except OSError as exc:
            node.emit(events.Error(f"cannot save into {self.downloads}: {exc.strerror or exc}"))
            return
        download = Download(heard.sender, offer.offer, offer.name, offer.size, offer.sha256)
        fetch = self._fetches[key] = _Fetch(id, download, part, final, out, heard.name)
        if download.done:  # an empty file: nothing to ask for
            self._finish(key, fetch)
            return
        if any(self._same_bytes(f, download) for f in self._fetches.values() if f is not fetch):
            # From the start, though the same bytes come from another (trial 72 read no word)
            node.emit(events.FileProgress(id, offer.name, 0, offer.size, resumed=True))
        self._note(fetch)
        self._ask(fetch)

    def _drop_other_version(self, sender: str, offer: FileOffer) -> None:
        """What was kept of a fetch from the same sender under the same name but of other
        bytes (the file changed, and is offered as it is now) can never be gone on with: it
        goes. A trial's new copy was saved as "chg (2).bin" beside the stale part."""
        part = self.downloads / (local_name(offer.name) + PART)
        if part in {f.part for f in self._fetches.values()} or part in self.elsewhere():
            return  # (written now, or another room's)
        offered = {
            (h.offer.sha256, h.offer.size) for h in self._heard.values() if h.sender == sender
        }
        for digest, size in self.node.store.kept_in(sender, str(part)):
            if (digest, size) not in offered:  # (two files of one name on offer: review 54)
                self.node.store.forget_fetch(sender, digest, size)
                with contextlib.suppress(OSError):
                    part.unlink()

    def _no_room_for(self, offer: FileOffer, kept: int) -> str | None:
        """Why the rest of ``offer`` (all but ``kept`` bytes) cannot be saved: the downloads
        directory cannot be made, or has too little room besides what the fetches under way
        still need (attack rounds 15 and 16: a 2^62-byte offer, or two that fit one at a time,
        were fetched until the disk was full)."""
        try:
            self.downloads.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(self.downloads).free
        except OSError as exc:
            return f"cannot save into {self.downloads}: {exc.strerror or exc}"
        free -= sum(f.download.size - f.download.received for f in self._fetches.values())
        if offer.size - kept <= free:
            return None
        need = size_text(offer.size - kept)
        return (
            f"{offer.name} needs {need}; {self.downloads} has {size_text(free)} free: not fetched"
        )

    async def _take_up(self, id: int, heard: _Heard, part: Path, kept: int) -> None:
        """Go on with a fetch of offer ``id`` that stopped at ``kept`` bytes in ``part`` (this
        program ended, or the sender left): the bytes there are hashed again, and the rest is
        asked for. Only a ``.part`` this program made and noted is taken up, for the same
        bytes from the same key (a ``.part`` found by its name alone was anyone's, a
        browser's too; and how far it went, told to another sender of a guessed hash, said
        what this node had: review and attack round 11). Anything amiss: fetched anew."""
        node = self.node
        offer = heard.offer
        download = Download(heard.sender, offer.offer, offer.name, offer.size, offer.sha256)
        out = None
        try:
            if part.parent != self.downloads or not part.name.endswith(PART):
                raise OSError(errno.EINVAL, "not a part of this downloads directory")
            out = _open_kept(part, kept)
            while download.received < kept:
                size = min(HASH_PIECE, kept - download.received)
                piece = os.pread(out.fileno(), size, download.received)
                if len(piece) != size:
                    raise OSError(errno.EIO, "shorter than it was")
                download.take(download.received, piece)
                await trio.sleep(0)
        except (OSError, ProtocolViolation) as exc:
            log.info("not going on with %s from %s: %s", part, kept, exc)
            if out is not None:
                out.close()
            out = None
        finally:
            self._comparing.discard(id)
        key = (heard.sender, offer.offer)
        if self._heard.get(id) is not heard or key in self._fetches or node.leaving:
            if out is not None:  # (the note stays, for when it is asked for again)
                out.close()
            return
        if out is None:
            node.store.forget_fetch(heard.sender, offer.sha256, offer.size)
            self.get(id, compared=True, kept=False)
            return
        final = part.with_name(part.name.removesuffix(PART))
        if final.exists() or final in {f.final for f in self._fetches.values()}:
            final = self._free_path(local_name(offer.name))
        fetch = _Fetch(id, download, part, final, out, heard.name, noted=kept)
        self._fetches[key] = fetch
        node.emit(events.FileProgress(id, offer.name, kept, offer.size, resumed=True))
        if download.done:
            self._finish(key, fetch)
        else:
            self._ask(fetch)

    def _note(self, fetch: _Fetch) -> None:
        """Note in the store how far ``fetch`` is, its bytes handed to the system first: if
        the program ends, ``/get`` goes on from there (``_take_up``)."""
        store = self.node.store
        if not store.lasting:
            return  # an ephemeral node's store ends with it
        d = fetch.download
        fetch.out.flush()
        fetch.noted = d.received
        now = time.time()
        for old in store.keep_fetch(d.sender, d.sha256, d.size, str(fetch.part), d.received, now):
            with contextlib.suppress(OSError):
                if old not in {str(f.part) for f in self._fetches.values()}:
                    Path(old).unlink()

    async def _get_unless_had(self, id: int, namesake: Path, digest: bytes) -> None:
        """Fetch offer ``id`` unless ``namesake`` holds its bytes already."""
        try:
            _, had, _ = await _hash_file(namesake)
        except OSError:  # gone or changed meanwhile: fetched, as any other
            had = b""
        finally:
            self._comparing.discard(id)
        if had == digest and id in self._heard:
            self._saved[id] = str(namesake)
            self._have_it(self._heard[id].offer.name, str(namesake))
        else:
            self.get(id, compared=True)

    def _have_it(self, name: str, path: str) -> None:
        self.node.emit(events.Error(f"you have {name} already: {path} (move it to fetch it again)"))

    def _ask(self, fetch: _Fetch) -> None:
        if fetch.later is not None:
            fetch.later.cancel()
            fetch.later = None
        d = fetch.download
        conn = self.node.links.conns.get(d.sender)
        if conn is None:
            self._waiting(fetch)
            return
        fetch.acked, fetch.heard_at = d.received, trio.current_time()
        conn.send(FileGet(d.offer, d.received))
        if fetch.waited and d.received:  # told it waits: told it goes on (trial 48: not a word)
            fetch.going_on_from = d.received
        fetch.waited = False

    def _waiting(self, fetch: _Fetch) -> None:
        fetch.waited = True
        d = fetch.download
        sender = self._called(d.sender, fetch.sender)
        self.node.emit(events.FileWaiting(fetch.id, d.name, sender, sender_id=d.sender))

    def _heard_from(self, node_id: str) -> list[int]:
        """The local ids of the offers heard from ``node_id``, oldest first."""
        return [i for i, h in self._heard.items() if h.sender == node_id]

    def _most_offered(self) -> list[int]:
        """The offers heard from the member that offers most, oldest first: the room's list is
        full, and they make room. The oldest offer of all went first, and ten throwaway
        keys with a hundred offers each pushed out a member's one file (attack round 10). Of
        members that offer as many, the one heard from last: a thousand throwaway keys with
        one offer each pushed out the oldest, a member's one file (attack round 11)."""
        counts: dict[str, int] = {}
        latest: dict[str, int] = {}
        for n, heard in enumerate(self._heard.values()):
            counts[heard.sender] = counts.get(heard.sender, 0) + 1
            latest[heard.sender] = n
        most = max(counts, key=lambda sender: (counts[sender], latest[sender]), default=None)
        return [] if most is None else self._heard_from(most)

    def _fetching(self) -> set[int]:
        return {f.id for f in self._fetches.values()}

    def _make_room(self, ids: Iterable[int]) -> bool:
        """Forget the oldest of ``ids`` that no fetch is running for; False if each has one
        (then a new offer is not kept)."""
        fetching = self._fetching()
        oldest = next((i for i in ids if i not in fetching), None)
        if oldest is not None:
            self._forget(oldest)
        return oldest is not None

    def _forget(self, id: int) -> None:
        heard = self._heard.pop(id)
        del self._heard_ids[(heard.sender, heard.offer.offer)]
        self._saved.pop(id, None)

    def _gone(self, id: int, sender: Member, reason: str = "", *, said: bool = False) -> None:
        """Offer ``id`` of ``sender`` is no longer on offer: forgotten, and the user told so,
        unless ``said`` or a fetch of it saved it here (a user trial read "alice no longer
        offers big.bin" at each of her restarts, with the file saved long before); then the
        screen forgets it unsaid (a trial's Tab went on offering it to /get)."""
        unsaid = said or id in self._saved
        name = self._heard[id].offer.name
        self._forget(id)
        # "/get 2" of it then says so, not "no file offered as 2" (a user trial read a wrong
        # number into that)
        keep_latest(self._withdrawn, id, f"{sender.username}'s {name}", MAX_WITHDRAWN)
        self.node.after_ready(events.OfferWithdrawn(id, name, sender, reason, unsaid=unsaid))

    def on_link(self, member: Member) -> None:
        """A link came (back): fetches from that member go on from where they stopped, and
        it is offered what is on offer for it (offers it heard already, it ignores)."""
        for fetch in self._fetches.values():
            if fetch.download.sender == member.node_id:
                self._ask(fetch)
        conn = self.node.links.conns.get(member.node_id)
        offers = self._offers_for(member)
        if conn is not None and member.chat and self.node.settings.chat:
            for n in offers:
                self._offer_to(conn, n)
            conn.send(FileOffers(tuple(offers)))

    def on_offers(self, conn: Connection, message: FileOffers) -> None:
        """What a member offers this node now, as their link came: any other offer heard from
        it is gone, unless a fetch of it runs (that one asks, and learns so). Told once a link:
        each look through the offers heard from it, and 20 keys sent empty lists in a loop
        while 1,000 offers were heard here, took the node's CPU (attack round 49)."""
        sender = chatting(conn)
        if conn in self._told_offers:
            raise ProtocolViolation(f"{conn.peer} told its offers twice on one link")
        self._told_offers.add(conn)
        now, fetching = set(message.offers), self._fetching()
        for id in self._heard_from(sender.node_id):
            if self._heard[id].offer.offer not in now and id not in fetching:
                self._gone(id, sender)

    def on_unlink(self, member: Member, *, lost: bool) -> None:
        """A member was lost: its fetches wait for it, and the user is told so. One that said
        goodbye took its offers with it: its fetches end."""
        for key, fetch in list(self._fetches.items()):
            if fetch.download.sender == member.node_id:
                fetch.sender = member.username
                if lost:
                    self._waiting(fetch)
                else:
                    reason = f"{member.username} left and no longer offers it"
                    self._fail(key, fetch, reason, keep=True)
        if not lost:
            for id in self._heard_from(member.node_id):
                self._gone(id, member, events.LEFT)
        for serving in self._serving.values():  # one waiting for an acknowledgement sees the
            if serving.who == member.node_id:  # link closed now, not within the second
                serving.moved.set()

    def gave_up(self, member: Member) -> None:
        """``member`` is not coming back (redialled for long enough, in vain): the fetches
        that waited for it end, their ``.part`` files with them (an attacker's fetches, cut
        for a fault, waited for good, each holding its file open)."""
        for key, fetch in list(self._fetches.items()):
            if fetch.download.sender == member.node_id:
                reason = f"{member.username} is gone and did not come back"
                self._fail(key, fetch, reason, keep=True)

    def cancel(self, id: int) -> None:
        """``/cancel ID``: give up a fetch (its ``.part`` file goes), or withdraw an offer of
        this node's (fetches of it running end, later ones are told it is gone)."""
        node = self.node
        for key, fetch in self._fetches.items():
            if fetch.id == id:
                self._give_up(key, fetch, "cancelled")
                return
        offer = self._own.get(id)
        if offer is None or offer not in self._mine:
            saved = self._saved.get(id)
            node.emit(
                events.Error(
                    f"nothing to cancel: {id} was fetched whole, to {saved}"
                    if saved
                    else f"no fetch or offer of yours numbered {id}"
                )
            )
            return
        self._withdraw(offer)

    def _withdraw(self, offer: int, reason: str = "", *, changed: bool = False) -> None:
        """An offer of this node's ends: fetches of it running end, later ones are told it is
        gone. Nothing happens for one that has ended already (two fetches of a file that
        changed both find it so)."""
        id = self._id_of(offer)
        if id is None or offer not in self._mine:
            return
        for (conn, n), serving in list(self._serving.items()):
            if n == offer:
                self._report(conn, offer, serving, over=True)  # (while it is still known)
                serving.scope.cancel()
                del self._serving[(conn, n)]
        mine = self._mine.pop(offer)
        del self._own[id]
        gone = FileGone(offer, changed=changed)
        self.node.links.broadcast(gone, chatting=True)  # fetching it or not
        self.node.emit(events.OfferWithdrawn(id, mine.name, reason=reason))

    def offering(self) -> bool:
        """Whether this node has a file on offer."""
        return bool(self._own)

    def uploads(self) -> list[tuple[Member, str, int]]:
        """The fetches this node serves now: (member, file, percent acknowledged)."""
        return [(member, self._mine[n].name, share) for n, member, share in self._serving_now()]

    def fetched_now(self, id: int) -> list[tuple[str, int]]:
        """Who fetches this node's offer numbered ``id`` here now, by name, and how far."""
        offer = self._own.get(id)
        return [] if offer is None else self._fetchers_of(offer)

    def _fetchers_of(self, offer: int) -> list[tuple[str, int]]:
        """Who fetches this node's offer ``offer`` now, by name, and how far (percent)."""
        return [(m.username, share) for n, m, share in self._serving_now() if n == offer]

    def _serving_now(self) -> list[tuple[int, Member, int]]:
        out = []
        for (conn, n), serving in self._serving.items():
            mine = self._mine.get(n)
            if mine is not None and conn.member is not None:
                share = serving.acked * 100 // mine.size if mine.size else 100
                out.append((n, conn.member, share))
        return out

    def fetching(self) -> list[tuple[str, int]]:
        """The fetches this node makes now: (file, percent received)."""
        ds = [fetch.download for fetch in self._fetches.values()]
        return [(d.name, d.received * 100 // d.size if d.size else 100) for d in ds]

    def _id_of(self, offer: int) -> int | None:
        """The number the user knows an offer of this node's by."""
        return next((id for id, n in self._own.items() if n == offer), None)

    def on_chunk(self, conn: Connection, message: FileChunk) -> None:
        """A chunk of a fetch. Those the fetch takes come as fast as its window lets them and
        are not paced; others are, and so are small ones: a sender's flood of chunks of a
        fetch given up, or of chunks of a few bytes, kept a core busy (attack round 19)."""
        sender = chatting(conn)
        key = (sender.node_id, message.offer)
        fetch = self._fetches.get(key)
        now = trio.current_time()
        if key in self._stopped and (fetch is None or message.offset != fetch.download.received):
            # Sent before the sender heard the fetch was given up (and fetched anew since,
            # from the start: the same bytes at each offset, so none is taken twice).
            self.node.read_pace.charge(conn, conn.frame_size, now)
            return
        small = len(message.data) < transfer.SMALL_CHUNK and message.offset + len(message.data) < (
            fetch.download.size if fetch is not None else 0
        )  # (a file's last chunk may be small)
        if small:
            self.node.read_pace.charge(conn, conn.frame_size, now)
        if fetch is None:
            raise ProtocolViolation(f"{conn.peer} sent a file chunk nobody asked for")
        fetch.download.take(message.offset, message.data)
        fetch.busy = 0
        if small:  # a byte every 20 s kept a fetch going for good (attack round 34)
            fetch.trickled = True
        else:
            fetch.heard_at, fetch.asked_again, fetch.trickled = now, False, False
        if (since := fetch.going_on_from) is not None:
            fetch.going_on_from = None
            d = fetch.download
            self.node.emit(events.FileProgress(fetch.id, d.name, since, d.size, resumed=True))
        d = fetch.download
        try:
            fetch.out.write(message.data)
            if d.received - fetch.noted >= KEEP_EVERY and not d.done:
                self._note(fetch)  # (its flush may be what finds the disk full: attack round 52)
        except OSError as exc:  # the sender is stopped too (a review: its next chunk, for a
            # fetch no longer here, ended the link)
            self._give_up(key, fetch, f"cannot write {fetch.part}: {exc.strerror or exc}")
            return
        # (A small chunk's request is not heeded: a hostile sender's chunks of a byte, each
        # asking, cost the fetcher twice as much, attack round 37.)
        asked = message.ack and not small
        if transfer.acknowledges(d.received, fetch.acked, asked) and not d.done:
            fetch.acked = d.received
            conn.send(FileAck(d.offer, d.received, _microseconds(now)))
        if d.progress_due(trio.current_time()):
            self.node.emit(events.FileProgress(fetch.id, d.name, d.received, d.size))
        if d.done:
            self._finish(key, fetch)

    def _finish(self, key: tuple[str, int], fetch: _Fetch) -> None:
        """Rename the checked file into place while its ``.part`` is still held: let go
        before, another program's fetch of the name could take it meanwhile."""
        if not fetch.download.intact():
            self._fail(key, fetch, "the file that came is not the one offered (checksum)")
            return
        del self._fetches[key]
        d = fetch.download
        try:
            fetch.out.flush()
            if fetch.final.exists():  # made meanwhile by someone else: never overwritten
                fetch.final = self._free_path(fetch.final.name)
            os.replace(fetch.part, fetch.final)
        except OSError as exc:
            self._fail(key, fetch, f"cannot rename {fetch.part}: {exc.strerror or exc}")
            return
        fetch.out.close()
        self.node.store.forget_fetch(d.sender, d.sha256, d.size)
        self._end_the_same_from_others(fetch)
        with contextlib.suppress(OSError):
            changed = fetch.final.stat().st_mtime_ns
            self.node.store.keep_saved(d.sha256, d.size, str(fetch.final), changed, time.time())
        if fetch.id in self._heard:
            self._saved[fetch.id] = str(fetch.final)
        conn = self.node.links.conns.get(d.sender)
        if conn is not None:
            conn.send(FileAck(d.offer, d.size, _microseconds(trio.current_time())))  # the whole
            # file, checked: the sender is told
        self.node.emit(
            events.FileDone(
                fetch.id,
                d.name,
                str(fetch.final),
                True,
                sender=self._called(d.sender, fetch.sender),
                sender_id=d.sender,
            )
        )

    @staticmethod
    def _same_bytes(fetch: _Fetch, d: Download) -> bool:
        return (fetch.download.sha256, fetch.download.size) == (d.sha256, d.size)

    def _end_the_same_from_others(self, saved: _Fetch) -> None:
        """``saved`` is whole and in place: fetches here of the same bytes from others end,
        and what was kept of them goes (trial 71: one waiting for its sender went on showing,
        its part of 236 MB kept). Only now: before the rename, one that then failed lost
        every copy (reviews 68 and 69). The name one of their parts held is taken up (trial
        72: "same (2).iso" beside no "same.iso"), if it is free still."""
        d = saved.download
        for key, other in list(self._fetches.items()):
            if self._same_bytes(other, d):
                self._give_up(key, other, events.SAVED_ELSEWHERE)
        self._drop_copies(d)
        plain = self.downloads / local_name(d.name)
        if saved.final == plain or self._free_path(plain.name) != plain:
            return
        try:  # the name taken first, never over a file made there meanwhile (not by a hard
            # link: a review, downloads on FAT or a network share have none)
            os.close(os.open(plain, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except OSError:
            return
        try:
            os.replace(saved.final, plain)
        except OSError:  # one name, the one kept (review 69: two, one unrecorded)
            with contextlib.suppress(OSError):
                os.unlink(plain)
            return
        saved.final = plain

    def _drop_copies(self, d: Download) -> None:
        """A whole file saved: what was kept of the same bytes from other senders is of no
        more use, nor are the names it held (a user trial: 32% kept from a member's old key
        made the whole file from his new one "big file (2).bin", and stayed, unlisted)."""
        store = self.node.store
        running = {str(f.part) for f in self._fetches.values()}
        for sender, part in store.kept_copies(d.sha256, d.size):
            store.forget_fetch(sender, d.sha256, d.size)
            kept = Path(part)
            if part not in running and kept.parent == self.downloads and part.endswith(PART):
                with contextlib.suppress(OSError):
                    kept.unlink()

    def _give_up(self, key: tuple[str, int], fetch: _Fetch, reason: str) -> None:
        """End a fetch from this side: the sender is told to stop, and its chunks still on
        the way are let pass."""
        conn = self.node.links.conns.get(key[0])
        if conn is not None:
            conn.send(FileStop(key[1]))
        self._stopped.append(key)
        self._fail(key, fetch, reason)

    def _fail(
        self, key: tuple[str, int], fetch: _Fetch, reason: str, *, keep: bool = False
    ) -> None:
        """A fetch ends unfinished. With ``keep`` (nothing was wrong with it: the sender or
        this program went), what came stays, for ``/get`` to go on from when it is offered
        again; else its ``.part`` goes."""
        self._fetches.pop(key, None)
        d = fetch.download
        keep = keep and self.node.store.lasting and d.received > 0
        if keep:
            try:
                self._note(fetch)
            except OSError:  # (its bytes could not be handed to the system: not kept)
                keep = False
        if keep:
            _let_go(fetch)
            share = d.received * 100 // max(d.size, 1)
            reason += (  # (not a file changed since: that is fetched anew)
                f"; {share}% is kept, and /get goes on from there if the same file is offered again"
            )
        else:
            self.node.store.forget_fetch(d.sender, d.sha256, d.size)
            _drop(fetch)
        sender = self._called(d.sender, fetch.sender)
        self.node.emit(events.FileDone(fetch.id, d.name, "", False, reason, sender, d.sender))

    async def watch_fetches(self) -> None:
        """A fetch from a linked sender that sent nothing for ``FETCH_QUIET`` s (or only small
        chunks) is asked for again, and after as long again ends, keeping what came (attack
        round 15: a sender that answered pings but sent no more held a fetch "in progress" for
        as long as it liked)."""
        while True:
            await trio.sleep(FETCH_QUIET / 4)
            now = trio.current_time()
            for key, fetch in list(self._fetches.items()):
                linked = fetch.download.sender in self.node.links.conns
                if not linked or fetch.later is not None or now - fetch.heard_at < FETCH_QUIET:
                    continue
                if not fetch.asked_again:
                    fetch.asked_again = True
                    self._ask(fetch)
                else:
                    came = "next to nothing" if fetch.trickled else "nothing"
                    quiet = f"{came} came from {fetch.sender} for {2 * FETCH_QUIET:g} s"
                    self._fail(key, fetch, quiet, keep=True)

    def on_gone(self, conn: Connection, message: FileGone) -> None:
        """The sender no longer has the offer (withdrawn, or it restarted): it is no longer
        listed, and a fetch of it cannot go on. Or it is busy: the fetch waits, keeping what it
        has, and asks again later by itself."""
        sender = chatting(conn)
        key = (sender.node_id, message.offer)
        fetch = self._fetches.get(key)
        if message.busy:
            if fetch is not None and fetch.later is None:
                fetch.busy += 1
                wait = min(BUSY_WAIT * 2 ** (fetch.busy - 1), BUSY_WAIT_MOST)
                wait *= random.uniform(0.75, 1.25)
                fetch.later = trio.CancelScope()
                self.node.nursery.start_soon(self._ask_later, key, fetch, fetch.later, wait)
                if fetch.busy == 1:  # told once, not a line a minute (the status bar shows it)
                    self.node.emit(
                        events.FileWaiting(
                            fetch.id, fetch.download.name, sender.username, wait, sender.node_id
                        )
                    )
            return
        if fetch is not None:
            self._stopped.append(key)  # chunks sent before it still come: let them pass unread
            gone = f"{sender.username} no longer offers it"
            if message.changed:  # what came is of bytes no longer offered: nothing to keep
                self._fail(key, fetch, f"{gone}: it changed since it was offered", keep=False)
            else:
                self._fail(key, fetch, gone, keep=True)
        id = self._heard_ids.get(key)
        if id is not None:
            why = events.CHANGED if message.changed else ""
            self._gone(id, sender, why, said=fetch is not None)  # (a fetch's end says so)

    async def _ask_later(
        self, key: tuple[str, int], fetch: _Fetch, scope: trio.CancelScope, wait: float
    ) -> None:
        """After a "busy", ask for the rest of ``fetch`` again in ``wait`` seconds: its
        ``.part`` stays, so the fetch goes on from where it was, as after a dropped link. The
        wait is ``scope``, given along: the fetch may be asked for (and its ``later`` let go)
        before this task first runs, a link made again in the same turn (attack round 10:
        read from the fetch, it was None, and an assertion ended the node)."""
        with scope:
            await trio.sleep(wait)
            if self._fetches.get(key) is fetch:
                self._ask(fetch)

    def listing(self) -> events.FileList:
        """``/files``: every offer heard and made here, by local id, with its fetch if any."""
        fetches = {f.id: f for f in self._fetches.values()}
        listed = []
        for id, heard in self._heard.items():
            offer, fetch = heard.offer, fetches.get(id)
            received = None if fetch is None else fetch.download.received
            away = fetch is not None and heard.sender not in self.node.links.conns
            saved = self._where_saved(id, offer) if fetch is None else ""
            stopped = None
            if fetch is None:  # (a user trial's /files did not say what a restart had kept)
                stopped = self.node.store.kept_fetch(heard.sender, offer.sha256, offer.size)
            kept = 0 if stopped is None else stopped[1]
            listed.append(
                events.Listed(
                    id, offer.name, offer.size, self._called(heard.sender, heard.name),
                    offer.private, received, away, saved,
                    kept=kept, sender_id=heard.sender,
                )
            )  # fmt: skip
        # Whom a private offer is for: in the room, or away now (a review read "one member").
        known = {m.node_id: m for m in (*self.node.links.redial, *self.node.members)}
        for id, n in self._own.items():
            mine = self._mine[n]
            to = known.get(mine.to) if mine.to is not None else None
            whom = to.username if to is not None else ""
            private = mine.to is not None
            by = tuple(self._fetchers_of(n))  # (trial 69: the sender's list said not whom)
            listed.append(
                events.Listed(id, mine.name, mine.size, "", private, to=whom, fetched_by=by)
            )
        return events.FileList(tuple(sorted(listed, key=lambda f: f.id)))

    def taken(self) -> set[Path]:
        """The files this node's fetches write, and those they keep to go on with (with the
        names they are to be saved under): no other fetch may write them."""
        taken = {p for f in self._fetches.values() for p in (f.final, f.part)}
        for part in map(Path, self.node.store.kept_parts()):
            taken |= {part, part.with_name(part.name.removesuffix(PART))}
        return taken

    def _free_path(self, name: str) -> Path:
        """``name`` in the downloads directory, or the first ``name (N)`` that names no file
        there and no other fetch's file or ``.part``, in any room of the program (another
        room's kept part was written over: attack round 34). One left by a program that ended
        without its goodbye is written over (a user's killed fetch left ``huge.bin.part``,
        and the next fetch of it was saved as ``huge (2).bin``)."""
        taken = self.taken() | self.elsewhere()
        candidate, n = self.downloads / name, 1
        while (
            candidate in taken
            or candidate.exists()
            or _being_written(candidate.with_name(candidate.name + PART))
        ):
            n += 1
            candidate = self.downloads / numbered(name, n)
        return candidate

    def close(self) -> None:
        """The node ends: unfinished fetches stop, each with a word (a user's /part said
        none); what came is kept for ``/get`` to go on from in a later run, where the store
        lasts (an ephemeral node's ``.part`` files go: nothing could go on with them)."""
        for key, fetch in list(self._fetches.items()):
            self._fail(key, fetch, "you left the room", keep=True)

    # -- serving ------------------------------------------------------------------------------

    def on_get(self, conn: Connection, message: FileGet) -> None:
        member = chatting(conn)
        mine = self._mine.get(message.offer)
        if mine is None:  # offered by this node's last run, or never: not a fault of the asker
            conn.send(FileGone(message.offer))
            return
        if mine.to is not None and mine.to != member.node_id:
            raise ProtocolViolation(f"{conn.peer} asked for a file not offered to it")
        if message.offset > mine.size:
            raise ProtocolViolation(f"{conn.peer} asked for a file past its end")
        asked = (member.node_id, message.offer)
        if asked in self._asked:  # (an honest fetch asks again a few times at most)
            self.node.read_pace.charge(conn, FILE_WINDOW, trio.current_time())
        keep_latest(self._asked, asked, None, MAX_REMEMBERED)
        key = (conn, message.offer)
        offset = message.offset
        # What the fetcher had, or an earlier serving sent it, counts without this link's word
        had = max(offset, self._covered.get(asked, 0))
        serving = _Serving(
            member.node_id,
            trio.CancelScope(),
            offset,
            moved_from=offset,
            sent=offset,
            start=offset,
            acks=transfer.LinkAcks(had),
        )
        old = self._serving.pop(key, None)
        stopped = self._stopped_turns.pop((member.node_id, message.offer), None)
        if stopped is not None and trio.current_time() - stopped[1] < FILE_TURN:
            serving.turn_from = stopped[0]
        if old is not None:
            old.scope.cancel()  # asked again: from the new offset
            serving.turn_from = old.turn_from
            if message.offset - old.moved_from < FILE_ACK_EVERY:  # and no further: as idle
                serving.acked_at, serving.moved_from = old.acked_at, old.moved_from
            if not old.progressed:
                serving.since = old.since
        if trio.current_time() < self._cooling.get((member.node_id, message.offer), -math.inf):
            conn.send(FileGone(message.offer, busy=True))  # let go for no progress, lately
            return
        if self._served_enough(asked, SERVED_MOST * mine.size) or (
            conn.address
            and self._served_enough((conn.address, message.offer), SERVED_ADDRESS_MOST * mine.size)
        ):
            log.info(
                "not serving %s to %s again now: it was sent it often lately", mine.name, conn.peer
            )
            conn.send(FileGone(message.offer, busy=True))
            return
        to_it = sum(1 for c, _ in self._serving if c is conn)
        # (Keys are cheap: 16 of one address held every slot, attack round 18.)
        there = sum(1 for c, _ in self._serving if c.address and c.address == conn.address)
        limited = to_it >= MAX_SERVING or there >= MAX_SERVING_ADDRESS  # theirs go on first
        if not limited and len(self._serving) >= MAX_SERVING_ALL:
            self._free_a_slot()
        if limited or len(self._serving) >= MAX_SERVING_ALL:
            if (held := self._turned_away.note(trio.current_time())) is not None:
                running = f"{to_it} to it, {there} to its address, {len(self._serving)} in all"
                log.info(
                    "not serving %s to %s now: %s fetches run (%d more turned away)",
                    mine.name, conn.peer, running, held,
                )  # fmt: skip
            conn.send(FileGone(message.offer, busy=True))
            return
        self._serving[key] = serving
        self.node.nursery.start_soon(self._serve, conn, message.offer, mine, serving)

    def _served_enough(self, asked: tuple[str, int], most: int) -> bool:
        """Whether a member (or address) has been served ``most`` bytes of an offer lately."""
        served, since = self._served.get(asked, (0, -math.inf))
        if trio.current_time() - since >= SERVED_OVER:
            self._served.pop(asked, None)
            return False
        return served >= most + FILE_WINDOW

    def _count_served(self, asked: tuple[str, int], sent: int) -> None:
        served, since = self._served.get(asked, (0, trio.current_time()))
        keep_latest(self._served, asked, (served + sent, since), MAX_REMEMBERED)

    def _free_a_slot(self) -> None:
        """Every slot taken: the fetch that has acknowledged nothing for longest, for
        ``FILE_IDLE`` s at least, makes room, told "busy" as a stalled one is. An attacker's
        fetches that never acknowledged, asked for again before they stalled, held all 16
        slots for good. Failing one, the fetch served longest, for ``FILE_TURN`` s at least,
        takes its turn later: 16 that acknowledged two chunks every 20 s (never idle, never
        stalled) held them for hours (attack round 18)."""
        now = trio.current_time()
        idle = [item for item in self._serving.items() if not item[1].progressed]
        first = min(idle, key=lambda item: item[1].since, default=None)
        if first is not None and now - first[1].since >= FILE_IDLE:
            log.info("letting an idle fetch by %s go for another", first[0][0].peer)
            self._let_go(*first)
            self._cool(*first[0])
            return
        longest = min(self._serving.items(), key=lambda item: item[1].turn_from, default=None)
        if longest is not None and now - longest[1].turn_from >= FILE_TURN:
            log.info("a fetch by %s takes its turn later: another waits", longest[0][0].peer)
            self._let_go(*longest)

    def _let_go(self, key: tuple[Connection, int], serving: _Serving) -> None:
        del self._serving[key]
        serving.scope.cancel()
        key[0].send(FileGone(key[1], busy=True))

    def after_freeze(self) -> None:
        """This node was frozen, and is back in the room: fetches let go for making no
        progress meanwhile made none because this node did not run. They are served again at
        once (a trial: a sender stopped for 60 s kept one of its fetchers waiting 33 s more)."""
        self._cooling.clear()

    def _cool(self, conn: Connection, offer: int) -> None:
        """A fetch let go for making no progress is not served again to that member for
        ``FILE_STALL`` s: asked for again at once, it took its slot back within a round trip
        (an attacker's second run)."""
        if conn.member is not None:
            until = trio.current_time() + FILE_STALL
            keep_latest(self._cooling, (conn.member.node_id, offer), until, MAX_REMEMBERED)

    def on_stop(self, conn: Connection, message: FileStop) -> None:
        key = (conn, message.offer)
        serving = self._serving.pop(key, None)
        if serving is not None:
            serving.scope.cancel()
            turn = (serving.who, message.offer)
            stopped = (serving.turn_from, trio.current_time())
            keep_latest(self._stopped_turns, turn, stopped, MAX_REMEMBERED)

    def _cover(self, offer: int, serving: _Serving) -> int:
        """How far ``offer`` was sent to the fetcher of ``serving`` without a gap from its
        start, this serving's chunks counted. One asked for past that covers nothing: a
        fetcher that took chunks from the middle, asked again from the start and
        acknowledged the middle's end read as 97% had (attack round 10)."""
        key = (serving.who, offer)
        covered = self._covered.get(key, 0)
        if serving.start <= covered < serving.sent:
            # the longest unused goes first (a review: not the one a fetch still adds to)
            covered = keep_latest(self._covered, key, serving.sent, MAX_REMEMBERED)
        return covered

    def on_ack(self, conn: Connection, message: FileAck) -> None:
        key = (conn, message.offer)
        serving = self._serving.get(key)
        if serving is None:
            self._fetched(conn, message)
            return
        # Counted only as far as chunks were sent: an attacker's acknowledgement of the whole
        # file at the first chunk read as 100%. A fetch given up and asked for again honestly
        # acknowledges the chunks the serving before it sent (a review).
        acked = min(message.offset, max(serving.sent, self._cover(message.offer, serving)))
        if acked > serving.claimed[0]:
            serving.claimed = (acked, message.came)
        self._take_ack(conn, message.offer, serving)

    def _take_ack(self, conn: Connection, offer: int, serving: _Serving) -> None:
        """The furthest acknowledgement of ``serving``, as far as its link's TCP has it: again
        as the serving waits, when it was further (``transfer.LinkAcks``)."""
        claimed, came = serving.claimed
        acked = serving.acks.allows(claimed, conn.tcp_acked())
        if acked > serving.acked:
            serving.acked = acked
            serving.window.acked(acked, came / 1e6, trio.current_time())
            # Progress is a step a fetcher acknowledges, not a byte (an attacker's fetches
            # acknowledged one byte each and kept their slots).
            serving.progressed |= acked - serving.start >= FILE_ACK_EVERY
            if acked - serving.moved_from >= FILE_ACK_EVERY:
                serving.acked_at, serving.moved_from = trio.current_time(), acked
            serving.moved.set()
            self._report(conn, offer, serving)

    def _report(self, conn: Connection, offer: int, serving: _Serving, over: bool = False) -> None:
        """Tell the user how far a fetch from this node has come (the sender saw nothing of
        it, a user trial found), once something is acknowledged: at most every
        ``PROGRESS_EVERY`` s for a member and an offer, whatever its servings (a review's 500
        fetches asked for and given up made 981 events in 0.27 s), and when one that was
        reported ends here."""
        key, now = (serving.who, offer), trio.current_time()
        if over:
            if serving.reported_at == -math.inf:
                return
        elif now - self._reported_at.get(key, -math.inf) < transfer.PROGRESS_EVERY:
            return  # (first: an acknowledgement may come every 16 KiB)
        mine, id = self._mine.get(offer), self._id_of(offer)
        if mine is None or id is None or conn.member is None:
            return
        serving.reported_at = keep_latest(self._reported_at, key, now, MAX_REMEMBERED)
        self.node.emit(events.Uploading(id, mine.name, conn.member, serving.acked, mine.size, over))

    def _fetched(self, conn: Connection, message: FileAck) -> None:
        """The last acknowledgement of a fetch sent whole: the file checked there. The user
        hears of it once per member (an acknowledgement of what was not sent says nothing: one
        of a file asked for a byte before its end said it had the file)."""
        mine = self._mine.get(message.offer)
        if mine is None or message.offset != mine.size:
            return
        member = chatting(conn)
        told = (member.node_id, message.offer)
        if told in self._told_fetched or self._covered.get(told, 0) < mine.size:
            return
        # An empty file is fetched without a byte asked for: its acknowledgement counts.
        if not mine.size and message.offer not in self._offers_for(member):
            return
        keep_latest(self._told_fetched, told, None, MAX_REMEMBERED)
        id = self._id_of(message.offer)
        if id is not None:
            self.node.emit(events.FileFetched(id, mine.name, member))

    async def _serve(self, conn: Connection, offer: int, mine: _Mine, serving: _Serving) -> None:
        """Stream ``mine`` from where the fetcher asked, a chunk whenever the link's queue is
        empty and less than its window is unacknowledged: chat goes first, and one chunk
        at a time is held in memory."""
        offset = serving.acked
        try:
            with serving.scope, open(mine.path, "rb") as f:
                if _stamp(os.fstat(f.fileno())) != mine.stamp:
                    self._withdraw(offer, "it changed since you offered it", changed=True)
                    return
                f.seek(offset)
                while offset < mine.size and not conn.closing:
                    if serving.acked > offset:  # a fetch asked for again acknowledged what an
                        offset = serving.acked  # earlier serving sent: not again, nor past
                        f.seek(offset)  # the window (attack round 37), which starts anew:
                        serving.window = transfer.SendWindow()  # it timed another's chunks
                    serving.sent = max(serving.sent, offset)
                    if serving.claimed[0] > serving.acked:  # its TCP may have caught up
                        self._take_ack(conn, offer, serving)
                    if not serving.window.room(offset, serving.acked, mine.size - offset):
                        if trio.current_time() - serving.acked_at >= FILE_STALL:
                            log.info("%s stopped acknowledging %s", conn.peer, mine.name)
                            self._cool(conn, offer)
                            conn.send(FileGone(offer, busy=True))
                            return
                        serving.moved = trio.Event()
                        with trio.move_on_after(1):  # and look at the link now and then
                            await serving.moved.wait()
                        continue
                    await conn.drained()
                    await trio.sleep(0)  # frames from other tasks queue before the next chunk
                    if conn.backlog:
                        continue
                    room = serving.window.room(offset, serving.acked, mine.size - offset)
                    if not room:  # a late acknowledgement came meanwhile: the window shrank
                        continue
                    data = f.read(room)
                    if serving.scope.cancel_called:  # withdrawn or stopped while it was read
                        return
                    if not data:
                        self._withdraw(offer, "it shrank since you offered it")
                        return
                    if _stamp(os.fstat(f.fileno())) != mine.stamp:  # written to meanwhile:
                        # a trial's fetchers took all 100 MiB, then failed on the checksum
                        self._withdraw(offer, "it changed since you offered it", changed=True)
                        return
                    end = offset + len(data)
                    asks = serving.window.asks(end, serving.acked, mine.size - end)
                    conn.send(FileChunk(offer, offset, data, asks))
                    serving.acks.sent(offset + len(data), conn.wire_end())
                    self._count_served((serving.who, offer), len(data))
                    if conn.address:
                        self._count_served((conn.address, offer), len(data))
                    offset = serving.sent = end
                    serving.window.sent(offset, trio.current_time(), asks)
                    self._cover(offer, serving)
        except OSError as exc:
            log.warning("cannot read %s for %s: %s", mine.path, conn.peer, exc)
            if exc.errno in _GONE:
                self._withdraw(offer, f"cannot read it: {exc.strerror or exc}")
            elif not conn.closing:  # out of descriptors, a disk error: perhaps not for good
                conn.send(FileGone(offer, busy=True))
        finally:
            now = self._serving.get((conn, offer))
            if now is serving:
                del self._serving[(conn, offer)]
            if now is None or now is serving:  # not asked for again meanwhile
                self._report(conn, offer, serving, over=True)


def _from(path: Path) -> str:
    """Where a relative path was looked for, if it is not there (trial 56 looked in its
    home for the ``notes.txt`` it typed)."""
    if path.is_absolute() or path.exists():
        return ""
    try:
        return f" (looked in {os.getcwd()}, where peerchat was started)"
    except OSError:  # that directory is gone
        return ""


def _microseconds(now: float) -> int:
    """``now`` as a ``FileAck`` says when a chunk came."""
    return max(0, round(now * 1e6))


# A file can no longer be read for good: deleted, moved, or its permission taken away.
_GONE = {errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.ESTALE}

# What tells a file apart from what it was: another file in its place (device and inode), or
# written to since (size, modification and change times: a copy that kept the old
# modification time still changes the last).
Stamp = tuple[int, int, int, int, int]


def _stamp(st: os.stat_result) -> Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _same_offer(a: _Mine | None, b: _Mine) -> bool:
    """The same bytes under the same name to the same members, by whatever path."""
    return a is not None and (a.name, a.size, a.sha256, a.to) == (b.name, b.size, b.sha256, b.to)


# A ``.part`` is opened as what it is, never through a link to another file, and never waiting
# on a pipe that sits there (the node's loop would stop).
_PART_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _open_held(part: Path, *, private: bool) -> BinaryIO:
    """``part``, empty and open for a fetch to write, locked for as long as it is open: a
    fetch in this program or another leaves it alone. Emptied once held, not before. A room's
    with a secret is for its user alone to read (a user trial's were everyone's, by umask)."""
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | _PART_FLAGS, 0o600 if private else 0o666)
    out = os.fdopen(fd, "wb")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, f"{part.name} is not a file")
        fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
        out.truncate(0)
        os.set_blocking(fd, True)
    except OSError:
        out.close()
        raise
    return out


def _open_kept(part: Path, kept: int) -> BinaryIO:
    """``part``, as a fetch that stopped left it, open to go on writing after its first
    ``kept`` bytes (what came after them is cut off) and held as ``_open_held`` holds one."""
    fd = os.open(part, os.O_RDWR | _PART_FLAGS)
    out = os.fdopen(fd, "r+b")
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise OSError(errno.EINVAL, f"{part.name} is not a file")
        if found.st_size < kept:
            raise OSError(errno.EIO, f"{part.name} is shorter than it was")
        fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
        out.truncate(kept)
        out.seek(kept)
        os.set_blocking(fd, True)
    except OSError:
        out.close()
        raise
    return out


def _being_written(part: Path) -> bool:
    """Whether ``part`` is taken: a live fetch's (it holds it), or anything but a file."""
    try:
        fd = os.open(part, os.O_RDONLY | _PART_FLAGS)
    except FileNotFoundError:
        return False
    except OSError:  # a link, or it cannot be told: left alone
        return True
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return True
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:  # held
        return True
    finally:
        os.close(fd)
    return False


def _let_go(fetch: _Fetch) -> None:
    """An unfinished fetch stops, its ``.part`` kept (``Files._fail``)."""
    if fetch.later is not None:
        fetch.later.cancel()
    with contextlib.suppress(OSError):
        fetch.out.close()


def _drop(fetch: _Fetch) -> None:
    """An unfinished fetch ends: its ``.part`` goes while it is still held."""
    if fetch.later is not None:
        fetch.later.cancel()
    with contextlib.suppress(OSError):
        fetch.part.unlink()
    with contextlib.suppress(OSError):  # what was not written yet is not wanted
        fetch.out.close()


async def _hash_file(path: Path) -> tuple[int, bytes, Stamp]:
    """Size and SHA-256 of a regular file, read a piece at a time between checkpoints, and its
    stamp (``_stamp``): one that changed while it was read is refused."""
    if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the node on its first read
        raise OSError(errno.EINVAL, "not a regular file")
    digest = sha256()
    size = 0
    with open(path, "rb") as f:
        before = _stamp(os.fstat(f.fileno()))
        while piece := f.read(HASH_PIECE):
            digest.update(piece)
            size += len(piece)
            await trio.sleep(0)
        if _stamp(os.fstat(f.fileno())) != before or size != before[2]:
            raise OSError(errno.EAGAIN, "it changed while it was read; offer it again")
    return size, digest.finalize(), before


def _saved_nowhere(sha256: bytes, size: int) -> list[tuple[str, int]]:
    """No other room's store (a program of one room)."""
    return []


def _named_so(saved: str, name: str) -> bool:
    """Whether a file ``saved`` under that name is one of ``name`` (``name``, or ``name``
    numbered: ``big (2).bin``). A trial's empty ``__init__.py`` offered was said to be had, as
    the ``empty.txt`` fetched before, and could not be fetched."""
    return saved == name or any(
        saved == numbered(name, int(n)) for n in re.findall(r"\((\d{1,6})\)", saved)
    )


def _size_of(path: Path) -> int | None:
    with contextlib.suppress(OSError):
        return path.stat().st_size
    return None


def typed_path(text: str) -> Path:
    """A path as typed after ``/send``: as it stands, or else as a shell would read it
    (``"my notes.txt"``, ``my\\ notes.txt``), as users of a shell type it."""
    plain = Path(text.strip()).expanduser()
    if plain.exists():
        return plain
    word = shell_word(text)
    return plain if word is None else Path(word).expanduser()


def shell_word(text: str) -> str | None:
    """``text`` as a shell reads one word (``"my notes.txt"``, ``my\\ notes.txt``); None
    when it reads it as several, or not at all (an unclosed quote)."""
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    return words[0] if len(words) == 1 else None


def _holds_at_least(path: str, size: int) -> bool:
    """Whether the part file at ``path`` is still there with ``size`` bytes or more (what
    came after the last note of how far a fetch is: review 58, a killed fetcher's part)."""
    found = _size_of(Path(path))
    return found is not None and found >= size


def _holds(path: str | Path, size: int, mtime_ns: int | None = None) -> bool:
    """Whether a file of ``size`` bytes is at ``path`` (a fetch saved there, not moved since),
    and, given its ``mtime_ns`` then, not changed in place since (attack round 26)."""
    try:
        found = os.stat(path)
    except OSError:
        return False
    changed = mtime_ns is not None and found.st_mtime_ns != mtime_ns
    return stat.S_ISREG(found.st_mode) and found.st_size == size and not changed
