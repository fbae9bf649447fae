"""Front ends without a prompt: JSON lines for bots and tests, and the plain tracker console."""

from __future__ import annotations

import json
import math
import os
import stat
import sys
import time
from collections.abc import AsyncIterator
from typing import BinaryIO, TextIO

import trio

from peerchat import commands, events
from peerchat.messaging import MAX_PIECES
from peerchat.node import Node
from peerchat.outlet import Outlet, write_line
from peerchat.protocol import MAX_TEXT
from peerchat.rooms import Rooms
from peerchat.safe_text import json_safe, visible

MAX_LINE = 4 * MAX_TEXT * MAX_PIECES  # bytes: the longest paste, in the widest UTF-8
READ_SIZE = 16 * 1024
# An event this long after the last write goes out at once; closer ones wait for the flusher,
# which writes everything one busy round produced in one go.
IDLE = 0.001
_ENCODE = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


class Headless:
    """Each stdin line is typed into the room; each event is one JSON object on one stdout line.

    In a quiet room each event is written at once. In a busy one, events are written by a
    flusher task that runs right after the task that produced them: a burst of messages costs
    one write, and no event waits longer than a scheduling round.
    """

    leaves_lone_first = False  # a bot's rooms stay as it made them

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = Outlet(out or sys.stdout, _left_out)
        self._lines: list[str] = []
        self._queued = trio.Event()
        self._last_write = -math.inf
        self._current = ""  # the room typed lines go to
        self._farewell = ""  # /quit MESSAGE: said with the goodbye

    def show(self, event: events.Event, room: str | None = None) -> None:
        """One event as one JSON line; ``room``: the room it is from (None: this program's),
        named in it from the first event on: trial 67's bot saw a room's events with no room,
        then, once it joined a second, the same room's under its address."""
        tag = f', "room": {_STRING(room)}}}' if room is not None else ""
        if type(event) is events.MessageReceived and event.to is None:
            line = _message_line(event)
            self._queue(json_safe(line[:-1] + tag if tag else line))
        elif type(event) is events.InRoom:
            for joined in event.lines():
                self._queue(json_safe(_ENCODE(joined | ({"room": room} if tag else {}))))
        else:
            self._queue(json_safe(_ENCODE(event.as_json() | ({"room": room} if tag else {}))))

    def _queue(self, line: str) -> None:
        self._lines.append(line)
        if time.monotonic() - self._last_write > IDLE:
            self._flush()  # a quiet room: out at once, with no task switch in between
        else:
            self._queued.set()

    def _flush(self) -> None:
        if self._lines:
            self._lines.append("")  # every line ends with a newline
            self._out.write("\n".join(self._lines))
            self._lines.clear()
            self._last_write = time.monotonic()
            if self._out.pending:  # the reader is behind: the flusher waits for it
                self._queued.set()

    async def _flusher(self) -> None:
        while True:
            await self._queued.wait()
            self._queued = trio.Event()
            self._flush()
            await self._out.drain()

    async def drive(self, rooms: Rooms) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._flusher)
            self._current = rooms.first
            first = rooms.get(rooms.first)
            if first is not None:  # stdin is read once in the room: a bot's first line counts
                await first.started.wait()
            await self._type_stdin(rooms)
            nursery.cancel_scope.cancel()
        rooms.quit(self._farewell)

    async def _type_stdin(self, rooms: Rooms) -> None:
        async for line in _stdin_lines():
            if line is None:
                self.show(events.Error(f"a line over {MAX_LINE} bytes was dropped"))
                continue
            command = commands.parse_line(line)
            match command:
                case commands.Quit(message):
                    self._farewell = message
                    break
                case commands.JoinRoom(room, addr):
                    before = self._current
                    rooms.join(room, addr, before)
                    self._current = room
                    node = rooms.get(room)
                    if node is not None:  # the next lines are for that room: once it is there
                        await _in_or_gone(node)
                    if room not in rooms.nodes and before in rooms.nodes:
                        # Never joined: lines go where they went before (a user trial's went
                        # nowhere, each "not in the room z").
                        self._current = before
                    continue
                case commands.GoToRoom(room) if room in rooms.nodes:
                    self._current = room
                    continue
                case commands.Clear():  # no screen here
                    continue
                case commands.FindRooms():
                    rooms.find(self._current)
                    continue
                case commands.Away(message):
                    rooms.set_away(message, self._current)
                    continue
                case commands.ListRooms():
                    listed = {
                        "event": "rooms",
                        "rooms": list(rooms.nodes),
                        "current": self._current,
                    }
                    self._queue(_ENCODE(listed))
                    continue
            node = rooms.get(self._current)
            if node is None:
                self.show(events.Error(f"not in the room {self._current}"))
                continue
            await self._command(rooms, node, command)

    async def _command(self, rooms: Rooms, node: Node, command: commands.Command) -> None:
        for target in rooms.rooms_for(self._current, command):
            await self._command_in(rooms.get(target) or node, rooms, command)

    async def _command_in(self, node: Node, rooms: Rooms, command: commands.Command) -> None:
        match command:
            case commands.Say(text, action):
                node.say(text, action=action)
                await node.wait_sendable()
            case _ if (act := commands.room_action(command)) is not None:
                act(node)
            case commands.Usage(text):
                self.show(events.Error(text))
            case commands.Help(text=text):
                self._queue(_ENCODE({"event": "help", "text": text}))
            case commands.Unknown(name):
                self.show(events.Error(commands.unknown(name)))
            case commands.GoToRoom(room):
                self.show(events.Error(f"not in a room {room}"))
            case commands.PartRoom() as typed:
                self._part(rooms, typed)

    def _part(self, rooms: Rooms, typed: commands.PartRoom) -> None:
        part = typed.among(rooms.nodes)
        if part is None:
            self.show(events.Error(f"not in a room {typed.room}"))
            return
        room = part.room or self._current
        rooms.part(room, part.message)
        if self._current == room:
            self._current = next((r for r in rooms.nodes if r != room), "")

    def stop(self) -> None:
        self._flush()
        self._out.close()


async def _in_or_gone(node: Node) -> None:
    """Until ``node`` is in its room, or has given up joining it."""
    async with trio.open_nursery() as nursery:

        async def wait(event: trio.Event) -> None:
            await event.wait()
            nursery.cancel_scope.cancel()

        nursery.start_soon(wait, node.started)
        nursery.start_soon(wait, node.finished)


_STRING = json.encoder.encode_basestring  # type: ignore[attr-defined]


def _left_out(count: int) -> str:
    return _ENCODE(
        {"event": "error", "message": f"{count} lines left out: stdout was not read for a while"}
    )


def _message_line(e: events.MessageReceived) -> str:
    """The JSON of ``e.as_json()`` for a message to the room, byte for byte, without building
    the dict: the one event that comes once per message and receiver, so it is written
    straight out."""
    sender = e.sender
    return (
        f'{{"event": "message", "id": {_STRING(f"{sender.node_id}:{e.seq}")}, '
        f'"from": {_STRING(sender.username)}, "from_id": {_STRING(sender.node_id)}, '
        f'"text": {_STRING(e.text)}, "time": {e.time!r}, "lamport": {e.lamport}, '
        f'"own": {"true" if e.own else "false"}, "sent_mono": {e.sent_mono!r}, '
        f'"received_mono": {e.received_mono!r}, "history": {"true" if e.history else "false"}, '
        f'"seen": {"true" if e.kept else "false"}, '
        f'"action": {"true" if e.action else "false"}, "private": false}}'
    )


class TrackerConsole:
    """What ``peerchat tracker`` prints: one plain line per change in the room."""

    leaves_lone_first = False  # (one room only: nothing to leave it for)

    def __init__(self, tracker_addr: str) -> None:
        self._tracker_addr = tracker_addr
        self._me = ""

    def show(self, event: events.Event, room: str | None = None) -> None:
        match event:
            case events.Ready(me):
                self._me = me.node_id
                # (A user could not tell what "peers:" was.)
                line = (
                    f"tracker {me.node_id} listening on {self._tracker_addr}, the room's address;"
                    f" members link to it at {me.addr}"
                )
            case events.PeerJoined(m):
                line = f"joined: {m.username} ({m.node_id}) at {m.addr}"
            case events.InRoom(members):
                for m in members:
                    self.show(events.PeerJoined(m))
                return
            case events.PeerLeft(m, reason):
                line = f"left: {m.username} ({m.node_id}): {reason}"
            case events.TrackerChanged(t) if t.node_id == self._me:
                line = "this tracker holds the tracker role"
            case events.TrackerChanged(t):
                line = f"the tracker role is with {t.username} ({t.node_id}) at {t.addr}"
            case _:
                return
        write_line(sys.stdout, f"{time.strftime('%H:%M:%S')} {visible(line)}\n")

    async def drive(self, rooms: Rooms) -> None:
        await trio.sleep_forever()

    def stop(self) -> None:
        pass


async def _stdin_lines():  # noqa: ANN202 - an async generator of str | None
    """Lines of stdin, read without a thread; None for a line too long to keep. A file (or a
    device: ``< /dev/zero`` grew a node by gigabytes when a file was read whole) is read a
    chunk at a time, as a pipe is."""
    fd = os.dup(sys.stdin.fileno())
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)):
        with os.fdopen(fd, "rb") as f:
            async for line in _lines(_read_through(f)):
                yield line
        return
    blocking = os.get_blocking(fd)
    stream = trio.lowlevel.FdStream(fd)
    try:
        async with stream:
            async for line in _lines(_received(stream)):
                yield line
    finally:
        os.set_blocking(sys.stdin.fileno(), blocking)


async def _read_through(f: BinaryIO):  # noqa: ANN202 - an async generator of bytes
    """A file's bytes a chunk at a time, the node running between them."""
    while chunk := f.read(READ_SIZE):
        yield chunk
        await trio.lowlevel.checkpoint()


async def _received(stream: trio.lowlevel.FdStream):  # noqa: ANN202 - an async generator of bytes
    while chunk := await stream.receive_some(READ_SIZE):
        yield chunk


async def _lines(chunks: AsyncIterator[bytes]):  # noqa: ANN202 - an async generator
    """The lines of ``chunks``, each decoded; None for one longer than ``MAX_LINE``."""
    buffer = b""
    overlong = False  # dropping the rest of a line that grew past MAX_LINE
    async for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            yield None if overlong else raw.decode("utf-8", "replace")
            overlong = False
        if len(buffer) > MAX_LINE:
            overlong, buffer = True, b""
    if buffer or overlong:
        yield None if overlong else buffer.decode("utf-8", "replace")
