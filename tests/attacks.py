"""Attack clients for PeerChat, on loopback only: what issue 7 found kills, bloats or jams a node.

Used by ``tests/test_hostile.py`` and ``scripts/attack.py``. Nothing here imports ``peerchat``
(the nodes are ``e2e_helpers`` processes), so the same attacker runs against any version.
Every connection goes to 127.0.0.1; a source address, when one is given (to spread connections
over several remote addresses), must be a loopback one too.

- frames: ``frame``, ``hello``, ``member``, signed chat (``FakeIdentity``, whose ``batch``
  is a node's batch frame, and ``batch_data``/``batch_frame`` to forge one), the killers
  (``long_version_hello``, ``nested_type_frame``, ``nested_batch_frame``,
  ``nested_batch_data``) and ``partial_frame``;
- one connection: ``poke`` sends bytes and reads until the node closes;
- many connections: ``open_flood`` opens them, sends each its bytes once and holds them open;
  ``sustain_flood`` keeps refilling whatever the node lets go, for a while;
- a room of our own: ``FakeTracker`` plays the tracker for a node that joins through it;
- the victim, from /proc: ``rss_kib``, ``hwm_kib``, ``fd_count``; and ``RawProc``, a node
  process whose stdout lines are kept as bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import itertools
import os
import struct
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import msgpack
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from e2e_helpers import Proc, Swarm

from peerchat.batch import room_tag
from peerchat.handshake import OPEN_ROOM, HandshakeError, LocalKeys, room_key
from peerchat.secure_stream import SecureStream, secure

LOOPBACK = "127.0.0.1"
PROTOCOL_VERSION = 15  # peerchat.PROTOCOL_VERSION since a refused rename is told back
MAX_FRAME = 1 << 20  # the node's default frame limit
HEADER = struct.Struct(">I")
NO_LISTENER_PORT = 1  # what attackers claim to listen on: dialling it back fails at once
BATCH_TAG = "peerchat-batch-v2"  # what a batch's signed bytes begin with
NODE_ID_BYTES = 16  # a node id is the first 16 bytes of SHA-256 of its public key, in hex

_ids = itertools.count()


# -- frames ------------------------------------------------------------------------------------


def frame(payload: Any) -> bytes:
    return raw_frame(msgpack.packb(payload, use_bin_type=True))


def raw_frame(body: bytes) -> bytes:
    """``body`` behind its length prefix, for bodies msgpack.packb would refuse to make."""
    return HEADER.pack(len(body)) + body


def fresh_id(prefix: str = "mallory") -> str:
    """A node id nobody else uses (the process id keeps parallel runs apart)."""
    return f"{prefix}-{os.getpid():x}-{next(_ids)}"


def hello(
    node_id: str | None = None,
    *,
    join: bool,
    username: str | None = None,
    host: str = LOOPBACK,
    port: int = NO_LISTENER_PORT,
    version: Any = PROTOCOL_VERSION,
    seq: int = 0,
    room: str = "",
) -> dict[str, Any]:
    """A hello as a node sends it; ``room``: the room's home address ("" from a newcomer)."""
    node_id = node_id or fresh_id()
    return {
        "t": "hello",
        "version": version,
        "node_id": node_id,
        "username": username or "m" + node_id[-30:].replace("-", ""),
        "host": host,
        "port": port,
        "priority": 0,
        "chat": True,
        "seq": seq,
        "join": join,
        "room": room,
        "tracker": "",
        "name": "",
        "direct": False,
    }


def member(node_id: str, username: str, *, port: int = NO_LISTENER_PORT) -> dict[str, Any]:
    return {
        "node_id": node_id,
        "username": username,
        "host": LOOPBACK,
        "port": port,
        "priority": 0,
        "chat": True,
    }


def open_room_at(port: int) -> bytes:
    """What a batch names an open room without a name, founded at ``port`` on loopback, by."""
    return room_tag("", f"{LOOPBACK}:{port}", OPEN_ROOM)


def batch_data(
    public_key: bytes,
    username: str,
    first_seq: int,
    first_lamport: int,
    items: Sequence[tuple[float, float, Any]],
    room: bytes,
) -> bytes:
    """The bytes a batch's author signs: messages ``first_seq``, ``first_seq + 1``, ... of the
    author whose key is ``public_key``, said in ``room`` (``open_room_at``); ``items`` are
    (wall time, monotonic time, text)."""
    return msgpack.packb(
        [
            BATCH_TAG,
            room,
            public_key,
            username,
            first_seq,
            first_lamport,
            [list(i) for i in items],
        ],
        use_bin_type=True,
    )


def batch_frame(data: bytes, sig: bytes, *, old: bool = False) -> dict[str, Any]:
    """A batch frame as sent: ``old`` when handed on from a store rather than said just now."""
    return {"t": "batch", "data": data, "sig": sig, "old": old}


def node_id_of(public_key: bytes) -> str:
    """The node id that goes with an Ed25519 public key (32 raw bytes)."""
    return hashlib.sha256(public_key).digest()[:NODE_ID_BYTES].hex()


class FakeIdentity:
    """A key pair of our own and the node id that goes with it, so that our chat is accepted:
    a node takes a live batch only from the connection whose hello named the batch's author."""

    def __init__(self, username: str | None = None, *, room: bytes = b"") -> None:
        """``room``: where its batches are said (``open_room_at``)."""
        self.room = room
        self._key = Ed25519PrivateKey.generate()
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.node_id = node_id_of(self.public_key)
        self.username = username or "m" + self.node_id[:12]

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def hello(self, *, join: bool, **fields: Any) -> dict[str, Any]:
        """A hello from this identity (see ``hello`` for ``fields``)."""
        return hello(self.node_id, join=join, username=self.username, **fields)

    def data(self, seq: int, *texts: Any, lamport: int | None = None) -> bytes:
        """Signed bytes of a batch of ``texts``, numbered from ``seq`` (Lamport times too)."""
        items = [(0.0, 0.0, text) for text in texts]
        first_lamport = seq if lamport is None else lamport
        return batch_data(self.public_key, self.username, seq, first_lamport, items, self.room)

    def batch(self, seq: int, *texts: Any, old: bool = False) -> dict[str, Any]:
        """Our messages ``texts``, numbered from ``seq``, as one signed batch frame."""
        data = self.data(seq, *texts)
        return batch_frame(data, self.sign(data), old=old)


def nested(depth: int) -> bytes:
    """msgpack for ``[[[...[None]...]]]``, ``depth`` lists deep: packb refuses past 511."""
    return b"\x91" * depth + b"\xc0"


def long_version_hello(length: int = 300_000, char: str = "\x00") -> bytes:
    """Killer 1: a hello whose version is a long string, which a refusal used to quote back. A
    control character takes 1 byte on the wire and 4 in a repr: 300,000 of them fit a frame,
    and their repr does not."""
    return frame(hello(join=True, version=char * length))


def nested_type_frame(depth: int = 1000) -> bytes:
    """Killer 2: before any hello, a map whose ``t`` is a list nested ``depth`` deep."""
    return raw_frame(b"\x81" + msgpack.packb("t") + nested(depth))


def nested_batch_frame(depth: int = 1000) -> bytes:
    """Killer 3 (after a valid hello): a batch frame whose ``data`` is not bytes but a list
    nested ``depth`` deep, the rest of the frame well-formed."""
    fields = batch_frame(b"", b"\x00" * 64)
    del fields["data"]
    body = bytes([0x80 | (len(fields) + 1)])
    body += b"".join(
        msgpack.packb(k) + msgpack.packb(v, use_bin_type=True) for k, v in fields.items()
    )
    return raw_frame(body + msgpack.packb("data") + nested(depth))


def nested_batch_data(identity: FakeIdentity, depth: int = 1000) -> bytes:
    """Killer 3 inside the signed bytes (after a valid hello from ``identity``): a live batch
    frame, flat and correctly signed, whose ``data`` holds a message whose text is a list
    nested ``depth`` deep."""
    head = [BATCH_TAG, identity.room, identity.public_key, identity.username, 1, 1]
    data = b"\x97" + b"".join(msgpack.packb(v, use_bin_type=True) for v in head)
    data += b"\x91\x93" + msgpack.packb(0.0) + msgpack.packb(0.0) + nested(depth)
    return frame(batch_frame(data, identity.sign(data)))


def partial_frame(size: int = MAX_FRAME, missing: int = 1) -> bytes:
    """A frame announced as ``size`` bytes of which all but ``missing`` are sent."""
    return HEADER.pack(size) + b"\x00" * (size - missing)


# -- one connection ------------------------------------------------------------------------------


async def connect(
    port: int,
    *,
    source: str = LOOPBACK,
    identity: FakeIdentity | None = None,
    secret: str = "",
) -> SecureStream:
    """A connection to 127.0.0.1:port from ``source`` (a loopback address) after the Noise
    handshake, as any node that knows the room's ``secret`` (an open room: anyone) can make
    one: with ``identity``'s key, or a fresh one whose id no hello of ours names."""
    stream = await connect_raw(port, source=source)
    keys = LocalKeys.make(identity or FakeIdentity())  # type: ignore[arg-type]
    try:
        with trio.fail_after(10):
            psk = room_key(secret) if secret else OPEN_ROOM
            return await secure(stream, keys, psk, initiator=True, record_timeout=60)
    except (HandshakeError, trio.TooSlowError, trio.BrokenResourceError) as exc:
        await trio.aclose_forcefully(stream)
        raise ConnectionError(f"no handshake: {exc}") from exc  # as a refused connection
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise


async def connect_raw(port: int, *, source: str = LOOPBACK) -> trio.SocketStream:
    """A TCP connection to 127.0.0.1:port from ``source``, before any handshake."""
    if not ipaddress.ip_address(source).is_loopback:
        raise ValueError(f"{source} is not a loopback address; attacks stay on this machine")
    sock = trio.socket.socket()
    try:
        if source != LOOPBACK:
            await sock.bind((source, 0))
        await sock.connect((LOOPBACK, port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


def local_name(stream: trio.SocketStream) -> str:
    """How the node names this connection in its log: our side's address and port."""
    return "{}:{}".format(*stream.socket.getsockname()[:2])


async def read_until_closed(
    stream: trio.SocketStream, timeout: float, *, limit: int = 1 << 22
) -> tuple[bytes, bool]:
    """What the node sends until it closes the connection, and whether it did within ``timeout``.
    At most ``limit`` bytes are kept."""
    received = bytearray()
    with trio.move_on_after(timeout):
        try:
            while chunk := await stream.receive_some(65536):
                if len(received) < limit:
                    received += chunk[: limit - len(received)]
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        return bytes(received), True
    return bytes(received), False


async def poke(
    port: int, data: bytes, *, timeout: float = 5.0, eof: bool = False
) -> tuple[str, bytes, bool]:
    """Connect, send ``data`` (half-close after it with ``eof``), and read until the node closes.

    Returns the name the node logs this connection under, what it sent back, and whether it
    closed the connection within ``timeout``.
    """
    stream = await connect(port)
    name = local_name(stream)
    try:
        try:
            await stream.send_all(data)
            if eof:
                await stream.send_eof()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # closed while we were still sending: that is an answer too
        answer, closed = await read_until_closed(stream, timeout)
    finally:
        await trio.aclose_forcefully(stream)
    return name, answer, closed


def split_frames(data: bytes) -> list[Any]:
    """The whole frames in ``data`` (from the node: trusted to be shallow), decoded."""
    out = []
    while len(data) >= HEADER.size:
        (size,) = HEADER.unpack_from(data)
        if len(data) < HEADER.size + size:
            break
        out.append(msgpack.unpackb(data[HEADER.size : HEADER.size + size], raw=False))
        data = data[HEADER.size + size :]
    return out


class FrameReader:
    """The node's frames on one connection, one at a time as they come (from the node: trusted
    to be shallow)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = b""

    async def next(self) -> Any:
        """The next frame, or None once the node has closed the connection."""
        while True:
            if len(self._buffer) >= HEADER.size:
                (size,) = HEADER.unpack_from(self._buffer)
                end = HEADER.size + size
                if len(self._buffer) >= end:
                    body, self._buffer = self._buffer[HEADER.size : end], self._buffer[end:]
                    return msgpack.unpackb(body, raw=False)
            try:
                chunk = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                chunk = b""
            if not chunk:
                return None
            self._buffer += chunk

    async def until(self, predicate: Callable[[Any], bool], timeout: float) -> Any:
        """The first frame from now on that passes ``predicate``; fails after ``timeout``."""
        with trio.fail_after(timeout):
            while (received := await self.next()) is not None:
                if predicate(received):
                    return received
        raise AssertionError("the node closed the connection first")


# -- many connections ----------------------------------------------------------------------------


class Flood:
    """Many connections, each sending its bytes once and then nothing, held open until the
    flood is closed. It counts what became of them; ``names`` are the names the node gives
    them in its log."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.connected = 0
        self.connect_failed = 0
        self.sent = 0  # sent everything they had to send
        self.closed = 0  # closed by the node (end of stream or reset)
        self.first_error = ""
        self.names: list[str] = []
        self._settled = 0  # sent everything, failed, or was closed before it could
        self._changed = trio.Event()

    @property
    def open(self) -> int:
        return self.connected - self.closed

    def _note(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _until(self, done: Callable[[], bool], timeout: float) -> bool:
        with trio.move_on_after(timeout):
            while not done():
                await self._changed.wait()
            return True
        return False

    async def settled(self, timeout: float) -> bool:
        """Every connection was attempted and sent what it had, or ended before it could."""
        return await self._until(lambda: self._settled >= self.count, timeout)

    async def all_closed(self, timeout: float) -> bool:
        """The node closed every connection that was made (or none was made at all)."""
        return await self._until(
            lambda: self._settled >= self.count and self.closed >= self.connected, timeout
        )

    def summary(self) -> str:
        return (
            f"{self.count} attempted, {self.connected} connected, {self.connect_failed} failed "
            f"to connect, {self.sent} sent all, {self.closed} closed by the node"
            + (f" (first connect error: {self.first_error})" if self.first_error else "")
        )


@contextlib.asynccontextmanager
async def open_flood(
    port: int,
    count: int,
    payload: Callable[[int, FakeIdentity], bytes | tuple[bytes, ...]],
    *,
    sources: Sequence[str] = (LOOPBACK,),
    concurrency: int = 64,
    pong: bool = False,
    settle_timeout: float = 60.0,
) -> AsyncIterator[Flood]:
    """``count`` connections to 127.0.0.1:port, connection ``i`` from ``sources[i % len]``
    sending ``payload(i, identity)`` (bytes, or a tuple of them so that big parts can be
    shared), after a handshake with a fresh ``identity`` whose hello the payload may say.

    Yields once each has sent its bytes (or failed, or was closed, or ``settle_timeout``
    passed), and closes them all on exit. With ``pong``, each answers the node's pings, like
    an idle member that is alive."""
    flood = Flood(count)
    limiter = trio.CapacityLimiter(concurrency)
    streams: list[trio.SocketStream] = []

    async def one(i: int) -> None:
        async with limiter:
            try:
                me = FakeIdentity()
                stream = await connect(port, source=sources[i % len(sources)], identity=me)
            except OSError as exc:
                flood.connect_failed += 1
                flood.first_error = flood.first_error or str(exc)
                flood._settled += 1
                flood._note()
                return
            streams.append(stream)
            flood.connected += 1
            flood.names.append(local_name(stream))
        settled = False
        try:
            data = payload(i, me)
            parts = data if isinstance(data, tuple) else (data,)
            async with trio.open_nursery() as nursery:

                async def send() -> None:
                    nonlocal settled
                    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                        for part in parts:
                            await stream.send_all(part)
                        flood.sent += 1
                    settled = True
                    flood._settled += 1
                    flood._note()

                nursery.start_soon(send)
                await _read(stream, pong)
                nursery.cancel_scope.cancel()  # closed by the node: stop sending
            flood.closed += 1
        finally:
            if not settled:
                flood._settled += 1
            flood._note()

    async with trio.open_nursery() as nursery:
        for i in range(count):
            nursery.start_soon(one, i)
        try:
            await flood.settled(settle_timeout)
            yield flood
        finally:
            nursery.cancel_scope.cancel()
            for stream in streams:
                stream.socket.close()


async def sustain_flood(
    port: int,
    width: int,
    payload: Callable[[int, FakeIdentity], bytes],
    duration: float,
    *,
    sources: Sequence[str] = (LOOPBACK,),
) -> int:
    """Keep ``width`` connections to 127.0.0.1:port open for ``duration`` seconds: each sends
    ``payload(n)`` and, as soon as the node closes it, is opened again (a flood that refills
    whatever the node lets go). Returns how many connections were made in all."""
    made = 0

    async def worker(i: int) -> None:
        nonlocal made
        while True:
            me = FakeIdentity()
            try:
                stream = await connect(port, source=sources[i % len(sources)], identity=me)
            except OSError:
                await trio.sleep(0.01)  # the node's backlog is full: try again at once, nearly
                continue
            made += 1
            try:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await stream.send_all(payload(made, me))
                await _read(stream, pong=False)
            finally:
                stream.socket.close()

    with trio.move_on_after(duration):
        async with trio.open_nursery() as nursery:
            for i in range(width):
                nursery.start_soon(worker, i)
    return made


async def _read(stream: trio.SocketStream, pong: bool) -> None:
    """Read (answering pings with ``pong``) until the node closes the connection."""
    buffer = b""
    pong_frame = frame({"t": "pong"})
    try:
        while chunk := await stream.receive_some(65536):
            if not pong:
                continue
            buffer += chunk
            while len(buffer) >= HEADER.size:
                (size,) = HEADER.unpack_from(buffer)
                if len(buffer) < HEADER.size + size:
                    break
                body, buffer = (
                    buffer[HEADER.size : HEADER.size + size],
                    buffer[HEADER.size + size :],
                )
                if b"\xa4ping" in body:
                    await stream.send_all(pong_frame)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


# -- a room of our own -------------------------------------------------------------------------


class FakeTracker:
    """Holds a tracker address and plays the tracker for one node that joins through it: it
    answers the join with a welcome listing itself (and ``others``), pings every 0.2 s, and
    sends whatever the test wants, as the tracker would (announcements, farewells; chat with
    ``say``)."""

    def __init__(
        self, port: int, *, username: str = "faketracker", others: Sequence[dict] = ()
    ) -> None:
        self.port = port
        self.room = f"{LOOPBACK}:{port}"  # a room founded at this address
        self.identity = FakeIdentity(username, room=open_room_at(port))
        self.node_id = self.identity.node_id
        self.username = username
        self._said = 0
        self.others = list(others)
        self.victim_hello: dict[str, Any] | None = None
        self.closed = trio.Event()  # the victim closed the connection (or never came)
        self._stream: trio.SocketStream | None = None
        self._joined = trio.Event()
        self._sending = trio.Lock()  # the pinger and the test both send

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, let one node join, then serve it until it closes; the address is let go as
        soon as that node has connected."""
        listeners = await trio.open_tcp_listeners(self.port, host=LOOPBACK)
        task_status.started()
        try:
            stream = await listeners[0].accept()
        finally:
            for listener in listeners:
                await listener.aclose()
        try:
            with contextlib.suppress(
                trio.BrokenResourceError, trio.ClosedResourceError, HandshakeError
            ):
                keys = LocalKeys.make(self.identity)  # type: ignore[arg-type]
                stream = await secure(stream, keys, OPEN_ROOM, initiator=False, record_timeout=60)
                self._stream = stream
                await self._greet(stream)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._ping)
                    await _read(stream, pong=False)
                    nursery.cancel_scope.cancel()
        finally:
            self.closed.set()
            await trio.aclose_forcefully(stream)

    async def _greet(self, stream: trio.SocketStream) -> None:
        data = b""
        while not (frames := split_frames(data)):
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise trio.BrokenResourceError("closed before its hello")
            data += chunk
        self.victim_hello = frames[0]
        me = member(self.node_id, self.username)
        greeting = hello(self.node_id, join=False, username=self.username, room=self.room)
        greeting["tracker"] = self.node_id
        welcome = {
            "t": "welcome",
            "members": [me, *self.others],
            "tracker": self.node_id,
            "marked": [],
        }
        async with self._sending:
            await stream.send_all(frame(greeting) + frame(welcome))
        self._joined.set()

    async def _ping(self) -> None:
        while await self.send({"t": "ping", "priority": 0, "room": b""}):
            await trio.sleep(0.2)

    async def joined(self, timeout: float = 10.0) -> None:
        with trio.fail_after(timeout):
            await self._joined.wait()

    async def say(self, text: str) -> bool:
        """Say ``text`` in the room, as a signed batch from the tracker; False when the node is
        gone."""
        self._said += 1
        return await self.send(self.identity.batch(self._said, text))

    async def send(self, payload: Any) -> bool:
        """Send a frame to the node; False when it is gone."""
        assert self._stream is not None, "nobody joined yet"
        try:
            async with self._sending:
                await self._stream.send_all(frame(payload))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True


# -- the victim, seen from /proc ---------------------------------------------------------------


def _status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise LookupError(f"no {key} for process {pid}")


def rss_kib(pid: int) -> int:
    """Resident memory now."""
    return _status_kib(pid, "VmRSS")


def hwm_kib(pid: int) -> int:
    """The most resident memory the process ever had (its high-water mark)."""
    return _status_kib(pid, "VmHWM")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def raise_nofile(want: int) -> int:
    """Raise this process's descriptor limit toward ``want`` (up to the hard limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = min(max(soft, want), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


# -- a victim whose stdout is kept byte for byte ------------------------------------------------


class RawProc(Proc):
    """A ``Proc`` that also keeps each stdout line as the bytes it came in: JSON decoding
    hides whether U+2028 was escaped or raw."""

    def __init__(self, name: str, argv: list[str], workdir: Path) -> None:
        super().__init__(name, argv, workdir)
        self.raw_lines: list[bytes] = []

    def _record(self, raw: bytes) -> None:
        self.raw_lines.append(raw)
        super()._record(raw)


async def spawn_raw_node(
    swarm: Swarm, name: str, tracker: str, *, ephemeral: bool = True
) -> RawProc:
    """A headless node called ``name`` joining through ``tracker``; does not wait for ready.
    ``ephemeral``: it keeps nothing on disk (``--ephemeral``, which versions before data dirs
    lack); otherwise it uses the user's data dir for ``name``, like a user's node."""
    argv = [sys.executable, "-m", "peerchat", "--username", name, "--headless"]
    if ephemeral:
        argv.append("--ephemeral")  # nothing of the attacks in the user's data dir
    proc = RawProc(name, [*argv, "--tracker", tracker], swarm.workdir)
    proc.argv += ["--log-file", str(proc.log_path)]
    swarm.procs.append(proc)
    await proc._start(swarm.nursery)
    return proc
