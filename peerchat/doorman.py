"""Incoming connections, from the first byte to membership.

A connection takes an admission slot (or is refused at once), must finish the Noise handshake
(``secure_stream``) and then say hello, each within the hello timeout; the id in its hello must
be the one its handshake proved. It is then one of:

- a join, at the tracker: welcomed with the member list, and announced to the room;
- a join at another member: told where the tracker is (``Redirect``), then closed; or, when
  the tracker turned it away (``Hello.direct``), welcomed by that member as the tracker would;
- a member of this room (known, lost and coming back, or a tracker of another part of the
  room meeting this one): attached at once;
- anyone else: held, unread, until the tracker announces it (a newcomer often dials before the
  announcement arrives), and closed after ``admit_timeout`` if that never happens.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from typing import TYPE_CHECKING

import trio

from peerchat import events
from peerchat.addresses import address_key, is_loopback
from peerchat.admission import Paces, RefusalLog
from peerchat.bounded import keep_latest
from peerchat.connection import Connection
from peerchat.handshake import ClosedEarly, ClosedUnheard, HandshakeError, WrongSecret
from peerchat.membership import takeable, why_not_takeable
from peerchat.names import marked, skeleton
from peerchat.protocol import (
    Hello,
    MemberJoined,
    ProtocolViolation,
    Redirect,
    Refuse,
    VersionMismatch,
    Welcome,
)
from peerchat.secure_stream import secure_node_stream
from peerchat.wire import FrameError

if TYPE_CHECKING:
    from peerchat.node import Node

log = logging.getLogger(__name__)

CLASH_NOTICE_INTERVAL = 60.0  # seconds between two notices of a name clash
# Joins let in from one address at once, then one a second. Each new key is a member, with a
# line on every screen and offers and a name of its own: one address joining under 1,200
# throwaway keys in 10 s made 23,000 offer events a second (attack round 11). An office behind
# one NAT address joins a few at a time. Loopback is not paced: one computer's own nodes.
JOINS_AT_ONCE = 32
JOIN_EVERY = 1.0
# Members linked from one address, at most (this one among them): paced joins from one address
# filled the tracker's connections in 17 minutes, and then nobody could join (attack round 15).
MEMBERS_PER_ADDRESS = 64


class Doorman:
    def __init__(self, node: Node) -> None:
        self.node = node
        # Every line about a connection let go, so that a flood cannot fill the disk.
        self._refusals = RefusalLog(node.config.refusal_log_interval, burst=20)
        self._expected: dict[str, trio.Event] = {}  # introduced, waiting to be announced
        self._guesses: dict[str, float] = {}  # address -> when it last tried another secret
        self._joins = Paces(JOIN_EVERY, JOINS_AT_ONCE)  # by address
        self._word_joins = Paces(JOIN_EVERY, JOINS_AT_ONCE)  # by address, dialled on a word
        self._clash_told = -CLASH_NOTICE_INTERVAL  # when a name clash was last told

    async def serve(
        self,
        listeners: list[trio.SocketListener],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await trio.serve_listeners(
            self.accept, listeners, handler_nursery=self.node.nursery, task_status=task_status
        )

    def too_many_joins(self, host: str, *, on_word: bool = False) -> str | None:
        """Why a join from ``host`` is turned away now (``JOIN_EVERY``), if it is. ``on_word``:
        a member at ``host`` that a member's roster had this node dial, which counts apart
        (attack round 15: rosters naming an address spent the joins of those knocking there)."""
        paces = self._word_joins if on_word else self._joins
        if is_loopback(host) or paces.allows(address_key(host), trio.current_time()):
            return None
        return f"too many joins from {host}; try again in a moment"

    def too_many_members(self, host: str, *, more: int = 0) -> str | None:
        """Why another member at ``host`` is turned away (``MEMBERS_PER_ADDRESS``), if it is;
        ``more``: members at it on the way in, not yet linked."""
        here = self.node.admission.members_at(host) + more
        if is_loopback(host) or here <= MEMBERS_PER_ADDRESS:
            return None
        return f"{MEMBERS_PER_ADDRESS} members from {host} are in the room, the most it lets in"

    def word_dial_refused(self, host: str) -> str | None:
        """Why a member at ``host`` is not dialled on another's word now, if it is not: as
        one that knocks there would not be let in."""
        return self.too_many_joins(host, on_word=True) or self.too_many_members(host, more=1)

    def _wrong_secret(self, host: str) -> None:
        """``host`` tried another secret: its next tries within ``guess_pause`` are closed
        before any handshake, so a live node answers guesses at its secret slowly."""
        keep_latest(self._guesses, host, trio.current_time(), self.node.config.max_pending)

    def _guessing(self, host: str) -> bool:
        at = self._guesses.get(host)
        return at is not None and trio.current_time() - at < self.node.config.guess_pause

    def announced(self, node_id: str) -> None:
        """The room knows ``node_id`` now: let in its connection if one waits for that."""
        waiting = self._expected.pop(node_id, None)
        if waiting is not None:
            waiting.set()

    async def accept(self, stream: trio.SocketStream) -> None:
        """Serve one incoming connection. Nothing it sends can end more than this connection."""
        node = self.node
        try:
            host, port = stream.socket.getpeername()[:2]
        except OSError:
            await trio.aclose_forcefully(stream)
            return
        peer = f"{host}:{port}"
        slot = "another secret, again" if self._guessing(host) else node.admission.enter(host)
        if isinstance(slot, str):
            self._log_refusal(peer, slot)
            await trio.aclose_forcefully(stream)
            return
        try:
            secured = await secure_node_stream(
                node, stream, initiator=False, within=node.config.hello_timeout
            )
        except (HandshakeError, trio.BrokenResourceError, OSError) as exc:
            if isinstance(exc, WrongSecret):
                self._wrong_secret(host)
            # A join's dial it did not take is no refusal (trials read a WARNING at every join),
            # nor a dial given up on while this node was frozen (and one at each resume).
            level = logging.WARNING
            if isinstance(exc, ClosedEarly):
                level = logging.DEBUG if isinstance(exc, ClosedUnheard) else logging.INFO
            self._log_refusal(peer, f"no handshake: {exc}", level)
            slot.leave()
            await trio.aclose_forcefully(stream)
            return
        conn = Connection(secured, node.config, peer, node.budget, node.listed)
        try:
            hello = await self._greet(conn)
            if hello is None:
                return
            if hello.node_id == node.bully.tracker and _at(stream, node.home):
                node.home_address.step_aside(node.nursery)  # the tracker knocks: it wants it
            if not await self._admitted(conn, hello):
                return
            slot.member()
            conn.introduced()
            await self._welcome(conn, hello, slot, host)
        except Exception:
            log.warning("dropping connection from %s after an internal error", peer, exc_info=True)
        finally:
            slot.leave()
            await conn.aclose()

    async def _welcome(self, conn: Connection, hello: Hello, slot: object, host: str) -> None:
        node = self.node
        # No await from here to the queued replies: the member list in the welcome and the
        # chat sequence number in our hello must match what this connection gets afterwards.
        welcome = None
        if hello.join:
            listed = node.listed_on(conn)
            marked = tuple(i for i, m in enumerate(listed) if node.talk.shown_marked(m))
            welcome = Welcome(listed, node.bully.tracker or node.node_id, marked)
        # (frozen while this one waited; asked first: a link refused so spends no relink)
        refusal = node.entrance.turns_away()
        if refusal is None and (hello.join or hello.tracker == hello.node_id):
            refusal = self.too_many_joins(host) or self.too_many_members(host)
        if refusal is None:
            refusal = node.links.accepts(hello.node_id, join=hello.join)
        if refusal is not None:
            log.debug("refusing %s: %s", conn.peer, refusal)
            with trio.move_on_after(1), contextlib.suppress(trio.BrokenResourceError, OSError):
                await conn.send_now(Refuse(refusal))
            return
        conn.send(node.hello(conn, hello.node_id))
        if welcome is not None:
            conn.send(welcome)  # before whatever attaching sends (a Have, messages)
        node.links.attach(conn, hello)
        if welcome is not None:
            marked = node.talk.shown_marked(hello.member())
            node.links.announce(hello.member(), lambda m: MemberJoined(m, True, marked), skip=conn)
        await node.links.session(conn, slot)  # type: ignore[arg-type]

    async def _greet(self, conn: Connection) -> Hello | None:
        """The peer's hello, checked; None when the connection was refused or dropped."""
        node = self.node
        peer = conn.peer
        try:
            with trio.fail_after(node.config.hello_timeout):
                hello = await conn.receive()
                if not isinstance(hello, Hello):
                    what = "nothing" if hello is None else type(hello).__name__
                    raise ProtocolViolation(f"expected a hello, got {what}")
                if hello.node_id != conn.proven_id:
                    raise ProtocolViolation("a hello under another id than the key it proved")
                if hello.node_id == node.node_id:
                    raise ProtocolViolation("a connection from this very node")
                away = node.entrance.turns_away()
                if away is not None:  # not in the room (yet, or any more): come back later
                    if hello.tracker == hello.node_id and hello.room and hello.room == node.room:
                        tracker = hello.member()
                        node.entrance.tracker_knocked(tracker.node_id, tracker.host, tracker.port)
                    await conn.send_now(Refuse(away))
                    log.info("turning %s away: %s", peer, away)  # (ordinary, at each resume)
                    return None
                if (hello.room or not hello.join) and hello.room != node.room:
                    node.met_another_room(hello.name, hello.room, peer.rsplit(":", 1)[0])
                    await conn.send_now(Refuse(OTHER_ROOM, retry=False))
                    raise ProtocolViolation(f"a hello for another room ({hello.room})")
                if hello.join and hello.name and hello.name != node.room_name:
                    reason = _other_room(hello.name, node.room_name)
                    await conn.send_now(Refuse(reason, retry=False))
                    raise ProtocolViolation(reason)
                if hello.join and not node.bully.is_tracker:
                    if not hello.direct or node.bully.tracker is None:
                        await self._redirect(conn)
                        return None  # sent on: the usual way in, not worth a warning
                    log.info("%s says the tracker turned it away: letting it in", peer)
                if hello.chat and not takeable(hello.username):  # (any hello: attack round 12)
                    reason = why_not_takeable(hello.username)
                    await conn.send_now(Refuse(reason, retry=False))
                    raise ProtocolViolation(reason)
                if self.name_taken(hello):
                    known_as = node.store.latest_name(hello.node_id)
                    alike = node.talk.alike(hello.username, hello.node_id)
                    reason = name_taken(hello.username, known_as, alike.username if alike else None)
                    self._tell_of_clash(hello)
                    await conn.send_now(Refuse(reason, retry=False))
                    raise ProtocolViolation(reason)
                return hello
        except VersionMismatch as exc:
            self._log_limited(f"refusing {peer}: {exc}")
            with trio.move_on_after(1), contextlib.suppress(trio.BrokenResourceError, OSError):
                await conn.send_now(Refuse(VersionMismatch.REFUSAL, retry=False))
        except (FrameError, trio.TooSlowError, trio.BrokenResourceError, OSError) as exc:
            self._log_limited(
                f"dropping connection from {peer} before its hello: {str(exc) or 'timeout'}"
            )
        return None

    async def _redirect(self, conn: Connection) -> None:
        """Answer a join at a member: the tracker's own address, or wait if there is none."""
        node = self.node
        tracker = node.members.get(node.bully.tracker or "")
        if tracker is None or tracker.node_id not in node.links.conns:
            await conn.send_now(Refuse("the room is electing a tracker; try again"))
        else:
            told = node.told_on(conn, tracker)
            await conn.send_now(Redirect(told.host, told.port))

    async def _admitted(self, conn: Connection, hello: Hello) -> bool:
        """Whether a connection that introduced itself may stay (see the module docstring).
        Nothing it sends is read meanwhile."""
        node = self.node
        node_id = hello.node_id
        meeting = hello.tracker == node_id  # a tracker of the room meeting this part
        links = node.links
        if hello.join or meeting or node_id in node.members or node_id in links.redial:
            return True
        if links.is_vouched(node_id):
            return True
        arrived = self._expected.setdefault(node_id, trio.Event())
        with trio.move_on_after(node.config.admit_timeout):
            await arrived.wait()
        if self._expected.get(node_id) is arrived:
            del self._expected[node_id]
        if node_id in node.members or links.is_vouched(node_id):
            return True
        self._log_limited(
            f"dropping connection from {conn.peer}: {node_id} introduced itself but is not in "
            "the room"
        )
        return False

    def name_taken(self, hello: Hello) -> bool:
        """Another chatting member already goes by this name or one that looks like it (the
        same node coming back after a freeze keeps its own), or did until it was cut off and
        may be back any moment: a new key may take the name of one whose process is gone (one
        who lost their key comes back so), not of one a blip keeps away (a user trial: a
        stranger took "bob" during a few seconds' cut, and the real one was shut out). A
        member letting in a node the tracker turned away knows only the members it is linked
        to: a name it has seen under another key stays that key's too. A member of another
        part of the room that this node knew before may have a name like one here: two took it
        at once while the room was in parts. The parts become one room anyway, and the screens
        tell the two apart by their keys (``Talk.marks``): refused, two "robert"s named during
        a partition kept the room in two until one of them took another name (a user trial).
        A key never seen here is refused so, as a newcomer is (attack round 12: a stranger
        meeting the room as a part under "alice" was shown as alice to those who came later)."""
        if not hello.chat:
            return False  # a standalone tracker's name is never shown with words
        node = self.node
        if (
            node.talk.taken(hello.username, hello.node_id)
            and (hello.join or not self._seen_before(hello.node_id))
            and not node.talk.holds(hello.username, hello.node_id)
        ):
            return True
        # One back under the name it left with is home, though a key that took the name
        # after it is awaited (a stranger that took "bob", vanished and left a port that
        # never answers kept the real bob out for the 30 minutes it was redialled: an attack);
        # not one that shared the name (attack round 13: back so while the first was away, it
        # took the name).
        home = node.links.was_named(hello.node_id) == hello.username
        home = home and not node.talk.is_namesake(hello.node_id, hello.username)
        if not home and node.links.awaited_like(hello.username, hello.node_id):
            return True
        if node.talk.back_under_anothers_name(hello.node_id, hello.username):
            return True
        owner = node.store.owner(hello.username) if hello.direct else None
        return owner is not None and owner != hello.node_id

    def _seen_before(self, node_id: str) -> bool:
        """A key this node knew in the room before: linked to it once (bound to a name here, or
        lost and awaited), or listed by its tracker."""
        node = self.node
        links = node.links
        return (
            node_id in node.members
            or node_id in links.redial
            or links.is_vouched(node_id)
            or node.store.has_names(node_id)
        )

    def _tell_of_clash(self, hello: Hello) -> None:
        """A part of this room (not a newcomer, who is told and leaves) holds a member whose
        name looks like this node's own, or a member's here, under a key this node never saw:
        the parts cannot merge until one of the two takes another name. Nobody else can see
        it, so the user is told, once a minute at most (a user trial: two "zed"s who founded
        one room at once stayed apart, unaware; attack round 24: newcomers taken in by a
        stranger posing as the room under alice's name were never told of the real alice)."""
        node = self.node
        if hello.join:
            return
        look = skeleton(hello.username)
        mine = look == skeleton(node.username)
        here = next((m for m in node.members if m.chat and skeleton(m.username) == look), None)
        if not mine and here is None:
            return
        if not self._clash_due():
            return
        other = marked(hello.username, hello.node_id)
        if mine:
            said = (
                f"another {other} is in a part of this room that cannot join yours while you "
                "share a name: one of you needs another (/nick NAME)"
            )
        else:
            said = (
                f"another {other} is in a part of this room that cannot join yours while "
                f"{marked(here.username, here.node_id)} here has the name: two people took it "
                "while apart, or one poses as the other (compare keys with /whois)"
            )
        node.emit(events.Error(said))

    def tell_of_refusal(self, by: str) -> None:
        """A part of this room, at ``by``, refused this node's own name: one of its members
        has it. Its side is told (``_tell_of_clash``), and so is this one, at the same pace
        (trial 62: the eve in the part that dialled was never told, and read the other part's
        members drop out and come back every 11 s)."""
        if not self._clash_due():
            return
        self.node.emit(
            events.Error(
                f"a part of this room, at {by}, cannot join yours while you go by "
                f"{self.node.username}: a member there has the name, or one like it; one of "
                "you needs another (/nick NAME)"
            )
        )

    def _clash_due(self) -> bool:
        """Whether a name clash may be told now, either way: once a minute at most, whoever
        it is with (keys cost nothing)."""
        now = trio.current_time()
        if now - self._clash_told < CLASH_NOTICE_INTERVAL:
            return False
        self._clash_told = now
        return True

    def _log_refusal(self, peer: str, why: str, level: int = logging.WARNING) -> None:
        self._log_limited(f"refusing a connection from {peer}: {why}", level)

    def _log_limited(self, line: str, level: int = logging.WARNING) -> None:
        """``line`` at ``level``, unless too many came of late."""
        left_out = self._refusals.note(trio.current_time())
        if left_out is not None:
            more = f" ({left_out} more such lines left out before this one)" if left_out else ""
            log.log(level, "%s%s", line, more)


def _at(stream: trio.SocketStream, where: tuple[str, int]) -> bool:
    """Whether ``stream`` came in at ``where`` (an IPv6 address has more than one spelling)."""
    try:
        host, port = stream.socket.getsockname()[:2]
    except OSError:
        return False
    with contextlib.suppress(ValueError):
        return (ipaddress.ip_address(host), port) == (ipaddress.ip_address(where[0]), where[1])
    return (host, port) == where


def _other_room(asked: str, here: str) -> str:
    """Why a join for the room ``asked`` is refused at a node of the room ``here``."""
    hosted = f'the room "{here}"' if here else "a room without a name"
    return f'this address hosts {hosted}, not "{asked}"'


_TAKEN = "is taken in this room (or one like it)"
OTHER_ROOM = "this node is in another room"  # the refusal of a hello for another room


def name_taken(username: str, known_as: str | None = None, like: str | None = None) -> str:
    """Why a hello under ``username`` is refused for good: another key has the name here. A
    key that went by another name here last is told it (a user trial's bob, robert since,
    was refused "bob" with no word of how to come back); and the member's name it is ``like``
    where that is another (trial 71's "B0b" was not told whose)."""
    named = f"the name {username!r} {_TAKEN}"
    if like and like.casefold() != username.casefold():  # (trial 71: like whose?)
        named += f": it is too like {like}'s"
    if known_as is None or known_as == username:
        return named
    return f"{named}; this key was {known_as} here (--username {known_as})"


def too_like_said(reason: str) -> str:
    """A refusal of a name like a member's, as ``/nick``'s says it: "the name 'B0b' is too
    like bob's, a member's here" (trial 72 read "is taken" of a name nobody had); the words
    ``refuses_the_name`` looks for stay in what is sent, for older versions."""
    taken, like, whose = reason.partition(f" {_TAKEN}: it is too like ")
    if not like or not taken.startswith("the name "):
        return reason
    return f"{taken} is too like {whose}, a member's here"


def refuses_the_name(reason: str) -> bool:
    """Whether a refusal for good says the name is taken (``name_taken``)."""
    return reason.startswith("the name ") and _TAKEN in reason
