"""The node's connections to members: dialling, attaching, reading, dropping, and keeping them.

One connection per member, and the node that accepts a connection decides whether it becomes
the link (``accepts``): it answers with its hello only if so, and the dialling node then always
takes it, so the two ends never disagree. A connection is refused while a live link to that
node exists (the dialler retries later, by which time a link it had lost is gone or quiet here
too), and when the two nodes dial each other at once, the lower id's dial is kept. A link silent
past ``link_timeout`` is dropped; a member lost without a goodbye is dialled again with backoff
(``redial.Redial``).

What a member missed while its link was being set up, or down, it asks for: our hello tells the
number of our last message before the link, and both ends then say what they hold
(``messaging``), whatever the two ends' clocks and whichever of two crossing dials won.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from peerchat import events
from peerchat.addresses import (
    format_addr,
    host_key,
    is_ip,
    is_loopback,
    is_this_computer,
    parse_addr,
)
from peerchat.admission import Paces, Slot
from peerchat.bounded import keep_latest
from peerchat.connection import Connection
from peerchat.doorman import OTHER_ROOM, refuses_the_name
from peerchat.handshake import WrongSecret
from peerchat.membership import Member, takeable
from peerchat.names import looks, skeleton
from peerchat.protocol import (
    MAX_REASON,
    Beat,
    Hello,
    MemberLeft,
    Message,
    Probe,
    ProtocolViolation,
    Refuse,
    Welcome,
    encode,
)
from peerchat.redial import Redial
from peerchat.safe_text import visible
from peerchat.secure_stream import secure_node_stream
from peerchat.wire import encode_frame

if TYPE_CHECKING:
    from peerchat.node import Node

log = logging.getLogger(__name__)

MAX_WAS_NAMED = 10_000  # members gone whose names are remembered for their return
MAX_GIVEN_UP = 1_024  # members said not to have had our lines, kept to be told they have
# Links a member may make to this node (its connections let in) at once, then one a second. A
# link begins what is kept per link anew (the roster's pace, the history handed over): one
# identity linking again hundreds of times a second renewed them at will (attack round 10).
# An honest member links again after a cut, a freeze or a merge: a few times in a minute.
# Seconds a message must have been said before a peer was last heard from to count as had by
# it then: more than a round trip, as what came may have been sent before ours arrived.
HEARD_AFTER = 1.0
RELINKS_AT_ONCE = 8
RELINK_EVERY = 1.0
_PROBE = encode_frame(encode(Probe()))
_BEAT = encode_frame(encode(Beat()))


class Links:
    def __init__(self, node: Node) -> None:
        self.node = node
        config = node.config
        self.conns: dict[str, Connection] = {}
        self.redial = Redial(
            config.redial_first,
            config.redial_cap,
            config.redial_for,
            config.redial_gone_cap,
            config.max_redial,
        )
        self._lost_at: dict[str, int] = {}  # lost member -> our last message when it was lost
        # A member said not to have our lines from this one of ours on: back after all, it is
        # told when it has them (trial 76: "gave up on reaching erin" stood uncorrected after
        # she came back and fetched them)
        self._given_up_at: dict[str, int] = {}
        # A member gone -> the name it had: one back under another is announced as renamed
        # (it took it where this node could not hear: in a partition, or as it restarted).
        self._was_named: dict[str, str] = {}
        self._gone_looks: dict[str, str] = {}  # what such a name looks like -> that member
        self._changed = trio.Event()
        self._redial_changed = trio.Event()
        self._warned_addresses = False
        self._epoch = 0  # advanced by forget_all: a dial begun before it is not kept
        self._dialling: dict[str, int] = {}  # member -> dials under way to it
        self._unlinked: dict[str, int] = {}  # listed, no link yet -> our last message then
        self._vouched: dict[str, Member] = {}  # announced by the tracker, not yet linked
        # Where each member linked is known to be reached, for the next start: the address
        # this node dialled, or one that dialled it at the host its link came from (attack
        # round 38 F3: 64 made-up members' addresses took every place, and a restart dialled
        # only those; review 57: members only named by the tracker, and claims of members
        # this node dialled elsewhere, were remembered too). Kept with a data dir only.
        self.proved: dict[str, tuple[str, int]] = {}
        # Let in by a member the tracker turned away, not yet linked: a pool of its own, so
        # that no member's word can push the tracker's out.
        self._introduced: dict[str, Member] = {}
        self._relinks = Paces(RELINK_EVERY, RELINKS_AT_ONCE)

    # -- dialling -----------------------------------------------------------------------------

    async def dial_quietly(
        self, member: Member, *, on_word: bool = False, elsewhere: bool = False
    ) -> bool:
        """Connect to a member; True when linked to it afterwards (by this dial or by its own
        dial, which crossed this one), else log why not and return False. ``on_word``: dialled
        on another's word, at the join pace of the address it reaches. ``elsewhere``: that
        word came from another computer: never to this computer's own addresses."""
        return await self._dial_member(member, on_word=on_word, elsewhere=elsewhere) is None

    async def _dial_member(
        self, member: Member, *, on_word: bool = False, elsewhere: bool = False
    ) -> Exception | None:
        """Connect to a member: None when linked to it afterwards, else what went wrong."""
        try:
            with trio.fail_after(self.node.config.connect_timeout):
                dial = functools.partial(self._dial, on_word=on_word, elsewhere=elsewhere)
                await self.node.nursery.start(dial, member.host, member.port, member)
            return None
        except Exception as exc:
            # Refused, unreachable, too slow, or not the member it claims to be.
            if member.node_id in self.conns:
                return None  # its own dial crossed this one and was kept
            why = str(exc) or type(exc).__name__
            log.info("could not reach %s at %s: %s", member.username, member.addr, why)
            return exc

    async def dial_or_keep_trying(self, member: Member, *, elsewhere: bool = False) -> None:
        """Dial a member the room has; one that cannot be reached yet is not listed (it would
        count in elections that never reach it) but dialled again on the redial schedule, and
        let in when it dials this node (a stranger would be held until announced). One not
        dialled at all (``NotDialled``) is not dialled again."""
        failed = await self._dial_member(member, elsewhere=elsewhere)
        if failed is None or member.node_id in self.conns:
            return
        if self.node.reporting and member.node_id in self.node.members:
            self.drop_member(member.node_id, "unreachable", lost=True)  # it was reported
        else:
            self.node.members.remove(member.node_id)
            if not isinstance(failed, NotDialled):
                self.keep_trying(member, linked=False)

    async def ask_in(self, host: str, port: int, node_id: str) -> None:
        """Ask the member with key ``node_id`` at ``host:port`` to let this node in itself, as
        when the tracker turns a newcomer away, and link to it over that connection: it tells
        the members it knows of this node, and the members its welcome names that this node
        lacks are met as a second opinion's (``TrackerRole.take_second_opinion``). For the
        member that first sent this node on, not linked to once the tracker's welcome is
        through: a tracker that welcomed a newcomer with nobody, and told nobody of it, kept it
        apart (attack round 30, 0 of 10 lines either way); one that welcomed it with a member
        of its own, which answered no question, did as well (a review)."""
        member = Member(node_id, "", host, port, 0)  # (its name is not known: only its key)
        try:
            with trio.fail_after(self.node.config.connect_timeout):
                dial = functools.partial(self._dial, asking_in=True)
                await self.node.nursery.start(dial, host, port, member)
        except Exception as exc:
            why = str(exc) or type(exc).__name__
            log.info(
                "%s, which sent this node on to the tracker, did not let it in: %s",
                format_addr(host, port),
                why,
            )

    async def meet(self, host: str, port: int) -> None:
        """Connect to whoever answers at ``host:port`` (the room's home address), if it is a
        node of this room that this node is not yet connected to."""
        try:
            with trio.fail_after(self.node.config.connect_timeout):
                await self.node.nursery.start(self._dial, host, port, None)
        except InAnotherRoom:  # yet it answered the search for this room's name
            self.node.met_another_room(self.node.room_name, f"at {host}", host)
        except WrongSecret:  # a room of this name with a secret, or another one
            self.node.met_secret_room(host)
        except Exception as exc:
            log.debug("nobody of this room met at %s:%d: %s", host, port, exc)

    async def _dial(
        self,
        host: str,
        port: int,
        member: Member | None,
        *,
        on_word: bool = False,
        elsewhere: bool = False,
        asking_in: bool = False,
        task_status: trio.TaskStatus[None],
    ) -> None:
        """``asking_in``: see ``ask_in``."""
        epoch = self._epoch
        # Registered before connecting: a dial of the peer's that crosses this one must see it.
        target = member.node_id if member is not None else ""
        self._dialling[target] = self._dialling.get(target, 0) + 1
        try:
            await self._dial_registered(
                host, port, member, epoch, task_status, on_word, elsewhere, asking_in
            )
        finally:
            self._dialling[target] -= 1
            if not self._dialling[target]:
                del self._dialling[target]

    async def _dial_registered(
        self,
        host: str,
        port: int,
        member: Member | None,
        epoch: int,
        task_status: trio.TaskStatus[None],
        on_word: bool = False,
        elsewhere: bool = False,
        asking_in: bool = False,
    ) -> None:
        node = self.node
        if elsewhere and not is_ip(host) and await _names_this_computer(host, port):
            raise NotDialled(f"not dialling {host}: it stands for this computer")
        slot = node.admission.dialled(host if member is not None else "")
        try:
            stream = await trio.open_tcp_stream(host, port)
        except BaseException:
            slot.leave()
            raise
        why = _not_to_be_reached(node, host, stream, on_word=on_word, elsewhere=elsewhere)
        if why is not None:
            slot.leave()
            await trio.aclose_forcefully(stream)
            raise NotDialled(f"not dialling {host}:{port} on another's word: {why}")
        try:
            # Bounded by the caller's connect timeout.
            secured = await secure_node_stream(node, stream, initiator=True, within=math.inf)
        except BaseException:
            slot.leave()
            await trio.aclose_forcefully(stream)
            raise
        conn = Connection(secured, node.config, f"{host}:{port}", node.budget, node.listed)
        try:
            if member is not None and conn.proven_id != member.node_id:  # (its key, proven)
                raise AnotherKeyThere(f"{host}:{port} is not {member.username}")
            peer = member.node_id if member else None
            await conn.send_now(node.hello(conn, peer, join=asking_in, direct=asking_in))
            hello = await conn.receive()
            if isinstance(hello, Refuse):
                if not hello.retry and refuses_the_name(hello.reason):
                    node.name_refused(f"{host}:{port}", hello.reason)
                if hello.reason == OTHER_ROOM:
                    raise InAnotherRoom(f"{host}:{port} is in another room")
                raise ProtocolViolation(f"{host}:{port} refused: {hello.reason}")
            if not isinstance(hello, Hello):
                what = "closed the connection" if hello is None else f"sent a {_kind(hello)}"
                raise ProtocolViolation(f"{host}:{port} did not say hello: it {what}")
            if hello.node_id != conn.proven_id:
                raise ProtocolViolation(f"{host}:{port} said hello under an id it did not prove")
            if hello.node_id == node.node_id:
                raise ProtocolViolation(f"{host}:{port} is this node")
            if hello.room != node.room:
                node.met_another_room(hello.name, hello.room, host)
                raise ProtocolViolation(f"{host}:{port} belongs to another room")
            if hello.chat and not takeable(hello.username):
                raise ProtocolViolation(f"{host}:{port} goes by a name it may not take")
            if node.doorman.name_taken(hello):  # as for a hello that comes in (attack round
                # 13: dialled on a member's word, a stranger came in under "alice")
                raise ProtocolViolation(f"{host}:{port}: the name {hello.username!r} is taken")
            conn.introduced()
            welcome = await conn.receive() if asking_in else None  # (its list may be big)
            if asking_in and not isinstance(welcome, Welcome):
                raise ProtocolViolation(f"{host}:{port} did not let this node in")
            if epoch != self._epoch or node.entrance.rejoining:
                raise ProtocolViolation("this node left the room meanwhile (it is rejoining)")
        except BaseException:
            slot.leave()
            await conn.aclose()
            raise
        self.attach(conn, hello, reached_at=format_addr(host, port))  # it took this connection
        if welcome is not None:
            node.tracker_role.take_second_opinion(conn, welcome.members)
        task_status.started()
        await self.session(conn, slot)

    # -- attaching ----------------------------------------------------------------------------

    def accepts(self, node_id: str, *, join: bool) -> str | None:
        """Whether an incoming connection from ``node_id`` may become the link to it: None if
        so, else why not. Decided here, at the accepting end, and followed by the dialler. A
        join always may (the joining node has let go of every link it had), unless it links
        again too often (``RELINK_EVERY``)."""
        if not join:
            if node_id in self._dialling and self.node.node_id < node_id:
                return "the two nodes are dialling each other; the lower id's dial is kept"
            old = self.conns.get(node_id)
            if old is not None:
                # The dialler has no link, so ours may be dead: ask it. If it is, it goes
                # within the probe timeout, and the dialler's next try gets in.
                self.probe(old)
                return "a live link between the two nodes exists already"
        if not self._relinks.allows(node_id, trio.current_time()):
            return "linked again too often; try again in a moment"
        return None

    def attach(self, conn: Connection, hello: Hello, *, reached_at: str | None = None) -> None:
        """Make ``conn`` the link to the member that sent ``hello``, replacing any other;
        ``reached_at``: the address this node dialled it at."""
        node = self.node
        member = hello.member()
        old = self.conns.get(member.node_id)
        conn.member, conn.peer = member, f"{member.username}@{member.addr}"
        at = _proved_at(conn, member, reached_at)
        if at is not None and node.data_dir is not None:
            self.proved[member.node_id] = at
        else:
            self.proved.pop(member.node_id, None)
        listed_at = self._unlinked.pop(member.node_id, None)
        self._vouched.pop(member.node_id, None)
        self._introduced.pop(member.node_id, None)
        if old is not None:
            old.abort("replaced by a newer connection")
        self.conns[member.node_id] = conn
        log.info("connected to %s (%s) at %s", member.username, member.node_id, member.addr)
        # One taken to have quit, and dialled still, is "back", as it was last said to have
        # dropped out (trial 73 read "joined" of one, unexplained)
        quit_told = self.redial.told_gone(member.node_id)
        self.redial.found(member.node_id, trio.current_time())
        for gone in self.redial.replaced_by(member, skeleton, reached_at):
            self._gave_up(gone, replaced=True)
        lost_at = self._lost_at.pop(member.node_id, None)
        dropped_out = lost_at is not None or quit_told
        given_up_at = self._given_up_at.pop(member.node_id, None)
        away = [seq for seq in (lost_at, listed_at, given_up_at) if seq is not None]
        heard = node.chatlog.shown(member.node_id)
        released = []
        if heard is None:  # from here on, nothing of this author may be lost: remember it now
            start = hello.seq
            if node.reporting and hello.tracker and hello.tracker != node.bully.tracker:
                # A member of a part of the room that meets ours: what it said while apart,
                # it said in the room, and its hello gives its last number; a line said a
                # moment before its link, and never heard here, was lost (a namespace trial).
                # Its latest lines come as history.
                start = max(0, hello.seq - node.config.history)
            released = node.chatlog.start_after(member.node_id, start)
            node.messaging.heard(member.node_id, start)
        new = node.add_member(member)
        was_named = self._back(member.node_id) or member.username
        # Every link binds the name, not only a newcomer's: a member listed when this node
        # came in was bound nowhere here, and this node let another key take its name while
        # the others refused it (a user trial's room disagreed on who was who).
        # (A standalone tracker's name is no person's.) A member of a part that was apart,
        # under a name like one here, binds nothing: the name stays with the key that had it
        # here, and neither is "another key" of the other.
        if node.talk.shares_name(member):
            node.talk.let_in_namesake(member)
        elif member.chat and not node.talk.is_namesake(member.node_id, member.username):
            # (A namesake is bound by ``Talk._hand_on``.)
            # It goes by the name here now: one who went by it before and left no longer
            # holds it (kept, it turned this member away as a rename after a freeze here).
            for look in looks(member.username):
                self._gone_looks.pop(look, None)
            # A name like one another key went by here ("Bob" of bob, gone or robert now) is
            # that name too: nothing private goes to it by the bare name till the user names
            # the key (attack round 56, review 71); the name itself is the store's to judge
            # (trial 45)
            store = node.store
            # (bound to it here before: the user was told as it took it, not at each start:
            # trial 77 F2, two members' swap of names read "a second program" at every one)
            told = store.owner(member.username) == member.node_id
            before, like = store.name_owner(member.username, member.node_id, time.time()), ""
            if before is None and (alike := store.like_owner(member.username, member.node_id)):
                before, like = alike  # (review 72: not the name that key went by last)
            if before not in (None, node.node_id, member.node_id):  # (its own former name:
                # no other key back under it, review 57)
                present = node.members.get(before)
                here_as = present.username if present is not None else ""
                # (not again as it links anew, nor at each start: ``told``)
                if node.talk.took_name_of(member, before) and not told:
                    node.emit(events.NewKey(member, before, here_as, "" if here_as else like))
        # After its name's word, if another key had it here: a bot greeting each join had
        # greeted it before it learnt so (trial 67).
        if new and node.reporting:
            # One line: "caroline is now known as carol" was said of someone not in the room.
            was = was_named if was_named != member.username else ""
            node.emit(events.PeerJoined(member, was, back=dropped_out))
        elif (old := node.entrance.renamed_meanwhile(member)) is not None:
            node.emit(events.Renamed(member, old))  # back from a freeze: its own word
        for chat in released:
            node.show(member, chat, own=False)
        back = lost_at is not None
        node.messaging.on_link(conn, member, missed_after=min(away, default=None), back=back)
        node.files.on_link(member)
        node.talk.on_link(conn, member)
        self._warn_about_addresses(conn, member)
        node.tracker_role.on_link(conn, hello, new=new)
        self._changed.set()

    def _warn_about_addresses(self, conn: Connection, member: Member) -> None:
        """Tell the user, once, when others are told an address they may not reach."""
        mine = self.node.advertised_host(conn)
        if self._warned_addresses or is_loopback(mine) == is_loopback(member.host):
            return
        self._warned_addresses = True
        if is_loopback(mine):
            text = (
                f"this node tells others it is at {mine}, a loopback address, but "
                f"{member.username} is at {member.host}, on another computer: start this node "
                "with --host and an address the others can reach"
            )
        else:
            text = (
                f"{member.username} tells others it is at {member.host}, a loopback address, "
                f"while this node is at {mine}: nodes on other computers cannot reach "
                f"{member.username} until it is started with --host and a reachable address"
            )
        self.node.emit(events.Error(text))

    # -- sessions and leaving -----------------------------------------------------------------

    async def session(self, conn: Connection, slot: Slot) -> None:
        try:
            await conn.run(self.node.dispatch)
        finally:
            slot.leave()
            member = conn.member
            if member is not None and self.conns.get(member.node_id) is conn:
                del self.conns[member.node_id]
                self.drop_member(
                    member.node_id,
                    conn.close_reason,
                    lost=not conn.said_bye,
                    last_heard=conn.last_heard,
                    had=conn.had,
                )
            self._changed.set()

    def drop_member(
        self,
        node_id: str,
        reason: str,
        *,
        lost: bool,
        last_heard: float | None = None,
        had: int = 0,
    ) -> None:
        """``node_id`` is no longer in the room; when it was ``lost`` (no goodbye), dial it
        again for a while. ``last_heard``: when its link last brought anything (trio time);
        ``had``: our last message it surely had."""
        node = self.node
        if node.leaving or node.entrance.coming_back():
            return  # a node on its way out or back in no longer reports, elects or tracks
        member = node.members.remove(node_id)
        listed_at = self._unlinked.pop(node_id, None)
        self._vouched.pop(node_id, None)  # not a member's introduction: the tracker's word
        # that a newcomer left must not undo a member's letting in one the tracker turned away
        if member is None:
            return
        conn = self.conns.pop(node_id, None)
        if conn is not None:
            conn.abort(reason)
        node.chatlog.forget(node_id)
        node.messaging.on_unlink(node_id, lost=lost)
        log.info("%s (%s) left: %s", member.username, node_id, reason)
        node.store.left(node_id, time.time())
        if member.chat:
            self._gone(member)
        now = trio.current_time()
        since, unheard = listed_at, 0  # our messages since we last heard from it may be lost
        if lost and listed_at is None and last_heard is not None:
            # Heard from at ``last_heard``, it may have sent that before ours came: only what
            # was said a round trip before it, or its kernel acknowledged, it surely had (a
            # trial's line said as a cable was pulled was not said to be missed, 3 of 4).
            surely = node.messaging.said_before(last_heard - HEARD_AFTER)
            since = max(surely, had)
            unheard = node.chatlog.seq - since
        if lost:
            self.keep_trying(member, since=since, linked=listed_at is None)
        if node.reporting:
            node.emit(events.PeerLeft(member, reason, said=not lost, dialled=lost))
            if unheard and member.chat:
                node.emit(events.Unconfirmed(member, unheard))
        if lost:
            node.talk.on_unlink(member)  # it may be back: what it lacks goes again then
        else:
            node.talk.gave_up(member)  # it said goodbye: what it did not acknowledge is lost
        node.files.on_unlink(member, lost=lost)  # after "left": its fetches wait or end
        if node.bully.is_tracker:
            self.broadcast(MemberLeft(node_id, visible(reason)[:MAX_REASON]))
        node.leadership.act(node.bully.on_member_lost(node_id, now))

    def _gone(self, member: Member) -> None:
        self._back(member.node_id)  # (its entry goes to the end: the latest gone)
        self._was_named[member.node_id] = member.username
        self._gone_looks.update(dict.fromkeys(looks(member.username), member.node_id))
        if len(self._was_named) > MAX_WAS_NAMED:
            self._back(next(iter(self._was_named)))  # the longest gone is forgotten

    def _back(self, node_id: str) -> str | None:
        """The name ``node_id`` had when it went, if it went; forgotten now."""
        name = self._was_named.pop(node_id, None)
        for look in looks(name) if name is not None else ():
            if self._gone_looks.get(look) == node_id:
                del self._gone_looks[look]
        return name

    def was_named(self, node_id: str) -> str | None:
        """The name ``node_id`` had when it went away, if it did (and is not back)."""
        return self._was_named.get(node_id)

    def gone_like(self, name: str, by: str) -> bool:
        """Whether a member other than ``by`` went away under a name that looks like ``name``
        (``/nick`` may not take it: its owner would come back to find it taken)."""
        owners = (self._gone_looks.get(look) for look in looks(name))
        return any(owner not in (None, by) for owner in owners)

    def awaited_like(self, name: str, by: str) -> bool:
        """Whether a member other than ``by`` that this node still redials, and whose host has
        not said that nothing listens, went by a name that looks like ``name``."""
        read = looks(name)  # (review 70: "@lice" was let in beside an alice away)
        awaited = self.redial.awaited()
        return any(m.node_id != by and not read.isdisjoint(looks(m.username)) for m in awaited)

    def dialling(self, node_id: str) -> bool:
        return node_id in self._dialling

    def listed(self, member: Member) -> None:
        """``member`` is in the room now; until it is linked, what we say misses it."""
        if member.node_id not in self.conns:
            self._unlinked.setdefault(member.node_id, self.node.chatlog.seq)

    def vouched(self, member: Member, *, by_tracker: bool = True) -> None:
        """The tracker (or the member that let it in) says ``member`` is in the room: let its
        connection in, and count what we say from now on as missed by it until a link to it
        is up."""
        config = self.node.config
        pool, cap = (
            (self._vouched, config.max_vouched)
            if by_tracker
            else (self._introduced, config.max_pending)
        )
        pool.pop(member.node_id, None)
        while len(pool) >= cap:
            oldest = next(iter(pool))  # the oldest word goes first, and its mark with it
            del pool[oldest]
            if oldest not in self.node.members and not self.is_vouched(oldest):
                self._unlinked.pop(oldest, None)
        pool[member.node_id] = member
        self.listed(member)
        self.node.doorman.announced(member.node_id)

    def is_vouched(self, node_id: str) -> bool:
        return node_id in self._vouched or node_id in self._introduced

    def listed_at(self, node_id: str | None) -> int:
        """Our last message when ``node_id`` was listed without a link or lost (else our last
        now): what it missed since, it fetches."""
        now = self.node.chatlog.seq
        if not node_id:
            return now
        return min(now, self._unlinked.get(node_id, now), self._lost_at.get(node_id, now))

    def keep_trying(self, member: Member, since: int | None = None, *, linked: bool = True) -> None:
        """A member this node has not reached yet: dial it on the redial schedule. What we say
        from ``since`` (our last message by default) on, it missed; unless it was never
        ``linked`` nor listed (``since``): known only by another's word, it was never in the
        room with us, and nothing is "not delivered" to it."""
        let_go = self.redial.lost(member, trio.current_time(), linked=linked)
        if let_go is not None:
            self._gave_up(let_go)
            if let_go is member:
                return
        if linked or since is not None:
            seq = self.node.chatlog.seq if since is None else since
            self._lost_at.setdefault(member.node_id, seq)
        self._redial_changed.set()

    def unreachable(self) -> list[Member]:
        """Chatting members lost without a goodbye and not yet back, or listed and not yet
        linked; not one whose host has said for ``gone_after`` that nothing listens there: it
        has quit, its goodbye unheard (a trial's member quit just after a cut healed, and
        stayed "away" and owed every line on the far side for minutes, while the near side
        read "left (quit)"). Before that, it may be a crash, started again in seconds (a
        trial's /msg to one was refused, and a line it missed was not said to be so)."""
        if not self.redial and not self._unlinked:
            return []  # the usual case, asked once per message said
        maybe = self.redial.not_gone(trio.current_time(), self.node.config.gone_after)
        waiting = [m for m in maybe if m.chat and m.node_id in self._lost_at]
        members = self.node.members
        waiting += [m for i in self._unlinked if (m := members.get(i)) is not None and m.chat]
        return waiting

    def forget_all(self) -> None:
        """Before joining afresh: no redialling of the old room's members, and no dial that is
        under way is kept."""
        self.redial.clear()
        self._lost_at.clear()
        self._given_up_at.clear()
        self._unlinked.clear()
        self._vouched.clear()
        self._introduced.clear()
        self._epoch += 1

    async def changed(self) -> None:
        self._changed = trio.Event()
        await self._changed.wait()

    # -- sending ------------------------------------------------------------------------------

    def broadcast(
        self, message: Message, *, skip: Connection | None = None, chatting: bool = False
    ) -> None:
        """``message`` to every linked peer but ``skip`` (only those who chat, if
        ``chatting``), encoded once."""
        frame = None
        for conn in self.conns.values():
            if conn is skip or chatting and (conn.member is None or not conn.member.chat):
                continue
            frame = frame or conn.frame(message)
            conn.send_frame(frame)

    def announce(
        self, member: Member, make: Callable[[Member], Message], *, skip: Connection
    ) -> None:
        """``make(member)`` to every linked peer but ``skip``, ``member`` at the address each
        should dial (``Node.told_on``)."""
        frames: dict[str, bytes] = {}  # by the host told: encoded once each
        for conn in self.conns.values():
            if conn is not skip:
                told = self.node.told_on(conn, member)
                frame = frames[told.host] = frames.get(told.host) or conn.frame(make(told))
                conn.send_frame(frame)

    # -- keeping links ------------------------------------------------------------------------

    def probe(self, conn: Connection, *, on_word: bool = False) -> None:
        """Ask the peer on ``conn`` for a sign of life; cut the link if none comes within the
        probe timeout (a frozen process: its kernel still acknowledges, it does not). Asked
        ``on_word`` of another (the tracker's that it left), one silent for less than the
        heartbeat timeout is waited for that long: a hostile tracker that said so four times a
        second had a member's link cut at each pause of 1.2 s (attack round 50)."""
        if conn.probed is not None:
            return
        conn.probed = trio.current_time()
        conn.send_frame(_PROBE)
        self.node.nursery.start_soon(self._await_answer, conn, on_word)

    async def _await_answer(self, conn: Connection, on_word: bool) -> None:
        asked = conn.probed
        assert asked is not None
        config = self.node.config
        await trio.sleep(config.probe_timeout)
        if on_word and conn.heard < asked:  # (heard from since: nothing to wait for)
            await trio.sleep_until(conn.heard + config.heartbeat_timeout)
        conn.probed = None
        if conn.heard < asked:
            # Not "silent for" the time since it was last heard: a quiet link says nothing.
            waited = config.heartbeat_timeout if on_word else config.probe_timeout
            conn.abort(f"no answer within {waited:g} s")

    def on_probe(self, conn: Connection, message: Probe) -> None:
        conn.send_frame(_BEAT)

    async def watch_acknowledged(self) -> None:
        """What each link's peer surely had of our messages, looked at once an interval: all
        we had sent, when its kernel had acknowledged every byte. Between two quiet members a
        link brings nothing back, and a cut made every line since the other last spoke "may
        not have" (a user trial: 1,010 lines shown a minute before)."""
        while True:
            await trio.sleep(self.node.config.heartbeat_interval)
            sent = self.node.messaging.sent
            for conn in self.conns.values():
                if conn.had < sent and conn.acknowledged():  # a quiet room asks nothing
                    conn.had = sent

    async def redial_lost(self) -> None:
        """Dial lost members again as the schedule says; give up on them after a while."""
        after = self.node.config.gone_after
        while True:
            times = (self.redial.next_due(), self.redial.next_gone(after))
            due = min((t for t in times if t is not None), default=None)
            with trio.move_on_at(math.inf if due is None else due):
                self._redial_changed = trio.Event()
                await self._redial_changed.wait()
            now = trio.current_time()
            for member in self.redial.expired(now):
                self._gave_up(member)
            for member in self.redial.gone_for(now, after):
                self._taken_to_have_quit(member)
            for member in self.redial.due(now):
                self.node.nursery.start_soon(self._redial, member)

    async def _redial(self, member: Member) -> None:
        failure = None if member.node_id in self.conns else await self._dial_member(member)
        if failure is None:
            self.redial.found(member.node_id, trio.current_time())
        elif isinstance(failure, AnotherKeyThere) and self.redial.let_go(member.node_id):
            self._gave_up(member, replaced=True)  # another process listens there now
        else:
            self.redial.failed(member.node_id, trio.current_time(), gone=_nobody_listens(failure))
        self._redial_changed.set()

    def _taken_to_have_quit(self, member: Member) -> None:
        """Nothing has listened at ``member``'s address for ``gone_after``: no longer away nor
        owed lines (``unreachable``), which is told: trial 67's bot saw it leave ``/who``'s
        away list unsaid, and lines said "undelivered" to it never followed by a word more;
        trial 74's screen, a member that quit during a cut gone from ``/who`` unsaid.
        It is dialled on, now and then, in case it comes back."""
        told = member.chat and self.node.reporting
        if told:  # (first: then the lines that did not reach it)
            self.node.emit(events.PeerGone(member))
        self._owed_no_more(member, tell=told)

    def _gave_up(self, member: Member, *, replaced: bool = False) -> None:
        """``member`` is not dialled again: it is gone. One ``replaced`` by a process in its
        place is not said to have missed our lines: that one had the room's history as it came
        (a trial's "did not reach gina" of a gina who was then shown them)."""
        self._unlinked.pop(member.node_id, None)
        log.info("gave up on reaching %s", member.username)
        self._owed_no_more(member, tell=member.chat and not replaced)
        self.node.talk.gave_up(member)
        self.node.files.gave_up(member)

    def _owed_no_more(self, member: Member, *, tell: bool) -> None:
        """``member`` is owed our lines since it was lost no longer; ``tell``: how many, if
        any, did not reach it."""
        seq = self.node.chatlog.seq
        lost_at = self._lost_at.pop(member.node_id, seq)
        if tell and seq > lost_at:
            self.node.emit(events.NotDelivered(member, seq - lost_at))
            keep_latest(self._given_up_at, member.node_id, lost_at, MAX_GIVEN_UP)


class NotDialled(ProtocolViolation):
    """A dial on another's word reached an address it may not have: not dialled again."""


def _not_to_be_reached(
    node: Node, host: str, stream: trio.SocketStream, *, on_word: bool, elsewhere: bool
) -> str | None:
    """Why the address a dial reached is not to be dialled on another's word, if it is not:
    this computer's own, named from another computer, however written (a name, ``0.0.0.0``,
    ``::ffff:127.0.0.1``: attack round 30); past the join pace of the address a name stands
    for (attack round 16: 768 names of one address were 768 paces)."""
    if not elsewhere and (not on_word or is_ip(host)):
        return None
    reached = stream.socket.getpeername()[0]
    if elsewhere and is_this_computer(reached):
        return "this computer's own address, named from another computer"
    return node.doorman.word_dial_refused(reached) if on_word and not is_ip(host) else None


async def _names_this_computer(host: str, port: int) -> bool:
    """Whether the name ``host`` stands for this computer: checked before a dial on the word
    of a peer elsewhere, which should not reach its ports even to be refused (attack round
    31: "vm" of /etc/hosts was connected to, then closed). The dial checks the address it
    reaches as well (a name may resolve anew)."""
    try:
        found = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    except OSError:
        return False  # (the dial finds it out)
    return any(is_this_computer(str(info[4][0])) for info in found)


class AnotherKeyThere(ProtocolViolation):
    """A member dialled at its address answered under another key: a new process is there."""


class InAnotherRoom(ProtocolViolation):
    """The node dialled is in another room (it says so)."""


def _nobody_listens(exc: BaseException) -> bool:
    """The host answered that nothing listens on the port: the process is gone (a partition or
    a cable looks different: no answer at all, or no route)."""
    errors = getattr(exc.__cause__, "exceptions", ())
    return bool(errors) and all(isinstance(e, ConnectionRefusedError) for e in errors)


def _kind(message: Message | None) -> str:
    """What a peer sent, for logs: its type, never its contents."""
    return "nothing" if message is None else type(message).__name__


def _proved_at(conn: Connection, member: Member, reached_at: str | None) -> tuple[str, int] | None:
    """Where ``member``, linked by ``conn``, is known to be reached: the address this node
    dialled (``reached_at``), or on that host its own port rather than the room's home
    address it may have held (review 58); for one that dialled this node, the address it
    names if its link came from that host; else nowhere known."""
    at = parse_addr(reached_at) if reached_at is not None else None
    if at is not None:
        return (member.host, member.port) if host_key(at[0]) == host_key(member.host) else at
    return (member.host, member.port) if _came_from(conn, member.host) else None


def _came_from(conn: Connection, host: str) -> bool:
    """Whether ``conn``, dialled by its peer, came from ``host``, the address its hello says
    the peer listens at (one on loopback from this computer's loopback), exactly: an IPv6
    address is counted with its /48, but proves none of the others (attack round 39 F3)."""
    came = conn.remote_host
    if not came or is_loopback(came):
        return is_loopback(host)
    return host_key(came) == host_key(host)
