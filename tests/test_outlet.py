"""peerchat.outlet: headless output to a pipe never blocks the node; a reader that falls behind
gets every line late, or past the bound a line saying how many were left out."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import trio

from peerchat.outlet import Outlet


def left_out(count: int) -> str:
    return f"left out {count}"


async def read_until(fd: int, into: bytearray, last: bytes) -> None:
    """Read ``fd`` into ``into`` until a line begins with ``last`` and has ended."""
    while not (into.endswith(b"\n") and last in into):
        await trio.lowlevel.wait_readable(fd)
        into += os.read(fd, 1 << 16)


async def drained_while_read(outlet: Outlet, r: int, last: bytes) -> bytearray:
    """Drain ``outlet`` while a reader takes the pipe's other end up to the line ``last``."""
    got = bytearray()
    os.set_blocking(r, False)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_until, r, got, last)
            await outlet.drain()
    outlet.close()
    return got


async def test_a_pipe_nobody_reads_does_not_block_and_a_late_reader_gets_every_line() -> None:
    r, w = os.pipe()
    with os.fdopen(w, "w") as out:
        outlet = Outlet(out, left_out)
        lines = [f"line {i} " + "x" * 1000 + "\n" for i in range(2000)]  # 2 MB: 30 pipes' worth
        started = time.monotonic()
        for line in lines:
            outlet.write(line)
        assert time.monotonic() - started < 1 and outlet.pending
        got = await drained_while_read(outlet, r, b"line 1999 ")
    assert got.decode() == "".join(lines)
    os.close(r)


async def test_past_the_bound_lines_are_left_out_and_counted_once_the_reader_caught_up() -> None:
    r, w = os.pipe()
    with os.fdopen(w, "w") as out:
        outlet = Outlet(out, left_out, max_pending=200_000)
        for i in range(1000):
            outlet.write(f"{i:04d} " + "y" * 995 + "\n")  # 1 MB in all
        got = await drained_while_read(outlet, r, b"left out")
    text = got.decode().splitlines()
    kept = [line for line in text if not line.startswith("left out")]
    assert [int(line[:4]) for line in kept] == list(range(len(kept)))  # the first ones, in order
    assert text[-1] == f"left out {1000 - len(kept)}" and 0 < len(kept) < 1000
    os.close(r)


def test_the_end_waits_for_a_reader_that_never_reads_only_so_long() -> None:
    r, w = os.pipe()
    with os.fdopen(w, "w") as out:
        outlet = Outlet(out, left_out)
        outlet.write("z" * 1_000_000 + "\n")
        started = time.monotonic()
        outlet.close(within=0.3)
        assert 0.3 <= time.monotonic() - started < 2
        assert os.get_blocking(w)  # the pipe is left as it was found
    os.close(r)


def test_a_file_or_a_buffer_is_written_as_it_comes(tmp_path: Path) -> None:
    buffer = io.StringIO()
    Outlet(buffer, left_out).write("one\n")
    assert buffer.getvalue() == "one\n"
    with open(tmp_path / "out", "w") as f:
        outlet = Outlet(f, left_out)
        outlet.write("two\n")
        assert not outlet.pending
    assert (tmp_path / "out").read_text() == "two\n"
