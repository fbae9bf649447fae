"""A connection after its Noise handshake: a trio stream that encrypts what is sent on it.

On the wire every handshake message and every record is a 2-byte length and that many bytes.
A record is the encryption of up to 65,519 bytes of the plain stream, which is the usual
length-prefixed frames (``wire``): what the writer sends at once (several frames, one batch of
messages) goes out in as few records as fit, each sealed once, and a frame sent at once
(``send_nowait``) in records of its own. A record that does not decrypt, or does not arrive
whole within the frame timeout once begun, ends the connection.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import trio

from peerchat.handshake import (
    MAX_MESSAGE,
    REFUSAL,
    ClosedEarly,
    ClosedUnheard,
    Handshake,
    HandshakeError,
    LocalKeys,
    WrongSecret,
)
from peerchat.wire import FrameError, FrameStalled, Overdue

if TYPE_CHECKING:
    from peerchat.node import Node

LENGTH = 2
MAX_PLAIN = MAX_MESSAGE - 16  # the AEAD tag takes 16 bytes of each record
# What one read asks the kernel for: more than a record. At 64 KiB, reads fell across the
# records of file chunks (each about 64 KiB), and fetches went 13% slower (measured). Under
# glibc's 128 KiB ``mmap`` threshold: a read's buffer of 256 KiB was a mapping made and undone
# at each read, in fresh pages, and a fetcher spent 2.1-2.9 ms of system time a MiB, against
# 0.9-1.6 with this (128 MiB to one receiver, nine fetches each, in turns).
RECEIVE_SIZE = 120 * 1024
RECORDS_PER_TURN = 64  # opened before the reader lets others run (a record may be one byte)


class SecureStream(trio.abc.Stream):
    def __init__(
        self,
        stream: trio.abc.Stream,
        handshake: Handshake,
        record_timeout: float,
        received: bytes = b"",
        min_pace: int = 0,
    ) -> None:
        """A record must be whole within ``record_timeout`` of its first bytes, put off while
        its bytes come at ``min_pace`` or more (``Overdue``, ``Config.min_pace``)."""
        self._stream = stream
        self._noise = handshake.noise
        self._record_timeout = record_timeout
        self._due = Overdue(record_timeout, min_pace)
        self.heard_at = trio.current_time()  # when bytes last came, of a record or a whole one
        self._buffer = bytearray(received)  # what came after the handshake's last message
        self._began: float | None = None  # when the record now partly in began to arrive
        self._sending = False
        self.unsent = b""  # sealed bytes the kernel has yet to take: they go first
        self.peer_id = handshake.peer_id
        self.peer_key = handshake.peer_key

    @property
    def socket(self) -> Any:
        """The TCP socket underneath (for addresses and socket options)."""
        return getattr(self._stream, "socket", None)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:  # the nonces of two writers' records would interleave
            raise trio.BusyResourceError("another task is sending on this stream")
        self._sending = True
        try:
            wire = self._seal(data)
            if self.unsent:
                wire, self.unsent = self.unsent + wire, b""
            # Cancelled in the middle, the stream is broken (records sealed and not sent); the
            # connection ends then anyway.
            if wire:
                await self._stream.send_all(wire)
            else:
                await trio.lowlevel.checkpoint()
        finally:
            self._sending = False

    def send_nowait(self, data: bytes) -> bool:
        """Seal ``data`` and give it to the kernel at once, with no task switch: a frame to ten
        members is then ten writes, not ten writers woken. True when taken (what the socket
        has no room for waits in ``unsent`` and goes first on the next ``send_all``, which also
        reports a write's error); False when a send is under way or bytes wait, or there is no
        POSIX socket: the caller's writer sends it then, in order."""
        if self._sending or self.unsent or os.name != "posix":
            return False
        fd = self.socket.fileno() if self.socket is not None else -1  # -1 once closed
        if fd < 0:
            return False
        wire = self._seal(data)
        try:
            sent = os.write(fd, wire)
        except OSError:  # full (EAGAIN), or broken: the writer's send_all meets it again
            sent = 0
        self.unsent = wire[sent:]
        return True

    def _seal(self, data: bytes | bytearray | memoryview) -> bytes:
        """``data`` as records on the wire, each sealed once."""
        plain: Iterable[bytes]
        if type(data) is bytes and len(data) <= MAX_PLAIN:
            plain = (data,) if data else ()  # one record, sealed as it is: a chunk is not copied
        else:
            view = memoryview(data)
            plain = (bytes(view[at : at + MAX_PLAIN]) for at in range(0, len(view), MAX_PLAIN))
        records = []
        for piece in plain:
            sealed = self._noise.encrypt(piece)
            records.append(len(sealed).to_bytes(LENGTH, "big") + sealed)
        return b"".join(records)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self._stream.send_eof()  # type: ignore[attr-defined]

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """The plain bytes of the whole records in, up to ``RECORDS_PER_TURN`` of them; b""
        when the peer closed between records. (``max_bytes`` is not honoured: a record is
        given whole.)"""
        if self._whole_record() is not None:  # left by the last turn: others go first
            await trio.lowlevel.checkpoint()
        while True:
            plain = self._open_records()
            if plain:
                return plain
            data = await self._receive_raw()
            self.heard_at = trio.current_time()
            if self._began is not None:  # more time for a record partly in (a new one begins
                self._due.came(len(data), self.heard_at)  # its own: ``_receive_raw``)
            if not data:
                if self._buffer:
                    # A crash or a cut as often as a fault: the link is lost, not refused.
                    raise trio.BrokenResourceError("cut off in the middle of a message")
                return b""
            self._buffer += data

    async def _receive_raw(self) -> bytes:
        if not self._buffer:
            self._began = None
            return await self._stream.receive_some(RECEIVE_SIZE)
        if self._began is None:
            self._began = trio.current_time()
            self._due.begin(self._began)
        with trio.move_on_at(self._due.at):
            return await self._stream.receive_some(RECEIVE_SIZE)
        raise FrameStalled(f"a record took longer than {self._record_timeout:g} s to arrive")

    def _whole_record(self) -> int | None:
        """The size of the record at the head of the buffer, if all of it is in."""
        buffer = self._buffer
        if len(buffer) < LENGTH:
            return None
        size = int.from_bytes(buffer[:LENGTH], "big")
        return size if len(buffer) >= LENGTH + size else None

    def _open_records(self) -> bytes:
        out: list[bytes] = []
        buffer = self._buffer
        while len(out) < RECORDS_PER_TURN and (size := self._whole_record()) is not None:
            with memoryview(buffer) as view:
                sealed = bytes(view[LENGTH : LENGTH + size])  # one copy, not two
            del buffer[: LENGTH + size]
            self._began = None
            try:
                plain = self._noise.decrypt(sealed)
            except Exception as exc:  # forged, replayed, reordered or cut short
                raise FrameError("a record that does not decrypt") from exc
            if not plain:  # never sent by PeerChat: work for the reader, and nothing to read
                raise FrameError("an empty record")
            out.append(plain)
        return b"".join(out)

    async def aclose(self) -> None:
        await self._stream.aclose()


async def secure_node_stream(
    node: Node, stream: trio.abc.Stream, *, initiator: bool, within: float
) -> SecureStream:
    """``secure`` with this node's keys and room secret, within ``within`` seconds (else
    ``HandshakeError``)."""
    try:
        with trio.fail_after(within):
            return await secure(
                stream,
                node.keys,
                node.settings.psk,
                initiator=initiator,
                record_timeout=node.config.frame_timeout,
                min_pace=node.config.min_pace,
            )
    except trio.TooSlowError:
        raise HandshakeError(
            f"no answer to the handshake within {within:g} s (a stopped process, or not PeerChat)"
        ) from None


async def secure(
    stream: trio.abc.Stream,
    keys: LocalKeys,
    psk: bytes,
    *,
    initiator: bool,
    record_timeout: float,
    min_pace: int = 0,
) -> SecureStream:
    """Run the handshake on ``stream`` (the caller bounds its time: a connection that holds an
    admission slot in silence is let go then); the encrypted stream, or ``HandshakeError``
    (``WrongSecret``: the other end has another room secret; a responder has told the
    initiator so)."""
    handshake = Handshake(keys, psk, initiator=initiator)
    reader = _MessageReader(stream, responder=not initiator)
    if initiator:
        await _send(stream, handshake.first())
    while not handshake.done:
        message = await reader.next()
        try:
            reply = handshake.receive(message)
        except WrongSecret:
            if not initiator:
                await _refuse(stream)
            raise
        if reply is not None:
            await _send(stream, reply)
    # The first record may have come with the handshake's last message.
    return SecureStream(stream, handshake, record_timeout, bytes(reader.extra), min_pace)


async def _send(stream: trio.abc.Stream, message: bytes) -> None:
    await stream.send_all(len(message).to_bytes(LENGTH, "big") + message)


async def _refuse(stream: trio.abc.Stream) -> None:
    """Tell a node with another secret so, and nothing else (its one clear line at exit)."""
    with trio.move_on_after(1), contextlib.suppress(trio.BrokenResourceError, OSError):
        await _send(stream, REFUSAL)


class _MessageReader:
    """Length-prefixed handshake messages off a raw stream."""

    def __init__(self, stream: trio.abc.Stream, *, responder: bool) -> None:
        self._stream = stream
        self.extra = bytearray()
        self._responder = responder
        self._unheard = responder  # a responder that has read nothing yet

    async def next(self) -> bytes:
        buffer = self.extra
        while True:
            if len(buffer) >= LENGTH:
                size = int.from_bytes(buffer[:LENGTH], "big")
                if len(buffer) >= LENGTH + size:
                    message = bytes(buffer[LENGTH : LENGTH + size])
                    del buffer[: LENGTH + size]
                    return message
            data = await self._stream.receive_some(RECEIVE_SIZE)
            if not data and self._unheard:
                raise ClosedUnheard("the connection closed before its handshake began")
            if not data and self._responder:
                raise ClosedEarly("the connection closed during the handshake")
            if not data:
                # (after 15 s of this, a user trial did not know a web server held the port)
                raise HandshakeError(
                    "the connection closed during the handshake (is the program there PeerChat?)"
                )
            self._unheard = False
            buffer += data
