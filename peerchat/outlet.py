"""Headless output that never stops the node: a reader that falls behind gets its lines late.

Writing to a full pipe blocks the whole process: no pings are answered, peers cut the node off
and it takes itself for frozen. So a pipe or socket on stdout is written without blocking: what
does not fit waits here, and a task writes it as the reader takes it. Up to ``max_pending``
bytes wait; lines past that are left out, counted, and said to have been once the reader has
caught up. A file or a terminal is written as before.
"""

from __future__ import annotations

import os
import select
import stat
import time
from collections.abc import Callable
from typing import TextIO

import trio

MAX_PENDING = 32 * 1024 * 1024
LAST_WORDS = 5.0  # seconds the reader gets at the end to take what waits


class Outlet:
    def __init__(
        self,
        out: TextIO,
        left_out: Callable[[int], str],
        max_pending: int = MAX_PENDING,
    ) -> None:
        """``left_out(n)``: the line that says ``n`` lines were left out."""
        self._out = out
        self._left_out = left_out
        self._max = max_pending
        self._pending = bytearray()
        self._dropped = 0
        self._broken = False
        self._fd: int | None = None
        try:
            fd = out.fileno()
        except (AttributeError, OSError, ValueError):  # not a file: a test's buffer
            return
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            self._fd = os.dup(fd)
            os.set_blocking(self._fd, False)

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def write(self, text: str) -> None:
        """``text`` (whole lines) out now, or queued behind what waits."""
        if self._broken:
            return
        if self._fd is None:
            write_line(self._out, text)
            return
        data = text.encode("utf-8", "surrogateescape")
        if self._pending or self._dropped:  # behind what waits, in order
            if len(self._pending) + len(data) > self._max:
                self._dropped += text.count("\n")
            else:
                self._pending += data
            return
        try:  # the usual case: straight out, with no copy kept
            written = os.write(self._fd, data)
        except BlockingIOError:
            written = 0
        except OSError:  # the reader went away (EPIPE): nothing more to write
            self._broken = True
            return
        if written < len(data):
            self._pending += data[written:]

    async def drain(self) -> None:
        """Until all that waits is written (or the reader is gone)."""
        while self._pending and self._fd is not None:
            await trio.lowlevel.wait_writable(self._fd)
            self._write_some()
            if not self._pending and self._dropped:
                dropped, self._dropped = self._dropped, 0
                self._pending += (self._left_out(dropped) + "\n").encode()

    def close(self, within: float = LAST_WORDS) -> None:
        """The program ends: what waits gets ``within`` seconds more (a reader that takes
        its time still gets the last events; one that never reads does not hold the end up)."""
        if self._fd is None:
            return
        deadline = time.monotonic() + within
        while self._pending and (left := deadline - time.monotonic()) > 0:
            select.select([], [self._fd], [], left)
            self._write_some()
        os.set_blocking(self._fd, True)  # the flag is the pipe's, not only this copy's
        os.close(self._fd)
        self._fd = None

    def _write_some(self) -> None:
        try:
            written = os.write(self._fd, self._pending)  # type: ignore[arg-type]
        except BlockingIOError:
            return
        except OSError:  # the reader went away (EPIPE): nothing more to write
            self._broken = True
            self._pending.clear()
            return
        del self._pending[:written]


def write_line(out: TextIO, text: str) -> None:
    """Write and flush; a reader that went away must not kill the node."""
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
