"""Saying, receiving, keeping and catching up on messages: the trio side of ``chat``, ``batch``,
``store`` and ``sync``.

What this node says waits in an outbox until the task that seals it runs (at the next
checkpoint): everything said meanwhile goes out as one signed batch, to every linked member, and
into the store. A batch handed on by another member is shown only if its author's signature
holds. A batch that comes from its author over the author's own link, live or from its store,
is taken without that check (some 0.1 ms): the link's handshake proved the author's key, so the
signature adds nothing here; such a batch is kept as unchecked and checked once before it is
first handed on, so that no member passes on a forgery.

Every link begins with both ends telling what they hold (``Summary``); each asks for what it
lacks (``Want``, planned by ``sync``), and the answers come from the store, paced, marked as
old: after a crash, a freeze or a partition the node shows what it missed, as history, once and
in each author's order.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import math
import random
import sqlite3
import time
import weakref
from collections import deque
from collections.abc import Collection, Iterable

import trio

from peerchat import batch, events, read_pace
from peerchat.admission import Pace, Paces
from peerchat.batch import Batch, open_batch, seal
from peerchat.bounded import keep_latest
from peerchat.chat import Chat
from peerchat.connection import Connection
from peerchat.history_run import said_order
from peerchat.membership import Member
from peerchat.names import marked, needs_fingerprint, skeleton
from peerchat.protocol import (
    MAX_HEADS,
    MAX_TEXT,
    ProtocolViolation,
    Recent,
    RecentFrom,
    Skip,
    Summary,
    Want,
)
from peerchat.protocol import (
    Batch as BatchFrame,
)
from peerchat.retention import Retention
from peerchat.sync import Puller, Request, Turns, beyond
from peerchat.unstored import Unstored

log = logging.getLogger(__name__)

MAX_PIECES = 16  # messages a long paste may take: 256 Ki characters
SAID_KEPT = 1024  # our latest messages' times, for what a link lost unawares may lack
MAX_NAMES = 10_000  # names of authors no longer in the room, kept for showing held messages
# Bytes of batches a link may be handed again (asked for twice over it): at once (as much as
# a node holds back behind gaps, ``Config.held_bytes``), then a second
HANDED_AGAIN_AT_ONCE = 8 << 20
HANDED_AGAIN_PER_SECOND = 256 << 10
MAX_HANDED = 1024  # members whose handed history is remembered, the one asked last kept
# Batches an answer (a want's, or the recent history) takes from the store at once, and holds
# until the asker has taken them: a page of 1,000 lines of 16,384 characters was 48 MB held
# for each slow reader (attack round 36: 16 keys, 42 MiB -> 2.3 GiB). The asker of a want asks
# again for the rest; the recent history is what fits.
ANSWER_BYTES = 1 << 20
# Bytes of batches the members at one address (but this computer's) are handed in answer to
# wants: at once, then a second. Keys cost nothing: 8 fresh keys each asked for an author's
# whole history and were handed 16 MB apiece for 184 bytes of wants (attack round 29). An
# answer past the pace stops where it is (the want times out, and is asked again): one that
# waited held its page, and the debt of keys that asked and left grew without bound (a
# review). The recent history a link asks for once is not counted: a newcomer needs it. At 1
# MiB a second, 16 keys of one address asking again and again took an 8 Mbit/s uplink's worth,
# and this node's lines to the others on it waited 0.2-0.4 s behind (attack round 48).
HANDED_ADDRESS_AT_ONCE = 16 << 20
HANDED_ADDRESS_PER_SECOND = 256 << 10
# Answers under way at once, all links together: each holds its batches and their frames till
# its asker has taken them. 200 fresh keys that each asked for the recent history and read
# nothing held 5 MB apiece, 1 GB, and most of it stayed with the process after their links were
# gone (attack round 46). The others wait their turn, and while one waits, an answer whose
# asker has not taken the last ``LOT_BYTES`` queued within ``ANSWER_STALL`` s stops where it is
# (a want's asker asks again, of this member or another): cut after 15 s each, keys that read 2
# KiB a second kept a newcomer from the recent history for minutes (attack round 47), and a
# slow link from all of it (review 64). With none waiting, a slow link takes as long as it takes.
ANSWERS_AT_ONCE = 8
ANSWER_STALL = 2.0  # seconds
LOT_BYTES = 64 << 10  # of batches queued on a link at once, past one batch
# Members away asked about at once (``_ask_after_away``), in turn: a question about 1,024 keys
# that vanished took 38 KB, to every link every 8 s for 30 minutes (review 53); the 16 heard
# last alone could be keys that spoke after a member was cut off, and stayed away (round 35).
AWAY_ASKED = 16
ANSWER_EVERY = 0.5  # seconds at least between two answers to one peer's questions
REST_EVERY = 2 * ANSWER_EVERY  # between two questions a new link is asked (``_tell_the_rest``)
WANT_WAIT_MOST = 3  # want timeouts a want may wait while its peer answers others (``watch_wants``)


class Messaging:
    def __init__(self, node) -> None:  # noqa: ANN001 (peerchat.node.Node; a cycle otherwise)
        self.node = node
        self.puller = Puller(node.node_id, node.chatlog.shown)
        self._outbox: list[Chat] = []
        self._outbox_chars = 0
        self._said = trio.Event()
        self._answers: dict[Connection, deque[Want | Recent]] = {}
        self._answering = trio.CapacityLimiter(ANSWERS_AT_ONCE)
        # What each member was handed already, whatever its links (attack round 15: kept by
        # link, each link made anew had a whole history again): asked again, within an allowance
        self._handed: dict[str, _Handed] = {}
        self._handed_at = handed_per_address()
        self._recent_asked_on: weakref.WeakSet[Connection] = weakref.WeakSet()  # once a link
        self._unstored = Unstored(node.config.held_back, node.config.held_bytes)
        # peer -> (our last it must have, how many it lacked, before its first summary)
        self._owed: dict[str, tuple[int, int, bool]] = {}
        self._asked_recent = False
        self._asked_recent_at = -math.inf
        self._recent_budget: dict[str, int] = {}  # peer -> history messages it may still send
        self._recent_awaited: set[str] = set()  # peers asked for it that have not begun
        # peer -> its own last message as its first summary on this link told: what it says
        # after that comes to us live over the link
        self._linked_at: dict[str, int] = {}
        self._said_at: deque[tuple[int, float]] = deque(maxlen=SAID_KEPT)  # (seq, trio time)
        self.sent = 0  # our last message handed to the links
        # author -> (its latest batch seen, the name signed there): what one no longer in the
        # room is shown as (its latest name, after a /nick too)
        self._names: dict[str, tuple[int, str]] = {}
        # (author, signed name) -> (the member list's version, the name shown)
        self._shown_as: dict[tuple[str, str], tuple[tuple[int, str], str]] = {}
        self._signers: dict[str, str] = {}  # a name's look -> the first key seen signing under it
        self._history_from: dict[str, int] = {}  # author -> its first message a newcomer shows
        self._cut_from: str | None = None  # the peer whose RecentFrom this node still takes
        self._cut_taken = False  # the history of this run was cut once: never again
        self._departed: set[str] = set()  # members gone, whose heads we tell the room soon
        self._asking_after_away = False  # (``_ask_after_away``)
        self._away_turn = Turns(AWAY_ASKED)
        self._answered_at: dict[str, float] = {}  # peer -> its last question answered (trio)
        self._pulled = False  # something came by a want since the last summary we sent
        self._wanted_at: dict[str, float] = {}  # author -> when it was asked of a peer
        self._wanted_after: dict[str, int] = {}  # author -> after which it was asked for
        self._answering_at: dict[str, float] = {}  # peer -> when it last sent us news, old
        # (peer, author) -> None: asked, timed out, its late answer still taken (oldest first)
        self._timed_out: dict[tuple[str, str], None] = {}
        self._saved: dict[str, int] = node.store.seen()  # what the store says was shown
        # Authors this node had heard before it started: all they said since is owed to it.
        self._known_before = set(self._saved) | set(node.store.heads())

    # -- saying -------------------------------------------------------------------------------

    def say(self, text: str, *, action: bool = False) -> Chat | None:
        """One message of at most ``MAX_TEXT`` characters (``pieces``) to the room."""
        node = self.node
        try:
            chat = node.chatlog.compose(text, time.time(), time.monotonic(), action=action)
        except OSError as exc:  # the next block of numbers could not be stored
            node.emit(events.Error(f"cannot number the message (data dir: {exc}); not sent"))
            return None
        if self._outbox and chat.lamport != self._outbox[-1].lamport + 1:
            self.send_outbox()  # heard something in between: a batch's Lamport times run on
        self._outbox.append(chat)
        self._outbox_chars += len(text)
        self._said_at.append((chat.seq, trio.current_time()))
        if len(self._outbox) >= batch.MAX_ITEMS or self._outbox_chars >= batch.MAX_CHARS - MAX_TEXT:
            self.send_outbox()
        else:
            self._said.set()
        node.show(node.me, chat, own=True)
        return chat

    async def sealer(self) -> None:
        """Seal and send what was said, once per checkpoint: a burst becomes one batch."""
        while True:
            await self._said.wait()
            self._said = trio.Event()
            self.send_outbox()

    def send_outbox(self) -> None:
        """Seal what waits in the outbox and send it now (also before a hello or summary, so
        they never count a message that was not sent)."""
        if not self._outbox:
            return
        chats, self._outbox, self._outbox_chars = self._outbox, [], 0
        node = self.node
        sealed = seal(node.identity, node.me.username, chats, node.room_tag)
        node.store.add(sealed, time.time())
        node.links.broadcast(BatchFrame(sealed.data, sealed.sig, False), chatting=True)
        self.sent = chats[-1].seq

    # -- receiving ----------------------------------------------------------------------------

    def on_batch(self, conn: Connection, message: BatchFrame) -> None:
        assert conn.member is not None
        b = open_batch(message.data, message.sig, room=self.node.room_tag)
        if not message.old and b.author != conn.member.node_id:
            raise ProtocolViolation(f"{conn.peer} sent a batch of someone else as its own")
        # Read at the pace of the member that hands it on, old ones too, by its lines too
        cost = read_pace.batch_cost(conn.frame_size, len(b.items))
        self.node.read_pace.charge(conn, cost, trio.current_time())
        if message.old:
            self._expect_old(conn.member.node_id, b)
        node = self.node
        shown = node.chatlog.shown(b.author)
        if message.old and b.last <= (shown or 0) and node.store.keeps(b):
            return  # kept here already: not worth a signature check, nor keeping twice
        if b.author != conn.member.node_id and not b.signed():
            raise ProtocolViolation(f"{conn.peer} handed on a batch its author did not sign")
        if b.author == node.node_id:  # ours, from before a restart: kept by others, not here
            if message.old and not node.store.has(b.author, b.first):
                node.store.add(b, time.time())
                for chat in b.chats():
                    node.show(self._as_signed(b), chat, own=True, history=True)
            return
        if message.old:
            self._take_old(
                b,
                shown,
                self._history_from.get(b.author, 0),
                self._news_after(b, conn.member.node_id),
            )
            if node.chatlog.held_top(b.author) is not None:
                # A gap in what it handed on (a restarted author's numbers jump): it holds
                # this much, so it is asked for the rest. Its summary came before this node had
                # heard of the author, and said nothing to it: a newcomer held a restarted
                # author's last lines behind the jump for good (a user trial, 3 of 3).
                self._ask(self.puller.seen(conn.member.node_id, b.author, b.last))
            return
        if shown is not None and b.last <= shown:
            return  # a duplicate (a link that came back while its old one still delivered)
        # Read right after a freeze (before the node noticed it, or from a link its rejoin has
        # yet to close): said while it was stopped, so shown as history, at the time it was
        # said, not as news at the time it was read.
        late = node.entrance.coming_back()
        if self._receive(b, history=False, late=late) != b.last:  # a gap: someone has the rest
            self._ask(self.puller.seen(conn.member.node_id, b.author, b.last))

    def _expect_old(self, peer: str, b: Batch) -> None:
        """Old batches come only as asked: for the author we asked this peer about, or as the
        history we asked it for, up to the count asked (strangers' keys are free to make)."""
        chatlog = self.node.chatlog
        if b.last > (chatlog.shown(b.author) or 0) and b.last > (chatlog.held_top(b.author) or 0):
            self._answering_at[peer] = trio.current_time()  # news (held_top only when needed)
        if self.puller.asked_of(b.author) == peer or (peer, b.author) in self._timed_out:
            return
        budget = self._recent_budget.get(peer, 0) - len(b.items)
        if budget < 0:
            raise ProtocolViolation(f"{peer} sent old messages nobody asked it for")
        self._recent_budget[peer] = budget

    def _take_old(self, b: Batch, shown: int | None, hide_before: int, news_after: float) -> None:
        """A batch from a store: messages never shown here are shown as history (but those
        past ``news_after``), none of an author's before ``hide_before`` (older than the
        recent history asked for)."""
        node = self.node
        if shown is None:  # (never past this batch, whatever the answerer said)
            shown = min(max(b.first, hide_before), b.last + 1) - 1
            node.chatlog.start_after(b.author, shown)
        elif b.first <= shown and node.store.has(b.author, b.first):
            self._receive(b, history=True, news_after=news_after)  # what was held may go now
            return
        sender = self._as_signed(b)
        for chat in b.chats():
            # Older than what this node saw live: it never saw this one.
            if hide_before <= chat.seq <= shown:
                node.show(sender, chat, own=False, history=True)
        self._receive(b, history=True, news_after=news_after)

    def _receive(
        self, b: Batch, *, history: bool, late: bool = False, news_after: float = math.inf
    ) -> int:
        """Show what of ``b`` can be shown (all of it as history when it is ``late``), keep
        it; returns how far its author is shown."""
        node = self.node
        sender = self._as_signed(b) if history else self._sender(b)
        receive = node.chatlog.receive
        for chat in b.chats(live_after=news_after if history else 0):
            for ready in receive(chat):
                # One that came live and waited behind a gap is late, not history.
                old = late or (history and not ready.live)
                node.show(sender, ready, own=False, history=old)
        shown = node.chatlog.shown(b.author) or 0
        self._keep(b, shown)
        return shown

    def _news_after(self, old: Batch, via: str) -> float:
        """Past what a linked author told us it holds, its messages were sent to us live: news,
        even when another member's answer to our catching up brings them first. (Its own
        answer never does: what it says goes out before any answer.)"""
        return math.inf if via == old.author else self._linked_at.get(old.author, math.inf)

    def _keep(self, b: Batch, shown: int) -> None:
        """Store ``b`` once all of it is shown (``unstored``)."""
        if b.last <= shown:
            self.node.store.add(b, time.time())
        else:
            for author, first in self._unstored.add(b):
                self.node.chatlog.let_go(author, first)
        self._store_shown(b.author)

    def _store_shown(self, author: str) -> None:
        ready = self._unstored.take_shown(author, self.node.chatlog.shown(author) or 0)
        now = time.time()
        for b in ready:
            self.node.store.add(b, now)

    def _sender(self, b: Batch) -> Member:
        """Whom a batch is from, as shown: the member, or for one not here its name as signed."""
        known = self._names.get(b.author)
        if known is None or known[1] != b.username:  # (not for each batch: the live path)
            self._first_under(b.username, b.author)
        if known is None and len(self._names) < MAX_NAMES or known and b.last > known[0]:
            self._names[b.author] = (b.last, b.username)
        return self._author(b.author)

    def _first_under(self, name: str, author: str) -> str:
        """The first key seen here signing under ``name`` (or one like it). Of two keys that
        signed under one name (two parts of the room each had a zed), history marks the one
        seen second: a trial's showed both as a plain <zed>."""
        look = skeleton(name)
        first = self._signers.get(look)
        return first if first is not None else keep_latest(self._signers, look, author, MAX_NAMES)

    def _as_signed(self, b: Batch) -> Member:
        """Whom a batch is from, under the name it was signed with: history shows the name
        used then (a member may have taken another since, with ``/nick``). A name that is now
        another member's, or was another key's when last seen here, has the signing key's
        fingerprint added: any key can sign a batch under any name."""
        node = self.node
        sender = node.me if b.author == node.node_id else self._sender(b)
        return self._under(sender, b.username)

    def _under(self, sender: Member, name: str) -> Member:
        """``sender`` shown under ``name``, with its key's fingerprint if need be
        (``_as_signed``)."""
        node = self.node
        author = sender.node_id
        first = self._first_under(name, author)
        if sender is not node.me and (author not in node.members or sender.username != name):
            key, version = (author, name), (node.members.version, node.me.username)
            known = self._shown_as.get(key)
            if known is None or known[0] != version:  # asked again once the room changed
                if len(self._shown_as) >= MAX_NAMES:
                    self._shown_as.clear()
                borrowed = not needs_fingerprint(name) and (  # (else the screen marks it)
                    node.talk.taken(name, author)
                    or node.store.owner(name) not in (None, author)
                    or first != author
                )
                known = self._shown_as[key] = (version, marked(name, author) if borrowed else name)
            name = known[1]
        if sender.username == name:
            return sender
        return dataclasses.replace(sender, username=name)

    def _author(self, author: str) -> Member:
        """The member ``author``, or for one not here the name its batches were signed with."""
        member = self.node.members.get(author)
        if member is not None:
            return member
        return Member(author, self._names.get(author, (0, "?"))[1], "", 0, 0, True)

    # -- catching up --------------------------------------------------------------------------

    def on_link(
        self, conn: Connection, member: Member, *, missed_after: int | None, back: bool = False
    ) -> None:
        """A member is linked: tell it what we hold. One that was away or not yet linked since
        our message ``missed_after`` lacks what we said since: it is told ``Delivered`` once
        its summary shows it has it all, fetched from us or from anyone. One ``back`` after it
        was lost may bring a part of the room that went on apart: the recent history is asked
        for again, once a heartbeat timeout at most (members who came meanwhile are authors
        never heard of here, whose messages no summary makes this node fetch)."""
        self.send_outbox()
        self._ask(self.puller.gone(member.node_id))  # what was asked on an older link is lost
        self._linked_at.pop(member.node_id, None)  # what went over an older link may be lost
        heads = self._heads()
        conn.send(Summary(heads))
        if self.node.chatlog.authors > len(heads):
            rest = [a for a in reversed(self.node.chatlog.heads()) if a not in heads]
            self.node.nursery.start_soon(self._tell_the_rest, conn, rest)
        mine = heads[self.node.node_id]
        if missed_after is not None and mine > missed_after:
            self._owed[member.node_id] = (mine, self._said_between(missed_after, mine), True)
        now = trio.current_time()
        again = back and now - self._asked_recent_at >= self.node.config.heartbeat_timeout
        if member.chat and (not self._asked_recent or again):
            self._asked_recent, self._asked_recent_at = True, now
            count = self.node.config.history
            self._recent_budget[member.node_id] = count + batch.MAX_ITEMS  # whole batches
            if not self._cut_taken:
                self._cut_from = member.node_id
            self._recent_awaited.add(member.node_id)
            conn.send(Recent(count))

    @property
    def awaits_recent(self) -> bool:
        """Whether a member asked for the room's recent history has not begun to answer."""
        return bool(self._recent_awaited)

    def _said_between(self, after: int, upto: int) -> int:
        """How many messages this node said numbered past ``after`` up to ``upto``."""
        return self.node.store.numbered_between(self.node.node_id, after, upto)

    def said_before(self, when: float) -> int:
        """Our last message said before ``when`` (trio time), as far back as is kept: what a
        link last heard from then may have had; what came after may have gone into a cut."""
        for seq, said in reversed(self._said_at):
            if said < when:
                return seq
        return self._said_at[0][0] - 1 if self._said_at else self.node.chatlog.seq

    def restart_sync(self) -> None:
        """Forget what was asked of whom (rejoining: every link is closed, none answers), and
        ask for recent history again: a member that came while this node was frozen is an
        author it never heard of, whose messages no summary makes it fetch."""
        self.puller = Puller(self.node.node_id, self.node.chatlog.shown)
        self._owed.clear()
        self._recent_budget.clear()
        self._recent_awaited.clear()
        self._linked_at.clear()
        self._wanted_at.clear()
        self._wanted_after.clear()
        self._answering_at.clear()
        self._timed_out.clear()
        self._cut_from = None  # back from a freeze: what was missed is not cut (once cut)
        self._asked_recent = False

    def on_unlink(self, node_id: str, *, lost: bool = True) -> None:
        """A member left or was lost: others may hold some of its messages that we lack, or
        lack some we hold. Everyone tells everyone what it has of that member, so the gaps are
        filled from whoever has the rest (its own link is gone): a moment later, all departures
        of that moment in one summary, so that the room's frames do not crowd out an election
        (a room of 50 losing its tracker would otherwise pass 2,450 of them at once). One that
        said goodbye having said nothing (its link carried all it said, in order) is forgotten:
        throwaway keys joining and leaving at 260 a second grew a tracker's memory and store
        without end (an attack)."""
        self._owed.pop(node_id, None)
        self._unstored.forget(node_id)
        self._recent_budget.pop(node_id, None)
        self._recent_awaited.discard(node_id)
        self._linked_at.pop(node_id, None)
        self._answering_at.pop(node_id, None)
        self._timed_out = {k: None for k in self._timed_out if k[0] != node_id}
        self._answered_at.pop(node_id, None)
        self._ask(self.puller.gone(node_id))
        if lost and not self._asking_after_away:
            self._asking_after_away = True
            self.node.nursery.start_soon(self._ask_after_away)
        if not lost and self.node.chatlog.forget_silent(node_id):
            self._saved.pop(node_id, None)
            self.node.store.forget_silent(node_id)
            return
        if self.node.chatlog.shown(node_id) is not None and len(self._departed) < MAX_HEADS:
            if not self._departed:
                self.node.nursery.start_soon(self._tell_departed)
            self._departed.add(node_id)

    async def _tell_departed(self) -> None:
        config = self.node.config
        await trio.sleep(config.departure_delay * (1 + random.random()))
        departed, self._departed = self._departed, set()
        self._tell_of(departed)

    async def _ask_after_away(self) -> None:
        """While members are away, ask the links now and then about a few of them
        (``AWAY_ASKED``, in turn, those heard last first), by telling what this node holds of
        them: a link that still hears one answers with what it holds beyond (``sync.beyond``),
        which is then fetched from it. A cut between two members that both reach a third is
        then a delay, not a gap for as long as it lasts (what was said before the loss comes
        with the departure's summary). At random within half the wait: not the room all at
        once, after a tracker it lost."""
        config = self.node.config
        wait = config.away_ask_first
        try:
            while True:
                await trio.sleep(wait * random.uniform(1, 1.5))
                wait = min(2 * wait, config.away_ask_cap)
                away = {m.node_id for m in self.node.links.unreachable()}
                if not away:
                    return
                heard_last = [a for a in reversed(self.node.chatlog.heads()) if a in away]
                self._tell_of(self._away_turn.take(heard_last))
        finally:
            self._asking_after_away = False

    def _tell_of(self, authors: Iterable[str]) -> None:
        """Tell the links what this node holds of ``authors``: a question (``sync.beyond``)."""
        if heads := self._held_of(authors):
            self.node.links.broadcast(Summary(heads))

    def _tell_of_on(self, conn: Connection, authors: Iterable[str]) -> None:
        """``_tell_of``, to one link."""
        if heads := self._held_of(authors):
            conn.send(Summary(heads))

    def _held_of(self, authors: Iterable[str]) -> dict[str, int]:
        shown, me = self.node.chatlog.shown, self.node.node_id
        return {a: seq for a in authors if a != me and (seq := shown(a)) is not None}

    def on_summary(self, conn: Connection, message: Summary) -> None:
        assert conn.member is not None
        peer = conn.member.node_id
        if peer not in message.heads:  # a question (``sync.beyond``), or the answer to one
            self._answer_question(conn, peer, message.heads)
        else:  # (a link's first summary is a whole one: it names its sender)
            self._linked_at.setdefault(peer, message.heads[peer])
            if self.node.chatlog.authors > MAX_HEADS and self._may_answer(conn, peer):
                # Ours leave some out: what the peer names of those is a question too (attack
                # round 35: 1,100 keys that spoke once after bob left kept his lines from a
                # member back from away). (Asked first: what ours tell is 1,024 authors to
                # gather, and whole summaries sent in a loop made a core 4 times as busy,
                # round 36.)
                self._answer_question(conn, peer, message.heads, told=set(self._heads()))
        self._ask(self.puller.summary(peer, message.heads))
        owed = self._owed.get(peer)
        if owed is not None and self.node.node_id in message.heads:  # (not a partial one)
            upto, count, first = owed
            has = message.heads[self.node.node_id]
            if first and has < upto:  # what it lacked as it came back: not all we said since
                count = self._said_between(has, upto)  # the last sign of it went into the cut
            if has >= upto:
                del self._owed[peer]
                self.node.emit(events.Delivered(conn.member, count))
            else:
                self._owed[peer] = (upto, count, False)

    def _answer_question(
        self, conn: Connection, peer: str, asked: dict[str, int], told: Collection[str] = ()
    ) -> None:
        """Answer a question (of the authors not ``told`` the peer already), unless the link
        has not taken the last answers yet, or one went less than ``ANSWER_EVERY`` ago: an
        answer left out is asked for again (attack round 35: questions from peers that read
        slowly queued 1.65 GB of answers)."""
        if not self._may_answer(conn, peer):
            return
        more = beyond(asked, peer, self.node.chatlog.shown)
        if more := {author: seq for author, seq in more.items() if author not in told}:
            self._answered_at[peer] = trio.current_time()
            conn.send(Summary(more))

    def _may_answer(self, conn: Connection, peer: str) -> bool:
        """Whether ``conn`` has taken the last answers, the last one ``ANSWER_EVERY`` ago."""
        since = trio.current_time() - self._answered_at.get(peer, -math.inf)
        return not conn.backlog and since >= ANSWER_EVERY

    def on_skip(self, conn: Connection, message: Skip) -> None:
        """The end of an answer: whatever did not come, the peer does not have."""
        assert conn.member is not None
        peer = conn.member.node_id
        late = (peer, message.author) in self._timed_out
        self._timed_out.pop((peer, message.author), None)  # a late answer ends here
        if self.puller.asked_of(message.author) != peer:
            if late:  # what it brought may leave more to ask for, of anyone (a review)
                self._ask(self.puller.again(message.author))
            return  # not an answer to us: nobody else may make us stop waiting
        self._wanted_at.pop(message.author, None)
        asked_after = self._wanted_after.pop(message.author, None)
        node = self.node
        requests, give_up_to = self.puller.answered(peer, message.author, message.seq)
        if give_up_to is not None and peer != message.author:
            # Another member's word alone cannot make us stop waiting for messages it claimed:
            # only for those past which we already hold some (a gap nobody can fill).
            top = node.chatlog.held_top(message.author)
            give_up_to = None if top is None else min(give_up_to, top)
        if give_up_to is not None:
            # Nobody has the rest of the gap (the author itself says which numbers it never
            # used): what came after it is shown, late, with its own time (as history unless
            # it came live: a restarted author's first message leaves such a gap).
            # (one not here under the name it last signed, marked as history is: a trial's
            # newcomer saw an old key's lines after a gap as the present bob's)
            author = self._author(message.author)
            sender = self._under(author, author.username)
            for chat in node.chatlog.start_after(message.author, give_up_to):
                node.show(sender, chat, own=False, history=not chat.live)
            self._store_shown(message.author)
            requests = self.puller.again(message.author)  # the rest, past the gap
        if asked_after is not None and (node.chatlog.shown(message.author) or 0) > asked_after:
            # Something came (or a gap was given up): a want answered with nothing is no
            # news (attack round 35: each of bob's questions about a key away set off a want,
            # a skip, and his whole summary to every link, every 4-6 s)
            self._pulled = True
        self._ask(requests)
        if self.puller.idle and self._pulled:
            self._pulled = False
            node.links.broadcast(Summary(self._heads()))

    def _ask(self, requests: list[Request]) -> None:
        for peer, author, after in requests:
            conn = self.node.links.conns.get(peer)
            if conn is None:  # gone meanwhile: ask someone else
                self._ask(self.puller.gone(peer))
                continue
            self._wanted_at[author] = trio.current_time()
            self._wanted_after[author] = after
            conn.send(Want(author, after))

    async def watch_wants(self) -> None:
        """A peer asked for an author's messages that sends us no news (an old batch we did
        not hold) for ``want_timeout`` is answered for, as if it had said it has none, so that
        the others are asked; it answers one want at a time, so news of any author shows it
        at work, but for ``WANT_WAIT_MOST`` timeouts at most (a peer that sent a message of its
        own now and then, and never the author asked for, held the want for good). Its late
        answer is still taken, up to its ``Skip``."""
        timeout = self.node.config.want_timeout
        while True:
            await trio.sleep(timeout / 4)
            now = trio.current_time()
            for author, asked_at in list(self._wanted_at.items()):
                peer = self.puller.asked_of(author)
                conn = self.node.links.conns.get(peer or "")
                if peer is None or conn is None:
                    self._wanted_at.pop(author, None)  # answered for by the link's end
                    self._wanted_after.pop(author, None)
                elif (
                    now - max(asked_at, self._answering_at.get(peer, asked_at)) >= timeout
                    or now - asked_at >= WANT_WAIT_MOST * timeout
                ):
                    log.info("%s sent none of what it was asked for; asking others", conn.peer)
                    self.puller.timed_out(peer, author)
                    self.on_skip(conn, Skip(author, self.node.chatlog.shown(author) or 0))
                    keep_latest(self._timed_out, (peer, author), None, MAX_NAMES)

    async def _tell_the_rest(self, conn: Connection, rest: list[str]) -> None:
        """Tell a new link, ``MAX_HEADS`` at a time, what this node holds of the authors its
        whole summary left out (``rest``, those heard last first): questions, which the peer
        answers for those it holds more of (``sync.beyond``). Attack round 36: 1,100 keys
        heard after bob, here and at the member linked, left him out of both summaries, and
        his 5 lines said meanwhile never came (3 of 3)."""
        for start in range(0, len(rest), MAX_HEADS):
            await trio.sleep(REST_EVERY)
            while conn.backlog and not conn.closing:  # (paced as the peer reads)
                await trio.sleep(REST_EVERY)
            if conn.closing:
                return
            self._tell_of_on(conn, rest[start : start + MAX_HEADS])

    def _heads(self) -> dict[str, int]:
        """What this node holds, of the ``MAX_HEADS`` authors whose messages came last (ours
        among them)."""
        heads = self.node.chatlog.heads()
        if len(heads) > MAX_HEADS:
            heads = dict(itertools.islice(reversed(heads.items()), MAX_HEADS))
        return heads

    # -- answering ----------------------------------------------------------------------------

    def on_recent_from(self, conn: Connection, message: RecentFrom) -> None:
        """Where the history asked of ``conn`` begins, per author: older messages of authors
        this node had never heard before it started come in the same batches and are kept,
        not shown. (What a restarted node missed of those it knew is all shown.)"""
        assert conn.member is not None
        peer = conn.member.node_id
        if peer not in self._recent_budget:
            raise ProtocolViolation(f"{conn.peer} said where history begins, unasked")
        self._recent_awaited.discard(peer)
        self.node.release_history()  # (its batches come right behind)
        if peer != self._cut_from:
            return  # only the first history of this run is cut: after a freeze all is shown
        self._cut_from, self._cut_taken = None, True
        for author, first in message.firsts.items():
            if author not in self._known_before and len(self._history_from) < MAX_NAMES:
                self._history_from[author] = first

    def on_want(self, conn: Connection, message: Want | Recent) -> None:
        if isinstance(message, Recent):
            if conn in self._recent_asked_on:
                raise ProtocolViolation(f"{conn.peer} asked for the recent history twice")
            self._recent_asked_on.add(conn)
        queue = self._answers.get(conn)
        if queue is None:
            queue = self._answers[conn] = deque()
            self.node.nursery.start_soon(self._answer, conn, queue)
        if len(queue) >= self.node.config.max_wants:
            raise ProtocolViolation(f"{conn.peer} asked for more than it waits for")
        queue.append(message)

    async def _answer(self, conn: Connection, queue: deque[Want | Recent]) -> None:
        """Answer ``conn``'s wants one at a time, paced, until none are left."""
        try:
            while queue and not conn.closing:
                await trio.sleep(0)  # one want at a time, never many in one go
                message = queue.popleft()
                async with self._answering:
                    await self._answer_one(conn, message)
        except sqlite3.Error as exc:  # a full or broken disk ends this answer, not the node
            log.error("could not answer %s from the store: %s", conn.peer, exc)
            conn.abort(f"the store failed: {exc}")
        finally:
            del self._answers[conn]

    async def _answer_one(self, conn: Connection, message: Want | Recent) -> None:
        if conn.closing:  # (gone while it waited its turn)
            return
        if isinstance(message, Recent):
            batches = await self._fit_in_lots(self._recent(conn, message.count))
            conn.send(RecentFrom(_firsts(batches, message.count)))
            await self._send_paced(conn, batches, None)
        else:
            await self._send_paced(conn, *self._wanted(conn, message))

    def _recent(self, conn: Connection, count: int) -> list[Batch]:
        """The recent history, once a link; a member that had it before (on another link: back
        from a freeze) has it again within the allowance of what it is handed again."""
        self.send_outbox()
        batches = self.node.store.recent(count, ANSWER_BYTES)
        handed = self._handed_to(conn)
        again = sum(len(b.data) for b in batches) if handed.recent else 0
        handed.recent = True
        if again and not handed.again.allows(trio.current_time(), again):
            return []
        return batches

    def _handed_to(self, conn: Connection) -> _Handed:
        """What the member on ``conn`` was handed, kept for the ``MAX_HANDED`` members asked
        last."""
        member = conn.member.node_id if conn.member is not None else conn.peer
        return keep_latest(self._handed, member, self._handed.get(member) or _Handed(), MAX_HANDED)

    def _wanted(self, conn: Connection, want: Want) -> tuple[list[Batch], Skip]:
        """The answer to ``want``. What this link was handed already is handed again only as
        far as ``HANDED_AGAIN_*`` allow: an honest asker asks for it again only when it let go
        of what it held behind a gap (memory bounds), and one asking for a whole history again
        and again had it sent each time (20 KB of wants, 23 MB out)."""
        node = self.node
        self.send_outbox()
        handed = self._handed_to(conn)
        after = want.after
        before = handed.upto.get(want.author, 0)
        if after < before:
            # Charged by what goes out again, whole batches (one line asked for again brought
            # a batch of 512 KiB each time, an attack: 1 GB in 10 s), weighed before it is
            # read: a page read to learn it was too much took a core whole, 250 wants a
            # second (attack round 48).
            page = node.config.sync_page
            again = min(node.store.size_between(want.author, after, before, page), ANSWER_BYTES)
            if again and not handed.again.allows(trio.current_time(), again):
                after = before
        batches = node.store.after(want.author, after, node.config.sync_page, ANSWER_BYTES)
        held = node.chatlog.head(want.author) or 0
        if batches and batches[-1].last < held and _page_full(batches, node.config.sync_page):
            held = batches[-1].last  # the asker asks again for the rest
        end = max(held, after)
        if batches:
            handed.upto[want.author] = max(end, before)
        return batches, Skip(want.author, end)

    def _fit_to_hand_on(self, batches: list[Batch]) -> list[Batch]:
        """``batches`` but those whose signature does not hold: one taken from its author
        unchecked is checked now, once (the store remembers), and dropped from the store if
        it fails, so that no member is handed a forgery and nobody checks it twice. One of
        another room (kept where a room without a name, joined at an address, found a named
        room there later) is left out: the others would refuse it."""
        good, checked_now, bad = [], [], []
        room = self.node.room_tag
        for b in batches:
            if b.room != room:  # (kept as its author's own or checked: left, not dropped)
                continue
            if b.checked:
                good.append(b)
            elif b.signed():
                good.append(b)
                checked_now.append(b)
            else:
                bad.append(b)
        store = self.node.store
        if checked_now:
            store.checked(checked_now)
        if bad:
            log.warning("dropping %d kept batches not fit to hand on", len(bad))
            store.drop(bad)
        return good

    async def _fit_in_lots(self, batches: list[Batch]) -> list[Batch]:
        """``_fit_to_hand_on``, a lot at a time between checkpoints (a check is 0.1 ms)."""
        lot, out = self.node.config.resend_batch, []
        for start in range(0, len(batches), lot):
            out += self._fit_to_hand_on(batches[start : start + lot])
            await trio.sleep(0)
        return out

    async def _send_paced(self, conn: Connection, batches: list[Batch], end: Skip | None) -> None:
        """Hand ``batches`` on, a lot at a time once the last has left, then ``end`` (a
        want's answer). Where the asker's address is past its pace the answer stops there,
        with no ``end``: the want times out and is asked again, of this member or another
        (a ``Skip`` says the rest is not here, and an honest member at a busy address gave up
        100 lines it had missed for good: attack round 31)."""
        lot = self.node.config.resend_batch
        for start in range(0, len(batches), lot):
            if conn.closing:  # checking and encoding the rest would be for nobody
                return
            queued = 0
            for b in self._fit_to_hand_on(batches[start : start + lot]):
                if end is not None and not self._address_takes(conn, len(b.data)):
                    return
                if queued >= LOT_BYTES:  # (what an answer stopped leaves queued: attack round 47)
                    if not await self._taken_in_turn(conn):
                        return
                    queued = 0
                conn.send(BatchFrame(b.data, b.sig, True))
                queued += len(b.data)
            if not await self._taken_in_turn(conn):
                return
        if end is not None:
            conn.send(end)

    async def _taken_in_turn(self, conn: Connection) -> bool:
        """Whether ``conn``'s asker took what was sent: as long as that takes, but only
        ``ANSWER_STALL`` s at a time while another answer waits its turn."""
        while True:
            with trio.move_on_after(ANSWER_STALL):
                await conn.drained()
                return True
            if self._answering.statistics().tasks_waiting:
                log.debug("%s takes its answer slowly, and others wait: stopped", conn.peer)
                return False

    def _address_takes(self, conn: Connection, size: int) -> bool:
        """Whether ``size`` more bytes of old batches go to ``conn``'s address now."""
        return not conn.address or self._handed_at.allows(conn.address, trio.current_time(), size)

    # -- history ------------------------------------------------------------------------------

    def recent(self, count: int, chars: int = 0) -> list[tuple[Member, Chat, bool]]:
        """The last ``count`` messages in the store, in the room's order: (sender, message,
        whether it is ours); with ``chars``, only the latest that hold that much text (the
        last at least)."""
        self.send_outbox()
        me = self.node.node_id
        pairs = [(c, b) for b in self.node.store.recent(count) for c in b.chats()]
        batch_of = {id(c): b for c, b in pairs}
        chats = said_order((c for c, _ in pairs), lambda c: c.sender)[-count:]
        if chars:
            chats = _within(chats, chars)
        return [(self._as_signed(batch_of[id(c)]), c, c.sender == me) for c in chats]

    async def keep_store(self) -> None:
        """Write what was received to disk now and then; prune by the retention bounds; tell
        the user when the disk refuses the writes, and when it takes them again."""
        config = self.node.config
        store = self.node.store
        if store.set_aside:
            self.node.emit(
                events.Error(
                    f"the message store was damaged: it is kept as {store.set_aside}, and a new "
                    "one begun (this room's recent messages come from the others)"
                )
            )
        if store.dropped:
            self.node.emit(
                events.Error(
                    f"{store.dropped:,} messages kept by an earlier version were dropped, as "
                    "they name no room (this room's recent messages come from the others)"
                )
            )
        told, lost = "", store.lost
        kept = Retention(config.keep_messages, config.keep_bytes, config.prune_interval)
        while True:
            if kept.due(trio.current_time(), store.approx_count, store.approx_bytes):
                gone = store.prune(
                    time.time(), config.keep_messages, config.keep_seconds, config.keep_bytes
                )
                if gone:
                    log.info("pruned %d old messages", gone)
                self.forget_unkept()
                kept.pruned(trio.current_time(), store.approx_count, store.approx_bytes)
            await trio.sleep(config.store_interval)
            self.save()
            if store.trouble != told:
                told = store.trouble
                self.node.emit(events.Saving(store.path, told, store.lost - lost))
                lost = store.lost

    def forget_unkept(self) -> None:
        """Authors of whom nothing is stored any more (pruned) and who are not in the room are
        forgotten altogether: throwaway keys that each said a line grew a node by 1.1 KiB and
        a row of its store each, for good (attack round 34: 12,000 keys, 39 -> 52 MiB, and
        as much after a restart). A line of one that comes again counts as a new author's;
        peers' summaries naming it are not taken up (``Puller.summary``)."""
        node = self.node
        self.save()  # (how far each author was shown: in the store, to be weighed there)
        present = [*node.members, *node.links.unreachable()]  # (the away ones come back)
        keep = {m.node_id for m in present} | {node.node_id} | node.chatlog.gapped()
        # (an answer on its way would be one unasked for, and end the link: review 54)
        asked = set(self._wanted_at) | {author for _, author in self._timed_out}
        forgotten = node.store.forget_unkept(keep | self._departed | asked)
        for author in forgotten:
            node.chatlog.forget_all_of(author)
            self.puller.forget(author)
            self._unstored.forget(author)
            self._saved.pop(author, None)
            self._known_before.discard(author)
            for table in (self._history_from, self._wanted_at, self._wanted_after):
                table.pop(author, None)
        if forgotten:
            log.info("forgot %d authors of whom nothing is kept", len(forgotten))

    def heard(self, author: str, seq: int) -> None:
        """A new author, owed to us after ``seq``: stored at once, so that a crash right after
        still leaves the restarted node knowing to fetch what it says."""
        self.node.store.save_seen({author: seq})
        self._saved[author] = seq

    def save(self) -> None:
        """Write the messages received since the last time, and how far each author was shown."""
        node = self.node
        node.store.flush()
        node.store.count_stays(time.time())
        shown = node.chatlog.heads()
        del shown[node.node_id]
        changed = {a: seq for a, seq in shown.items() if self._saved.get(a) != seq}
        node.store.save_seen(changed)
        self._saved.update(changed)


def pieces(text: str) -> list[str] | events.Error:
    """``text`` as messages within the length limit: a longer paste goes as several, each cut
    at its last line end (else space) in the second half of the limit, else at the limit; the
    error if that takes more than ``MAX_PIECES``."""
    out = []
    while len(text) > MAX_TEXT:
        cut = max(text.rfind("\n", MAX_TEXT // 2, MAX_TEXT), 0)
        cut = cut or max(text.rfind(" ", MAX_TEXT // 2, MAX_TEXT), 0)
        out.append(text[: cut or MAX_TEXT])
        text = text[cut + 1 :] if cut else text[MAX_TEXT:]  # the line end or space goes
        if len(out) >= MAX_PIECES:
            most = f"at most {MAX_PIECES} messages of {MAX_TEXT} characters"
            return events.Error(f"message too long ({most}); not sent")
    out.append(text)
    return out


@dataclasses.dataclass
class _Handed:
    """What one member was handed from the store: its recent history (once a link), per
    author the last message an answer covered, and what it may still be handed again."""

    recent: bool = False
    upto: dict[str, int] = dataclasses.field(default_factory=dict)
    again: Pace = dataclasses.field(
        default_factory=lambda: Pace(1 / HANDED_AGAIN_PER_SECOND, HANDED_AGAIN_AT_ONCE)
    )


def handed_per_address() -> Paces:
    """The pace of old batches handed to each address (``HANDED_ADDRESS_*``), in bytes."""
    return Paces(1 / HANDED_ADDRESS_PER_SECOND, HANDED_ADDRESS_AT_ONCE)


def _page_full(batches: list[Batch], page: int) -> bool:
    """Whether the store held more than ``batches`` (``Store.after``'s bounds)."""
    full = sum(len(b.items) for b in batches) >= page
    return full or sum(len(b.data) for b in batches) >= ANSWER_BYTES


def _firsts(batches: list[Batch], count: int) -> dict[str, int]:
    """Per author, its first message among the last ``count`` in ``batches``, in the order
    history is shown (Lamport time)."""
    said = ((b.lamport + i, b.author, b.first + i) for b in batches for i in range(len(b.items)))
    firsts: dict[str, int] = {}
    for _, author, seq in heapq.nlargest(count, said):
        firsts[author] = min(seq, firsts.get(author, seq))
    return firsts


def _within(chats: list[Chat], chars: int) -> list[Chat]:
    """The latest of ``chats`` whose text fits in ``chars``, the last at least."""
    total, start = 0, len(chats)
    while start and (start == len(chats) or total + len(chats[start - 1].text) <= chars):
        start -= 1
        total += len(chats[start].text)
    return chats[start:]
