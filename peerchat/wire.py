"""Framing: a 4-byte big-endian length, then one msgpack map. No I/O here.

The decoder is fed whatever bytes arrived and hands back whole frames, in the manner of h11's
``receive_data``/``next_event``. Anything a peer can get wrong raises ``FrameError``; the caller
closes that one connection. Nothing here ever builds the ``repr`` of what a peer sent: a
structure nested a thousand deep would blow the stack, and a long string would flood the log.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgpack

from peerchat.safe_text import visible

HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME = 1 << 20
MIN_AGE = 0.1  # seconds: the least a frame's bytes are taken to have taken (``_pace``)
# The deepest a frame of ours goes: the frame's map, a list of members, a member's map.
MAX_DEPTH = 3


# Why a frame was dropped, and its link ended: the node needed its memory for another's.
GIVEN_UP = "a large frame waited while others needed the memory"


class FrameError(Exception):
    """The remote end sent something that is not a valid frame."""


class FrameStalled(FrameError):
    """A frame (or record) begun and not finished in time: as often a cable cut in the middle
    of it as a slow or hostile peer, so the link is lost, not broken by a protocol error."""


def encode_frame(payload: dict[str, Any], max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    body = msgpack.packb(payload, use_bin_type=True)
    if len(body) > max_frame:
        raise ValueError(f"frame of {len(body)} bytes exceeds the limit of {max_frame}")
    return HEADER.pack(len(body)) + body


def describe(value: Any) -> str:
    """A short, flat account of a value from a peer, for logs and errors: its kind and size,
    and the start of a string, made printable. Never walks into a structure."""
    kind = type(value)
    if kind is str:
        if len(value) <= 24:
            return repr(visible(value))
        return f"{visible(value[:24])!r}… ({len(value)} characters)"
    if kind in (int, float, bool) or value is None:
        text = repr(value)
        return text if len(text) <= 24 else f"an integer of {len(text)} digits"
    if kind in (bytes, bytearray):
        return f"{len(value)} bytes"
    if kind is list:
        return f"a list of {len(value)}"
    if kind is dict:
        return f"a map of {len(value)}"
    return f"a {kind.__name__}"


class ReceiveBudget:
    """Bytes that large partial frames hold at once, shared by all of a node's connections.

    Each frame counts the bytes it has buffered, not the size its header announced (attack
    round 27: 40 members sent headers alone, linked again every 5 s, and held it all). When a
    frame needs more than is free, the frames coming in more slowly than it, on average since
    each began, are given up for it (``FrameDecoder.give_up``), the slowest first, and only
    when together they free enough. Holding the budget so costs its size again every moment
    of the hold: 300 members that sent 150 KiB each and then waited had an honest 192 KiB
    batch given up (attack round 28), and frames fed a byte at a time hold next to nothing.
    """

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.free = total
        self._clock = clock
        self._holders: dict[FrameDecoder, tuple[float, int]] = {}  # -> (began, bytes held)

    def take(self, size: int, holder: FrameDecoder) -> bool:
        now = self._clock()
        began, held = self._holders.get(holder, (now, 0))
        if size > self.free:
            self._give_up_for(size, _pace(held + size, began, now), holder, now)
        if size > self.free:
            return False
        self.free -= size
        self._holders[holder] = (began, held + size)
        return True

    def give(self, size: int, holder: FrameDecoder) -> None:
        self.free += size
        self._holders.pop(holder, None)

    def _give_up_for(self, size: int, pace: float, holder: FrameDecoder, now: float) -> None:
        """Give up frames slower than ``pace`` (``holder``'s) until ``size`` is free."""
        slower = [
            (other_pace, n, held, other)
            for n, (other, (began, held)) in enumerate(self._holders.items())
            if other is not holder and (other_pace := _pace(held, began, now)) < pace
        ]
        if self.free + sum(held for _, _, held, _ in slower) < size:
            return
        for *_, other in sorted(slower):
            if self.free >= size:
                break
            other.give_up()


def _pace(held: int, began: float, now: float) -> float:
    """Bytes a second a frame came at, on average since it began (a burst counts as taking
    ``MIN_AGE``: a frame's first bytes are no infinite pace)."""
    return held / max(now - began, MIN_AGE)


class Overdue:
    """When a frame (or a record) on its way is late: ``timeout`` after it began, put off a
    second for each ``pace`` bytes of it that come, but never past ``timeout`` after the
    latest. One on a slow link is given the time it needs; one trickled, or held open after
    bytes sent ahead (which buy nothing), is not."""

    def __init__(self, timeout: float, pace: int) -> None:
        self._timeout = timeout
        self._pace = pace
        self.at = math.inf

    def begin(self, now: float) -> None:
        self.at = now + self._timeout

    def came(self, size: int, now: float) -> None:
        if self._pace:
            self.at = min(self.at + size / self._pace, now + self._timeout)


class FrameDecoder:
    """Whole frames out of a byte stream.

    ``max_frame`` may be raised once the peer is trusted with bigger frames (after its hello).
    A frame larger than ``small_frame`` takes what of it is buffered from ``budget`` as it
    comes, and gives it back when it is whole, given up, or the decoder is discarded.
    """

    def __init__(
        self,
        max_frame: int = DEFAULT_MAX_FRAME,
        *,
        small_frame: int | None = None,
        budget: ReceiveBudget | None = None,
        given_up: Callable[[], None] | None = None,
    ) -> None:
        """``given_up``: called when the budget gives this decoder's frame up for another's;
        the frame is dropped, and the next ``frames`` raises ``FrameStalled``."""
        self.max_frame = max_frame
        self.completed = 0  # frames decoded so far: a new partial frame begins after each
        self._small = max_frame if small_frame is None else small_frame
        self._budget = budget
        self._given_up = given_up
        self._reserved = 0  # bytes of the budget held: those of the frame buffered so far
        self._large = False  # the frame under way is over ``small_frame``
        self._dropped = False  # its frame was given up for another's
        self._buffer = bytearray()
        self.size = 0  # bytes of the frame last yielded

    @property
    def partial(self) -> bool:
        """A frame has begun and is not yet whole."""
        return bool(self._buffer)

    @property
    def budgeted(self) -> bool:
        """The frame under way is a large one, holding the shared budget as it comes."""
        return self._large

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def frames(self) -> Iterator[dict[str, Any]]:
        """Yield every complete frame buffered so far."""
        if self._dropped:
            raise FrameStalled(GIVEN_UP)
        buf = self._buffer
        start = 0
        try:
            while len(buf) - start >= HEADER.size:
                (size,) = HEADER.unpack_from(buf, start)
                if size > self.max_frame:
                    raise FrameError(f"frame of {size} bytes exceeds the limit of {self.max_frame}")
                end = start + HEADER.size + size
                if len(buf) < end:
                    self._hold(size, len(buf) - start - HEADER.size)
                    break
                body_at, start = start + HEADER.size, end  # a bad frame is consumed too
                self._release()
                self.completed += 1
                self.size = size  # the frame about to be yielded (``read_pace``)
                # Unpacked in place, not copied; both views let go even when it fails, so
                # that the buffer can shrink.
                with memoryview(buf) as view, view[body_at:end] as body:
                    message = _unpack(body)
                yield message
        finally:
            del buf[:start]
            if not buf and start > self._small:
                self._buffer = bytearray()  # let a big frame's buffer go, not just empty it

    def close(self) -> None:
        """The stream ended; a partial frame left over means it was cut short."""
        left = len(self._buffer)
        self.discard()
        if left:
            raise FrameError(f"connection closed inside a frame ({left} bytes left)")

    def discard(self) -> None:
        """Drop whatever is buffered and return the budget it held."""
        self._release()
        self._buffer = bytearray()

    def give_up(self) -> None:
        """The budget needs what this frame holds for another: drop it (``given_up``)."""
        self._release()
        del self._buffer[:]  # in place: nothing that holds it keeps the bytes
        self._dropped = True
        if self._given_up is not None:
            self._given_up()

    def _hold(self, size: int, buffered: int) -> None:
        """A frame of ``size`` bytes has ``buffered`` bytes in: a large one holds them."""
        if size <= self._small or self._budget is None:
            return
        self._large = True
        more = buffered - self._reserved  # (never less: the buffer only grows meanwhile)
        if more and not self._budget.take(more, self):
            raise FrameError(
                f"a frame of {size} bytes would exceed what this node buffers for all its "
                "peers at once"
            )
        self._reserved += more

    def _release(self) -> None:
        if self._reserved and self._budget is not None:
            self._budget.give(self._reserved, self)
        self._reserved, self._large = 0, False


def _unpack(body: bytes | memoryview) -> dict[str, Any]:
    try:
        obj = msgpack.unpackb(body, raw=False, strict_map_key=True)
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
        raise FrameError(f"undecodable frame ({type(exc).__name__}: {str(exc)[:80]})") from exc
    if type(obj) is not dict:
        raise FrameError(f"frame is {describe(obj)}, not a map")
    if _too_deep(obj):
        raise FrameError(f"frame nested deeper than {MAX_DEPTH} levels")
    return obj


def _too_deep(frame: dict[str, Any]) -> bool:
    """Nesting beyond ``MAX_DEPTH``, found without recursion and without looking any deeper."""
    stack: list[tuple[Any, int]] = [(frame, 1)]
    while stack:
        container, depth = stack.pop()
        for child in container.values() if type(container) is dict else container:
            if type(child) is dict or type(child) is list:
                if depth == MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False
