#!/usr/bin/env python3
"""The benchmark's baseline: a bare trio + msgpack fan-out node with no chat logic.

``scripts/bench.py`` starts as many of these as it starts PeerChat nodes and feeds them the same
lines, so PeerChat can be compared with the best plain program doing the same transport work:

* Each process listens on 127.0.0.1 (a free port) and prints one JSON ``ready`` line.
* Its first stdin line ``!dial HOST:PORT ...`` makes it dial those peers (the bench lists the
  peers started before it, so the mesh is complete with one connection per pair); it prints a
  ``peer_joined`` line for every connection, dialled or accepted, once the peer's hello is in.
* Every further stdin line is a message: one msgpack map with the same fields PeerChat's chat
  frame carries (``t sender seq lamport text time mono``), packed once by a reused ``Packer``,
  framed with the same 4-byte big-endian length and queued for every peer.
* Each peer has a writer task that sends everything queued for it in one ``send_all``. The stdin
  reader waits while any peer has more than ``HIGH_WATER`` bytes queued (backpressure instead
  of an unbounded queue or of cutting the peer off).
* A receiver prints one JSON line per message with the same keys as PeerChat's headless
  ``message`` event (``received_mono`` read once per received chunk), and writes all the lines
  of one received chunk to stdout in one ``write``. The sender prints its own messages too
  (``"own": true``), as PeerChat does.
* End of stdin: close every connection and exit 0.

No membership, no ordering or de-duplication, no heartbeats, no per-frame validation beyond
msgpack: what is left is the floor that any chat program on trio + msgpack must pay.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import struct
import sys
import time

import msgpack
import trio

HEADER = struct.Struct(">I")
RECEIVE_SIZE = 64 * 1024
HIGH_WATER = 256 * 1024


class Peer:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.node_id = ""
        self.username = ""
        self.queue: list[bytes] = []
        self.queued = 0
        self.wakeup = trio.Event()


class Baseline:
    def __init__(self, username: str) -> None:
        self.username = username
        self.node_id = secrets.token_hex(6)
        self.peers: list[Peer] = []
        self.packer = msgpack.Packer(use_bin_type=True)
        self.seq = 0
        self.drained = trio.Event()
        self.out = sys.stdout.fileno()

    # -- output ---------------------------------------------------------------------------

    def emit(self, lines: list[str]) -> None:
        data = "".join(lines).encode()
        while data:
            data = data[os.write(self.out, data) :]

    def line(self, obj: dict) -> str:
        return json.dumps(obj, ensure_ascii=False) + "\n"

    # -- sending --------------------------------------------------------------------------

    def frame(self, obj: dict) -> bytes:
        body = self.packer.pack(obj)
        return HEADER.pack(len(body)) + body

    def queue(self, peer: Peer, frame: bytes) -> None:
        peer.queue.append(frame)
        peer.queued += len(frame)
        peer.wakeup.set()

    async def writer(self, peer: Peer) -> None:
        while True:
            await peer.wakeup.wait()
            peer.wakeup = trio.Event()
            batch, peer.queue, peer.queued = peer.queue, [], 0
            self.drained.set()
            if batch:
                await peer.stream.send_all(b"".join(batch))

    def say(self, text: str) -> dict:
        self.seq += 1
        now, mono = time.time(), time.monotonic()
        chat = {
            "t": "chat",
            "sender": self.node_id,
            "seq": self.seq,
            "lamport": self.seq,
            "text": text,
            "time": now,
            "mono": mono,
        }
        frame = self.frame(chat)
        for peer in self.peers:
            self.queue(peer, frame)
        return self.message(self.username, chat, time.monotonic(), own=True)

    def message(self, username: str, chat: dict, received: float, *, own: bool) -> dict:
        return {
            "event": "message",
            "id": f"{chat['sender']}:{chat['seq']}",
            "from": username,
            "from_id": chat["sender"],
            "text": chat["text"],
            "time": chat["time"],
            "lamport": chat["lamport"],
            "own": own,
            "sent_mono": chat["mono"],
            "received_mono": received,
        }

    async def backpressure(self) -> None:
        while any(peer.queued > HIGH_WATER for peer in self.peers):
            self.drained = trio.Event()
            await self.drained.wait()

    # -- connections ----------------------------------------------------------------------

    async def session(self, stream: trio.SocketStream, dialled: bool) -> None:
        peer = Peer(stream)
        buffer = bytearray()
        hello = self.frame({"t": "hello", "node_id": self.node_id, "username": self.username})
        await stream.send_all(hello)
        try:
            async with trio.open_nursery() as nursery:
                while data := await stream.receive_some(RECEIVE_SIZE):
                    received = time.monotonic()
                    buffer += data
                    lines = []
                    start = 0
                    while len(buffer) - start >= 4:
                        (size,) = HEADER.unpack_from(buffer, start)
                        end = start + 4 + size
                        if len(buffer) < end:
                            break
                        obj = msgpack.unpackb(buffer[start + 4 : end], raw=False)
                        start = end
                        if obj["t"] == "chat":
                            lines.append(
                                self.line(self.message(peer.username, obj, received, own=False))
                            )
                        elif obj["t"] == "hello":
                            peer.node_id, peer.username = obj["node_id"], obj["username"]
                            self.peers.append(peer)
                            nursery.start_soon(self.writer, peer)
                            lines.append(
                                self.line(
                                    {
                                        "event": "peer_joined",
                                        "node_id": peer.node_id,
                                        "username": peer.username,
                                        "dialled": dialled,
                                    }
                                )
                            )
                    del buffer[:start]
                    if lines:
                        self.emit(lines)
                nursery.cancel_scope.cancel()
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the peer went away: forget it, as below
        finally:
            if peer in self.peers:
                self.peers.remove(peer)
                left = {"event": "peer_left", "node_id": peer.node_id, "username": peer.username}
                self.emit([self.line(left)])
            await trio.aclose_forcefully(stream)

    async def dial(self, nursery: trio.Nursery, addr: str) -> None:
        host, _, port = addr.rpartition(":")
        stream = await trio.open_tcp_stream(host, int(port))
        nursery.start_soon(self.session, stream, True)

    async def stdin(self, nursery: trio.Nursery) -> None:
        fd = os.dup(sys.stdin.fileno())
        buffer = b""
        async with trio.lowlevel.FdStream(fd) as stream:
            while chunk := await stream.receive_some(RECEIVE_SIZE):
                *lines, buffer = (buffer + chunk).split(b"\n")
                out = []
                for raw in lines:
                    text = raw.decode("utf-8", "replace")
                    if text.startswith("!dial"):
                        for addr in text.split()[1:]:
                            await self.dial(nursery, addr)
                    else:
                        out.append(self.line(self.say(text)))
                if out:
                    self.emit(out)
                await self.backpressure()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            port = listeners[0].socket.getsockname()[1]

            async def accept(stream: trio.SocketStream) -> None:
                await self.session(stream, False)

            nursery.start_soon(trio.serve_listeners, accept, listeners)
            ready = {
                "event": "ready",
                "node_id": self.node_id,
                "username": self.username,
                "addr": f"127.0.0.1:{port}",
                "role": "peer",
            }
            self.emit([self.line(ready)])
            await self.stdin(nursery)
            nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--username", required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(Baseline(args.username).run)


if __name__ == "__main__":
    main()
