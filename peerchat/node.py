"""The trio layer: listeners, dialling, heartbeats and timers around the pure protocol classes.

Every task runs in the node's nursery. Each connection is one session task (reader plus a
writer); the listener, the heartbeat loops and the election timer are one task each. The
tracker role is not a separate program: a node that holds it also listens on the shared tracker
address, answers joins and pings the members.
"""

from __future__ import annotations

import contextlib
import logging
import math
import resource
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from peerchat import PROTOCOL_VERSION, events
from peerchat.admission import Admission, Limits, RefusalLog, Slot
from peerchat.chat import ChatLog, Overflow
from peerchat.config import Config
from peerchat.connection import Connection
from peerchat.election import Action, Broadcast, Bully, Follow, Phase, Send
from peerchat.membership import Member, MemberTable
from peerchat.protocol import (
    MAX_REASON,
    MAX_TEXT,
    Answer,
    Bye,
    Chat,
    Coordinator,
    Election,
    Hello,
    MemberJoined,
    MemberLeft,
    Message,
    Ping,
    Pong,
    ProtocolViolation,
    Refuse,
    VersionMismatch,
    Welcome,
    encode,
)
from peerchat.safe_text import visible
from peerchat.tracker_address import StartupError, TrackerAddress, bind
from peerchat.wire import FrameError, ReceiveBudget, encode_frame

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settings:
    username: str
    host: str = "127.0.0.1"
    port: int = 0
    tracker_host: str = "127.0.0.1"
    tracker_port: int = 5000
    priority: int | None = None
    chat: bool = True  # False for `peerchat tracker`: the tracker role without chat

    @property
    def tracker_addr(self) -> str:
        return f"{self.tracker_host}:{self.tracker_port}"


class _Retry(Exception):
    """The tracker address was busy or answered oddly: try joining again."""


class Node:
    def __init__(
        self, settings: Settings, emit: Callable[[events.Event], None], config: Config | None = None
    ) -> None:
        self.settings = settings
        self.config = config or Config()
        self.emit = emit
        self.node_id = secrets.token_hex(6)
        self.members = MemberTable()
        self.conns: dict[str, Connection] = {}
        self.chatlog = ChatLog(self.node_id, self.config.held_back)
        self.budget = ReceiveBudget(self.config.receive_budget)
        self.admission = Admission(_limits(self.config))
        self._refusals = RefusalLog(self.config.refusal_log_interval)
        self._expected: dict[str, trio.Event] = {}  # introduced, waiting to be announced
        self.finished = trio.Event()
        self.me: Member
        self.bully: Bully
        self._nursery: trio.Nursery
        self._quit = trio.Event()
        self._timer_changed = trio.Event()
        self._conns_event = trio.Event()
        self.tracker_address = TrackerAddress(
            settings.tracker_host, settings.tracker_port, self.config, self._accept
        )
        self._rejoining = False
        self._reporting = False  # joins and leaves are reported from ready on
        self._stall = trio.Event()  # set by the stall watcher, for the rejoiner
        self._away = 0.0  # how long the last stall lasted
        self._last_tick = math.inf  # no stall is detected before the stall watcher runs
        self._last_cpu = 0.0
        self._handlers: dict[type, Callable[[Connection, Message], None]] = {
            Chat: self._on_chat,
            Ping: self._on_ping,
            Pong: lambda conn, msg: None,
            Election: self._on_election,
            Answer: self._on_answer,
            Coordinator: self._on_coordinator,
            MemberJoined: self._on_member_joined,
            MemberLeft: self._on_member_left,
            Bye: self._on_bye,
        }

    # -- public: what the front ends call ----------------------------------------------------

    def say(self, text: str) -> None:
        if not self._reporting:
            # Rejoining after a freeze: the connections are being made anew, and a message
            # numbered now would leave a gap for peers whose hello came before it.
            self.emit(events.Error("not in the room right now (rejoining); message not sent"))
            return
        if len(text) > MAX_TEXT:
            self.emit(
                events.Error(f"message too long ({len(text)} characters, at most {MAX_TEXT})")
            )
            return
        message = self.chatlog.compose(text, time.time(), time.monotonic())
        frame = _frame(message)
        for conn in self.conns.values():
            if conn.member is not None and conn.member.chat:
                conn.send_frame(frame)
        self._show(self.me, message, own=True)

    async def wait_sendable(self) -> None:
        """Hold a fast sender back while a peer's queue fills, rather than cut that peer off.

        A peer that does not drain within the heartbeat timeout is no longer waited for: its
        queue limit deals with it, so one stuck peer cannot stall the room.
        """
        limit = self.config.send_queue // 4
        if all(conn.backlog <= limit for conn in self.conns.values()):
            return
        with trio.move_on_after(self.config.heartbeat_timeout):
            for conn in list(self.conns.values()):
                while conn.backlog > limit:
                    await conn.drained()

    def who(self) -> None:
        everyone = (self.me, *sorted(self.members, key=lambda m: (m.username, m.node_id)))
        self.emit(events.Who(everyone, self.bully.tracker, self.node_id))

    def quit(self) -> None:
        self._quit.set()

    # -- lifetime -----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Enter the room, report ready, and serve until ``quit()``; then say goodbye."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self._start(nursery)
                task_status.started()
                await self._quit.wait()
                await self._say_goodbye()
                nursery.cancel_scope.cancel()
        finally:
            self.finished.set()

    async def _start(self, nursery: trio.Nursery) -> None:
        s = self.settings
        listeners = await bind(s.host, s.port)
        port = listeners[0].socket.getsockname()[1]
        priority = s.priority if s.priority is not None else port
        self.me = Member(self.node_id, s.username, s.host, port, priority, s.chat)
        self.bully = Bully(self.me, self.members, self.config)
        nursery.start_soon(self._serve, listeners)
        if not s.chat:  # `peerchat tracker`: holding the tracker address is its whole point
            self._found_room(await bind(s.tracker_host, s.tracker_port))
        else:
            await self._enter_room(self.config.found_after)
        nursery.start_soon(self._election_timer)
        nursery.start_soon(self._tracker_duties)
        nursery.start_soon(self._watch_tracker)
        nursery.start_soon(self._watch_stall)
        nursery.start_soon(self._rejoin_when_stalled)
        self.emit(events.Ready(self.me, "tracker" if self.bully.is_tracker else "peer"))
        self._report_tracker()
        for member in self.members:
            self.emit(events.PeerJoined(member))
        self._reporting = True

    async def _say_goodbye(self) -> None:
        with trio.move_on_after(self.config.goodbye_timeout):
            frame = _frame(Bye("quit"))
            for conn in list(self.conns.values()):
                conn.send_frame(frame)
                conn.finish()
            while self.conns:
                await self._conns_changed()

    async def _conns_changed(self) -> None:
        self._conns_event = trio.Event()
        await self._conns_event.wait()

    # -- entering the room --------------------------------------------------------------------

    async def _enter_room(self, found_after: int) -> None:
        """Join through the tracker address; found the room there after ``found_after``
        refusals in a row, ``found_delay`` apart."""
        s = self.settings
        why = "it does not answer"
        refused = 0
        with trio.move_on_after(self.config.join_timeout):
            while True:
                try:
                    with trio.fail_after(self.config.connect_timeout):
                        stream = await trio.open_tcp_stream(s.tracker_host, s.tracker_port)
                except (OSError, trio.TooSlowError):
                    # Refused again and again, a moment apart: a room in the middle of a failover
                    # gets the time to rebind its tracker address before a second room is
                    # founded there.
                    refused += 1
                    if refused >= found_after:
                        listeners = await self.tracker_address.try_bind()
                        if listeners is not None:
                            self._found_room(listeners)
                            return
                        why = (
                            "nothing accepts connections there, yet the address is in use on "
                            "this machine (by another program's connection?)"
                        )
                    await trio.sleep(self.config.found_delay)
                    continue
                try:
                    await self._join(stream)
                    return
                except _Retry as exc:
                    refused = 0
                    why = str(exc)
                    log.info("joining through %s failed (%s); retrying", s.tracker_addr, why)
                    await trio.sleep(0.1)
        raise StartupError(f"cannot join the room through {s.tracker_addr}: {why}")

    def _found_room(self, listeners: list[trio.SocketListener]) -> None:
        log.info("nobody at %s: this node founds the room", str(self.tracker_address))
        self.tracker_address.hold(self._nursery, listeners)
        self._act(self.bully.follow(self.node_id, self.me.priority), announce=False)

    async def _join(self, stream: trio.SocketStream) -> None:
        conn = Connection(stream, self.config, str(self.tracker_address), self.budget)
        try:
            with trio.fail_after(self.config.hello_timeout):
                await conn.send_now(self._hello(join=True))
                hello = await conn.receive()
                if isinstance(hello, Refuse) and not hello.retry:
                    raise StartupError(f"the room refused this node: {hello.reason}")
                if isinstance(hello, Refuse):
                    raise _Retry(f"refused: {hello.reason}")
                conn.introduced()  # the welcome that follows lists the room: it may be big
                welcome = await conn.receive()
        except trio.TooSlowError as exc:
            await trio.aclose_forcefully(stream)
            raise _Retry(
                f"it accepts connections but gave no answer within {self.config.hello_timeout:g} s"
                " (a stopped process, or not PeerChat)"
            ) from exc
        except FrameError as exc:
            await trio.aclose_forcefully(stream)
            raise _Retry(f"what answers there does not speak PeerChat ({exc})") from exc
        except (OSError, trio.BrokenResourceError) as exc:
            await trio.aclose_forcefully(stream)
            raise _Retry(f"the connection failed ({exc})") from exc
        except (_Retry, StartupError):
            await conn.aclose()
            raise
        except Exception as exc:  # whatever else its answer sets off: not a room to join
            await conn.aclose()
            raise _Retry(
                f"it answered in a way this node cannot use ({type(exc).__name__})"
            ) from exc
        if isinstance(welcome, Refuse):
            await trio.aclose_forcefully(stream)
            raise _Retry(welcome.reason)
        if not isinstance(hello, Hello) or not isinstance(welcome, Welcome):
            await trio.aclose_forcefully(stream)
            raise _Retry("what answers there does not speak PeerChat (it answered out of turn)")
        others = [m for m in welcome.members if m.node_id not in (self.node_id, hello.node_id)]
        for member in others:
            self._add_member(member)
        self._attach(conn, hello, report=False)
        self._nursery.start_soon(self._session, conn, self.admission.dialled())
        log.info("joined through %s: %d members", str(self.tracker_address), len(others) + 1)
        tracker = next((m for m in welcome.members if m.node_id == welcome.tracker), None)
        if tracker is not None:
            self._act(self.bully.follow(tracker.node_id, tracker.priority), announce=False)
        async with trio.open_nursery() as dials:
            for member in others:
                dials.start_soon(self._dial_quietly, member)

    async def _dial_quietly(self, member: Member) -> None:
        try:
            with trio.fail_after(self.config.connect_timeout):
                await self._nursery.start(self._dial, member)
        except Exception as exc:
            # Refused, unreachable, too slow, or not the member it claims to be. A member that
            # cannot be reached is not kept on the list: it would count in elections that
            # never reach it.
            why = str(exc) or type(exc).__name__
            log.warning("could not reach %s at %s: %s", member.username, member.addr, why)
            if member.node_id not in self.conns:
                self.members.remove(member.node_id)

    async def _dial(self, member: Member, *, task_status: trio.TaskStatus[None]) -> None:
        slot = self.admission.dialled()
        try:
            stream = await trio.open_tcp_stream(member.host, member.port)
        except BaseException:
            slot.leave()
            raise
        conn = Connection(stream, self.config, member.addr, self.budget)
        try:
            await conn.send_now(self._hello(join=False))
            hello = await conn.receive()
            if not isinstance(hello, Hello) or hello.node_id != member.node_id:
                what = "closed the connection" if hello is None else f"sent a {_kind(hello)}"
                raise ProtocolViolation(f"{member.addr} is not {member.username}: it {what}")
        except BaseException:
            slot.leave()
            await conn.aclose()
            raise
        conn.introduced()
        self._attach(conn, hello, report=True)
        task_status.started()
        await self._session(conn, slot)

    def _hello(self, *, join: bool) -> Hello:
        m = self.me
        return Hello(
            PROTOCOL_VERSION,
            m.node_id,
            m.username,
            m.host,
            m.port,
            m.priority,
            m.chat,
            self.chatlog.seq,
            join,
        )

    # -- accepting ----------------------------------------------------------------------------

    async def _serve(
        self,
        listeners: list[trio.SocketListener],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await trio.serve_listeners(
            self._accept, listeners, handler_nursery=self._nursery, task_status=task_status
        )

    async def _accept(self, stream: trio.SocketStream) -> None:
        """Serve one incoming connection: a stranger until its hello, a member once it joins or
        the room knows it. Nothing it sends can end more than this connection."""
        try:
            host, port = stream.socket.getpeername()[:2]
        except OSError:
            await trio.aclose_forcefully(stream)
            return
        peer = f"{host}:{port}"
        slot = self.admission.enter(host)
        if isinstance(slot, str):
            self._log_refusal(peer, slot)
            await trio.aclose_forcefully(stream)
            return
        conn = Connection(stream, self.config, peer, self.budget)
        try:
            hello = await self._greet(conn)
            if hello is None or not await self._admitted(conn, hello):
                return
            slot.member()
            conn.introduced()
            # No await from here to the queued replies: the member list in the welcome and the
            # chat sequence number in our hello must match what this connection gets afterwards.
            welcome = Welcome((self.me, *self.members), self.node_id) if hello.join else None
            self._attach(conn, hello, report=True)
            conn.send(self._hello(join=False))
            if welcome is not None:
                conn.send(welcome)
                joined = _frame(MemberJoined(hello.member()))
                for other in self.conns.values():
                    if other is not conn:
                        other.send_frame(joined)
            await self._session(conn, slot)
        except Exception:
            log.warning("dropping connection from %s after an internal error", peer, exc_info=True)
        finally:
            slot.leave()
            await conn.aclose()

    async def _greet(self, conn: Connection) -> Hello | None:
        """The peer's hello, checked; None when the connection was refused or dropped."""
        peer = conn.peer
        try:
            with trio.fail_after(self.config.hello_timeout):
                hello = await conn.receive()
                if not isinstance(hello, Hello):
                    raise ProtocolViolation(f"expected a hello, got {_kind(hello)}")
                if hello.node_id == self.node_id:
                    raise ProtocolViolation("a connection from this very node")
                if hello.join and not self.bully.is_tracker:
                    await conn.send_now(Refuse("this node is not the tracker"))
                    raise ProtocolViolation("a join sent to a node that is not the tracker")
                if hello.join and self._name_taken(hello):
                    reason = f"the name {hello.username!r} is taken in this room"
                    await conn.send_now(Refuse(reason, retry=False))
                    raise ProtocolViolation(reason)
                return hello
        except VersionMismatch as exc:
            log.warning("refusing %s: %s", peer, exc)
            with trio.move_on_after(1), contextlib.suppress(trio.BrokenResourceError, OSError):
                await conn.send_now(Refuse(VersionMismatch.REFUSAL, retry=False))
        except (FrameError, trio.TooSlowError, trio.BrokenResourceError, OSError) as exc:
            log.warning(
                "dropping connection from %s before its hello: %s", peer, str(exc) or "timeout"
            )
        return None

    async def _admitted(self, conn: Connection, hello: Hello) -> bool:
        """Whether a connection that introduced itself may stay: it joins through this node
        (the tracker), or it is a member, or the tracker announces it within ``admit_timeout``
        (a newcomer often dials before the announcement arrives). Nothing it sends is read
        meanwhile."""
        node_id = hello.node_id
        if hello.join or node_id in self.members:
            return True
        arrived = self._expected.setdefault(node_id, trio.Event())
        with trio.move_on_after(self.config.admit_timeout):
            await arrived.wait()
        if self._expected.get(node_id) is arrived:
            del self._expected[node_id]
        if node_id in self.members:
            return True
        log.warning(
            "dropping connection from %s: %s introduced itself but is not in the room",
            conn.peer,
            node_id,
        )
        return False

    def _log_refusal(self, peer: str, why: str) -> None:
        left_out = self._refusals.note(trio.current_time())
        if left_out is not None:
            more = f" ({left_out} more refused since the last such line)" if left_out else ""
            log.warning("refusing a connection from %s: %s%s", peer, why, more)

    def _name_taken(self, hello: Hello) -> bool:
        """Another chatting member already goes by this name (the same node coming back after a
        freeze keeps its own)."""
        return any(
            m.username == hello.username and m.node_id != hello.node_id and m.chat
            for m in (self.me, *self.members)
        )

    # -- connections --------------------------------------------------------------------------

    def _attach(self, conn: Connection, hello: Hello, *, report: bool) -> None:
        member = hello.member()
        conn.member, conn.peer = member, f"{member.username}@{member.addr}"
        old = self.conns.get(member.node_id)
        if old is not None:
            old.abort("replaced by a newer connection")
        self.conns[member.node_id] = conn
        log.info("connected to %s (%s) at %s", member.username, member.node_id, member.addr)
        released = self.chatlog.start_after(member.node_id, hello.seq)
        if self._add_member(member) and report and self._reporting:
            self.emit(events.PeerJoined(member))
        for chat in released:
            self._show(member, chat, own=False)

    def _add_member(self, member: Member) -> bool:
        """Record a member (True when new), letting in its connection if one waits for that."""
        new = self.members.add(member)
        waiting = self._expected.pop(member.node_id, None)
        if waiting is not None:
            waiting.set()
        return new

    async def _session(self, conn: Connection, slot: Slot) -> None:
        try:
            await conn.run(self._dispatch)
        finally:
            slot.leave()
            if conn.member is not None and self.conns.get(conn.member.node_id) is conn:
                del self.conns[conn.member.node_id]
                self._drop_member(conn.member.node_id, conn.close_reason)
            self._conns_event.set()

    def _dispatch(self, conn: Connection, message: Message) -> None:
        handler = self._handlers.get(type(message))
        if handler is None:
            raise ProtocolViolation(f"{type(message).__name__} is not expected after the hello")
        handler(conn, message)

    def _drop_member(self, node_id: str, reason: str) -> None:
        if self._quit.is_set() or self._rejoining or self._stalled():
            return  # a node on its way out or back in no longer reports, elects or tracks
        member = self.members.remove(node_id)
        if member is None:
            return
        self.chatlog.forget(node_id)
        log.info("%s (%s) left: %s", member.username, node_id, reason)
        if self._reporting:  # before ready, the member is simply not reported as present
            self.emit(events.PeerLeft(member, reason))
        if self.bully.is_tracker:
            self._broadcast(MemberLeft(node_id, visible(reason)[:MAX_REASON]))
        self._act(self.bully.on_member_lost(node_id, trio.current_time()))

    # -- handlers -----------------------------------------------------------------------------

    def _on_chat(self, conn: Connection, message: Chat) -> None:
        assert conn.member is not None
        if message.sender != conn.member.node_id:
            raise ProtocolViolation(f"{conn.peer} sent a message in the name of {message.sender}")
        try:
            ready = self.chatlog.receive(message)
        except Overflow as exc:
            raise ProtocolViolation(str(exc)) from exc
        for chat in ready:
            self._show(conn.member, chat, own=False)

    def _show(self, sender: Member, chat: Chat, *, own: bool) -> None:
        self.emit(
            events.MessageReceived(
                sender,
                chat.seq,
                chat.lamport,
                chat.text,
                chat.time,
                chat.mono,
                time.monotonic(),
                own,
            )
        )

    def _on_ping(self, conn: Connection, message: Ping) -> None:
        assert conn.member is not None
        conn.send_frame(_PONG)
        member = conn.member
        self._act(self.bully.on_claim(member.node_id, member.priority, trio.current_time()))

    def _on_election(self, conn: Connection, message: Election) -> None:
        assert conn.member is not None
        self._act(self.bully.on_election(conn.member.node_id, trio.current_time()))

    def _on_answer(self, conn: Connection, message: Answer) -> None:
        self._act(self.bully.on_answer(trio.current_time()))

    def _on_coordinator(self, conn: Connection, message: Coordinator) -> None:
        assert conn.member is not None
        if message.tracker != conn.member.node_id:
            raise ProtocolViolation(f"{conn.peer} claimed the tracker role for {message.tracker}")
        # The rank is the one the hello gave, which everybody's member list holds too.
        priority = conn.member.priority
        self._act(self.bully.on_claim(message.tracker, priority, trio.current_time()))
        replaced = self.conns.get(message.replaces)
        if replaced is not None and self.bully.tracker == message.tracker:
            replaced.abort("tracker replaced")

    def _on_member_joined(self, conn: Connection, message: MemberJoined) -> None:
        member = message.member
        if conn.member is None or conn.member.node_id != self.bully.tracker:
            return  # only the tracker announces joins
        if member.node_id != self.node_id and self._add_member(member) and self._reporting:
            self.emit(events.PeerJoined(member))

    def _on_member_left(self, conn: Connection, message: MemberLeft) -> None:
        if conn.member is None or conn.member.node_id != self.bully.tracker:
            return
        gone = self.conns.get(message.node_id)
        if gone is not None:
            gone.abort(message.reason)
        else:
            self._drop_member(message.node_id, message.reason)

    def _on_bye(self, conn: Connection, message: Bye) -> None:
        conn.abort(message.reason)

    # -- election and tracker role ------------------------------------------------------------

    def _act(self, actions: list[Action], *, announce: bool = True) -> None:
        for action in actions:
            log.debug("election: %s", action)
            match action:
                case Send(to, message):
                    conn = self.conns.get(to)
                    if conn is not None:
                        conn.send(message)
                case Broadcast(message):
                    self._broadcast(message)
                case Follow(node_id):
                    self._follow(node_id, announce)
        self._timer_changed.set()

    def _broadcast(self, message: Message) -> None:
        frame = None
        for conn in self.conns.values():
            frame = frame or conn.frame(message)
            conn.send_frame(frame)

    def _follow(self, node_id: str, announce: bool) -> None:
        if node_id == self.node_id:
            log.info("this node is now the tracker")
            now = trio.current_time()
            for conn in self.conns.values():
                conn.last_heard = now  # members owed the new tracker no pongs until now
            self.tracker_address.hold(self._nursery, None)
        else:
            self.tracker_address.release()
            conn = self.conns.get(node_id)
            if conn is not None:
                conn.last_heard = trio.current_time()
        if announce and self._reporting:
            self._report_tracker()

    def _report_tracker(self) -> None:
        tracker_id = self.bully.tracker
        tracker = self.me if tracker_id == self.node_id else self.members.get(tracker_id or "")
        if tracker is not None:
            self.emit(events.TrackerChanged(tracker))

    def _stalled(self) -> bool:
        """Frozen, rather than busy: the loop was away too long and burnt no CPU meanwhile."""
        away = trio.current_time() - self._last_tick
        if away <= self.config.heartbeat_timeout:
            return False
        return time.process_time() - self._last_cpu < 0.05 * away

    def _silent(self, conn: Connection, now: float) -> bool:
        """Silent past the timeout at two checks in a row: after a busy moment, one look can
        come before the reader has caught up with what did arrive."""
        if now - conn.last_heard <= self.config.heartbeat_timeout:
            conn.suspect = False
            return False
        if conn.suspect:
            return True
        conn.suspect = True
        return False

    async def _watch_stall(self) -> None:
        """A node frozen for longer than the heartbeat timeout (SIGSTOP, Ctrl-Z) has
        been given up by the others; whatever it thought it was, it leaves quietly and joins
        again, so that it cannot linger as a second room. This watcher keeps ticking while a
        rejoin runs, so a second freeze in the middle of one leads to another."""
        while True:
            self._last_tick, self._last_cpu = trio.current_time(), time.process_time()
            await trio.sleep(self.config.heartbeat_interval)
            if self._stalled():
                self._away = trio.current_time() - self._last_tick
                log.warning("unresponsive for %.1f s: rejoining the room", self._away)
                self._stall.set()

    async def _rejoin_when_stalled(self) -> None:
        while True:
            await self._stall.wait()
            self._stall = trio.Event()
            try:
                await self._rejoin()
            except StartupError as exc:
                self.emit(events.Error(f"cannot rejoin the room ({exc}); trying again"))
                self._stall.set()
                continue
            if self._stall.is_set():
                continue  # frozen again meanwhile: report once it is really back
            self.emit(
                events.Error(
                    f"this node was unresponsive for {self._away:.1f} s and has rejoined the "
                    "room; messages sent meanwhile did not reach it"
                )
            )

    async def _rejoin(self) -> None:
        self._rejoining, self._reporting = True, False
        before = {m.node_id: m for m in self.members}
        try:
            self.tracker_address.release()
            for conn in list(self.conns.values()):
                conn.abort("rejoining the room")
            while self.conns:
                await self._conns_changed()
            for node_id in list(before):
                self.members.remove(node_id)
            self.bully.reset()
            self._rejoining = False
            await self._enter_room(self.config.refound_after)
        finally:
            self._rejoining, self._reporting = False, True
        for node_id, member in before.items():
            if node_id not in self.members:
                self.emit(events.PeerLeft(member, "lost while this node was unresponsive"))
        for member in self.members:
            if member.node_id not in before:
                self.emit(events.PeerJoined(member))
        self._report_tracker()

    async def _election_timer(self) -> None:
        while True:
            self._timer_changed = trio.Event()
            deadline = self.bully.deadline
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._timer_changed.wait()
            if deadline is not None and trio.current_time() >= deadline:
                self._act(self.bully.on_timer(trio.current_time()))

    async def _tracker_duties(self) -> None:
        """As tracker: ping every member, and cut off those that stopped answering."""
        while True:
            await trio.sleep(self.config.heartbeat_interval)
            if not self.bully.is_tracker:
                continue
            ping = _frame(Ping(self.me.priority))
            now = trio.current_time()
            for conn in list(self.conns.values()):
                if self._silent(conn, now):
                    conn.abort(f"silent for {now - conn.last_heard:.1f} s")
                else:
                    conn.send_frame(ping)

    async def _watch_tracker(self) -> None:
        """As member: a tracker silent for longer than the timeout is taken for dead."""
        while True:
            await trio.sleep(self.config.heartbeat_interval / 4)
            tracker = self.bully.tracker
            now = trio.current_time()
            if tracker is None and self.bully.phase is Phase.IDLE and self._reporting:
                # No tracker and no election: the tracker was lost before it was known (while
                # this node was joining). Elect one.
                self._act(self.bully.tracker_lost(now))
                continue
            if tracker is None or self.bully.is_tracker:
                continue
            conn = self.conns.get(tracker)
            if conn is None:
                self._act(self.bully.tracker_lost(now))
            elif self._silent(conn, now):
                conn.abort("tracker silent")


def _frame(message: Message) -> bytes:
    return encode_frame(encode(message))


def _kind(message: Message | None) -> str:
    """What a peer sent, for logs: its type, never its contents."""
    return "nothing" if message is None else type(message).__name__


def _limits(config: Config) -> Limits:
    """The configured caps, with all connections kept below the descriptor limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = config.max_connections
    if soft != resource.RLIM_INFINITY:
        room = max(1, min(room, soft - config.spare_descriptors))
    return Limits(room, min(config.max_pending, room), min(config.max_pending_per_address, room))


_PONG = _frame(Pong())
