"""Finding the room and getting in: at start, and again after the node was frozen.

The addresses of ``--tracker`` are tried in order, then the members this node remembers. A
member that is not the tracker answers with the tracker's address, which is followed; if the
tracker turns the node away or does not answer, that member is asked to let it in. When
nothing answers and the first address is one of this machine's, the node founds the room
there: that address is the room's home and its identity. A node frozen longer than the
heartbeat timeout (SIGSTOP, Ctrl-Z) has been given up by the others: it drops its links and
comes in again the same way, as a member, so that it cannot linger as a second room.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import math
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, NamedTuple

import trio

from peerchat import events
from peerchat.addresses import address_key, format_addr, host_key, is_ip, is_this_computer
from peerchat.connection import Connection
from peerchat.dials import Dials, dialled
from peerchat.doorman import refuses_the_name, too_like_said
from peerchat.foreground import in_front
from peerchat.handshake import OPEN_ROOM, HandshakeError, LocalKeys, WrongSecret
from peerchat.identity import Identity
from peerchat.protocol import Hello, Redirect, Refuse, Welcome
from peerchat.secure_stream import secure, secure_node_stream
from peerchat.tracker_address import StartupError
from peerchat.wire import FrameError

if TYPE_CHECKING:
    from peerchat.membership import Member
    from peerchat.node import Node

log = logging.getLogger(__name__)

WELCOME_DIALS_AT_ONCE = 128  # members of a welcome dialled at once
# Seconds with no dial of a welcome's members through that end the wait for them: a member
# whose port accepts and never answers held every newcomer's ready back 3 s, a connect timeout
# (attack round 48). Two round trips and a handshake take less than this, even far away.
WELCOME_DIALS_QUIET = 1.5
PER_LISTENING_ADDRESS = 2  # members of a welcome dialled at one host:port at most (``_to_dial``)
PER_HOST_FROM_AFAR = 16  # and at one host, when the welcome came from another computer


class _Retry(Exception):
    """The address answered, but not with a way in right now (busy, electing, odd)."""


class _NoAnswer(Exception):
    """Nothing accepts connections at the address."""


class _SentOn(NamedTuple):
    """A member's answer to a join: where the tracker is; ``by``, the member's proven key."""

    tracker: Redirect
    by: str


class _Welcomed(NamedTuple):
    """A join the tracker welcomed: entered once it is out of reach of a knock's cancel."""

    conn: Connection
    hello: Hello
    welcome: Welcome


NO_ANSWER = "it does not answer"


def _advised(reason: str) -> str:
    """A refusal, with how to go on where it says a name is taken and not how: a user trial
    from another computer read only "the name 'carol' is taken in this room"."""
    if refuses_the_name(reason) and "--username" not in reason:
        reason = too_like_said(reason)
        return f"{reason}; go by another: --username NAME (for /join: /nick NAME first)"
    return reason


class _Refused(StartupError):
    """The address refused this node for good (its name is taken, another room is there)."""


class _OtherSecret(Exception):
    """The node at the address has another room secret (or says so: the refusal is not signed,
    so one address saying it does not end the search)."""


class Entrance:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.rejoining = False
        self.seeking = False  # looking for the room: not in it, not welcomed yet
        self.let_in_by_member = False  # the tracker turned this node away; a member let it in
        self._tracker_at: tuple[str, int] | None = None  # where a tracker that dialled us is
        self._attempt = trio.CancelScope()  # around the join being tried
        self._at: tuple[str, int] | None = None  # the address that join is talking to
        # (host, port, key) of the member that first sent the join that got in on its way
        self._sent_on_by: tuple[str, int, str] | None = None
        self._known: dict[str, Member] = {}  # the members before a freeze, by the last name told
        self._stall = trio.Event()  # set by the stall watcher, for the rejoiner
        self._away = 0.0  # how long the last stall lasted
        self._last_tick = math.inf  # no stall is detected before the node is in (``tick``)
        self._last_cpu = 0.0
        self._last_wait: float | None = None  # seconds spent runnable, waiting for a CPU
        self._starved: tuple[float, float] | None = None  # (tick, away) of a starved verdict
        self._trying: tuple[str, int] | None = None  # the address a join is trying now
        self._next_address = trio.Event()  # set when the join moves on to another address

    # -- entering -----------------------------------------------------------------------------

    async def enter(self, found_after: int) -> None:
        """Join through the first address that lets this node in; found the room at the first
        address after ``found_after`` rounds in a row where nothing answered anywhere. If that
        takes more than a moment, the front end is told which address is being tried."""
        telling = trio.CancelScope()
        self.node.nursery.start_soon(self._tell_connecting, telling)
        self.seeking, self._tracker_at = True, None
        try:
            await self._find_room(found_after)
        finally:
            self.seeking = False
            telling.cancel()

    def coming_back(self) -> bool:
        """Frozen, or rejoining since: what the old links still bring is stale, and the node
        is not yet in its room again. Whoever sees a freeze first tells of it, the watcher or
        a reader that woke before it: what that reader read is shown after the notice. One
        continued behind its shell is acted on once in front (``watch_stall``), but what it
        reads meanwhile is as stale (a trial's lines said during a freeze showed as live, at
        the time of the ``kill -CONT``)."""
        if self.rejoining:
            return True
        if trio.current_time() - self._last_tick <= self.node.config.heartbeat_timeout:
            return False
        if self._held_behind():
            # Its freeze is told once in front: what it reads now waits for that, and for
            # the rejoin's history (a trial: shown before the notice, and out of order).
            self.node.hold_history()
            return True
        if self.stalled():
            self._stalled_seen()
        return self.rejoining

    def turns_away(self) -> str | None:
        """Why a peer's connection is refused now, if it is. A node gets into its room by a
        join, never by a link a member opened meanwhile: the join's welcome brings the tracker
        and the member list, and its two ends agree on the one link between them (a redial let
        in before it made a node elect itself against the live tracker, or drop the link the
        join made)."""
        if self.coming_back():
            return "this node is rejoining the room; try again"
        if self.seeking:
            return "this node is not in the room yet; try again"
        if self.node.leaving:  # its goodbyes are on the way: a link now would only be lost
            return "this node is leaving the room"
        return None

    def tracker_knocked(self, node_id: str, host: str, port: int) -> None:
        """The room's tracker, a member before this node froze, dialled it while it looks for
        the room again: try its address first, and give up the join being tried for it (the
        home address may be held by a stopped process that never answers) once per search,
        so that nobody can keep a node out by knocking again and again."""
        if not self.seeking or node_id not in self._known or (host, port) == self._at:
            return
        first, self._tracker_at = self._tracker_at is None, (host, port)
        if first:
            self._attempt.cancel()

    async def _tell_connecting(self, scope: trio.CancelScope) -> None:
        """Each address a join tries, once, after the first moment (a trial's frozen node,
        alone in its room, printed 16 lines in a second, two addresses in turn)."""
        told: set[tuple[str, int]] = set()
        with scope:
            await trio.sleep(self.node.config.connecting_notice)
            while True:
                if self._trying is not None and self._trying not in told:
                    told.add(self._trying)
                    self.node.emit(events.Connecting(format_addr(*self._trying)))
                self._next_address = trio.Event()
                await self._next_address.wait()

    async def _find_room(self, found_after: int) -> None:
        node = self.node
        home = node.settings.trackers[0]
        why = NO_ANSWER
        unanswered, tries, began = 0, 0, 0.0  # the tries that failed for ``why``, from when
        refused: _Refused | None = None  # for good, at one address: the others are asked yet
        welcomed: _Welcomed | None = None
        # Members remembered that did not answer are not dialled again in this join: a host
        # gone since (a laptop's address changed) cost a timeout a round, and a restart of a
        # room by name took 12 s (trial 52). Nor is an address given that let the whole
        # connect timeout pass (one that refuses at once may be a home being bound): a
        # --tracker of no host took 9.9 s to be told so (trial 53).
        silent: set[tuple[str, int]] = set()
        with trio.move_on_after(node.config.join_timeout):
            while True:
                answered, other_secret = False, None  # where another secret turned us down
                # Answered with words, not only a handshake cut short: a node that turned
                # another secret down closes that address's next tries unanswered for a
                # moment, and a second node on one computer without the secret, its tries
                # cut so at some members while others said "another secret", tried again
                # 25 times a second till the join ran out (trial 54 F3)
                said = False
                welcomed, ended, tried_all = None, None, False
                addresses = [
                    a
                    for a in self._addresses()
                    if (refused is None or self._given(*a))
                    and (a not in silent or a == self._tracker_at)  # (a tracker that dialled
                    # from one: review 56)
                ]
                # Nothing is raised inside: it would come out of the dials' nursery as a group.
                async with dialled(addresses, node.config.connect_timeout) as dials:
                    for host, port in addresses:
                        if refused is not None and not self._given(host, port):
                            continue
                        with trio.CancelScope() as self._attempt:
                            tried_at = trio.current_time()
                            try:
                                welcomed = await self._join_at(host, port, dials=dials)
                            except _NoAnswer:
                                if not self._given(host, port) or (host, port) in dials.timed_out:
                                    silent.add((host, port))
                                continue
                            except _OtherSecret:
                                other_secret = other_secret or (host, port)
                            except _Refused as exc:
                                refused = refused or exc
                            except _Retry as exc:
                                if str(exc) != why:
                                    tries, began = 0, tried_at
                                tries, answered, why = tries + 1, True, str(exc)
                                said = said or not isinstance(exc.__cause__, HandshakeError)
                                where = format_addr(host, port)
                                log.info("joining through %s failed (%s)", where, why)
                            except StartupError as exc:  # the room's word: not let in
                                ended = exc
                                break
                        if welcomed is not None:  # in: past the point where a knock cuts short
                            break
                        if self._attempt.cancelled_caught:  # the tracker dialled: try it first
                            answered = True
                            break
                    else:
                        tried_all = True
                if ended is not None:
                    raise ended
                if tried_all and refused is not None:
                    raise refused
                if welcomed is not None:
                    break
                if other_secret is not None and not said:
                    why = await self._other_secret(*other_secret)
                    if why is None:  # founded beside an open room of its name
                        return
                    raise StartupError(why)
                unanswered = 0 if answered else unanswered + 1
                if unanswered >= found_after and self._tracker_at is None:
                    # Refused again and again, a moment apart: a room in the middle of a
                    # failover gets the time to rebind its home address before a second room
                    # is founded there.
                    listeners = await node.home_address.try_bind()
                    if listeners is not None:
                        node.found_room(listeners)
                        return
                    tries, why = (
                        0,
                        (
                            "nothing accepts connections there, yet the address is in use on "
                            "this machine (by another program's connection?)"
                        ),
                    )
                await trio.sleep(node.config.found_delay if not answered else 0.1)
        if welcomed is not None:  # in: the join's time was for finding the room (attack round
            # 19: a welcome of 100 members whose dials hung ran it out, and the node gave up)
            await self._enter(*welcomed)
            return
        if refused is not None:
            raise refused
        if why == NO_ANSWER and node.lan is not None and node.settings.discover:
            # A room by name that nothing answered for: founded, not given up (attack round
            # 45: answers at dead addresses, dialled a few at a time, ran a join out, and each
            # newcomer stopped with "cannot join the room")
            listeners = await node.home_address.try_bind()
            if listeners is not None:
                node.found_room(listeners)
                return
        if tries > 1:  # (a trial read "within 3 s" of a join that gave up after 9)
            why += f"; {tries} tries in {trio.current_time() - began:.0f} s"
        raise StartupError(f"cannot join the room through {format_addr(*home)}: {why}")

    async def _other_secret(self, host: str, port: int) -> str | None:
        """Why the node at ``host:port`` turned this one's secret down, in words. An open room
        is told apart: a user with a secret was told the open room "has another one". A room
        found by name is founded beside an open one, with its secret, and told of it (None):
        anyone could found an open room of a private room's name and keep its members out
        (trial 69)."""
        node = self.node
        settings = node.settings
        where = format_addr(host, port)
        self._trying = None  # not a join: no "connecting to" while it is asked
        if settings.psk != OPEN_ROOM and await self._open_at(host, port):
            if node.lan is not None and settings.discover:
                listeners = await node.home_address.try_bind()
                if listeners is not None:
                    node.found_room(listeners)
                    node.met_secret_room(host)
                    return None
            return (
                f"the room at {where} is open, with no secret, but this node was given one "
                f"({settings.secret_from}): leave it out to join"
            )
        # A private room names itself to those with its secret alone: trial 63's /join at
        # an address that hosted another room read as if the room named had a secret.
        unnamed = (
            f" (a private room says its name only to those with its secret: the room at {where}"
            f" may not be {settings.room_name})"
            if settings.room_name
            else ""
        )
        if settings.psk == OPEN_ROOM:  # (a trial without one read of "another" secret)
            return (
                f"missing room secret: the room at {where} has one, and this node was given "
                f"none: put it in {settings.secret_from}{unnamed}"
            )
        return (
            f"wrong room secret: the room at {where} has another one than this node's (from "
            f"{settings.secret_from}){unnamed}"
        )

    async def _open_at(self, host: str, port: int) -> bool:
        """Whether the node at ``host:port`` completes an open room's handshake (nothing is
        said after it: the connection is closed at once). Asked once the pause it gives an
        address that tried another secret is over (``doorman``), under a throwaway identity:
        whoever is there learns nothing of this node's."""
        node = self.node
        await trio.sleep(node.config.guess_pause)
        with trio.move_on_after(node.config.hello_timeout):
            try:
                stream = await trio.open_tcp_stream(host, port)
            except OSError:
                return False
            async with stream:
                try:
                    await secure(
                        stream,
                        LocalKeys.make(Identity.generate()),
                        OPEN_ROOM,
                        initiator=True,
                        record_timeout=node.config.frame_timeout,
                    )
                except (HandshakeError, trio.BrokenResourceError, OSError):
                    return False
                return True
        return False

    def _addresses(self) -> list[tuple[str, int]]:
        """Where to look this round: a tracker that dialled this node first, then the
        candidates."""
        first = [self._tracker_at] if self._tracker_at else []
        return first + [a for a in self.node.candidates() if a not in first]

    def _given(self, host: str, port: int) -> bool:
        """Whether the address was found on the LAN or given. Once an address refused this
        node for good, only those are asked yet (one tracker's word is not the room's), not
        the members remembered, which may be long gone and cost a timeout each."""
        node = self.node
        return (host, port) in (*node.discovered, *node.settings.trackers, self._tracker_at)

    async def _join_at(
        self,
        host: str,
        port: int,
        redirects: int = 0,
        *,
        direct: bool = False,
        dials: Dials | None = None,
    ) -> _Welcomed:
        """Join through ``host:port`` (its connection from ``dials``, if given). A member there
        points at the tracker; when the tracker turns this node away or does not answer, the
        member is asked to let it in itself (``direct``), so that no tracker can close the room
        to newcomers."""
        node = self.node
        self._at = (host, port)
        if not direct and not redirects:
            self.let_in_by_member, self._sent_on_by = False, None
        if self._trying != (host, port):  # what "connecting to ..." names
            self._trying = (host, port)
            self._next_address.set()
        where = format_addr(host, port)
        try:
            if dials is not None:
                stream = await dials.take((host, port))
            else:
                with trio.fail_after(node.config.connect_timeout):
                    stream = await trio.open_tcp_stream(host, port)
        except (OSError, trio.TooSlowError) as exc:
            raise _NoAnswer from exc
        answer = await self._join(stream, where, direct=direct)
        if not isinstance(answer, _SentOn):
            return answer
        redirect = answer.tracker
        if direct:
            raise _Retry(f"{where} sent this node on again, though asked to let it in")
        if redirects >= node.config.max_redirects:
            raise _Retry("sent from member to member without reaching the tracker")
        tracker = format_addr(redirect.host, redirect.port)
        log.info("%s points at the tracker at %s", where, tracker)
        if not redirects:  # the first, at an address this node chose; whoever sends it on
            # after was chosen by another (attack round 33: a tracker, to itself or a puppet)
            self._sent_on_by = (host, port, answer.by)
        try:
            return await self._join_at(redirect.host, redirect.port, redirects + 1)
        except (_NoAnswer, _Retry, _Refused) as exc:
            why = "does not answer" if isinstance(exc, _NoAnswer) else f"did not let us in ({exc})"
            log.info("the tracker at %s %s: asking %s to let this node in", tracker, why, where)
        try:
            welcomed = await self._join_at(host, port, redirects + 1, direct=True)
        except _NoAnswer:
            raise _Retry(f"{where} went away while the tracker was asked") from None
        except _Refused as exc:  # the tracker and a member both said no: that is the room's word
            raise StartupError(str(exc)) from None
        self.let_in_by_member = True  # (``Node.name_refused``)
        return welcomed

    async def _join(
        self, stream: trio.SocketStream, where: str, *, direct: bool = False
    ) -> _SentOn | _Welcomed:
        """Ask for the room on ``stream``: the welcome, or where the tracker is instead."""
        node = self.node
        async with _closed_on_error(lambda: trio.aclose_forcefully(stream)):
            try:
                secured = await secure_node_stream(
                    node, stream, initiator=True, within=node.config.hello_timeout
                )
            except WrongSecret:
                raise _OtherSecret from None
            except (HandshakeError, trio.BrokenResourceError, OSError) as exc:
                raise _Retry(str(exc) or "no handshake") from exc
        conn = Connection(secured, node.config, where, node.budget, node.listed)
        # Closed on any error, and when cancelled: the budget a partial welcome holds goes back.
        async with _closed_on_error(conn.aclose):
            answer = await self._answer(conn, direct)
            if isinstance(answer, Redirect):
                await conn.aclose()
                return _SentOn(answer, conn.proven_id)
            return answer

    async def _answer(self, conn: Connection, direct: bool) -> Redirect | _Welcomed:
        """Say hello as a newcomer: the tracker's welcome, or where the tracker is instead."""
        node = self.node
        try:
            with trio.fail_after(node.config.hello_timeout):
                await conn.send_now(node.hello(conn, join=True, direct=direct))
                hello = await conn.receive()
                if isinstance(hello, Refuse) and not hello.retry:
                    raise _Refused(f"the room refused this node: {_advised(hello.reason)}")
                if isinstance(hello, Refuse):
                    raise _Retry(f"refused: {hello.reason}")
                if isinstance(hello, Redirect):
                    return hello
                conn.introduced()  # the welcome that follows lists the room: it may be big
                welcome = await conn.receive()
        except trio.TooSlowError as exc:
            raise _Retry(
                f"it accepts connections but gave no answer within {node.config.hello_timeout:g} s"
                " (a stopped process, or not PeerChat)"
            ) from exc
        except FrameError as exc:
            raise _Retry(f"what answers there does not speak PeerChat ({exc})") from exc
        except (OSError, trio.BrokenResourceError) as exc:
            raise _Retry(f"the connection failed ({exc})") from exc
        except (_Retry, StartupError):
            raise
        except Exception as exc:  # whatever else its answer sets off: not a room to join
            raise _Retry(
                f"it answered in a way this node cannot use ({type(exc).__name__})"
            ) from exc
        if isinstance(welcome, Refuse):
            raise _Retry(welcome.reason)
        if not isinstance(hello, Hello) or not isinstance(welcome, Welcome) or not hello.room:
            raise _Retry("what answers there does not speak PeerChat (it answered out of turn)")
        if hello.node_id != conn.proven_id:
            raise _Retry("the tracker said hello under an id it did not prove")
        return _Welcomed(conn, hello, welcome)

    async def _enter(self, conn: Connection, hello: Hello, welcome: Welcome) -> None:
        """In: take the welcome's member list, and dial every member before reporting ready,
        so that the room a front end is shown is the room this node is linked to."""
        node = self.node
        self.seeking = False  # welcomed
        node.join_room(hello.room)
        node.room_name = node.room_name or hello.name
        but = (node.node_id, hello.node_id)
        others = _to_dial(welcome.members, but, conn.elsewhere, conn.address)
        for member in others:
            node.add_member(member)
        if welcome.tracker == hello.node_id:  # the tracker's word, not any member's (a member
            # answering a join itself marked every real member: attack round 18)
            node.talk.as_welcome_shows(welcome.members, welcome.marked)
        node.links.attach(conn, hello)
        node.nursery.start_soon(node.links.session, conn, node.admission.dialled())
        log.info("joined through %s: %d members", conn.peer, len(others) + 1)
        tracker = next((m for m in welcome.members if m.node_id == welcome.tracker), None)
        if tracker is not None:
            node.leadership.act(
                node.bully.follow(tracker.node_id, tracker.priority), announce=False
            )
        # Some at a time, and ready once they are through, none has come through for a while,
        # or two connect timeouts have passed (the rest go on): a welcome of 9,999 made-up
        # members filled every connection slot with dials that hung, at 99% CPU (attack round
        # 18).
        dials = _WelcomeDials(trio.CapacityLimiter(WELCOME_DIALS_AT_ONCE), len(others))
        dial = functools.partial(node.links.dial_or_keep_trying, elsewhere=conn.elsewhere)
        for member in others:
            node.nursery.start_soon(dials.run, dial, member)
        with trio.move_on_after(2 * node.config.connect_timeout):
            await dials.settled(WELCOME_DIALS_QUIET)
        # Whom the welcome left out, if anyone: the member that first sent this node on is
        # asked (the one witness the tracker did not choose), else another.
        sent_on_by = self._sent_on_by
        if sent_on_by is not None and sent_on_by[2] == node.bully.tracker:
            sent_on_by = None  # (the tracker: its word is what is checked)
        if sent_on_by is None or sent_on_by[2] in node.links.conns:
            node.tracker_role.ask_second_opinion(sent_on_by[2] if sent_on_by else None)
        else:
            node.nursery.start_soon(node.links.ask_in, *sent_on_by)

    # -- frozen and back ----------------------------------------------------------------------

    def stalled(self) -> bool:
        """Frozen, rather than busy: the loop was away too long, and meanwhile it neither burnt
        CPU nor waited for one (a machine with more runnable processes than cores starves
        some for seconds: that is not a freeze, and a rejoin would only add to the load). A
        starved loop waited for a CPU all the time it was away but its own sleep; a frozen
        one did neither, though once resumed on a loaded machine it may wait a while before
        this look: half that time tells the two apart with room to spare (a 5% bound missed
        a freeze)."""
        away = trio.current_time() - self._last_tick
        if away <= self.node.config.heartbeat_timeout or self._held_behind():
            return False
        starved = self._starved  # asked per received batch: a starved loop, once an interval
        interval = self.node.config.heartbeat_interval
        if starved is not None and starved[0] == self._last_tick and away - starved[1] < interval:
            return False
        busy = time.process_time() - self._last_cpu
        waited = _run_queue_wait()
        if waited is not None and self._last_wait is not None:
            busy += waited - self._last_wait
        if busy < 0.5 * (away - self.node.config.heartbeat_interval):
            return True
        log.info("away %.1f s, but busy or waiting for a CPU %.1f s of it: starved", away, busy)
        self._starved = (self._last_tick, away)
        return False

    def _held_behind(self) -> bool:
        """Continued behind the shell, about to stop again (see ``watch_stall``)."""
        return self.node.settings.job_control and _behind_the_shell()

    def tick(self) -> None:
        """The loop is running now: a freeze is measured from here. Called once as the node
        gets in, before its tasks start: one frozen right after it reported ready (before the
        watcher first ran) went unnoticed and lingered as a second room (found in CI)."""
        self._last_tick, self._last_cpu = trio.current_time(), time.process_time()
        self._last_wait = _run_queue_wait()

    async def watch_stall(self) -> None:
        """Notice a freeze longer than the heartbeat timeout. This watcher keeps ticking while
        a rejoin runs, so a second freeze in the middle of one leads to another. A program
        continued behind its shell stops again at once (the line interface sees to it): its
        freeze is acted on once it is in front, as one (a trial's continued behind the shell,
        then brought to the front, rejoined twice and told of the freeze by halves)."""
        while True:
            await trio.sleep(self.node.config.heartbeat_interval)
            if self._held_behind():
                continue  # (no tick: the freeze goes on until the program is in front)
            if self.stalled():
                self._stalled_seen()
            else:
                self.tick()

    def _stalled_seen(self) -> None:
        self._away = trio.current_time() - self._last_tick
        log.warning("unresponsive for %.1f s: rejoining the room", self._away)
        # Told first, before what was said meanwhile (read from the old links right now, or
        # fetched soon) is shown as history. Not in a room of one: a user trial read of
        # rejoining and fetching in a room nobody else was in.
        node = self.node
        alone = not node.links.conns and not node.members  # (the members: the others)
        if not alone:
            node.emit(events.Unresponsive(self._away))
        # From now on the old links are torn down, not mourned or redialled: readers that wake
        # after this must not schedule redials into the old room.
        self.rejoining = True
        node.hold_history()
        self._stall.set()
        self.tick()

    async def rejoin_when_stalled(self) -> None:
        node = self.node
        pause = node.config.found_delay
        while True:
            await self._stall.wait()
            self._stall = trio.Event()
            try:
                await self._rejoin()
            except StartupError as exc:
                node.emit(events.Error(f"cannot rejoin the room ({exc}); trying again"))
                # Refused for good (the name was taken meanwhile, say): not in a tight loop.
                await trio.sleep(pause)
                pause = min(2 * pause, node.config.redial_gone_cap)
                self._stall.set()
                continue
            pause = node.config.found_delay

    async def _rejoin(self) -> None:
        node = self.node
        self.rejoining, node.reporting = True, False
        before = {m.node_id: m for m in node.members}
        tracker = node.bully.tracker
        self._known = dict(before)
        try:
            node.release_home()
            node.links.forget_all()  # no redials, and no dial in flight is kept
            for conn in list(node.links.conns.values()):
                conn.abort("rejoining the room")
            while node.links.conns:
                await node.links.changed()
            for node_id in list(before):
                node.members.remove(node_id)
            node.store.all_left(time.time())  # (their stays as seen here end: review 74)
            node.messaging.restart_sync()
            node.files.after_freeze()
            node.bully.reset()
            self.rejoining = False
            await self.enter(node.config.refound_after)
            await self._regather(before)
        finally:
            self.rejoining, node.reporting = False, True
        for node_id, member in before.items():
            if node_id not in node.members:
                node.emit(events.PeerLeft(member, "lost while this node was unresponsive"))
        for member in node.members:
            if member.node_id not in before:
                node.emit(events.PeerJoined(member))
        self._known = {}  # (a rename from now on is told as it comes)
        if node.bully.tracker != tracker:  # the same tracker as before is no news
            node.leadership.report_tracker()
        if not self._stall.is_set():  # in, with no other freeze to rejoin after (review 57)
            node.emit(events.Rejoined())  # (lines typed meanwhile were kept for it)
            node.nursery.start_soon(node.say_what_waited)

    def renamed_meanwhile(self, member: Member) -> str | None:
        """The name ``member`` went by before this node's freeze, if its hello, linking again
        during the rejoin, says it took another while this node was away (trial 64: no "alice
        is now known as alicia" came). Its own word only: a tracker's welcome that named it
        otherwise put a false rename on the screen (attack round 47)."""
        before = self._known.get(member.node_id)
        if before is None or before.username == member.username:
            return None
        self._known[member.node_id] = member
        return before.username

    def told_renamed(self, member: Member) -> None:
        """``member``'s rename was told as it came (a ``Nick`` read during the rejoin, from a
        link still open): its link need not tell it again (trial 65 read it twice)."""
        if member.node_id in self._known:
            self._known[member.node_id] = member

    async def _regather(self, before: dict[str, Member]) -> None:
        """Back in the room, the links of those who were here come one by one, some dialling
        in after the welcome (on their redial schedule): they are waited for that long and a
        dial's time, so that one still here is not told as gone and back (a trial, back from a
        freeze: five "left", then five "joined", in one second)."""
        node = self.node
        with trio.move_on_after(node.config.redial_cap + node.config.connect_timeout):
            while any(node_id not in node.members for node_id in before):
                await node.links.changed()


class _WelcomeDials:
    """The dials of a welcome's members, a few at a time."""

    def __init__(self, limiter: trio.CapacityLimiter, count: int) -> None:
        self._limiter, self._left = limiter, count
        self._through = trio.Event()  # set as each is through

    async def run(self, dial: Callable[[Member], Awaitable[None]], member: Member) -> None:
        try:
            async with self._limiter:
                await dial(member)
        finally:
            self._left -= 1
            self._through.set()

    async def settled(self, quiet: float) -> None:
        """Until all are through, or ``quiet`` seconds pass with none through."""
        while self._left:
            self._through = trio.Event()
            with trio.move_on_after(quiet) as waited:
                await self._through.wait()
            if waited.cancelled_caught:
                return


def _to_dial(
    members: Iterable[Member], but: tuple[str, ...], elsewhere: bool, welcomer: str = ""
) -> list[Member]:
    """The members of a welcome to dial: not ``but``; two at one listening address at most (a
    process, and one restarted there with another key that the list still holds: a made-up
    list of members at one port had a newcomer dial it 280 times in 10 s), however its host
    is written (attack round 32: 5,516 dials in 43 s at one address written 5,000 ways). And
    when the welcome came from another computer, none at this computer's own address (attack
    round 30), and ``PER_HOST_FROM_AFAR`` at most at one host other than the ``welcomer``'s
    (``Connection.address``; its own members it names by its own address), host names all
    counted as one host: a name stands for any address. Those left out are dialled when a
    second opinion, or a comparison with the tracker's list, names them (``TrackerRole``)."""
    out: list[Member] = []
    listening: collections.Counter[tuple[str, int]] = collections.Counter()
    hosts: collections.Counter[str] = collections.Counter()
    for m in members:
        if m.node_id in but or (elsewhere and is_this_computer(m.host)):
            continue
        at, host = (host_key(m.host), m.port), address_key(m.host) if is_ip(m.host) else ""
        afar = elsewhere and (host != welcomer or not host)
        if listening[at] < PER_LISTENING_ADDRESS and not (
            afar and hosts[host] >= PER_HOST_FROM_AFAR
        ):
            listening[at] += 1
            hosts[host] += 1
            out.append(m)
    return out


def _behind_the_shell() -> bool:
    """Whether this program's terminal has another job in front of it."""
    return in_front(sys.stdin.fileno()) is False


def _run_queue_wait() -> float | None:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux's schedstat; None
    elsewhere). A stopped process does not wait: it is not runnable."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


@contextlib.asynccontextmanager
async def _closed_on_error(close: Callable[[], Awaitable[object]]) -> AsyncIterator[None]:
    """Whatever ends the block early (an error, a cancel), ``close`` runs first."""
    try:
        yield
    except BaseException:
        await close()
        raise
