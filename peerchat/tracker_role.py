"""What the tracker does, and how parts of one room find each other and merge.

The tracker pings every member (the ping doubles as its claim to the role) and cuts off those
that stop answering. Parts of a room meet when a link joins two nodes that follow different
trackers (a redial after a partition, a knock on the home address): both send each other a
``Roster``; a member passes news on to its tracker, and a tracker dials the members it lacks,
announces them to its part and sends them its own roster. The trackers' claims then meet too,
and the lower one steps down (``election.Bully``), so the room ends with one tracker and every
member knows every other.
"""

from __future__ import annotations

import collections
import logging
import math
import random
from typing import TYPE_CHECKING

import trio

from peerchat.addresses import address_key, is_this_computer
from peerchat.admission import Paces
from peerchat.bounded import keep_latest
from peerchat.connection import Connection
from peerchat.doorman import JOIN_EVERY
from peerchat.membership import Member
from peerchat.protocol import Hello, MemberJoined, MemberLeft, Ping, Pong, Roster, encode
from peerchat.wire import encode_frame

if TYPE_CHECKING:
    from peerchat.node import Node

log = logging.getLogger(__name__)

# A member's rosters set the tracker dialling members it lacks (a merge) this often at most.
ROSTER_NEWS_BURST = 2
ROSTER_NEWS_EVERY = 5.0
# Members a second opinion has a newcomer dial, and others let it in, at most.
SECOND_OPINION_MOST = 64
# A dial on another's word past the join pace of its address waits for it this many times
# (each the pace's interval) at most, within ``max_word_dials``: of those on one address's
# word (one member's, on this computer), WAITING_PER_ADDRESS at once per address dialled and
# WAITING_PER_WORD in all at most; WAITING_MOST in all (past that one is not dialled).
WORD_DIAL_WAITS = 30
WAITING_PER_ADDRESS = 8
WAITING_PER_WORD = 16
WAITING_MOST = 64  # (of ``Config.max_word_dials``, 256: the rest dial at once)
MAX_TURNS = 256  # (whose word, address) -> when such a dial last took the address's pace

_PONG = encode_frame(encode(Pong()))


class TrackerRole:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._differs_since: float | None = None  # this node's list is not its tracker's
        self._asked = False  # the tracker's next roster answers our comparison
        self._missing: set[str] = set()  # unlinked members in the tracker's last answer
        self._word_dials = 0  # dials under way on another node's word (``_dial_on_word``)
        # (whose word, address) -> dials on that word waiting for the address's pace
        self._waiting: collections.Counter[tuple[str, str]] = collections.Counter()
        self._turns: dict[tuple[str, str], float] = {}  # (whose word, address) -> last turn
        # How often each member's rosters may set dials going (``on_roster``): kept by member,
        # not by link, as a link made anew began it anew (attack round 13).
        self._news_paces = Paces(ROSTER_NEWS_EVERY, ROSTER_NEWS_BURST)
        # The member asked whom it knows, once in, and until when its answer is taken.
        self._second_opinion: tuple[str, float] | None = None

    # -- the tracker's duties -----------------------------------------------------------------

    async def duties(self) -> None:
        """As tracker: ping every member, and cut off those that stopped answering."""
        node = self.node
        interval = node.config.heartbeat_interval
        last = trio.current_time()
        while True:
            await trio.sleep(interval)
            now = trio.current_time()
            # This node itself did not run for a while (a starved machine): what its peers sent
            # meanwhile is still unread, so nobody is judged silent until the next look.
            late, last = now - last > 2 * interval, now
            if not node.bully.is_tracker:
                continue
            ping = encode_frame(encode(Ping(node.me.priority, node.members.digest(node.node_id))))
            grace = node.config.link_grace
            for conn in list(node.links.conns.values()):
                patience = 2.0 if now - conn.opened < grace else 1.0  # a newcomer is busy
                if not late and node.leadership.silent(conn, now, patience):
                    conn.abort(f"silent for {now - conn.heard:.1f} s")
                else:
                    conn.send_frame(ping)

    def on_ping(self, conn: Connection, message: Ping) -> None:
        assert conn.member is not None
        conn.send_frame(_PONG)
        member = conn.member
        node = self.node
        node.leadership.act(node.bully.on_claim(member.node_id, member.priority, _now()))
        if self._from_tracker(conn):
            self._compare_rosters(conn, message.room)

    def _compare_rosters(self, tracker: Connection, digest: bytes) -> None:
        """The tracker lists another room than this node does: once that has lasted a while,
        swap rosters with it, so that each learns (and dials) the members it lacks."""
        node, now = self.node, _now()
        if digest == node.members.digest(node.node_id):
            self._differs_since = None
        elif self._differs_since is None:
            self._differs_since = now
        elif now - self._differs_since >= node.config.roster_check_after:
            self._differs_since, self._asked = now, True
            log.info("this node's list of the room differs from the tracker's: comparing")
            tracker.send(Roster(self.node.listed_on(tracker), ask=True))

    def _on_answer(self, tracker: Connection, members: tuple[Member, ...]) -> None:
        """The tracker's roster, asked for: its members are let in when they connect, and
        those still unlinked since the last answer are dialled. A newcomer still dialling
        everyone is in one answer at most; two members that lost each other are in every one."""
        node = self.node
        links = node.links
        missing = {m.node_id: m for m in members if m.node_id != node.node_id}
        for node_id in [i for i in missing if i in links.conns or links.dialling(i)]:
            del missing[node_id]
        for member in missing.values():
            links.vouched(member)
            if member.node_id in self._missing:
                self._dial_on_word(member, tracker, delay=node.config.announce_dial_delay)
        self._missing = set(missing)

    # -- announcements ------------------------------------------------------------------------

    def on_link(self, conn: Connection, hello: Hello, *, new: bool) -> None:
        """A link is up. Across parts, swap rosters; at the tracker, announce a member that
        came by any way but a join (a join gets its welcome instead)."""
        node = self.node
        theirs, ours = hello.tracker, node.bully.tracker
        if theirs and ours and theirs != ours:
            log.info("%s follows another tracker: merging the two parts", conn.peer)
            conn.send(Roster(self.node.listed_on(conn)))
        if node.bully.is_tracker and new and not hello.join:
            assert conn.member is not None
            marked = node.talk.shown_marked(conn.member)
            node.links.announce(conn.member, lambda m: MemberJoined(m, False, marked), skip=conn)
            conn.send(Roster(self.node.listed_on(conn)))

    def on_member_joined(self, conn: Connection, message: MemberJoined) -> None:
        """The tracker's word, or a member's that let in a newcomer the tracker turned away:
        either only lets the newcomer in when it dials (which it does, being new). Only the
        tracker's has this node dial (as does, once, a second opinion it asked for), so no
        member can turn the room on an address. One the tracker shows marked is marked here
        too, before it links: a newcomer knows no better (attack round 13: a second key once
        in the room, coming as a part under the name of one away, took it at members who had
        come after the first such key)."""
        if self._from_tracker(conn):
            if message.marked:
                self.node.talk.marked_by_tracker(message.member)
            self._announced(message.member, conn, dial=not message.joining)
        elif message.joining:
            self._announced(message.member, conn, dial=False, by_tracker=False)

    def on_roster(self, conn: Connection, message: Roster) -> None:
        """The members a peer knows: from the tracker, its word (or the answer to our
        comparison); from a member this node asked once in, a second opinion; else news of
        another part of the room, for the tracker to dial (a member forwards it there). An
        ``ask`` is answered by the tracker with its roster, by a member as a second opinion,
        and is no news a member forwards (attack round 32: a member's questions, forwarded,
        spent another's pace at the tracker, and its own news was dropped)."""
        node = self.node
        if self._from_tracker(conn) and self._asked:
            self._asked = False
            self._on_answer(conn, message.members)
            return
        if self._from_tracker(conn):
            for member in message.members:
                self._announced(member, conn)
            return
        if message.ask and node.bully.is_tracker:
            conn.send(Roster(self.node.listed_on(conn)))
        elif message.ask:
            self._give_second_opinion(conn, message.members)
            return
        elif self._answers_our_question(conn):
            self.take_second_opinion(conn, message.members)
            return
        links = node.links
        news = [
            m
            for m in message.members
            if m.node_id != node.node_id
            and m.node_id not in links.conns
            and not links.dialling(m.node_id)
        ][: node.config.max_pending]  # what one roster can set going, bounded
        if not news:
            return
        if node.bully.is_tracker:
            # Per address (per member on this computer): keys cost nothing, and ten keys'
            # rosters of made-up members kept every dial slot (attack round 31).
            reporter = _whose(conn)
            if not self._news_paces.allows(reporter, _now()):
                log.info("not dialling the news of %s: its last roster was too recent", conn.peer)
                return
            for member in news:
                self._dial_on_word(member, conn, delay=0, vouched=False)
        else:
            tracker = node.links.conns.get(node.bully.tracker or "")
            if tracker is not None:
                tracker.send(Roster(tuple(node.told_on(tracker, m) for m in news)))

    def ask_second_opinion(self, rather: str | None = None) -> None:
        """In the room: ask one member other than the tracker whom it knows (``rather``, if
        linked and not the tracker), and meet those the tracker left out. A tracker's welcome
        gave carol bob at a port where nothing listened and never told bob of carol: the two
        never met, and nothing said so (attack round 29, 0 of 30 lines either way)."""
        node = self.node
        others = [c for i, c in node.links.conns.items() if i != node.bully.tracker and c.member]
        if not others:
            return
        conn = next((c for c in others if c.proven_id == rather), None) or random.choice(others)
        assert conn.member is not None
        until = _now() + 2 * node.config.connect_timeout  # (one that never answers: forgotten)
        self._second_opinion = (conn.member.node_id, until)
        conn.send(Roster(node.listed_on(conn), ask=True))

    def _answers_our_question(self, conn: Connection) -> bool:
        asked = self._second_opinion
        if asked is None or conn.member is None or conn.member.node_id != asked[0]:
            return False
        self._second_opinion = None
        return _now() <= asked[1]

    def take_second_opinion(self, conn: Connection, theirs: tuple[Member, ...]) -> None:
        """The members the one asked knows and this node does not (nor dials already): let in
        when they dial, as they may (``_give_second_opinion``), and dialled once, after the
        tracker's word has had a moment to come first (one marked there is marked here
        before it links: attack round 13). At most ``SECOND_OPINION_MOST``."""
        node, links = self.node, self.node.links
        news = [
            m
            for m in theirs
            if m.node_id != node.node_id
            and m.node_id not in node.members
            and m.node_id not in links.conns
            and not links.dialling(m.node_id)
        ][:SECOND_OPINION_MOST]
        for member in news:
            links.vouched(member, by_tracker=False)
            self._dial_on_word(member, conn, delay=node.config.announce_dial_delay, vouched=False)

    def _give_second_opinion(self, conn: Connection, theirs: tuple[Member, ...]) -> None:
        """A member asks whom this node knows: it is told, and each member it lacks (at most
        ``SECOND_OPINION_MOST``) is told to let it in when it dials (a member's word, which
        only opens a door). Paced per address (per member on this computer), as rosters are:
        keys cost nothing."""
        node, asker = self.node, conn.member
        if asker is None or not self._news_paces.allows(_whose(conn), _now()):
            return
        conn.send(Roster(node.listed_on(conn)))
        known = {m.node_id for m in theirs} | {asker.node_id}
        lacked = [m for m in node.members if m.node_id not in known][:SECOND_OPINION_MOST]
        for member in lacked:
            link = node.links.conns.get(member.node_id)
            if link is not None:
                link.send(MemberJoined(node.told_on(link, asker), joining=True))

    def on_member_left(self, conn: Connection, message: MemberLeft) -> None:
        """The tracker says a member left. A link of this node's own to it is probed, and kept
        if it answers (only the tracker lost it); a member without one is dropped."""
        node = self.node
        if not self._from_tracker(conn):
            return
        own = node.links.conns.get(message.node_id)
        if own is not None:
            node.links.probe(own, on_word=True)
        else:
            node.links.drop_member(message.node_id, message.reason, lost=False)

    def roster_for_new_tracker(self, tracker: str) -> None:
        """This node now follows ``tracker`` after following another: tell it whom it knows."""
        conn = self.node.links.conns.get(tracker)
        if conn is not None:
            conn.send(Roster(self.node.listed_on(conn)))

    def _announced(
        self, member: Member, tracker: Connection, *, dial: bool = True, by_tracker: bool = True
    ) -> None:
        """The tracker vouches for ``member``: it is let in when it connects, and listed once
        a link to it has proved its key (the tracker's word alone lists nobody)."""
        node = self.node
        if member.node_id == node.node_id or member.node_id in node.links.conns:
            return
        node.links.vouched(member, by_tracker=by_tracker)
        if dial:
            self._dial_on_word(member, tracker, delay=node.config.announce_dial_delay)

    def _dial_on_word(
        self, member: Member, word: Connection, *, delay: float, vouched: bool = True
    ) -> None:
        """Dial ``member`` once on the word of the peer on ``word`` after ``delay``. Once:
        never on the redial schedule, as a member that was never reached may be made up (a
        roster of 256 made-up members at another host's port had the tracker dial that port
        128 times a second for half an hour; a tracker's word, each member 32 times a second,
        attack rounds 15 and 29). At the join pace of the address dialled, as one that
        knocks there would join (waiting for it a while: a merge of many members behind one
        address, a review); never this computer's own address on the word of a peer on
        another (an honest one names members on its own computer by its own address); and
        not while ``max_word_dials`` such dials are under way. ``vouched``: not once the word
        was taken back (or pushed out). Each refusal is logged at debug level only: a roster
        of thousands of made-up members wrote as many lines (a review)."""
        node = self.node
        elsewhere = word.elsewhere
        if elsewhere and is_this_computer(member.host):
            log.debug("not dialling %s: this computer, named from another", member.addr)
        elif self._word_dials >= node.config.max_word_dials:
            log.debug("not dialling %s: too many dials on others' word", member.addr)
        else:
            self._word_dials += 1
            whose = _whose(word)
            node.nursery.start_soon(self._dial_if_silent, member, whose, delay, vouched, elsewhere)

    async def _dial_if_silent(
        self, member: Member, whose: str, delay: float, vouched: bool, elsewhere: bool
    ) -> None:
        """A newcomer dials everyone itself; after a merge, nobody would. A member of the
        other part that this dial misses links itself, as it follows this tracker."""
        node, links = self.node, self.node.links
        address = address_key(member.host)
        try:
            await trio.sleep(delay)
            for _ in range(WORD_DIAL_WAITS):
                if member.node_id in links.conns:
                    return
                if vouched and not links.is_vouched(member.node_id):
                    return
                # (the pace's token is taken once it is due, and only in this word's turn)
                paced = node.doorman.word_dial_refused
                why = self._not_our_turn(whose, address) or paced(member.host)
                if why is None:
                    keep_latest(self._turns, (whose, address), _now(), MAX_TURNS)
                    await links.dial_quietly(member, on_word=True, elsewhere=elsewhere)
                    return
                if not await self._wait_for_pace(whose, address):
                    break
            log.debug("not dialling %s on another's word: %s", member.addr, why)
        finally:
            self._word_dials -= 1

    def _not_our_turn(self, whose: str, address: str) -> str | None:
        """Why a dial on ``whose`` word may not take ``address``'s pace now: a dial on
        another's word waits for it there, and that word's last turn there came before ours
        (attack round 33: one key's rosters of made-up members at an address, waiting there
        too, took each of its turns, and an honest member's news there was dialled 0 of 4)."""
        ours = self._turn(whose, address)
        for (other, at), waiting in self._waiting.items():
            if at == address and other != whose and waiting and self._turn(other, at) < ours:
                return "another's word waits its turn there"
        return None

    def _turn(self, whose: str, address: str) -> float:
        return self._turns.get((whose, address), -math.inf)

    async def _wait_for_pace(self, whose: str, address: str) -> bool:
        """Wait a pace's interval for a dial to ``address`` on the word of ``whose``, unless
        as many as may wait already do (made-up members at one address held every dial slot,
        and an honest merge's news was dialled 0 times of 5: attack round 31; one key's made-up
        members at an address held its places, and honest members there were dialled 0 times
        of 4: attack round 32)."""
        key, waiting = (whose, address), self._waiting
        if (
            waiting[key] >= WAITING_PER_ADDRESS
            or sum(n for (w, _), n in waiting.items() if w == whose) >= WAITING_PER_WORD
            or sum(waiting.values()) >= WAITING_MOST
        ):
            return False
        waiting[key] += 1
        try:
            await trio.sleep(JOIN_EVERY)
        finally:
            waiting[key] -= 1
            if not waiting[key]:
                del waiting[key]
        return True

    def _from_tracker(self, conn: Connection) -> bool:
        return conn.member is not None and conn.member.node_id == self.node.bully.tracker

    # -- the home address ---------------------------------------------------------------------

    async def knock(self) -> None:
        """Meet whoever holds the room's home address: another part of the room."""
        host, port = self.node.home
        await self.node.links.meet(host, port)


def _now() -> float:
    return trio.current_time()


def _whose(conn: Connection) -> str:
    """What a peer's word is counted under: its address, or, for one on this computer, its
    key (keys cost nothing; one computer's members are told apart by key)."""
    return conn.address or (conn.member.node_id if conn.member else conn.peer)
