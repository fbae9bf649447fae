"""The node: what the front ends call, the state its parts share, and their tasks.

The trio layer is split by role, one small class per module, each holding this node:

- ``entrance.Entrance``: finding the room and getting in, founding it, rejoining after a freeze;
- ``doorman.Doorman``: incoming connections, up to their hello and admission;
- ``links.Links``: the connections to members: attaching, keepalive, redialling the lost;
- ``tracker_role.TrackerRole``: pings, announcements, rosters and merging parts of the room;
- ``leadership.Leadership``: carrying out the Bully election, watching the tracker.

The protocol logic (``election``, ``chat``, ``membership``, ``redial``, ``admission``) stays
pure. Every task runs in the node's nursery.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from peerchat import PROTOCOL_VERSION, events, history_run
from peerchat.addresses import format_addr, is_loopback, is_wildcard, parse_addr
from peerchat.admission import Admission, Limits
from peerchat.batch import room_tag
from peerchat.chat import Chat, ChatLog
from peerchat.commands import LASTLOG_MOST
from peerchat.config import Config
from peerchat.connection import Connection, node_listed
from peerchat.datadir import DataDir
from peerchat.doorman import Doorman
from peerchat.election import Bully
from peerchat.entrance import Entrance
from peerchat.files import Files
from peerchat.handshake import OPEN_ROOM, LocalKeys
from peerchat.identity import Identity, SeqReservation
from peerchat.ignoring import MAX_IGNORED, Ignored
from peerchat.leadership import Leadership
from peerchat.links import Links
from peerchat.membership import Member, MemberTable
from peerchat.messaging import Messaging, pieces
from peerchat.names import with_marks
from peerchat.protocol import (
    MAX_RECENT,
    Answer,
    Batch,
    Beat,
    Bye,
    Coordinator,
    Election,
    FileAck,
    FileChunk,
    FileGet,
    FileGone,
    FileOffer,
    FileOffers,
    FileStop,
    Hello,
    MemberJoined,
    MemberLeft,
    Message,
    Nick,
    NickRefused,
    Ping,
    Pong,
    Private,
    PrivateAck,
    Probe,
    ProtocolViolation,
    Recent,
    RecentFrom,
    Roster,
    Skip,
    Summary,
    Typing,
    Want,
    encode,
)
from peerchat.read_pace import ReadPace
from peerchat.store import MEMORY, Store
from peerchat.talk import Talk
from peerchat.tracker_address import StartupError, TrackerAddress, bind
from peerchat.tracker_role import TrackerRole
from peerchat.wire import ReceiveBudget, encode_frame

if TYPE_CHECKING:
    from peerchat.discovery import Lan

log = logging.getLogger(__name__)

EARLY_LIMIT = 50_000  # messages held back while entering; past that, shown as they come
OFFERS_HELD = 256  # offers held back for history; past that, shown as they come
RESTART_CHARS = 32_000  # text of the history a restart shows, at most: some 400 rows of 80
# Messages a restart shows from its own store, at most: its user saw them all before (trial
# 58's restart showed 55 lines read a minute before, and its join lines scrolled off the top);
# what was said meanwhile comes from the room after them, and /history N shows more.
RESTART_SHOWN = 20
NAME_REFUSERS = 2  # members refusing this node's name for good that turn it out of the room
FIRST_LAN_SEARCH = 1.0  # seconds after getting in, the first look for a part of the room apart
MAX_OTHER_HOMES = 16  # other rooms under this room's name told of, at most (then no more)
MAX_SECRET_ROOMS_TOLD = 4  # hosts of rooms of this name with a secret told of, at most
MAX_SAID_MEANWHILE = 64  # lines said while rejoining that wait to be said once back


@dataclass(frozen=True, slots=True)
class Settings:
    username: str
    host: str = "127.0.0.1"
    port: int = 0
    tracker_host: str = "127.0.0.1"  # the first --tracker address: where a room is founded
    tracker_port: int = 5000
    priority: int | None = None
    chat: bool = True  # False for `peerchat tracker`: the tracker role without chat
    more_trackers: tuple[tuple[str, int], ...] = ()  # the rest of --tracker, tried in order
    # The room secret's hash (``handshake.room_key``); never the secret itself, never shown.
    psk: bytes = field(default=OPEN_ROOM, repr=False)
    room_name: str = ""  # --room: checked on join; "" joins whatever room is at the address
    downloads: str = ""  # where fetched files go ("": the platform's downloads directory)
    discover: bool = False  # find the room by its name on the local network (``discovery``)
    secret_from: str = "PEERCHAT_SECRET or PEERCHAT_SECRET_FILE"  # for a wrong secret's line
    # Run at a terminal whose shell may stop it and continue it behind itself (the line
    # interface): a freeze is acted on once the program is in front again (``entrance``).
    job_control: bool = False

    @property
    def trackers(self) -> tuple[tuple[str, int], ...]:
        return ((self.tracker_host, self.tracker_port), *self.more_trackers)

    @property
    def advertises(self) -> bool:
        """Whether this node says on the local network that it is in its room: one found by
        name does, and so does a named room's member at a ``--tracker`` address that others
        can dial. Without it, a newcomer given the name alone founded a second room beside one
        started with ``--tracker`` (a user trial)."""
        return self.discover or (bool(self.room_name) and self.chat and not is_loopback(self.host))

    @property
    def tracker_addr(self) -> str:
        return format_addr(self.tracker_host, self.tracker_port)


# Events that may come before history gathered earlier: a notice (a freeze is told before
# what it made this node miss) and receipts of this node's own lines, which would otherwise
# split a run in two (a partition healed: one member's line, "✓ ...", then another's earlier).
# The offers members tell of as they link wait for it instead (``Node._holds_back``).
# Frames their handlers charge to the read pace, knowing more than their size: the chunks a
# fetch does not take (``files.on_chunk``), and a batch's lines (``messaging.on_batch``).
_CHARGED_BY_HANDLER = frozenset({FileChunk, Batch})

_OVERTAKES_HISTORY = (  # (the status bar's alone too: review 71, "bob is typing" split a run;
    # a fetch's progress but as it goes on, which has a line: ``_overtakes_history``)
    events.Typing,
    events.Uploading,
    events.FileProgress,
    events.Error,
    events.Unresponsive,
    events.Saving,
    events.Delivered,
    events.Undelivered,
    events.Unconfirmed,
    events.NotDelivered,
)


def _overtakes_history(event: events.Event) -> bool:
    """Whether ``event`` may come before history gathered earlier (``_OVERTAKES_HISTORY``)."""
    resumed = type(event) is events.FileProgress and event.resumed
    return isinstance(event, _OVERTAKES_HISTORY) and not resumed


class Node:
    def __init__(
        self,
        settings: Settings,
        emit: Callable[[events.Event], None],
        config: Config | None = None,
        data_dir: DataDir | None = None,
        offer_ids: Iterator[int] | None = None,
    ) -> None:
        """``offer_ids``: numbers for file offers, shared by the program's rooms."""
        self.settings = settings
        self.config = config = config or Config()
        self._emit = emit
        self._history = history_run.HistoryRun()  # gathered before ``emit`` shows it
        self._history_shown = 0  # of the run being shown, messages out already (a start's)
        self._history_held: trio.Event | None = None  # set: back from a freeze (``hold_history``)
        self._offers_held: list[events.Event] = []  # shown after the history (``_holds_back``)
        self._ready_at = -float("inf")  # (``time.monotonic``) when ``report_entry`` ran
        self.data_dir = data_dir
        folder = data_dir.path if data_dir is not None else None
        self.identity = Identity.generate() if folder is None else Identity.load_or_create(folder)
        self.numbers = SeqReservation.ephemeral() if folder is None else SeqReservation.load(folder)
        self.node_id = self.identity.node_id
        self.keys = LocalKeys.make(self.identity)  # for the handshake on every connection
        self.members = MemberTable()
        self.store = Store(
            MEMORY
            if data_dir is None
            else data_dir.room_path(settings.trackers, settings.room_name, settings.psk)
        )
        kept = self.store.heads()
        own_last = kept[self.node_id][1] if self.node_id in kept else 0
        # A seq file older than the store (restored from a backup) must not reuse a number.
        self.numbers.skip_past(own_last)
        self.ignored = Ignored(self.store)
        self.chatlog = ChatLog(
            self.node_id,
            config.held_back,
            last_seq=max(self.numbers.first - 1, own_last),
            numbers=self.numbers.next,
        )
        for author, seq in self.store.seen().items():
            self.chatlog.restore(author, seq, 0)
        for author, (_, last, lamport) in kept.items():  # (the latest to come last)
            self.chatlog.restore(author, last, lamport)
        self.budget = ReceiveBudget(config.receive_budget)
        self.read_pace = ReadPace()
        self.listed = node_listed()  # the members all links' rosters may list (``connection``)
        self.admission = Admission(_limits(config))
        self.started = trio.Event()  # in the room (or founded it), ready reported
        self.finished = trio.Event()
        self._starting = trio.CancelScope()
        self.reporting = False  # joins and leaves are reported from ready on
        # Messages that arrive while entering wait for ``ready`` and the history kept here.
        self._early: list[events.Event] | None = []
        self._said_meanwhile: list[tuple[str, bool]] = []  # lines said while rejoining
        self._other_homes: set[str] = set()  # of rooms under this one's name, told of
        self._secret_rooms: set[str] = set()  # hosts of rooms of its name with a secret, told
        self._bye = "quit"  # the reason the goodbye gives
        self.room = ""  # the room's identity: its home address, once founded or joined
        self.room_name = settings.room_name  # a room joined without a name takes the room's
        self.lan: Lan | None = None  # multicast DNS, for a room found by name
        self.discovered: list[tuple[str, int]] = []  # where the local network said it is
        self.me: Member
        self.bully: Bully
        self.nursery: trio.Nursery
        self._quit = trio.Event()
        self._name_refusers: set[str] = set()  # members that refused this node's name for good
        self.refused: StartupError | None = None  # why the room turned this node out
        self.links = Links(self)
        self.store.kept_authors = self._authors_here
        self.doorman = Doorman(self)
        self.tracker_role = TrackerRole(self)
        self.leadership = Leadership(self)
        self.entrance = Entrance(self)
        self.messaging = Messaging(self)
        self.talk = Talk(self)
        downloads = Path(settings.downloads) if settings.downloads else None
        self.files = Files(self, downloads, offer_ids or itertools.count(1))
        self.home_address = self._home_at(settings.tracker_host, settings.tracker_port)
        self._handlers: dict[type, Callable[[Connection, Message], None]] = {
            Batch: self.messaging.on_batch,
            Summary: self.messaging.on_summary,
            Want: self.messaging.on_want,
            Recent: self.messaging.on_want,
            RecentFrom: self.messaging.on_recent_from,
            Skip: self.messaging.on_skip,
            Ping: self.tracker_role.on_ping,
            Pong: _ignore,
            Beat: _ignore,
            Probe: self.links.on_probe,
            Election: self.leadership.on_election,
            Answer: self.leadership.on_answer,
            Coordinator: self.leadership.on_coordinator,
            MemberJoined: self.tracker_role.on_member_joined,
            MemberLeft: self.tracker_role.on_member_left,
            Roster: self.tracker_role.on_roster,
            Bye: self._on_bye,
            Private: self.talk.on_private,
            PrivateAck: self.talk.on_private_ack,
            Nick: self.talk.on_nick,
            NickRefused: self.talk.on_nick_refused,
            Typing: self.talk.on_typing,
            FileOffer: self.files.on_offer,
            FileGet: self.files.on_get,
            FileChunk: self.files.on_chunk,
            FileGone: self.files.on_gone,
            FileStop: self.files.on_stop,
            FileOffers: self.files.on_offers,
            FileAck: self.files.on_ack,
        }

    # -- public: what the front ends call ----------------------------------------------------

    def say(self, text: str, *, action: bool = False) -> None:
        """A message to the room; ``action``: a ``/me`` line."""
        if not self.reporting or self.entrance.rejoining:  # (a freeze seen, its rejoin to come:
            # said now, a line went on the old links and came to the others as history)
            # Joining, or rejoining after a freeze: the connections are being made anew, and a
            # message numbered now would leave a gap for peers whose hello came before it.
            # Rejoining, it is said once back in (trial 55: a line typed right after fg, before
            # the screen knew of the freeze, was refused and lost, 2 of 16).
            if self.started.is_set() and len(self._said_meanwhile) < MAX_SAID_MEANWHILE:
                self._said_meanwhile.append((text, action))
                self.emit(events.Error("not back in the room yet (rejoining): said once back"))
                return
            why = "rejoining" if self.started.is_set() else "joining"
            self.emit(events.Error(f"not in the room right now ({why}); message not sent"))
            return
        said = pieces(text)
        if isinstance(said, events.Error):
            self.emit(said)
            return
        for piece in said:
            message = self.messaging.say(piece, action=action)
            if message is None:
                return
            unreachable = self.links.unreachable()
            if unreachable:
                self.emit(events.Undelivered(self.me, message.seq, tuple(unreachable)))

    async def say_what_waited(self) -> None:
        """Back in the room after a freeze: say the lines that waited for it, in order, once
        the links' first frames are read (said at once, they came to the others as history)."""
        await trio.sleep(0)
        waited, self._said_meanwhile = self._said_meanwhile, []
        for text, action in waited:
            self.say(text, action=action)

    async def wait_sendable(self) -> None:
        """Hold a fast sender back while a peer's queue fills, rather than cut that peer off.

        A peer that does not drain within ``send_wait`` is not waited for again until
        it has caught up: its queue limit deals with it, so one stuck peer cannot stall the
        room, not even one that reads just enough to stay under that limit (an attacker held
        each line a second so).
        """
        limit = self.config.send_queue // 4
        behind = []
        for conn in self.links.conns.values():
            if conn.backlog <= limit:
                conn.outwaited = False
            elif not conn.outwaited:
                behind.append(conn)
        if not behind:
            return
        with trio.move_on_after(self.config.send_wait):
            for conn in behind:
                while conn.backlog > limit:
                    await conn.drained()
        for conn in behind:
            conn.outwaited = conn.backlog > limit

    def history(self, count: int) -> None:
        """Show the last ``count`` messages of the store (``/history``), ``MAX_RECENT`` at
        most, and say so when there were more (a user asked for 5,000, got 1,000 and took
        that for all)."""
        kept = self.messaging.recent(min(count, MAX_RECENT))
        self._show_kept(kept, "no messages kept yet")
        if count > len(kept) == MAX_RECENT:
            self.after_ready(events.Error(f"the last {MAX_RECENT}: /history shows no more"))

    def lastlog(self, text: str) -> None:
        """Show the messages of the store's last ``MAX_RECENT`` whose words or sender's name
        hold ``text``, in any case (``/lastlog``, irssi's): the latest ``LASTLOG_MOST``."""
        wanted = text.casefold()
        said = [
            (sender, chat, own)
            for sender, chat, own in self.messaging.recent(MAX_RECENT)
            if wanted in chat.text.casefold() or wanted in sender.username.casefold()
        ]
        shown = said[-LASTLOG_MOST:]
        self.after_ready(events.Found(text, len(shown), len(said)))
        self._show_kept(shown, found=text)

    def _show_kept(
        self, kept: list[tuple[Member, Chat, bool]], none: str = "", found: str | None = None
    ) -> None:
        """``kept`` as history, at once and in the store's order (an answer to the user), and
        where it ends (trial 67's bot had no end); ``none`` said when there is nothing;
        ``found``: the text of the ``/lastlog`` they answer."""
        if not kept and none:
            self.emit(events.Error(none))
        for sender, chat, own in kept:
            self.after_ready(_message(sender, chat, own=own, history=True, kept=True))
        if kept:
            self.after_ready(events.HistoryEnd(len(kept), found))

    def private(self, name: str, text: str) -> None:
        self.talk.private(name, text)

    def nick(self, name: str) -> None:
        self.talk.nick(name)

    def typing(self, *, done: bool = False) -> None:
        self.talk.typing(done=done)

    def send_file(self, words: str) -> None:
        self.files.send(words)

    def get_file(self, id: int | str) -> None:
        """``/get ID`` or ``/get NAME``; a number no offer has may be a file's name (review 68:
        a file called 2024 could not be fetched by name)."""
        if isinstance(id, int) and not self.files.numbered(id) and self.files.named(str(id)):
            id = str(id)
        if isinstance(id, str):
            self.files.get_named(id)
        else:
            self.files.get(id)

    def cancel_file(self, id: int) -> None:
        self.files.cancel(id)

    def list_files(self) -> None:
        self.emit(self.files.listing())

    def who(self) -> None:
        everyone = (self.shown_me(), *sorted(self.members, key=lambda m: (m.username, m.node_id)))
        away = [m for m in self.links.unreachable() if self.members.get(m.node_id) is None]
        away.sort(key=lambda m: (m.username, m.node_id))
        ignored = frozenset(m.node_id for m in everyone if m.node_id in self.ignored)
        self.emit(events.Who(everyone, self.bully.tracker, self.node_id, tuple(away), ignored))

    def whois(self, name: str) -> None:
        me = self.shown_me()
        everyone = (me, *self.members)
        here = self.talk.find(name, everyone)
        unsure = here is None and len(self.talk.namesakes(name, everyone)) > 1  # (``addressee``)
        away = None if here or unsure else self.talk.find(name, self.links.unreachable())
        member = here or away
        if member is None:
            self.emit(events.Error(self.talk.not_found(name, everyone)))
            return
        tracker = member.node_id == self.bully.tracker
        you, gone = member.node_id == me.node_id, away is not None
        self.emit(events.Whois(member, tracker, you, gone, self.room_name))

    def ignore(self, name: str) -> None:
        """``/ignore [NAME]``: hide a member's words and offers from now on (``ignoring``);
        without a name, list those hidden."""
        if not name:
            self.emit(events.Ignoring(tuple(self.ignored.names())))
            return
        me = self.shown_me()
        everyone = (me, *self.members)
        member = self.talk.find(name, everyone) or self.talk.find(name, self.links.unreachable())
        # Else the key that went by the name here last (a trial: one who had left, and would
        # flood on coming back, could not be ignored).
        node_id = member.node_id if member is not None else self.store.owner(name)
        shown = member.username if member is not None else name
        if node_id is None:
            self.emit(events.Error(self.talk.not_found(name, everyone)))
        elif node_id == me.node_id:
            self.emit(events.Error("that is you"))
        elif node_id in self.ignored:
            self.emit(events.Error(f"{shown} is ignored here already (/unignore {shown})"))
        elif not self.ignored.add(node_id, shown):
            self.emit(events.Error(f"{MAX_IGNORED} ignored already: /unignore one first"))
        else:
            self.emit(events.Ignoring(tuple(self.ignored.names()), shown, node_id))

    def unignore(self, name: str) -> None:
        """``/unignore NAME``: hear a member again, by the name it has here now, or had when
        last seen."""
        node_id = self.ignored_key(name)
        if node_id is None:
            listed = ", ".join(self.ignored.names())  # ("ignored: nobody" read oddly of a
            # member named nobody: a trial)
            whom = f"ignored: {listed}" if listed else "nobody is"
            self.emit(events.Error(f"{name} is not ignored here ({whom})"))
            return
        was = self.ignored.remove(node_id)
        known = (*self.members, *self.links.unreachable())
        shown = next((m.username for m in known if m.node_id == node_id), was)
        self.emit(events.Ignoring(tuple(self.ignored.names()), shown, node_id, on=False))

    def ignored_key(self, name: str) -> str | None:
        """The key of the member ignored here that goes by ``name`` now, or went by it when
        last seen; None for none."""
        member = self.talk.find(name, (*self.members, *self.links.unreachable()))
        if member is not None and member.node_id in self.ignored:
            return member.node_id
        return self.ignored.named(name)

    def name_refused(self, by: str, reason: str) -> None:
        """A member at ``by`` refused this node's name for good. For a node the tracker turned
        away and a member let in, two such members are the room's word, or every member but
        the one that let it in when there are fewer: it leaves the room. (A user trial:
        refused by the tracker, which knew the name under another key, a node was let in by a
        member that joined later and did not; every other member refused its links, over and
        over, and the room split. Two parts of a room that meet with one name on each side are
        told of the clash instead: neither is turned out.)"""
        if not self.entrance.let_in_by_member:
            self.doorman.tell_of_refusal(by)
            return
        self._name_refusers.add(by)
        enough = min(NAME_REFUSERS, max(len(self.members) - 1, 1))
        if len(self._name_refusers) >= enough and self.refused is None:
            self.refused = StartupError(f"the room refused this node: {reason}")
            self.quit("refused")

    def quit(self, reason: str = "quit") -> None:
        """Leave the room, saying ``reason`` in the goodbye."""
        self._bye = reason
        self._quit.set()
        if not self.started.is_set():
            self._starting.cancel()

    @property
    def leaving(self) -> bool:
        return self._quit.is_set()

    @property
    def room_tag(self) -> bytes:
        """What this room's batches name it by (``batch.room_tag``): by its name as learnt
        on entering, for a room joined at an address without one, or its home."""
        return room_tag(self.room_name, self.room, self.settings.psk)

    @property
    def username(self) -> str:
        """The name this node goes by: the one it was started with until it is in the room,
        then its own, which ``/nick`` changes."""
        me = getattr(self, "me", None)  # set once the node listens
        return self.settings.username if me is None else me.username

    # -- lifetime -----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Enter the room, report ready, and serve until ``quit()``; then say goodbye."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self.settings.advertises:  # zeroconf is loaded only for this (about 14 MiB)
                    self.lan = await self._open_lan(stack)
                async with trio.open_nursery() as nursery:
                    self.nursery = nursery
                    with self._starting:  # quit() while joining gives up the join
                        await self._start(nursery)
                    task_status.started()
                    if self.started.is_set():
                        await self._quit.wait()
                        await self._say_goodbye()
                    nursery.cancel_scope.cancel()
            if self.refused is not None:
                raise self.refused
        finally:
            self.files.close()
            self.messaging.save()
            self.store.all_left(time.time())
            self.store.close()
            self.numbers.close()
            try:
                self._show_history(marked=False)  # what was gathered when told to end
            finally:
                self.finished.set()

    async def _open_lan(self, stack: contextlib.AsyncExitStack) -> Lan | None:
        """Multicast DNS for the room. A room found by name cannot do without it; one at a
        ``--tracker`` address goes on unadvertised (said in the log)."""
        from peerchat.discovery import open_lan

        try:
            return await stack.enter_async_context(open_lan(self.room_name, self.settings.psk))
        except StartupError as exc:
            if self.settings.discover:
                raise
            log.warning("%s; room %s is not advertised", exc, self.room_name)
            return None

    async def _start(self, nursery: trio.Nursery) -> None:
        s = self.settings
        listeners = await self._bind_own()
        port = listeners[0].socket.getsockname()[1]
        priority = s.priority if s.priority is not None else port
        self.me = Member(self.node_id, s.username, s.host, port, priority, s.chat)
        self.bully = Bully(self.me, self.members, self.config)
        # Before any link; the latest that fit a terminal's scrollback (a user trial's 100
        # held long pastes: 2,399 rows, and its start lines were gone from tmux's 2,000).
        shown = min(self.config.history, RESTART_SHOWN)
        kept = self.messaging.recent(shown, RESTART_CHARS) if s.chat else []
        nursery.start_soon(self.doorman.serve, listeners)
        if not s.chat:  # `peerchat tracker`: holding the home address is its whole point
            try:
                held = await bind(s.tracker_host, s.tracker_port)
            except StartupError as exc:  # (a user trial's, started again after a kill -9)
                room = "if the room runs there, a member holds its address now: the room goes on"
                raise StartupError(f"{exc} ({room})", exc.status) from None
            self.found_room(held)
        else:
            if self.lan is not None and s.discover:
                home = str(self.home_address)  # a room found by name has one of its own
                self.emit(events.Looking(self.room_name))
                self.discovered = await self.lan.find(self.config.discover_wait, home)
                log.info("the local network has room %s at %s", self.room_name, self.discovered)
            await self.entrance.enter(self.config.found_after)
        self.entrance.tick()
        for task in (
            self.leadership.election_timer,
            self.leadership.watch_tracker,
            self.tracker_role.duties,
            self.links.redial_lost,
            self.links.watch_acknowledged,
            self.files.watch_fetches,
            self.entrance.watch_stall,
            self.entrance.rejoin_when_stalled,
            self.messaging.sealer,
            self.messaging.keep_store,
            self.messaging.watch_wants,
        ):
            nursery.start_soon(task)
        if self.data_dir is not None:
            nursery.start_soon(self._remember_peers)
            self.data_dir.answer_to(self.username)  # (a room /joined after a /nick)
        if self.lan is not None:
            me = self.me
            nursery.start_soon(self.lan.advertise, self.node_id, me.host, me.port, self.room)
        if self.lan is not None and s.discover:  # (a part founded by name at a --tracker
            # room's members would be another room: its home, and so its identity, differs)
            nursery.start_soon(self._meet_on_lan, self.lan)
        role = "tracker" if self.bully.is_tracker else "peer"
        private = self.settings.psk != OPEN_ROOM
        # Back under another name than it went by here last (the command line's, after a
        # /nick): the others read "... joined (...; was fred)", and so does its user (trial 48).
        was = self.store.went_by(self.node_id) or ""
        was = "" if was == self.username else was
        self.store.going_by(self.node_id, self.username)  # (told once: trial 53, 4 times)
        self.emit(events.Ready(self.shown_me(), role, self.room_name, private, was))
        self.leadership.report_tracker()
        self.emit(events.InRoom(tuple(self.members)))
        if role == "tracker" and self.lan is not None and self.lan.others and not self.members:
            others, private = self.lan.others, self.lan.others_private
            self.emit(events.RoomsFound(others, new=self.room_name, private=private))  # (a typo?)
        self.report_entry(kept)
        self.reporting = True
        self.started.set()

    async def _say_goodbye(self) -> None:
        self.messaging.send_outbox()
        with trio.move_on_after(self.config.goodbye_timeout):
            frame = encode_frame(encode(Bye(self._bye)))
            for conn in list(self.links.conns.values()):
                conn.send_frame(frame)
                conn.finish()
            while self.links.conns:
                await self.links.changed()
        self._save_peers()

    async def _bind_own(self) -> list[trio.SocketListener]:
        """This node's own listener. A port the system picks may be one of the ``--tracker``
        ports, free just now: the node would then look for its room at itself (seen in CI,
        where tests pick free ports for the room). It picks again."""
        s = self.settings
        for _ in range(8):
            listeners = await bind(s.host, s.port)
            port = listeners[0].socket.getsockname()[1]
            if s.port or all(p != port for _, p in s.trackers):
                break
            for listener in listeners:
                await listener.aclose()
        return listeners

    # -- the room -----------------------------------------------------------------------------

    @property
    def home(self) -> tuple[str, int]:
        return self.home_address.host, self.home_address.port

    def found_room(self, listeners: list[trio.SocketListener]) -> None:
        log.info("nobody at %s: this node founds the room", str(self.home_address))
        self.room = str(self.home_address)
        self.home_address.hold(self.nursery, listeners)
        self.leadership.act(self.bully.follow(self.node_id, self.me.priority), announce=False)

    def join_room(self, room: str) -> None:
        """The room's identity, as its tracker gave it: its home address from now on."""
        self.room = room
        parsed = parse_addr(room)
        if parsed is not None and parsed != self.home:
            self.home_address.release()
            self.home_address = self._home_at(*parsed)

    def hold_home(self, *, as_member: bool = False, standby: bool = False) -> None:
        self.home_address.hold(self.nursery, None, as_member=as_member, standby=standby)

    def release_home(self) -> None:
        self.home_address.release()

    def _home_at(self, host: str, port: int) -> TrackerAddress:
        return TrackerAddress(host, port, self.config, self.doorman.accept, self.tracker_role.knock)

    def candidates(self) -> list[tuple[str, int]]:
        """Where to look for the room: where the local network said it is, ``--tracker`` in
        order, then the remembered members."""
        out = [*self.discovered, *(a for a in self.settings.trackers if a not in self.discovered)]
        if self.data_dir is not None:
            out += [a for a in self.data_dir.peers(self.settings.trackers) if a not in out]
        return out

    # -- links --------------------------------------------------------------------------------

    def hello(
        self,
        conn: Connection,
        peer: str | None = None,
        *,
        join: bool = False,
        direct: bool = False,
    ) -> Hello:
        """Our hello on ``conn`` to ``peer`` (when known). Its number, our last message before
        the link, is where the peer starts if it never heard us; what we say later it gets live
        or fetches (``messaging``). For a member listed before it was linked, the number is our
        last message when it was listed: what it missed meanwhile is fetched too. ``join`` and
        ``direct``: see ``Hello``."""
        m = self.me
        self.messaging.send_outbox()  # the number in the hello counts only what was sent
        return Hello(
            PROTOCOL_VERSION,
            m.node_id,
            m.username,
            self.advertised_host(conn),
            m.port,
            m.priority,
            m.chat,
            self.links.listed_at(peer),
            join,
            self.room,
            self.bully.tracker or "",
            self.room_name,
            direct,
        )

    def advertised_host(self, conn: Connection) -> str:
        """The address others are told to dial: ``--host``, or for a wildcard the address by
        which this link reached the peer."""
        host = self.me.host
        return (conn.local_host or host) if is_wildcard(host) else host

    def shown_me(self) -> Member:
        """This node as its user sees it: one listening on every interface by the first
        address the local network is told (a room found by name), else by the address a link
        of its reaches its peer by (a user trial read "you are bob at 0.0.0.0:43055"); at
        0.0.0.0 only while it has neither."""
        if not is_wildcard(self.me.host):
            return self.me
        if self.lan is not None:
            hosts = self.lan.addresses(self.me.host)
        else:
            hosts = [c.local_host for c in self.links.conns.values() if c.local_host]
        return dataclasses.replace(self.me, host=hosts[0]) if hosts else self.me

    def me_on(self, conn: Connection) -> Member:
        """This node as the peer on ``conn`` should list it (``advertised_host``)."""
        host = self.advertised_host(conn)
        return self.me if host == self.me.host else dataclasses.replace(self.me, host=host)

    def told_on(self, conn: Connection, member: Member) -> Member:
        """``member`` as the peer on ``conn`` should dial it. One listed here at a loopback
        address is on this computer (it came in over loopback): a peer on another reaches it
        at this node's own address there (a user trial's newcomers on other computers were
        told 127.0.0.1, their own, for a member and for the tracker)."""
        here = self._reached_at(conn)
        return dataclasses.replace(member, host=here) if here and self._here(member) else member

    def listed_on(self, conn: Connection) -> tuple[Member, ...]:
        """The room as the peer on ``conn`` should dial it (``told_on``), this node first."""
        here = self._reached_at(conn)
        members = [
            dataclasses.replace(m, host=here) if here and self._here(m) else m for m in self.members
        ]
        return (self.me_on(conn), *members)

    def _reached_at(self, conn: Connection) -> str:
        """This node's address as the peer on ``conn``, on another computer, reaches it; ""
        for a peer on this one."""
        local = conn.local_host
        return "" if not local or is_loopback(local) else self.advertised_host(conn)

    def _here(self, member: Member) -> bool:
        """Whether ``member`` is on this computer: listed at a loopback address, and linked
        from this computer (one linked from another that says so is warned, as its peers are:
        ``Links._warn_about_addresses``; and one not linked now may have been such a one)."""
        if not is_loopback(member.host):
            return False
        link = self.links.conns.get(member.node_id)
        return link is not None and not link.address

    def add_member(self, member: Member) -> bool:
        """Record a member (True when new), letting in its connection if one waits for that."""
        new = self.members.add(member)
        if new:
            self.links.listed(member)
        self.doorman.announced(member.node_id)
        return new

    def dispatch(self, conn: Connection, message: Message) -> None:
        kind = type(message)
        handler = self._handlers.get(kind)
        if handler is None:
            raise ProtocolViolation(f"{kind.__name__} is not expected after the hello")
        if kind not in _CHARGED_BY_HANDLER:
            self.read_pace.charge(conn, conn.frame_size, trio.current_time(), kind)
        handler(conn, message)

    def report_entry(self, kept: list[tuple[Member, Chat, bool]]) -> None:
        """Once ``ready`` is out: the history kept here, then what came while entering, its
        history gathered and shown in the order it was said, like history after ``ready``."""
        early, self._early = self._early or [], None
        self._ready_at = time.monotonic()
        for sender, chat, own in kept:  # first, in the store's order
            kept_here = _message(sender, chat, own=own, history=True, kept=True)
            self._history_shown += self._out(kept_here)
        for event in early:
            if type(event) is events.MessageReceived and event.history:
                self._history.add(event)
            elif type(event) is events.FileOffered and not event.own and self._may_hold():
                self._hold_offer(event)  # after all of it (trial 70: before a restart's history)
            else:
                self.emit(event)  # after the history gathered before it
        self._show_history()

    def after_ready(self, event: events.Event) -> None:
        """Report ``event``, or while entering keep it until ``ready`` and the history kept
        here are out (up to ``EARLY_LIMIT`` kept; past that, reported at once)."""
        early = self._early
        (self.emit if early is None or len(early) >= EARLY_LIMIT else early.append)(event)

    @property
    def emit(self) -> Callable[[events.Event], None]:
        """Report an event to the front end. History gathered meanwhile goes first, so that
        no event (a live line, a leave, a rename) overtakes what was said before it; notices
        may (``_OVERTAKES_HISTORY``): a freeze is told before what it made this node miss."""
        return self._report

    @emit.setter
    def emit(self, emit: Callable[[events.Event], None]) -> None:
        self._emit = emit

    def _report(self, event: events.Event) -> None:
        held = self._history_held is not None
        if self._holds_back(event, held):
            self._hold_offer(event)
            return
        if type(event) is events.OfferWithdrawn and self._offers_held:
            unshown = [e for e in self._offers_held if not _withdraws(event, e)]
            if len(unshown) < len(self._offers_held):  # neither shown: it is gone
                self._offers_held = unshown
                return
        if self._history and not held and not _overtakes_history(event):
            self._show_history()
        self._out(event)

    def hold_history(self) -> None:
        """Back from a freeze: what the old links still bring is shown with what the rejoin
        fetches, in one run (``release_history``), not before it (a user trial: bob's 32 lines,
        then alice's 37 said among them). Events overtake it meanwhile."""
        if self._history_held is None:
            self._history_held = trio.Event()

    def release_history(self) -> None:
        """The rejoin's history is on its way: what was held is shown once it is in."""
        if self._history_held is not None:
            self._history_held.set()
            self._history_held = None

    def _out(self, event: events.Event) -> bool:
        """Hand ``event`` to the front end, with members that share a name marked
        (``Talk.marks``); False when it is not to be shown (ignored)."""
        shown = self.ignored.shown(event)
        if shown is None:
            return False
        event, marks = shown, self.talk.marks()
        self._emit(with_marks(event, marks) if marks else event)
        return True

    def show(self, sender: Member, chat: Chat, *, own: bool, history: bool = False) -> None:
        """Report a message. History after ``ready`` is gathered for a moment and shown in the
        order it was said (``history_run``)."""
        event = _message(sender, chat, own=own, history=history)
        if history and self._early is None:
            if self._history.add(event):
                self.nursery.start_soon(self._show_history_soon, self._history.number)
            return
        self.after_ready(event)

    async def _show_history_soon(self, run: int) -> None:
        await trio.sleep(history_run.GATHER)
        # In the moment after ``ready``, what a join asked for comes in one run (trial 75: a
        # newcomer read 63 lines, "earlier messages end here", then 37 more among them)
        while self._history.number == run and self._asked_entering():
            await trio.sleep(history_run.GATHER)
        if (held := self._history_held) is not None:
            # Nobody answers: shown anyway, after HELD_MOST of this loop running. Counted a
            # step at a time, so that a stop in between (behind the shell) counts as one step.
            for _ in range(history_run.HELD_STEPS):
                with trio.move_on_after(history_run.GATHER):
                    await held.wait()
                if held.is_set():
                    break
            if self._history_held is held:  # (not a hold taken since)
                self._history_held = None
            await trio.sleep(history_run.GATHER)
        if self._history.number == run:  # still the run it was set for (not shown early)
            self._show_history()

    def _show_history(self, *, marked: bool = True) -> None:
        """The history gathered, and where its run ends (with the kept history a start showed
        just before it: ``report_entry``); ``marked``: not as the node ends (review 61: "in the
        room: ..." after one's own goodbye)."""
        shown = self._history_shown + sum(self._out(event) for event in self._history.take())
        self._history_shown = 0
        if shown and marked:
            self._out(events.HistoryEnd(shown))

    def _holds_back(self, event: events.Event, held: bool) -> bool:
        """Whether ``event`` is a member's offer to show after the history this node is
        catching up on, not inside it (trial 66: at a restart, an offer told as the links came
        up was shown between the history kept here and what those links brought)."""
        offer = type(event) is events.FileOffered and not event.own
        return offer and self._catching_up(held) and self._may_hold()

    def _may_hold(self) -> bool:
        """Whether another offer may be held back: ``OFFERS_HELD`` at most, before ``ready``
        too (attack round 51 read that those heard while entering were held without a bound,
        each withdrawal looking through them all)."""
        return len(self._offers_held) < OFFERS_HELD

    def _catching_up(self, held: bool) -> bool:
        """History is gathered, or held back, or asked for in the moment after ``ready``: not
        any time a want is out (review 66: one that a member never answered held every offer
        of the room back 5 s, and lines said after it came first)."""
        return bool(self._history) or held or self._asked_entering()

    def _asked_entering(self) -> bool:
        """Whether history asked for in the moment after ``ready`` is yet to come."""
        starting = time.monotonic() - self._ready_at < history_run.HELD_MOST
        return starting and (not self.messaging.puller.idle or self.messaging.awaits_recent)

    def _hold_offer(self, event: events.Event) -> None:
        if not self._offers_held:
            self.nursery.start_soon(self._show_offers_once_caught_up)
        self._offers_held.append(event)

    async def _show_offers_once_caught_up(self) -> None:
        """The offers held back, once the history asked for is in and shown: looked at every
        ``GATHER``, for ``HELD_MOST`` at most (a member that never answers)."""
        for _ in range(history_run.HELD_STEPS):
            await trio.sleep(history_run.GATHER)
            if not self._catching_up(self._history_held is not None):
                break
        self._show_offers_held()

    def _show_offers_held(self) -> None:
        held, self._offers_held = self._offers_held, []
        for event in held:
            self._out(event)

    def rename(self, username: str) -> None:
        """This node goes by ``username`` from now on (``talk.nick``), and a restart under
        it finds its data dir."""
        self.me = self.bully.me = dataclasses.replace(self.me, username=username)
        self.store.going_by(self.node_id, username)
        if self.data_dir is not None:
            self.data_dir.answer_to(username)

    def _on_bye(self, conn: Connection, message: Bye) -> None:
        conn.said_bye = True
        conn.abort(message.reason)

    def met_another_room(self, name: str, home: str, host: str) -> None:
        """A node of another room under this room's name, at ``host``, reached this one or was
        reached: tell the user, once for each such room (by its home). Two rooms may share a
        name; but in an open room, a stranger's room posing as this one on the local network
        took in newcomers, cut off from the real room with no word to them (attack round
        23). The homes are left out of the words: a room's found by name is on loopback, and
        another's may be any text (attack round 24)."""
        if not name or name != self.room_name or home in self._other_homes:
            return
        if len(self._other_homes) >= MAX_OTHER_HOMES:
            return
        self._other_homes.add(home)
        log.warning(
            "another room called %s, at %s (its home %s; ours %s)", name, host, home, self.room
        )
        who = ", ".join(m.username for m in self.members if m.chat) or "nobody else"
        self.after_ready(
            events.Error(
                f"another room called {name} answers on the local network, at {host}: two rooms "
                f"share the name, or someone poses as this one ({who} here). If someone you "
                "expect is missing here, compare keys with /whois NAME (a room with a secret "
                "cannot be posed as)"
            )
        )

    def _authors_here(self) -> set[str]:
        """The keys in the room, or away from it, and this node's: names bound to them are
        not pruned (``Store.kept_authors``)."""
        here = {m.node_id for m in self.members} | {m.node_id for m in self.links.redial}
        return here | {self.node_id}

    def met_secret_room(self, host: str) -> None:
        """A node at ``host`` answered the search for this room's name, and its room has a
        secret, or another one than this room's: tell the user, once for each host. Trial 54:
        one without the secret who typed /join ops as another did founded an open ops beside
        the team's, and nobody was told (the search had heard nobody in time)."""
        # Told apart from the rooms posing as this one, and fewer: anything that answers a
        # handshake with a refusal sets it off, and 16 such used up the warnings of a room
        # posing as this one (attack round 39 F4).
        told = self._secret_rooms
        if not self.room_name or host in told or len(told) >= MAX_SECRET_ROOMS_TOLD:
            return
        told.add(host)
        name = self.room_name
        log.warning("a room called %s with another secret answers at %s", name, host)
        if self.settings.psk == OPEN_ROOM:
            said = (
                f"a room called {name} with a secret answers on the local network, at {host}: "
                f"this {name} is another room, with none, open to anyone here. If you meant that "
                f'one: /part {name}, put its secret in the file for {name} (README, "Private '
                f'rooms"), then /join {name}'
            )
        else:
            said = (
                f"a room called {name} with another secret, or none, answers on the local "
                f"network, at {host}: two rooms share the name, and only yours has your secret"
            )
        self.after_ready(events.Error(said))

    async def _meet_on_lan(self, lan: Lan) -> None:
        """Now and then the tracker looks for members of its room on the local network that
        it does not know: a part of the room founded apart (two people who started at the
        same moment), which it meets and merges with. Soon after it got in, when that is
        likeliest, then less and less often (1, 2, 4 s, ... up to ``discover_interval``)."""
        pause = min(FIRST_LAN_SEARCH, self.config.discover_interval)
        while True:
            await trio.sleep(pause)
            pause = min(2 * pause, self.config.discover_interval)
            if not self.bully.is_tracker:
                continue
            known = {(m.host, m.port) for m in (self.me, *self.members)}
            known |= {(a, self.me.port) for a in lan.addresses(self.me.host)}
            try:
                found = await lan.find(self.config.discover_wait)
            except Exception:  # zeroconf's own trouble: the next search may go better
                log.warning("searching the local network failed", exc_info=True)
                continue
            async with trio.open_nursery() as meeting:  # at once: a stranger's 64 dead
                # answers, met one after the other, took 3 s each, and a part of the room
                # founded apart under its flood stayed apart (attack round 18)
                for host, port in found:
                    if (host, port) not in known:
                        meeting.start_soon(self.links.meet, host, port)  # (one linked: nothing)

    # -- remembered peers ---------------------------------------------------------------------

    async def _remember_peers(self) -> None:
        while True:
            await trio.sleep(self.config.remember_interval)
            self._save_peers()

    def _save_peers(self) -> None:
        if self.data_dir is None or not self.room:
            return
        proved = self.links.proved
        known = [m.node_id for m in self.members if m.chat or m.node_id == self.bully.tracker]
        known += [m.node_id for m in self.links.redial]
        for gone in proved.keys() - set(known):
            del proved[gone]
        addrs = [proved[n] for n in dict.fromkeys(known) if n in proved]
        try:
            self.data_dir.remember(self.settings.trackers, self.room, addrs)
        except OSError as exc:
            log.warning("cannot save the remembered peers: %s", exc)


def _message(
    sender: Member, chat: Chat, *, own: bool, history: bool, kept: bool = False
) -> events.MessageReceived:
    return events.MessageReceived(
        sender,
        chat.seq,
        chat.lamport,
        chat.text,
        chat.time,
        chat.mono,
        time.monotonic(),
        own,
        history,
        chat.action,
        kept=kept,
    )


def _withdraws(withdrawn: events.OfferWithdrawn, event: events.Event) -> bool:
    """Whether ``withdrawn`` is the end of the offer ``event``."""
    return (
        type(event) is events.FileOffered
        and event.id == withdrawn.id
        and withdrawn.sender is not None
        and event.sender.node_id == withdrawn.sender.node_id
    )


def _ignore(conn: Connection, message: Message) -> None:
    """Pongs and beats only show that the link is alive, which reading them already did."""


def _limits(config: Config) -> Limits:
    """The configured caps, with all connections kept below the descriptor limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = config.max_connections
    if soft != resource.RLIM_INFINITY:
        room = max(1, min(room, soft - config.spare_descriptors))
    return Limits(room, min(config.max_pending, room), min(config.max_pending_per_address, room))
