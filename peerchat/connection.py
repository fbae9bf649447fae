"""One TCP connection to a peer: a bounded send queue drained by a writer task, and a reader.

Frames for a peer are never waited for: on an encrypted link with nothing queued a frame goes
to the kernel at once (``SecureStream.send_nowait``); otherwise it is queued, and the writer
sends everything queued in one ``send_all``. A peer that falls ``send_queue`` frames behind is
cut off rather than allowed to stall the sender, as trio-websocket serialises writers but never
lets one block the others. The reader yields now and then, so that one peer's burst of small
frames cannot hold the others up.

Until the peer has introduced itself its frames may be ``max_hello_frame`` bytes at most; a
frame, once begun, must be whole within ``frame_timeout``. Whatever goes wrong while reading or
handling the peer's frames ends this connection only.

A dead link is found by the kernel, at no cost to the room: TCP keepalive probes an idle link
every ``keepalive_interval``, and ``link_timeout`` bounds how long sent data (or a probe) may go
unacknowledged before the connection fails (``TCP_USER_TIMEOUT``). Application-level beats on
every link would cost a room of 100 about two cores of the two this machine has. A peer that is
alive but frozen still acknowledges at the TCP level: the tracker's heartbeat finds it, and
members then probe their own links to it (``Links.probe``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import socket
import sys
import termios
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

import trio

from peerchat.addresses import address_key, is_loopback
from peerchat.admission import Pace
from peerchat.config import Config
from peerchat.membership import Member
from peerchat.protocol import MAX_MEMBERS, Message, ProtocolViolation, decode, encode, listed
from peerchat.wire import (
    GIVEN_UP,
    FrameDecoder,
    FrameError,
    FrameStalled,
    Overdue,
    ReceiveBudget,
    encode_frame,
)

log = logging.getLogger(__name__)

# What one read asks for: a plain stream gives at most this; an encrypted one gives the whole
# records that came, up to 256 KiB of them, so one peer's turn is bounded either way.
RECEIVE_SIZE = 16 * 1024
# Seconds a handler's pace stops the reading at once, at most (``hold``): under the heartbeat
# and frame timeouts, and long enough that many links over one address's pace each take no
# more than it between them (attack round 17: 64 links, a batch a second each, were twice it).
MAX_HOLD = 3.0
TCP_ESTABLISHED = 1  # ``tcpi_state``, the first byte of Linux's TCP_INFO
_LINUX = sys.platform.startswith("linux")
# Where ``tcpi_bytes_acked`` (a u64) lies in Linux's ``struct tcp_info``, which only grows, and
# how much of the struct to ask for.
_BYTES_ACKED = 120
_TCP_INFO_SIZE = 128
FRAMES_PER_TURN = 256  # frames handled from what was read before the reader lets others run
# Members a link's rosters may list: four full rosters at once, then 1,000 a second. Rosters
# past that are left unread, and past ROSTERS_LEFT_UNREAD of those the link ends. Rosters come
# when a link begins, when the tracker changes, when a member's list differs from its
# tracker's (every 3 s at most) and when parts of the room merge.
LISTED_AT_ONCE = 4 * MAX_MEMBERS
LISTED_PER_SECOND = 1000
ROSTERS_LEFT_UNREAD = 16  # past the pace, on one link: then it ends
# And all of a node's links together (one peer linking again and again, or many identities):
# those past it are left unread, and no link ends for it.
NODE_LISTED_AT_ONCE = 4 * MAX_MEMBERS
NODE_LISTED_PER_SECOND = 2000


def node_listed() -> Pace:
    """The pace of the members all of a node's links' rosters may list."""
    return Pace(1 / NODE_LISTED_PER_SECOND, NODE_LISTED_AT_ONCE)


@runtime_checkable
class _SendsAtOnce(Protocol):
    """A stream that can take a frame at once (``SecureStream``)."""

    unsent: bytes

    def send_nowait(self, data: bytes) -> bool: ...


class Connection:
    def __init__(
        self,
        stream: trio.abc.Stream,
        config: Config,
        peer: str,
        budget: ReceiveBudget | None = None,
        listed: Pace | None = None,
    ) -> None:
        """``budget`` and ``listed``: the node's, shared by all its connections (bytes held
        by partial frames; members its links' rosters list)."""
        self.stream = stream
        _watch_by_kernel(stream, config)
        # Where its packets come from, as counted per address ("" on loopback, or unknown).
        self.address = _counted_address(stream)
        self.peer = peer  # for logs, until the hello names the member
        self.member: Member | None = None
        self.opened = self.last_heard = trio.current_time()
        self.close_reason = "connection lost"
        self._config = config
        self._decoder = FrameDecoder(
            config.max_hello_frame,
            small_frame=config.small_frame,
            budget=budget,
            given_up=lambda: self.abort(f"connection lost: {GIVEN_UP}"),
        )
        self._frame_due = Overdue(config.frame_timeout, config.min_pace)  # when the partial
        # frame is late; frames decoded when it began:
        self._completed: int | None = None
        self._frames: Iterator[dict[str, Any]] = iter(())
        self._queue: list[bytes] = []  # frames not yet handed to the socket
        self._writing = False  # a send_all under way: its bytes may not all be in the kernel
        self.had = 0  # our last message the peer surely had: its kernel acknowledged it
        self._at_once = stream if isinstance(stream, _SendsAtOnce) else None
        self._queued = trio.Event()  # set: the writer has something to send, or finishes
        self._turn = 0  # frames handled since the reader last let others run
        self._finishing = False
        self._scope = trio.CancelScope()
        self._drained = trio.Event()
        self.suspect = False  # found silent past the heartbeat timeout once; twice means dead
        self.probed: float | None = None  # when a probe went out that is not answered yet
        self.said_bye = False  # the peer left on purpose: no reason to dial it again
        self.hold = 0.0  # seconds to read nothing more from the peer (a handler's pace)
        self._held_till = -math.inf  # the end of the last such hold
        self.frame_size = 0  # bytes of the frame ``receive`` returned last
        self.outwaited = False  # kept a sender waiting in vain: not waited for till it catches up
        self._listed = Pace(1 / LISTED_PER_SECOND, LISTED_AT_ONCE)  # (``protocol.listed``)
        self._node_listed = listed
        self.rosters_left_out = 0

    # -- sending ------------------------------------------------------------------------------

    def frame(self, message: Message) -> bytes:
        return encode_frame(encode(message), self._config.max_frame)

    def send(self, message: Message) -> None:
        if self._finishing:  # not worth encoding
            return
        try:
            frame = self.frame(message)
        except ValueError as exc:  # over the frame limit: a welcome to a huge room, say
            self.abort(str(exc))
            return
        self.send_frame(frame)

    def send_frame(self, data: bytes) -> None:
        queue = self._queue
        if self._finishing:
            return
        if len(queue) >= self._config.send_queue:
            self.abort(f"{self.peer} fell {self._config.send_queue} frames behind")
            return
        at_once = self._at_once
        if not queue and at_once is not None and at_once.send_nowait(data):
            if at_once.unsent:
                self._queued.set()  # the writer sends the rest once the socket takes it
            return
        queue.append(data)
        if len(queue) == 1:
            self._queued.set()

    def _drop_queue(self) -> None:
        """Nothing queued is sent now: nobody should wait on it, nor keep it in memory."""
        self._queue = []
        if self._at_once is not None:
            self._at_once.unsent = b""

    @property
    def closing(self) -> bool:
        """Nothing more will be sent: the connection is closing or gone."""
        return self._finishing

    @property
    def backlog(self) -> int:
        """Frames not yet handed to the kernel (the rest of one taken at once counts as one)."""
        unsent = self._at_once is not None and bool(self._at_once.unsent)
        return len(self._queue) + unsent

    def acknowledged(self) -> bool:
        """Every byte given to this link is in the peer's kernel: none waits here, and the
        socket's send queue holds none unsent or unacknowledged, on a connection still up.
        (One the kernel gave up on, its retries out, has its queue emptied, unacknowledged: a
        trial's line said as a cable was pulled was taken for had.)"""
        if self.backlog or self._writing or self._in_kernel() != 0:
            return False
        sock = self.stream.socket  # type: ignore[attr-defined]  # (_in_kernel found it)
        try:
            state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)
        except OSError:
            return False
        return state[0] == TCP_ESTABLISHED

    def tcp_acked(self) -> int | None:
        """Bytes of this link the peer's kernel has acknowledged (``tcpi_bytes_acked``, Linux
        4.1 on: the handshake's and the SYN's among them), as ``wire_end`` counts them. None
        where that is not known."""
        sock = getattr(self.stream, "socket", None)
        if sock is None or not _LINUX:
            return None
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
        except OSError:  # closed
            return None
        if len(info) < _BYTES_ACKED + 8:  # a kernel older than 4.1
            return None
        return int.from_bytes(info[_BYTES_ACKED : _BYTES_ACKED + 8], sys.byteorder)

    def wire_end(self) -> int:
        """Where on the wire what was given to this link so far ends, as ``tcp_acked`` counts:
        the bytes written (acknowledged, and still in the kernel), then those sealed and not
        written, then the frames queued (their records' own bytes left out: never past it).
        Counted by the kernel, not added up here: a sum of frames fell behind the wire by a
        record's 18 bytes each, a lag that grew with a link's age (attack round 40)."""
        acked, in_kernel = self.tcp_acked(), self._in_kernel()
        if acked is None or in_kernel is None:
            return 0
        unsent = len(self._at_once.unsent) if self._at_once is not None else 0
        return acked + in_kernel + unsent + sum(map(len, self._queue))

    def _in_kernel(self) -> int | None:
        """Bytes the socket's send queue holds, unsent or unacknowledged by the peer's kernel
        (``SIOCOUTQ``, on Linux: None elsewhere, or once closed)."""
        sock = getattr(self.stream, "socket", None)
        fd = sock.fileno() if sock is not None else -1  # -1 once closed (CI saw ioctl refuse it)
        if fd < 0 or not _LINUX:  # (macOS has TIOCOUTQ but no TCP_INFO: review 55)
            return None
        try:
            return int.from_bytes(fcntl.ioctl(fd, termios.TIOCOUTQ, bytes(4)), sys.byteorder)
        except OSError:
            return None

    async def drained(self) -> None:
        """Until the writer has sent what was queued (or the connection is gone); a
        checkpoint either way, so that a loop that sends and waits lets others run."""
        if self.backlog:
            await self._drained.wait()
        else:
            await trio.lowlevel.checkpoint()

    async def send_now(self, message: Message) -> None:
        """Write directly, before the writer runs: the handshake and refusals."""
        await self.stream.send_all(self.frame(message))

    @property
    def proven_id(self) -> str:
        """The node id the peer proved in the handshake ("" on a stream without one)."""
        return getattr(self.stream, "peer_id", "")

    @property
    def elsewhere(self) -> bool:
        """The peer is on another computer: this end is not at a loopback address."""
        here = self.local_host
        return bool(here) and not is_loopback(here)

    @property
    def remote_host(self) -> str:
        """The address of the other end, as the kernel has it ("" if not an IP socket)."""
        return _peer_host(self.stream)

    @property
    def local_host(self) -> str:
        """The address of this end: by which the peer reached this node (or it reached it)."""
        try:
            return self.stream.socket.getsockname()[0]  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            return ""

    # -- receiving ----------------------------------------------------------------------------

    def introduced(self) -> None:
        """The peer said hello: from now on it may send frames up to ``max_frame``."""
        self._decoder.max_frame = self._config.max_frame

    async def receive(self) -> Message | None:
        """The next message, or None when the peer closed cleanly. Raises FrameError.

        Frames are decoded one at a time, so the good frames before a bad one still count.
        """
        while True:
            for frame in self._frames:
                self._turn += 1
                if self._turn >= FRAMES_PER_TURN:
                    self._turn = 0
                    await trio.lowlevel.checkpoint()
                if self._left_unread(frame):
                    continue
                self.frame_size = self._decoder.size
                return decode(frame)
            self._turn = 0  # reading waits, or at least checkpoints
            data = await self._receive_some()
            if not data:
                self._decoder.close()
                return None
            self.last_heard = trio.current_time()
            # More time for a frame partly in (a new one begins its own: ``_receive_some``);
            # not a large one, which holds the shared budget: 5 s, no more (attack round 26:
            # 32 members feeding 1 MiB frames at 600 B/s held it all).
            if self._decoder.partial and not self._decoder.budgeted:
                self._frame_due.came(len(data), self.last_heard)
            self._decoder.feed(data)
            self._frames = self._decoder.frames()

    def _left_unread(self, frame: dict[str, Any]) -> bool:
        """Whether ``frame`` is a roster past the link's pace or the node's, left unread: a
        merge of two large parts can pass many over one link, and what an unread one told, the
        next comparison of rosters tells. Past ``ROSTERS_LEFT_UNREAD`` on one link, a flood
        rather than a merge, the link ends."""
        count = listed(frame)
        if not count:  # (any other frame: nothing more on the per-message path)
            return False
        now = trio.current_time()
        if not self._listed.allows(now, count):
            self.rosters_left_out += 1
            if self.rosters_left_out > ROSTERS_LEFT_UNREAD:
                raise ProtocolViolation("sent rosters of more members than a room has")
            return True
        return self._node_listed is not None and not self._node_listed.allows(now, count)

    async def _receive_some(self) -> bytes:
        """Bytes from the peer; while a frame is partly in, only until its deadline."""
        decoder = self._decoder
        if not decoder.partial:
            return await self.stream.receive_some(RECEIVE_SIZE)
        if decoder.completed != self._completed:
            self._completed = decoder.completed
            self._frame_due.begin(self.last_heard)  # a new frame began with the last bytes
        with trio.move_on_at(self._frame_due.at):
            return await self.stream.receive_some(RECEIVE_SIZE)
        raise FrameStalled(f"a frame took longer than {self._config.frame_timeout:g} s to arrive")

    @property
    def heard(self) -> float:
        """When the peer was last heard from: a frame, or bytes of one on their way (a user
        trial's member on a slow uplink, sending a long paste for seconds, was dropped as
        silent meanwhile, its pongs behind the paste). A link this node holds to its pace is
        not silent till the hold ends: the silence is this node's (a CI run's cluster, holding
        a flooded link past the heartbeat timeout, dropped members who beat on time)."""
        heard = max(self.last_heard, getattr(self.stream, "heard_at", -math.inf))
        return max(heard, self._held_till)

    # -- lifetime -----------------------------------------------------------------------------

    def abort(self, reason: str) -> None:
        """Close now, from anywhere: the session running this connection ends."""
        if self._scope.cancel_called:
            return
        self.close_reason = reason
        self._finishing = True  # nothing more is queued, and the first reason stands
        self._drop_queue()
        self._scope.cancel()
        self._drained.set()

    def finish(self) -> None:
        """Close after the queued frames are sent (the goodbye)."""
        self._finishing = True
        self._queued.set()

    async def run(self, on_message: Callable[[Connection, Message], None]) -> None:
        """Read until the peer closes or the connection is aborted; write meanwhile.

        Whatever the peer gets wrong ends here, as the close reason: nothing escapes.
        """
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write)
                    try:
                        while (message := await self.receive()) is not None:
                            on_message(self, message)
                            if self.hold:  # past its pace: the peer's sends wait meanwhile
                                hold, self.hold = min(self.hold, MAX_HOLD), 0.0
                                self._held_till = trio.current_time() + hold
                                await trio.sleep(hold)
                    except FrameStalled as exc:  # a user read "protocol error" of a cut cable
                        self.close_reason = f"connection lost: {exc}"
                    except FrameError as exc:
                        self.close_reason = f"protocol error: {exc}"
                        log.warning("closing connection to %s: %s", self.peer, exc)
                    except trio.BrokenResourceError as exc:
                        self.close_reason = f"connection lost: {_in_words(exc.__cause__ or exc)}"
                    except Exception as exc:  # whatever a peer's data sets off ends here
                        self.close_reason = f"internal error ({type(exc).__name__})"
                        log.warning("closing connection to %s", self.peer, exc_info=True)
                    nursery.cancel_scope.cancel()
        finally:
            self._finishing = True
            self._drop_queue()
            self._drained.set()  # nobody waits on a connection that is gone
            await self.aclose()

    async def aclose(self) -> None:
        """Close at once, and give back the receive budget a partial frame held."""
        self._decoder.discard()
        await trio.aclose_forcefully(self.stream)

    async def _write(self) -> None:
        """Send everything queued (after the rest of a frame sent at once) in one
        ``send_all``, as often as the socket takes it."""
        try:
            while True:
                if not self.backlog:
                    if self._finishing:
                        break
                    self._queued = trio.Event()
                    await self._queued.wait()
                    continue
                batch, self._queue = self._queue, []
                self._writing = True
                await self.stream.send_all(b"".join(batch))  # one frame's join is no copy
                self._writing = False
                if not self.backlog:
                    self._drained.set()
                    self._drained = trio.Event()
            await self.stream.send_eof()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self.abort(f"connection lost: {_in_words(exc.__cause__ or exc)}")


def _in_words(exc: BaseException) -> str:
    """What the system said, without its number: "connection timed out", not "[Errno 110]
    Connection timed out" (a user trial found the raw text on the screen)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc)


def _counted_address(stream: trio.abc.Stream) -> str:
    host = _peer_host(stream)
    return "" if not host or is_loopback(host) else address_key(host)


def _peer_host(stream: trio.abc.Stream) -> str:
    """The address of the other end of ``stream`` ("" once gone, or for no IP socket)."""
    sock = getattr(stream, "socket", None)
    try:
        return sock.getpeername()[0] if sock is not None else ""
    except (OSError, IndexError, TypeError):
        return ""


def _watch_by_kernel(stream: trio.abc.Stream, config: Config) -> None:
    """TCP keepalive and a user timeout on the socket, where the platform has them."""
    sock = getattr(stream, "socket", None)
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    idle = max(1, round(config.keepalive_interval))
    user_timeout = round(1000 * config.link_timeout)
    options = [
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPIDLE", None), idle),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPINTVL", None), idle),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPCNT", None), 2),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_USER_TIMEOUT", None), user_timeout),
    ]
    for level, option, value in options:
        if option is not None:
            # Not on this platform or socket: the tracker's heartbeats and probes still work.
            with contextlib.suppress(OSError):
                sock.setsockopt(level, option, value)
